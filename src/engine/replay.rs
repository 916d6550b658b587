//! Stabilisation recomputed from the signal history.
//!
//! Windows, rate limits and panic mode need what happened before `now`.
//! Instead of remembering what earlier calls answered (which made answers
//! depend on who asked, how often, and which scaler replica), the engine
//! replays the server's recorded loads on a fixed grid of absolute times
//! (multiples of [`grid_step`]) over the policy's horizon, carrying the
//! stabilisation state from one grid time to the next. The result depends
//! only on the history, the policy and `until`.
//!
//! Stretches where nothing changes are skipped: once a grid time's decision
//! is a fixed point (same answer as before, no window, rate limit or panic
//! at work), the replay jumps to the next recorded change, the next
//! activity, or the decision's `reevaluate_at` (a keep-alive or event
//! counts lapse, the step rule's next step when it would move the count).
//! An idle server thus costs two steps, not one per grid time.

use super::decide::{LazyPlan, Moment, step};
use super::keepalive::Plan;
use super::policy::{Algorithm, Policy};
use super::{DataQuality, Decision, Reason, State};
use crate::signal::{RETENTION, SLOT, Signals, slot_end};
use crate::time::Timestamp;
use std::time::Duration;

/// The grid a policy is replayed on: its shortest rate-limit period,
/// rounded down to a multiple of the history's slot, between one and three
/// slots.
pub fn grid_step(policy: &Policy) -> Duration {
    let b = &policy.behavior;
    let period = b.scale_up.period.min(b.scale_down.period);
    let slots = (period.as_millis() / SLOT.as_millis()).clamp(1, 3);
    SLOT * u32::try_from(slots).unwrap_or(1)
}

/// The absolute times a policy is replayed at: the multiples of its step.
#[derive(Debug, Clone, Copy)]
struct Grid {
    step: Duration,
    step_ms: u64,
}

impl Grid {
    fn of(policy: &Policy) -> Self {
        let step = grid_step(policy);
        let step_ms = u64::try_from(step.as_millis()).unwrap_or(u64::MAX).max(1);
        Self { step, step_ms }
    }

    /// The first grid time at or after `t`.
    fn align(&self, t: Timestamp) -> Timestamp {
        Timestamp::from_millis(
            t.as_millis()
                .div_ceil(self.step_ms)
                .saturating_mul(self.step_ms),
        )
    }
}

/// Whether the step rule steps at `at`: `at` is a grid time and a multiple
/// of its period (the scale-up period) fell after the grid time before it.
/// Its steps are pinned to absolute times, so every caller and replica sees
/// the same steps, one per period (at most one per grid time), and a
/// decision between grid times answers the replay's last step.
pub(crate) fn rule_due(policy: &Policy, at: Timestamp) -> bool {
    let grid = Grid::of(policy);
    if grid.align(at) != at {
        // Between grid times the last replayed step stands: stepping here
        // on the live load would step again for a boundary the replay
        // takes at the next grid time.
        return false;
    }
    let grid_before = at - grid.step;
    let period_ms = rule_period_ms(policy);
    let boundary = at.as_millis() / period_ms * period_ms;
    boundary > grid_before.as_millis()
}

