//! Scenario files: what to simulate, under which control loop, with which
//! policies. One YAML document; every struct denies unknown fields, every
//! duration is humantime (`15s`, `24h`). [`Scenario::from_yaml`] reports
//! a bad or unknown field with its line and column;
//! [`Scenario::validate`] names the full path of a value out of range.

use super::sweep::Sweep;
pub use super::wiring::{Activation, Actuator, ControlLoop, PolicyRun, SweepRole, Wiring};
use super::workload::Synthetic;
use crate::engine::Policy;
use crate::engine::presets::{BASELINES, baseline};
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

/// The default policy in apply mode (`serve --apply`): see
/// [`super::wiring::Wiring::for_policy`].
pub const APPLY: &str = "default-apply";

/// `default`, every baseline and the oracle, in report order.
pub fn all_builtin_policies() -> Vec<String> {
    [crate::config::DEFAULT_POLICY, APPLY]
        .into_iter()
        .chain(BASELINES)
        .chain([ORACLE])
        .map(str::to_owned)
        .collect()
}

/// Where the events come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "WorkloadFields")]
pub enum Workload {
    /// A generated fleet.
    Synthetic(Synthetic),
    /// A recorded trace.
    Trace(TraceSource),
}

/// `workload` as written: exactly one of its two keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadFields {
    synthetic: Option<Synthetic>,
    trace: Option<TraceSource>,
}

impl TryFrom<WorkloadFields> for Workload {
    type Error = &'static str;

    fn try_from(w: WorkloadFields) -> Result<Self, Self::Error> {
        match (w.synthetic, w.trace) {
            (Some(synthetic), None) => Ok(Workload::Synthetic(synthetic)),
            (None, Some(trace)) => Ok(Workload::Trace(trace)),
            (Some(_), Some(_)) => Err("workload: give `synthetic` or `trace`, not both"),
            (None, None) => Err("workload: give `synthetic: {...}` or `trace: { file, format }`"),
        }
    }
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

impl Scenario {
    /// Reads and parses a scenario file (not yet validated).
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = crate::yaml::read_file(path).map_err(|source| ScenarioError::Read {
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
        crate::yaml::parse(text).map_err(|message| ScenarioError::Parse {
            origin: origin.to_owned(),
            message,
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
        // Every definition, run or not: `--policy` and `--frontier` may
        // pick one the file does not list.
        for (name, policy) in &self.define {
            check_defined_name(name).map_err(|m| bad(&format!("define.{name}"), m))?;
            policy
                .validate()
                .map_err(|e| bad(&format!("define.{name}.{}", e.field), e.message))?;
        }
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
        if let Some((_, twice)) = crate::lists::first_repeated(runs.iter().map(|r| &r.name)) {
            return Err(bad("policies", format!("`{twice}` is listed twice")));
        }
        for run in &runs {
            run.policy
                .validate()
                .map_err(|e| bad(&format!("define.{}.{}", run.name, e.field), e.message))?;
        }
        for (name, wiring) in &self.wiring {
            if self.named_policy(name).is_none() {
                return Err(bad(
                    &format!("wiring.{name}"),
                    format!("no such policy; known: {}", self.known().join(", ")),
                ));
            }
            check_wiring(name, wiring).map_err(|(f, m)| bad(&f, m))?;
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
        if name == APPLY {
            // The default policy as this scenario defines it, applied
            // another way.
            return self.named_policy(crate::config::DEFAULT_POLICY);
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
}

/// A wiring's fields fit its activation and actuator. Errors name
/// `wiring.NAME.FIELD`.
fn check_wiring(name: &str, wiring: &Wiring) -> Result<(), (String, String)> {
    let field = |f: &str| format!("wiring.{name}.{f}");
    if name == ORACLE && wiring.activation != Activation::Oracle {
        return Err((
            field("activation"),
            "the oracle is clairvoyant: its activation is `oracle`; to compare \
             another wiring, define a policy under another name"
                .into(),
        ));
    }
    if wiring.actuator == Actuator::Direct {
        // KEDA's cooldown and the HPA's window are not in a direct loop.
        for (f, set) in [
            ("cooldown_period", wiring.cooldown_period.is_some()),
            (
                "hpa_scale_down_window",
                wiring.hpa_scale_down_window.is_some(),
            ),
        ] {
            if set {
                return Err((field(f), "applies to `actuator: hpa` only".into()));
            }
        }
    }
    super::scenario_checks::check_keda_waits(
        &format!("wiring.{name}"),
        wiring.cooldown_period,
        wiring.hpa_scale_down_window,
    )?;
    check_hpa_scale_up(name, wiring)?;
    if let Some(period) = wiring.direct_period {
        if wiring.actuator != Actuator::Direct {
            return Err((
                field("direct_period"),
                "applies to `actuator: direct` only".into(),
            ));
        }
        super::scenario_checks::check_period(&field("direct_period"), period)?;
    }
    Ok(())
}

/// A name `define` may give a policy: a policy name (the reports' tables
/// and file names hold it), and not the oracle's, which is the bound every
/// report measures against.
fn check_defined_name(name: &str) -> Result<(), String> {
    if !crate::config::is_policy_name(name) {
        return Err(crate::config::POLICY_NAME_RULE.into());
    }
    if name == ORACLE {
        return Err(
            "`oracle` is the clairvoyant bound, sized like `default`: define \
                    the policy under another name and wire it with `activation: oracle`"
                .into(),
        );
    }
    Ok(())
}

/// A wiring's HPA scale-up policy: bounded as a policy's `behavior`'s, and
/// only for the HPA. Errors name `wiring.NAME.hpa_scale_up.FIELD`.
fn check_hpa_scale_up(name: &str, wiring: &Wiring) -> Result<(), (String, String)> {
    let Some(scale_up) = wiring.hpa_scale_up else {
        return Ok(());
    };
    let field = format!("wiring.{name}.hpa_scale_up");
    if wiring.actuator != Actuator::Hpa {
        return Err((field, "applies to `actuator: hpa` only".into()));
    }
    let behavior = crate::engine::Behavior {
        scale_up,
        ..crate::engine::Behavior::hpa_default()
    };
    behavior.validate().map_err(|e| {
        let rest = e.field.strip_prefix("behavior.scale_up").unwrap_or("");
        (format!("{field}{rest}"), e.message)
    })?;
    // What an HPA can express: whole seconds up to 30 minutes, whole percent.
    let period = scale_up.period;
    if period.subsec_nanos() != 0 || !(1..=1800).contains(&period.as_secs()) {
        return Err((
            format!("{field}.period"),
            "must be whole seconds from 1s to 30m, as an HPA's periodSeconds".into(),
        ));
    }
    if scale_up.percent.fract() != 0.0 {
        return Err((format!("{field}.percent"), "must be a whole number".into()));
    }
    Ok(())
}

#[cfg(test)]
#[path = "scenario_tests.rs"]
mod tests;
