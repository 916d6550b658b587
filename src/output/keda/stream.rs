//! The two server-streaming RPCs.
//!
//! `StreamIsActive`: one task per stream, asleep until the server's store
//! entry changes (an event or a poll), its activity window lapses, the client
//! goes away or the scaler shuts down. Each stream has a one-message buffer,
//! so a slow client only ever delays itself, and changes coalesce in the
//! store's watch channel instead of queueing up: memory per stream is fixed.

use super::Scaler;
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

/// Opens a `StreamIsActive` stream for `target`.
pub(super) fn open(scaler: Scaler, target: Target) -> ActivityStream {
    let (tx, rx) = mpsc::channel(1);
    let changes = scaler.store.subscribe(&target.server);
    tokio::spawn(async move {
        let _open = OpenGuard::new(&scaler);
        watch_activity(&scaler, &target, changes, tx).await;
    });
    ReceiverStream::new(rx)
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
    let mut decision = scaler.decide(target);
    let mut active = decision.active;
    if tx
        .send(Ok(IsActiveResponse { result: active }))
        .await
        .is_err()
    {
        return;
    }
    loop {
        let lapse = decision.reevaluate_at;
        tokio::select! {
            () = scaler.shutdown.cancelled() => return,
            () = tx.closed() => return,
            changed = changes.changed() => if changed.is_err() { return },
            () = sleep_until(lapse, scaler.clock.now()) => {}
        }
        decision = scaler.decide(target);
        if decision.active && !active {
            if tx
                .send(Ok(IsActiveResponse { result: true }))
                .await
                .is_err()
            {
                return;
            }
            scaler.metrics.wakes_sent.inc();
            tracing::debug!(server = %target.server, "wake pushed on StreamIsActive");
        }
        active = decision.active;
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
/// change with the config, which is read once at start-up).
pub(super) fn specs(current: GetMetricSpecResponse, shutdown: CancellationToken) -> SpecStream {
    let first = futures::stream::once(async move { Ok(current) });
    let hold = futures::stream::once(async move { shutdown.cancelled_owned().await })
        .filter_map(|()| async { None });
    Box::pin(first.chain(hold))
}
