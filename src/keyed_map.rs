//! Config sections that are maps over a fixed set of keys taken from the
//! signal catalog (`targets`, `slo`, `prometheus.queries`): one reader, so
//! every such section refuses an unknown or repeated key the same way.

use serde::de::{self, MapAccess};

/// Reads every entry of `map`. Each key must be one of `keys`, given at
/// most once; `read` takes the value of key `keys[i]`. An unknown key is
/// serde's unknown-field error (the YAML parser places it at the key's line
/// and column), shown cut to 100 characters.
pub fn read_entries<'de, A: MapAccess<'de>>(
    mut map: A,
    keys: &'static [&'static str],
    mut read: impl FnMut(usize, &mut A) -> Result<(), A::Error>,
) -> Result<(), A::Error> {
    let mut seen = vec![false; keys.len()];
    while let Some(key) = map.next_key::<String>()? {
        let Some(i) = keys.iter().position(|k| *k == key) else {
            let shown: String = key.chars().take(100).collect();
            return Err(de::Error::unknown_field(&shown, keys));
        };
        if std::mem::replace(&mut seen[i], true) {
            return Err(de::Error::duplicate_field(keys[i]));
        }
        read(i, &mut map)?;
    }
    Ok(())
}
