//! `decide()`: per-signal replica needs, activity, and fail-safe holds.

use super::policy::Policy;
use crate::signal::{SignalKind, Signals};
use crate::time::Timestamp;
use serde::Serialize;
use std::time::Duration;

/// A load measure with a per-replica target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
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
}

impl Metric {
    /// Every metric, in output order.
    pub const ALL: [Metric; 5] = [
        Metric::Connections,
        Metric::Sessions,
        Metric::QueueLength,
        Metric::RequestRate,
        Metric::Concurrency,
    ];

    /// The snake_case name used in logs, the API and metric names.
    pub const fn name(self) -> &'static str {
        match self {
            Metric::Connections => "connections",
            Metric::Sessions => "sessions",
            Metric::QueueLength => "queue_length",
            Metric::RequestRate => "request_rate",
            Metric::Concurrency => "concurrency",
        }
    }

    fn target(self, policy: &Policy) -> Option<f64> {
        let t = &policy.targets;
        match self {
            Metric::Connections => t.connections,
            Metric::Sessions => t.sessions,
            Metric::QueueLength => t.queue_length,
            Metric::RequestRate => t.request_rate,
            Metric::Concurrency => t.concurrency,
        }
    }
}

/// Why the decision came out as it did (machine-readable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// No activity within the idle window: scale to `min_replicas`.
    Idle,
    /// Active but load needs no more than the floor (1 or `min_replicas`).
    KeepWarm,
    /// A metric's need set the count; see `driver`.
    Load,
    /// Capped at `max_replicas`.
    MaxReplicas,
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
    /// The per-replica target.
    pub target: f64,
    /// Replicas it needs: ceil(value / target).
    pub replicas: u32,
}

/// What the engine remembers about a server between decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct State {
    /// The last decision made on trustworthy data.
    pub last_desired: u32,
    /// Whether that decision was active.
    pub last_active: bool,
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
    /// The metric that set the count, when `reason` is `load` or `max_replicas`.
    pub driver: Option<Metric>,
    /// Every metric with a target, and what it needs.
    pub contributions: Vec<Contribution>,
    /// How trustworthy the polled data was.
    pub data: DataQuality,
    /// When an activity-window-only "active" lapses if nothing new arrives
    /// (`None` when active for another reason, or inactive). Watchers sleep
    /// until then instead of polling.
    pub active_until: Option<Timestamp>,
    /// The state to remember for the next decision.
    pub next: State,
}

/// Decides replicas and activity for one server. Pure: same inputs, same output.
pub fn decide(signals: &Signals, policy: &Policy, state: &State, now: Timestamp) -> Decision {
    let data = data_quality(signals, policy, now);
    let view = LoadView::new(signals, data);
    let contributions = contributions(&view, policy);
    let window_end = last_activity(signals)
        .map(|at| at + policy.idle_window)
        .filter(|&end| end > now);
    let busy = view.has_live_work() || contributions.iter().any(|c| c.replicas > 0);
    let active = busy || window_end.is_some();
    let mut decision = match data {
        DataQuality::Fresh | DataQuality::EventsOnly => {
            fresh_decision(policy, contributions, active, data)
        }
        DataQuality::Stale { .. } | DataQuality::Unavailable { .. } => {
            hold_decision(policy, state, contributions, active, data)
        }
    };
    let window_only =
        decision.active && !busy && policy.min_replicas == 0 && !state_holds(&decision);
    decision.active_until = if window_only { window_end } else { None };
    decision
}

/// A hold keeps the last state active regardless of the window.
fn state_holds(d: &Decision) -> bool {
    matches!(d.reason, Reason::StaleHold | Reason::DataUnavailable) && d.next.last_active
}

