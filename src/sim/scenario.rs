//! Scenario files: what to simulate, under which control loop, with which
//! policies. One YAML document; every struct denies unknown fields, every
//! duration is humantime (`15s`, `24h`). [`Scenario::from_yaml`] reports
//! a bad or unknown field with its line and column;
//! [`Scenario::validate`] names the full path of a value out of range.

use super::pods::ScaleInOrder;
use super::sweep::Sweep;
use super::workload::Synthetic;
use crate::engine::presets::{BASELINES, baseline};
use crate::engine::{Behavior, Policy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The scenario run when `simulate` is given no file.
pub const BUILTIN: &str = include_str!("../../simulations/builtin.yaml");

/// A scenario that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Malformed YAML, or an unknown or mistyped field (with line and column).
    #[error("{origin}: {message}")]
    Parse {
        /// The file.
        origin: String,
        /// The parser's message.
        message: String,
    },
    /// A value out of range; `field` is its full path.
    #[error("{origin}: {field}: {message}")]
    Invalid {
        /// The file.
        origin: String,
        /// Full path of the field, e.g. `server.concurrency`.
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
}

/// One simulation: a workload, a server model, a control loop and policies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    /// Name shown in the report.
    pub name: String,
    /// Simulated time.
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// Seed for every random draw (workload, service times, phases).
    pub seed: u64,
    /// What arrives.
    pub workload: Workload,
    /// How each MCP server serves.
    pub server: ServerModel,
    /// Prometheus, KEDA and HPA timing.
    pub control: ControlLoop,
    /// A request slower than this (or dropped) violates the SLO.
    #[serde(with = "humantime_serde")]
    pub slo_latency: Duration,
    /// Price of one replica for one hour, for the cost column.
    pub cost_per_replica_hour: f64,
    /// Policies to run, by name: `default`, the baselines, or names in `define`.
    pub policies: Vec<String>,
    /// Extra named policies (same schema as the config's `policies`).
    pub define: BTreeMap<String, Policy>,
    /// How each policy is wired into the control loop (defaults by name).
    pub wiring: BTreeMap<String, Wiring>,
    /// Parameter sweeps: each adds one policy per combination.
    pub sweeps: Vec<Sweep>,
    /// Servers whose load and replicas are plotted over time.
    pub timeline: TimelineChoice,
    /// Add the clairvoyant `oracle` to the policies when they do not name
    /// it (the default): every report measures against the limit. A big
    /// planning sweep may leave it out to save one policy's run.
    pub oracle: bool,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            name: "scenario".to_owned(),
            duration: Duration::from_secs(24 * 3600),
            seed: 1,
            workload: Workload::Synthetic(Synthetic::default()),
            server: ServerModel::default(),
            control: ControlLoop::default(),
            slo_latency: Duration::from_secs(2),
            cost_per_replica_hour: 0.05,
            policies: all_builtin_policies(),
            define: BTreeMap::new(),
            wiring: BTreeMap::new(),
            sweeps: Vec::new(),
            timeline: TimelineChoice::default(),
            oracle: true,
        }
    }
}

/// The clairvoyant policy: `default`'s sizing, woken exactly when its next
/// arrival comes and released whenever the gap allows. No real autoscaler
/// can do this; it marks the limit every report compares with.
pub const ORACLE: &str = "oracle";

/// `default`, every baseline and the oracle, in report order.
pub fn all_builtin_policies() -> Vec<String> {
    std::iter::once(crate::config::DEFAULT_POLICY)
        .chain(BASELINES)
        .chain([ORACLE])
        .map(str::to_owned)
        .collect()
}

/// Where the events come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Workload {
    /// A generated fleet.
    Synthetic(Synthetic),
    /// A recorded trace.
    Trace(TraceSource),
}

/// A trace file and its format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceSource {
    /// The file; relative paths are relative to the scenario file.
    pub file: PathBuf,
    /// Its format.
    pub format: TraceFormat,
}

