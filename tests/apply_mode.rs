//! Apply mode end to end: the real `serve` with real nats-server events,
//! against a fake Kubernetes API server on loopback that lists and watches
//! the Deployments and records every scale request.

mod common;

use common::fake_kube::FakeKube;
use common::servers::Nats;
use common::{WAIT, start_with_kube};
use mcp_autoscaler::config::{Config, NatsConfig};
use std::time::{Duration, Instant};

fn workloads() -> Vec<(String, String, u64)> {
    [
        ("tenant-a", "github", 0),
        ("tenant-a", "idle", 2),
        ("tenant-b", "claimed", 3),
    ]
    .iter()
    .map(|(ns, n, r)| ((*ns).to_owned(), (*n).to_owned(), *r))
    .collect()
}

/// tenant-b/claimed is an HPA's target.
fn hpas() -> Vec<(String, String, String)> {
    vec![("tenant-b".into(), "claimed-hpa".into(), "claimed".into())]
}

fn config(nats: &Nats, interval: Duration) -> Config {
    let mut c = Config {
        nats: Some(NatsConfig {
            url: nats.url(),
            ..NatsConfig::default()
        }),
        ..Config::default()
    };
    c.kubernetes.discovery.enabled = true;
    // A short idle window: the acting replica scales nothing down before it
    // has watched the signals for one.
    if let Some(p) = c.policies.get_mut("default") {
        p.idle_window = Duration::from_secs(2);
    }
    let apply = &mut c.kubernetes.apply;
    apply.enabled = true;
    apply.interval = interval;
    apply.lease.namespace = "mcp-system".into();
    c
}

async fn wait_for_leader(kube: &FakeKube) {
    let deadline = Instant::now() + WAIT;
    while kube
        .lease()
        .is_none_or(|l| l["spec"]["holderIdentity"].is_null())
    {
        assert!(Instant::now() < deadline, "no replica took the lease");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_event_wakes_a_server_at_zero_at_once_and_shutdown_releases_the_lease() {
    let nats = Nats::start().await;
    let fake = FakeKube::new(workloads(), hpas()).serve().await;
    // Sweeps are a minute apart: a scale within a second is the wake path.
    let srv = start_with_kube(
        config(&nats, Duration::from_secs(60)),
        FakeKube::client(fake.addr),
    )
    .await;
    common::wait_ready(srv.http).await;
    wait_for_leader(&fake.kube).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let publisher = async_nats::connect(nats.url()).await.expect("connect");
    let sent = Instant::now();
    publisher
        .publish(
            "mcp.activity.tenant-a.github",
            r#"{"kind":"request"}"#.into(),
        )
        .await
        .expect("publish");
    publisher.flush().await.expect("flush");
    let calls = fake.kube.wait_for_calls(1, WAIT).await;
    let wake = calls
        .iter()
        .find(|c| c.name == "github")
        .unwrap_or_else(|| panic!("no wake: {calls:?}"));
    let latency = wake.at.duration_since(sent);
    eprintln!("event published → scale request received: {latency:?}");
    assert!(
        latency < Duration::from_secs(1),
        "woken at once: {latency:?}"
    );
    assert_eq!(
        (wake.kind.as_str(), wake.namespace.as_str(), wake.replicas),
        ("deployments", "tenant-a", 1)
    );
    srv.stop().await.expect("stops");
    let lease = fake.kube.lease().expect("lease");
    assert!(
        lease["spec"]["holderIdentity"].is_null(),
        "released on shutdown: {lease}"
    );
}

#[tokio::test]
async fn a_sweep_scales_an_idle_server_to_zero_and_leaves_an_hpas_target_alone() {
    let nats = Nats::start().await;
    let fake = FakeKube::new(workloads(), hpas()).serve().await;
    let srv = start_with_kube(
        config(&nats, Duration::from_secs(1)),
        FakeKube::client(fake.addr),
    )
    .await;
    let calls = fake.kube.wait_for_calls(1, WAIT).await;
    assert_eq!(
        calls
            .iter()
            .map(|c| (c.namespace.as_str(), c.name.as_str(), c.replicas))
            .collect::<Vec<_>>(),
        [("tenant-a", "idle", 0)],
        "only the idle server, to 0"
    );
    // Three more sweeps: the watch shows the new count, nothing else moves.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(fake.kube.calls().len(), 1, "{:?}", fake.kube.calls());
    srv.stop().await.expect("stops");
}

#[tokio::test]
async fn nothing_is_scaled_while_the_data_is_missing() {
    let nats = Nats::start().await;
    let fake = FakeKube::new(workloads(), hpas()).serve().await;
    let mut c = config(&nats, Duration::from_secs(1));
    // A Prometheus that never answers: every server's data is unavailable.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = dead.local_addr().expect("addr");
    drop(dead);
    c.prometheus = Some(common::poll_every_second(format!("http://{addr}")));
    let srv = start_with_kube(c, FakeKube::client(fake.addr)).await;
    wait_for_leader(&fake.kube).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        fake.kube.calls().is_empty(),
        "an idle server with unknown data keeps its replicas: {:?}",
        fake.kube.calls()
    );
    let (status, body) = common::http_get(srv.http, "/v1/servers/tenant-a/idle").await;
    assert_eq!(status, 200, "{body}");
    let detail: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(detail["apply"]["mode"], "acting", "{detail}");
    assert!(
        detail["apply"]["skipped"]
            .as_str()
            .is_some_and(|s| s.contains("stale or unavailable")),
        "held for its missing data, not for another reason: {detail}"
    );
    srv.stop().await.expect("stops");
}
