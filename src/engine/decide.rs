//! `decide()`: load → activity → raw need → stabilised decision.

use super::keepalive::{self, warm_at};
use super::load::{LoadView, contributions};
use super::policy::{Activity, Algorithm, Policy};
use super::stabilize::{Limit, Memory, stabilize};
use crate::signal::Signals;
use crate::time::Timestamp;
use serde::Serialize;
use std::time::Duration;

/// A load measure with a per-replica target or an objective.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Open connections.
    Connections,
    /// Live MCP sessions.
    Sessions,
    /// Queued tool calls.
    QueueLength,
    /// Requests per second.
    RequestRate,
    /// In-flight requests: request rate × p95 latency (Little's law).
    Concurrency,
    /// p95 latency against its objective.
    LatencySlo,
    /// Error ratio against its objective.
    ErrorRate,
}

impl Metric {
    /// Every metric, in output order.
    pub const ALL: [Metric; 7] = [
        Metric::Connections,
        Metric::Sessions,
        Metric::QueueLength,
        Metric::RequestRate,
        Metric::Concurrency,
        Metric::LatencySlo,
        Metric::ErrorRate,
    ];

    /// The snake_case name used in logs, the API and metric names.
    pub const fn name(self) -> &'static str {
        match self {
            Metric::Connections => "connections",
            Metric::Sessions => "sessions",
            Metric::QueueLength => "queue_length",
            Metric::RequestRate => "request_rate",
            Metric::Concurrency => "concurrency",
            Metric::LatencySlo => "latency_slo",
            Metric::ErrorRate => "error_rate",
        }
    }

    /// Objectives scale the current count; the others are per-replica loads.
    pub const fn is_slo(self) -> bool {
        matches!(self, Metric::LatencySlo | Metric::ErrorRate)
    }
}

/// Why the decision came out as it did (machine-readable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// No activity within the keep-alive window: scale to `min_replicas`.
    Idle,
    /// Idle, but the server's next request is predicted soon: warm it now.
    Prewarm,
    /// Active, and the load needs no more than the floor.
    KeepWarm,
    /// A metric's need set the count; see `driver`.
    Load,
    /// Capped at `max_replicas`.
    MaxReplicas,
    /// The need is within the tolerance band of the current count.
    WithinTolerance,
    /// A stabilisation window holds the count.
    Stabilizing,
    /// A rate limit slows the change.
    RateLimited,
    /// Panic mode (a burst) forbids scaling down.
    Panic,
    /// Polled data is stale: holding the last good answer.
    StaleHold,
    /// Polled data is missing or too old to trust at all.
    DataUnavailable,
}

/// How trustworthy the polled data is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum DataQuality {
    /// Fresh poll.
    Fresh,
    /// No poller configured: decisions rest on events alone.
    EventsOnly,
    /// Older than `stale_after`.
    Stale {
        /// Age of the last successful poll, in milliseconds.
        age_ms: u64,
    },
    /// Older than `unavailable_after`, or no poll has succeeded yet.
    Unavailable {
        /// Age of the last successful poll, if there ever was one.
        age_ms: Option<u64>,
    },
}

/// One metric's part in a decision.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Contribution {
    /// Which metric.
    pub metric: Metric,
    /// Its current value for the whole server.
    pub value: f64,
    /// The per-replica target (or the objective).
    pub target: f64,
    /// Replicas it needs.
    pub replicas: u32,
}

/// What the engine remembers about a server between decisions.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct State {
    /// The last decision made on trustworthy data (the engine's "current").
    pub last_desired: u32,
    /// Whether that decision was active.
    pub last_active: bool,
    /// Stabilisation memory.
    #[serde(skip)]
    pub memory: Memory,
    /// When the step rule last stepped.
    #[serde(skip)]
    pub last_step: Option<Timestamp>,
}

/// The outcome for one server at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// Replicas wanted.
    pub desired: u32,
    /// Whether the server should have at least one replica.
    pub active: bool,
    /// Why.
    pub reason: Reason,
    /// The metric that set the count, when one did.
    pub driver: Option<Metric>,
    /// Every metric with a target, and what it needs.
    pub contributions: Vec<Contribution>,
    /// How trustworthy the polled data was.
    pub data: DataQuality,
    /// When the decision may change with no new data (a keep-alive window
    /// ends or a pre-warm begins); watchers sleep until then.
    pub reevaluate_at: Option<Timestamp>,
    /// The state to remember for the next decision.
    #[serde(skip)]
    pub next: State,
}

