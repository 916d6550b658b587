//! A policy's goals, one per metric of the catalog ([`crate::signal::METRICS`]):
//! per-replica targets under `targets` and objectives under `slo`. In config
//! each section is a map keyed by the metrics' policy keys; a key the
//! catalog does not give that section is refused with the allowed ones
//! named, and a key left out keeps its default.

use super::limits::{PolicyError, positive_at_most};
use crate::keyed_map::read_entries;
use crate::signal::{Goal, METRICS, Metric};
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::LazyLock;

/// Per-replica targets: how much of each load one replica should carry.
/// `None` means the metric does not drive the replica count; a set target
/// is above 0 and at most its catalog bound (1e9).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Targets(Goals);

/// Service-level objectives: when breached, scale out in proportion.
/// `slo.latency_p95_s` (seconds, at most a day) and `slo.error_rate` (a
/// ratio, at most 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slo(Goals);

impl Default for Targets {
    fn default() -> Self {
        Self(Goals::defaults(Goal::PerReplica))
    }
}

impl Default for Slo {
    fn default() -> Self {
        Self(Goals::defaults(Goal::Objective))
    }
}

impl Targets {
    /// No target at all.
    pub fn none() -> Self {
        Self(Goals::NONE)
    }

    /// Only `metric`'s target set (for single-metric baselines); an
    /// objective's metric sets nothing.
    pub fn only(metric: Metric, target: f64) -> Self {
        let mut t = Self::none();
        t.set(metric, Some(target));
        t
    }

    /// `metric`'s target (`None` for objectives and unset targets).
    pub fn get(&self, metric: Metric) -> Option<f64> {
        self.0.get(metric)
    }

    /// Sets `metric`'s target; an objective's metric is left alone.
    pub fn set(&mut self, metric: Metric, target: Option<f64>) {
        self.0.set(Goal::PerReplica, metric, target);
    }
}

impl Slo {
    /// No objective at all.
    pub fn none() -> Self {
        Self(Goals::NONE)
    }

    /// `metric`'s objective (`None` for per-replica metrics and unset ones).
    pub fn get(&self, metric: Metric) -> Option<f64> {
        self.0.get(metric)
    }

    /// Sets `metric`'s objective; a per-replica metric is left alone.
    pub fn set(&mut self, metric: Metric, objective: Option<f64>) {
        self.0.set(Goal::Objective, metric, objective);
    }
}

/// Every goal of `targets` and `slo` within its catalog bound, the field
/// named when not.
pub(crate) fn validate(targets: &Targets, slo: &Slo) -> Result<(), PolicyError> {
    for spec in &METRICS {
        let goals = match spec.goal {
            Goal::PerReplica => &targets.0,
            Goal::Objective => &slo.0,
        };
        // The path is spelled only for an error (validate runs per resolve).
        positive_at_most("", goals.get(spec.metric), spec.max).map_err(|e| PolicyError {
            field: spec.policy_path(),
            ..e
        })?;
    }
    Ok(())
}

/// One slot per metric; only metrics whose goal is the section's are used.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Goals([Option<f64>; Metric::COUNT]);

impl Goals {
    const NONE: Goals = Goals([None; Metric::COUNT]);

    fn defaults(goal: Goal) -> Self {
        Self(std::array::from_fn(|i| {
            let spec = &METRICS[i];
            if spec.goal == goal {
                spec.default
            } else {
                None
            }
        }))
    }

    fn get(&self, metric: Metric) -> Option<f64> {
        self.0[metric.index()]
    }

    fn set(&mut self, goal: Goal, metric: Metric, value: Option<f64>) {
        if metric.spec().goal == goal {
            self.0[metric.index()] = value;
        }
    }

    fn serialize<S: Serializer>(&self, goal: Goal, serializer: S) -> Result<S::Ok, S::Error> {
        let specs = METRICS.iter().filter(|s| s.goal == goal);
        let mut map = serializer.serialize_map(Some(specs.clone().count()))?;
        for spec in specs {
            map.serialize_entry(spec.policy_key, &self.get(spec.metric))?;
        }
        map.end()
    }
}