fn data_quality(signals: &Signals, policy: &Policy, now: Timestamp) -> DataQuality {
    if !signals.poller_configured {
        return DataQuality::EventsOnly;
    }
    let Some(at) = signals.polled_at else {
        return DataQuality::Unavailable { age_ms: None };
    };
    let age = now.since(at);
    let age_ms = millis(age);
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

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The current load, from polled samples (when trustworthy) and events.
struct LoadView {
    connections: f64,
    sessions: f64,
    queue_length: f64,
    request_rate: f64,
    latency_p95: f64,
}

impl LoadView {
    fn new(signals: &Signals, data: DataQuality) -> Self {
        let trusted = matches!(data, DataQuality::Fresh);
        let polled = |kind: SignalKind| {
            if trusted {
                signals.get(kind).map_or(0.0, |s| s.value)
            } else {
                0.0
            }
        };
        Self {
            connections: polled(SignalKind::Connections).max(f64::from(signals.event_connections)),
            sessions: polled(SignalKind::Sessions).max(f64::from(signals.event_sessions)),
            queue_length: polled(SignalKind::QueueLength),
            request_rate: polled(SignalKind::RequestRate),
            latency_p95: polled(SignalKind::LatencyP95),
        }
    }

    fn value(&self, metric: Metric) -> f64 {
        match metric {
            Metric::Connections => self.connections,
            Metric::Sessions => self.sessions,
            Metric::QueueLength => self.queue_length,
            Metric::RequestRate => self.request_rate,
            Metric::Concurrency => self.request_rate * self.latency_p95,
        }
    }

    /// Work that must never be cut by scaling to zero.
    fn has_live_work(&self) -> bool {
        self.sessions > 0.0 || self.connections > 0.0 || self.queue_length > 0.0
    }
}

fn contributions(view: &LoadView, policy: &Policy) -> Vec<Contribution> {
    Metric::ALL
        .iter()
        .filter_map(|&metric| {
            let target = metric.target(policy)?;
            let value = view.value(metric);
            Some(Contribution {
                metric,
                value,
                target,
                replicas: replicas_for(value, target),
            })
        })
        .collect()
}

/// ceil(value / target), saturating, for a finite positive target.
fn replicas_for(value: f64, target: f64) -> u32 {
    let need = (value / target).ceil();
    if need.is_nan() || need <= 0.0 {
        0
    } else if need >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        need as u32
    }
}

fn last_activity(signals: &Signals) -> Option<Timestamp> {
    signals.last_event.max(signals.last_poll_activity)
}

fn strongest(contributions: &[Contribution]) -> Option<&Contribution> {
    contributions
        .iter()
        .filter(|c| c.replicas > 0)
        .max_by_key(|c| c.replicas)
}

fn fresh_decision(
    policy: &Policy,
    contributions: Vec<Contribution>,
    active: bool,
    data: DataQuality,
) -> Decision {
    let active = active || policy.min_replicas > 0;
    let floor = if active {
        policy.min_replicas.max(1)
    } else {
        policy.min_replicas
    };
    let top = strongest(&contributions).copied();
    let need = top.map_or(0, |c| c.replicas);
    let (desired, reason, driver) = if need > policy.max_replicas {
        (
            policy.max_replicas,
            Reason::MaxReplicas,
            top.map(|c| c.metric),
        )
    } else if need > floor {
        (need, Reason::Load, top.map(|c| c.metric))
    } else if active {
        (floor, Reason::KeepWarm, None)
    } else {
        (floor, Reason::Idle, None)
    };
    let next = State {
        last_desired: desired,
        last_active: active,
    };
    Decision {
        desired,
        active,
        reason,
        driver,
        contributions,
        data,
        active_until: None,
        next,
    }
}

/// Data is not trustworthy: keep the last good answer, never go lower, and
/// still honour event-driven activity (a wake is never ignored).
fn hold_decision(
    policy: &Policy,
    state: &State,
    contributions: Vec<Contribution>,
    event_active: bool,
    data: DataQuality,
) -> Decision {
    let active = state.last_active || event_active || policy.min_replicas > 0;
    let floor = if active {
        policy.min_replicas.max(1)
    } else {
        policy.min_replicas
    };
    let need = strongest(&contributions).map_or(0, |c| c.replicas);
    let desired = state
        .last_desired
        .max(floor)
        .max(need)
        .min(policy.max_replicas);
    let reason = match data {
        DataQuality::Stale { .. } => Reason::StaleHold,
        _ => Reason::DataUnavailable,
    };
    Decision {
        desired,
        active,
        reason,
        driver: None,
        contributions,
        data,
        active_until: None,
        next: *state,
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
