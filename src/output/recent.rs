//! A short memory of each server's decisions, for people: the live view's
//! timeline over the last hour and the API's recent decision changes.
//!
//! A background sweep samples every known server's decision every
//! [`SAMPLE_EVERY`]; a sample is kept only when it differs from the one
//! before (a step function, so an idle server holds one point). Nothing
//! here feeds a decision: decisions come from the signal history alone
//! (rule 2 of the design), this only remembers what they were.
//!
//! Bounded three ways: [`WINDOW`] of time, [`MAX_SAMPLES`] and
//! [`MAX_CHANGES`] per server, and [`SAMPLE_BUDGET`] samples in all (past
//! it, a server's timeline stops growing and drops its oldest point for
//! each new one). Servers the store no longer holds are forgotten at the
//! next sweep.

use super::fleet::Fleet;
use crate::engine::load::counts_in_force;
use crate::engine::{DataQuality, Decision, Reason};
use crate::id::ServerKey;
use crate::signal::{SignalKind, Signals};
use crate::time::Timestamp;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// How far back the timeline reaches.
pub const WINDOW: Duration = Duration::from_secs(3600);
/// How often the sweep samples every server.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(15);
/// Most samples per server: the window at one change per sample.
pub const MAX_SAMPLES: usize = (WINDOW.as_secs() / SAMPLE_EVERY.as_secs()) as usize;
/// Most decision changes kept per server.
pub const MAX_CHANGES: usize = 20;
/// Most samples in all (about 80 MiB): past it, timelines stop growing.
pub const SAMPLE_BUDGET: usize = 2_000_000;
/// The largest signal value a sample keeps (above it, the value is shown
/// as this).
pub const MAX_SHOWN: f64 = 1e12;
/// Samples every server may keep even past the budget.
const FLOOR: usize = 8;

/// A server's decision and main signals at one time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub at: Timestamp,
    /// Replicas wanted (none on unavailable data: [`Decision::shown`]).
    pub desired: Option<u32>,
    /// The workload's `spec.replicas`, when discovery knows it.
    pub current: Option<u32>,
    /// Whether the server should run at least one replica (likewise).
    pub active: Option<bool>,
    /// Live sessions (the larger of the polled and the event-counted,
    /// while the count stands).
    pub sessions: f32,
    /// Open connections (likewise).
    pub connections: f32,
    /// Requests per second.
    pub request_rate: f32,
    /// Queued tool calls.
    pub queue_length: f32,
}

impl Sample {
    /// The sample of `decision`, made on `signals` at `at`; event counts
    /// show only while they stand (the policy's `event_count_ttl`), as the
    /// engine counts them.
    pub fn of(signals: &Signals, decision: &Decision, count_ttl: Duration, at: Timestamp) -> Self {
        // Bounded, so a chart never meets an infinite axis (an exporter may
        // report any finite f64).
        let polled = |k: SignalKind| signals.get(k).unwrap_or(0.0).min(MAX_SHOWN) as f32;
        let standing = counts_in_force(signals.last_event, count_ttl, at);
        let counted = |k: SignalKind| {
            if standing {
                signals.load.event_count(k) as f32
            } else {
                0.0
            }
        };
        let (desired, active) = decision.shown();
        Self {
            at,
            desired,
            current: signals.replicas.map(|r| r.desired),
            active,
            sessions: polled(SignalKind::Sessions).max(counted(SignalKind::Sessions)),
            connections: polled(SignalKind::Connections).max(counted(SignalKind::Connections)),
            request_rate: polled(SignalKind::RequestRate),
            queue_length: polled(SignalKind::QueueLength),
        }
    }

    /// Whether `self` and `other` differ in anything but time.
    fn differs_from(&self, other: &Sample) -> bool {
        Sample {
            at: other.at,
            ..*self
        } != *other
    }
}

/// A change of a server's decision.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Change {
    /// Milliseconds since the Unix epoch (to within [`SAMPLE_EVERY`]).
    pub at: Timestamp,
    /// Replicas wanted from then on (none on unavailable data).
    pub desired: Option<u32>,
    /// Active from then on (likewise).
    pub active: Option<bool>,
    /// Why.
    pub reason: Reason,
}

#[derive(Debug, Default)]
struct Track {
    samples: VecDeque<Sample>,
    changes: VecDeque<Change>,
    /// The sweep that last saw the server.
    seen: u64,
}

#[derive(Debug, Default)]
struct Tracks {
    by_server: HashMap<ServerKey, Track>,
    samples: usize,
    sweep: u64,
    summary: Summary,
}

/// The fleet's counts at one sweep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// When the sweep ran; `None` before the first.
    pub at: Option<Timestamp>,
    /// Servers known.
    pub servers: usize,
    /// Servers that should run.
    pub active: usize,
    /// Servers whose data is unavailable (answered as errors to KEDA).
    pub unavailable: usize,
    /// Servers whose data is stale (holding their last good answer).
    pub stale: usize,
}

