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

use crate::config::{PrometheusAuth, PrometheusConfig};
use crate::id::ServerKey;
use crate::output::metrics::Metrics;
use crate::signal::SignalKind;
use crate::source::Store;
use crate::time::{Clock, Timestamp};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Arc;
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
    /// Evaluates `promql` now.
    fn instant(&self, promql: String) -> BoxFuture<'_, Result<Vec<Series>, PrometheusError>>;
}

/// The poller.
pub struct PrometheusSource<Q> {
    querier: Q,
    queries: Vec<(SignalKind, String)>,
    labels: KeyLabels,
    interval: Duration,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    ready: Arc<AtomicBool>,
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
    pub fn new(
        querier: Q,
        config: &PrometheusConfig,
        store: Arc<Store>,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
        ready: Arc<AtomicBool>,
    ) -> Self {
        Self {
            querier,
            queries: render_queries(config),
            labels: KeyLabels::of(config),
            interval: config.interval,
            store,
            metrics,
            clock,
            ready,
            resync: AtomicBool::new(true),
        }
    }

    /// Polls every `interval` until `shutdown`.
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
        let started = self.clock.now();
        let answers = futures::future::join_all(
            self.queries
                .iter()
                .map(|(kind, q)| async move { (*kind, self.querier.instant(q.clone()).await) }),
        )
        .await;
        let mut outcome = PollOutcome {
            queries: answers.len(),
            failed: 0,
            servers: 0,
            rejected: 0,
            absent: 0,
        };
        let mut seen = std::collections::HashSet::new();
        for (kind, answer) in answers {
            match answer {
                Ok(series) => {
                    let (values, rejected) = server_values(&series, &self.labels);
                    outcome.rejected += rejected;
                    Metrics::count_n(&self.metrics.series_rejected, kind.name(), rejected);
                    seen.extend(values.iter().map(|(id, _)| id.clone()));
                    let at = series.first().map_or(started, |s| s.at);
                    let applied = self.store.apply_poll(kind, &values, at);
                    outcome.absent += applied.absent;
                    Metrics::count_n(&self.metrics.series_absent, kind.name(), applied.absent);
                    Metrics::count_n(&self.metrics.servers_refused, "prometheus", applied.refused);
                }
                Err(e) => {
                    outcome.failed += 1;
                    self.resync.store(true, Ordering::Release);
                    Metrics::count(&self.metrics.poll_errors, kind.name());
                    tracing::warn!(signal = kind.name(), error = %e, "prometheus query failed; keeping the last good values");
                }
            }
        }
        outcome.servers = seen.len();
        if outcome.failed == 0 {
            let resync = self.resync.swap(false, Ordering::AcqRel);
            self.store.finish_poll(started, resync);
            self.metrics.polls.inc();
            self.ready.store(true, Ordering::Release);
        }
        outcome
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
    fn key(&self, labels: &HashMap<String, String>) -> Option<ServerKey> {
        let namespace = labels.get(&self.namespace)?;
        let server = labels.get(&self.server)?;
        ServerKey::parse(namespace, server).ok()
    }
}

/// The configured templates with `{by}`, `{label}` and `{namespace_label}`
/// filled in; empty ones skipped.
pub fn render_queries(config: &PrometheusConfig) -> Vec<(SignalKind, String)> {
    let q = &config.queries;
    [
        (SignalKind::Connections, &q.connections),
        (SignalKind::Sessions, &q.sessions),
        (SignalKind::QueueLength, &q.queue_length),
        (SignalKind::RequestRate, &q.request_rate),
        (SignalKind::ErrorRate, &q.error_rate),
        (SignalKind::LatencyP95, &q.latency_p95),
    ]
    .into_iter()
    .filter(|(_, t)| !t.trim().is_empty())
    .map(|(k, t)| (k, render(t, config)))
    .collect()
}

fn render(template: &str, config: &PrometheusConfig) -> String {
    let by = format!("{}, {}", config.namespace_label, config.server_label);
    template
        .replace("{by}", &by)
        .replace("{namespace_label}", &config.namespace_label)
        .replace("{label}", &config.server_label)
}

/// Valid (server, value) pairs of a result, and how many series were dropped.
/// Duplicate servers (an ungrouped query) keep the largest value.
pub fn server_values(series: &[Series], labels: &KeyLabels) -> (Vec<(ServerKey, f64)>, usize) {
    let mut best: HashMap<ServerKey, f64> = HashMap::new();
    let mut rejected = 0;
    for s in series {
        let id = labels.key(&s.labels);
        match id {
            Some(id) if s.value.is_finite() && s.value >= 0.0 => {
                let slot = best.entry(id).or_insert(s.value);
                *slot = slot.max(s.value);
            }
            // NaN from 0/0 (an error ratio with no requests) means "no data", not an error.
            Some(_) if s.value.is_nan() => {}
            _ => rejected += 1,
        }
    }
    let mut values: Vec<(ServerKey, f64)> = best.into_iter().collect();
    values.sort_by(|a, b| a.0.cmp(&b.0));
    (values, rejected)
}

