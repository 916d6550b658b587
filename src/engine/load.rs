//! What the load needs: one [`Contribution`] per metric with a target.

use super::policy::Policy;
use super::{Contribution, Contributions, DataQuality, Metric};
use crate::signal::{Load, SignalKind};
use crate::time::Timestamp;

/// The current load of one server, from polled samples (when trustworthy)
/// and events.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoadView {
    /// Open connections.
    pub connections: f64,
    /// Live MCP sessions.
    pub sessions: f64,
    /// Queued tool calls.
    pub queue_length: f64,
    /// Requests per second.
    pub request_rate: f64,
    /// p95 latency (s).
    pub latency_p95: f64,
    /// Error ratio.
    pub error_rate: f64,
    /// Pods holding live work.
    pub busy_pods: u32,
}

impl LoadView {
    /// The view the engine uses: polled values only when fresh; event counts
    /// only while the server's last event is within `event_ttl` of `now`.
    pub fn new(
        load: &Load,
        last_event: Option<Timestamp>,
        data: DataQuality,
        event_ttl: std::time::Duration,
        now: Timestamp,
    ) -> Self {
        let trusted = matches!(data, DataQuality::Fresh);
        let counted = last_event.is_some_and(|t| now.since(t) < event_ttl);
        let events = |n: u32| if counted { f64::from(n) } else { 0.0 };
        let polled = |kind: SignalKind| {
            if trusted {
                load.polled[kind.index()].unwrap_or(0.0)
            } else {
                0.0
            }
        };
        Self {
            connections: polled(SignalKind::Connections).max(events(load.event_connections)),
            sessions: polled(SignalKind::Sessions).max(events(load.event_sessions)),
            queue_length: polled(SignalKind::QueueLength),
            request_rate: polled(SignalKind::RequestRate),
            latency_p95: polled(SignalKind::LatencyP95),
            error_rate: polled(SignalKind::ErrorRate),
            busy_pods: load.busy_pods,
        }
    }

    /// A metric's value (SLO metrics: the observed p95 / error ratio).
    pub fn value(&self, metric: Metric) -> f64 {
        match metric {
            Metric::Connections => self.connections,
            Metric::Sessions => self.sessions,
            Metric::QueueLength => self.queue_length,
            Metric::RequestRate => self.request_rate,
            Metric::Concurrency => self.request_rate * self.latency_p95,
            Metric::LatencySlo => self.latency_p95,
            Metric::ErrorRate => self.error_rate,
        }
    }

    /// Work that must never be cut by scaling to zero (pods known to hold
    /// live work count too).
    pub fn has_live_work(&self) -> bool {
        self.sessions > 0.0
            || self.connections > 0.0
            || self.queue_length > 0.0
            || self.busy_pods > 0
    }
}

/// Every metric with a target, and what it needs. Per-replica metrics need
/// ceil(value / target); SLO metrics, when breached, need the current count
/// grown by observed / objective (they never ask for less than now).
pub fn contributions(view: &LoadView, policy: &Policy, current: u32) -> Contributions {
    Metric::ALL
        .iter()
        .filter_map(|&metric| {
            let target = target(metric, policy)?;
            let value = view.value(metric);
            let replicas = if metric.is_slo() {
                if value > target {
                    replicas_for(f64::from(current.max(1)) * value, target)
                } else {
                    0
                }
            } else {
                replicas_for(value, target)
            };
            Some(Contribution {
                metric,
                value,
                target,
                replicas,
            })
        })
        .collect()
}

fn target(metric: Metric, policy: &Policy) -> Option<f64> {
    let t = &policy.targets;
    match metric {
        Metric::Connections => t.connections,
        Metric::Sessions => t.sessions,
        Metric::QueueLength => t.queue_length,
        Metric::RequestRate => t.request_rate,
        Metric::Concurrency => t.concurrency,
        Metric::LatencySlo => policy.slo.latency_p95_s,
        Metric::ErrorRate => policy.slo.error_rate,
    }
}

/// ceil(value / target), saturating, for a finite positive target.
pub fn replicas_for(value: f64, target: f64) -> u32 {
    let need = (value / target).ceil();
    if need.is_nan() || need <= 0.0 {
        0
    } else if need >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        need as u32
    }
}
