//! How each policy is plugged into the simulated control loop: the
//! loop's timing as deployed, how a server at zero is woken, who sets the
//! replica count, and the policies ready to run.

use super::pods::ScaleInOrder;
use super::scenario::{APPLY, ORACLE};
use crate::config::ApplyConfig;
use crate::engine::hpa::hpa_scale_up;
use crate::engine::{Behavior, Policy, RateLimit};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The control loop's timing, as deployed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlLoop {
    /// Prometheus scrape interval (each server gets its own phase).
    #[serde(with = "humantime_serde")]
    pub scrape_interval: Duration,
    /// The scaler's Prometheus query tick.
    #[serde(with = "humantime_serde")]
    pub query_interval: Duration,
    /// The `rate(...[w])` and latency quantile window.
    #[serde(with = "humantime_serde")]
    pub rate_window: Duration,
    /// KEDA's `pollingInterval`.
    #[serde(with = "humantime_serde")]
    pub polling_interval: Duration,
    /// KEDA's `cooldownPeriod` (per-policy `wiring` may override it).
    #[serde(with = "humantime_serde")]
    pub cooldown_period: Duration,
    /// The HPA's sync period.
    #[serde(with = "humantime_serde")]
    pub hpa_sync_period: Duration,
    /// The HPA's tolerance.
    pub hpa_tolerance: f64,
    /// The HPA's scale-down stabilisation window.
    #[serde(with = "humantime_serde")]
    pub hpa_scale_down_window: Duration,
    /// Tick of a `direct` actuator (Knative's autoscaler: 2 s).
    #[serde(with = "humantime_serde")]
    pub direct_period: Duration,
}

impl Default for ControlLoop {
    fn default() -> Self {
        Self {
            scrape_interval: Duration::from_secs(15),
            query_interval: Duration::from_secs(15),
            rate_window: Duration::from_secs(60),
            polling_interval: Duration::from_secs(30),
            cooldown_period: Duration::from_secs(300),
            hpa_sync_period: Duration::from_secs(15),
            hpa_tolerance: 0.1,
            hpa_scale_down_window: Duration::from_secs(300),
            direct_period: Duration::from_secs(2),
        }
    }
}

impl ControlLoop {
    /// How often `wiring`'s direct actuator applies the decision: its own
    /// period, else these settings'.
    pub fn direct_period(&self, wiring: &Wiring) -> Duration {
        wiring.direct_period.unwrap_or(self.direct_period)
    }

    /// The HPA behaviour these settings describe for `policy`: the
    /// scale-down window its wiring sets (else these settings'), and the
    /// scale-up policy its wiring sets, else the one `mcp-autoscaler
    /// manifests` writes for `policy` (its own `behavior.scale_up`, as an
    /// HPA can hold it; Kubernetes' default when that rounds to nothing).
    pub fn hpa_behavior(&self, wiring: &Wiring, policy: &Policy) -> Behavior {
        let default = Behavior::hpa_default();
        let written = || hpa_scale_up(&policy.behavior.scale_up);
        Behavior {
            tolerance: self.hpa_tolerance,
            scale_down_window: wiring
                .hpa_scale_down_window
                .unwrap_or(self.hpa_scale_down_window),
            scale_up: wiring
                .hpa_scale_up
                .or_else(written)
                .unwrap_or(default.scale_up),
            ..default
        }
    }
}

/// How KEDA learns that a server at zero should wake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `external-push`: a `true` on `StreamIsActive` wakes it at once.
    Push,
    /// `external` or a built-in scaler: `IsActive` every `pollingInterval`.
    Poll,
    /// Clairvoyant (the `oracle`): a server at zero is started exactly one
    /// cold start before its next arrival, and released after its work
    /// ends whenever the next arrival is further away than a cold start.
    /// The policy still sizes it.
    Oracle,
}

/// Who sets the replica count above zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actuator {
    /// KEDA + HPA: the HPA reads `GetMetrics` every sync period.
    Hpa,
    /// The policy's decision is applied every `direct_period` (Knative KPA).
    Direct,
}

