//! After a blind stretch: a source (the event stream, or polls after a
//! gap longer than a rate window) turned trusted again, but what happened
//! while it was down may not have been seen (core NATS drops events
//! meanwhile; a rate does not reach back past its window). Rule 3 (unknown
//! is never idle) holds for an idle window after it: the answer is no lower
//! than the one given just before the source came back. Apply mode holds
//! its scale-downs the same way; this brings the hold to KEDA's path.
//!
//! The answer given just before: the last good one from before the stretch
//! when the data read untrusted by then (the engine held it through the
//! stretch), else the answer on the data still trusted then (a short gap in
//! polls: a server that went idle on it stays idle). Either may itself have
//! been raised by the hold after an earlier stretch, so holds chain: a
//! flap right after a source came back does not cut the hold short.

use super::decide::LazyPlan;
use super::policy::Policy;
use super::replay::{answer_at, held_answer_at};
use super::{Decision, Reason};
use crate::signal::{SLOT, Signals, Stretch, slot_end};
use crate::time::Timestamp;

/// What a hold keeps a server at, at least.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Floor {
    pub desired: u32,
    pub active: bool,
    /// When the hold ends.
    pub ends: Timestamp,
}

/// The floor the holds running at `t` put under an answer: that of the
/// latest stretch over by `t` whose hold still runs (an earlier hold that
/// runs at `t` ran when that stretch began, so the later one includes it).
pub(crate) fn floor_at(
    signals: &Signals,
    policy: &Policy,
    plan: &LazyPlan<'_>,
    t: Timestamp,
) -> Option<Floor> {
    floor_among(signals, policy, plan, t, signals.feed.stretches.as_slice())
}

fn floor_among(
    signals: &Signals,
    policy: &Policy,
    plan: &LazyPlan<'_>,
    t: Timestamp,
    stretches: &[Stretch],
) -> Option<Floor> {
    let k = stretches.iter().rposition(|s| s.back <= t)?;
    let s = stretches[k];
    let ends = s.back + policy.idle_window;
    if t >= ends {
        return None;
    }
    let (at, (desired, active)) = given_before(signals, policy, plan, s);
    let mut floor = Floor {
        desired,
        active,
        ends,
    };
    if let Some(earlier) = floor_among(signals, policy, plan, at, &stretches[..k]) {
        floor.desired = floor.desired.max(earlier.desired);
        floor.active |= earlier.active;
    }
    Some(floor)
}

/// The answer given just before `s` ended, and the time it stands for.
/// When the data read untrusted by then (events alone, or polls failing for
/// longer than `stale_after`), the answer held since the stretch began;
/// else the answer on the data still trusted, at the last slot end before
/// the source came back (the slot it came back in holds what it brought).
fn given_before(
    signals: &Signals,
    policy: &Policy,
    plan: &LazyPlan<'_>,
    s: Stretch,
) -> (Timestamp, (u32, bool)) {
    let untrusted = if s.polls {
        s.back.since(s.from) > policy.stale_after
    } else {
        !signals.feed.poller_configured
    };
    if untrusted {
        return (s.from, held_answer_at(signals, policy, s.from, plan));
    }
    let before = (slot_end(s.back) - SLOT).max(s.from);
    let state = answer_at(signals, policy, before, plan);
    (before, (state.last_desired, state.last_active))
}

/// Raises `d`, decided at `now`, to the floor of the holds running at
/// `at` (`now` on trusted data; the last good time when holding), naming
/// the hold when `resuming` and it raised the answer, and asks to be
/// decided again when the hold ends.
pub(crate) fn lift(
    signals: &Signals,
    policy: &Policy,
    plan: &LazyPlan<'_>,
    at: Timestamp,
    d: &mut Decision,
    resuming: bool,
) {
    if d.active && d.desired >= policy.max_replicas {
        return; // nothing a hold could raise
    }
    let Some(floor) = floor_at(signals, policy, plan, at) else {
        return;
    };
    let desired = d.desired.max(floor.desired).min(policy.max_replicas);
    let active = d.active || floor.active;
    if (desired, active) == (d.desired, d.active) {
        return;
    }
    d.desired = desired;
    d.active = active;
    d.driver = None;
    if resuming {
        d.reason = Reason::Resuming;
        let ends = floor.ends;
        d.reevaluate_at = Some(d.reevaluate_at.map_or(ends, |t| t.min(ends)));
    }
}

#[cfg(test)]
#[path = "resume_tests.rs"]
mod tests;
