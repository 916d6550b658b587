//! Policies: the knobs of a scaling decision, named in config and
//! overridable per ScaledObject.

use serde::{Deserialize, Serialize};
use std::time::Duration;

#[cfg(test)]
use super::keepalive::Predictive;
use super::keepalive::{CostAware, KeepAlive};
use super::limits::{
    MAX_AMOUNT, MAX_KEEP_WARM, MAX_LATENCY_S, MAX_WINDOW, duration_within, field_error,
    number_within, positive_at_most,
};
pub use super::limits::{PolicyError, REPLICA_LIMIT};
use super::rule::StepRule;
use super::stabilize::Behavior;
#[cfg(test)]
use super::stabilize::Panic;

/// How decisions are handed to the HPA through KEDA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricMode {
    /// One metric whose value is the desired replica count, target 1: the
    /// HPA (AverageValue) lands on our number, within its 10% tolerance.
    #[default]
    Desired,
    /// One metric per signal with its per-replica target; the HPA takes the
    /// largest recommendation.
    Native,
}

/// Per-replica targets: how much of each load one replica should carry.
/// `None` means the signal does not drive the replica count; a set target
/// is above 0 and at most [`MAX_AMOUNT`] (1e9).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Targets {
    /// Open connections per replica.
    pub connections: Option<f64>,
    /// Live MCP sessions per replica.
    pub sessions: Option<f64>,
    /// Queued tool calls per replica.
    pub queue_length: Option<f64>,
    /// Requests per second per replica.
    pub request_rate: Option<f64>,
    /// In-flight requests per replica (request rate × p95 latency, Little's law).
    pub concurrency: Option<f64>,
}

impl Default for Targets {
    fn default() -> Self {
        // Live work (sessions, open connections and streams) keeps a server
        // active but does not size it: most MCP sessions are idle.
        Self {
            connections: None,
            sessions: None,
            queue_length: Some(10.0),
            request_rate: None,
            concurrency: Some(8.0),
        }
    }
}

impl Targets {
    /// Only `metric`'s target set (for single-metric baselines).
    pub fn only(metric: super::Metric, target: f64) -> Self {
        let mut t = Targets {
            connections: None,
            sessions: None,
            queue_length: None,
            request_rate: None,
            concurrency: None,
        };
        match metric {
            super::Metric::Connections => t.connections = Some(target),
            super::Metric::Sessions => t.sessions = Some(target),
            super::Metric::QueueLength => t.queue_length = Some(target),
            super::Metric::RequestRate => t.request_rate = Some(target),
            super::Metric::Concurrency => t.concurrency = Some(target),
            super::Metric::LatencySlo | super::Metric::ErrorRate => {}
        }
        t
    }
}

/// Service-level objectives: when breached, scale out in proportion.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Slo {
    /// p95 latency objective in seconds; above it, replicas grow by p95 / objective.
    /// Above 0 and at most [`MAX_LATENCY_S`] (one day).
    pub latency_p95_s: Option<f64>,
    /// Error ratio objective, above 0 and at most 1; above it, replicas grow
    /// by ratio / objective.
    pub error_rate: Option<f64>,
}

impl Default for Slo {
    fn default() -> Self {
        Self {
            latency_p95_s: Some(5.0),
            error_rate: None,
        }
    }
}

/// How a server is judged active (may not be at zero).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum Activity {
    /// Live work now, or request/session activity within the keep-alive
    /// window (robust to sparse traffic).
    #[default]
    Recent,
    /// Only an instantaneous gauge above a threshold (KEDA's
    /// `activationThreshold`); sparse traffic looks idle.
    Instant {
        /// The gauge.
        metric: super::Metric,
        /// Active when strictly above this (0..=[`MAX_AMOUNT`]).
        above: f64,
    },
}

