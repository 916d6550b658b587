//! Benchmark: the polled hot path KEDA drives for every ScaledObject
//! (GetMetricSpec + GetMetrics + IsActive), 10,000 ScaledObjects over ONE
//! HTTP/2 connection, against the real `serve` binary fed by a real
//! Prometheus holding 10,000 servers. In the same run: the latency of one
//! live Prometheus instant query per call (what KEDA's built-in Prometheus
//! scaler does). Run: `cargo bench --bench hot_path`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::servers::{Exporter, Gauges, Prometheus};
use common::{free_port, so, wait_for_port};
use mcp_autoscaler::config::PrometheusConfig;
use mcp_autoscaler::proto::GetMetricsRequest;
use mcp_autoscaler::proto::external_scaler_client::ExternalScalerClient;
use mcp_autoscaler::source::prometheus::{HttpQuerier, Querier};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

const SCALED_OBJECTS: usize = 10_000;
/// When (seconds into the paced run) calls took over 2 ms.
static SLOW: Mutex<Vec<f64>> = Mutex::new(Vec::new());

fn slow_per_second() -> Vec<usize> {
    let slow = SLOW.lock().expect("lock");
    let mut per = vec![0usize; 11];
    for &t in slow.iter() {
        per[(t as usize).min(10)] += 1;
    }
    per
}

/// (steal, total) CPU ticks of the whole machine so far, from /proc/stat.
fn steal_ticks() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    (cpu.get(7).copied().unwrap_or(0.0), cpu.iter().sum())
}

/// Percentage of CPU time stolen since `before`.
fn steal_share(before: (f64, f64)) -> f64 {
    let after = steal_ticks();
    let total = after.1 - before.1;
    if total > 0.0 {
        (after.0 - before.0) * 100.0 / total
    } else {
        0.0
    }
}

/// User + system CPU seconds used so far by process `pid`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn summary(name: &str, mut v: Vec<Duration>, wall: Duration) {
    v.sort();
    let p = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name}: {} calls in {:.1?} = {:.0} calls/s | p50 {:?} p99 {:?} max {:?}",
        v.len(),
        wall,
        v.len() as f64 / wall.as_secs_f64(),
        p(0.5),
        p(0.99),
        v[v.len() - 1]
    );
}

/// One KEDA poll of ScaledObject `i`, call `k` of 3.
async fn call(c: &mut ExternalScalerClient<Channel>, i: usize, k: usize) {
    let so = so(&format!("mcp-{i}"), &[]);
    let ok = match k {
        0 => c.get_metric_spec(so).await.is_ok(),
        1 => c
            .get_metrics(GetMetricsRequest {
                scaled_object_ref: Some(so),
                metric_name: "mcp-desired-replicas".into(),
            })
            .await
            .is_ok(),
        _ => c.is_active(so).await.is_ok(),
    };
    assert!(ok, "call failed");
}

async fn paced(ch: &Channel, per_second: usize, seconds: u64) -> (Vec<Duration>, Duration) {
    let lat = Arc::new(Mutex::new(Vec::new()));
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let per_ms = per_second / 1000;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut n = 0usize;
    while start.elapsed() < Duration::from_secs(seconds) {
        tick.tick().await;
        for _ in 0..per_ms {
            let (mut c, lat) = (ExternalScalerClient::new(ch.clone()), lat.clone());
            let (i, k) = ((n / 3) % SCALED_OBJECTS, n % 3);
            n += 1;
            tasks.spawn(async move {
                let t = Instant::now();
                call(&mut c, i, k).await;
                let d = t.elapsed();
                lat.lock().expect("lock").push(d);
                if d > Duration::from_millis(2) {
                    SLOW.lock()
                        .expect("lock")
                        .push(start.elapsed().as_secs_f64());
                }
            });
        }
    }
    while tasks.join_next().await.is_some() {}
    let wall = start.elapsed();
    let v = std::mem::take(&mut *lat.lock().expect("lock"));
    (v, wall)
}

