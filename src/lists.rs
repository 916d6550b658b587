//! Checks on lists read from outside (config, scenario, command line).

use std::collections::HashSet;
use std::hash::Hash;

/// The first item that an earlier one repeats, with its index.
pub fn first_repeated<T: Eq + Hash + Copy>(
    items: impl IntoIterator<Item = T>,
) -> Option<(usize, T)> {
    let mut seen = HashSet::new();
    items
        .into_iter()
        .enumerate()
        .find(|&(_, item)| !seen.insert(item))
}

#[cfg(test)]
mod tests {
    use super::first_repeated;

    #[test]
    fn the_first_repeat_is_found_where_it_repeats() {
        assert_eq!(first_repeated(["a", "b", "c"]), None);
        assert_eq!(first_repeated(["a", "b", "b", "a"]), Some((2, "b")));
        assert_eq!(first_repeated(["a", "b", "a"]), Some((2, "a")));
        assert_eq!(first_repeated(Vec::<&str>::new()), None);
    }
}
