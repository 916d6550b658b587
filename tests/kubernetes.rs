//! Workload discovery end to end: real `prometheus` scraping an exporter,
//! the Kubernetes API faked by kube-rs' `tower-test` mock (lists answered
//! with the given Deployments, watches held open).

mod common;

use common::servers::{Exporter, Gauges, Prometheus, eventually};
use common::{WAIT, client, http_get, so, start_with_kube};
use http::{Request, Response};
use kube::client::Body;
use mcp_autoscaler::config::Config;
use mcp_autoscaler::id::ServerKey;
use serde_json::{Value, json};

fn deployment(name: &str, replicas: i32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"namespace": "tenants", "name": name, "resourceVersion": "5",
                     "labels": {"mcp-autoscaler/server": name}},
        "spec": {"replicas": replicas, "selector": {}, "template": {}},
        "status": {"readyReplicas": replicas}
    })
}

/// A fake API server: Deployment lists hold `deployments`, other lists are
/// empty, watches stay open.
fn fake_cluster(deployments: Vec<Value>) -> kube::Client {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Some((request, send)) = handle.next_request().await {
            let uri = request.uri().to_string();
            if uri.contains("watch=true") {
                open.push(send);
                continue;
            }
            let items = if uri.starts_with("/apis/apps/v1/deployments") {
                deployments.clone()
            } else {
                Vec::new()
            };
            let list = json!({"apiVersion": "v1", "kind": "List",
                              "metadata": {"resourceVersion": "5"}, "items": items});
            let response = Response::builder().body(Body::from(list.to_string().into_bytes()));
            send.send_response(response.expect("response"));
        }
    });
    kube::Client::new(service, "default")
}

fn key(name: &str) -> ServerKey {
    ServerKey::parse("tenants", name).expect("valid")
}

#[tokio::test]
async fn no_series_means_idle_at_zero_replicas_and_unknown_with_replicas_running() {
    let exporter = Exporter::start().await;
    let busy = Gauges {
        connections: 0.0,
        sessions: 1.0,
        queue: 0.0,
    };
    exporter.set(&[("other", busy)]);
    let prom = Prometheus::start(exporter.addr).await;
    let mut config = Config {
        prometheus: Some(common::poll_every_second(prom.url())),
        ..Config::default()
    };
    config.kubernetes.discovery.enabled = true;
    let cluster = fake_cluster(vec![deployment("scaled-down", 0), deployment("running", 2)]);
    let srv = start_with_kube(config, cluster).await;
    eventually(WAIT, "discovery listed and a poll landed", || {
        let s = srv.store.signals(&key("running"));
        s.replicas.is_some() && s.feed.workloads_live && s.feed.polled_at.is_some()
    })
    .await;
    eventually(WAIT, "the running server's missing series noticed", || {
        srv.store.signals(&key("running")).held.kinds != 0
    })
    .await;

    let mut c = client(srv.grpc).await;
    let idle = c.is_active(so("scaled-down", &[])).await.expect("answer");
    assert!(!idle.into_inner().result, "0 replicas and no series: idle");
    let err = c
        .is_active(so("running", &[]))
        .await
        .expect_err("2 replicas and no series: not idle, not active, unknown");
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert!(err.message().contains("replicas"), "{}", err.message());

    let (status, body) = http_get(srv.http, "/v1/servers/tenants/running").await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["replicas"]["current"], 2);
    assert_eq!(v["replicas"]["ready"], 2);
    assert_eq!(v["replicas"]["workloads"][0]["kind"], "Deployment");

    // Its series appear: the server is known again, and idle on its merits.
    exporter.set(&[
        ("other", busy),
        (
            "running",
            Gauges {
                connections: 0.0,
                sessions: 0.0,
                queue: 0.0,
            },
        ),
    ]);
    eventually(WAIT, "series seen", || {
        srv.store.signals(&key("running")).held.kinds == 0
    })
    .await;
    let answer = c.is_active(so("running", &[])).await.expect("answer");
    assert!(!answer.into_inner().result);
    srv.stop().await.expect("stops");
}

#[tokio::test]
async fn a_server_woken_by_an_event_stays_active_until_its_pods_are_scraped() {
    let exporter = Exporter::start().await;
    let quiet = Gauges {
        connections: 0.0,
        sessions: 0.0,
        queue: 0.0,
    };
    exporter.set(&[("other", quiet)]);
    let prom = Prometheus::start(exporter.addr).await;
    let nats = common::servers::Nats::start().await;
    let mut config = Config {
        prometheus: Some(common::poll_every_second(prom.url())),
        nats: Some(mcp_autoscaler::config::NatsConfig {
            url: nats.url(),
            ..Default::default()
        }),
        ..Config::default()
    };
    config.kubernetes.discovery.enabled = true;
    // KEDA has just scaled it to 1 after the request: its pod is not scraped yet.
    let srv = start_with_kube(config, fake_cluster(vec![deployment("woken", 1)])).await;
    common::wait_ready(srv.http).await;
    let publisher = async_nats::connect(nats.url()).await.expect("connect");
    publisher
        .publish(
            "mcp.activity.tenants.woken",
            r#"{"kind":"request","pod":"woken-7d9f-x"}"#.into(),
        )
        .await
        .expect("publish");
    publisher.flush().await.expect("flush");
    eventually(
        WAIT,
        "the wake event and the missing series both seen",
        || {
            let s = srv.store.signals(&key("woken"));
            s.last_event.is_some() && s.held.kinds != 0 && s.held.good_at.is_some()
        },
    )
    .await;
    let md = [("idleWindow", "2s"), ("keepAlive", "fixed")];
    let mut c = client(srv.grpc).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await; // past the idle window
    let answer = c.is_active(so("woken", &md)).await.expect("answer");
    assert!(
        answer.into_inner().result,
        "held at its wake: active, not idle"
    );
    srv.stop().await.expect("stops");
}
