//! The NATS source: activity events pushed into the store the moment they
//! arrive (no tick), which wakes that server's `StreamIsActive` streams.
//!
//! Core mode subscribes to `<prefix>.>`; events published while the scaler
//! is disconnected are lost. JetStream mode reads the stream through an
//! ordered consumer of its own (so every replica sees every event), starts
//! `replay_window` back (so a restarted scaler recovers recent activity),
//! and after any interruption resumes from the last stream sequence it
//! applied, so nothing published meanwhile is skipped.

use super::event;
use crate::cluster::pods::Pods;
use crate::config::{JetStreamConfig, NatsAuth, NatsConfig};
use crate::signal::EventKind;
use crate::source::SourceContext;
use crate::time::{Backoff, Timestamp};
use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Errors of the NATS source.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// Credentials could not be read.
    #[error("nats credentials: {0}")]
    Credentials(String),
    /// Connecting, subscribing or a JetStream call failed.
    #[error("nats: {0}")]
    Nats(String),
}

/// How often the connection state is checked.
const CONNECTION_CHECK: Duration = Duration::from_millis(250);

/// The consumer's retry waits: 200 ms doubling to 10 s, starting over
/// after a run that went live and lasted 10 s.
const BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(200),
    max: Duration::from_secs(10),
    stayed_up: Duration::from_secs(10),
};

fn nats_err(e: impl std::fmt::Display) -> NatsError {
    NatsError::Nats(crate::redact::redact_url(&e.to_string()))
}

/// How long the server may take to echo the subscription probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Waits until the server has processed this connection's subscriptions.
/// `flush` only writes to the socket; a message to a fresh inbox coming
/// back proves the server read everything sent before it (it handles a
/// connection's operations in order), so events published by others from
/// now on reach us.
async fn confirm_subscribed(client: &async_nats::Client) -> Result<(), NatsError> {
    let inbox = client.new_inbox();
    let mut probe = client.subscribe(inbox.clone()).await.map_err(nats_err)?;
    client
        .publish(inbox, Vec::<u8>::new().into())
        .await
        .map_err(nats_err)?;
    client.flush().await.map_err(nats_err)?;
    match tokio::time::timeout(PROBE_TIMEOUT, probe.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(nats_err("the subscription probe was closed")),
        Err(_) => Err(nats_err("the server did not echo the subscription probe")),
    }
}

/// The subscriber.
pub struct NatsSource {
    config: NatsConfig,
    ctx: SourceContext,
    /// The consumer is subscribed and caught up (cleared when it fails).
    /// Events are trusted while this holds and the connection is up.
    consuming: AtomicBool,
    /// Per-pod live work, when session-aware scale-in is on.
    pod_work: Option<Arc<Pods>>,
    /// Apply mode's wake check, when it is on.
    wakes: Option<tokio::sync::mpsc::Sender<crate::id::ServerKey>>,
    /// Cancelled once the store holds the recent past (the Prometheus
    /// backfill); events received before wait for it.
    history_ready: CancellationToken,
    /// Told when the connection drops: the JetStream consumer starts again.
    restart: tokio::sync::Notify,
    /// How many times the consumer went live (a run that did starts the
    /// retry backoff over).
    lives: std::sync::atomic::AtomicU64,
    /// See [`NatsSource::status_lock`].
    status: std::sync::Mutex<()>,
}

/// Connects with the configured credentials and TLS. Returns at once and
/// keeps (re)connecting in the background with backoff.
pub async fn connect(config: &NatsConfig) -> Result<async_nats::Client, NatsError> {
    let mut opts = async_nats::ConnectOptions::new()
        .name("mcp-autoscaler")
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(5))
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((100 * 2u64.saturating_pow(attempts.min(8) as u32)).min(10_000))
        })
        .event_callback(|event| async move { log_event(&event) });
    opts = match &config.auth {
        None => opts,
        Some(NatsAuth::CredentialsFile(path)) => {
            opts.credentials_file(path).await.map_err(|e| {
                NatsError::Credentials(format!(
                    "nats.auth.credentials_file {}: {e}",
                    path.display()
                ))
            })?
        }
        Some(NatsAuth::NkeySeedFile(path)) => {
            let seed = std::fs::read_to_string(path).map_err(|e| {
                NatsError::Credentials(format!("nats.auth.nkey_seed_file {}: {e}", path.display()))
            })?;
            opts.nkey(seed.trim().to_owned())
        }
        Some(NatsAuth::UserPassword { user, password_env }) => {
            opts.user_and_password(user.clone(), env_secret(password_env)?)
        }
        Some(NatsAuth::TokenEnv(var)) => opts.token(env_secret(var)?),
    };
    if let Some(ca) = &config.tls_ca_file {
        opts = opts.add_root_certificates(ca.clone()).require_tls(true);
    }
    if let (Some(cert), Some(key)) = (&config.tls_cert_file, &config.tls_key_file) {
        opts = opts.add_client_certificate(cert.clone(), key.clone());
    }
    let servers = config
        .urls()
        .into_iter()
        .map(str::parse::<async_nats::ServerAddr>)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| NatsError::Nats(format!("nats.url: {e}")))?;
    opts.connect(servers).await.map_err(nats_err)
}

