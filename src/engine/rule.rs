//! The MCP infrastructure plan's rule, as a baseline: queue > 10 or p95 > 5 s
//! or error rate > 5% → double, up to 20; all low → halve, down to 2.

use super::limits::{MAX_AMOUNT, MAX_LATENCY_S, count_within, number_within};
use super::limits::{PolicyError, REPLICA_LIMIT, field_error};
use super::load::LoadView;
use super::policy::Policy;
use crate::signal::{RETENTION, SignalKind};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Step rule thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StepRule {
    /// Double when the queue is longer than this (0..=[`MAX_AMOUNT`]).
    pub queue_above: f64,
    /// Double when p95 latency (seconds) is above this (0..=[`MAX_LATENCY_S`]).
    pub latency_p95_above_s: f64,
    /// Double when the error ratio is above this (0..=1).
    pub error_rate_above: f64,
    /// "Low" means below this fraction of every threshold.
    pub low_fraction: f64,
    /// Never double beyond this (at most [`REPLICA_LIMIT`]).
    pub max_replicas: u32,
    /// Never halve below this (while active).
    pub min_replicas: u32,
}

impl Default for StepRule {
    fn default() -> Self {
        Self {
            queue_above: 10.0,
            latency_p95_above_s: 5.0,
            error_rate_above: 0.05,
            low_fraction: 0.5,
            max_replicas: 20,
            min_replicas: 2,
        }
    }
}

impl StepRule {
    pub(crate) fn validate(&self) -> Result<(), PolicyError> {
        if self.min_replicas > self.max_replicas {
            return field_error(
                "algorithm.step_rule.min_replicas",
                "must not exceed algorithm.step_rule.max_replicas",
            );
        }
        if !(0.0..=1.0).contains(&self.low_fraction) {
            return field_error("algorithm.step_rule.low_fraction", "must be within 0..=1");
        }
        let f = "algorithm.step_rule";
        count_within(
            &format!("{f}.max_replicas"),
            self.max_replicas,
            0,
            REPLICA_LIMIT,
        )?;
        number_within(
            &format!("{f}.queue_above"),
            self.queue_above,
            0.0,
            MAX_AMOUNT,
        )?;
        number_within(
            &format!("{f}.latency_p95_above_s"),
            self.latency_p95_above_s,
            0.0,
            MAX_LATENCY_S,
        )?;
        number_within(
            &format!("{f}.error_rate_above"),
            self.error_rate_above,
            0.0,
            1.0,
        )
    }

    /// The rule is replayed from the signal history, which keeps
    /// [`RETENTION`]: its period must let it climb from 1 to
    /// `max_replicas` (one doubling a period, and a period for where the
    /// replay starts) within that, or its count would depend on how many
    /// steps happen to fit.
    pub(crate) fn validate_period(&self, period: Duration) -> Result<(), PolicyError> {
        let doublings = u32::BITS - self.max_replicas.max(1).saturating_sub(1).leading_zeros();
        let steps = doublings + 1;
        let longest = RETENTION / steps;
        if period > longest {
            return field_error(
                "behavior.scale_up.period",
                format!(
                    "must be at most {} with algorithm.step_rule and max_replicas {}: its {steps} steps up to the cap must fit in the {} of history the rule is replayed from",
                    humantime::format_duration(longest),
                    self.max_replicas,
                    humantime::format_duration(RETENTION),
                ),
            );
        }
        Ok(())
    }

    /// The next count from `current` given queue, p95 (s) and error ratio.
    pub fn step(&self, current: u32, queue: f64, p95: f64, errors: f64) -> u32 {
        let current = current.max(1);
        let high = queue > self.queue_above
            || p95 > self.latency_p95_above_s
            || errors > self.error_rate_above;
        let f = self.low_fraction;
        let low = queue < self.queue_above * f
            && p95 < self.latency_p95_above_s * f
            && errors < self.error_rate_above * f;
        if high {
            current
                .saturating_mul(2)
                .min(self.max_replicas)
                .max(current.min(self.max_replicas))
        } else if low {
            (current / 2).max(self.min_replicas)
        } else {
            current
        }
    }
}

/// The rule applied to a decision's load.
impl StepRule {
    /// The count one step from `count` gives on `view`'s load.
    pub(crate) fn step_on(&self, count: u32, view: &LoadView) -> u32 {
        self.step(
            count,
            view.signal(SignalKind::QueueLength),
            view.signal(SignalKind::LatencyP95),
            view.signal(SignalKind::ErrorRate),
        )
        .max(self.min_replicas)
    }

    /// Whether a step on `view`'s load would move `count` as `policy`
    /// bounds it: if not, the next step changes nothing until the load
    /// does (the step is a function of the two).
    pub(crate) fn moves(&self, count: u32, view: &LoadView, policy: &Policy) -> bool {
        let stepped = self
            .step_on(count, view)
            .max(policy.min_replicas.max(1))
            .min(policy.max_replicas);
        stepped != count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_on_any_high_signal_up_to_the_cap() {
        let r = StepRule::default();
        assert_eq!(r.step(4, 11.0, 0.0, 0.0), 8);
        assert_eq!(r.step(4, 0.0, 6.0, 0.0), 8);
        assert_eq!(r.step(4, 0.0, 0.0, 0.1), 8);
        assert_eq!(r.step(16, 11.0, 0.0, 0.0), 20);
    }

    #[test]
    fn thresholds_must_be_finite_and_bounded() {
        let cases = [
            (
                "queue_above",
                StepRule {
                    queue_above: f64::NAN,
                    ..StepRule::default()
                },
            ),
            (
                "latency_p95_above_s",
                StepRule {
                    latency_p95_above_s: 1e12,
                    ..StepRule::default()
                },
            ),
            (
                "error_rate_above",
                StepRule {
                    error_rate_above: -0.1,
                    ..StepRule::default()
                },
            ),
            (
                "max_replicas",
                StepRule {
                    max_replicas: u32::MAX,
                    ..StepRule::default()
                },
            ),
        ];
        for (field, rule) in cases {
            let e = rule.validate().expect_err(field);
            assert_eq!(e.field, format!("algorithm.step_rule.{field}"), "{e}");
        }
    }

    #[test]
    fn halves_when_all_low_down_to_the_floor_and_holds_in_between() {
        let r = StepRule::default();
        assert_eq!(r.step(8, 1.0, 0.5, 0.0), 4);
        assert_eq!(r.step(3, 1.0, 0.5, 0.0), 2);
        assert_eq!(
            r.step(8, 7.0, 0.5, 0.0),
            8,
            "queue between low and high: hold"
        );
    }
}
