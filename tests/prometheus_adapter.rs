//! The no-KEDA path: a real Prometheus scrapes the scaler's /metrics, and
//! the shipped prometheus-adapter rule finds the decision series with the
//! labels its resource overrides name, for the object the shipped HPA
//! example asks about.

mod common;

use common::servers::{Exporter, Gauges, Prometheus};
use common::{WAIT, start};
use mcp_autoscaler::config::Config;
use serde_json::Value;
use std::path::Path;

fn shipped(file: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/examples")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("read");
    serde_saphyr::from_str(&text).expect("yaml")
}

async fn query(prom: &str, path: &str, promql: &str) -> Value {
    let url = format!("{prom}{path}");
    let response = reqwest::Client::new()
        .get(url)
        .query(&[(
            if path.ends_with("series") {
                "match[]"
            } else {
                "query"
            },
            promql,
        )])
        .send()
        .await
        .expect("query");
    response.json().await.expect("json")
}

/// Runs `ask` until `done` holds of its answer (bounded), and returns it.
async fn until<F, Fut>(ask: F, done: impl Fn(&Value) -> bool) -> Value
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let deadline = tokio::time::Instant::now() + WAIT * 3;
    loop {
        let answer = ask().await;
        if done(&answer) {
            return answer;
        }
        assert!(tokio::time::Instant::now() < deadline, "never: {answer}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn the_adapter_rule_finds_each_servers_decision_with_its_namespace_and_deployment() {
    let exporter = Exporter::start().await;
    let busy = Gauges {
        connections: 0.0,
        sessions: 45.0,
        queue: 0.0,
    };
    exporter.set(&[("mcp-tenants/weather", busy)]);
    let signals = Prometheus::start(exporter.addr).await;
    let srv = start(common::sized_by_sessions(Config {
        prometheus: Some(common::poll_every_second(signals.url())),
        ..Config::default()
    }))
    .await;
    // A second Prometheus scrapes the scaler, as the cluster's would.
    let scraper = Prometheus::start(srv.http).await;

    let adapter = shipped("adapter-rules.yaml");
    let rules: Value =
        serde_saphyr::from_str(adapter["data"]["config.yaml"].as_str().expect("config"))
            .expect("rules");
    let rule = &rules["rules"][0];
    let overrides = rule["resources"]["overrides"]
        .as_object()
        .expect("overrides");
    let hpa = shipped("hpa-without-keda.yaml");
    let object = &hpa["spec"]["metrics"][0]["object"];
    assert_eq!(
        object["metric"]["name"], rule["name"]["as"],
        "the HPA asks for the rule's metric"
    );
    assert_eq!(
        object["describedObject"]["kind"]
            .as_str()
            .map(str::to_lowercase),
        overrides["server"]["resource"].as_str().map(str::to_owned),
        "the server label maps to the object kind the HPA names"
    );

    let series_query = rule["seriesQuery"].as_str().expect("seriesQuery");
    let scraper_url = scraper.url();
    let found = until(
        || query(&scraper_url, "/api/v1/series", series_query),
        |f| f["data"].as_array().is_some_and(|d| !d.is_empty()),
    )
    .await;
    for series in found["data"].as_array().expect("series") {
        for label in overrides.keys() {
            assert!(
                series
                    .get(label)
                    .is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty())),
                "{label} missing in {series}"
            );
        }
    }
    // What the adapter sends the HPA for Deployment mcp-tenants/weather.
    let metrics_query = rule["metricsQuery"]
        .as_str()
        .expect("metricsQuery")
        .replace("<<.Series>>", "mcp_autoscaler_desired_replicas")
        .replace(
            "<<.LabelMatchers>>",
            r#"namespace="mcp-tenants",server="weather""#,
        )
        .replace("<<.GroupBy>>", "server");
    let answer = until(
        || query(&scraper_url, "/api/v1/query", &metrics_query),
        |r| r["data"]["result"][0]["value"][1] == "3",
    )
    .await;
    assert_eq!(
        answer["data"]["result"].as_array().map(Vec::len),
        Some(1),
        "one series per Deployment: {answer}"
    );
    srv.stop().await.expect("stops");
}
