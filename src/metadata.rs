//! `scalerMetadata` → which server, under which policy.
//!
//! KEDA sends every trigger metadata key on every call. Each key is checked
//! against the table below; an unknown key, a bad value or a bad id becomes a
//! [`MetadataError`] whose message names the key and what is allowed, which
//! the gRPC layer turns into `INVALID_ARGUMENT`.

use crate::config::Config;
use crate::engine::limits::{MAX_KEEP_WARM, MAX_WINDOW};
use crate::engine::{MetricMode, Policy, REPLICA_LIMIT};
use crate::id::{Namespace, ServerId, ServerKey};
use crate::signal::{Goal, METRICS, MetricSpec};
use std::collections::HashMap;
use std::time::Duration;

/// KEDA's own trigger keys: accepted and ignored.
pub const KEDA_KEYS: [&str; 3] = ["scalerAddress", "enableTLS", "unsafeSsl"];

type Setter = fn(&mut Policy, &str) -> Result<(), String>;

/// Per-server policy overrides: key, the policy field it sets (to name the
/// key when the effective policy is invalid), how it applies. Every value is
/// bounded as in [`crate::engine::limits`]. The metrics' goals (targets and
/// objectives) are set by the keys the catalog names
/// ([`MetricSpec::override_key`]), after these.
const OVERRIDES: &[(&str, &str, Setter)] = &[
    ("minReplicas", "min_replicas", |p, v| {
        parse_replicas(v, 0).map(|n| p.min_replicas = n)
    }),
    ("maxReplicas", "max_replicas", |p, v| {
        parse_replicas(v, 1).map(|n| p.max_replicas = n)
    }),
    ("idleWindow", "idle_window", |p, v| {
        parse_duration(v, (Duration::from_secs(1), MAX_KEEP_WARM)).map(|d| p.idle_window = d)
    }),
    ("staleAfter", "stale_after", |p, v| {
        parse_duration(v, (Duration::ZERO, crate::signal::RETENTION)).map(|d| p.stale_after = d)
    }),
    ("unavailableAfter", "unavailable_after", |p, v| {
        parse_duration(v, (Duration::ZERO, crate::signal::RETENTION))
            .map(|d| p.unavailable_after = d)
    }),
    ("metricMode", "metric_mode", |p, v| {
        parse_mode(v).map(|m| p.metric_mode = m)
    }),
    // Before `coldStartCost`, which tunes the mode chosen here; naming the
    // mode the policy already has keeps its settings.
    ("keepAlive", "keep_alive", |p, v| {
        let mode = parse_keep_alive(v)?;
        if std::mem::discriminant(&mode) != std::mem::discriminant(&p.keep_alive) {
            p.keep_alive = mode;
        }
        Ok(())
    }),
    (
        "coldStartCost",
        "keep_alive.cost_aware.cold_start_cost",
        |p, v| {
            let cost = parse_duration(v, (Duration::ZERO, MAX_WINDOW))?;
            match &mut p.keep_alive {
                crate::engine::KeepAlive::CostAware(c) => {
                    c.cold_start_cost = cost;
                    Ok(())
                }
                _ => Err("applies only with keepAlive \"cost_aware\"".to_owned()),
            }
        },
    ),
    ("scaleDownWindow", "behavior.scale_down_window", |p, v| {
        parse_duration(v, (Duration::ZERO, MAX_WINDOW)).map(|d| p.behavior.scale_down_window = d)
    }),
];

/// Metadata that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// A key we do not know.
    #[error("unknown scalerMetadata key {key:?}; allowed keys: {allowed}")]
    UnknownKey {
        /// The key.
        key: String,
        /// Every allowed key.
        allowed: String,
    },
    /// A known key with a value it does not accept.
    #[error("scalerMetadata key {key:?} has value {value:?}: {expected}")]
    BadValue {
        /// The key.
        key: String,
        /// The value (truncated).
        value: String,
        /// What the key accepts.
        expected: String,
    },
    /// Too much metadata.
    #[error(
        "scalerMetadata is {size} bytes, more than the limit of {limit} (server.max_metadata_bytes)"
    )]
    TooLarge {
        /// Bytes received.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

/// A ScaledObject resolved to a server and its effective policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The hosted MCP server: the ScaledObject's namespace and `serverId`.
    pub server: ServerKey,
    /// Name of the policy the overrides were applied to.
    pub policy_name: String,
    /// The policy after per-server overrides.
    pub policy: Policy,
}

/// Every key a user may set, for error messages.
pub fn allowed_keys() -> String {
    let mut keys = vec!["serverId", "policy"];
    keys.extend(override_keys());
    keys.extend(KEDA_KEYS);
    keys.join(", ")
}

