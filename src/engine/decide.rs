//! `decide()`: the signal history replayed, then load → activity → raw
//! need → stabilised decision at `now`.
//!
//! A decision is a function of the server's signals (their history
//! included), its policy and `now`; nothing is remembered between calls, so
//! two scaler replicas fed by the same sources give the same answer however
//! KEDA's calls are split between them, and one ScaledObject's policy never
//! moves another's answer. Stabilisation (windows, rate limits, panic mode)
//! needs what happened before `now`: [`super::replay`] recomputes it from the
//! history on a fixed grid.

use super::keepalive::{self, Plan, warm_at};
use super::load::{LoadView, contributions};
use super::policy::{Activity, Algorithm, Policy};
use super::quality::assess;
use super::replay::{Memo, answer_at, next_rule_step, rule_due};
use super::resume;
use super::stabilize::{Limit, stabilize};
use super::{Contribution, Contributions, DataQuality, Decision, Metric, Reason, State};
use crate::signal::{Load, Signals};
use crate::time::Timestamp;

/// Decides replicas and activity for one server. Pure: same inputs, same output.
pub fn decide(signals: &Signals, policy: &Policy, now: Timestamp) -> Decision {
    decide_with(signals, policy, now, &mut Memo::default())
}

/// [`decide`], reusing `memo`'s replay when the history has not changed
/// (for a caller that decides often for one server and one policy).
pub fn decide_with(
    signals: &Signals,
    policy: &Policy,
    now: Timestamp,
    memo: &mut Memo,
) -> Decision {
    let (data, last_good) = assess(&signals.feed, &signals.held, policy, now);
    let plan = memo.plan(signals, policy);
    let state = match (data, last_good) {
        (DataQuality::Fresh | DataQuality::EventsOnly, _) => {
            memo.replay(signals, policy, now, &plan)
        }
        (_, Some(at)) => answer_at(signals, policy, at, &plan),
        (_, None) => State::default(),
    };
    let moment = Moment {
        load: &signals.load,
        last_event: signals.last_event,
        last_activity: signals.last_activity(),
        plan: &plan,
        data,
        replicas: live_replicas(signals),
    };
    let mut d = step(&moment, policy, state, now);
    // The holds after blind stretches: at `now` on trusted data; on stale
    // data, those that raised the last good answer held.
    match (data, last_good) {
        (DataQuality::Fresh | DataQuality::EventsOnly, _) => {
            resume::lift(signals, policy, &plan, now, &mut d, true);
        }
        (DataQuality::Stale { .. } | DataQuality::Unavailable { .. }, Some(at)) => {
            resume::lift(signals, policy, &plan, at, &mut d, false);
        }
        _ => {}
    }
    memo.keep(signals, &plan);
    if policy.min_replicas > 0 {
        d.reevaluate_at = None;
    }
    d
}

/// The server's keep-alive plan under `policy`, from the idle gaps learned
/// so far: made on first need (a server busy through a decision and its
/// replay never needs it), then shared by every step.
#[derive(Debug)]
pub(crate) struct LazyPlan<'a> {
    signals: &'a Signals,
    policy: &'a Policy,
    plan: std::cell::OnceCell<Plan>,
}

impl<'a> LazyPlan<'a> {
    /// A plan not made yet.
    pub(crate) fn new(signals: &'a Signals, policy: &'a Policy) -> Self {
        Self::made_before(signals, policy, None)
    }

    /// A plan, or the one already made for these very idle gaps.
    pub(crate) fn made_before(
        signals: &'a Signals,
        policy: &'a Policy,
        plan: Option<Plan>,
    ) -> Self {
        Self {
            signals,
            policy,
            plan: plan.map_or_else(std::cell::OnceCell::new, std::cell::OnceCell::from),
        }
    }

    /// The plan, made now if it was not.
    pub(crate) fn get(&self) -> &Plan {
        self.plan.get_or_init(|| {
            keepalive::plan(
                &self.policy.keep_alive,
                self.policy.idle_window,
                &self.signals.gaps,
            )
        })
    }

    /// The plan, if it has been made.
    pub(crate) fn made(&self) -> Option<Plan> {
        self.plan.get().copied()
    }
}

/// The replicas the server's workload runs, when a live watch says so.
fn live_replicas(signals: &Signals) -> Option<u32> {
    signals
        .replicas
        .filter(|_| signals.feed.workloads_live)
        .map(|r| r.desired)
}

