//! The `serve` subcommand: wires the store, sources and both servers.
//!
//! [`App::run`] takes its listeners and a shutdown token as arguments (tests bind
//! `127.0.0.1:0` and cancel the token themselves); `main` only binds the
//! configured addresses and turns SIGTERM/SIGINT into a cancellation.

use crate::cluster::apply::ApplyParts;
use crate::cluster::apply_run::{self, ApplyError, Started};
use crate::cluster::pods::Pods;
use crate::cluster::scale_in::{LiveWorkQuery, ScaleIn};
use crate::cluster::telemetry::ActuatorTelemetry;
use crate::cluster::{self, Inventory, discovery};
use crate::config::Config;
use crate::id::ServerKey;
use crate::output::http::{self, HttpState, Readiness};
use crate::output::keda::Scaler;
use crate::output::metrics::Metrics;
use crate::output::recent::{self, Recent};
use crate::output::tls::{self, TlsError};
use crate::proto::external_scaler_server::ExternalScalerServer;
use crate::redact::redact_url;
use crate::source::nats::{self, NatsError, NatsSource};
use crate::source::prometheus::{self, HttpQuerier, KeyLabels, PrometheusError, PrometheusSource};
use crate::source::sessions::FORGET_AFTER;
use crate::source::{SourceContext, Store, Telemetry};
use crate::threads;
use crate::time::Clock;
use axum::serve::ListenerExt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// TLS files could not be read.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The gRPC transport failed (bad TLS material, listener error).
    #[error("gRPC server: {0}")]
    Grpc(#[from] tonic::transport::Error),
    /// The reflection service could not be built.
    #[error("gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The Prometheus source could not be set up.
    #[error(transparent)]
    Prometheus(#[from] PrometheusError),
    /// The NATS source could not be set up.
    #[error(transparent)]
    Nats(#[from] NatsError),
    /// Apply mode could not start.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// No Kubernetes client could be built (no kubeconfig, not in a pod).
    #[error("kubernetes client (discovery is on): {0}")]
    Kubernetes(#[from] kube::Error),
    /// The HTTP API's token could not be read.
    #[error("{0}")]
    Auth(String),
    /// The HTTP server failed.
    #[error("HTTP server: {0}")]
    Http(#[source] std::io::Error),
    /// A source's thread or runtime could not be started.
    #[error("starting the {name} thread: {source}")]
    Thread {
        /// Which thread.
        name: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// How long shutdown waits for apply mode to release its Lease.
const LEASE_RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// The two listening sockets.
pub struct Listeners {
    /// For the KEDA gRPC service (+ health, reflection).
    pub grpc: TcpListener,
    /// For health, readiness, metrics and the decisions API.
    pub http: TcpListener,
}

/// Everything `serve` runs, built before any socket is served so that
/// tests (and sources) can hold the store.
pub struct App {
    config: Arc<Config>,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    readiness: Readiness,
    inventory: Arc<Inventory>,
    pods: Arc<Pods>,
    kube_client: Option<kube::Client>,
    recent: Arc<Recent>,
    sample_every: Duration,
}

impl App {
    /// Builds the store and metrics for a validated `config`.
    pub fn new(config: Config, clock: Arc<dyn Clock>) -> Self {
        tls::install_crypto_provider();
        let store = Arc::new(
            Store::with_sources(config.prometheus.is_some(), config.nats.is_some())
                .with_max_servers(config.server.max_servers)
                .with_session_forget_after(
                    config
                        .nats
                        .as_ref()
                        .map_or(FORGET_AFTER, |n| n.session_forget_after),
                ),
        );
        Self {
            store,
            metrics: Arc::new(Metrics::default()),
            clock,
            readiness: Readiness::new(config.prometheus.is_some(), config.nats.is_some()),
            inventory: Arc::new(Inventory::new(config.server.max_servers)),
            pods: Arc::default(),
            kube_client: None,
            recent: Arc::default(),
            sample_every: recent::SAMPLE_EVERY,
            config: Arc::new(config),
        }
    }

    /// Uses `client` for the Kubernetes API instead of the kubeconfig or
    /// service account (tests point it at a mock).
    pub fn with_kube_client(mut self, client: kube::Client) -> Self {
        self.kube_client = Some(client);
        self
    }

    /// Samples the fleet's decisions for the live view every `every`
    /// instead of [`recent::SAMPLE_EVERY`] (tests).
    pub fn with_sample_every(mut self, every: Duration) -> Self {
        self.sample_every = every;
        self
    }

    /// The workloads discovery has found.
    pub fn inventory(&self) -> Arc<Inventory> {
        self.inventory.clone()
    }

    /// The signal store the sources write and the handlers read.
    pub fn store(&self) -> Arc<Store> {
        self.store.clone()
    }

    /// Readiness flags (for tests and probes).
    pub fn readiness(&self) -> Readiness {
        self.readiness.clone()
    }

    /// What a source is given; `ready` is its start-up flag.
    fn source_context(&self, ready: &Arc<AtomicBool>) -> SourceContext {
        SourceContext {
            store: self.store.clone(),
            telemetry: Telemetry::new(self.metrics.clone()),
            clock: self.clock.clone(),
            ready: ready.clone(),
        }
    }

    /// Starts the configured sources (and apply mode, which acts on them);
    /// they stop with `shutdown`.
    async fn start_sources(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<Option<Started>, ServeError> {
        let (wake_tx, wake_rx) = if self.config.kubernetes.apply.enabled {
            let (tx, rx) = tokio::sync::mpsc::channel(apply_run::WAKE_QUEUE);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let history_ready = CancellationToken::new();
        if let Some(p) = &self.config.prometheus {
            let querier = HttpQuerier::new(p)?;
            let source =
                PrometheusSource::new(querier, p, self.source_context(&self.readiness.prometheus));
            tracing::info!(url = %redact_url(&p.url), interval = ?p.interval, "prometheus source on");
            // The recent past first, then the live polls; events wait for
            // the past (history is written in time order). A tick parses
            // every sample of the fleet (60,000 for 10,000 servers): on its
            // own thread and runtime, that burst never occupies a worker
            // the gRPC calls are waiting for.
            let (stop, backfilled, window) = (shutdown.clone(), history_ready.clone(), p.backfill);
            let polls = async move {
                tokio::select! {
                    () = stop.cancelled() => return,
                    replayed = source.backfill() => {
                        tracing::info!(polls = replayed, ?window, "prometheus history backfilled");
                    }
                }
                backfilled.cancel();
                source.run(stop).await;
            };
            threads::run_on_own_thread("prometheus-poll", polls).map_err(|source| {
                ServeError::Thread {
                    name: "prometheus-poll",
                    source,
                }
            })?;
        } else {
            history_ready.cancel();
        }
        if let Some(n) = &self.config.nats {
            let client = nats::connect(n).await?;
            let source = NatsSource::new(n.clone(), self.source_context(&self.readiness.nats))
                .with_pod_work(self.pods.clone())
                .after(history_ready.clone());
            let source = match wake_tx {
                Some(tx) => source.with_wakes(tx),
                None => source,
            };
            tracing::info!(url = %redact_url(&n.url), jetstream = n.jetstream.is_some(), "nats source on");
            tokio::spawn(source.run(client, shutdown.clone()));
        }
        self.start_discovery(shutdown, wake_rx, history_ready).await
    }

    /// Starts workload discovery when `kubernetes.discovery.enabled`, and
    /// what builds on it (deletion cost, apply mode).
    async fn start_discovery(
        &self,
        shutdown: &CancellationToken,
        wakes: Option<tokio::sync::mpsc::Receiver<ServerKey>>,
        history_ready: CancellationToken,
    ) -> Result<Option<Started>, ServeError> {
        let k = &self.config.kubernetes;
        if !k.discovery.enabled {
            return Ok(None);
        }
        let client = match &self.kube_client {
            Some(c) => c.clone(),
            None => cluster::client().await?,
        };
        let shared = discovery::Shared::new(
            self.inventory.clone(),
            self.pods.clone(),
            self.store.clone(),
            Telemetry::new(self.metrics.clone()),
            self.clock.clone(),
            k,
        );
        tracing::info!(label = %k.discovery.label, namespaces = ?k.discovery.namespaces, "kubernetes discovery on");
        let config = k.clone();
        let stop = shutdown.clone();
        let watches = client.clone();
        tokio::spawn(async move { discovery::run(watches, config, shared, stop).await });
        if k.deletion_cost.enabled {
            let live_work = self.live_work_query()?;
            tracing::info!(interval = ?k.deletion_cost.interval, per_pod_query = live_work.is_some(), "session-aware scale-in on (pod-deletion-cost)");
            let scale_in = ScaleIn::new(
                client.clone(),
                self.inventory.clone(),
                self.pods.clone(),
                self.store.clone(),
                self.config.clone(),
                self.clock.clone(),
                ActuatorTelemetry::new(self.metrics.clone()),
                live_work,
            );
            // Its live-work floor writes history at now: after the
            // backfill, which writes the past in time order.
            let stop = shutdown.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = history_ready.cancelled() => {}
                }
                scale_in.run(stop).await;
            });
        }
        let Some(wakes) = wakes else {
            return Ok(None);
        };
        let parts = ApplyParts {
            client,
            inventory: self.inventory.clone(),
            store: self.store.clone(),
            config: self.config.clone(),
            clock: self.clock.clone(),
            telemetry: ActuatorTelemetry::new(self.metrics.clone()),
            pods: self
                .config
                .kubernetes
                .deletion_cost
                .enabled
                .then(|| self.pods.clone()),
        };
        Ok(Some(apply_run::start(parts, wakes, shutdown)?))
    }

    /// The per-pod live-work query, when Prometheus and the query are set.
    fn live_work_query(&self) -> Result<Option<LiveWorkQuery>, ServeError> {
        let Some(p) = &self.config.prometheus else {
            return Ok(None);
        };
        if p.queries.pod_live_work.trim().is_empty() {
            return Ok(None);
        }
        Ok(Some(LiveWorkQuery {
            querier: Arc::new(HttpQuerier::new(p)?),
            promql: prometheus::render(&p.queries.pod_live_work, p),
            labels: KeyLabels::of(p),
        }))
    }

    /// Serves until `shutdown` is cancelled, then closes open streams and
    /// drains in-flight calls.
    pub async fn run(
        self,
        listeners: Listeners,
        shutdown: CancellationToken,
    ) -> Result<(), ServeError> {
        let token = match &self.config.server.http_auth {
            Some(auth) => Some(Arc::from(auth.read_token().map_err(ServeError::Auth)?)),
            None => None,
        };
        let (apply, released) = match self.start_sources(&shutdown).await? {
            Some(started) => (Some(started.view), Some(started.released)),
            None => (None, None),
        };
        let grpc_addr = listeners.grpc.local_addr().map_err(ServeError::Http)?;
        let http_addr = listeners.http.local_addr().map_err(ServeError::Http)?;
        tracing::info!(grpc = %grpc_addr, http = %http_addr, tls = self.config.server.tls.is_some(), "serving");
        let scaler = Scaler::new(
            self.store.clone(),
            self.config.clone(),
            self.clock.clone(),
            self.metrics.clone(),
            shutdown.clone(),
        );
        let state = HttpState {
            store: self.store,
            config: self.config.clone(),
            clock: self.clock,
            metrics: self.metrics,
            readiness: self.readiness,
            inventory: self.inventory,
            targets: scaler.targets(),
            token,
            scrape: Arc::default(),
            recent: self.recent,
            apply,
        };
        let sampler = http::keep_recent(state.clone(), self.sample_every, shutdown.clone());
        threads::run_on_own_thread("recent-decisions", sampler).map_err(|source| {
            ServeError::Thread {
                name: "recent-decisions",
                source,
            }
        })?;
        let grpc = serve_grpc(&self.config, scaler, listeners.grpc, shutdown.clone());
        let http = async {
            // Small JSON answers go out at once, not after Nagle's delay.
            let listener = listeners.http.tap_io(|tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "TCP_NODELAY not set");
                }
            });
            axum::serve(listener, http::router(state))
                .with_graceful_shutdown(shutdown.clone().cancelled_owned())
                .await
                .map_err(ServeError::Http)
        };
        tokio::try_join!(grpc, http)?;
        if let Some(released) = released {
            // The Lease goes back before the process ends, so the next
            // replica takes it at once instead of after its duration.
            let _ = tokio::time::timeout(LEASE_RELEASE_TIMEOUT, released).await;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

async fn serve_grpc(
    config: &Config,
    scaler: Scaler,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<ExternalScalerServer<Scaler>>().await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let mut builder = Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(20)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .tcp_nodelay(true)
        // KEDA multiplexes every ScaledObject over one connection and reopens
        // all StreamIsActive streams at once after a restart. h2 guards
        // against floods of small unread DATA frames with a budget of half
        // the connection window; a 16 MiB window keeps a reconnect storm of
        // tens of thousands of tiny requests inside it.
        .initial_connection_window_size(Some(16 << 20))
        // Left unset, tonic sets no per-connection limit at all (it lifts
        // hyper's default of 200, which would stall KEDA's one connection).
        // The default `server.max_streams_per_connection` is above
        // `server.max_streams`, so unary calls still get through on that
        // connection while every stream is open.
        .max_concurrent_streams(Some(config.server.http2_max_concurrent_streams()));
    if let Some(tls_config) = &config.server.tls {
        builder = builder.tls_config(tls::server_tls(tls_config)?)?;
    }
    let stopping = async move {
        shutdown.cancelled().await;
        health
            .set_not_serving::<ExternalScalerServer<Scaler>>()
            .await;
        tracing::info!("shutting down: closing streams and draining calls");
    };
    builder
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(ExternalScalerServer::new(scaler))
        .serve_with_incoming_shutdown(
            // The builder's `tcp_nodelay` only applies to listeners tonic
            // binds itself: set it on ours, or Nagle holds small answers
            // back until the client's delayed ACK (up to 40 ms).
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            stopping,
        )
        .await?;
    Ok(())
}