impl Summary {
    fn count(&mut self, d: &Decision) {
        self.servers += 1;
        self.active += usize::from(d.active);
        self.unavailable += usize::from(matches!(d.data, DataQuality::Unavailable { .. }));
        self.stale += usize::from(matches!(d.data, DataQuality::Stale { .. }));
    }
}

/// What [`Recent`] remembers of one server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Remembered {
    /// Samples, oldest first, within [`WINDOW`] (the first may be older:
    /// it is the value in force when the window opens).
    pub samples: Vec<Sample>,
    /// Decision changes, oldest first.
    pub changes: Vec<Change>,
}

/// Every server's recent decisions.
#[derive(Debug)]
pub struct Recent {
    tracks: Mutex<Tracks>,
    budget: usize,
}

impl Default for Recent {
    fn default() -> Self {
        Self::with_budget(SAMPLE_BUDGET)
    }
}

impl Recent {
    /// Holding at most `budget` samples in all (past it, each server keeps
    /// what it has, and at least a few).
    pub fn with_budget(budget: usize) -> Self {
        Self {
            tracks: Mutex::default(),
            budget,
        }
    }

    /// Starts a sweep: servers not recorded before [`Recent::end_sweep`]
    /// are forgotten then.
    pub fn begin_sweep(&self) {
        let mut t = self.lock();
        t.sweep = t.sweep.wrapping_add(1);
    }

    /// Records `sample` for `server` with the decision's `reason`.
    pub fn record(&self, server: &ServerKey, sample: Sample, reason: Reason) {
        let mut t = self.lock();
        let (sweep, over_budget) = (t.sweep, t.samples >= self.budget);
        let track = match t.by_server.get_mut(server) {
            Some(track) => track,
            None => t.by_server.entry(server.clone()).or_default(),
        };
        track.seen = sweep;
        let added = track.add(sample, reason, over_budget);
        t.samples = t.samples.saturating_add_signed(added);
    }

    /// Samples every server of `fleet` at its time, and forgets the ones
    /// it no longer holds.
    pub fn sweep(&self, fleet: &Fleet<'_>) {
        self.begin_sweep();
        let mut summary = Summary {
            at: Some(fleet.now),
            ..Summary::default()
        };
        fleet.each_server(|key| {
            let e = fleet.evaluate(key);
            summary.count(&e.decision);
            let sample = Sample::of(&e.signals, &e.decision, e.event_count_ttl, fleet.now);
            self.record(key, sample, e.decision.reason);
        });
        self.end_sweep();
        self.lock().summary = summary;
    }

    /// The fleet's counts at the last sweep.
    pub fn summary(&self) -> Summary {
        self.lock().summary
    }

    /// Forgets servers this sweep did not see.
    pub fn end_sweep(&self) {
        let mut t = self.lock();
        let sweep = t.sweep;
        let mut dropped = 0;
        t.by_server.retain(|_, track| {
            let keep = track.seen == sweep;
            if !keep {
                dropped += track.samples.len();
            }
            keep
        });
        t.samples = t.samples.saturating_sub(dropped);
    }

    /// What is remembered of `server`.
    pub fn of(&self, server: &ServerKey) -> Remembered {
        self.lock()
            .by_server
            .get(server)
            .map(|track| Remembered {
                samples: track.samples.iter().copied().collect(),
                changes: track.changes.iter().copied().collect(),
            })
            .unwrap_or_default()
    }

    /// Samples held in all.
    pub fn len(&self) -> usize {
        self.lock().samples
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tracks> {
        self.tracks.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Track {
    /// Adds `sample` if it is news; returns the change in samples held.
    fn add(&mut self, sample: Sample, reason: Reason, over_budget: bool) -> isize {
        self.note_change(&sample, reason);
        let mut added = 0isize;
        if self
            .samples
            .back()
            .is_none_or(|last| sample.differs_from(last))
        {
            self.samples.push_back(sample);
            added += 1;
        }
        let cap = if over_budget {
            FLOOR.max(self.samples.len() - usize::from(added > 0))
        } else {
            MAX_SAMPLES
        };
        while self.samples.len() > cap.min(MAX_SAMPLES) || self.opens_window(sample.at) {
            self.samples.pop_front();
            added -= 1;
        }
        added
    }

    /// Whether the second sample is older than the window too, so the first
    /// is no longer the value in force when the window opens.
    fn opens_window(&self, now: Timestamp) -> bool {
        let start = now - WINDOW;
        self.samples.get(1).is_some_and(|s| s.at <= start)
    }

    fn note_change(&mut self, sample: &Sample, reason: Reason) {
        let news = self
            .changes
            .back()
            .is_none_or(|c| c.desired != sample.desired || c.active != sample.active);
        if news {
            self.changes.push_back(Change {
                at: sample.at,
                desired: sample.desired,
                active: sample.active,
                reason,
            });
            if self.changes.len() > MAX_CHANGES {
                self.changes.pop_front();
            }
        }
    }
}

#[cfg(test)]
#[path = "recent_tests.rs"]
mod tests;
