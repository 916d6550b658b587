//! What the actuators report: apply mode's leadership, sweeps and scale
//! requests, pod deletion-cost patches and the per-pod live-work query.
//! They count into the scaler's metrics through this one seam, as the
//! signal sources do through [`crate::source::Telemetry`].

use crate::output::metrics::Metrics;
use std::sync::Arc;
use std::time::Duration;

/// An actuator's reports.
#[derive(Clone, Default)]
pub struct ActuatorTelemetry(Arc<Metrics>);

impl ActuatorTelemetry {
    /// Reports into the scaler's metrics.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self(metrics)
    }

    /// Whether this replica leads apply mode.
    pub fn leading(&self, leading: bool) {
        self.0.apply_leader.set(i64::from(leading));
    }

    /// An apply sweep took `took`.
    pub fn apply_sweep_took(&self, took: Duration) {
        self.0.apply_sweep_seconds.set(took.as_secs_f64());
    }

    /// A scale request ended: `urgency` (`wake` or `routine`) and `outcome`
    /// (`scaled`, `dry_run` or `failed`).
    pub fn scale_request(&self, urgency: &str, outcome: &str) {
        Metrics::count(&self.0.apply_requests, &format!("{urgency}_{outcome}"));
    }

    /// A pod's deletion cost was `set`, `cleared`, or the patch `failed`.
    pub fn deletion_cost_patch(&self, what: &str) {
        Metrics::count(&self.0.deletion_cost_patches, what);
    }

    /// The per-pod live-work query failed (the last values stay).
    pub fn live_work_query_failed(&self) {
        Metrics::count(&self.0.poll_errors, "pod_live_work");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_report_lands_in_its_series() {
        let metrics = Arc::new(Metrics::default());
        let t = ActuatorTelemetry::new(metrics.clone());
        t.leading(true);
        t.apply_sweep_took(Duration::from_millis(250));
        t.scale_request("wake", "scaled");
        t.deletion_cost_patch("set");
        t.deletion_cost_patch("failed");
        t.live_work_query_failed();
        let text = metrics.encode();
        for line in [
            "mcp_autoscaler_apply_leader 1",
            "mcp_autoscaler_apply_sweep_seconds 0.25",
            "mcp_autoscaler_apply_requests_total{source=\"wake_scaled\"} 1",
            "mcp_autoscaler_deletion_cost_patches_total{source=\"set\"} 1",
            "mcp_autoscaler_deletion_cost_patches_total{source=\"failed\"} 1",
            "mcp_autoscaler_poll_errors_total{source=\"pod_live_work\"} 1",
        ] {
            assert!(text.contains(line), "{line} not in:\n{text}");
        }
    }
}
