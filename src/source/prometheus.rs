//! The Prometheus source: one grouped instant query per signal per tick.
//!
//! Each query returns a series per server (`sum by (namespace, server)
//! (...)`), so the number of queries per tick is the number of signals,
//! whatever the size of the fleet. Server ids never go into PromQL: label
//! values coming back are validated as [`ServerKey`]s (namespace and name)
//! and anything else is dropped and counted.
//! A failed query leaves that signal's last good values in the store; the
//! fleet's poll time only advances when every query of a tick succeeded, so
//! the engine sees exactly how old the data is.

use crate::config::PrometheusConfig;
use crate::id::ServerKey;
use crate::signal::SignalKind;
use crate::source::SourceContext;
use crate::time::Timestamp;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Errors of the Prometheus source.
#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    /// The HTTP client could not be built (bad CA file, bad header).
    #[error("prometheus client set-up: {0}")]
    Setup(String),
    /// A credential could not be read.
    #[error("prometheus credentials: {0}")]
    Credentials(String),
    /// The query failed (network, HTTP status, Prometheus error, bad JSON).
    #[error("query failed: {0}")]
    Query(String),
    /// The query returned something other than an instant vector.
    #[error("query returned {0}, expected an instant vector")]
    NotAVector(&'static str),
}

/// One series of a grouped query result.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series' labels.
    pub labels: HashMap<String, String>,
    /// Its value.
    pub value: f64,
    /// Evaluation time (Prometheus' clock).
    pub at: Timestamp,
}

/// Runs instant queries: the seam between the poll loop and HTTP.
pub trait Querier: Send + Sync + 'static {
    /// Evaluates `promql` now, or as of `at` (whole seconds; the start-up
    /// backfill).
    fn instant(
        &self,
        promql: String,
        at: Option<Timestamp>,
    ) -> BoxFuture<'_, Result<Vec<Series>, PrometheusError>>;
}

/// The poller.
pub struct PrometheusSource<Q> {
    querier: Q,
    queries: Vec<(SignalKind, String)>,
    /// The replica-count query, if configured.
    replicas: Option<String>,
    labels: KeyLabels,
    interval: Duration,
    /// How much recent history the start-up backfill re-polls.
    backfill: Duration,
    ctx: SourceContext,
    /// The next complete poll wakes every watcher: set at first and after
    /// a failed query (see [`Store::finish_poll`]).
    resync: AtomicBool,
}

/// What one tick achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollOutcome {
    /// Queries sent.
    pub queries: usize,
    /// Queries that failed.
    pub failed: usize,
    /// Servers with at least one value.
    pub servers: usize,
    /// Series dropped for a missing or invalid server label or a bad value.
    pub rejected: usize,
    /// Series that vanished while busy (held as missing data).
    pub absent: usize,
}

impl<Q: Querier> PrometheusSource<Q> {
    /// A poller for `config`; `ready` is set after the first complete poll.
    pub fn new(querier: Q, config: &PrometheusConfig, ctx: SourceContext) -> Self {
        Self {
            querier,
            queries: render_queries(config),
            replicas: Some(render(&config.queries.replicas, config))
                .filter(|q| !q.trim().is_empty()),
            labels: KeyLabels::of(config),
            interval: config.interval,
            backfill: config.backfill,
            ctx,
            resync: AtomicBool::new(true),
        }
    }

