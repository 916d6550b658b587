//! The HTTP side: liveness, readiness, our metrics, and decisions as JSON.
//!
//! `GET /healthz` — the process is up.
//! `GET /readyz` — 200 once sources have delivered their first data (or the
//! start-up deadline passed), and from then on; 503 before.
//! `GET /metrics` — Prometheus text exposition.
//! `GET /v1/...` — the decisions API ([`super::api`]), behind the bearer
//! token when `server.http_auth` is set.

use super::api;
use super::fleet::Fleet;
use super::keda::targets::Targets;
use super::recent::Recent;
use crate::cluster::Inventory;
use crate::config::Config;
use crate::id::ServerKey;
use crate::metadata::Target;
use crate::output::metrics::Metrics;
use crate::source::Store;
use crate::time::Clock;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::BTreeMap;
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
    /// The ScaledObjects KEDA has asked about.
    pub targets: Arc<Targets>,
    /// The bearer token `/v1` asks for, when `server.http_auth` is set.
    pub token: Option<Arc<str>>,
    /// Held while a scrape fills the per-server gauges.
    pub scrape: Arc<std::sync::Mutex<()>>,
    /// Recent decisions, for the live view and the API.
    pub recent: Arc<Recent>,
    /// Apply mode, when it is on.
    pub apply: Option<crate::cluster::apply_run::ApplyView>,
}

impl HttpState {
    /// Whether `server` is known: it has signals, a ScaledObject KEDA asked
    /// about names it, or discovery found its workload.
    pub fn knows(&self, server: &ServerKey) -> bool {
        self.store.contains(server)
            || self.targets.for_server(server).is_some()
            || !self.inventory.hosted(server).is_empty()
    }

    /// The policy `server` is decided under, as in the fleet (its
    /// ScaledObject's with overrides, else its workload's annotation, else
    /// the default). Only its own ScaledObject is looked up.
    pub fn policy_of(&self, server: &ServerKey) -> (String, crate::engine::Policy) {
        let asked: BTreeMap<_, _> = self
            .targets
            .for_server(server)
            .map(|t| (server.clone(), t))
            .into_iter()
            .collect();
        self.fleet(&asked).policy_of(server)
    }

    /// One page of the fleet, decided on a blocking thread (a filtered page
    /// may decide every server before it fills): `None` if that failed.
    pub async fn page(&self, query: super::fleet::FleetQuery) -> Option<super::fleet::Page> {
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            let asked = state.targets.by_server();
            state.fleet(&asked).page(&query)
        })
        .await
        .ok()
    }

    /// The fleet as known now, with `asked` the ScaledObjects' targets by
    /// server (all of them, or only the one a request is about).
    pub fn fleet<'a>(&'a self, asked: &'a BTreeMap<ServerKey, Arc<Target>>) -> Fleet<'a> {
        Fleet {
            store: &self.store,
            inventory: &self.inventory,
            asked,
            config: &self.config,
            now: self.clock.now(),
        }
    }
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
        .merge(api::router(state.clone()))
        .method_not_allowed_fallback(api::method_not_allowed)
        .fallback(api::not_found)
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
    s.metrics
        .sessions_tracked
        .set(i64::try_from(s.store.tracked_sessions()).unwrap_or(i64::MAX));
    // Deciding for every server is CPU work: off the async workers.
    let state = s.clone();
    let encoded = tokio::task::spawn_blocking(move || {
        let _one_scrape_at_a_time = state
            .scrape
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        record_decisions(&state);
        state.metrics.encode()
    })
    .await
    .unwrap_or_default();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        encoded,
    )
        .into_response()
}

/// Sets the per-server decision gauges from every held server's decision
/// now, under its configured policy (see
/// [`super::fleet::Fleet::record_decisions`]).
fn record_decisions(s: &HttpState) {
    s.fleet(&BTreeMap::new()).record_decisions(&s.metrics);
}

/// Samples every server's decision into `state.recent` every `every` until
/// `shutdown`, starting at once. Runs on a thread of its own: a sweep of a
/// large fleet is CPU work.
pub async fn keep_recent(
    state: HttpState,
    every: std::time::Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let asked = state.targets.by_server();
        state.recent.sweep(&state.fleet(&asked));
    }
}
