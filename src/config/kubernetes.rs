//! The `kubernetes:` section: workload discovery, session-aware scale-in
//! and apply mode ([`super::apply`]).

use super::apply::ApplyConfig;
use super::{ConfigError, duration_within};
use crate::id::Namespace;
use crate::lists::first_repeated;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Default label that marks a workload as an MCP server; its value names the
/// server (empty: the workload's name).
pub const DEFAULT_SERVER_LABEL: &str = "mcp-autoscaler/server";

/// Most namespaces `kubernetes.discovery.namespaces` may list (one watch of
/// each kind per namespace).
pub const MAX_NAMESPACES: usize = 100;

/// Shortest and longest `kubernetes.deletion_cost.interval`.
pub const DELETION_COST_INTERVALS: (Duration, Duration) =
    (Duration::from_secs(5), Duration::from_secs(3600));

/// What the scaler reads from, and writes to, the cluster. Everything is
/// off by default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesConfig {
    /// Watch the Deployments and StatefulSets that host MCP servers.
    pub discovery: DiscoveryConfig,
    /// Mark the pods with least live work to go first on scale-in.
    pub deletion_cost: DeletionCostConfig,
    /// Scale the discovered workloads directly (no KEDA).
    pub apply: ApplyConfig,
}

/// Workload discovery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscoveryConfig {
    /// On or off (off by default).
    pub enabled: bool,
    /// The label that selects workloads (and their pods); its value names
    /// the server, and an empty value means the workload's own name.
    pub label: String,
    /// Namespaces to watch; empty watches all of them (and needs a
    /// ClusterRole; listed namespaces need a Role in each).
    pub namespaces: Vec<String>,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            label: DEFAULT_SERVER_LABEL.to_owned(),
            namespaces: Vec::new(),
        }
    }
}

/// Session-aware scale-in through `controller.kubernetes.io/pod-deletion-cost`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeletionCostConfig {
    /// On or off (off by default; needs discovery and the right to patch pods).
    pub enabled: bool,
    /// A pod is patched at most once per interval.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for DeletionCostConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            interval: Duration::from_secs(60),
        }
    }
}

impl KubernetesConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let d = &self.discovery;
        validate_label_key(&d.label)
            .map_err(|why| ConfigError::invalid("kubernetes.discovery.label", why))?;
        if d.namespaces.len() > MAX_NAMESPACES {
            return Err(ConfigError::invalid(
                "kubernetes.discovery.namespaces",
                format!(
                    "lists {} namespaces, allowed at most {MAX_NAMESPACES} (leave it empty to watch all)",
                    d.namespaces.len()
                ),
            ));
        }
        for (i, ns) in d.namespaces.iter().enumerate() {
            Namespace::parse(ns).map_err(|e| {
                ConfigError::invalid(
                    format!("kubernetes.discovery.namespaces[{i}]"),
                    e.to_string(),
                )
            })?;
        }
        if let Some((i, ns)) = first_repeated(&d.namespaces) {
            // Listed twice, each server would seem hosted by two workloads
            // (its own, twice) and be left alone.
            return Err(ConfigError::invalid(
                format!("kubernetes.discovery.namespaces[{i}]"),
                format!("{ns:?} is listed twice: list each namespace once"),
            ));
        }
        let c = &self.deletion_cost;
        duration_within(
            "kubernetes.deletion_cost.interval",
            c.interval,
            DELETION_COST_INTERVALS,
        )?;
        if c.enabled && !d.enabled {
            return Err(ConfigError::invalid(
                "kubernetes.deletion_cost.enabled",
                "needs kubernetes.discovery.enabled: true (it patches the pods discovery finds)",
            ));
        }
        self.apply.validate(d.enabled)
    }

    /// The namespaces to watch: `None` for all of them.
    pub fn watched_namespaces(&self) -> Option<Vec<Namespace>> {
        let listed = &self.discovery.namespaces;
        (!listed.is_empty()).then(|| {
            listed
                .iter()
                .filter_map(|ns| Namespace::parse(ns).ok())
                .collect()
        })
    }
}

/// Checks a Kubernetes label key: an optional DNS-subdomain prefix and `/`,
/// then a name of 1-63 characters of `a-z A-Z 0-9 - _ .`, alphanumeric at
/// both ends.
pub fn validate_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let alnum_ends = |s: &str| {
        s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
    };
    let name_ok = (1..=63).contains(&name.len())
        && alnum_ends(name)
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !name_ok {
        return Err(format!(
            "{key:?} is not a label key: its name part must be 1-63 characters of a-z, A-Z, 0-9, '-', '_' and '.', alphanumeric at both ends"
        ));
    }
    if let Some(prefix) = prefix {
        let prefix_ok = (1..=253).contains(&prefix.len())
            && prefix.split('.').all(|part| {
                alnum_ends(part)
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            });
        if !prefix_ok {
            return Err(format!(
                "{key:?} is not a label key: its prefix must be a DNS subdomain (lower-case labels joined by '.')"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys_follow_the_kubernetes_rule() {
        for good in ["mcp-autoscaler/server", "app", "example.com/a_b.c", "a"] {
            assert_eq!(validate_label_key(good), Ok(()), "{good}");
        }
        for bad in ["", "/x", "Ex.com/x", "a/", "-a", "a b", "x/y/z", "a.b./c"] {
            assert!(validate_label_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deletion_cost_needs_discovery_and_a_bounded_interval() {
        let mut k = KubernetesConfig::default();
        assert!(k.validate().is_ok());
        k.deletion_cost.enabled = true;
        let err = k.validate().unwrap_err().to_string();
        assert!(err.starts_with("kubernetes.deletion_cost.enabled"), "{err}");
        k.discovery.enabled = true;
        assert!(k.validate().is_ok());
        k.deletion_cost.interval = Duration::from_secs(1);
        let err = k.validate().unwrap_err().to_string();
        assert!(err.contains("allowed 5s..=1h"), "{err}");
    }

    #[test]
    fn listed_namespaces_are_checked_and_bounded() {
        let mut k = KubernetesConfig::default();
        k.discovery.namespaces = vec!["tenant-a".into(), "Bad_NS".into()];
        let err = k.validate().unwrap_err().to_string();
        assert!(
            err.starts_with("kubernetes.discovery.namespaces[1]"),
            "{err}"
        );
        k.discovery.namespaces = (0..=MAX_NAMESPACES).map(|i| format!("ns-{i}")).collect();
        assert!(k.validate().is_err());
        k.discovery.namespaces.truncate(2);
        assert_eq!(k.watched_namespaces().map(|v| v.len()), Some(2));
        k.discovery.namespaces = vec!["tenant-a".into(), "tenant-b".into(), "tenant-a".into()];
        let err = k.validate().unwrap_err().to_string();
        assert!(
            err.starts_with("kubernetes.discovery.namespaces[2]") && err.contains("twice"),
            "{err}"
        );
    }
}