/// The real [`Querier`]: Prometheus' HTTP API through prometheus-http-query.
pub struct HttpQuerier {
    client: prometheus_http_query::Client,
    timeout: Duration,
    auth: Option<PrometheusAuth>,
}

impl HttpQuerier {
    /// Builds the HTTP client (headers, CA, TLS verification) for `config`.
    pub fn new(config: &PrometheusConfig) -> Result<Self, PrometheusError> {
        let setup = |e: &dyn std::fmt::Display| PrometheusError::Setup(e.to_string());
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &config.headers {
            let name =
                reqwest::header::HeaderName::try_from(name.as_str()).map_err(|e| setup(&e))?;
            let mut value =
                reqwest::header::HeaderValue::try_from(value.as_str()).map_err(|e| setup(&e))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.timeout);
        if let Some(ca) = &config.tls.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| setup(&format!("prometheus.tls.ca_file {}: {e}", ca.display())))?;
            builder = builder
                .add_root_certificate(reqwest::Certificate::from_pem(&pem).map_err(|e| setup(&e))?);
        }
        if config.tls.insecure_skip_verify {
            tracing::warn!(
                "prometheus.tls.insecure_skip_verify is on: the server certificate is not checked"
            );
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder.build().map_err(|e| setup(&e))?;
        let client =
            prometheus_http_query::Client::from(http, &config.url).map_err(|e| setup(&e))?;
        let querier = Self {
            client,
            timeout: config.timeout,
            auth: config.auth.clone(),
        };
        querier.authorization()?;
        Ok(querier)
    }

    /// The Authorization header, read fresh each time so rotated tokens work.
    fn authorization(&self) -> Result<Option<reqwest::header::HeaderValue>, PrometheusError> {
        use base64::Engine;
        let text = match &self.auth {
            None => return Ok(None),
            Some(PrometheusAuth::Bearer {
                token_file,
                token_env,
            }) => {
                format!(
                    "Bearer {}",
                    read_secret(token_file.as_deref(), token_env.as_deref())?
                )
            }
            Some(PrometheusAuth::Basic {
                username,
                password_file,
                password_env,
            }) => {
                let password = read_secret(password_file.as_deref(), password_env.as_deref())?;
                let encoded = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                format!("Basic {encoded}")
            }
        };
        let mut value = reqwest::header::HeaderValue::try_from(text).map_err(|_| {
            PrometheusError::Credentials("the secret is not a valid header value".into())
        })?;
        value.set_sensitive(true);
        Ok(Some(value))
    }
}

/// Reads a secret from a file or an environment variable, trimmed. The
/// error names where it looked, never the secret.
fn read_secret(
    file: Option<&std::path::Path>,
    env: Option<&str>,
) -> Result<String, PrometheusError> {
    let secret = match (file, env) {
        (Some(path), _) => std::fs::read_to_string(path).map_err(|e| {
            PrometheusError::Credentials(format!("cannot read {}: {e}", path.display()))
        })?,
        (None, Some(var)) => std::env::var(var).map_err(|_| {
            PrometheusError::Credentials(format!("environment variable {var} is not set"))
        })?,
        (None, None) => {
            return Err(PrometheusError::Credentials(
                "no secret source configured".into(),
            ));
        }
    };
    Ok(secret.trim().to_owned())
}

impl Querier for HttpQuerier {
    fn instant(&self, promql: String) -> BoxFuture<'_, Result<Vec<Series>, PrometheusError>> {
        Box::pin(async move {
            let millis = i64::try_from(self.timeout.as_millis()).unwrap_or(i64::MAX);
            let mut query = self.client.query(promql).timeout(millis);
            if let Some(auth) = self.authorization()? {
                query = query.header(reqwest::header::AUTHORIZATION, auth);
            }
            let result = query
                .get()
                .await
                .map_err(|e| PrometheusError::Query(e.to_string()))?;
            match result.into_inner().0 {
                prometheus_http_query::response::Data::Vector(v) => Ok(v
                    .into_iter()
                    .map(|iv| {
                        let (labels, sample) = iv.into_inner();
                        Series {
                            labels,
                            value: sample.value(),
                            at: seconds_to_timestamp(sample.timestamp()),
                        }
                    })
                    .collect()),
                prometheus_http_query::response::Data::Matrix(_) => {
                    Err(PrometheusError::NotAVector("a range vector"))
                }
                prometheus_http_query::response::Data::Scalar(_) => {
                    Err(PrometheusError::NotAVector("a scalar"))
                }
            }
        })
    }
}

fn seconds_to_timestamp(secs: f64) -> Timestamp {
    if secs.is_finite() && secs > 0.0 {
        Timestamp::from_millis((secs * 1000.0) as u64)
    } else {
        Timestamp::default()
    }
}

#[cfg(test)]
#[path = "prometheus_tests.rs"]
mod tests;
