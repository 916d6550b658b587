use super::*;
use crate::config::PrometheusConfig;
use crate::engine::Policy;
use crate::id::ServerKey;
use crate::output::metrics::Metrics;
use crate::source::prometheus::{PrometheusError, Series};
use crate::source::{SourceContext, Store, Telemetry};
use crate::time::{Clock, ManualClock};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Whole seconds, as Prometheus evaluates them.
const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

/// A Prometheus whose answers are a function of the query and the time
/// (`Err`: it is down); live queries are answered as of `clock`.
struct Past {
    answer: fn(&str, Timestamp) -> Result<Vec<Series>, PrometheusError>,
    clock: Arc<ManualClock>,
}

impl Querier for Past {
    fn instant(
        &self,
        promql: String,
        at: Option<Timestamp>,
    ) -> BoxFuture<'_, Result<Vec<Series>, PrometheusError>> {
        let at = at.unwrap_or_else(|| self.clock.now());
        Box::pin(async move { (self.answer)(&promql, at) })
    }
}

/// One series of `server`.
fn series(server: &str, value: f64, at: Timestamp) -> Vec<Series> {
    vec![Series {
        labels: HashMap::from([
            ("namespace".to_owned(), "tenants".to_owned()),
            ("server".to_owned(), server.to_owned()),
        ]),
        value,
        at,
    }]
}

/// Server `busy` had a queue of 50 until 40 s ago and none since.
fn queue_ended(promql: &str, at: Timestamp) -> Result<Vec<Series>, PrometheusError> {
    if !promql.contains("queue_length") {
        return Ok(Vec::new());
    }
    let queue = if at < NOW - Duration::from_secs(40) {
        50.0
    } else {
        0.0
    };
    Ok(series("busy", queue, at))
}

/// A poller of `answer` with a 15 s interval and `config`'s other
/// settings, its store, and its clock standing at `at`.
fn poller(
    answer: fn(&str, Timestamp) -> Result<Vec<Series>, PrometheusError>,
    config: &PrometheusConfig,
    at: Timestamp,
) -> (PrometheusSource<Past>, Arc<Store>, Arc<ManualClock>) {
    let store = Arc::new(Store::new(true));
    let clock = Arc::new(ManualClock::new(at));
    let ctx = SourceContext {
        store: Arc::clone(&store),
        telemetry: Telemetry::new(Arc::new(Metrics::default())),
        clock: clock.clone(),
        ready: Arc::new(AtomicBool::new(false)),
    };
    let querier = Past {
        answer,
        clock: Arc::clone(&clock),
    };
    (PrometheusSource::new(querier, config, ctx), store, clock)
}

/// A 3-minute backfill.
fn three_minutes() -> PrometheusConfig {
    PrometheusConfig {
        backfill: Duration::from_secs(180),
        ..PrometheusConfig::default()
    }
}

fn busy() -> ServerKey {
    ServerKey::parse("tenants", "busy").expect("id")
}

#[tokio::test]
async fn a_scaler_that_just_started_decides_like_one_that_was_running() {
    let policy = Policy::default();
    // Running for the last three minutes, polling every 15 s.
    let (running, running_store, clock) = poller(
        queue_ended,
        &three_minutes(),
        NOW - Duration::from_secs(180),
    );
    while clock.now() <= NOW {
        running.poll_once().await;
        clock.advance(Duration::from_secs(15));
    }
    let running = running_store.decide(&busy(), &policy, NOW);
    // Started now: the backfill, then its first live poll.
    let (started, started_store, _) = poller(queue_ended, &three_minutes(), NOW);
    assert_eq!(
        started.backfill().await,
        12,
        "one poll every 15 s for 3 minutes"
    );
    started.poll_once().await;
    let restarted = started_store.decide(&busy(), &policy, NOW);
    assert_eq!(
        (restarted.desired, restarted.active, restarted.reason),
        (running.desired, running.active, running.reason),
    );
    // The test can tell: without the backfill the queue of 40 s ago is
    // unknown, and the server looks idle.
    assert!(running.active && running.desired > 0, "{running:?}");
    let (fresh, fresh_store, _) = poller(queue_ended, &three_minutes(), NOW);
    fresh.poll_once().await;
    let fresh = fresh_store.decide(&busy(), &policy, NOW);
    assert_ne!(
        (fresh.desired, fresh.active),
        (running.desired, running.active)
    );
    assert!(
        !fresh.active,
        "without the backfill it looks idle: {fresh:?}"
    );
}

