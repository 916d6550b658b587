//! What every source is given, and how a source reports what it saw.
//!
//! A source writes signals into the [`Store`] and says what happened
//! through [`Telemetry`] (events applied or dropped, series rejected or
//! gone, queries failed, polls completed), in the source's own words. How
//! that is exported (today the scaler's Prometheus metrics, named in
//! [`crate::output::metrics`]) is not a source's concern.

use super::Store;
use crate::output::metrics::Metrics;
use crate::time::Clock;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// What a source needs from the rest of the scaler.
#[derive(Clone)]
pub struct SourceContext {
    /// Where signals land.
    pub store: Arc<Store>,
    /// Where the source reports what it saw.
    pub telemetry: Telemetry,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Set once the source has delivered its first complete data (it
    /// gates readiness at start-up only).
    pub ready: Arc<AtomicBool>,
}

/// A source's reports.
#[derive(Clone)]
pub struct Telemetry(Arc<Metrics>);

impl Telemetry {
    /// Reports into the scaler's metrics.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self(metrics)
    }

    /// An activity event from `source` reached the store.
    pub fn event_applied(&self, source: &str) {
        Metrics::count(&self.0.events, source);
    }

    /// An event from `source` could not be used (subject, id or payload).
    pub fn event_malformed(&self, source: &str) {
        Metrics::count(&self.0.events_malformed, source);
    }

    /// `n` new servers' data from `source` was refused: the store is full.
    pub fn servers_refused(&self, source: &str, n: usize) {
        Metrics::count_n(&self.0.servers_refused, source, n);
    }

    /// `n` series of `signal` were dropped (bad label or value).
    pub fn series_rejected(&self, signal: &str, n: usize) {
        Metrics::count_n(&self.0.series_rejected, signal, n);
    }

    /// `n` series of `signal` vanished while busy (held as missing data).
    pub fn series_absent(&self, signal: &str, n: usize) {
        Metrics::count_n(&self.0.series_absent, signal, n);
    }

    /// A query for `what` (a signal, or `replicas`) failed.
    pub fn query_failed(&self, what: &str) {
        Metrics::count(&self.0.poll_errors, what);
    }

    /// A poll of the whole fleet completed.
    pub fn poll_completed(&self) {
        self.0.polls.inc();
    }

    /// A Kubernetes watch of `kind` failed (it restarts with a backoff).
    pub fn watch_failed(&self, kind: &str) {
        Metrics::count(&self.0.watch_errors, kind);
    }

    /// Discovery now knows `n` workloads.
    pub fn workloads_known(&self, n: usize) {
        self.0
            .workloads_known
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
}

impl Default for Telemetry {
    /// Reports into metrics of its own (tests).
    fn default() -> Self {
        Self::new(Arc::default())
    }
}