async fn saturated(ch: &Channel, concurrency: usize, seconds: u64) -> (Vec<Duration>, Duration) {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..concurrency {
        let mut c = ExternalScalerClient::new(ch.clone());
        tasks.spawn(async move {
            let mut lat = Vec::new();
            let mut n = w;
            while start.elapsed() < Duration::from_secs(seconds) {
                let t = Instant::now();
                call(&mut c, (n / 3) % SCALED_OBJECTS, n % 3).await;
                lat.push(t.elapsed());
                n += concurrency;
            }
            lat
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r.expect("worker"));
    }
    (all, start.elapsed())
}

#[tokio::main]
async fn main() {
    let names: Vec<String> = (0..SCALED_OBJECTS).map(|i| format!("mcp-{i}")).collect();
    let exporter = Exporter::start().await;
    exporter.set(
        &names
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    s.as_str(),
                    Gauges {
                        sessions: (i % 50) as f64,
                        ..Gauges::default()
                    },
                )
            })
            .collect::<Vec<_>>(),
    );
    // Scraped every 15 s, as deployed: a 1 s scrape of 30,000 series would
    // take a core in bursts every second on this 2-core machine.
    let prom = Prometheus::start_scraping_every(exporter.addr, "15s").await;
    let (grpc, http) = (free_port(), free_port());
    // HOT_PIN=1 runs the scaler on CPU 1 only (with `taskset`); run the bench
    // itself under `taskset -c 0` so the load client and Prometheus keep to
    // CPU 0 and the scaler has a core of its own.
    let bin = env!("CARGO_BIN_EXE_mcp-autoscaler");
    let mut command = if std::env::var("HOT_PIN").is_ok() {
        let mut c = std::process::Command::new("taskset");
        c.args(["-c", "1", bin]);
        c
    } else {
        std::process::Command::new(bin)
    };
    let mut child = command
        .args(common::serve_args(grpc, http))
        .args(["--prometheus-url", &prom.url(), "--log-level", "warn"])
        .spawn()
        .expect("serve");
    wait_for_port(([127, 0, 0, 1], grpc).into()).await;
    let querier = HttpQuerier::new(&PrometheusConfig {
        url: prom.url(),
        ..PrometheusConfig::default()
    })
    .expect("client");
    let deadline = Instant::now() + Duration::from_secs(90);
    while querier
        .instant("sum by (server) (mcp_active_sessions)".into())
        .await
        .map(|v| v.len())
        .unwrap_or(0)
        < SCALED_OBJECTS
    {
        assert!(Instant::now() < deadline, "prometheus never held the fleet");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    while common::http_get(([127, 0, 0, 1], http).into(), "/readyz")
        .await
        .0
        != 200
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ch = Channel::from_shared(format!("http://127.0.0.1:{grpc}"))
        .expect("uri")
        .initial_connection_window_size(Some(64 << 20))
        .connect()
        .await
        .expect("connect");
    saturated(&ch, 16, 2).await; // warm-up

    println!(
        "{SCALED_OBJECTS} ScaledObjects, one HTTP/2 connection, scaler fed by a real Prometheus with {SCALED_OBJECTS} servers"
    );
    let cpu0 = cpu_seconds(child.id());
    let steal0 = steal_ticks();
    let (v, wall) = paced(&ch, 5_000, 10).await;
    let cpu = cpu_seconds(child.id()) - cpu0;
    let steal = steal_share(steal0);
    println!(
        "scaler process CPU during the paced run: {cpu:.2} s for {} calls = {:.0} µs per call ({:.0}% of one core)",
        v.len(),
        cpu * 1e6 / v.len() as f64,
        cpu * 100.0 / wall.as_secs_f64()
    );
    println!(
        "calls over 2 ms in each second of the paced run: {:?}; CPU stolen by the hypervisor meanwhile: {:.1}%",
        slow_per_second(),
        steal
    );
    summary(
        "paced 5,000 calls/s (GetMetricSpec/GetMetrics/IsActive round robin)",
        v,
        wall,
    );
    let (v, wall) = saturated(&ch, 64, 10).await;
    summary("saturated, 64 concurrent calls", v, wall);

    let mut ours = Vec::new();
    let mut c = ExternalScalerClient::new(ch.clone());
    let t = Instant::now();
    for n in 0..1500 {
        let q = Instant::now();
        call(&mut c, (n * 17 / 3) % SCALED_OBJECTS, n % 3).await;
        ours.push(q.elapsed());
    }
    summary("ours, one call at a time (sequential)", ours, t.elapsed());

    let mut prom_lat = Vec::new();
    let t = Instant::now();
    for i in 0..500 {
        let q = Instant::now();
        let r = querier
            .instant(format!(
                "sum(mcp_active_sessions{{server=\"mcp-{}\"}})",
                i * 17 % SCALED_OBJECTS
            ))
            .await
            .expect("query");
        assert_eq!(r.len(), 1);
        prom_lat.push(q.elapsed());
    }
    summary(
        "one live Prometheus instant query per call (KEDA built-in scaler), sequential",
        prom_lat,
        t.elapsed(),
    );
    if std::env::var("HOT_QUIET").is_ok() {
        // Stop Prometheus so only client and scaler share the cores.
        drop(prom);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (v, wall) = paced(&ch, 5_000, 10).await;
        summary(
            "paced 5,000 calls/s with Prometheus stopped (data then goes stale: answers are holds)",
            v,
            wall,
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}