/// One override key: a policy setting of [`OVERRIDES`], or a metric's
/// target or objective (the key the catalog names).
#[derive(Clone, Copy)]
enum Override {
    /// Key, the policy field it sets, how.
    Setting(&'static str, &'static str, Setter),
    /// A metric's goal.
    Goal(&'static MetricSpec),
}

impl Override {
    fn key(self) -> &'static str {
        match self {
            Self::Setting(key, _, _) => key,
            Self::Goal(spec) => spec.override_key.unwrap_or_default(),
        }
    }

    /// The policy field it sets.
    fn field(self) -> String {
        match self {
            Self::Setting(_, f, _) => f.to_owned(),
            Self::Goal(spec) => spec.policy_path(),
        }
    }

    /// Whether this key sets the policy field `field` (as a policy error
    /// names it).
    fn sets(self, field: &str) -> bool {
        self.field() == field
    }

    fn apply(self, policy: &mut Policy, value: &str) -> Result<(), String> {
        match self {
            Self::Setting(_, _, set) => set(policy, value),
            Self::Goal(spec) => set_goal(policy, spec, value),
        }
    }
}

/// Every override key, in the order they apply: the settings, then the
/// goals in catalog order.
fn overrides() -> impl Iterator<Item = Override> {
    let settings = OVERRIDES
        .iter()
        .map(|&(key, field, set)| Override::Setting(key, field, set));
    let goals = METRICS
        .iter()
        .filter(|m| m.override_key.is_some())
        .map(Override::Goal);
    settings.chain(goals)
}

/// Every key that overrides a policy setting or a metric's goal, in the
/// order they apply.
pub(crate) fn override_keys() -> impl Iterator<Item = &'static str> {
    overrides().map(Override::key)
}

/// The override `key` names, and its rank: the order in which keys apply.
fn find_override(key: &str) -> Option<(usize, Override)> {
    overrides().enumerate().find(|(_, o)| o.key() == key)
}

/// Sets `spec`'s goal from `value`: a number within its bound, or `off`.
fn set_goal(policy: &mut Policy, spec: &MetricSpec, value: &str) -> Result<(), String> {
    let goal = parse_target(value, spec.max)?;
    match spec.goal {
        Goal::PerReplica => policy.targets.set(spec.metric, goal),
        Goal::Objective => policy.slo.set(spec.metric, goal),
    }
    Ok(())
}

/// Resolves a ScaledObject (namespace, name, metadata) against the config.
/// The server lives in the ScaledObject's own namespace: a ScaledObject can
/// never name a server of another tenant.
pub fn resolve(
    namespace: &str,
    name: &str,
    metadata: &HashMap<String, String>,
    config: &Config,
) -> Result<Target, MetadataError> {
    check_size(metadata, config.server.max_metadata_bytes)?;
    let namespace = Namespace::parse(namespace).map_err(|e| MetadataError::BadValue {
        key: "namespace (ScaledObjectRef.namespace)".to_owned(),
        value: shorten(namespace),
        expected: e.to_string(),
    })?;
    // Without `serverId` the name is the server id, checked below.
    if metadata.contains_key("serverId") && !crate::id::is_object_name(name) {
        return Err(MetadataError::BadValue {
            key: "name (ScaledObjectRef.name)".to_owned(),
            value: shorten(name),
            expected: format!("a Kubernetes object name: {}", crate::id::OBJECT_NAME_RULE),
        });
    }
    let server_raw = metadata.get("serverId").map_or(name, String::as_str);
    let server = ServerId::parse(server_raw).map_err(|e| MetadataError::BadValue {
        key: if metadata.contains_key("serverId") {
            "serverId"
        } else {
            "name (ScaledObject name, used as serverId)"
        }
        .to_owned(),
        value: shorten(server_raw),
        expected: e.to_string(),
    })?;
    // Trimmed like every other value.
    let policy_name = metadata
        .get("policy")
        .map_or(config.default_policy.as_str(), |p| p.trim());
    let mut policy = config.policies.get(policy_name).cloned().ok_or_else(|| {
        let known: Vec<&str> = config.policies.keys().map(String::as_str).collect();
        bad(
            "policy",
            policy_name,
            format!("one of the configured policies: {}", known.join(", ")),
        )
    })?;
    apply_overrides(metadata, &mut policy)?;
    validate_effective(metadata, &policy, config)?;
    Ok(Target {
        server: ServerKey::new(namespace, server),
        policy_name: policy_name.to_owned(),
        policy,
    })
}

fn check_size(metadata: &HashMap<String, String>, limit: usize) -> Result<(), MetadataError> {
    let size: usize = metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > limit {
        return Err(MetadataError::TooLarge { size, limit });
    }
    Ok(())
}