/// Connection events: losing the server, its errors and a slow consumer
/// are warnings (events may be missed meanwhile); the rest is information.
fn log_event(event: &async_nats::Event) {
    use async_nats::Event;
    match event {
        Event::Disconnected
        | Event::ServerError(_)
        | Event::ClientError(_)
        | Event::SlowConsumer(_)
        | Event::LameDuckMode => {
            tracing::warn!(%event, "nats connection event");
        }
        Event::Connected | Event::Draining | Event::Closed => {
            tracing::info!(%event, "nats connection event");
        }
    }
}

/// A gate that is already open.
fn ready_now() -> CancellationToken {
    let gate = CancellationToken::new();
    gate.cancel();
    gate
}

fn env_secret(var: &str) -> Result<String, NatsError> {
    std::env::var(var)
        .map_err(|_| NatsError::Credentials(format!("environment variable {var} is not set")))
}

impl NatsSource {
    /// A subscriber for `config`; `ready` is set once live (core) or once the
    /// replay window has been applied (JetStream).
    pub fn new(config: NatsConfig, ctx: SourceContext) -> Self {
        Self {
            config,
            ctx,
            consuming: AtomicBool::new(false),
            pod_work: None,
            wakes: None,
            history_ready: ready_now(),
            restart: tokio::sync::Notify::new(),
            lives: std::sync::atomic::AtomicU64::new(0),
            status: std::sync::Mutex::new(()),
        }
    }

    /// Applies events only once `history_ready` is cancelled: history is
    /// written in time order, the backfilled past first. Until then the
    /// subscription holds what arrives (core NATS: up to the client's
    /// buffer of 65,536 messages; JetStream keeps the rest on the server).
    pub fn after(mut self, history_ready: CancellationToken) -> Self {
        self.history_ready = history_ready;
        self
    }

    /// Waits for the store's recent past; false if shut down first.
    async fn wait_for_history(&self, shutdown: &CancellationToken) -> bool {
        tokio::select! {
            () = shutdown.cancelled() => false,
            () = self.history_ready.cancelled() => true,
        }
    }

    /// Sends every activity event's server to `wakes` (apply mode).
    pub fn with_wakes(mut self, wakes: tokio::sync::mpsc::Sender<crate::id::ServerKey>) -> Self {
        self.wakes = Some(wakes);
        self
    }

    /// Also counts sessions and connections per pod, for events that name
    /// one (session-aware scale-in).
    pub fn with_pod_work(mut self, pods: Arc<Pods>) -> Self {
        self.pod_work = Some(pods);
        self
    }

    /// Consumes events until `shutdown`, retrying with backoff on failure,
    /// while following the connection's state.
    pub async fn run(self, client: async_nats::Client, shutdown: CancellationToken) {
        tokio::join!(
            self.consume(&client, &shutdown),
            self.watch_connection(&client, &shutdown)
        );
    }

    async fn consume(&self, client: &async_nats::Client, shutdown: &CancellationToken) {
        let client = client.clone();
        let shutdown = shutdown.clone();
        let mut resume_after: Option<jetstream_consumer::Resume> = None;
        let mut backoff = BACKOFF.initial();
        loop {
            let lives = self.lives.load(Ordering::Acquire);
            let began = tokio::time::Instant::now();
            let result = match self.config.jetstream.clone() {
                None => self.consume_core(&client, &shutdown).await,
                Some(js) => {
                    self.consume_jetstream(&client, &js, &mut resume_after, &shutdown)
                        .await
                }
            };
            if shutdown.is_cancelled() {
                return;
            }
            self.mark_down();
            let went_live = self.lives.load(Ordering::Acquire) != lives;
            backoff = BACKOFF.next(backoff, went_live.then(|| began.elapsed()));
            match result {
                Ok(()) => tracing::warn!("nats subscription ended; resubscribing"),
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "nats consumer failed; retrying")
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
        }
    }

    fn subject_filter(&self) -> String {
        format!("{}.>", self.config.subject_prefix)
    }

