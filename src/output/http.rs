//! The HTTP side: liveness, readiness, our metrics, and decisions as JSON.
//!
//! `GET /healthz` — the process is up.
//! `GET /readyz` — 200 once sources have delivered their first data (or the
//! start-up deadline passed), and from then on; 503 before.
//! `GET /metrics` — Prometheus text exposition.
//! `GET /v1/servers/{namespace}/{server}` — the current decision for a
//! server, with reason and per-signal contributions; query `?policy=NAME`
//! picks a policy.

use crate::cluster::{Inventory, WorkloadRef};
use crate::config::Config;
use crate::engine::Decision;
use crate::id::ServerKey;
use crate::output::metrics::Metrics;
use crate::source::Store;
use crate::time::Clock;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct HttpState {
    /// The signal store.
    pub store: Arc<Store>,
    /// Policies.
    pub config: Arc<Config>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Our metrics.
    pub metrics: Arc<Metrics>,
    /// What readiness waits for.
    pub readiness: Readiness,
    /// Discovered workloads (empty without discovery).
    pub inventory: Arc<Inventory>,
}

/// Readiness gates start-up only: ready once every configured source has
/// delivered its first data, or once [`READINESS_DEADLINE`] has passed,
/// whichever comes first, and ready from then on. A source that goes down
/// later shows in `/metrics` and in `UNAVAILABLE` answers, never here: a
/// Service with no ready scaler makes `GetMetricSpec` fail, and then KEDA
/// skips its `fallback` (KEDA.md).
#[derive(Clone, Debug)]
pub struct Readiness {
    /// Set after the first complete Prometheus poll (set at once without Prometheus).
    pub prometheus: Arc<AtomicBool>,
    /// Set once NATS is subscribed / the JetStream replay is applied (at once without NATS).
    pub nats: Arc<AtomicBool>,
    started: std::time::Instant,
    deadline: std::time::Duration,
    latched: Arc<AtomicBool>,
}

/// How long start-up may wait for the sources before the scaler reports
/// ready anyway (and answers `UNAVAILABLE` until they deliver).
pub const READINESS_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

impl Readiness {
    /// Flags for the given sources; an absent source counts as ready.
    pub fn new(prometheus: bool, nats: bool) -> Self {
        Self::with_deadline(prometheus, nats, READINESS_DEADLINE)
    }

    /// [`Readiness::new`] with another start-up deadline.
    pub fn with_deadline(prometheus: bool, nats: bool, deadline: std::time::Duration) -> Self {
        Self {
            prometheus: Arc::new(AtomicBool::new(!prometheus)),
            nats: Arc::new(AtomicBool::new(!nats)),
            started: std::time::Instant::now(),
            deadline,
            latched: Arc::new(AtomicBool::new(false)),
        }
    }

    /// True once every source is ready or the deadline has passed; stays true.
    pub fn is_ready(&self) -> bool {
        if self.latched.load(Ordering::Acquire) {
            return true;
        }
        let ready = self.prometheus.load(Ordering::Acquire) && self.nats.load(Ordering::Acquire)
            || self.started.elapsed() >= self.deadline;
        if ready {
            self.latched.store(true, Ordering::Release);
        }
        ready
    }
}

/// The router for `state`.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/servers/{namespace}/{server}", get(server_decision))
        .route("/v1/servers/{server}", get(namespace_missing))
        .fallback(not_found)
        .with_state(state)
}

async fn readyz(State(s): State<HttpState>) -> Response {
    if s.readiness.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting for the first Prometheus poll and event replay\n",
        )
            .into_response()
    }
}

async fn metrics(State(s): State<HttpState>) -> Response {
    s.metrics
        .servers_known
        .set(i64::try_from(s.store.len()).unwrap_or(i64::MAX));
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
        .into_response()
}

#[derive(Deserialize)]
struct DecisionQuery {
    policy: Option<String>,
}

#[derive(Serialize)]
struct DecisionBody {
    namespace: String,
    server: String,
    policy: String,
    /// The workload's replicas, when discovery knows the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    replicas: Option<ReplicasBody>,
    #[serde(flatten)]
    decision: Decision,
}

#[derive(Serialize)]
struct ReplicasBody {
    /// `spec.replicas`, summed over the server's workloads.
    current: u32,
    /// `status.readyReplicas`, summed likewise.
    ready: u32,
    /// Whether the watch behind these counts is live.
    live: bool,
    /// The workloads hosting the server.
    workloads: Vec<WorkloadRef>,
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
}

fn bad_request(error: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(ErrorBody { error })).into_response()
}

fn not_found_with(error: String) -> Response {
    (StatusCode::NOT_FOUND, Json(ErrorBody { error })).into_response()
}

async fn not_found(uri: axum::http::Uri) -> Response {
    not_found_with(format!(
        "no such path {:?}; see /v1/servers/{{namespace}}/{{server}}, /metrics, /healthz, /readyz",
        uri.path().chars().take(200).collect::<String>()
    ))
}

/// The pre-namespace path: a server is (namespace, name) now.
async fn namespace_missing(Path(server): Path<String>) -> Response {
    not_found_with(format!(
        "a server is identified by namespace and name: use /v1/servers/{{namespace}}/{}",
        server.chars().take(63).collect::<String>()
    ))
}

async fn server_decision(
    State(s): State<HttpState>,
    Path((namespace, server)): Path<(String, String)>,
    Query(q): Query<DecisionQuery>,
) -> Response {
    let server = match ServerKey::parse(&namespace, &server) {
        Ok(server) => server,
        Err(e) => return bad_request(e.to_string()),
    };
    let name = q.policy.unwrap_or_else(|| s.config.default_policy.clone());
    let Some(policy) = s.config.policies.get(&name) else {
        let known: Vec<&str> = s.config.policies.keys().map(String::as_str).collect();
        return bad_request(format!(
            "unknown policy {name:?}; configured: {}",
            known.join(", ")
        ));
    };
    let signals = s.store.signals(&server);
    let decision = crate::engine::decide(&signals, policy, s.clock.now());
    let replicas = signals.replicas.map(|r| ReplicasBody {
        current: r.desired,
        ready: r.ready,
        live: signals.feed.workloads_live,
        workloads: s
            .inventory
            .hosted(&server)
            .into_iter()
            .map(|h| h.workload)
            .collect(),
    });
    Json(DecisionBody {
        namespace: server.namespace.to_string(),
        server: server.server.to_string(),
        policy: name,
        replicas,
        decision,
    })
    .into_response()
}
