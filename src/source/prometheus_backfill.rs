//! The start-up backfill: a scaler that just started re-runs the polls of
//! the recent past as of their times, so that it decides from the history
//! an older replica holds (stabilisation windows, recent activity, and the
//! idle gaps within the backfill: older gaps it cannot learn, so a
//! cost-aware plan can differ from an older replica's until it has seen
//! enough) instead of from nothing (rule 2 across restarts).

use super::{PollTime, PrometheusSource, Querier};
use crate::signal::SLOT;
use crate::time::Timestamp;
use std::time::Duration;

/// Most wall-clock time the backfill may take (start-up waits for it).
const BACKFILL_BUDGET: Duration = Duration::from_secs(20);

impl<Q: Querier> PrometheusSource<Q> {
    /// Re-runs the polls of the last `prometheus.backfill`, one interval
    /// (at least one history slot, 5 s, in whole seconds) apart and in time
    /// order, each as of its time (whole seconds, as the API takes them): a
    /// live poll's work, telemetry included, without marking the source
    /// ready. The last is at least one interval before now, so it never
    /// shares a history slot with the first live poll. Stops at the first
    /// failed query. When the past polls would take more than 20 s, it
    /// skips the oldest, so that what it writes reaches up to now; a poll
    /// still running when the 20 s are up is abandoned. What it did not get
    /// stays unknown, as it was. Returns the polls replayed. Run it before
    /// the live polls and the event stream: history is written in time
    /// order.
    pub async fn backfill(&self) -> usize {
        let times = poll_times(self.ctx.clock.now(), self.backfill, self.interval.max(SLOT));
        let started = tokio::time::Instant::now();
        let mut replayed = 0;
        let mut next = 0;
        while let Some(&at) = times.get(next) {
            let left = BACKFILL_BUDGET.saturating_sub(started.elapsed());
            let stopped = match tokio::time::timeout(left, self.poll(PollTime::Past(at))).await {
                Ok(outcome) if outcome.failed == 0 => None,
                Ok(_) => Some("a failed query"),
                Err(_) => Some("its 20 s budget"),
            };
            if let Some(cause) = stopped {
                tracing::warn!(polls = replayed, "prometheus backfill stopped at {cause}");
                break;
            }
            self.ctx.store.finish_poll(at, false);
            replayed += 1;
            next = skip_to_fit(next + 1, times.len(), started.elapsed(), replayed);
        }
        replayed
    }
}

/// The past poll times: `interval` apart (rounded up to whole seconds), in
/// whole seconds, from `window` before `now` to the last one at least an
/// interval before `now` (the live polls take over).
fn poll_times(now: Timestamp, window: Duration, interval: Duration) -> Vec<Timestamp> {
    if window.is_zero() {
        return Vec::new();
    }
    let step = u64::try_from(interval.as_millis())
        .unwrap_or(u64::MAX)
        .div_ceil(1_000)
        .max(1)
        .saturating_mul(1_000);
    let span = u64::try_from(window.as_millis()).unwrap_or(0);
    let end = now.as_millis();
    let first = end.saturating_sub(span) / 1_000 * 1_000;
    (0..)
        .map(|i: u64| first.saturating_add(i.saturating_mul(step)))
        .take_while(|&t| t.saturating_add(step) <= end)
        .map(Timestamp::from_millis)
        .collect()
}

/// The index of the next past poll to run, after `done` polls took
/// `elapsed`: `next`, or later when the rest would overrun the budget at
/// that pace (the newest polls are the ones kept).
fn skip_to_fit(next: usize, total: usize, elapsed: Duration, done: usize) -> usize {
    let per_poll = elapsed / u32::try_from(done.max(1)).unwrap_or(u32::MAX);
    let left = BACKFILL_BUDGET.saturating_sub(elapsed);
    let affordable = if per_poll.is_zero() {
        usize::MAX
    } else {
        usize::try_from(left.as_nanos() / per_poll.as_nanos()).unwrap_or(usize::MAX)
    };
    next.max(total.saturating_sub(affordable))
}

#[cfg(test)]
#[path = "prometheus_backfill_tests.rs"]
mod tests;