/// `gone` had a queue until 12 minutes ago, when its workload went to
/// 0 replicas and its series vanished (kube-state-metrics says so).
fn vanished(promql: &str, at: Timestamp) -> Result<Vec<Series>, PrometheusError> {
    let before = at < NOW - Duration::from_secs(12 * 60);
    Ok(if promql.contains("kube_replicas") {
        series("gone", if before { 1.0 } else { 0.0 }, at)
    } else if promql.contains("queue_length") && before {
        series("gone", 50.0, at)
    } else {
        Vec::new()
    })
}

#[tokio::test]
async fn a_server_whose_series_vanished_at_zero_replicas_is_not_held_busy_by_the_past_polls() {
    let mut config = PrometheusConfig::default();
    config.queries.replicas = "sum by ({by}) (kube_replicas)".into();
    let (source, store, _) = poller(vanished, &config, NOW);
    assert!(source.backfill().await > 0);
    source.poll_once().await;
    let gone = ServerKey::parse("tenants", "gone").expect("id");
    let signals = store.signals(&gone);
    assert_eq!(signals.held.kinds, 0, "nothing held: it runs no replicas");
    let last_busy = signals.last_poll_activity.expect("busy once");
    assert!(
        last_busy < NOW - Duration::from_secs(12 * 60),
        "last busy {} s before now",
        NOW.since(last_busy).as_secs()
    );
    assert!(!store.decide(&gone, &Policy::default(), NOW).active);
}

#[tokio::test]
async fn a_failing_prometheus_stops_the_backfill_and_writes_nothing() {
    let down = |_: &str, _: Timestamp| Err(PrometheusError::Query("connection refused".into()));
    let (source, store, _) = poller(down, &PrometheusConfig::default(), NOW);
    assert_eq!(source.backfill().await, 0);
    assert_eq!(store.polled_at(), None, "nothing was polled");
}

#[test]
fn past_polls_are_an_interval_apart_in_whole_seconds_and_end_an_interval_before_now() {
    let now = Timestamp::from_millis(1_700_000_060_500);
    let millis = |interval: Duration| -> Vec<u64> {
        let times = poll_times(now, Duration::from_secs(60), interval);
        times.iter().map(|t| t.as_millis()).collect()
    };
    // 060.0 would share the live poll's 5 s slot (at 060.5).
    assert_eq!(
        millis(Duration::from_secs(15)),
        [
            1_700_000_000_000,
            1_700_000_015_000,
            1_700_000_030_000,
            1_700_000_045_000,
        ]
    );
    // 7.5 s rounds up to 8 s: whole seconds still.
    assert_eq!(
        millis(Duration::from_millis(7_500)),
        [
            1_700_000_000_000,
            1_700_000_008_000,
            1_700_000_016_000,
            1_700_000_024_000,
            1_700_000_032_000,
            1_700_000_040_000,
            1_700_000_048_000,
        ]
    );
    assert!(
        poll_times(now, Duration::ZERO, Duration::from_secs(15)).is_empty(),
        "0s: off"
    );
}

/// A Prometheus that never answers.
struct Stuck;

impl Querier for Stuck {
    fn instant(
        &self,
        _promql: String,
        _at: Option<Timestamp>,
    ) -> BoxFuture<'_, Result<Vec<Series>, PrometheusError>> {
        Box::pin(futures::future::pending())
    }
}

#[tokio::test(start_paused = true)]
async fn a_poll_still_running_when_the_budget_is_up_is_abandoned() {
    let store = Arc::new(Store::new(true));
    let ctx = SourceContext {
        store: Arc::clone(&store),
        telemetry: Telemetry::new(Arc::new(Metrics::default())),
        clock: Arc::new(ManualClock::new(NOW)),
        ready: Arc::new(AtomicBool::new(false)),
    };
    let source = PrometheusSource::new(Stuck, &three_minutes(), ctx);
    let began = tokio::time::Instant::now();
    assert_eq!(source.backfill().await, 0);
    assert_eq!(began.elapsed(), BACKFILL_BUDGET);
    assert_eq!(store.polled_at(), None, "nothing was polled");
}

#[test]
fn short_of_time_the_backfill_skips_the_oldest_polls() {
    let second = Duration::from_secs(1);
    // 1 s a poll, 19 s left: the last 19 of 100 are kept.
    assert_eq!(skip_to_fit(1, 100, second, 1), 81);
    // Fast enough: nothing is skipped.
    assert_eq!(skip_to_fit(1, 100, Duration::from_millis(10), 1), 1);
    // Out of time: past the end.
    assert_eq!(skip_to_fit(5, 100, BACKFILL_BUDGET, 5), 100);
}
