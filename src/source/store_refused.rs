//! The servers whose data the store refused (full, and no quiet server to
//! forget), remembered so that the store answers for them as unknown
//! (rule 3), not as a server never seen, which is idle. Bounded: the
//! oldest are forgotten first; a server is forgotten here once the store
//! holds it.

use crate::id::ServerKey;
use std::collections::{HashMap, VecDeque};

/// Most refused servers remembered.
pub const MAX_REFUSED: usize = 65_536;

/// Refused servers, oldest first. A server forgotten because the store
/// holds it leaves `keys` at once and `order` lazily (no scan of the whole
/// list under the store's locks); each entry carries the number it was
/// remembered under, so an old entry of a server refused again later is
/// told from its live one.
#[derive(Debug, Default)]
pub struct Refused {
    order: VecDeque<(ServerKey, u64)>,
    keys: HashMap<ServerKey, u64>,
    next: u64,
}

impl Refused {
    /// Remembers that `server`'s data was refused.
    pub fn insert(&mut self, server: &ServerKey) {
        if self.keys.contains_key(server) {
            return;
        }
        // The oldest live entry goes; dead ones met on the way go too (each
        // entry is popped once: no scan of the whole list per insert).
        while self.keys.len() >= MAX_REFUSED {
            match self.order.pop_front() {
                Some((oldest, n)) => self.forget_entry(&oldest, n),
                None => break,
            }
        }
        if self.order.len() >= 2 * MAX_REFUSED {
            self.compact();
        }
        self.next += 1;
        self.order.push_back((server.clone(), self.next));
        self.keys.insert(server.clone(), self.next);
    }

    /// Whether `server`'s data was refused (and it is not held since).
    pub fn contains(&self, server: &ServerKey) -> bool {
        self.keys.contains_key(server)
    }

    /// `server` is held now.
    pub fn remove(&mut self, server: &ServerKey) {
        if self.keys.remove(server).is_some() && self.order.len() > 2 * self.keys.len() + 1024 {
            self.compact();
        }
    }

    /// Drops the entries of servers forgotten since.
    fn compact(&mut self) {
        let keys = &self.keys;
        self.order.retain(|(k, n)| keys.get(k) == Some(n));
    }

    /// `server`'s entry numbered `n` leaves: it is forgotten if that is
    /// its live entry.
    fn forget_entry(&mut self, server: &ServerKey, n: u64) {
        if self.keys.get(server) == Some(&n) {
            self.keys.remove(server);
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

    #[test]
    fn a_server_refused_again_is_not_forgotten_by_its_old_entry() {
        let mut r = Refused::default();
        r.insert(&key(0));
        r.remove(&key(0)); // taken in; its entry stays in the order
        for i in 1..=10 {
            r.insert(&key(i));
        }
        r.insert(&key(0)); // refused again, after 1 to 10
        for i in 11..MAX_REFUSED {
            r.insert(&key(i));
        }
        // Full: the oldest live refusal (1) goes, not 0 by its old entry.
        r.insert(&key(MAX_REFUSED));
        assert!(r.contains(&key(0)), "still refused");
        assert!(!r.contains(&key(1)));
        assert_eq!(r.len(), MAX_REFUSED);
    }
}
