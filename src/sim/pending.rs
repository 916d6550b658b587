//! Events drawn ahead of their time (a session's requests and close, a
//! job's requests), waiting to be taken in time order.
//!
//! Each group of events drawn together (one session, one job) is sorted
//! once and waits in its own list; a heap orders only the groups' next
//! events. A busy session server has hundreds of sessions open and
//! thousands of requests drawn, so the heap is the size of the first, not
//! the second. The order taken is the order of one heap of every event.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// An event's place in the order: (time bits, rank and sequence). Times
/// are finite and ≥ 0, so their bits sort like the numbers; the rank (what
/// the event is) sits above a sequence number in one word, so two words
/// order events and the sequence keeps equal times in push order. No two
/// events have the same key.
type Key = (u64, u64);

/// Pushes numbered below this fit under the rank (far more than any
/// server's events).
const RANK_SHIFT: u32 = 56;

// What a pending event is, numbered in the order events at one instant
// are taken: a session opens before its requests and closes after them.
pub(super) const OPEN: u8 = 0;
pub(super) const REQUEST: u8 = 1;
pub(super) const CLOSE: u8 = 2;

/// Events a freed group's list keeps room for.
const KEEP_ROOM: usize = 256;

/// One group's events, sorted, and how many were taken.
#[derive(Debug, Default)]
struct Group {
    session: u32,
    events: Vec<Key>,
    taken: usize,
}

/// Events waiting in time order, by group.
#[derive(Debug, Default)]
pub(super) struct Pending {
    /// Each waiting group's next event, and the group's slot.
    heads: BinaryHeap<Reverse<(Key, u32)>>,
    groups: Vec<Group>,
    /// Slots of groups whose events were all taken (their lists keep
    /// their room for the next group).
    free: Vec<u32>,
    /// The group being drawn, until [`Pending::seal`].
    drawing: Vec<Key>,
    seq: u64,
}

impl Pending {
    /// Adds an event at `t` to the group being drawn.
    pub(super) fn push(&mut self, t: f64, kind: u8) {
        self.seq += 1;
        let order = (u64::from(kind) << RANK_SHIFT) | (self.seq & ((1 << RANK_SHIFT) - 1));
        self.drawing.push((t.to_bits(), order));
    }

    /// The group being drawn (the events pushed since the last seal) waits
    /// with the others, as `session`'s.
    pub(super) fn seal(&mut self, session: u32) {
        if self.drawing.is_empty() {
            return;
        }
        self.drawing.sort_unstable();
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.groups.push(Group::default());
                u32::try_from(self.groups.len() - 1).unwrap_or(u32::MAX)
            }
        };
        let Some(group) = self.groups.get_mut(slot as usize) else {
            return;
        };
        std::mem::swap(&mut group.events, &mut self.drawing);
        group.session = session;
        group.taken = 0;
        if let Some(&first) = group.events.first() {
            self.heads.push(Reverse((first, slot)));
        }
    }

    /// The earliest event, if it sorts before `(before, rank)`: its time,
    /// what it is and its session.
    pub(super) fn pop_before(&mut self, before: f64, rank: u8) -> Option<(f64, u8, u32)> {
        let mut head = self.heads.peek_mut()?;
        let Reverse(((bits, order), slot)) = *head;
        if (bits, order >> RANK_SHIFT) >= (before.to_bits(), u64::from(rank)) {
            return None;
        }
        let group = self.groups.get_mut(slot as usize)?;
        group.taken += 1;
        match group.events.get(group.taken) {
            // The group's next event takes its place (one sift, no pop).
            Some(&next) => *head = Reverse((next, slot)),
            None => {
                std::collections::binary_heap::PeekMut::pop(head);
                group.events.clear();
                // A slot keeps room for a typical group, not for the
                // largest it ever held (a session may draw 100,000).
                group.events.shrink_to(KEEP_ROOM);
                self.free.push(slot);
            }
        }
        let kind = u8::try_from(order >> RANK_SHIFT).unwrap_or(CLOSE);
        Some((f64::from_bits(bits), kind, group.session))
    }
}

#[cfg(test)]
#[path = "pending_tests.rs"]
mod tests;