/// Decides replicas and activity for one server. Pure: same inputs, same output.
pub fn decide(signals: &Signals, policy: &Policy, state: &State, now: Timestamp) -> Decision {
    let data = data_quality(signals, policy, now);
    let view = LoadView::new(signals, data, policy.event_count_ttl, now);
    let contributions = contributions(&view, policy, state.last_desired);
    let busy = view.has_live_work()
        || contributions
            .iter()
            .any(|c| c.replicas > 0 && !c.metric.is_slo());
    let (warmth, reevaluate_at) = warmth(signals, policy, &view, busy, now);
    let mut d = match data {
        DataQuality::Fresh | DataQuality::EventsOnly => {
            fresh(policy, state, &view, contributions, warmth, data, now)
        }
        DataQuality::Stale { .. } | DataQuality::Unavailable { .. } => {
            hold(policy, state, contributions, warmth, data)
        }
    };
    d.reevaluate_at = if policy.min_replicas == 0 {
        reevaluate_at
    } else {
        None
    };
    d
}

fn data_quality(signals: &Signals, policy: &Policy, now: Timestamp) -> DataQuality {
    if !signals.poller_configured {
        return DataQuality::EventsOnly;
    }
    let Some(at) = signals.polled_at else {
        return DataQuality::Unavailable { age_ms: None };
    };
    let age = now.since(at);
    let age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
    if age >= policy.unavailable_after {
        DataQuality::Unavailable {
            age_ms: Some(age_ms),
        }
    } else if age >= policy.stale_after {
        DataQuality::Stale { age_ms }
    } else {
        DataQuality::Fresh
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Warmth {
    Busy,
    Recent,
    Prewarm,
    Cold,
}

fn warmth(
    signals: &Signals,
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
        let counted_until = signals
            .last_event
            .filter(|_| signals.event_sessions > 0 || signals.event_connections > 0)
            .map(|t| t + policy.event_count_ttl)
            .filter(|&t| t > now);
        return (Warmth::Busy, counted_until);
    }
    if let Activity::Instant { metric, above } = policy.activity {
        let on = view.value(metric) > above;
        return (if on { Warmth::Busy } else { Warmth::Cold }, None);
    }
    let Some(last) = signals.last_event.max(signals.last_poll_activity) else {
        return (Warmth::Cold, None);
    };
    let plan = keepalive::plan(&policy.keep_alive, policy.idle_window, &signals.gaps);
    match warm_at(&plan, last, now) {
        (true, next) if now.since(last) < plan.warm_until => (Warmth::Recent, next),
        (true, next) => (Warmth::Prewarm, next),
        (false, next) => (Warmth::Cold, next),
    }
}

fn fresh(
    policy: &Policy,
    state: &State,
    view: &LoadView,
    contributions: Vec<Contribution>,
    warmth: Warmth,
    data: DataQuality,
    now: Timestamp,
) -> Decision {
    let active = warmth != Warmth::Cold || policy.min_replicas > 0;
    let current = state.last_desired;
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
    let mut next = state.clone();
    let (need, driver) = raw_need(policy, view, &contributions, current, &mut next, now);
    let capped = need > policy.max_replicas;
    let need = need.clamp(floor, policy.max_replicas);
    let (desired, limit) = stabilize(need, current, &policy.behavior, &mut next.memory, now);
    let desired = desired.clamp(floor, policy.max_replicas);
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
    current: u32,
    next: &mut State,
    now: Timestamp,
) -> (u32, Option<Metric>) {
    match &policy.algorithm {
        Algorithm::Targets => contributions
            .iter()
            .filter(|c| c.replicas > 0)
            .max_by_key(|c| c.replicas)
            .map_or((0, None), |c| (c.replicas, Some(c.metric))),
        Algorithm::StepRule(rule) => {
            let due = next
                .last_step
                .is_none_or(|t| now.since(t) >= rule_period(policy));
            if !due && current > 0 {
                return (current, None);
            }
            next.last_step = Some(now);
            let stepped = rule.step(
                current,
                view.queue_length,
                view.latency_p95,
                view.error_rate,
            );
            (stepped.max(rule.min_replicas), None)
        }
    }
}

/// The step rule steps at most once per scale-up period.
fn rule_period(policy: &Policy) -> Duration {
    policy.behavior.scale_up.period
}

/// Data is not trustworthy: keep the last good answer, never go lower, and
/// still honour event-driven activity (a wake is never ignored).
fn hold(
    policy: &Policy,
    state: &State,
    contributions: Vec<Contribution>,
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
        next: state.clone(),
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