/// How the raw replica count is computed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum Algorithm {
    /// Max over every signal of ceil(value / per-replica target), SLO breaches included.
    #[default]
    Targets,
    /// The MCP infrastructure plan's step rule (double / halve).
    StepRule(StepRule),
}

/// A complete scaling policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Fewest replicas while idle (0 allows scale to zero).
    pub min_replicas: u32,
    /// Most replicas ever asked for (1..=[`REPLICA_LIMIT`]).
    pub max_replicas: u32,
    /// Fixed keep-alive: no activity for this long → idle. Also the fallback
    /// of a learned keep-alive while a server's data is thin.
    /// 1s..=[`MAX_KEEP_WARM`] (7 days).
    #[serde(with = "humantime_serde")]
    pub idle_window: Duration,
    /// Per-replica targets per signal.
    pub targets: Targets,
    /// Latency and error objectives.
    pub slo: Slo,
    /// How activity is judged.
    pub activity: Activity,
    /// Fixed, cost-aware (the default) or predictive keep-alive.
    pub keep_alive: KeepAlive,
    /// How the raw count is computed.
    pub algorithm: Algorithm,
    /// Tolerance, stabilisation windows, rate limits, panic mode.
    pub behavior: Behavior,
    /// How decisions are exposed to KEDA / the HPA.
    pub metric_mode: MetricMode,
    /// Sessions and connections counted from open/close events are dropped
    /// when the server has had no event for this long (a lost close must not
    /// keep a server warm forever; polled gauges are unaffected).
    /// 1m..=[`MAX_KEEP_WARM`] (7 days).
    #[serde(with = "humantime_serde")]
    pub event_count_ttl: Duration,
    /// Polled data older than this is not trusted: hold the last good answer.
    /// Shorter than `unavailable_after`.
    #[serde(with = "humantime_serde")]
    pub stale_after: Duration,
    /// Polled data older than this makes `GetMetrics` fail with `UNAVAILABLE`.
    /// At most [`MAX_WINDOW`] (24 hours).
    #[serde(with = "humantime_serde")]
    pub unavailable_after: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            min_replicas: 0,
            max_replicas: 10,
            idle_window: Duration::from_secs(300),
            targets: Targets::default(),
            slo: Slo::default(),
            activity: Activity::Recent,
            keep_alive: KeepAlive::CostAware(CostAware::default()),
            algorithm: Algorithm::Targets,
            behavior: Behavior::default(),
            metric_mode: MetricMode::Desired,
            event_count_ttl: Duration::from_secs(2 * 3600),
            stale_after: Duration::from_secs(120),
            unavailable_after: Duration::from_secs(600),
        }
    }
}

