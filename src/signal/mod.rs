//! What is known about one hosted MCP server: its load (polled values and
//! event counts), its activity, where its data stands, and a bounded history
//! of both that decisions are computed from.

mod catalog;
mod history;
mod replicas;
mod stretch;

pub use catalog::{
    EventCount, EventKind, Goal, METRICS, Measure, Metric, MetricSpec, SIGNALS, SignalKind,
    SignalSpec,
};
pub use history::{History, RETENTION, SLOT, slot_end};
pub use replicas::Replicas;
pub use stretch::{Stretch, Stretches};

use crate::engine::IdleGaps;
use crate::time::Timestamp;

/// The load part of what is known about a server at one instant: what
/// sizes it. This is what the signal history keeps over time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Load {
    /// Latest value of each polled signal, indexed by [`SignalKind::index`]
    /// (always finite and non-negative).
    pub polled: [Option<f64>; SignalKind::COUNT],
    /// Units of each event-counted signal (its [`SignalSpec::counted_by`]
    /// pair) open now, indexed by [`SignalKind::index`]; 0 for the others.
    pub event_counts: [u32; SignalKind::COUNT],
    /// Pods holding live work (sessions, streams), when per-pod work is
    /// known (session-aware scale-in on); 0 otherwise. A scale-in never
    /// goes below it: work is not cut, the pods go once it ends.
    pub busy_pods: u32,
}

impl Load {
    /// Units of `kind` open now, as counted from events.
    pub fn event_count(&self, kind: SignalKind) -> u32 {
        self.event_counts[kind.index()]
    }

    /// Counts an event into the signal whose open/close pair it belongs to.
    pub fn count_event(&mut self, event: EventKind) {
        if let Some(unit) = event.counts() {
            self.count_unit(unit);
        }
    }

    /// Opens (`true`) or closes one unit of `kind`, never below 0.
    fn count_unit(&mut self, (kind, opens): (SignalKind, bool)) {
        let count = &mut self.event_counts[kind.index()];
        *count = if opens {
            count.saturating_add(1)
        } else {
            count.saturating_sub(1)
        };
    }
}

/// Polled signals whose series vanished from a good poll while their last
/// value was above zero, or a running workload with no series at all:
/// missing data, held at the last good value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Held {
    /// Which signals are held (bit [`SignalKind::index`]), and
    /// [`Held::NO_SERIES`].
    pub kinds: u8,
    /// Time of the last poll in which all of them were present; `None`
    /// with something held: never good.
    pub good_at: Option<Timestamp>,
}

// A held signal is one bit of `Held::kinds`, whose top bit is `NO_SERIES`.
const _: () = assert!(SignalKind::COUNT < 8, "Held::kinds has 7 signal bits");

impl Held {
    /// The server's workload runs replicas, yet no polled signal has a
    /// series for it (its pods are not scraped yet, or not at all).
    pub const NO_SERIES: u8 = 1 << 7;
}

/// Where the sources stand: the same for every server (the store keeps a
/// copy in each entry, rewritten whenever it changes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Feed {
    /// Whether a poller is configured at all. Without one, decisions rest on
    /// events alone.
    pub poller_configured: bool,
    /// Last time the poller succeeded for the whole fleet; `None` while no
    /// poll has succeeded.
    pub polled_at: Option<Timestamp>,
    /// Whether the event stream is configured.
    pub events_configured: bool,
    /// False until the event stream is live (and its replay applied).
    pub events_ready: bool,
    /// Since when the event stream is down, while it is.
    pub events_down_since: Option<Timestamp>,
    /// Workload discovery is watching and its list is complete: a replica
    /// count of 0 can be believed. A lost watch keeps the counts last seen,
    /// and they only count in the cautious direction (replicas running).
    pub workloads_live: bool,
    /// This server's data was refused: the store was full (one server's
    /// own flag, never the store's).
    pub untracked: bool,
    /// When a source last turned trusted: the event stream went live (at
    /// first, or after a disconnection) or a poll succeeded after none or
    /// after more than 30 s without one. What happened before it may
    /// not have been seen (core NATS drops events meanwhile), so apply mode
    /// scales nothing down for an idle window after it.
    pub trusted_since: Option<Timestamp>,
    /// The last blind stretches that ended with a source turning trusted
    /// again (none when it turned trusted for the first time).
    pub stretches: Stretches,
}

