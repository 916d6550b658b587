//! The JetStream side of the NATS source: an ordered consumer of its own
//! per replica, from the replay window at first and from the last
//! sequence applied after a failure.

use super::{JetStreamConfig, NatsError, NatsSource, nats_err};
use crate::time::Timestamp;
use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull::OrderedConfig};
use futures::{FutureExt, StreamExt};
use std::sync::atomic::Ordering;
use tokio_util::sync::CancellationToken;

/// Where a consumer started again resumes: after the last sequence applied,
/// of the stream created at `stream_created`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Resume {
    seq: u64,
    stream_created: time::OffsetDateTime,
}

impl NatsSource {
    pub(super) async fn consume_jetstream(
        &self,
        client: &async_nats::Client,
        js_config: &JetStreamConfig,
        resume_after: &mut Option<Resume>,
        shutdown: &CancellationToken,
    ) -> Result<(), NatsError> {
        // A disconnection told while no consumer ran is over: this one
        // starts from the last sequence anyway.
        let _ = self.restart.notified().now_or_never();
        let js = jetstream::new(client.clone());
        let stream = if js_config.create {
            js.get_or_create_stream(jetstream::stream::Config {
                name: js_config.stream.clone(),
                subjects: vec![self.subject_filter()],
                max_age: js_config.max_age,
                ..Default::default()
            })
            .await
            .map_err(nats_err)?
        } else {
            js.get_stream(&js_config.stream).await.map_err(nats_err)?
        };
        // A stream made anew (deleted and created again: another creation
        // time, or a last sequence below the one applied) numbers from 1
        // again, so resume by time, not from a sequence of the old one.
        let info = stream.cached_info();
        let (created, last) = (info.created, info.state.last_sequence);
        let deliver_policy = match *resume_after {
            Some(r) if r.stream_created == created && r.seq <= last => {
                DeliverPolicy::ByStartSequence {
                    start_sequence: r.seq + 1,
                }
            }
            _ => DeliverPolicy::ByStartTime {
                start_time: to_datetime(self.ctx.clock.now() - js_config.replay_window),
            },
        };
        let mut consumer = stream
            .create_consumer(OrderedConfig {
                filter_subject: self.subject_filter(),
                deliver_policy,
                ..Default::default()
            })
            .await
            .map_err(nats_err)?;
        if !self.wait_for_history(shutdown).await {
            return Ok(());
        }
        // Pending as of now, not as of the consumer's creation: events may
        // have come while the backfill ran.
        let pending = consumer.info().await.map_err(nats_err)?.num_pending;
        if pending == 0 {
            self.mark_live();
        }
        let mut messages = consumer.messages().await.map_err(nats_err)?;
        // The ordered consumer retries a deleted stream forever without a
        // word: while the stream is gone the feed must read down, not live
        // and silent. Checked beside the messages, never holding them up.
        let replaced = stream_replaced(&stream, created);
        tokio::pin!(replaced);
        loop {
            let msg = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                why = &mut replaced => return Err(nats_err(why)),
                // The connection dropped: start again from the last sequence
                // applied, and be live again only once caught up (the
                // client's own resumption would look live at once).
                () = self.restart.notified() => {
                    return Err(nats_err("the connection was lost"));
                }
                msg = messages.next() => msg,
            };
            let Some(msg) = msg else { return Ok(()) };
            let msg = msg.map_err(nats_err)?;
            let now = self.ctx.clock.now();
            let (published, seq, pending) = match msg.info() {
                Ok(info) => (
                    from_datetime(info.published),
                    Some(info.stream_sequence),
                    info.pending,
                ),
                Err(_) => (now, None, 1),
            };
            self.apply(&msg.subject, &msg.payload, published, now);
            if let Some(seq) = seq {
                *resume_after = Some(Resume {
                    seq,
                    stream_created: created,
                });
            }
            if pending == 0 && !self.consuming.load(Ordering::Acquire) {
                self.mark_live();
            }
        }
    }
}

/// How often a running consumer checks that its stream still stands.
const STREAM_CHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// Checks every [`STREAM_CHECK`] until the stream consumed is no longer
/// the one the consumer follows, and says why: deleted, or made anew
/// (another creation time). A check that fails otherwise (a timeout: a
/// lost connection is followed on its own) counts as the stream standing.
async fn stream_replaced(
    stream: &jetstream::stream::Stream,
    created: time::OffsetDateTime,
) -> &'static str {
    loop {
        tokio::time::sleep(STREAM_CHECK).await;
        match stream.get_info().await {
            Ok(info) if info.created != created => return "the stream was deleted and made anew",
            Err(e) if is_not_found(&e) => return "the stream was deleted",
            Ok(_) | Err(_) => {}
        }
    }
}

/// Whether JetStream answered that the stream does not exist (or that
/// JetStream itself is not there).
fn is_not_found(e: &jetstream::context::RequestError) -> bool {
    use jetstream::context::RequestErrorKind;
    e.kind() == RequestErrorKind::NoResponders
        || std::error::Error::source(e)
            .and_then(|s| s.downcast_ref::<jetstream::Error>())
            .is_some_and(|j| j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND)
}

fn to_datetime(t: Timestamp) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.as_millis()) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

fn from_datetime(t: time::OffsetDateTime) -> Timestamp {
    Timestamp::from_millis(u64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
}