impl Policy {
    /// Checks every setting; the first problem names its field.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.max_replicas == 0 || self.max_replicas > REPLICA_LIMIT {
            return field_error(
                "max_replicas",
                format!("is {}, allowed 1..={REPLICA_LIMIT}", self.max_replicas),
            );
        }
        if self.min_replicas > self.max_replicas {
            return field_error(
                "min_replicas",
                format!(
                    "is {}, must not exceed max_replicas ({})",
                    self.min_replicas, self.max_replicas
                ),
            );
        }
        duration_within(
            "idle_window",
            self.idle_window,
            Duration::from_secs(1),
            MAX_KEEP_WARM,
        )?;
        duration_within(
            "event_count_ttl",
            self.event_count_ttl,
            Duration::from_secs(60),
            MAX_KEEP_WARM,
        )?;
        duration_within(
            "unavailable_after",
            self.unavailable_after,
            Duration::ZERO,
            MAX_WINDOW,
        )?;
        if self.stale_after >= self.unavailable_after {
            return field_error(
                "stale_after",
                format!(
                    "({}) must be shorter than unavailable_after ({})",
                    humantime::format_duration(self.stale_after),
                    humantime::format_duration(self.unavailable_after)
                ),
            );
        }
        let t = &self.targets;
        positive_at_most("targets.connections", t.connections, MAX_AMOUNT)?;
        positive_at_most("targets.sessions", t.sessions, MAX_AMOUNT)?;
        positive_at_most("targets.queue_length", t.queue_length, MAX_AMOUNT)?;
        positive_at_most("targets.request_rate", t.request_rate, MAX_AMOUNT)?;
        positive_at_most("targets.concurrency", t.concurrency, MAX_AMOUNT)?;
        positive_at_most("slo.latency_p95_s", self.slo.latency_p95_s, MAX_LATENCY_S)?;
        positive_at_most("slo.error_rate", self.slo.error_rate, 1.0)?;
        if let Activity::Instant { above, .. } = self.activity {
            number_within("activity.above", above, 0.0, MAX_AMOUNT)?;
        }
        self.keep_alive.validate()?;
        self.behavior.validate()?;
        if let Algorithm::StepRule(rule) = &self.algorithm {
            rule.validate()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_valid() {
        assert_eq!(Policy::default().validate(), Ok(()));
    }

    #[test]
    fn each_bad_setting_names_its_field() {
        type Mutation = Box<dyn Fn(&mut Policy)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("max_replicas", Box::new(|p| p.max_replicas = 0)),
            (
                "max_replicas",
                Box::new(|p| p.max_replicas = REPLICA_LIMIT + 1),
            ),
            ("min_replicas", Box::new(|p| p.min_replicas = 11)),
            ("idle_window", Box::new(|p| p.idle_window = Duration::ZERO)),
            ("idle_window", Box::new(|p| p.idle_window = Duration::MAX)),
            (
                "event_count_ttl",
                Box::new(|p| p.event_count_ttl = MAX_KEEP_WARM + Duration::from_secs(1)),
            ),
            (
                "unavailable_after",
                Box::new(|p| p.unavailable_after = MAX_WINDOW * 2),
            ),
            (
                "targets.connections",
                Box::new(|p| p.targets.connections = Some(2e9)),
            ),
            ("slo.error_rate", Box::new(|p| p.slo.error_rate = Some(1.5))),
            (
                "activity.above",
                Box::new(|p| {
                    p.activity = Activity::Instant {
                        metric: crate::engine::Metric::Sessions,
                        above: f64::INFINITY,
                    }
                }),
            ),
            (
                "stale_after",
                Box::new(|p| p.stale_after = p.unavailable_after),
            ),
            (
                "targets.sessions",
                Box::new(|p| p.targets.sessions = Some(0.0)),
            ),
            (
                "targets.concurrency",
                Box::new(|p| p.targets.concurrency = Some(f64::NAN)),
            ),
            (
                "slo.latency_p95_s",
                Box::new(|p| p.slo.latency_p95_s = Some(-1.0)),
            ),
            (
                "behavior.tolerance",
                Box::new(|p| p.behavior.tolerance = 1.5),
            ),
            (
                "behavior.scale_up.period",
                Box::new(|p| p.behavior.scale_up.period = Duration::ZERO),
            ),
            (
                "behavior.panic.threshold",
                Box::new(|p| {
                    p.behavior.panic = Some(Panic {
                        threshold: 1.0,
                        window: Duration::from_secs(60),
                    })
                }),
            ),
            (
                "keep_alive.predictive.tail_percentile",
                Box::new(|p| {
                    p.keep_alive = KeepAlive::Predictive(Predictive {
                        tail_percentile: 101.0,
                        ..Predictive::default()
                    })
                }),
            ),
            (
                "algorithm.step_rule.min_replicas",
                Box::new(|p| {
                    p.algorithm = Algorithm::StepRule(StepRule {
                        min_replicas: 30,
                        ..StepRule::default()
                    })
                }),
            ),
        ];
        for (field, mutate) in cases {
            let mut p = Policy::default();
            mutate(&mut p);
            let e = p.validate().expect_err(field);
            assert_eq!(e.field, field, "{e}");
        }
    }
}