    /// Polls every `interval` until `shutdown` (the first poll at once).
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let outcome = self.poll_once().await;
            tracing::debug!(?outcome, "prometheus poll");
        }
    }

    /// One tick: every query concurrently, then the store updated.
    pub async fn poll_once(&self) -> PollOutcome {
        let started = self.ctx.clock.now();
        let outcome = self.poll(PollTime::Now(started)).await;
        if outcome.failed == 0 {
            let resync = self.resync.swap(false, Ordering::AcqRel);
            self.ctx.store.finish_poll(started, resync);
            self.ctx.telemetry.poll_completed();
            self.ctx.ready.store(true, Ordering::Release);
        }
        outcome
    }

    /// Every query concurrently, now or `as_of` a past time (the
    /// backfill), and the store updated with each answer and the replica
    /// query's; the caller finishes the poll when none failed.
    async fn poll(&self, when: PollTime) -> PollOutcome {
        let answers = futures::future::join_all(self.queries.iter().map(|(kind, q)| async move {
            (*kind, self.querier.instant(q.clone(), when.as_of()).await)
        }))
        .await;
        let mut outcome = PollOutcome {
            queries: answers.len(),
            failed: 0,
            servers: 0,
            rejected: 0,
            absent: 0,
        };
        let mut seen = std::collections::HashSet::new();
        let mut failures: Vec<(&'static str, PrometheusError)> = Vec::new();
        for (kind, answer) in answers {
            match answer {
                Ok(series) => {
                    let (values, rejected) = server_values(&series, &self.labels);
                    outcome.rejected += rejected;
                    self.ctx.telemetry.series_rejected(kind.name(), rejected);
                    seen.extend(values.iter().map(|(id, _)| id.clone()));
                    let at = series.first().map_or(when.at(), |s| s.at);
                    let applied = self.ctx.store.apply_poll(kind, &values, at);
                    outcome.absent += applied.absent;
                    self.ctx
                        .telemetry
                        .series_absent(kind.name(), applied.absent);
                    self.ctx
                        .telemetry
                        .servers_refused("prometheus", applied.refused);
                }
                Err(e) => {
                    outcome.failed += 1;
                    self.resync.store(true, Ordering::Release);
                    self.ctx.telemetry.query_failed(kind.name());
                    failures.push((kind.name(), e));
                }
            }
        }
        log_failures(&failures, outcome.queries);
        outcome.servers = seen.len();
        self.apply_replicas_as_of(when.as_of()).await;
        outcome
    }
}
/// One warning for a poll's failed queries (not one per query): which
/// signals, and the first error (the others are usually the same).
fn log_failures(failures: &[(&'static str, PrometheusError)], queries: usize) {
    let Some((_, first)) = failures.first() else {
        return;
    };
    let signals: Vec<&str> = failures.iter().map(|(name, _)| *name).collect();
    tracing::warn!(
        failed = failures.len(),
        of = queries,
        signals = %signals.join(","),
        error = %first,
        "prometheus queries failed; keeping the last good values"
    );
}

impl<Q: Querier> PrometheusSource<Q> {
    /// Servers the replica query reports at 0 replicas are known to have
    /// none: their vanished series are zero, not missing data. A failure
    /// here is counted and logged, and changes nothing else.
    /// Now, or as of `at` (the backfill).
    async fn apply_replicas_as_of(&self, at: Option<Timestamp>) {
        let Some(query) = &self.replicas else {
            return;
        };
        match self.querier.instant(query.clone(), at).await {
            Ok(series) => {
                let (values, _) = server_values(&series, &self.labels);
                for (server, _) in values.iter().filter(|(_, v)| *v == 0.0) {
                    self.ctx.store.known_empty(server);
                }
            }
            Err(e) => {
                self.ctx.telemetry.query_failed("replicas");
                tracing::warn!(error = %e, "prometheus replicas query failed; held data stays held");
            }
        }
    }
}

/// When a poll asks: now (at the time it started), or as of a past time
/// (the backfill).
#[derive(Debug, Clone, Copy)]
enum PollTime {
    Now(Timestamp),
    Past(Timestamp),
}

impl PollTime {
    /// The time its answers stand for when they carry none.
    fn at(self) -> Timestamp {
        match self {
            Self::Now(at) | Self::Past(at) => at,
        }
    }

    /// The time to evaluate as of: none for now.
    fn as_of(self) -> Option<Timestamp> {
        match self {
            Self::Now(_) => None,
            Self::Past(at) => Some(at),
        }
    }
}

/// The label names that identify a server in a series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLabels {
    /// The namespace label (`namespace`).
    pub namespace: String,
    /// The server label (`server`).
    pub server: String,
}

impl KeyLabels {
    /// The labels `config` names.
    pub fn of(config: &PrometheusConfig) -> Self {
        Self {
            namespace: config.namespace_label.clone(),
            server: config.server_label.clone(),
        }
    }

    /// The server a series belongs to, if both labels are present and valid.
    pub fn key(&self, labels: &HashMap<String, String>) -> Option<ServerKey> {
        let namespace = labels.get(&self.namespace)?;
        let server = labels.get(&self.server)?;
        ServerKey::parse(namespace, server).ok()
    }
}

/// The configured templates with `{by}`, `{label}` and `{namespace_label}`
/// filled in; empty ones skipped.
pub fn render_queries(config: &PrometheusConfig) -> Vec<(SignalKind, String)> {
    SignalKind::ALL
        .into_iter()
        .map(|k| (k, config.queries.get(k)))
        .filter(|(_, t)| !t.trim().is_empty())
        .map(|(k, t)| (k, render(t, config)))
        .collect()
}

/// `template` with `{by}`, `{label}` and `{namespace_label}` filled in.
pub fn render(template: &str, config: &PrometheusConfig) -> String {
    config.fill(template)
}

/// Valid (server, value) pairs of a result, and how many series were dropped.
/// Duplicate servers (an ungrouped query) keep the largest value. A NaN
/// value is kept (as NaN) when the server has no other: the series is
/// there without a value (`histogram_quantile` or an error ratio over no
/// requests), which is not the same as a series that vanished.
pub fn server_values(series: &[Series], labels: &KeyLabels) -> (Vec<(ServerKey, f64)>, usize) {
    let mut best: HashMap<ServerKey, f64> = HashMap::new();
    let mut rejected = 0;
    for s in series {
        let id = labels.key(&s.labels);
        match id {
            // NaN from 0/0 (an error ratio or a quantile over no requests)
            // means "no value", not an error; `max` prefers any number to it.
            Some(id) if s.value.is_nan() || (s.value.is_finite() && s.value >= 0.0) => {
                let slot = best.entry(id).or_insert(s.value);
                *slot = slot.max(s.value);
            }
            _ => rejected += 1,
        }
    }
    let mut values: Vec<(ServerKey, f64)> = best.into_iter().collect();
    values.sort_by(|a, b| a.0.cmp(&b.0));
    (values, rejected)
}

#[path = "prometheus_backfill.rs"]
mod backfill;
#[path = "prometheus_http.rs"]
mod http;
pub use http::HttpQuerier;
#[cfg(test)]
use http::read_secret;

#[cfg(test)]
#[path = "prometheus_tests.rs"]
mod tests;
