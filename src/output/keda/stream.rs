//! The two server-streaming RPCs.
//!
//! `StreamIsActive`: one task per stream, asleep until the server's store
//! entry changes (an event or a poll), its activity window lapses, the client
//! goes away or the scaler shuts down. Each stream has a one-message buffer,
//! so a slow client only ever delays itself, and changes coalesce in the
//! store's watch channel instead of queueing up: memory per stream is fixed.
//!
//! Each stream holds a [`StreamSlot`] until it ends, so at most
//! `server.max_streams` are open at once.

use super::{Scaler, StreamSlot};
use crate::engine::Decision;
use crate::metadata::Target;
use crate::proto::{GetMetricSpecResponse, IsActiveResponse};
use crate::time::Timestamp;
use futures::{Stream, StreamExt};
use std::pin::Pin;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::Status;

/// The response stream of `StreamIsActive`.
pub type ActivityStream = ReceiverStream<Result<IsActiveResponse, Status>>;

/// The response stream of `StreamMetricSpec`.
pub type SpecStream = Pin<Box<dyn Stream<Item = Result<GetMetricSpecResponse, Status>> + Send>>;

/// Opens a `StreamIsActive` stream for `target`; its task holds `slot`.
/// Fails with `RESOURCE_EXHAUSTED` when the store tracks as many servers as
/// it may and none is quiet enough to make room.
pub(super) fn open(
    scaler: Scaler,
    target: std::sync::Arc<Target>,
    slot: StreamSlot,
) -> Result<ActivityStream, Status> {
    let Some(changes) = scaler.store.subscribe(&target.server, scaler.clock.now()) else {
        return Err(Status::resource_exhausted(format!(
            "cannot watch server {}: the scaler tracks as many servers as server.max_servers allows and none has been quiet long enough to make room; raise server.max_servers",
            target.server
        )));
    };
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let _slot = slot;
        let _open = OpenGuard::new(&scaler);
        watch_activity(&scaler, &target, changes, tx).await;
    });
    Ok(ReceiverStream::new(rx))
}

/// Counts an open stream for as long as it lives.
struct OpenGuard(prometheus_client::metrics::gauge::Gauge);

impl OpenGuard {
    fn new(scaler: &Scaler) -> Self {
        scaler.metrics.streams_open.inc();
        Self(scaler.metrics.streams_open.clone())
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

type Sender = mpsc::Sender<Result<IsActiveResponse, Status>>;

async fn watch_activity(
    scaler: &Scaler,
    target: &Target,
    mut changes: watch::Receiver<u64>,
    tx: Sender,
) {
    // What the client has been told: nothing until the data is known, so an
    // unknown server never reads `false`.
    let mut told: Option<bool> = None;
    loop {
        let decision = scaler.decide(target);
        if let Some(active) = news(told, &decision) {
            if tx
                .send(Ok(IsActiveResponse { result: active }))
                .await
                .is_err()
            {
                return;
            }
            if told.is_some() {
                scaler.metrics.wakes_sent.inc();
                tracing::debug!(server = %target.server, "wake pushed on StreamIsActive");
            }
        }
        told = told_after(told, &decision);
        tokio::select! {
            () = scaler.shutdown.cancelled() => return,
            () = tx.closed() => return,
            changed = changes.changed() => if changed.is_err() { return },
            () = sleep_until(decision.reevaluate_at, scaler.clock.now()) => {}
        }
    }
}

/// Whether `decision` is trustworthy enough to tell a client: evidence of
/// activity always is; inactivity only when the data is known.
fn is_known(decision: &Decision) -> bool {
    decision.shown().1.is_some()
}

/// The message to send, if any: the state on the first known decision,
/// then `true` only on an inactive→active transition (repeated `true`s would
/// delay KEDA's scale to zero; `false` is ignored by KEDA).
fn news(told: Option<bool>, decision: &Decision) -> Option<bool> {
    if !is_known(decision) {
        return None;
    }
    match told {
        None => Some(decision.active),
        Some(false) if decision.active => Some(true),
        Some(_) => None,
    }
}

/// What the client knows after `decision`.
fn told_after(told: Option<bool>, decision: &Decision) -> Option<bool> {
    if is_known(decision) {
        Some(decision.active)
    } else {
        told
    }
}

/// Sleeps until `until` (forever when `None`).
async fn sleep_until(until: Option<Timestamp>, now: Timestamp) {
    match until {
        Some(t) => tokio::time::sleep(t.since(now)).await,
        None => std::future::pending().await,
    }
}

/// `StreamMetricSpec`: the specs once, then open until shutdown (specs only
/// change with the config, which is read once at start-up). `slot` is freed
/// when the stream ends or the client goes away (tonic drops the stream).
pub(super) fn specs(
    current: GetMetricSpecResponse,
    shutdown: CancellationToken,
    slot: StreamSlot,
) -> SpecStream {
    let first = futures::stream::once(async move { Ok(current) });
    let hold = futures::stream::once(async move {
        let _slot = slot;
        shutdown.cancelled_owned().await;
    })
    .filter_map(|()| async { None });
    Box::pin(first.chain(hold))
}