/// The step rule's period (its scale-up period), in whole milliseconds.
fn rule_period_ms(policy: &Policy) -> u64 {
    u64::try_from(policy.behavior.scale_up.period.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// The first time after `now` at which the step rule steps (see
/// [`rule_due`]): its count may change then with no new data. A boundary
/// already past but not yet taken (it fell after the last grid time) is
/// taken at the next grid time.
pub(crate) fn next_rule_step(policy: &Policy, now: Timestamp) -> Timestamp {
    let grid = Grid::of(policy);
    let period_ms = rule_period_ms(policy);
    let last_grid_time = now.as_millis() / grid.step_ms * grid.step_ms;
    let boundary = (last_grid_time / period_ms)
        .saturating_add(1)
        .saturating_mul(period_ms);
    grid.align(Timestamp::from_millis(boundary))
}

/// How far back a replay starts: long enough for every window, rate-limit
/// period and panic to have their say, and never beyond what history keeps.
/// The step rule carries its count from step to step with no window to
/// bound how far back that matters: it replays all the history keeps.
pub fn horizon(policy: &Policy) -> Duration {
    if matches!(policy.algorithm, Algorithm::StepRule(_)) {
        return RETENTION;
    }
    let b = &policy.behavior;
    let panic = b.panic.map_or(Duration::ZERO, |p| p.window);
    (b.longest_window() + panic + grid_step(policy)).min(RETENTION)
}

/// The stabilisation state at `until`, replayed from `signals`' history
/// (grid times before `until`).
pub fn replay(signals: &Signals, policy: &Policy, until: Timestamp) -> State {
    replay_with(
        signals,
        policy,
        &LazyPlan::new(signals, policy),
        until,
        true,
    )
}

/// A replay kept for reuse by a caller that decides many times for one
/// server under one policy (the simulator decides on every request). The
/// result of a replay depends only on what the history shows at the grid
/// times replayed, the keep-alive plan (the learned idle gaps), the data
/// quality and the policy, so a memo returns exactly what a fresh replay
/// would: it saves work, never changes an answer.
#[derive(Debug, Clone, Default)]
pub struct Memo {
    key: Option<ReplayKey>,
    state: State,
    /// The keep-alive plan and the idle-gap revision it was made from.
    plan: Option<(u64, Plan)>,
}

/// What a kept replay was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ReplayKey {
    /// The history's revision (what it showed then).
    history: u64,
    /// The idle gaps' revision (the plan).
    gaps: u64,
    data: DataQuality,
    /// The first and last grid times replayed.
    span: (Timestamp, Timestamp),
}

impl Memo {
    /// [`replay`] for `until`, reusing the last result when the grid times
    /// are the same and nothing the replay reads changed: the history may
    /// have changed, but only after the last grid time (a busy server's
    /// activity and polls land in the newest slot). A memo belongs to one
    /// server under one policy: `signals` must be the same server's and
    /// `policy` the same on every call (neither is in the key).
    pub(crate) fn replay(
        &mut self,
        signals: &Signals,
        policy: &Policy,
        until: Timestamp,
        plan: &LazyPlan<'_>,
    ) -> State {
        let grid = Grid::of(policy);
        let first = grid.align(until - horizon(policy));
        // The last grid time before `until`: the replay's last step.
        let last = grid.align(until) - grid.step;
        let key = ReplayKey {
            history: signals.history.revision(),
            gaps: signals.gaps.revision(),
            data: live_quality(signals),
            span: (first, last),
        };
        let kept = self.key.is_some_and(|k| {
            ReplayKey {
                history: key.history,
                ..k
            } == key
                && signals.history.same_since(k.history, k.span)
        });
        if !kept {
            self.state = replay_with(signals, policy, plan, until, true);
        }
        self.key = Some(key);
        self.state.clone()
    }

    /// The server's keep-alive plan: the one kept, while its learned idle
    /// gaps have not changed, else made again on first need.
    pub(crate) fn plan<'a>(&self, signals: &'a Signals, policy: &'a Policy) -> LazyPlan<'a> {
        let revision = signals.gaps.revision();
        let kept = self
            .plan
            .filter(|(seen, _)| *seen == revision)
            .map(|(_, p)| p);
        LazyPlan::made_before(signals, policy, kept)
    }

    /// Keeps `plan` for the next decision, if it was made.
    pub(crate) fn keep(&mut self, signals: &Signals, plan: &LazyPlan<'_>) {
        if let Some(p) = plan.made() {
            self.plan = Some((signals.gaps.revision(), p));
        }
    }
}

/// The state after the decision made at `at` itself on the history: the
/// last good answer, when the data stopped being trustworthy at `at`.
pub(crate) fn answer_at(
    signals: &Signals,
    policy: &Policy,
    at: Timestamp,
    plan: &LazyPlan<'_>,
) -> State {
    let state = replay_with(signals, policy, plan, at, true);
    // The slot holding `at` holds what was written up to then.
    let written_by = slot_end(at);
    let Some(load) = signals.history.at(written_by) else {
        return state;
    };
    let moment = recorded(signals, load, written_by, live_quality(signals), plan);
    step(&moment, policy, state, at).next
}

/// The answer a stale decision holds once the data stopped being
/// trustworthy at `good_at`: the last good answer ([`answer_at`]), raised
/// to the need of the load recorded then.
pub(crate) fn held_answer_at(
    signals: &Signals,
    policy: &Policy,
    good_at: Timestamp,
    plan: &LazyPlan<'_>,
) -> (u32, bool) {
    let state = answer_at(signals, policy, good_at, plan);
    let written_by = slot_end(good_at);
    let Some(load) = signals.history.at(written_by) else {
        return (state.last_desired, state.last_active);
    };
    let stale = DataQuality::Stale {
        age_ms: 0,
        cause: crate::engine::Gap::PollFailing,
    };
    let moment = recorded(signals, load, written_by, stale, plan);
    let d = step(&moment, policy, state, good_at);
    (d.desired, d.active)
}

/// The moment the history records at `at`: `load`, and the last activity
/// by then (which also stands for the last event: the history keeps one).
fn recorded<'a>(
    signals: &'a Signals,
    load: &'a crate::signal::Load,
    at: Timestamp,
    data: DataQuality,
    plan: &'a LazyPlan<'a>,
) -> Moment<'a> {
    let last_activity = signals.history.last_activity(at);
    Moment {
        load,
        last_event: last_activity,
        last_activity,
        plan,
        data,
        replicas: None,
    }
}

