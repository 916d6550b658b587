//! Policies: the knobs of a scaling decision, named in config and
//! overridable per ScaledObject.

use serde::{Deserialize, Serialize};
use std::time::Duration;

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

impl MetricMode {
    /// The config / metadata spelling.
    pub const fn name(self) -> &'static str {
        match self {
            MetricMode::Desired => "desired",
            MetricMode::Native => "native",
        }
    }
}

/// Per-replica targets: how much of each load one replica should carry.
/// `None` means the signal does not drive the replica count.
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
        Self {
            connections: Some(50.0),
            sessions: Some(20.0),
            queue_length: Some(10.0),
            request_rate: None,
            concurrency: Some(8.0),
        }
    }
}

/// A complete scaling policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Fewest replicas while idle (0 allows scale to zero).
    pub min_replicas: u32,
    /// Most replicas ever asked for.
    pub max_replicas: u32,
    /// A server with no activity for this long is idle (may go to zero).
    #[serde(with = "humantime_serde")]
    pub idle_window: Duration,
    /// Per-replica targets per signal.
    pub targets: Targets,
    /// How decisions are exposed to KEDA / the HPA.
    pub metric_mode: MetricMode,
    /// Polled data older than this is not trusted: the decision holds the
    /// last good answer and never scales to zero.
    #[serde(with = "humantime_serde")]
    pub stale_after: Duration,
    /// Polled data older than this makes `GetMetrics` fail with
    /// `UNAVAILABLE`, so KEDA's `fallback` applies.
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
            metric_mode: MetricMode::Desired,
            stale_after: Duration::from_secs(120),
            unavailable_after: Duration::from_secs(600),
        }
    }
}

/// Largest replica count a policy may ask for.
pub const REPLICA_LIMIT: u32 = 10_000;

/// A policy setting that is out of range: which field, and what is allowed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PolicyError {
    /// The field's name relative to the policy (`max_replicas`, `targets.sessions`).
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl Policy {
    /// Checks every setting; the first problem names its field.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let err = |field: &str, message: String| {
            Err(PolicyError {
                field: field.to_owned(),
                message,
            })
        };
        if self.max_replicas == 0 || self.max_replicas > REPLICA_LIMIT {
            return err(
                "max_replicas",
                format!("is {}, allowed 1..={REPLICA_LIMIT}", self.max_replicas),
            );
        }
        if self.min_replicas > self.max_replicas {
            return err(
                "min_replicas",
                format!(
                    "is {}, must not exceed max_replicas ({})",
                    self.min_replicas, self.max_replicas
                ),
            );
        }
        if self.idle_window < Duration::from_secs(1) {
            return err("idle_window", "must be at least 1s".into());
        }
        if self.stale_after >= self.unavailable_after {
            return err(
                "stale_after",
                format!(
                    "({}) must be shorter than unavailable_after ({})",
                    humantime::format_duration(self.stale_after),
                    humantime::format_duration(self.unavailable_after)
                ),
            );
        }
        self.validate_targets()
    }

    fn validate_targets(&self) -> Result<(), PolicyError> {
        let t = &self.targets;
        let all = [
            ("targets.connections", t.connections),
            ("targets.sessions", t.sessions),
            ("targets.queue_length", t.queue_length),
            ("targets.request_rate", t.request_rate),
            ("targets.concurrency", t.concurrency),
        ];
        for (field, value) in all {
            if let Some(v) = value
                && !(v.is_finite() && v > 0.0)
            {
                return Err(PolicyError {
                    field: field.into(),
                    message: format!("is {v}, must be a positive number (or null to disable)"),
                });
            }
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
        ];
        for (field, mutate) in cases {
            let mut p = Policy::default();
            mutate(&mut p);
            let e = p.validate().expect_err(field);
            assert_eq!(e.field, field, "{e}");
        }
    }
}
