//! What the load needs: one [`Contribution`] per metric with a target.

use super::policy::Policy;
use super::{Contribution, Contributions, DataQuality, Metric};
use crate::signal::{Load, Measure, SIGNALS, SignalKind};
use crate::time::Timestamp;
use std::time::Duration;

/// The current load of one server, from polled samples (when trustworthy)
/// and events: one value per signal of the catalog.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoadView {
    /// Each signal's value, indexed by [`SignalKind::index`].
    values: [f64; SignalKind::COUNT],
    /// Pods holding live work.
    pub busy_pods: u32,
}

/// Whether a server's event counts (sessions and connections opened and
/// not yet closed) still stand at `now`: only while its last event is
/// within `ttl`, so that a lost close event cannot hold a count forever.
pub fn counts_in_force(last_event: Option<Timestamp>, ttl: Duration, now: Timestamp) -> bool {
    last_event.is_some_and(|t| now.since(t) < ttl)
}

impl LoadView {
    /// The view the engine uses: polled values only when fresh; an
    /// event-counted signal is the larger of poll and count, the count only
    /// while the server's last event is within `event_ttl` of `now`.
    pub fn new(
        load: &Load,
        last_event: Option<Timestamp>,
        data: DataQuality,
        event_ttl: Duration,
        now: Timestamp,
    ) -> Self {
        let trusted = matches!(data, DataQuality::Fresh);
        let counted = counts_in_force(last_event, event_ttl, now);
        let values = std::array::from_fn(|i| {
            let spec = &SIGNALS[i];
            let polled = if trusted {
                load.polled[i].unwrap_or(0.0)
            } else {
                0.0
            };
            if counted && spec.counted_by.is_some() {
                polled.max(f64::from(load.event_counts[i]))
            } else {
                polled
            }
        });
        Self {
            values,
            busy_pods: load.busy_pods,
        }
    }

    /// One signal's value.
    pub fn signal(&self, kind: SignalKind) -> f64 {
        self.values[kind.index()]
    }

    /// A metric's value (SLO metrics: the observed p95 / error ratio).
    pub fn value(&self, metric: Metric) -> f64 {
        match metric.spec().measure {
            Measure::Signal(kind) => self.signal(kind),
            Measure::Product(a, b) => self.signal(a) * self.signal(b),
        }
    }

    /// Work that must never be cut by scaling to zero: a live-work signal
    /// above zero, or pods known to hold live work.
    pub fn has_live_work(&self) -> bool {
        self.busy_pods > 0
            || SIGNALS
                .iter()
                .any(|s| s.live_work && self.signal(s.kind) > 0.0)
    }
}

/// Every metric with a target, and what it needs. Per-replica metrics need
/// ceil(value / target); SLO metrics, when breached, need the current count
/// grown by observed / objective (they never ask for less than now).
pub fn contributions(view: &LoadView, policy: &Policy, current: u32) -> Contributions {
    Metric::ALL
        .iter()
        .filter_map(|&metric| {
            let target = policy.goal(metric)?;
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
