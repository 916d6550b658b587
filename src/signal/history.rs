//! A server's recent readings, kept as a step function of time so that a
//! decision can be computed from the signal history alone (rule 2 of the
//! design: same signals, same answer).
//!
//! Two parts, both bounded:
//! - the **load** (polled values and event-counted sessions and
//!   connections): time is cut into [`SLOT`]-long slots, and the load in
//!   force at the end of a slot is what the engine replays at that grid
//!   time. Several writes in one slot overwrite each other and an unchanged
//!   load adds nothing, so an idle server keeps a single point and a busy
//!   one about one per poll;
//! - **activity runs**: activity (requests, busy polls) less than a slot
//!   apart is one run, so "when was the last activity before t" is known
//!   to within a slot without a point per request.
//!
//! Both keep what [`RETENTION`] allows, and at most [`MAX_POINTS`] entries.

use super::Load;
use crate::time::Timestamp;
use std::collections::VecDeque;
use std::time::Duration;

/// Length of a history slot: the finest grid a decision is replayed on.
pub const SLOT: Duration = Duration::from_secs(5);

/// Most points (and activity runs) kept per server: 21 minutes of a load
/// that changes every slot, more than [`RETENTION`] at one poll per 5 s.
pub const MAX_POINTS: usize = 256;

/// How far back history is kept: the longest replay horizon. Windows that
/// reach further back are cut here (documented with the policy settings).
pub const RETENTION: Duration = Duration::from_secs(15 * 60);

/// How many recent changes are remembered with the earliest time each
/// could alter ([`History::same_since`]).
const CHANGE_LOG: usize = 16;

const SLOT_MS: u64 = SLOT.as_millis() as u64;

/// The grid time that ends the slot holding `at` (`at` rounded up to a
/// multiple of [`SLOT`]).
pub fn slot_end(at: Timestamp) -> Timestamp {
    Timestamp::from_millis(at.as_millis().div_ceil(SLOT_MS).saturating_mul(SLOT_MS))
}

/// Past loads and activity, oldest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct History {
    points: VecDeque<(Timestamp, Load)>,
    runs: VecDeque<(Timestamp, Timestamp)>,
    /// Bumped on every change, so a replay of an unchanged history can be
    /// reused ([`crate::engine::replay::Memo`]).
    revision: u64,
    /// For each of the last [`CHANGE_LOG`] changes, the earliest time whose
    /// view it altered (what is seen at earlier times is as before): the
    /// change that made revision `r` is at `r % CHANGE_LOG`.
    changes: [Timestamp; CHANGE_LOG],
    /// What is seen before this time changed when old entries were
    /// dropped (it only grows).
    forgotten_before: Timestamp,
}

impl History {
    /// Records `load` as in force from the grid time ending the slot of
    /// `at`. A write older than the newest point lands in the newest slot
    /// (history never changes in the past).
    pub fn record(&mut self, at: Timestamp, load: &Load) {
        let grid = slot_end(at);
        let from = match self.points.back_mut() {
            Some((_, l)) if l == load => return,
            Some((last, l)) if *last >= grid => {
                *l = *load;
                *last
            }
            _ => {
                self.points.push_back((grid, *load));
                self.forget(grid);
                grid
            }
        };
        self.merge_tail();
        self.changed(from);
    }

    /// Records activity at `at`, to the slot: activity in a slot whose end
    /// is already recorded changes nothing.
    pub fn record_activity(&mut self, at: Timestamp) {
        let at = slot_end(at);
        let from = match self.runs.back_mut() {
            Some((_, end)) if at <= *end => return,
            Some((_, end)) if at <= *end + SLOT => {
                // Seen from after the old end on: inside the run now.
                let after = *end + Duration::from_millis(1);
                *end = at;
                after
            }
            _ => {
                self.runs.push_back((at, at));
                let cutoff = at - RETENTION;
                while self.runs.len() > MAX_POINTS
                    || self.runs.len() > 1 && self.runs[0].1 <= cutoff
                {
                    self.runs.pop_front();
                    self.forgot_before(self.runs.front().map(|(start, _)| *start));
                }
                at
            }
        };
        self.changed(from);
    }

    /// Where the change that made `revision` is logged.
    fn log_slot(revision: u64) -> usize {
        usize::try_from(revision % CHANGE_LOG as u64).unwrap_or(0)
    }

    /// Counts a change that altered what is seen from `from` on.
    fn changed(&mut self, from: Timestamp) {
        self.revision = self.revision.wrapping_add(1);
        self.changes[Self::log_slot(self.revision)] = from;
    }

