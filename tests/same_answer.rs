//! Issue 11 against real `prometheus` and `nats-server`: a server is
//! (namespace, name); a decision depends on the signals alone, never on who
//! asked or which replica was asked.

mod common;

use common::servers::{Exporter, Gauges, Nats, Prometheus, eventually};
use common::{WAIT, client, http_get, so, so_in, start};
use mcp_autoscaler::config::{Config, NatsConfig};
use mcp_autoscaler::proto::external_scaler_client::ExternalScalerClient;
use mcp_autoscaler::proto::{GetMetricsRequest, ScaledObjectRef};
use std::time::Duration;
use tonic::transport::Channel;

/// Sized by sessions, so that the answers under test move with the load.
fn config(prom: &Prometheus, nats: Option<&Nats>) -> Config {
    common::sized_by_sessions(Config {
        prometheus: Some(common::poll_every_second(prom.url())),
        nats: nats.map(|n| NatsConfig {
            url: n.url(),
            ..NatsConfig::default()
        }),
        ..Config::default()
    })
}

fn sessions(n: f64) -> Gauges {
    Gauges {
        connections: 0.0,
        sessions: n,
        queue: 0.0,
    }
}

async fn is_active(c: &mut ExternalScalerClient<Channel>, so: ScaledObjectRef) -> bool {
    c.is_active(so)
        .await
        .expect("is_active")
        .into_inner()
        .result
}

async fn desired(c: &mut ExternalScalerClient<Channel>, so: ScaledObjectRef) -> Option<f64> {
    let req = GetMetricsRequest {
        scaled_object_ref: Some(so),
        metric_name: "mcp-desired-replicas".into(),
    };
    c.get_metrics(req)
        .await
        .ok()
        .map(|r| r.into_inner().metric_values[0].metric_value_float)
}

