//! Blind stretches: times a source could not be trusted, now over. What
//! happened during one may not have been seen (core NATS drops events
//! meanwhile; a rate does not reach back past its window), so for an idle
//! window after it the engine answers no lower than it did before it
//! ([`crate::engine::Reason::Resuming`]).

use crate::time::Timestamp;

/// One blind stretch, over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stretch {
    /// When the source was last good before it.
    pub from: Timestamp,
    /// When the source turned trusted again.
    pub back: Timestamp,
    /// Whether the source was the poller (else the event stream).
    pub polls: bool,
}

/// The last few blind stretches, in order of their ends: a hold after one
/// rests on the answer before it, which a hold after an earlier one may
/// have raised, so holds chain through at most [`Stretches::MAX`] stretches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stretches {
    list: [Stretch; Stretches::MAX],
    len: u8,
}

impl Stretches {
    /// Most stretches kept: a source would have to flap this often within
    /// one idle window for a hold to be cut short.
    pub const MAX: usize = 8;

    /// Adds a stretch that just ended, in order of when stretches ended (a
    /// poll's stretch ends when the poll began, and is told when it
    /// finished), forgetting the oldest when full. An empty stretch (its
    /// end not after its start: a clock stepped back) missed nothing and is
    /// not kept, so it never hides a hold that is still running.
    pub fn push(&mut self, stretch: Stretch) {
        if stretch.from >= stretch.back {
            return;
        }
        let len = usize::from(self.len).min(Self::MAX);
        if len == Self::MAX {
            self.list.rotate_left(1);
        } else {
            self.len += 1;
        }
        let last = usize::from(self.len) - 1;
        self.list[last] = stretch;
        // Into its place by `back` (the list is sorted but for this one).
        let mut i = last;
        while i > 0 && self.list[i - 1].back > self.list[i].back {
            self.list.swap(i - 1, i);
            i -= 1;
        }
    }

    /// The stretches kept, oldest first.
    pub fn as_slice(&self) -> &[Stretch] {
        &self.list[..usize::from(self.len).min(Self::MAX)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_stretches_in_order() {
        let mut s = Stretches::default();
        assert!(s.as_slice().is_empty());
        for k in 1..=5u64 {
            s.push(Stretch {
                from: Timestamp::from_millis(k * 10),
                back: Timestamp::from_millis(k * 10 + 5),
                polls: k % 2 == 0,
            });
        }
        let froms: Vec<u64> = s.as_slice().iter().map(|x| x.from.as_millis()).collect();
        assert_eq!(froms, vec![10, 20, 30, 40, 50]);
        for k in 6..=12u64 {
            s.push(Stretch {
                from: Timestamp::from_millis(k * 10),
                back: Timestamp::from_millis(k * 10 + 5),
                polls: false,
            });
        }
        let froms: Vec<u64> = s.as_slice().iter().map(|x| x.from.as_millis()).collect();
        assert_eq!(froms, (5..=12).map(|k| k * 10).collect::<Vec<_>>());
    }

    #[test]
    fn a_stretch_told_late_takes_its_place_by_its_end() {
        let mut s = Stretches::default();
        let at = |from: u64, back: u64| Stretch {
            from: Timestamp::from_millis(from),
            back: Timestamp::from_millis(back),
            polls: false,
        };
        s.push(at(10, 50));
        s.push(at(60, 90));
        s.push(at(20, 70)); // a poll that began at 70 and finished after 90
        let backs: Vec<u64> = s.as_slice().iter().map(|x| x.back.as_millis()).collect();
        assert_eq!(backs, vec![50, 70, 90]);
        // A clock stepped back gives an empty stretch: it is not kept, so
        // the stretch before it still ends last.
        s.push(at(120, 100));
        s.push(at(100, 100));
        let backs: Vec<u64> = s.as_slice().iter().map(|x| x.back.as_millis()).collect();
        assert_eq!(backs, vec![50, 70, 90]);
    }
}