fn apply_overrides(
    metadata: &HashMap<String, String>,
    policy: &mut Policy,
) -> Result<(), MetadataError> {
    // In the order of OVERRIDES (a key may refine what an earlier one set),
    // then by name: the first error reported does not depend on hash order.
    let rank = |key: &str| find_override(key).map(|(rank, _)| rank);
    let mut keys: Vec<&String> = metadata.keys().collect();
    keys.sort_by_key(|k| (rank(k).unwrap_or(usize::MAX), k.as_str()));
    for key in keys {
        if matches!(key.as_str(), "serverId" | "policy") || KEDA_KEYS.contains(&key.as_str()) {
            continue;
        }
        let Some((_, how)) = find_override(key) else {
            return Err(MetadataError::UnknownKey {
                key: shorten(key),
                allowed: allowed_keys(),
            });
        };
        let value = &metadata[key];
        how.apply(policy, value.trim())
            .map_err(|expected| bad(key, value, expected))?;
    }
    Ok(())
}

/// The policy the overrides made, checked alone and against the sources;
/// an error names the key behind the field at fault.
fn validate_effective(
    metadata: &HashMap<String, String>,
    policy: &Policy,
    config: &Config,
) -> Result<(), MetadataError> {
    config.validate_policy(policy).map_err(|e| {
        let key = metadata_key_of(&e.field);
        // A rule between two fields (stale_after below unavailable_after)
        // may fail on a field the metadata left alone: name a key it set
        // whose field the error mentions.
        let text = e.to_string();
        let key = if metadata.contains_key(&key) {
            key
        } else {
            overrides()
                .find(|o| metadata.contains_key(o.key()) && text.contains(&o.field()))
                .map_or(key, |o| o.key().to_owned())
        };
        let value = metadata.get(&key).map_or("", |v| v.trim());
        bad(
            &key,
            value,
            format!("the effective policy is invalid: {text}"),
        )
    })
}

/// Maps a policy field back to the metadata key that sets it; a field no key
/// sets was invalid in the named policy itself, so the key is `policy`.
fn metadata_key_of(field: &str) -> String {
    overrides()
        .find(|o| o.sets(field))
        .map_or("policy", Override::key)
        .to_owned()
}

fn bad(key: &str, value: &str, expected: impl Into<String>) -> MetadataError {
    MetadataError::BadValue {
        key: key.to_owned(),
        value: shorten(value),
        expected: expected.into(),
    }
}

fn shorten(s: &str) -> String {
    s.chars().take(100).collect()
}

/// A whole number from `min` to [`REPLICA_LIMIT`].
fn parse_replicas(v: &str, min: u32) -> Result<u32, String> {
    match v.parse::<u32>() {
        Ok(n) if (min..=REPLICA_LIMIT).contains(&n) => Ok(n),
        _ => Err(format!("a whole number from {min} to {REPLICA_LIMIT}")),
    }
}

/// A humantime duration within `(min, max)`, both included.
fn parse_duration(v: &str, (min, max): (Duration, Duration)) -> Result<Duration, String> {
    match humantime::parse_duration(v) {
        Ok(d) if (min..=max).contains(&d) => Ok(d),
        _ => Err(format!(
            "a duration from {} to {}, such as 90s, 5m or 1h30m",
            humantime::format_duration(min),
            humantime::format_duration(max)
        )),
    }
}

/// A number above 0 and at most `max`, or `off`.
fn parse_target(v: &str, max: f64) -> Result<Option<f64>, String> {
    if v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    match v.parse::<f64>() {
        Ok(t) if t.is_finite() && t > 0.0 && t <= max => Ok(Some(t)),
        _ => Err(format!(
            "a positive number up to {max}, or \"off\" to disable"
        )),
    }
}

fn parse_keep_alive(v: &str) -> Result<crate::engine::KeepAlive, String> {
    match v {
        "fixed" => Ok(crate::engine::KeepAlive::Fixed),
        "cost_aware" => Ok(crate::engine::KeepAlive::CostAware(Default::default())),
        "predictive" => Ok(crate::engine::KeepAlive::Predictive(Default::default())),
        _ => Err("\"fixed\", \"cost_aware\" or \"predictive\"".to_owned()),
    }
}

fn parse_mode(v: &str) -> Result<MetricMode, String> {
    match v {
        "desired" => Ok(MetricMode::Desired),
        "native" => Ok(MetricMode::Native),
        _ => Err("\"desired\" or \"native\"".to_owned()),
    }
}

#[cfg(test)]
#[path = "metadata_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "metadata_proptests.rs"]
pub(crate) mod proptests;