/// How one policy is plugged into the control loop.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wiring {
    /// Whether the policy sees NATS request/session events (else
    /// Prometheus only).
    pub events: bool,
    /// How a server at zero is woken.
    pub activation: Activation,
    /// Who scales above zero.
    pub actuator: Actuator,
    /// KEDA `cooldownPeriod` for this policy (default: `control`'s).
    #[serde(default, with = "humantime_serde")]
    pub cooldown_period: Option<Duration>,
    /// The HPA's scale-down stabilisation window for this policy (default:
    /// `control`'s).
    #[serde(default, with = "humantime_serde")]
    pub hpa_scale_down_window: Option<Duration>,
    /// Pods leave in order of least live work on scale-in (the scaler's
    /// `kubernetes.deletion_cost`); otherwise the newest leave first.
    #[serde(default)]
    pub deletion_cost: bool,
    /// How often a `direct` actuator applies the decision, for this policy
    /// (default: `control`'s `direct_period`).
    #[serde(default, with = "humantime_serde")]
    pub direct_period: Option<Duration>,
    /// The HPA's scale-up policy for this policy, as a ScaledObject's
    /// `advanced.horizontalPodAutoscalerConfig.behavior.scaleUp` sets it
    /// (default: what `mcp-autoscaler manifests` writes, the policy's own
    /// `behavior.scale_up` as an HPA can hold it).
    #[serde(default)]
    pub hpa_scale_up: Option<RateLimit>,
}

impl Wiring {
    /// How each built-in policy is deployed: ours and keep-alive use events
    /// and push, and leave idleness and scale-down waits to the engine (KEDA
    /// `cooldownPeriod: 0` and an HPA scale-down window of 0, as in
    /// `deploy/examples`, which also let bursts through the HPA's scale-up
    /// as the policy does); the HPA,
    /// KEDA-Prometheus and the plan's rule poll Prometheus with KEDA's
    /// default cooldown; the Knative KPA hears requests through its
    /// activator and scales directly; `default-apply` is ours in apply mode
    /// (`serve --apply`): woken at once on an event, sized by the scaler
    /// itself every `kubernetes.apply.interval`, no KEDA or HPA.
    pub fn for_policy(name: &str) -> Self {
        let (events, activation, actuator, ours) = match name {
            "hpa" | "keda-prometheus" | "infra-plan-rule" => {
                (false, Activation::Poll, Actuator::Hpa, false)
            }
            "knative-kpa" => (true, Activation::Push, Actuator::Direct, false),
            APPLY => (true, Activation::Push, Actuator::Direct, true),
            ORACLE => (true, Activation::Oracle, Actuator::Hpa, true),
            _ => (true, Activation::Push, Actuator::Hpa, true),
        };
        let zero = ours.then_some(Duration::ZERO);
        Self {
            events,
            activation,
            actuator,
            cooldown_period: zero,
            hpa_scale_down_window: zero,
            deletion_cost: ours,
            direct_period: (name == APPLY).then(|| ApplyConfig::default().interval),
            hpa_scale_up: None,
        }
    }

    /// Which pods a scale-in removes.
    pub fn scale_in_order(&self) -> ScaleInOrder {
        if self.deletion_cost {
            ScaleInOrder::LeastLiveWork
        } else {
            ScaleInOrder::Newest
        }
    }
}

/// A policy ready to simulate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRun {
    /// Report name.
    pub name: String,
    /// The engine policy.
    pub policy: Policy,
    /// Its control-loop wiring.
    pub wiring: Wiring,
    /// Its place in a `--frontier` sweep, when the sweep made it (a name
    /// alone never puts a policy on the frontier chart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepRole>,
}

/// The two curves of a `--frontier` sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepRole {
    /// A fixed keep-alive window.
    Fixed,
    /// Cost-aware keep-alive at one price per cold start.
    Priced,
}
