use super::*;
use crate::engine::Policy;
use crate::id::ServerKey;

fn target(mode: MetricMode) -> Target {
    Target {
        server: ServerKey::parse("tenants", "s").expect("id"),
        policy_name: "default".into(),
        policy: Policy {
            metric_mode: mode,
            ..Policy::default()
        },
    }
}

#[test]
#[allow(deprecated)]
fn desired_mode_serves_one_metric_with_target_one() {
    let specs = metric_specs(&target(MetricMode::Desired));
    assert_eq!(specs.len(), 1);
    assert_eq!(
        (
            specs[0].metric_name.as_str(),
            specs[0].target_size,
            specs[0].target_size_float
        ),
        (DESIRED_METRIC, 1, 1.0)
    );
}

#[test]
fn native_mode_serves_one_metric_per_enabled_target() {
    let names: Vec<String> = metric_specs(&target(MetricMode::Native))
        .into_iter()
        .map(|s| s.metric_name)
        .collect();
    // Live work does not size by default; request rate has no default target.
    assert_eq!(names, ["mcp-queue-length", "mcp-concurrency"]);
    let mut sized = target(MetricMode::Native);
    sized
        .policy
        .targets
        .set(crate::signal::Metric::Sessions, Some(20.0));
    let names: Vec<String> = metric_specs(&sized)
        .into_iter()
        .map(|s| s.metric_name)
        .collect();
    assert_eq!(
        names,
        ["mcp-sessions", "mcp-queue-length", "mcp-concurrency"]
    );
}

#[test]
fn int_fields_round_up_and_never_go_negative() {
    assert_eq!(whole(2.1), 3);
    assert_eq!(whole(0.0), 0);
    assert_eq!(whole(f64::NAN), 0);
    assert_eq!(whole(-4.0), 0);
    assert_eq!(whole(1e300), i64::MAX);
}