/// One step at `now` on `signals`' current values with a given `state`
/// (tests of the step logic, without the replay).
#[cfg(test)]
pub(crate) fn step_now(
    signals: &Signals,
    policy: &Policy,
    state: &State,
    now: Timestamp,
) -> Decision {
    let state = state.clone();
    let plan = LazyPlan::new(signals, policy);
    let moment = Moment {
        load: &signals.load,
        last_event: signals.last_event,
        last_activity: signals.last_activity(),
        plan: &plan,
        data: assess(&signals.feed, &signals.held, policy, now).0,
        replicas: live_replicas(signals),
    };
    step(&moment, policy, state, now)
}

/// What is known about a server at one instant: now, or a grid time of a
/// replay.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moment<'a> {
    /// The load in force.
    pub load: &'a Load,
    /// The last event at or before the instant.
    pub last_event: Option<Timestamp>,
    /// The last activity from any source at or before the instant.
    pub last_activity: Option<Timestamp>,
    /// The keep-alive plan from the learned idle gaps.
    pub plan: &'a LazyPlan<'a>,
    /// How trustworthy the data is.
    pub data: DataQuality,
    /// Replicas the workload runs now, from a live discovery watch (`None`
    /// in a replay: the count is not in the history, and a replay's own
    /// last decision stands in for it).
    pub replicas: Option<u32>,
}