    /// Whether what a replay reads at every time in `span` (both ends
    /// included) is the same now as at `revision`, as far as the last
    /// changes remembered tell (else the answer is no): the load in force
    /// ([`History::at`]) and the last activity. Not covered: point indices
    /// (dropping old points shifts them) and the next change or activity
    /// after a time in the span, which may now lie beyond the span where
    /// there was none (a replay only jumps to those, and any time beyond
    /// its span ends it alike).
    pub fn same_since(&self, revision: u64, span: (Timestamp, Timestamp)) -> bool {
        let since = self.revision.wrapping_sub(revision);
        if since == 0 {
            return true;
        }
        let remembered = u64::try_from(CHANGE_LOG).unwrap_or(u64::MAX);
        since <= remembered
            && self.forgotten_before <= span.0
            && (0..since)
                .map(|k| self.changes[Self::log_slot(self.revision.wrapping_sub(k))])
                .all(|from| from > span.1)
    }

    /// Changes so far: equal revisions mean an equal history.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The last activity at or before `at`, to within a slot (inside a run,
    /// `at` itself; activity is kept rounded up to its slot's end).
    pub fn last_activity(&self, at: Timestamp) -> Option<Timestamp> {
        let i = self.runs.partition_point(|(start, _)| *start <= at);
        i.checked_sub(1).map(|i| self.runs[i].1.min(at))
    }

    /// The start of the first activity run after `at`, if any.
    pub fn next_activity_after(&self, at: Timestamp) -> Option<Timestamp> {
        let i = self.runs.partition_point(|(start, _)| *start <= at);
        self.runs.get(i).map(|(start, _)| *start)
    }

    /// The load in force at grid time `at`, if any was recorded by then.
    pub fn at(&self, at: Timestamp) -> Option<&Load> {
        let i = self.points.partition_point(|(t, _)| *t <= at);
        i.checked_sub(1).map(|i| &self.points[i].1)
    }

    /// The index of the point in force at `at`, searching forward from
    /// `from` (a replay walks forward in time: no search per grid time).
    pub fn index_at(&self, at: Timestamp, from: usize) -> Option<usize> {
        let mut i = from.min(self.points.len());
        while i < self.points.len() && self.points[i].0 <= at {
            i += 1;
        }
        i.checked_sub(1)
    }

    /// Where a forward walk to `at` ([`History::index_at`]) can start: the
    /// point in force at `at`, found by bisection (a replay starts minutes
    /// after the oldest point kept).
    pub fn walk_from(&self, at: Timestamp) -> usize {
        self.points
            .partition_point(|(t, _)| *t <= at)
            .saturating_sub(1)
    }

    /// The load at index `i` (from [`History::index_at`]).
    pub fn load(&self, i: usize) -> Option<&Load> {
        self.points.get(i).map(|(_, l)| l)
    }

    /// The first change point after `at`, if any.
    pub fn next_change_after(&self, at: Timestamp) -> Option<Timestamp> {
        let i = self.points.partition_point(|(t, _)| *t <= at);
        self.points.get(i).map(|(t, _)| *t)
    }

    /// Number of points held.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Drops points that no replay can reach any more, always keeping the
    /// one in force at the cutoff.
    fn forget(&mut self, newest: Timestamp) {
        let cutoff = newest - RETENTION;
        while self.points.len() > MAX_POINTS || self.points.len() > 1 && self.points[1].0 <= cutoff
        {
            self.points.pop_front();
            self.forgot_before(self.points.front().map(|(t, _)| *t));
        }
    }

    /// Entries before `next` (the oldest one kept) were dropped: what is
    /// seen before it changed.
    fn forgot_before(&mut self, next: Option<Timestamp>) {
        if let Some(t) = next {
            self.forgotten_before = self.forgotten_before.max(t);
        }
    }

