//! `kubernetes.apply`: scaling discovered workloads directly, without KEDA.

use super::{ConfigError, duration_within, show_duration};
use crate::id::Namespace;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Apply mode: the scaler sets the replicas of the workloads it discovers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApplyConfig {
    /// On or off (off by default; `serve --apply` turns it on). Needs
    /// discovery.
    pub enabled: bool,
    /// Decide and log, and show in the API, but send no scale request
    /// (`serve --dry-run`).
    pub dry_run: bool,
    /// How often every discovered workload is compared with its decision.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Scale requests per second toward the API server, sustained.
    pub qps: f64,
    /// Scale requests allowed at once above `qps`.
    pub burst: u32,
    /// The election of the one replica that acts.
    pub lease: LeaseConfig,
}

impl Default for ApplyConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            dry_run: false,
            interval: Duration::from_secs(10),
            qps: 20.0,
            burst: 50,
            lease: LeaseConfig::default(),
        }
    }
}

/// The `coordination.k8s.io/v1` Lease that elects the acting replica.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeaseConfig {
    /// The Lease's name.
    pub name: String,
    /// Its namespace; empty: the scaler's own (`POD_NAMESPACE`, else the
    /// service account's namespace).
    pub namespace: String,
    /// How long a holder's Lease stands without renewal before another
    /// replica may take it.
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// A holder that has not renewed for this long stops acting (shorter
    /// than `duration`: it stops before anyone may take over).
    #[serde(with = "humantime_serde")]
    pub renew_deadline: Duration,
    /// How often each replica tries to take or renew the Lease.
    #[serde(with = "humantime_serde")]
    pub retry_every: Duration,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        Self {
            name: "mcp-autoscaler-leader".to_owned(),
            namespace: String::new(),
            duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_every: Duration::from_secs(2),
        }
    }
}

/// Bounds of `kubernetes.apply.interval`.
pub const APPLY_INTERVALS: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(600));
/// Bounds of `kubernetes.apply.qps`.
pub const QPS_RANGE: (f64, f64) = (0.1, 10_000.0);
/// Most `kubernetes.apply.burst`.
pub const MAX_BURST: u32 = 10_000;
/// Bounds of `kubernetes.apply.lease.duration`.
pub const LEASE_DURATIONS: (Duration, Duration) =
    (Duration::from_secs(2), Duration::from_secs(300));

impl ApplyConfig {
    pub(super) fn validate(&self, discovery: bool) -> Result<(), ConfigError> {
        duration_within("kubernetes.apply.interval", self.interval, APPLY_INTERVALS)?;
        let (lo, hi) = QPS_RANGE;
        if !(self.qps.is_finite() && (lo..=hi).contains(&self.qps)) {
            return Err(ConfigError::invalid(
                "kubernetes.apply.qps",
                format!("is {}, allowed {lo}..={hi}", self.qps),
            ));
        }
        if !(1..=MAX_BURST).contains(&self.burst) {
            return Err(ConfigError::invalid(
                "kubernetes.apply.burst",
                format!("is {}, allowed 1..={MAX_BURST}", self.burst),
            ));
        }
        self.lease.validate()?;
        if self.enabled && !discovery {
            return Err(ConfigError::invalid(
                "kubernetes.apply.enabled",
                "needs kubernetes.discovery.enabled: true (it scales the workloads discovery finds)",
            ));
        }
        Ok(())
    }
}

impl LeaseConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if !crate::id::is_object_name(&self.name) {
            return Err(ConfigError::invalid(
                "kubernetes.apply.lease.name",
                format!(
                    "{:?} is not an object name ({})",
                    self.name.chars().take(64).collect::<String>(),
                    crate::id::OBJECT_NAME_RULE
                ),
            ));
        }
        if !self.namespace.is_empty() {
            Namespace::parse(&self.namespace).map_err(|e| {
                ConfigError::invalid("kubernetes.apply.lease.namespace", e.to_string())
            })?;
        }
        duration_within(
            "kubernetes.apply.lease.duration",
            self.duration,
            LEASE_DURATIONS,
        )?;
        if self.duration.subsec_nanos() != 0 {
            // The Lease stores whole seconds: a holder acting past the
            // stored time would overlap the next holder.
            return Err(ConfigError::invalid(
                "kubernetes.apply.lease.duration",
                format!(
                    "is {}, allowed whole seconds only (a Lease stores leaseDurationSeconds)",
                    show_duration(self.duration)
                ),
            ));
        }
        if !(self.renew_deadline >= Duration::from_secs(1) && self.renew_deadline < self.duration) {
            return Err(ConfigError::invalid(
                "kubernetes.apply.lease.renew_deadline",
                format!(
                    "is {}, allowed from 1s to less than lease.duration ({}): a holder must stop acting before its Lease can be taken",
                    show_duration(self.renew_deadline),
                    show_duration(self.duration)
                ),
            ));
        }
        let most = self.renew_deadline / 2;
        if !(self.retry_every >= Duration::from_millis(100) && self.retry_every <= most) {
            return Err(ConfigError::invalid(
                "kubernetes.apply.lease.retry_every",
                format!(
                    "is {}, allowed 100ms..={} (half of renew_deadline: two tries before a holder stops)",
                    show_duration(self.retry_every),
                    show_duration(most)
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Break = fn(&mut ApplyConfig);

    fn err(c: &ApplyConfig) -> String {
        c.validate(true).expect_err("invalid").to_string()
    }

    #[test]
    fn defaults_are_valid_and_apply_needs_discovery() {
        let mut c = ApplyConfig::default();
        assert!(c.validate(false).is_ok());
        c.enabled = true;
        assert!(c.validate(true).is_ok());
        let e = c.validate(false).expect_err("needs discovery").to_string();
        assert!(e.starts_with("kubernetes.apply.enabled"), "{e}");
    }

    #[test]
    fn each_bound_names_its_field() {
        let cases: [(&str, Break); 9] = [
            ("kubernetes.apply.interval", |c| c.interval = Duration::ZERO),
            ("kubernetes.apply.qps", |c| c.qps = f64::NAN),
            ("kubernetes.apply.burst", |c| c.burst = 0),
            ("kubernetes.apply.lease.name", |c| {
                c.lease.name = "Bad_Name".into()
            }),
            ("kubernetes.apply.lease.namespace", |c| {
                c.lease.namespace = "-x".into()
            }),
            ("kubernetes.apply.lease.duration", |c| {
                c.lease.duration = Duration::from_secs(3600);
            }),
            ("kubernetes.apply.lease.duration", |c| {
                c.lease.duration = Duration::from_millis(2_500);
                c.lease.renew_deadline = Duration::from_millis(2_400);
                c.lease.retry_every = Duration::from_millis(500);
            }),
            ("kubernetes.apply.lease.renew_deadline", |c| {
                c.lease.renew_deadline = c.lease.duration;
            }),
            ("kubernetes.apply.lease.retry_every", |c| {
                c.lease.retry_every = Duration::from_secs(6);
            }),
        ];
        for (field, break_it) in cases {
            let mut c = ApplyConfig::default();
            break_it(&mut c);
            let e = err(&c);
            assert!(e.starts_with(field), "{field}: {e}");
        }
    }
}