/// One decision at `now` given the stabilisation `state` carried so far
/// (moved in, and out again as the decision's `next`: a replay allocates
/// nothing per grid time for it).
/// Its `reevaluate_at` says when the answer may change with no new data.
pub(crate) fn step(m: &Moment, policy: &Policy, state: State, now: Timestamp) -> Decision {
    let view = LoadView::new(m.load, m.last_event, m.data, policy.event_count_ttl, now);
    // Rate limits, stabilisation and proportional steps start from the
    // replicas really running when discovery knows them.
    let current = m.replicas.filter(|&r| r > 0).unwrap_or(state.last_desired);
    let contributions = contributions(&view, policy, current);
    let busy = view.has_live_work()
        || contributions
            .iter()
            .any(|c| c.replicas > 0 && !c.metric.is_slo());
    let (warmth, reevaluate_at) = warmth(m, policy, &view, busy, now);
    let mut d = match m.data {
        DataQuality::Fresh | DataQuality::EventsOnly => fresh(
            policy,
            state,
            current,
            &view,
            contributions,
            warmth,
            m.data,
            now,
        ),
        DataQuality::Stale { .. } | DataQuality::Unavailable { .. } => {
            hold(policy, state, contributions, warmth, m.data)
        }
    };
    d.reevaluate_at = reevaluate_at;
    if let Algorithm::StepRule(rule) = &policy.algorithm
        && d.active
        && matches!(m.data, DataQuality::Fresh | DataQuality::EventsOnly)
        && rule.moves(d.next.last_desired, &view, policy)
    {
        // The rule steps at fixed times whatever the data does; a step on
        // this load would move the count.
        let step_at = next_rule_step(policy, now);
        d.reevaluate_at = Some(d.reevaluate_at.map_or(step_at, |t| t.min(step_at)));
    }
    d
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Warmth {
    Busy,
    Recent,
    Prewarm,
    Cold,
}

fn warmth(
    m: &Moment,
    policy: &Policy,
    view: &LoadView,
    busy: bool,
    now: Timestamp,
) -> (Warmth, Option<Timestamp>) {
    if busy {
        // Event-counted sessions and connections stop counting
        // `event_count_ttl` after the last event (a lost close event must not
        // keep a server up forever): decide again then, so that a stream
        // sees the work end even when no event or poll comes.
        let counted_until = m
            .last_event
            .filter(|_| m.load.event_counts.iter().any(|&n| n > 0))
            .map(|t| t + policy.event_count_ttl)
            .filter(|&t| t > now);
        return (Warmth::Busy, counted_until);
    }
    if let Activity::Instant { metric, above } = policy.activity {
        let on = view.value(metric) > above;
        return (if on { Warmth::Busy } else { Warmth::Cold }, None);
    }
    let Some(last) = m.last_activity else {
        return (Warmth::Cold, None);
    };
    let plan = m.plan.get();
    match warm_at(plan, last, now) {
        (true, next) if now.since(last) < plan.warm_until => (Warmth::Recent, next),
        (true, next) => (Warmth::Prewarm, next),
        (false, next) => (Warmth::Cold, next),
    }
}

#[allow(clippy::too_many_arguments)]
fn fresh(
    policy: &Policy,
    state: State,
    current: u32,
    view: &LoadView,
    contributions: Contributions,
    warmth: Warmth,
    data: DataQuality,
    now: Timestamp,
) -> Decision {
    let active = warmth != Warmth::Cold || policy.min_replicas > 0;
    let floor = if active {
        policy.min_replicas.max(1)
    } else {
        policy.min_replicas
    };
    if !active {
        let next = State {
            last_desired: floor,
            last_active: false,
            ..State::default()
        };
        return Decision {
            desired: floor,
            active,
            reason: Reason::Idle,
            driver: None,
            contributions,
            data,
            reevaluate_at: None,
            next,
        };
    }
    let mut next = state;
    let (need, driver) = raw_need(policy, view, &contributions, &next, now);
    let capped = need > policy.max_replicas;
    let need = need.clamp(floor, policy.max_replicas);
    let (desired, limit) = stabilize(need, current, &policy.behavior, &mut next.memory, now);
    let desired = desired.clamp(floor, policy.max_replicas);
    // Pods holding live work stay until it ends: never scale in below them.
    let kept = view.busy_pods.min(policy.max_replicas);
    if kept > desired {
        next.last_desired = kept;
        next.last_active = true;
        return Decision {
            desired: kept,
            active,
            reason: Reason::LiveWork,
            driver: None,
            contributions,
            data,
            reevaluate_at: None,
            next,
        };
    }
    let reason = match limit {
        Some(Limit::Tolerance) => Reason::WithinTolerance,
        Some(Limit::Window) => Reason::Stabilizing,
        Some(Limit::Rate) => Reason::RateLimited,
        Some(Limit::Panic) => Reason::Panic,
        None if capped => Reason::MaxReplicas,
        None if need > floor => Reason::Load,
        None if warmth == Warmth::Prewarm => Reason::Prewarm,
        None => Reason::KeepWarm,
    };
    let driver = if need > floor { driver } else { None };
    next.last_desired = desired;
    next.last_active = true;
    Decision {
        desired,
        active,
        reason,
        driver,
        contributions,
        data,
        reevaluate_at: None,
        next,
    }
}

fn raw_need(
    policy: &Policy,
    view: &LoadView,
    contributions: &[Contribution],
    state: &State,
    now: Timestamp,
) -> (u32, Option<Metric>) {
    match &policy.algorithm {
        Algorithm::Targets => contributions
            .iter()
            .filter(|c| c.replicas > 0)
            .max_by_key(|c| c.replicas)
            .map_or((0, None), |c| (c.replicas, Some(c.metric))),
        Algorithm::StepRule(rule) => {
            // The rule steps from its own count, carried by the replay, at
            // fixed times: never from the running count, which the replay
            // does not know, so the answer between steps is the last step's.
            let count = state.last_desired;
            if count > 0 && !rule_due(policy, now) {
                return (count, None);
            }
            (rule.step_on(count, view), None)
        }
    }
}

/// Data is not trustworthy: keep the last good answer, never go lower, and
/// still honour event-driven activity (a wake is never ignored).
fn hold(
    policy: &Policy,
    state: State,
    contributions: Contributions,
    warmth: Warmth,
    data: DataQuality,
) -> Decision {
    let active = state.last_active || warmth != Warmth::Cold || policy.min_replicas > 0;
    let floor = if active {
        policy.min_replicas.max(1)
    } else {
        policy.min_replicas
    };
    let need = contributions
        .iter()
        .filter(|c| !c.metric.is_slo())
        .map(|c| c.replicas)
        .max()
        .unwrap_or(0);
    let desired = state
        .last_desired
        .max(floor)
        .max(need)
        .min(policy.max_replicas);
    let reason = if matches!(data, DataQuality::Stale { .. }) {
        Reason::StaleHold
    } else {
        Reason::DataUnavailable
    };
    Decision {
        desired,
        active,
        reason,
        driver: None,
        contributions,
        data,
        reevaluate_at: None,
        next: state,
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
