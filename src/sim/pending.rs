//! Events drawn ahead of their time (a session's requests and close, a
//! job's requests), waiting to be taken in time order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Events waiting in time order: (time bits, rank and sequence) → session.
/// Times are finite and ≥ 0, so their bits sort like the numbers; the rank
/// (what the event is) sits above a sequence number in one word, so two
/// words order the heap and the sequence keeps equal times in push order.
#[derive(Debug, Default)]
pub(super) struct Pending {
    heap: BinaryHeap<Reverse<(u64, u64, u32)>>,
    seq: u64,
}

/// Pushes numbered below this fit under the rank (far more than any
/// server's events).
const RANK_SHIFT: u32 = 56;

// What a pending event is, numbered in the order events at one instant
// are taken: a session opens before its requests and closes after them.
pub(super) const OPEN: u8 = 0;
pub(super) const REQUEST: u8 = 1;
pub(super) const CLOSE: u8 = 2;

impl Pending {
    pub(super) fn push(&mut self, t: f64, kind: u8, session: u32) {
        self.seq += 1;
        let order = (u64::from(kind) << RANK_SHIFT) | (self.seq & ((1 << RANK_SHIFT) - 1));
        self.heap.push(Reverse((t.to_bits(), order, session)));
    }
    /// The earliest event, if it sorts before `(before, rank)`: its time,
    /// what it is and its session.
    pub(super) fn pop_before(&mut self, before: f64, rank: u8) -> Option<(f64, u8, u32)> {
        let Reverse((bits, order, _)) = self.heap.peek()?;
        if (*bits, *order >> RANK_SHIFT) >= (before.to_bits(), u64::from(rank)) {
            return None;
        }
        self.heap.pop().map(|Reverse((b, order, session))| {
            let kind = u8::try_from(order >> RANK_SHIFT).unwrap_or(CLOSE);
            (f64::from_bits(b), kind, session)
        })
    }
}
