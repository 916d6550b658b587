//! The servers whose data the store refused (full, and no quiet server to
//! forget), remembered so that the store answers for them as unknown
//! (rule 3), not as a server never seen, which is idle. Bounded: the
//! oldest are forgotten first; a server is forgotten here once the store
//! holds it.

use crate::id::ServerKey;
use std::collections::{HashSet, VecDeque};

/// Most refused servers remembered.
pub const MAX_REFUSED: usize = 65_536;

/// Refused servers, oldest first. A server forgotten because the store
/// holds it leaves `keys` at once and `order` lazily (no scan of the whole
/// list under the store's locks): `order` is compacted once it holds as
/// many forgotten entries as live ones.
#[derive(Debug, Default)]
pub struct Refused {
    order: VecDeque<ServerKey>,
    keys: HashSet<ServerKey>,
}

impl Refused {
    /// Remembers that `server`'s data was refused.
    pub fn insert(&mut self, server: &ServerKey) {
        if self.keys.contains(server) {
            return;
        }
        while self.order.len() >= MAX_REFUSED {
            match self.order.pop_front() {
                Some(oldest) => _ = self.keys.remove(&oldest),
                None => break,
            }
        }
        self.order.push_back(server.clone());
        self.keys.insert(server.clone());
    }

    /// Whether `server`'s data was refused (and it is not held since).
    pub fn contains(&self, server: &ServerKey) -> bool {
        self.keys.contains(server)
    }

    /// `server` is held now.
    pub fn remove(&mut self, server: &ServerKey) {
        if self.keys.remove(server) && self.order.len() > 2 * self.keys.len() + 1024 {
            let keys = &self.keys;
            self.order.retain(|k| keys.contains(k));
        }
    }

    /// How many are remembered.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> ServerKey {
        ServerKey::parse("t", &format!("s-{i}")).expect("valid")
    }

    #[test]
    fn the_oldest_are_forgotten_past_the_bound_and_a_held_server_at_once() {
        let mut r = Refused::default();
        for i in 0..=MAX_REFUSED {
            r.insert(&key(i));
            r.insert(&key(i));
        }
        assert_eq!(r.len(), MAX_REFUSED);
        assert!(!r.contains(&key(0)) && r.contains(&key(1)));
        r.remove(&key(7));
        assert!(!r.contains(&key(7)));
        assert_eq!(r.len(), MAX_REFUSED - 1);
        // Forgetting most of them compacts the order as it goes.
        for i in 8..=MAX_REFUSED {
            r.remove(&key(i));
        }
        assert!(r.order.len() <= 2 * r.len() + 1025, "{}", r.order.len());
        assert!(r.contains(&key(1)));
    }
}
