//! Wake-on-request at fleet scale, and two replicas that agree.

mod common;

use common::servers::{Exporter, Gauges, Nats, Prometheus};
use common::{WAIT, client, metric, now, so, start, wait_ready};
use mcp_autoscaler::config::{Config, JetStreamConfig, NatsConfig, PrometheusConfig};
use mcp_autoscaler::id::ServerKey;
use mcp_autoscaler::proto::GetMetricsRequest;
use mcp_autoscaler::signal::EventKind;
use std::time::Duration;
use tokio_stream::StreamExt;

fn id(s: &str) -> ServerKey {
    ServerKey::parse("tenants", s).expect("id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_streams_on_one_connection_are_held_woken_and_freed() {
    const N: usize = 10_000;
    let srv = start(Config::default()).await;
    let c = client(srv.grpc).await;
    let mut opened = Vec::with_capacity(N);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..N {
        let mut c = c.clone();
        tasks.spawn(async move {
            let mut s = common::open_stream(&mut c, &format!("s-{i}"), &[]).await;
            let first = s.next().await.expect("first").expect("ok");
            (i, s, first.result)
        });
    }
    while let Some(r) = tokio::time::timeout(WAIT * 6, tasks.join_next())
        .await
        .expect("streams open in time")
    {
        let (i, s, first) = r.expect("task");
        assert!(!first);
        opened.push((i, s));
    }
    assert_eq!(
        metric(srv.http, "mcp_autoscaler_streams_open").await,
        N as f64,
        "all held on ONE connection"
    );

    opened.sort_by_key(|(i, _)| *i);
    for (i, _) in opened.iter().step_by(100) {
        srv.store
            .record_event(&id(&format!("s-{i}")), EventKind::Request, now());
    }
    for (_, s) in opened.iter_mut().step_by(100) {
        let woke = tokio::time::timeout(WAIT, s.next())
            .await
            .expect("wake in time")
            .expect("open")
            .expect("ok");
        assert!(woke.result);
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(200), opened[1].1.next())
            .await
            .is_err(),
        "a server with no event stays quiet"
    );

    drop(opened);
    drop(c);
    let deadline = tokio::time::Instant::now() + WAIT * 2;
    while metric(srv.http, "mcp_autoscaler_streams_open").await != 0.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "streams not freed after the client left"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_burst_of_events_for_an_active_server_sends_exactly_one_true() {
    let srv = start(Config::default()).await;
    let mut c = client(srv.grpc).await;
    let mut s = common::open_stream(&mut c, "storm", &[]).await;
    assert!(!s.next().await.expect("first").expect("ok").result);
    for _ in 0..500 {
        srv.store
            .record_event(&id("storm"), EventKind::Request, now());
    }
    assert!(
        tokio::time::timeout(WAIT, s.next())
            .await
            .expect("wake")
            .expect("open")
            .expect("ok")
            .result
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(500), s.next())
            .await
            .is_err(),
        "no second true"
    );
    assert_eq!(
        metric(srv.http, "mcp_autoscaler_wakes_sent_total").await,
        1.0
    );
}

#[tokio::test]
async fn two_replicas_on_the_same_nats_and_prometheus_give_the_same_answers() {
    let nats = Nats::start().await;
    let exporter = Exporter::start().await;
    let gauges: Vec<(String, Gauges)> = (0..20)
        .map(|i| {
            (
                format!("r-{i}"),
                Gauges {
                    sessions: (i * 7 % 60) as f64,
                    connections: (i % 3) as f64,
                    queue: 0.0,
                },
            )
        })
        .collect();
    exporter.set(
        &gauges
            .iter()
            .map(|(s, g)| (s.as_str(), *g))
            .collect::<Vec<_>>(),
    );
    let prom = Prometheus::start(exporter.addr).await;
    let config = || Config {
        nats: Some(NatsConfig {
            url: nats.url(),
            jetstream: Some(JetStreamConfig::default()),
            ..NatsConfig::default()
        }),
        prometheus: Some(PrometheusConfig {
            url: prom.url(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            ..PrometheusConfig::default()
        }),
        ..Config::default()
    };
    let a = start(config()).await;
    let b = start(config()).await;
    for srv in [&a, &b] {
        wait_ready(srv.http).await;
    }
    let pubc = async_nats::connect(nats.url()).await.expect("connect");
    let js = async_nats::jetstream::new(pubc);
    for i in [20, 21, 22] {
        let ack = js
            .publish(format!("mcp.activity.tenants.r-{i}"), "".into())
            .await
            .expect("publish");
        ack.await.expect("ack");
    }
    let (mut ca, mut cb) = (client(a.grpc).await, client(b.grpc).await);
    let answers = |c: &mut mcp_autoscaler::proto::external_scaler_client::ExternalScalerClient<
        tonic::transport::Channel,
    >,
                   name: String| {
        let mut c = c.clone();
        async move {
            let active = c
                .is_active(so(&name, &[]))
                .await
                .expect("active")
                .into_inner()
                .result;
            let req = GetMetricsRequest {
                scaled_object_ref: Some(so(&name, &[])),
                metric_name: "mcp-desired-replicas".into(),
            };
            let desired: f64 = c
                .get_metrics(req)
                .await
                .expect("metrics")
                .into_inner()
                .metric_values[0]
                .metric_value_float;
            (active, desired)
        }
    };
    let deadline = tokio::time::Instant::now() + WAIT * 2;
    loop {
        let mut all_equal = true;
        let mut woken = 0;
        for i in 0..23 {
            let (x, y) = (
                answers(&mut ca, format!("r-{i}")).await,
                answers(&mut cb, format!("r-{i}")).await,
            );
            all_equal &= x == y;
            woken += usize::from(i >= 20 && x.0 && y.0);
        }
        if all_equal && woken == 3 && a.store.signals(&id("r-19")).feed.polled_at.is_some() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "replicas still disagree after two ticks"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