/// Trace formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum TraceFormat {
    /// `time_s,server,kind,session,service_s`.
    Events,
    /// Azure Functions 2019 per-minute invocation counts.
    Azure,
}

/// One MCP server's serving model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerModel {
    /// Requests one replica serves at once.
    pub concurrency: u32,
    /// Mean service time of a request (when the trace gives none).
    #[serde(with = "humantime_serde")]
    pub service_time: Duration,
    /// Coefficient of variation of the service time: 0 fixed, 1
    /// exponential, anything else log-normal.
    pub service_cv: f64,
    /// From pod creation to ready (image pull, start, readiness probe).
    #[serde(with = "humantime_serde")]
    pub cold_start: Duration,
    /// A queued request is dropped after waiting this long.
    #[serde(with = "humantime_serde")]
    pub queue_timeout: Duration,
}

impl Default for ServerModel {
    fn default() -> Self {
        Self {
            concurrency: 8,
            service_time: Duration::from_millis(200),
            service_cv: 1.0,
            cold_start: Duration::from_secs(8),
            queue_timeout: Duration::from_secs(30),
        }
    }
}

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
    /// The HPA behaviour these settings describe, with a policy's own
    /// scale-down window if its wiring sets one (rate policies:
    /// Kubernetes' defaults).
    pub fn hpa_behavior(&self, scale_down_window: Option<Duration>) -> Behavior {
        Behavior {
            tolerance: self.hpa_tolerance,
            scale_down_window: scale_down_window.unwrap_or(self.hpa_scale_down_window),
            ..Behavior::hpa_default()
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
}

impl Wiring {
    /// How each built-in policy is deployed: ours and keep-alive use events
    /// and push, and leave idleness and scale-down waits to the engine (KEDA
    /// `cooldownPeriod: 0` and an HPA scale-down window of 0, as in
    /// `deploy/examples`); the HPA,
    /// KEDA-Prometheus and the plan's rule poll Prometheus with KEDA's
    /// default cooldown; the Knative KPA hears requests through its
    /// activator and scales directly.
    pub fn for_policy(name: &str) -> Self {
        let (events, activation, actuator, ours) = match name {
            "hpa" | "keda-prometheus" | "infra-plan-rule" => {
                (false, Activation::Poll, Actuator::Hpa, false)
            }
            "knative-kpa" => (true, Activation::Push, Actuator::Direct, false),
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

/// Which servers get a timeline plot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimelineChoice {
    /// Servers by name; when empty, `count` are picked from busiest to
    /// rarely used.
    pub servers: Vec<String>,
    /// How many to pick when `servers` is empty.
    pub count: usize,
}

impl Default for TimelineChoice {
    fn default() -> Self {
        Self {
            servers: Vec::new(),
            count: 3,
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

impl Scenario {
    /// Reads and parses a scenario file (not yet validated).
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut s = Self::from_yaml(&text, &path.display().to_string())?;
        if let Workload::Trace(t) = &mut s.workload
            && t.file.is_relative()
            && let Some(dir) = path.parent()
        {
            t.file = dir.join(&t.file);
        }
        Ok(s)
    }

    /// Parses YAML text; `origin` names it in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, ScenarioError> {
        serde_saphyr::from_str(text).map_err(|e| ScenarioError::Parse {
            origin: origin.to_owned(),
            message: e.to_string(),
        })
    }

    /// The built-in scenario.
    pub fn builtin() -> Self {
        Self::from_yaml(BUILTIN, "<built-in>").expect("the built-in scenario parses")
    }

    /// Checks every value and resolves the policies to run; `origin` names
    /// the file in errors.
    pub fn validate(&self, origin: &str) -> Result<Vec<PolicyRun>, ScenarioError> {
        let bad = |field: &str, message: String| ScenarioError::Invalid {
            origin: origin.to_owned(),
            field: field.to_owned(),
            message,
        };
        self.check_ranges().map_err(|(f, m)| bad(&f, m))?;
        let mut runs = Vec::new();
        for (i, name) in self.policies.iter().enumerate() {
            let policy = self.named_policy(name).ok_or_else(|| {
                bad(
                    &format!("policies[{i}]"),
                    format!(
                        "unknown policy `{name}`; known: {}",
                        self.known().join(", ")
                    ),
                )
            })?;
            runs.push(self.run_for(name, policy));
        }
        for (i, sweep) in self.sweeps.iter().enumerate() {
            let field = format!("sweeps[{i}]");
            let base = self.named_policy(&sweep.policy).ok_or_else(|| {
                bad(
                    &format!("{field}.policy"),
                    format!(
                        "unknown policy `{}`; known: {}",
                        sweep.policy,
                        self.known().join(", ")
                    ),
                )
            })?;
            let wiring = self.wiring_for(&sweep.policy);
            for (name, policy) in sweep
                .expand(&base)
                .map_err(|(f, m)| bad(&format!("{field}.{f}"), m))?
            {
                runs.push(PolicyRun {
                    name,
                    policy,
                    wiring,
                    sweep: None,
                });
            }
        }
        if self.oracle && !runs.is_empty() && !runs.iter().any(|r| r.name == ORACLE) {
            runs.push(self.run_for(ORACLE, Policy::default()));
        }
        if runs.is_empty() {
            return Err(bad(
                "policies",
                "no policy to run: name at least one".into(),
            ));
        }
        for (i, run) in runs.iter().enumerate() {
            if runs[..i].iter().any(|r| r.name == run.name) {
                return Err(bad("policies", format!("`{}` is listed twice", run.name)));
            }
            run.policy
                .validate()
                .map_err(|e| bad(&format!("define.{}.{}", run.name, e.field), e.message))?;
        }
        for name in self.wiring.keys() {
            if self.named_policy(name).is_none() {
                return Err(bad(
                    &format!("wiring.{name}"),
                    format!("no such policy; known: {}", self.known().join(", ")),
                ));
            }
        }
        Ok(runs)
    }

    /// `policy` under `name`, with the wiring the scenario gives that name.
    pub fn run_for(&self, name: &str, policy: Policy) -> PolicyRun {
        PolicyRun {
            name: name.to_owned(),
            policy,
            wiring: self.wiring_for(name),
            sweep: None,
        }
    }

    fn wiring_for(&self, name: &str) -> Wiring {
        self.wiring
            .get(name)
            .copied()
            .unwrap_or_else(|| Wiring::for_policy(name))
    }

    /// A policy by name: `define` first, then `default` and the baselines.
    pub fn named_policy(&self, name: &str) -> Option<Policy> {
        if let Some(p) = self.define.get(name) {
            return Some(p.clone());
        }
        if name == crate::config::DEFAULT_POLICY || name == ORACLE {
            return Some(Policy::default());
        }
        baseline(name)
    }

    fn known(&self) -> Vec<String> {
        let mut names = all_builtin_policies();
        names.extend(self.define.keys().cloned());
        names
    }

    fn check_ranges(&self) -> Result<(), (String, String)> {
        let err = |f: &str, m: &str| Err((f.to_owned(), m.to_owned()));
        let day = Duration::from_secs(24 * 3600);
        if self.duration < Duration::from_secs(60) || self.duration > 31 * day {
            return err("duration", "must be between 1m and 31d");
        }
        let s = &self.server;
        if s.concurrency == 0 || s.concurrency > 10_000 {
            return err("server.concurrency", "must be 1..=10000");
        }
        if s.service_time.is_zero() {
            return err("server.service_time", "must be above 0");
        }
        if !(s.service_cv.is_finite() && (0.0..=10.0).contains(&s.service_cv)) {
            return err("server.service_cv", "must be between 0 and 10");
        }
        if s.queue_timeout.is_zero() {
            return err("server.queue_timeout", "must be above 0");
        }
        let c = &self.control;
        for (field, d) in [
            ("control.scrape_interval", c.scrape_interval),
            ("control.query_interval", c.query_interval),
            ("control.rate_window", c.rate_window),
            ("control.polling_interval", c.polling_interval),
            ("control.hpa_sync_period", c.hpa_sync_period),
            ("control.direct_period", c.direct_period),
        ] {
            if d < Duration::from_millis(100) {
                return err(field, "must be at least 100ms");
            }
        }
        if c.rate_window < c.scrape_interval * 2 {
            return err(
                "control.rate_window",
                "must cover at least two scrape intervals",
            );
        }
        if !(c.hpa_tolerance.is_finite() && (0.0..1.0).contains(&c.hpa_tolerance)) {
            return err("control.hpa_tolerance", "must be in [0, 1)");
        }
        if self.slo_latency.is_zero() {
            return err("slo_latency", "must be above 0");
        }
        if !(self.cost_per_replica_hour.is_finite() && self.cost_per_replica_hour >= 0.0) {
            return err("cost_per_replica_hour", "must be a number >= 0");
        }
        if let Workload::Synthetic(w) = &self.workload {
            check_synthetic(w)?;
        }
        if self.timeline.count > 20 {
            return err("timeline.count", "must be at most 20");
        }
        Ok(())
    }
}

fn check_synthetic(w: &Synthetic) -> Result<(), (String, String)> {
    let err = |f: &str, m: &str| Err((format!("workload.synthetic.{f}"), m.to_owned()));
    if w.servers == 0 || w.servers > 1_000_000 {
        return err("servers", "must be 1..=1000000");
    }
    for (f, v) in [
        ("rate_log_mean", w.rate_log_mean),
        ("rate_log_sd", w.rate_log_sd),
        ("diurnal_amplitude", w.diurnal_amplitude),
    ] {
        if !v.is_finite() {
            return err(f, "must be a finite number");
        }
    }
    if w.rate_log_sd < 0.0 {
        return err("rate_log_sd", "must be >= 0");
    }
    if !(w.max_rate_per_s.is_finite() && w.max_rate_per_s > 0.0 && w.max_rate_per_s <= 10_000.0) {
        return err("max_rate_per_s", "must be in (0, 10000]");
    }
    if !(0.0..=1.0).contains(&w.diurnal_amplitude) {
        return err("diurnal_amplitude", "must be in [0, 1]");
    }
    // Each burst is one more process to draw, and a busy session holds its
    // events until they are taken: both are bounded.
    if !(w.bursts.per_hour.is_finite() && (0.0..=60.0).contains(&w.bursts.per_hour)) {
        return err("bursts.per_hour", "must be in [0, 60]");
    }
    if !(w.bursts.factor.is_finite() && (1.0..=1000.0).contains(&w.bursts.factor)) {
        return err("bursts.factor", "must be in [1, 1000]");
    }
    if !(0.0..=1.0).contains(&w.sessions.server_fraction) {
        return err("sessions.server_fraction", "must be in [0, 1]");
    }
    if !(w.sessions.requests.is_finite() && (1.0..=10_000.0).contains(&w.sessions.requests)) {
        return err("sessions.requests", "must be in [1, 10000]");
    }
    if w.sessions.mean_duration > Duration::from_secs(86_400) {
        return err("sessions.mean_duration", "must be at most 24h");
    }
    let p = &w.periodic;
    if !(0.0..=1.0).contains(&p.server_fraction) {
        return err("periodic.server_fraction", "must be in [0, 1]");
    }
    if !(p.requests.is_finite() && (1.0..=10_000.0).contains(&p.requests)) {
        return err("periodic.requests", "must be in [1, 10000]");
    }
    let hour = Duration::from_secs(3600);
    if p.run_length > hour {
        return err("periodic.run_length", "must be at most 1h");
    }
    if p.jitter > hour {
        return err("periodic.jitter", "must be at most 1h");
    }
    Ok(())
}

#[cfg(test)]
#[path = "scenario_tests.rs"]
mod tests;