    /// An overwrite can make the newest point equal the one before it.
    fn merge_tail(&mut self) {
        let n = self.points.len();
        if n >= 2 && self.points[n - 1].1 == self.points[n - 2].1 {
            self.points.pop_back();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(sessions: u32) -> Load {
        let mut load = Load::default();
        load.event_counts[super::super::SignalKind::Sessions.index()] = sessions;
        load
    }

    fn t(secs: u64) -> Timestamp {
        Timestamp::from_millis(secs * 1000)
    }

    #[test]
    fn writes_in_one_slot_overwrite_and_an_unchanged_reading_adds_nothing() {
        let mut h = History::default();
        h.record(t(1), &reading(1));
        h.record(t(3), &reading(2));
        assert_eq!(h.len(), 1);
        assert_eq!(h.at(t(5)), Some(&reading(2)));
        h.record(t(7), &reading(2));
        assert_eq!(h.len(), 1, "unchanged");
        h.record(t(12), &reading(3));
        assert_eq!(h.len(), 2);
        assert_eq!(h.at(t(10)), Some(&reading(2)));
        assert_eq!(h.at(t(15)), Some(&reading(3)));
        assert_eq!(h.at(t(0)), None, "before the first point");
        assert_eq!(h.next_change_after(t(5)), Some(t(15)));
    }

    #[test]
    fn a_walk_from_the_bisected_start_finds_what_a_walk_from_the_oldest_finds() {
        let mut h = History::default();
        assert_eq!(h.index_at(t(5), h.walk_from(t(5))), None, "empty");
        for i in 0..60u64 {
            // From 10 s on, so that the first seconds come before any point.
            h.record(
                t(10 + i * 5 + i % 3),
                &reading(u32::try_from(i % 4).expect("small")),
            );
        }
        for secs in 0..330 {
            let from = h.walk_from(t(secs));
            assert_eq!(
                h.index_at(t(secs), from),
                h.index_at(t(secs), 0),
                "at {secs} s"
            );
        }
    }

    #[test]
    fn a_late_write_lands_in_the_newest_slot_and_never_rewrites_the_past() {
        let mut h = History::default();
        h.record(t(20), &reading(1));
        h.record(t(2), &reading(5));
        assert_eq!(h.len(), 1);
        assert_eq!(h.at(t(20)), Some(&reading(5)));
        assert_eq!(h.at(t(5)), None);
    }

    #[test]
    fn memory_is_bounded_by_points_and_by_retention() {
        let mut h = History::default();
        for i in 0..10_000u64 {
            h.record(t(i * 5), &reading(u32::try_from(i % 7).expect("small")));
        }
        assert!(h.len() <= MAX_POINTS);
        let oldest_needed = t(9_999 * 5) - RETENTION;
        assert!(
            h.at(oldest_needed).is_some(),
            "the point in force at the cutoff stays"
        );
    }

    #[test]
    fn activity_less_than_a_slot_apart_is_one_run() {
        let mut h = History::default();
        for s in [10, 12, 16, 20] {
            h.record_activity(t(s));
        }
        h.record_activity(t(100));
        assert_eq!(h.last_activity(t(5)), None);
        assert_eq!(h.last_activity(t(14)), Some(t(14)), "inside the run");
        assert_eq!(h.last_activity(t(60)), Some(t(20)));
        assert_eq!(h.last_activity(t(200)), Some(t(100)));
        let before = h.revision();
        h.record_activity(t(99));
        assert_eq!(
            h.revision(),
            before,
            "activity in a recorded slot changes nothing"
        );
    }

    #[test]
    fn going_back_to_the_previous_reading_within_a_slot_merges() {
        let mut h = History::default();
        h.record(t(1), &reading(1));
        h.record(t(6), &reading(2));
        h.record(t(7), &reading(1));
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn same_since_sees_only_changes_that_reach_into_the_span() {
        let mut h = History::default();
        h.record(t(1), &reading(1));
        h.record_activity(t(1));
        let seen = h.revision();
        assert!(h.same_since(seen, (t(0), t(100))), "nothing changed");
        h.record(t(12), &reading(2));
        assert!(h.same_since(seen, (t(0), t(14))), "the new point is at 15");
        assert!(!h.same_since(seen, (t(0), t(15))));
        h.record_activity(t(8));
        assert!(
            h.same_since(seen, (t(0), t(5))),
            "the run ending at 5 grew: seen differently only after 5"
        );
        assert!(!h.same_since(seen, (t(0), t(6))));
    }

    #[test]
    fn same_since_says_no_when_it_cannot_tell() {
        let mut h = History::default();
        h.record(t(0), &reading(1));
        let seen = h.revision();
        for i in 1..=(CHANGE_LOG as u64 + 1) {
            h.record(
                t(1000 + i * 5),
                &reading(u32::try_from(i % 2 + 2).expect("small")),
            );
        }
        assert!(
            !h.same_since(seen, (t(0), t(10))),
            "more changes than remembered"
        );
        let seen = h.revision();
        h.record(t(1000 + 10_000), &reading(9));
        assert!(
            !h.same_since(seen, (t(0), t(10))),
            "points dropped for retention change what is seen before the oldest kept"
        );
        assert!(h.same_since(seen, (t(10_000), t(10_000))));
    }
}