#[test]
fn unavailable_data_becomes_an_unavailable_status_with_the_age() {
    let d = crate::engine::decide(
        &crate::signal::Signals {
            feed: crate::signal::Feed {
                poller_configured: true,
                ..Default::default()
            },
            ..Default::default()
        },
        &Policy::default(),
        crate::time::Timestamp::from_millis(0),
    );
    let t = target(MetricMode::Desired);
    let status = unavailable(&t, &d).expect_err("unavailable");
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert!(
        status.message().contains("tenants/s")
            && status
                .message()
                .contains("Prometheus polls are failing or none has succeeded yet"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn a_stuck_stream_blocks_only_its_own_task() {
    use crate::time::Clock;
    use tokio_stream::StreamExt;
    let store = std::sync::Arc::new(crate::source::Store::new(false));
    let clock: std::sync::Arc<dyn Clock> = std::sync::Arc::new(crate::time::SystemClock);
    let scaler = Scaler::new(
        store.clone(),
        std::sync::Arc::new(crate::config::Config::default()),
        clock.clone(),
        std::sync::Arc::new(Metrics::default()),
        tokio_util::sync::CancellationToken::new(),
    );
    // Never read: its one-message buffer holds the opening `false`, so its
    // task is stuck on the next send.
    let slot = || scaler.stream_slot().expect("a free slot");
    let _stuck = stream::open(
        scaler.clone(),
        Arc::new(target(MetricMode::Desired)),
        slot(),
    )
    .expect("room");
    let mut healthy = stream::open(
        scaler.clone(),
        Arc::new(target(MetricMode::Desired)),
        slot(),
    )
    .expect("room");
    let first = healthy.next().await.expect("open").expect("ok");
    assert!(!first.result);
    for _ in 0..10 {
        store.record_event(
            &ServerKey::parse("tenants", "s").expect("id"),
            crate::signal::EventKind::Request,
            clock.now(),
        );
    }
    let woke = tokio::time::timeout(std::time::Duration::from_secs(5), healthy.next())
        .await
        .expect("not blocked");
    assert!(woke.expect("open").expect("ok").result);
}

fn scaler_with_max_streams(max_streams: usize) -> Scaler {
    let mut config = crate::config::Config::default();
    config.server.max_streams = max_streams;
    Scaler::new(
        std::sync::Arc::new(crate::source::Store::new(false)),
        std::sync::Arc::new(config),
        std::sync::Arc::new(crate::time::SystemClock),
        std::sync::Arc::new(Metrics::default()),
        tokio_util::sync::CancellationToken::new(),
    )
}

fn so_ref() -> Request<ScaledObjectRef> {
    Request::new(ScaledObjectRef {
        name: "s".into(),
        namespace: "tenants".into(),
        scaler_metadata: Default::default(),
    })
}

#[tokio::test]
async fn both_streaming_rpcs_share_the_stream_limit_and_unary_calls_ignore_it() {
    let scaler = scaler_with_max_streams(2);
    let activity = scaler.stream_is_active(so_ref()).await.expect("1st");
    let spec = scaler.stream_metric_spec(so_ref()).await.expect("2nd");
    for refused in [
        scaler.stream_is_active(so_ref()).await.err(),
        scaler.stream_metric_spec(so_ref()).await.err(),
    ] {
        let status = refused.expect("refused beyond the limit");
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(
            status.message().contains("server.max_streams") && status.message().contains('2'),
            "{}",
            status.message()
        );
    }
    scaler.is_active(so_ref()).await.expect("unary IsActive");
    scaler
        .get_metric_spec(so_ref())
        .await
        .expect("unary GetMetricSpec");
    drop(spec);
    let again = scaler.stream_metric_spec(so_ref()).await;
    assert!(
        again.is_ok(),
        "a dropped spec stream frees its slot at once"
    );
    drop(activity);
}

#[test]
fn native_mode_on_stale_data_answers_the_held_decision_never_zero() {
    let store = crate::source::Store::new(true);
    let t0 = crate::time::Timestamp::from_millis(1_700_000_000_000);
    let server = ServerKey::parse("tenants", "s").expect("id");
    store.apply_poll(
        crate::signal::SignalKind::QueueLength,
        &[(server.clone(), 80.0)],
        t0,
    );
    store.finish_poll(t0, true);
    let t = target(MetricMode::Native);
    let fresh = store.decide(&server, &t.policy, t0);
    assert!(fresh.desired > 1, "{fresh:?}");
    // Prometheus fails for 3 minutes: past stale_after (2m), before
    // unavailable_after (10m).
    let stale = store.decide(&server, &t.policy, t0 + std::time::Duration::from_secs(180));
    assert!(matches!(stale.data, DataQuality::Stale { .. }), "{stale:?}");
    assert_eq!(stale.desired, fresh.desired, "held");
    let per_replica = t
        .policy
        .targets
        .get(crate::signal::Metric::QueueLength)
        .expect("a queue target");
    let value = metric_value(&t, &stale, "mcp-queue-length").expect("served");
    assert_eq!(value, f64::from(fresh.desired) * per_replica);
    assert_eq!(metric_value(&t, &fresh, "mcp-queue-length"), Some(80.0));
}

#[test]
fn native_mode_during_the_hold_after_a_blind_stretch_answers_the_held_count() {
    let store = crate::source::Store::new(true);
    let t0 = crate::time::Timestamp::from_millis(1_700_000_000_000);
    let secs = std::time::Duration::from_secs;
    let server = ServerKey::parse("tenants", "s").expect("id");
    let queue = crate::signal::SignalKind::QueueLength;
    store.apply_poll(queue, &[(server.clone(), 80.0)], t0);
    store.finish_poll(t0, true);
    let t = target(MetricMode::Native);
    let before = store.decide(&server, &t.policy, t0);
    // Prometheus fails for 8 minutes, then answers an empty queue.
    let back = t0 + secs(480);
    store.apply_poll(queue, &[(server.clone(), 0.0)], back);
    store.finish_poll(back, true);
    let d = store.decide(&server, &t.policy, back + secs(1));
    assert_eq!(d.reason, crate::engine::Reason::Resuming, "{d:?}");
    assert_eq!(d.desired, before.desired);
    let per_replica = t.policy.targets.get(crate::signal::Metric::QueueLength);
    assert_eq!(
        metric_value(&t, &d, "mcp-queue-length"),
        per_replica.map(|p| f64::from(before.desired) * p),
        "the held count, not the untrusted 0"
    );
}
