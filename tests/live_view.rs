//! The recommendation service as a person and a tool see it: the OpenAPI
//! document checked by a validator nobody on this team wrote, every answer
//! checked against it, and the live view rendered in a real headless
//! Chromium (screenshots land in `target/live-view/`).

mod common;

use common::servers::{Exporter, Gauges, Nats, Prometheus};
use common::{WAIT, http_get, start_sampling};
use mcp_autoscaler::config::{Config, NatsConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn config(nats: &Nats, prom: &Prometheus) -> Config {
    common::sized_by_sessions(Config {
        nats: Some(NatsConfig {
            url: nats.url(),
            ..NatsConfig::default()
        }),
        prometheus: Some(common::poll_every_second(prom.url())),
        ..Config::default()
    })
}

/// Real nats-server and Prometheus; Prometheus scrapes an exporter where
/// `tenant-c/search` has 12 sessions and 30 connections.
async fn sources() -> (Nats, Prometheus, Exporter) {
    let exporter = Exporter::start().await;
    exporter.set(&[(
        "tenant-c/search",
        Gauges {
            connections: 30.0,
            sessions: 12.0,
            queue: 0.0,
        },
    )]);
    let prom = Prometheus::start(exporter.addr).await;
    (Nats::start().await, prom, exporter)
}

/// Sessions on `tenant-a/alpha`, requests on `tenant-b/beta`, and one
/// session opened and closed on `tenant-b/alpha` (the same name in another
/// tenant).
async fn publish_fleet(nats: &Nats) {
    let c = tokio::time::timeout(WAIT, async_nats::connect(nats.url()))
        .await
        .expect("in time")
        .expect("connect");
    for i in 0..45 {
        let session = format!(r#"{{"kind":"session_open","session":"s-{i}"}}"#);
        c.publish("mcp.activity.tenant-a.alpha", session.into())
            .await
            .expect("publish");
    }
    for _ in 0..5 {
        c.publish("mcp.activity.tenant-b.beta", r#"{"kind":"request"}"#.into())
            .await
            .expect("publish");
    }
    for kind in ["session_open", "session_close"] {
        let event = format!(r#"{{"kind":"{kind}","session":"x"}}"#);
        c.publish("mcp.activity.tenant-b.alpha", event.into())
            .await
            .expect("publish");
    }
    c.flush().await.expect("flush");
}

/// Waits until the live view counts `n` servers (a sweep has run since the
/// events landed).
async fn wait_for_sweep(http: SocketAddr, n: usize) {
    let needle = format!("<b id=count-servers>{n}</b>");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, body) = http_get(http, "/").await;
        if body.contains(&needle) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no sweep counted {n} servers: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn repo(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn the_openapi_document_validates_and_every_answer_matches_it() {
    let (nats, prom, _exporter) = sources().await;
    let srv = start_sampling(config(&nats, &prom), Duration::from_millis(200)).await;
    common::wait_ready(srv.http).await;
    publish_fleet(&nats).await;
    wait_for_sweep(srv.http, 4).await;
    let base = format!("http://{}", srv.http);
    let checks = [
        "200:/v1/servers",
        "200:/v1/servers?limit=1",
        "200:/v1/servers?namespace=tenant-a&active=true",
        "200:/v1/servers?policy=default&limit=1000",
        "200:/v1/servers/tenant-a/alpha",
        "200:/v1/servers/tenant-b/alpha?policy=default",
        "200:/v1/servers/tenant-c/search",
        "404:/v1/servers/tenant-a/nobody",
        "400:/v1/servers?limit=0",
        "400:/v1/servers?cursor=not-a-cursor",
        "400:/v1/servers/Bad_NS/alpha",
        "400:/v1/servers/tenant-a/alpha?policy=no-such-policy",
        "400:/v1/servers?limit=1&limit=2",
    ];
    let mut checker = Command::new("python3");
    checker
        .arg(repo("tests/openapi/check_openapi.py"))
        .args(["--base", &base])
        .args(checks);
    // Off the runtime's thread: the server under test runs on it.
    let out = tokio::task::spawn_blocking(move || checker.output())
        .await
        .expect("join")
        .expect("run python3 (install tests/openapi/requirements.txt: .ci/run does)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("{} passed, 0 failed", checks.len() + 1)),
        "{text}"
    );
    srv.stop().await.expect("stops");
}

/// Loads `path` in headless Chromium; returns the DOM it rendered.
async fn snapshot(http: SocketAddr, path: &str, name: &str, window: &str) -> String {
    let (path, name, window) = (path.to_owned(), name.to_owned(), window.to_owned());
    // Off the runtime's thread: the server under test runs on it.
    tokio::task::spawn_blocking(move || snapshot_blocking(http, &path, &name, &window))
        .await
        .expect("join")
}

fn snapshot_blocking(http: SocketAddr, path: &str, name: &str, window: &str) -> String {
    let dir = PathBuf::from(repo("target/live-view"));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let prefix = dir.join(name);
    let out = Command::new("bash")
        .arg(repo("tests/browser/snapshot.sh"))
        .arg(format!("http://{http}{path}"))
        .arg(&prefix)
        .env("WINDOW_SIZE", window)
        .output()
        .expect("run snapshot.sh (needs Debian chromium: .ci/run installs it)");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::metadata(prefix.with_extension("png")).expect("screenshot");
    assert!(png.len() > 10_000, "a screenshot of a real page: {png:?}");
    std::fs::read_to_string(prefix.with_extension("html")).expect("dom")
}

#[tokio::test]
async fn a_real_browser_renders_the_fleet_and_a_servers_timeline() {
    let (nats, prom, _exporter) = sources().await;
    let srv = start_sampling(config(&nats, &prom), Duration::from_millis(200)).await;
    common::wait_ready(srv.http).await;
    publish_fleet(&nats).await;
    wait_for_sweep(srv.http, 4).await;

    let fleet = snapshot(srv.http, "/", "fleet", "1280,500").await;
    for needle in [
        "<title>MCP servers · mcp-autoscaler</title>",
        "<b id=\"count-servers\">4</b>",
        "<b id=\"count-active\">4</b>",
        "href=\"/servers/tenant-c/search\"",
        "href=\"/servers/tenant-a/alpha\"",
        "href=\"/servers/tenant-b/alpha\"",
        "href=\"/servers/tenant-b/beta\"",
    ] {
        assert!(fleet.contains(needle), "{needle} in {fleet}");
    }
    let a = fleet.find("tenant-a").expect("a");
    let b = fleet.find("tenant-b").expect("b");
    assert!(a < b, "sorted by namespace");

    let filtered = snapshot(
        srv.http,
        "/?namespace=tenant-b&active=",
        "filtered",
        "1280,400",
    )
    .await;
    assert!(!filtered.contains("/servers/tenant-a/"), "{filtered}");
    assert!(filtered.contains("/servers/tenant-b/beta"), "{filtered}");

    let page = snapshot(srv.http, "/servers/tenant-a/alpha", "server", "1280,1500").await;
    for needle in [
        "<title>tenant-a/alpha · mcp-autoscaler</title>",
        "id=\"replicas-chart\"",
        "id=\"signals-chart\"",
        "<svg",
        "replicas over the last",
        "event_sessions",
        "id=\"keep-alive\"",
        "id=\"changes\"",
    ] {
        assert!(page.contains(needle), "{needle} in {page}");
    }
    assert!(page.contains("<dd id=\"active\">yes</dd>"), "{page}");
    // 45 live sessions at the default target of 20 per replica.
    assert!(page.contains("<td>45.00</td>"), "{page}");

    // Polled signals show with their values and ages.
    let polled = snapshot(
        srv.http,
        "/servers/tenant-c/search",
        "server-polled",
        "1280,1500",
    )
    .await;
    assert!(
        polled.contains("<td>sessions</td><td>prometheus</td><td>12.00</td>"),
        "{polled}"
    );
    assert!(
        polled.contains("<td>connections</td><td>prometheus</td><td>30.00</td>"),
        "{polled}"
    );

    let missing = http_get(srv.http, "/servers/tenant-a/nobody").await;
    assert_eq!(missing.0, 404);
    let bad = http_get(srv.http, "/?limit=5000").await;
    assert_eq!(bad.0, 400);
    assert!(bad.1.contains("limit"), "{}", bad.1);
    // A server's page takes the API's `?policy=` and nothing else.
    let other = http_get(srv.http, "/servers/tenant-a/alpha?policy=hpa").await;
    assert_eq!(other.0, 200);
    assert!(other.1.contains("<dd>hpa</dd>"), "{}", other.1);
    for bad in [
        "?policy=no-such-policy",
        "?bogus=1",
        "?policy=hpa&policy=hpa",
    ] {
        let page = http_get(srv.http, &format!("/servers/tenant-a/alpha{bad}")).await;
        assert_eq!(page.0, 400, "{bad}");
    }
    srv.stop().await.expect("stops");
}
