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

/// The last few blind stretches, oldest first: a hold after one rests on
/// the answer before it, which a hold after an earlier one may have raised,
/// so holds chain through at most [`Stretches::MAX`] stretches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stretches {
    list: [Stretch; Stretches::MAX],
    len: u8,
}

impl Stretches {
    /// Most stretches kept.
    pub const MAX: usize = 3;

    /// Adds the stretch that just ended, forgetting the oldest when full.
    pub fn push(&mut self, stretch: Stretch) {
        let len = usize::from(self.len);
        if len < Self::MAX {
            self.list[len] = stretch;
            self.len += 1;
        } else {
            self.list.rotate_left(1);
            self.list[Self::MAX - 1] = stretch;
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
        assert_eq!(froms, vec![30, 40, 50]);
    }
}
