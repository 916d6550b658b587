//! Benchmark: wake-on-request latency, NATS publish → `true` on StreamIsActive.
//!
//! Starts a real `nats-server`, the real `mcp-autoscaler serve` binary (so
//! its memory can be read on its own), opens `WAKE_STREAMS` (10,000) streams
//! for as many servers on ONE HTTP/2 connection (as KEDA does), then
//! publishes `WAKE_EVENTS` events for sleeping servers at a steady pace and
//! measures publish → message received. The same run measures poll-based
//! baselines: a client polling IsActive every 200 ms (the KEDA HTTP add-on's
//! push interval) and every 30 s (KEDA's default pollingInterval).
//! Run: `cargo bench --bench wake` (`WAKE_JETSTREAM=1` reads via JetStream).

#[path = "../tests/common/mod.rs"]
mod common;

use common::bench::{env_usize, rss_kib, summary};
use common::servers::Nats;
use common::{free_port, so, wait_for_port};
use mcp_autoscaler::proto::external_scaler_client::ExternalScalerClient;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;
use tonic::transport::Channel;

struct Scaler {
    child: std::process::Child,
    grpc: u16,
}

impl Drop for Scaler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_scaler(nats: &Nats, jetstream: bool) -> Scaler {
    let (grpc, http) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("mcp-wake-bench-{grpc}.yaml"));
    let js = if jetstream {
        "  jetstream: { replay_window: 1m }\n"
    } else {
        ""
    };
    std::fs::write(
        &dir,
        format!("log: {{ level: warn }}\nnats:\n  url: {}\n{js}", nats.url()),
    )
    .expect("config");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-autoscaler"))
        .args(common::serve_args(grpc, http))
        .args(["--config", &dir.display().to_string()])
        .spawn()
        .expect("start serve");
    wait_for_port(([127, 0, 0, 1], grpc).into()).await;
    let http_addr = ([127, 0, 0, 1], http).into();
    let deadline = Instant::now() + Duration::from_secs(30);
    while common::http_get(http_addr, "/readyz").await.0 != 200 {
        assert!(Instant::now() < deadline, "scaler not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Scaler { child, grpc }
}

async fn channel(port: u16) -> Channel {
    Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("uri")
        .initial_connection_window_size(Some(64 << 20))
        .connect()
        .await
        .expect("connect")
}

/// Opens one stream per server; returns when all sent their first message.
/// Each `true` afterwards is timestamped into `woke`.
async fn open_streams(ch: &Channel, n: usize, woke: Arc<Mutex<HashMap<usize, Instant>>>) {
    let mut ready = tokio::task::JoinSet::new();
    for i in 0..n {
        let mut c = ExternalScalerClient::new(ch.clone());
        let woke = woke.clone();
        ready.spawn(async move {
            let mut s = common::open_stream(&mut c, &format!("s-{i}"), &[]).await;
            let first = s.next().await.expect("first").expect("ok");
            assert!(!first.result);
            tokio::spawn(async move {
                while let Some(Ok(m)) = s.next().await {
                    if m.result {
                        woke.lock()
                            .expect("lock")
                            .entry(i)
                            .or_insert_with(Instant::now);
                    }
                }
            });
        });
    }
    while let Some(r) = ready.join_next().await {
        r.expect("stream opened");
    }
}

async fn measure_push(
    nats: &Nats,
    scaler: &Scaler,
    n: usize,
    events: usize,
    pace: Duration,
) -> Vec<Duration> {
    let woke = Arc::new(Mutex::new(HashMap::new()));
    let ch = channel(scaler.grpc).await;
    open_streams(&ch, n, woke.clone()).await;
    let publisher = async_nats::connect(nats.url()).await.expect("connect");
    let mut sent = HashMap::new();
    let step = (n / events).max(1);
    let mut tick = tokio::time::interval(pace);
    for e in 0..events.min(n) {
        tick.tick().await;
        let i = e * step;
        sent.insert(i, Instant::now());
        publisher
            .publish(format!("mcp.activity.tenants.s-{i}"), "".into())
            .await
            .expect("publish");
        publisher.flush().await.expect("flush");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let woke = woke.lock().expect("lock");
    sent.iter()
        .map(|(i, t0)| {
            woke.get(i)
                .map_or(Duration::MAX, |t1| t1.duration_since(*t0))
        })
        .collect()
}

/// A client that polls IsActive every `every` (random phase per server) and
/// notes how long after the event it first sees `true`.
async fn measure_poll(
    nats: &Nats,
    scaler: &Scaler,
    servers: usize,
    every: Duration,
) -> Vec<Duration> {
    let ch = channel(scaler.grpc).await;
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    for i in 0..servers {
        let mut c = ExternalScalerClient::new(ch.clone());
        let (seen, stop) = (seen.clone(), stop.clone());
        let phase = every.mul_f64((i as f64 * 0.618_034) % 1.0);
        tokio::spawn(async move {
            tokio::time::sleep(phase).await;
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! { () = stop.cancelled() => return, _ = tick.tick() => {} }
                let name = format!("poll-{}-{i}", every.as_millis());
                if c.is_active(so(&name, &[]))
                    .await
                    .is_ok_and(|r| r.into_inner().result)
                {
                    seen.lock()
                        .expect("lock")
                        .entry(i)
                        .or_insert_with(Instant::now);
                }
            }
        });
    }
    tokio::time::sleep(every).await;
    let publisher = async_nats::connect(nats.url()).await.expect("connect");
    let mut sent = HashMap::new();
    for i in 0..servers {
        sent.insert(i, Instant::now());
        publisher
            .publish(
                format!("mcp.activity.tenants.poll-{}-{i}", every.as_millis()),
                "".into(),
            )
            .await
            .expect("publish");
        publisher.flush().await.expect("flush");
        tokio::time::sleep(every / servers as u32).await;
    }
    tokio::time::sleep(every + Duration::from_millis(500)).await;
    stop.cancel();
    let seen = seen.lock().expect("lock");
    sent.iter()
        .map(|(i, t0)| {
            seen.get(i)
                .map_or(Duration::MAX, |t1| t1.duration_since(*t0))
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let n = env_usize("WAKE_STREAMS", 10_000);
    let events = env_usize("WAKE_EVENTS", 2_000);
    let jetstream = std::env::var("WAKE_JETSTREAM").is_ok();
    let nats = Nats::start().await;
    let scaler = start_scaler(&nats, jetstream).await;
    let rss_idle = rss_kib(scaler.child.id());
    let latencies = measure_push(&nats, &scaler, n, events, Duration::from_millis(5)).await;
    let rss_streams = rss_kib(scaler.child.id());
    let lost = latencies.iter().filter(|d| **d == Duration::MAX).count();
    println!(
        "mode: {} | streams open: {n} on one HTTP/2 connection | events: {events} at 200/s",
        if jetstream { "JetStream" } else { "core NATS" }
    );
    println!(
        "scaler RSS: {} KiB idle, {} KiB with {n} streams ({:.1} KiB per stream)",
        rss_idle,
        rss_streams,
        (rss_streams.saturating_sub(rss_idle)) as f64 / n as f64
    );
    assert_eq!(lost, 0, "{lost} wakes never arrived");
    summary(
        "push (ours): NATS publish -> StreamIsActive true",
        latencies,
    );
    summary(
        "baseline: IsActive polled every 200 ms (KEDA HTTP add-on push interval)",
        measure_poll(&nats, &scaler, 200, Duration::from_millis(200)).await,
    );
    summary(
        "baseline: IsActive polled every 30 s (KEDA pollingInterval default)",
        measure_poll(&nats, &scaler, 100, Duration::from_secs(30)).await,
    );
}