    async fn consume_core(
        &self,
        client: &async_nats::Client,
        shutdown: &CancellationToken,
    ) -> Result<(), NatsError> {
        let mut sub = client
            .subscribe(self.subject_filter())
            .await
            .map_err(nats_err)?;
        confirm_subscribed(client).await?;
        if !self.wait_for_history(shutdown).await {
            return Ok(());
        }
        self.mark_live();
        loop {
            let msg = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                msg = sub.next() => msg,
            };
            let Some(msg) = msg else { return Ok(()) };
            let now = self.ctx.clock.now();
            self.apply(&msg.subject, &msg.payload, now, now);
        }
    }

    /// The consumer is subscribed and caught up (any replay applied):
    /// ready, and events can be trusted again.
    fn mark_live(&self) {
        let _status = self.status_lock();
        self.lives.fetch_add(1, Ordering::AcqRel);
        self.ctx.ready.store(true, Ordering::Release);
        self.consuming.store(true, Ordering::Release);
        self.ctx.store.set_events_status(true, self.ctx.clock.now());
    }

    /// Held while `consuming` is changed or read to set the events status,
    /// so that a check of the connection never writes back a state it read
    /// just before the consumer went live (a false "down").
    fn status_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The consumer failed: events may be missed until it is back, so in
    /// events-only mode every server holds its last good answer (rule 3:
    /// unknown is never idle).
    fn mark_down(&self) {
        let _status = self.status_lock();
        self.consuming.store(false, Ordering::Release);
        self.ctx
            .store
            .set_events_status(false, self.ctx.clock.now());
    }

    /// Follows the connection. One rule decides whether events are trusted:
    /// the connection is up and the consumer is live. Across a reconnect a
    /// core subscription resumes by itself (what was published meanwhile
    /// is lost); the JetStream consumer is started again from its last
    /// sequence and is live once it has caught up.
    async fn watch_connection(&self, client: &async_nats::Client, shutdown: &CancellationToken) {
        let mut tick = tokio::time::interval(CONNECTION_CHECK);
        let mut was_connected = false;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let connected = client.connection_state() == async_nats::connection::State::Connected;
            let _status = self.status_lock();
            if was_connected && !connected && self.config.jetstream.is_some() {
                // JetStream: not live again until the consumer, started
                // anew, has caught up with what was published meanwhile.
                self.consuming.store(false, Ordering::Release);
                self.restart.notify_one();
            }
            was_connected = connected;
            let live = connected && self.consuming.load(Ordering::Acquire);
            self.ctx.store.set_events_status(live, self.ctx.clock.now());
        }
    }

    /// Parses and applies one event; malformed ones are counted and logged
    /// with their subject, and never stop the consumer.
    fn apply(&self, subject: &str, payload: &[u8], fallback: Timestamp, now: Timestamp) {
        match event::parse(&self.config.subject_prefix, subject, payload, fallback, now) {
            Ok(e) => {
                let recorded =
                    self.ctx
                        .store
                        .record_session_event(&e.server, (e.kind, e.session), e.at);
                // An open or close that moved no count on the server (a
                // second open, a close of a session never seen open) moves
                // none on its pod either, nor does a close that cancelled
                // the shared count beyond the caps (that open may have been
                // on another pod; when the store refused the event, the pod
                // counts it as before).
                self.count_pod_work(&e, recorded.is_none_or(|c| c.pod));
                if recorded.is_some() {
                    self.ctx.telemetry.event_applied("nats");
                    self.wake(&e);
                } else {
                    self.ctx.telemetry.servers_refused("nats", 1);
                }
            }
            Err(err) => {
                self.ctx.telemetry.event_malformed("nats");
                tracing::warn!(subject = %subject.chars().take(200).collect::<String>(), error = %err, "dropping malformed activity event");
            }
        }
    }
}

impl NatsSource {
    /// Tells apply mode about activity at once (a full queue drops it: the
    /// next sweep sees the server's decision anyway).
    fn wake(&self, e: &event::ActivityEvent) {
        let closing = matches!(e.kind, EventKind::SessionClose | EventKind::ConnectionClose);
        if let (Some(wakes), false) = (&self.wakes, closing) {
            let _ = wakes.try_send(e.server.clone());
        }
    }

    fn count_pod_work(&self, e: &event::ActivityEvent, counted: bool) {
        let (Some(pods), Some(pod)) = (&self.pod_work, &e.pod) else {
            return;
        };
        let opened = match e.kind {
            EventKind::SessionOpen | EventKind::ConnectionOpen => true,
            EventKind::SessionClose | EventKind::ConnectionClose => false,
            EventKind::Request => return pods.touch_event_work(&e.server, pod, e.at),
        };
        if counted {
            pods.record_event_work(&e.server, pod, opened, e.at);
        } else {
            // Not a new unit nor the end of one: only a sign of use.
            pods.touch_event_work(&e.server, pod, e.at);
        }
    }
}

#[path = "nats_jetstream.rs"]
mod jetstream_consumer;

#[cfg(test)]
#[path = "nats_tests.rs"]
mod tests;