/// Everything the store knows about one server, handed to the engine by
/// reference.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    /// The current load.
    pub load: Load,
    /// The sources' status, for data quality.
    pub feed: Feed,
    /// Polled signals held at their last value because their series vanished.
    pub held: Held,
    /// Last poll in which any activity signal was above zero.
    pub last_poll_activity: Option<Timestamp>,
    /// Last request or session/connection event seen on the event stream.
    pub last_event: Option<Timestamp>,
    /// Idle gaps between activity, learned for predictive keep-alive.
    pub gaps: IdleGaps,
    /// Recent loads and activity, which stabilisation replays.
    pub history: History,
    /// The workload's replicas, when discovery knows the server.
    pub replicas: Option<Replicas>,
    /// Last poll in which any polled signal had a series.
    pub series_seen_at: Option<Timestamp>,
}

impl Signals {
    /// The latest value of `kind`, if any.
    pub fn get(&self, kind: SignalKind) -> Option<f64> {
        self.load.polled[kind.index()]
    }

    /// The last activity seen from any source.
    pub fn last_activity(&self) -> Option<Timestamp> {
        self.last_event.max(self.last_poll_activity)
    }

    /// Applies an activity event observed at `at`, an open or close moving
    /// its signal's count.
    pub fn record_event(&mut self, kind: EventKind, at: Timestamp) {
        self.record_event_counted(kind, true, at);
    }

    /// Applies an activity event observed at `at`; an open or close moves
    /// its signal's count only if `counted` (the store's session table may
    /// know it must not: a second open of one session, a close of a session
    /// it never saw open).
    ///
    /// A close that ends nothing open (a session never seen open, one
    /// already forgotten, or a count already at zero) is not activity
    /// either: no work ended, and a stray close must not wake a server at
    /// zero nor stretch its keep-alive.
    pub fn record_event_counted(&mut self, kind: EventKind, counted: bool, at: Timestamp) {
        // The catalog is searched once per event.
        let unit = kind.counts();
        let ends_nothing = unit.is_some_and(|(signal, opens)| {
            !opens && (!counted || self.load.event_count(signal) == 0)
        });
        if ends_nothing {
            return;
        }
        self.note_activity(at);
        self.last_event = Some(self.last_event.map_or(at, |t| t.max(at)));
        if let (Some(unit), true) = (unit, counted) {
            self.load.count_unit(unit);
        }
        self.history.record(at, &self.load);
    }

    /// Drops, at `at`, `units[i]` open units of each event-counted signal
    /// whose close will never come (sessions silent too long). Not
    /// activity: nothing is recorded but the lower counts.
    pub fn forget_units(&mut self, units: [u32; SignalKind::COUNT], at: Timestamp) {
        if units.iter().all(|&n| n == 0) {
            return;
        }
        for (count, n) in self.load.event_counts.iter_mut().zip(units) {
            *count = count.saturating_sub(n);
        }
        self.history.record(at, &self.load);
    }

    /// Records how many pods hold live work, seen at `at`.
    pub fn set_busy_pods(&mut self, pods: u32, at: Timestamp) {
        if self.load.busy_pods != pods {
            self.load.busy_pods = pods;
            self.history.record(at, &self.load);
        }
    }

    /// Learns the idle gap that ends with activity at `at`.
    pub fn note_activity(&mut self, at: Timestamp) {
        match self.last_activity() {
            Some(prev) if at > prev => self.gaps.record(at.since(prev), at),
            _ => self.gaps.advance(at),
        }
        self.history.record_activity(at);
    }

    /// Ends a complete successful poll at `at`: records the load, and if any
    /// polled signal that shows activity is above zero, the poll counts as
    /// activity. Returns whether it did.
    pub fn finish_poll(&mut self, at: Timestamp) -> bool {
        self.history.record(at, &self.load);
        self.check_series_against_replicas(at);
        if self.held.kinds == 0 {
            self.held.good_at = None;
        }
        let busy = SignalKind::ALL
            .iter()
            .filter(|k| k.shows_activity())
            .any(|k| self.get(*k).is_some_and(|v| v > 0.0));
        if busy {
            self.note_activity(at);
            self.last_poll_activity = Some(at);
        }
        busy
    }

    /// Records a polled value, dropping values that are infinite or
    /// negative (a broken exporter must not steer the engine). NaN is a
    /// series present without a value (a quantile or a ratio over no
    /// requests): no value now, and nothing held. (The store never passes
    /// a signal that shows activity its NaN: that is missing data, see
    /// `Store::apply_poll`.) Returns whether it was taken.
    pub fn set(&mut self, kind: SignalKind, value: f64) -> bool {
        if !(value.is_nan() || value.is_finite() && value >= 0.0) {
            return false;
        }
        self.load.polled[kind.index()] = (!value.is_nan()).then_some(value);
        self.held.kinds &= !(1 << kind.index());
        true
    }

