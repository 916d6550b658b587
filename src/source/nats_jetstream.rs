//! The JetStream side of the NATS source: an ordered consumer of its own
//! per replica, from the replay window at first and from the last
//! sequence applied after a failure.

use super::{JetStreamConfig, NatsError, NatsSource, nats_err};
use crate::time::Timestamp;
use async_nats::jetstream::{self, consumer::DeliverPolicy, consumer::pull::OrderedConfig};
use futures::StreamExt;
use std::sync::atomic::Ordering;
use tokio_util::sync::CancellationToken;

impl NatsSource {
    pub(super) async fn consume_jetstream(
        &self,
        client: &async_nats::Client,
        js_config: &JetStreamConfig,
        resume_after: &mut Option<u64>,
        shutdown: &CancellationToken,
    ) -> Result<(), NatsError> {
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
        // A stream whose sequence is below the last one applied was made
        // anew (deleted, recreated): its numbers start over, so resume by
        // time, not from a sequence it may never reach.
        let last = stream.cached_info().state.last_sequence;
        let deliver_policy = match *resume_after {
            Some(seq) if seq <= last => DeliverPolicy::ByStartSequence {
                start_sequence: seq + 1,
            },
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
        loop {
            let msg = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
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
            if seq.is_some() {
                *resume_after = seq;
            }
            if pending == 0 && !self.consuming.load(Ordering::Acquire) {
                self.mark_live();
            }
        }
    }
}

fn to_datetime(t: Timestamp) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.as_millis()) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

fn from_datetime(t: time::OffsetDateTime) -> Timestamp {
    Timestamp::from_millis(u64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
}