/// The quality replayed grid times are decided with: what the history
/// holds is what was known then.
fn live_quality(signals: &Signals) -> DataQuality {
    if signals.feed.poller_configured {
        DataQuality::Fresh
    } else {
        DataQuality::EventsOnly
    }
}

/// [`replay`], optionally without skipping fixed points (which must not
/// change the result: a property test holds the two equal).
fn replay_with(
    signals: &Signals,
    policy: &Policy,
    plan: &LazyPlan<'_>,
    until: Timestamp,
    skip: bool,
) -> State {
    let grid = Grid::of(policy);
    let (step_len, align) = (grid.step, |t| grid.align(t));
    let data = live_quality(signals);
    let mut state = State::default();
    let mut at = align(until - horizon(policy));
    let mut cursor = signals.history.walk_from(at);
    while at < until {
        let found = signals.history.index_at(at, cursor);
        cursor = found.unwrap_or(0);
        let Some(load) = found.and_then(|i| signals.history.load(i)) else {
            match signals.history.next_change_after(at) {
                Some(next) => at = align(next),
                None => break,
            }
            continue;
        };
        let moment = recorded(signals, load, at, data, plan);
        let before = (state.last_desired, state.last_active);
        let d = step(&moment, policy, std::mem::take(&mut state), at);
        let next = at + step_len;
        // A decision due again by the next grid time has nothing to skip.
        let lasts = d.reevaluate_at.is_none_or(|t| t > next);
        at = if skip && lasts && is_fixed_point(before, &d, at) {
            align(next_change(signals, &d, at).min(until)).max(next)
        } else {
            next
        };
        state = d.next;
    }
    state
}

/// Whether evaluating again with the same load would give the same state:
/// nothing is holding, limiting or panicking, and the count did not move.
/// (The step rule's next step is the decision's `reevaluate_at`.)
fn is_fixed_point(before: (u32, bool), d: &Decision, at: Timestamp) -> bool {
    let steady_reason = !matches!(
        d.reason,
        Reason::Stabilizing | Reason::RateLimited | Reason::Panic
    );
    let slo_breached = d
        .contributions
        .iter()
        .any(|c| c.metric.is_slo() && c.replicas > 0);
    let calm = d.next.memory.panic_until.is_none_or(|t| t <= at);
    steady_reason && !slo_breached && calm && (d.next.last_desired, d.next.last_active) == before
}

/// The next time anything the decision rests on may change. New activity
/// only matters to a server that is cold: to a warm one it can only extend
/// a warmth whose end (`reevaluate_at`) is re-checked anyway.
fn next_change(signals: &Signals, d: &Decision, at: Timestamp) -> Timestamp {
    let never = Timestamp::from_millis(u64::MAX);
    let load = signals.history.next_change_after(at).unwrap_or(never);
    let activity = if d.active {
        never
    } else {
        signals.history.next_activity_after(at).unwrap_or(never)
    };
    let lapse = d.reevaluate_at.unwrap_or(never);
    load.min(activity).min(lapse)
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod tests;