impl Serialize for Targets {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(Goal::PerReplica, serializer)
    }
}

impl Serialize for Slo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(Goal::Objective, serializer)
    }
}

impl<'de> Deserialize<'de> for Targets {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_map(GoalsVisitor(Goal::PerReplica))
            .map(Self)
    }
}

impl<'de> Deserialize<'de> for Slo {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_map(GoalsVisitor(Goal::Objective))
            .map(Self)
    }
}

/// Reads one section over its defaults.
struct GoalsVisitor(Goal);

/// Each section's keys, for serde's unknown-field error (which the YAML
/// parser places at the key's line and column).
static TARGET_KEYS: LazyLock<Vec<&'static str>> = LazyLock::new(|| keys_of(Goal::PerReplica));
static SLO_KEYS: LazyLock<Vec<&'static str>> = LazyLock::new(|| keys_of(Goal::Objective));

fn keys_of(goal: Goal) -> Vec<&'static str> {
    METRICS
        .iter()
        .filter(|s| s.goal == goal)
        .map(|s| s.policy_key)
        .collect()
}

impl GoalsVisitor {
    fn keys(&self) -> &'static [&'static str] {
        match self.0 {
            Goal::PerReplica => &TARGET_KEYS,
            Goal::Objective => &SLO_KEYS,
        }
    }
}

impl<'de> Visitor<'de> for GoalsVisitor {
    type Value = Goals;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a map with any of {}", self.keys().join(", "))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Goals, A::Error> {
        let mut goals = Goals::defaults(self.0);
        let section = METRICS.iter().filter(|s| s.goal == self.0);
        read_entries(map, self.keys(), |i, map| {
            if let Some(spec) = section.clone().nth(i) {
                goals.0[spec.metric.index()] = map.next_value::<Option<f64>>()?;
            }
            Ok(())
        })?;
        Ok(goals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_read_over_their_defaults_and_write_back_the_same() {
        let t: Targets = serde_saphyr::from_str("request_rate: 5\nqueue_length: null\n").unwrap();
        assert_eq!(t.get(Metric::RequestRate), Some(5.0));
        assert_eq!(t.get(Metric::QueueLength), None, "null turns a target off");
        assert_eq!(t.get(Metric::Concurrency), Some(8.0), "default kept");
        let back: Targets = serde_json::from_value(serde_json::to_value(t).unwrap()).unwrap();
        assert_eq!(back, t);
        let json = serde_json::to_string(&Slo::default()).unwrap();
        assert_eq!(json, r#"{"latency_p95_s":5.0,"error_rate":null}"#);
    }

    #[test]
    fn a_key_of_the_other_section_or_none_is_refused_with_the_allowed_keys() {
        for (yaml, section) in [
            ("latency_p95_s: 1", "targets"),
            ("bogus: 1", "targets"),
            ("queue_length: 1", "slo"),
        ] {
            let err = if section == "targets" {
                serde_saphyr::from_str::<Targets>(yaml).unwrap_err()
            } else {
                serde_saphyr::from_str::<Slo>(yaml).unwrap_err()
            };
            let msg = err.to_string();
            assert!(msg.contains("unknown field"), "{msg}");
            let allowed = if section == "targets" {
                "concurrency"
            } else {
                "latency_p95_s"
            };
            assert!(msg.contains(allowed), "{msg}");
        }
        let dup = serde_json::from_str::<Targets>(r#"{"sessions":1,"sessions":2}"#).unwrap_err();
        assert!(dup.to_string().contains("duplicate field"), "{dup}");
    }

    #[test]
    fn setting_a_metric_in_the_wrong_section_changes_nothing() {
        let mut t = Targets::none();
        t.set(Metric::LatencySlo, Some(1.0));
        assert_eq!(t, Targets::none());
        let mut s = Slo::default();
        s.set(Metric::Sessions, Some(1.0));
        assert_eq!(s, Slo::default());
    }
}