    /// `kind`'s series is absent from a good poll. A last value of zero (or
    /// none) makes it zero now; a value above zero is missing data: it is
    /// held, and `last_good` (the previous good poll) dates it. Returns
    /// whether the value is held.
    pub fn absent(&mut self, kind: SignalKind, last_good: Timestamp) -> bool {
        let slot = &mut self.load.polled[kind.index()];
        if slot.is_none_or(|v| v == 0.0) {
            *slot = None;
            return false;
        }
        if self.held.kinds == 0 {
            self.held.good_at = Some(last_good);
        }
        self.held.kinds |= 1 << kind.index();
        true
    }

    /// Nothing about this server matters any more: no load, nothing held,
    /// and no activity for `for_at_least` before `now`.
    pub fn is_quiet(&self, now: Timestamp, for_at_least: std::time::Duration) -> bool {
        let load = &self.load;
        load.event_counts.iter().all(|&n| n == 0)
            && load.busy_pods == 0
            && load.polled.iter().flatten().all(|&v| v == 0.0)
            && self.held.kinds == 0
            && self
                .last_activity()
                .is_none_or(|t| now.since(t) >= for_at_least)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_and_close_events_count_their_own_signal() {
        let mut load = Load::default();
        for e in [
            EventKind::SessionOpen,
            EventKind::SessionOpen,
            EventKind::ConnectionOpen,
            EventKind::Request,
            EventKind::SessionClose,
            EventKind::ConnectionClose,
            EventKind::ConnectionClose,
        ] {
            load.count_event(e);
        }
        assert_eq!(load.event_count(SignalKind::Sessions), 1);
        assert_eq!(
            load.event_count(SignalKind::Connections),
            0,
            "never below 0"
        );
        assert_eq!(load.event_count(SignalKind::QueueLength), 0);
    }

    #[test]
    fn a_close_that_ends_nothing_is_not_activity_and_the_end_of_work_is() {
        let t = Timestamp::from_millis;
        let mut s = Signals::default();
        s.record_event(EventKind::SessionClose, t(1_000));
        assert_eq!((s.last_activity(), s.last_event), (None, None));
        s.record_event(EventKind::SessionOpen, t(2_000));
        // A session the store's table never saw open.
        s.record_event_counted(EventKind::SessionClose, false, t(3_000));
        s.record_event(EventKind::ConnectionClose, t(3_000));
        assert_eq!(s.last_activity(), Some(t(2_000)));
        assert_eq!(s.load.event_count(SignalKind::Sessions), 1);
        s.record_event(EventKind::SessionClose, t(4_000));
        assert_eq!(s.last_activity(), Some(t(4_000)), "work ended: activity");
        assert_eq!(s.load.event_count(SignalKind::Sessions), 0);
    }

    #[test]
    fn infinite_or_negative_samples_are_ignored_and_nan_is_no_value() {
        let mut s = Signals::default();
        assert!(s.set(SignalKind::Connections, 3.0));
        for bad in [f64::INFINITY, f64::NEG_INFINITY, -1.0] {
            assert!(!s.set(SignalKind::Connections, bad));
            assert_eq!(s.get(SignalKind::Connections), Some(3.0), "kept");
        }
        s.absent(SignalKind::Connections, Timestamp::from_millis(1));
        assert_ne!(s.held.kinds, 0, "vanished while busy: held");
        assert!(s.set(SignalKind::Connections, f64::NAN));
        assert_eq!(s.get(SignalKind::Connections), None);
        assert_eq!(s.held.kinds, 0, "present without a value: nothing held");
    }

    #[test]
    fn a_vanished_series_is_held_when_it_was_busy_and_zero_when_it_was_idle() {
        let good = Timestamp::from_millis(1_000);
        let mut s = Signals::default();
        s.set(SignalKind::Sessions, 5.0);
        s.set(SignalKind::QueueLength, 0.0);
        assert!(s.absent(SignalKind::Sessions, good));
        assert!(!s.absent(SignalKind::QueueLength, good));
        assert_eq!(s.get(SignalKind::Sessions), Some(5.0), "held");
        assert_eq!(s.get(SignalKind::QueueLength), None, "known zero");
        assert_eq!(s.held.good_at, Some(good));
        s.set(SignalKind::Sessions, 4.0);
        assert_eq!(s.held.kinds, 0, "present again");
        s.absent(SignalKind::Sessions, good);
        s.known_empty();
        assert_eq!(
            (s.get(SignalKind::Sessions), s.held),
            (None, Held::default())
        );
    }
}
