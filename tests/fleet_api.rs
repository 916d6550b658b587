//! The recommendation service's fleet API against real `prometheus` and
//! `nats-server`: the fleet listed and paged, filters, errors as JSON, the
//! bearer token, and the per-server decision metrics.

mod common;

use common::servers::{Exporter, Gauges, Nats, Prometheus, eventually};
use common::{WAIT, start};
use mcp_autoscaler::config::{Config, HttpAuth, NatsConfig};
use serde_json::Value;

const TOKEN: &str = "fleet-api-test-token-0123456789";

fn gauges(sessions: f64) -> Gauges {
    Gauges {
        connections: 0.0,
        sessions,
        queue: 0.0,
    }
}

async fn get(http: std::net::SocketAddr, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(format!("http://{http}{path}"));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = tokio::time::timeout(WAIT, request.send())
        .await
        .expect("in time")
        .expect("response");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn the_fleet_is_listed_paged_filtered_and_guarded_by_the_token() {
    let exporter = Exporter::start().await;
    exporter.set(&[
        ("alpha", gauges(3.0)),
        ("beta", gauges(0.0)),
        ("team-b/alpha", gauges(45.0)),
        ("gamma", gauges(0.0)),
    ]);
    let prom = Prometheus::start(exporter.addr).await;
    let nats = Nats::start().await;
    let token_file = tempfile::NamedTempFile::new().expect("temp");
    std::fs::write(token_file.path(), format!("{TOKEN}\n")).expect("write token");
    let mut config = Config {
        prometheus: Some(common::poll_every_second(prom.url())),
        nats: Some(NatsConfig {
            url: nats.url(),
            ..NatsConfig::default()
        }),
        ..Config::default()
    };
    config.server.http_auth = Some(HttpAuth::BearerTokenFile(token_file.path().to_owned()));
    let srv = start(common::sized_by_sessions(config)).await;
    eventually(WAIT, "four servers polled", || srv.store.len() >= 4).await;
    // A NATS event makes a fifth server known (and active).
    let publisher = async_nats::connect(nats.url()).await.expect("connect");
    common::wait_ready(srv.http).await;
    publisher
        .publish("mcp.activity.tenants.delta", "".into())
        .await
        .expect("publish");
    publisher.flush().await.expect("flush");
    eventually(WAIT, "the event's server known", || srv.store.len() >= 5).await;

    // Open: health and metrics. Guarded: /v1.
    let (status, body) = get(srv.http, "/v1/servers", None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("Bearer")));
    assert_eq!(
        get(srv.http, "/v1/servers", Some("wrong-token-0123456789"))
            .await
            .0,
        401
    );
    let (status, _) = get(srv.http, "/healthz", None).await;
    assert_eq!(status, 200);
    // The live view is guarded too; the OpenAPI document holds no data.
    for page in ["/", "/servers/tenants/a"] {
        assert_eq!(get(srv.http, page, None).await.0, 401, "{page}");
    }
    assert_eq!(get(srv.http, "/", Some(TOKEN)).await.0, 200);
    assert_eq!(get(srv.http, "/openapi.json", None).await.0, 200);

    let (status, page) = get(srv.http, "/v1/servers?limit=2", Some(TOKEN)).await;
    assert_eq!(status, 200, "{page}");
    let name = |r: &Value| {
        format!(
            "{}/{}",
            r["namespace"].as_str().unwrap_or(""),
            r["server"].as_str().unwrap_or("")
        )
    };
    let mut seen: Vec<String> = page["servers"]
        .as_array()
        .expect("rows")
        .iter()
        .map(name)
        .collect();
    let mut cursor = page["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let (_, next) = get(
            srv.http,
            &format!("/v1/servers?limit=2&cursor={c}"),
            Some(TOKEN),
        )
        .await;
        seen.extend(next["servers"].as_array().expect("rows").iter().map(name));
        cursor = next["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(
        seen,
        [
            "team-b/alpha",
            "tenants/alpha",
            "tenants/beta",
            "tenants/delta",
            "tenants/gamma"
        ],
        "sorted by namespace then server, each once"
    );

    let (_, busy) = get(srv.http, "/v1/servers?namespace=team-b", Some(TOKEN)).await;
    let row = &busy["servers"][0];
    assert_eq!(
        (row["active"].as_bool(), row["desired"].as_u64()),
        (Some(true), Some(3)),
        "45 sessions / 20 per replica: {row}"
    );
    assert_eq!(row["data"], "fresh");
    assert!(
        row["data_age_s"].as_f64().is_some_and(|a| a < 30.0),
        "{row}"
    );
    let (_, idle) = get(srv.http, "/v1/servers?active=false", Some(TOKEN)).await;
    let idle: Vec<String> = idle["servers"]
        .as_array()
        .expect("rows")
        .iter()
        .map(name)
        .collect();
    assert_eq!(idle, ["tenants/beta", "tenants/gamma"]);

    let (status, err) = get(srv.http, "/v1/servers?limit=5000", Some(TOKEN)).await;
    assert_eq!(status, 400);
    assert!(
        err["error"].as_str().is_some_and(|e| e.contains("limit")),
        "{err}"
    );
    let (status, err) = get(srv.http, "/v1/nothing", Some(TOKEN)).await;
    assert_eq!(status, 404, "{err}");
    // Every endpoint reads its parameters alike: a repeated or unknown one
    // is a JSON 400 naming it.
    for (path, named) in [
        ("/v1/servers?limit=1&limit=2", "limit"),
        (
            "/v1/servers/team-b/alpha?policy=default&policy=hpa",
            "policy",
        ),
        ("/v1/servers/team-b/alpha?bogus=1", "bogus"),
    ] {
        let (status, err) = get(srv.http, path, Some(TOKEN)).await;
        assert_eq!(status, 400, "{path}: {err}");
        assert!(
            err["error"].as_str().is_some_and(|e| e.contains(named)),
            "{path}: {err}"
        );
    }
    // The scheme's case does not matter.
    let lower = reqwest::Client::new()
        .get(format!("http://{}/v1/servers", srv.http))
        .header("authorization", format!("bearer {TOKEN}"));
    let lower = tokio::time::timeout(WAIT, lower.send())
        .await
        .expect("in time");
    assert_eq!(lower.expect("response").status().as_u16(), 200);
    // A wrong method: 405 with the methods allowed and a JSON reason.
    let post = reqwest::Client::new()
        .post(format!("http://{}/v1/servers", srv.http))
        .bearer_auth(TOKEN);
    let post = tokio::time::timeout(WAIT, post.send())
        .await
        .expect("in time");
    let post = post.expect("response");
    assert_eq!(post.status().as_u16(), 405);
    assert_eq!(
        post.headers().get("allow").map(|v| v.as_bytes()),
        Some(&b"GET,HEAD"[..])
    );
    let body: Value = post.json().await.expect("JSON body");
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("POST")),
        "{body}"
    );

    // A plain HPA (through prometheus-adapter) can follow the decisions.
    let (_, metrics) = common::http_get(srv.http, "/metrics").await;
    assert!(
        metrics.contains(r#"mcp_autoscaler_desired_replicas{namespace="team-b",server="alpha"} 3"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"mcp_autoscaler_active{namespace="tenants",server="beta"} 0"#));
    srv.stop().await.expect("stops");
}
