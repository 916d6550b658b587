//! Policies: the knobs of a scaling decision, named in config and
//! overridable per ScaledObject.

use super::goals::{Slo, Targets};
use crate::signal::Goal;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[cfg(test)]
use super::keepalive::Predictive;
use super::keepalive::{CostAware, KeepAlive};
use super::limits::{MAX_AMOUNT, MAX_KEEP_WARM, duration_within, field_error, number_within};
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
    /// At most [`crate::signal::RETENTION`] (15 minutes: the held answer is
    /// replayed from the history kept).
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
    /// `metric`'s per-replica target or objective, whichever the catalog
    /// gives it; `None` when off.
    pub fn goal(&self, metric: super::Metric) -> Option<f64> {
        match metric.spec().goal {
            Goal::PerReplica => self.targets.get(metric),
            Goal::Objective => self.slo.get(metric),
        }
    }

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
        // The last good answer is replayed from history, which is kept
        // for RETENTION: a longer hold would lose it and fall back to
        // nothing (rule 3).
        duration_within(
            "unavailable_after",
            self.unavailable_after,
            Duration::ZERO,
            crate::signal::RETENTION,
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
        super::goals::validate(&self.targets, &self.slo)?;
        let sized = super::Metric::ALL
            .iter()
            .any(|&m| self.targets.get(m).is_some());
        if self.metric_mode == MetricMode::Native && !sized {
            // KEDA reads an empty metric spec list as a failed scaler.
            return field_error(
                "metric_mode",
                "is native, which needs at least one per-replica target in targets (all are off)",
            );
        }
        if let Activity::Instant { above, .. } = self.activity {
            number_within("activity.above", above, 0.0, MAX_AMOUNT)?;
        }
        self.keep_alive.validate()?;
        self.behavior.validate()?;
        if let Algorithm::StepRule(rule) = &self.algorithm {
            rule.validate()?;
            rule.validate_period(self.behavior.scale_up.period)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::Metric;

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
                Box::new(|p| {
                    p.unavailable_after = crate::signal::RETENTION + Duration::from_secs(1)
                }),
            ),
            (
                "targets.connections",
                Box::new(|p| p.targets.set(Metric::Connections, Some(2e9))),
            ),
            (
                "slo.error_rate",
                Box::new(|p| p.slo.set(Metric::ErrorRate, Some(1.5))),
            ),
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
                Box::new(|p| p.targets.set(Metric::Sessions, Some(0.0))),
            ),
            (
                "targets.concurrency",
                Box::new(|p| p.targets.set(Metric::Concurrency, Some(f64::NAN))),
            ),
            (
                "slo.latency_p95_s",
                Box::new(|p| p.slo.set(Metric::LatencySlo, Some(-1.0))),
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
                "behavior.scale_up.period",
                Box::new(|p| {
                    p.algorithm = Algorithm::StepRule(StepRule::default());
                    p.behavior.scale_up.period = Duration::from_secs(7 * 60);
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