/// Waits until `so`'s desired count is `want`.
async fn until_desired(c: &mut ExternalScalerClient<Channel>, so: &ScaledObjectRef, want: f64) {
    let deadline = tokio::time::Instant::now() + WAIT * 2;
    loop {
        let got = desired(c, so.clone()).await;
        if got == Some(want) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "desired stayed {got:?}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn two_tenants_servers_of_one_name_are_two_servers() {
    let exporter = Exporter::start().await;
    exporter.set(&[
        ("tenant-a/mcp-008", sessions(5.0)),
        ("tenant-b/mcp-008", sessions(0.0)),
    ]);
    let prom = Prometheus::start(exporter.addr).await;
    let nats = Nats::start().await;
    let srv = start(config(&prom, Some(&nats))).await;
    let mut c = client(srv.grpc).await;
    until_desired(&mut c, &so_in("tenant-a", "mcp-008", &[]), 1.0).await;
    assert!(is_active(&mut c, so_in("tenant-a", "mcp-008", &[])).await);
    assert!(
        !is_active(&mut c, so_in("tenant-b", "mcp-008", &[])).await,
        "tenant-b's is idle"
    );

    // Events name the namespace too: a wake for tenant-c's github wakes only it.
    let pubc = async_nats::connect(nats.url()).await.expect("connect");
    let mut woke = false;
    for _ in 0..50 {
        pubc.publish("mcp.activity.tenant-c.github", "".into())
            .await
            .expect("publish");
        pubc.flush().await.expect("flush");
        if is_active(&mut c, so_in("tenant-c", "github", &[])).await {
            woke = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(woke, "tenant-c/github woke");
    assert!(!is_active(&mut c, so_in("tenant-d", "github", &[])).await);

    let (status, body) = http_get(srv.http, "/v1/servers/tenant-a/mcp-008").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"namespace\":\"tenant-a\"") && body.contains("\"active\":true"),
        "{body}"
    );
    let (status, body) = http_get(srv.http, "/v1/servers/mcp-008").await;
    assert_eq!(status, 404);
    assert!(body.contains("namespace"), "{body}");
}

#[tokio::test]
async fn a_busy_server_whose_series_vanish_stays_active_and_then_is_unavailable() {
    let exporter = Exporter::start().await;
    exporter.set(&[("busy", sessions(5.0)), ("other", sessions(1.0))]);
    let prom = Prometheus::start(exporter.addr).await;
    let srv = start(config(&prom, None)).await;
    let mut c = client(srv.grpc).await;
    let md = [
        ("idleWindow", "2s"),
        ("keepAlive", "fixed"),
        ("unavailableAfter", "8s"),
        ("staleAfter", "4s"),
    ];
    until_desired(&mut c, &so("busy", &md), 1.0).await;

    // Its pods' scrape fails: the series vanish while the poll stays good.
    exporter.set(&[("other", sessions(1.0))]);
    eventually(WAIT, "the vanished series counted", || {
        srv.store
            .signals(&mcp_autoscaler::id::ServerKey::parse("tenants", "busy").expect("id"))
            .held
            .kinds
            != 0
    })
    .await;
    srv.clock.jump(Duration::from_secs(3)); // past the 2 s idle window
    assert!(
        is_active(&mut c, so("busy", &md)).await,
        "5 live sessions never read idle"
    );
    assert_eq!(
        desired(&mut c, so("busy", &md)).await,
        Some(1.0),
        "last good answer held"
    );
    assert!(common::metric(srv.http, "mcp_autoscaler_series_absent_total").await > 0.0);

    srv.clock.jump(Duration::from_secs(5)); // 8 s since the last good poll
    let err = c
        .is_active(so("busy", &md))
        .await
        .expect_err("held past unavailableAfter: unavailable, never idle");
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert!(err.message().contains("vanished"), "{}", err.message());

    // The series come back: fresh again.
    exporter.set(&[("busy", sessions(5.0)), ("other", sessions(1.0))]);
    until_desired(&mut c, &so("busy", &md), 1.0).await;
}

#[tokio::test]
async fn before_the_first_poll_is_active_is_unavailable_and_a_stream_sends_no_false() {
    // Nothing listens on this port: no poll can succeed.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", dead.local_addr().expect("addr"));
    drop(dead);
    let srv = start(Config {
        prometheus: Some(common::poll_every_second(url)),
        ..Config::default()
    })
    .await;
    let mut c = client(srv.grpc).await;
    let err = c.is_active(so("fresh", &[])).await.expect_err("unknown");
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert!(err.message().contains("tenants/fresh"), "{}", err.message());
    assert!(
        c.get_metric_spec(so("fresh", &[])).await.is_ok(),
        "specs answer from config alone"
    );
    let mut stream = common::open_stream(&mut c, "fresh", &[]).await;
    assert_eq!(
        common::next_within(&mut stream, Duration::from_millis(2_500)).await,
        None,
        "no false before anything is known"
    );
    assert_eq!(
        http_get(srv.http, "/readyz").await.0,
        503,
        "start-up still within its deadline"
    );
}

#[tokio::test]
async fn a_nats_outage_in_events_only_mode_keeps_active_servers_active() {
    let mut nats = Nats::start().await;
    let srv = start(Config {
        nats: Some(NatsConfig {
            url: nats.url(),
            ..NatsConfig::default()
        }),
        ..Config::default()
    })
    .await;
    common::wait_ready(srv.http).await;
    let mut c = client(srv.grpc).await;
    let md = [("idleWindow", "2s"), ("keepAlive", "fixed")];
    let pubc = async_nats::connect(nats.url()).await.expect("connect");
    let deadline = tokio::time::Instant::now() + WAIT;
    while !is_active(&mut c, so("woken", &md)).await {
        pubc.publish("mcp.activity.tenants.woken", "".into())
            .await
            .expect("publish");
        pubc.flush().await.expect("flush");
        assert!(tokio::time::Instant::now() < deadline, "never woke");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    nats.stop();
    let key = mcp_autoscaler::id::ServerKey::parse("tenants", "woken").expect("id");
    eventually(WAIT, "the outage seen", || {
        srv.store.signals(&key).feed.events_down_since.is_some()
    })
    .await;
    srv.clock.jump(Duration::from_secs(4)); // twice the idle window
    assert!(
        is_active(&mut c, so("woken", &md)).await,
        "an outage is not idleness"
    );
    let (_, body) = http_get(srv.http, "/v1/servers/tenants/woken?policy=default").await;
    assert!(body.contains("events_down"), "{body}");
}

#[tokio::test]
async fn one_scaled_object_never_moves_anothers_answer() {
    let exporter = Exporter::start().await;
    exporter.set(&[("shared", sessions(30.0))]); // 2 replicas at 20 sessions each
    let prom = Prometheus::start(exporter.addr).await;
    let srv = start(config(&prom, None)).await;
    let mut c = client(srv.grpc).await;
    let first = so("shared", &[]);
    let pinned = so(
        "pinned",
        &[
            ("serverId", "shared"),
            ("minReplicas", "9"),
            ("maxReplicas", "9"),
        ],
    );
    until_desired(&mut c, &first, 2.0).await;
    for _ in 0..10 {
        assert_eq!(desired(&mut c, pinned.clone()).await, Some(9.0));
    }
    assert_eq!(
        desired(&mut c, first).await,
        Some(2.0),
        "the pinned one changed only its own answer"
    );
}

#[tokio::test]
async fn two_replicas_agree_however_keda_splits_the_calls() {
    let exporter = Exporter::start().await;
    exporter.set(&[("ha", sessions(200.0))]); // 10 replicas
    let prom = Prometheus::start(exporter.addr).await;
    let a = start(config(&prom, None)).await;
    let b = start(config(&prom, None)).await;
    let (mut ca, mut cb) = (client(a.grpc).await, client(b.grpc).await);
    let md = [("scaleDownWindow", "1m")];
    let so_ha = so("ha", &md);
    // The busy period (longer than one 15 s replay grid step, as a real
    // busy period at a 15 s poll is) is answered by replica A only.
    until_desired(&mut ca, &so_ha, 10.0).await;
    for _ in 0..40 {
        assert_eq!(desired(&mut ca, so_ha.clone()).await, Some(10.0));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The load drops; inside the scale-down window both must say the same.
    exporter.set(&[("ha", sessions(20.0))]);
    let key = mcp_autoscaler::id::ServerKey::parse("tenants", "ha").expect("id");
    let dropped = |s: &mcp_autoscaler::source::Store| {
        s.signals(&key)
            .get(mcp_autoscaler::signal::SignalKind::Sessions)
            == Some(20.0)
    };
    eventually(WAIT, "both replicas saw the drop", || {
        dropped(&a.store) && dropped(&b.store)
    })
    .await;
    for i in 0..20 {
        let from_a = desired(&mut ca, so_ha.clone()).await;
        let from_b = if i % 5 == 0 {
            desired(&mut cb, so_ha.clone()).await
        } else {
            from_a
        };
        assert_eq!(from_a, from_b, "replicas disagree");
        assert_eq!(from_a, Some(10.0), "held by the 1 m scale-down window");
    }
}
