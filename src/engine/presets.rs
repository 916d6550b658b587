//! Built-in baseline policies, expressed as ordinary policies so the
//! simulator can compare them with ours under the same control loop.

use super::Metric;
use super::goals::{Slo, Targets};
use super::keepalive::KeepAlive;
use super::policy::{Activity, Algorithm, Policy};
use super::rule::StepRule;
use super::stabilize::{Behavior, Panic, RateLimit};
use std::time::Duration;

/// Names of the baselines, always available in the config.
pub const BASELINES: [&str; 5] = [
    "hpa",
    "keda-prometheus",
    "keep-alive-10m",
    "infra-plan-rule",
    "knative-kpa",
];

/// The baseline called `name`.
pub fn baseline(name: &str) -> Option<Policy> {
    let base = Policy::default();
    let p = match name {
        // A plain HPA on one custom metric: never below 1 replica.
        "hpa" => Policy {
            min_replicas: 1,
            targets: Targets::only(Metric::Concurrency, 8.0),
            slo: Slo::none(),
            keep_alive: KeepAlive::Fixed,
            behavior: Behavior::hpa_default(),
            ..base
        },
        // KEDA's Prometheus scaler: threshold on one query, activation on its
        // instant value, cooldown 300 s, HPA defaults.
        "keda-prometheus" => Policy {
            targets: Targets::only(Metric::RequestRate, 10.0),
            slo: Slo::none(),
            activity: Activity::Instant {
                metric: Metric::RequestRate,
                above: 0.0,
            },
            keep_alive: KeepAlive::Fixed,
            idle_window: Duration::from_secs(300),
            behavior: Behavior::hpa_default(),
            ..base
        },
        // Fixed 10-minute keep-alive (the common FaaS policy).
        "keep-alive-10m" => Policy {
            keep_alive: KeepAlive::Fixed,
            idle_window: Duration::from_secs(600),
            ..base
        },
        "infra-plan-rule" => Policy {
            algorithm: Algorithm::StepRule(StepRule::default()),
            keep_alive: KeepAlive::Fixed,
            max_replicas: 20,
            behavior: Behavior {
                tolerance: 0.0,
                scale_down_window: Duration::ZERO,
                // The rule doubles at most; the HPA's default limit on top.
                scale_up: Behavior::hpa_default().scale_up,
                panic: None,
                ..Behavior::default()
            },
            ..base
        },
        // Knative KPA: concurrency target, 60 s stable window, panic at 200%
        // over a short window, scale to zero after stable window + 30 s grace.
        "knative-kpa" => Policy {
            targets: Targets::only(Metric::Concurrency, 8.0),
            slo: Slo::none(),
            keep_alive: KeepAlive::Fixed,
            idle_window: Duration::from_secs(90),
            behavior: Behavior {
                tolerance: 0.0,
                scale_up_window: Duration::ZERO,
                scale_down_window: Duration::from_secs(60),
                scale_up: RateLimit {
                    pods: 1000,
                    percent: 100_000.0,
                    period: Duration::from_secs(2),
                },
                scale_down: RateLimit {
                    pods: 0,
                    percent: 50.0,
                    period: Duration::from_secs(2),
                },
                panic: Some(Panic {
                    threshold: 2.0,
                    window: Duration::from_secs(60),
                }),
            },
            ..base
        },
        _ => return None,
    };
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_baseline_exists_and_is_valid() {
        for name in BASELINES {
            let p = baseline(name).unwrap_or_else(|| panic!("{name}"));
            p.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert!(baseline("nope").is_none());
    }
}
