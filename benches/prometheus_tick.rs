//! Benchmark: one Prometheus tick for a fleet of 10,000 MCP servers.
//!
//! Starts a real `prometheus` scraping an exporter of 10,000 servers, then in
//! the same run measures (a) our grouped poll — one query per signal for the
//! whole fleet — and (b) what KEDA's built-in Prometheus scaler does: one
//! instant query per ScaledObject. Run: `cargo bench --bench prometheus_tick`
//! (`SERVERS=N` to change the fleet size).

#[path = "../tests/common/mod.rs"]
mod common;

use common::servers::{Exporter, Gauges, Prometheus};
use futures::StreamExt;
use mcp_autoscaler::config::PrometheusConfig;
use mcp_autoscaler::output::metrics::Metrics;
use mcp_autoscaler::source::Store;
use mcp_autoscaler::source::prometheus::{HttpQuerier, PrometheusSource, Querier};
use mcp_autoscaler::source::{SourceContext, Telemetry};
use mcp_autoscaler::time::SystemClock;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("SERVERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let names: Vec<String> = (0..n).map(|i| format!("mcp-{i}")).collect();
    let exporter = Exporter::start().await;
    let fleet: Vec<(&str, Gauges)> = names
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                s.as_str(),
                Gauges {
                    connections: (i % 7) as f64,
                    sessions: (i % 5) as f64,
                    queue: (i % 3) as f64,
                },
            )
        })
        .collect();
    exporter.set(&fleet);
    let prom = Prometheus::start(exporter.addr).await;
    let config = PrometheusConfig {
        url: prom.url(),
        timeout: Duration::from_secs(10),
        ..PrometheusConfig::default()
    };
    let store = Arc::new(Store::new(true));
    let ctx = SourceContext {
        store: store.clone(),
        telemetry: Telemetry::new(Arc::new(Metrics::default())),
        clock: Arc::new(SystemClock),
        ready: Arc::new(AtomicBool::new(false)),
    };
    let source = PrometheusSource::new(HttpQuerier::new(&config).expect("client"), &config, ctx);
    let ingest = Instant::now();
    loop {
        let outcome = source.poll_once().await;
        if outcome.servers == n {
            break;
        }
        assert!(
            ingest.elapsed() < Duration::from_secs(120),
            "prometheus never held all {n} servers"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let mut ticks = Vec::new();
    let mut queries = 0;
    for _ in 0..20 {
        let t = Instant::now();
        let outcome = source.poll_once().await;
        ticks.push(t.elapsed());
        queries = outcome.queries;
        assert_eq!((outcome.failed, outcome.servers), (0, n));
    }
    ticks.sort();

    let querier = HttpQuerier::new(&config).expect("client");
    let concurrency = 32;
    let t = Instant::now();
    let answered = futures::stream::iter(names.iter())
        .map(|s| querier.instant(format!("sum(mcp_active_sessions{{server=\"{s}\"}})"), None))
        .buffer_unordered(concurrency)
        .filter(|r| futures::future::ready(r.as_ref().is_ok_and(|v| v.len() == 1)))
        .count()
        .await;
    let per_server = t.elapsed();
    assert_eq!(answered, n, "every per-server query answered");

    let median = percentile(&ticks, 0.5);
    println!("servers exposed: {n} (3 gauges each, scraped every 1s by a real prometheus)");
    println!(
        "grouped poll (ours): {queries} queries per tick for all 6 signals; tick wall time over 20 ticks: p50 {:?}, p95 {:?}, max {:?}",
        median,
        percentile(&ticks, 0.95),
        ticks[ticks.len() - 1]
    );
    println!(
        "per-server (KEDA prometheus scaler style): {n} queries for ONE signal, concurrency {concurrency}: {:?} wall time ({:.0} queries/s)",
        per_server,
        n as f64 / per_server.as_secs_f64()
    );
    println!(
        "ratio: per-server one-signal sweep / grouped six-signal tick (p50) = {:.1}x",
        per_server.as_secs_f64() / median.as_secs_f64()
    );
}
