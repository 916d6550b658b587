//! Benchmark: the polled hot path KEDA drives for every ScaledObject
//! (GetMetricSpec + GetMetrics + IsActive), 10,000 ScaledObjects over ONE
//! HTTP/2 connection, against the real `serve` binary fed by a real
//! Prometheus holding 10,000 servers. In the same run: the latency of one
//! live Prometheus instant query per call (what KEDA's built-in Prometheus
//! scaler does). Run: `cargo bench --bench hot_path`.
//!
//! The paced runs are open loop: a pacer thread hands each call to a
//! single-thread client runtime at its scheduled time (Poisson, uniform or
//! 5-at-once arrivals), whether or not earlier calls have been answered, and
//! a call's latency runs from that hand-over to its checked answer. Each run
//! prints, second by second, the p99, the CPU the hypervisor stole, and the
//! CPU used by the scaler, Prometheus and this process, so a slow second can
//! be told apart from a slow scaler.
//!
//! Knobs (environment): `HOT_SECONDS` (length of each paced run, 10),
//! `HOT_QUIET=1` (one more paced run with Prometheus stopped), `HOT_QUICK=1`
//! (only the first paced run), `HOT_BIN` (another build of the scaler, for
//! A/B runs), `HOT_SERVER_WORKERS` (the scaler's tokio workers),
//! `HOT_POLL_INTERVAL` (the scaler's Prometheus poll interval, 15 s),
//! `HOT_PROM_IDLE=0` (Prometheus at normal priority instead of
//! SCHED_IDLE), `HOT_STREAMS=N` (N `StreamIsActive` streams held open),
//! `HOT_IDLE_FLEET=1` (one server in 50 busy instead of 49 in 50), `HOT_PIN=1` (the scaler on CPU 1 only; run the bench under
//! `taskset -c 0`).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "hot_path/raw.rs"]
mod raw;

use common::servers::{Exporter, Gauges, Prometheus};
use common::{free_port, so, wait_for_port};
use mcp_autoscaler::config::PrometheusConfig;
use mcp_autoscaler::proto::GetMetricsRequest;
use mcp_autoscaler::proto::external_scaler_client::ExternalScalerClient;
use mcp_autoscaler::source::prometheus::{HttpQuerier, Querier};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

const SCALED_OBJECTS: usize = 10_000;

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

/// Puts every thread of process `pid` under SCHED_IDLE (threads started
/// later inherit it from the thread that starts them).
fn idle_policy(pid: Option<u32>) {
    let Some(pid) = pid else { return };
    let done = std::process::Command::new("chrt")
        .args(["--idle", "--all-tasks", "--pid", "0", &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(done, "chrt --idle Prometheus ({pid})");
}

/// The processes whose CPU use the paced runs report second by second.
#[derive(Clone, Copy)]
struct Watched {
    scaler: u32,
    /// The scaler's HTTP port, for its poll counter.
    scaler_http: SocketAddr,
    prometheus: Option<u32>,
}

/// The scaler's count of completed Prometheus polls (a blocking GET of
/// `/metrics` with a short timeout; 0 when it cannot be read).
fn scaler_polls(http: SocketAddr) -> f64 {
    use std::io::{Read, Write};
    let read = || -> std::io::Result<String> {
        let mut s = std::net::TcpStream::connect_timeout(&http, Duration::from_millis(200))?;
        s.set_read_timeout(Some(Duration::from_millis(500)))?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
        let mut body = String::new();
        s.read_to_string(&mut body)?;
        Ok(body)
    };
    read()
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("mcp_autoscaler_polls_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// What the machine did during one second of a paced run.
#[derive(Clone, Copy, Default)]
struct Second {
    /// Share of the machine's CPU time the hypervisor stole, in %.
    steal: f64,
    /// CPU milliseconds used by the scaler, Prometheus and this process
    /// (the load client, the pacer and the exporter).
    scaler_ms: f64,
    prometheus_ms: f64,
    client_ms: f64,
    /// Whether the scaler completed a Prometheus poll in this second.
    polled: bool,
}

impl Watched {
    fn cpu(&self) -> [f64; 3] {
        [
            cpu_seconds(self.scaler),
            self.prometheus.map_or(0.0, cpu_seconds),
            cpu_seconds(std::process::id()),
        ]
    }

    /// Samples the machine once a second from `start` for `seconds` seconds.
    fn sample(self, start: Instant, seconds: u32) -> std::thread::JoinHandle<Vec<Second>> {
        std::thread::spawn(move || {
            let (mut steal, mut cpu) = (steal_ticks(), self.cpu());
            let mut polls = scaler_polls(self.scaler_http);
            (1..=seconds)
                .map(|k| {
                    let due = start + Duration::from_secs(k.into());
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    let (steal_now, cpu_now) = (steal_ticks(), self.cpu());
                    let polls_now = scaler_polls(self.scaler_http);
                    let total = steal_now.1 - steal.1;
                    let ms = |i: usize| (cpu_now[i] - cpu[i]) * 1000.0;
                    let second = Second {
                        steal: if total > 0.0 {
                            (steal_now.0 - steal.0) * 100.0 / total
                        } else {
                            0.0
                        },
                        scaler_ms: ms(0),
                        prometheus_ms: ms(1),
                        client_ms: ms(2),
                        polled: polls_now > polls,
                    };
                    (steal, cpu, polls) = (steal_now, cpu_now, polls_now);
                    second
                })
                .collect()
        })
    }
}

fn summary(name: &str, mut v: Vec<Duration>, wall: Duration) {
    v.sort();
    println!(
        "{name}: {} calls in {:.1?} = {:.0} calls/s | p50 {:?} p99 {:?} max {:?}",
        v.len(),
        wall,
        v.len() as f64 / wall.as_secs_f64(),
        quantile(&v, 0.5),
        quantile(&v, 0.99),
        quantile(&v, 1.0)
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

/// Which client the open-loop runs use.
#[derive(Clone, Copy, Debug)]
enum Client {
    /// tonic's generated client on a `Channel`, as a Rust KEDA would use.
    Tonic,
    /// [`raw::RawClient`]: pre-encoded requests straight on h2, so that the
    /// load client takes less of the CPU the scaler shares with it.
    Raw,
}

/// A connected load client.
#[derive(Clone)]
enum Connection {
    Tonic(Channel),
    Raw(raw::RawClient),
}

impl Connection {
    async fn open(grpc: SocketAddr, client: Client) -> Self {
        match client {
            Client::Tonic => Self::Tonic(common::channel(grpc).await),
            Client::Raw => Self::Raw(
                raw::RawClient::connect(grpc, SCALED_OBJECTS, |i| so(&format!("mcp-{i}"), &[]))
                    .await,
            ),
        }
    }

    async fn call(&self, i: usize, k: usize) {
        match self {
            Self::Tonic(ch) => call(&mut ExternalScalerClient::new(ch.clone()), i, k).await,
            Self::Raw(c) => c.call(i, k).await,
        }
    }
}

/// How the open-loop client spaces its calls.
#[derive(Clone, Copy, Debug)]
enum Arrivals {
    /// 5 calls at once every millisecond (tokio's timer granularity): the
    /// harshest spacing, and what the first sessions measured.
    Burst,
    /// One call every 200 µs.
    Uniform,
    /// Exponential gaps with a 200 µs mean: 10,000 ScaledObjects polled on
    /// independent timers, as KEDA's per-ScaledObject loops do.
    Poisson,
}

/// What an open-loop run measured.
struct OpenLoop {
    /// Per call: when it was handed to the client runtime (seconds into the
    /// run) and how long it took from then.
    calls: Vec<(f64, Duration)>,
    wall: Duration,
    /// How late the pacer handed calls over, against its schedule.
    pacer_late: Vec<Duration>,
    seconds: Vec<Second>,
}

/// Offers `per_second` calls for `seconds` on one new HTTP/2 connection, on
/// a schedule that does not wait for answers (open loop). The client is a
/// single-thread tokio runtime on its own thread (no cross-thread wake-ups
/// between a call and its connection); a pacer thread hands each call over
/// at its scheduled time.
fn open_loop(
    grpc: SocketAddr,
    per_second: u32,
    seconds: u32,
    arrivals: Arrivals,
    client: Client,
    watched: Watched,
) -> OpenLoop {
    use rand::SeedableRng;
    use rand_distr::Distribution;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let handle = runtime.handle().clone();
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    let client_thread = std::thread::Builder::new()
        .name("load-client".into())
        .spawn(move || {
            runtime.block_on(finished).ok();
        })
        .expect("client thread");
    let connection = handle.block_on(Connection::open(grpc, client));
    handle.block_on(async {
        for n in 0..3000 {
            connection.call(n % SCALED_OBJECTS, n % 3).await; // warm-up
        }
    });
    let total = (per_second * seconds) as usize;
    let mean = Duration::from_secs(1) / per_second;
    let exp = rand_distr::Exp::new(1.0).expect("rate");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let (tx, rx) = std::sync::mpsc::channel();
    let mut pacer_late = Vec::with_capacity(total);
    let start = Instant::now();
    let sampler = watched.sample(start, seconds);
    let mut at = Duration::ZERO;
    for n in 0..total {
        at += match arrivals {
            Arrivals::Burst if n % 5 == 0 => mean * 5,
            Arrivals::Burst => Duration::ZERO,
            Arrivals::Uniform => mean,
            Arrivals::Poisson => mean.mul_f64(exp.sample(&mut rng)),
        };
        let due = start + at;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let sent = Instant::now();
        pacer_late.push(sent - due);
        let (connection, tx) = (connection.clone(), tx.clone());
        let (i, k) = ((n / 3) % SCALED_OBJECTS, n % 3);
        handle.spawn(async move {
            connection.call(i, k).await;
            tx.send(((sent - start).as_secs_f64(), sent.elapsed())).ok();
        });
    }
    drop(tx);
    let calls: Vec<(f64, Duration)> = rx.iter().take(total).collect();
    let wall = start.elapsed();
    assert_eq!(calls.len(), total, "every call answered");
    done.send(()).ok();
    client_thread.join().expect("client thread");
    OpenLoop {
        calls,
        wall,
        pacer_late,
        seconds: sampler.join().expect("sampler"),
    }
}

/// Length of each paced run: `HOT_SECONDS`, 10 unless set.
fn paced_seconds() -> u32 {
    std::env::var("HOT_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10)
}

/// The `q` quantile of sorted `v`.
fn quantile(v: &[Duration], q: f64) -> Duration {
    v.get(((v.len().max(1) - 1) as f64 * q).round() as usize)
        .copied()
        .unwrap_or_default()
}

/// Runs `open_loop` off the async runtime and prints what it measured,
/// overall and second by second next to what the machine did meanwhile.
async fn paced(grpc: SocketAddr, arrivals: Arrivals, client: Client, watched: Watched, what: &str) {
    let run = tokio::task::spawn_blocking(move || {
        open_loop(grpc, 5_000, paced_seconds(), arrivals, client, watched)
    })
    .await
    .expect("open loop");
    let mut late = run.pacer_late;
    late.sort();
    summary(what, run.calls.iter().map(|c| c.1).collect(), run.wall);
    println!(
        "  pacer lateness p99 {:?}; per second: p99 | calls over 2 ms | CPU stolen | CPU ms used by scaler, Prometheus, load client | scaler polled",
        quantile(&late, 0.99)
    );
    for (k, second) in run.seconds.iter().enumerate() {
        let mut v: Vec<Duration> = run
            .calls
            .iter()
            .filter(|c| c.0 as usize == k)
            .map(|c| c.1)
            .collect();
        v.sort();
        let slow = v.iter().filter(|d| **d > Duration::from_millis(2)).count();
        println!(
            "  s{k}: {:>9.3?} | {slow:>4} | {:>5.1}% | {:>4.0} {:>4.0} {:>4.0} | {}",
            quantile(&v, 0.99),
            second.steal,
            second.scaler_ms,
            second.prometheus_ms,
            second.client_ms,
            if second.polled { "poll" } else { "" }
        );
    }
    // The seconds in which neither the hypervisor nor Prometheus took CPU:
    // what the scaler and the load client do on their own.
    let quiet: Vec<usize> = (0..run.seconds.len())
        .filter(|&k| run.seconds[k].steal < 1.0 && run.seconds[k].prometheus_ms < 50.0)
        .collect();
    let mut v: Vec<Duration> = run
        .calls
        .iter()
        .filter(|c| quiet.contains(&(c.0 as usize)))
        .map(|c| c.1)
        .collect();
    v.sort();
    println!(
        "  quiet seconds (under 1% stolen, Prometheus under 50 ms CPU): {} of {}; their {} calls: p50 {:?} p99 {:?}",
        quiet.len(),
        run.seconds.len(),
        v.len(),
        quantile(&v, 0.5),
        quantile(&v, 0.99)
    );
    let cpu: f64 = run.seconds.iter().map(|s| s.scaler_ms).sum();
    println!(
        "  scaler CPU: {:.0} µs per call",
        cpu * 1000.0 / run.calls.len() as f64
    );
}

/// HOT_STREAMS=N opens N `StreamIsActive` streams (ScaledObjects `mcp-0`
/// on) on a connection of their own, as KEDA's `external-push` trigger
/// does, and keeps them open: every Prometheus poll then also wakes their
/// watchers. The returned tasks hold them.
async fn open_streams(grpc: u16) -> tokio::task::JoinSet<()> {
    use futures::StreamExt;
    let n: usize = std::env::var("HOT_STREAMS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut held = tokio::task::JoinSet::new();
    if n == 0 {
        return held;
    }
    let ch = common::channel(([127, 0, 0, 1], grpc).into()).await;
    let (opened, mut first) = tokio::sync::mpsc::channel(n);
    for i in 0..n.min(SCALED_OBJECTS) {
        let (mut c, opened) = (ExternalScalerClient::new(ch.clone()), opened.clone());
        held.spawn(async move {
            let mut s = common::open_stream(&mut c, &format!("mcp-{i}"), &[]).await;
            s.next().await.expect("first answer").expect("ok");
            opened.send(()).await.ok();
            while s.next().await.is_some() {}
        });
    }
    let n = n.min(SCALED_OBJECTS);
    for _ in 0..n {
        tokio::time::timeout(Duration::from_secs(60), first.recv())
            .await
            .expect("every stream opens within a minute");
    }
    println!("{n} StreamIsActive streams open on a second connection");
    held
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
    // HOT_IDLE_FLEET=1: one server in 50 has sessions, the rest are idle (as
    // in a hosted fleet); otherwise 49 in 50 have some.
    let idle_fleet = std::env::var("HOT_IDLE_FLEET").is_ok();
    let exporter = Exporter::start().await;
    exporter.set(
        &names
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    s.as_str(),
                    Gauges {
                        sessions: if idle_fleet {
                            f64::from(i % 50 == 0)
                        } else {
                            (i % 50) as f64
                        },
                        ..Gauges::default()
                    },
                )
            })
            .collect::<Vec<_>>(),
    );
    // Scraped every 15 s, as deployed: a 1 s scrape of 30,000 series would
    // take a core in bursts every second on this 2-core machine.
    let prom = Prometheus::start_scraping_every(exporter.addr, "15s").await;
    // In a cluster Prometheus runs on other nodes; here it shares the 2 cores.
    // Under SCHED_IDLE its scrape and query bursts only take CPU the scaler
    // and the load client leave idle, and either preempts it at once on
    // waking. HOT_PROM_IDLE=0 leaves it at normal priority.
    if std::env::var("HOT_PROM_IDLE").map_or(true, |v| v != "0") {
        idle_policy(prom.pid());
    }
    let (grpc, http) = (free_port(), free_port());
    // HOT_PIN=1 runs the scaler on CPU 1 only (with `taskset`); run the bench
    // itself under `taskset -c 0` so the load client and Prometheus keep to
    // CPU 0 and the scaler has a core of its own.
    // HOT_BIN=PATH runs another build of the scaler (A/B comparisons).
    let bin = std::env::var("HOT_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_mcp-autoscaler").to_owned());
    let bin = bin.as_str();
    let mut command = if std::env::var("HOT_PIN").is_ok() {
        let mut c = std::process::Command::new("taskset");
        c.args(["-c", "1", bin]);
        c
    } else {
        std::process::Command::new(bin)
    };
    // HOT_SERVER_WORKERS=N gives the scaler N tokio workers (default: one per core).
    if let Ok(n) = std::env::var("HOT_SERVER_WORKERS") {
        command.env("TOKIO_WORKER_THREADS", n);
    }
    // HOT_POLL_INTERVAL=2s makes the scaler poll Prometheus that often (15 s
    // unless set), to measure what its poll ticks cost the calls.
    let config = tempfile::NamedTempFile::new().expect("config file");
    if let Ok(interval) = std::env::var("HOT_POLL_INTERVAL") {
        std::fs::write(
            config.path(),
            format!(
                "prometheus: {{ url: \"{}\", interval: {interval}, timeout: 1s }}\n",
                prom.url()
            ),
        )
        .expect("write config");
    }
    command.args(common::serve_args(grpc, http));
    if std::env::var("HOT_POLL_INTERVAL").is_ok() {
        command.arg("--config").arg(config.path());
    }
    let mut child = command
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
        .instant("sum by (server) (mcp_active_sessions)".into(), None)
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
    let ch = common::channel(([127, 0, 0, 1], grpc).into()).await;
    saturated(&ch, 16, 2).await; // warm-up
    let _streams = open_streams(grpc).await;

    println!(
        "{SCALED_OBJECTS} ScaledObjects, one HTTP/2 connection, scaler fed by a real Prometheus with {SCALED_OBJECTS} servers"
    );
    let grpc_addr: SocketAddr = ([127, 0, 0, 1], grpc).into();
    let watched = Watched {
        scaler: child.id(),
        scaler_http: ([127, 0, 0, 1], http).into(),
        prometheus: prom.pid(),
    };
    for (arrivals, client, what) in [
        (
            Arrivals::Poisson,
            Client::Raw,
            "paced 5,000 calls/s, Poisson arrivals, h2 client",
        ),
        (
            Arrivals::Poisson,
            Client::Tonic,
            "paced 5,000 calls/s, Poisson arrivals, tonic client",
        ),
        (
            Arrivals::Uniform,
            Client::Raw,
            "paced 5,000 calls/s, one call every 200 µs, h2 client",
        ),
        (
            Arrivals::Burst,
            Client::Raw,
            "paced 5,000 calls/s, 5 calls at once every ms, h2 client",
        ),
    ] {
        paced(grpc_addr, arrivals, client, watched, what).await;
        // HOT_QUICK=1: only the first paced run (A/B comparisons of builds).
        if std::env::var("HOT_QUICK").is_ok() {
            println!("scaler resident memory at the end: {}", rss(child.id()));
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
    }
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
            .instant(
                format!(
                    "sum(mcp_active_sessions{{server=\"mcp-{}\"}})",
                    i * 17 % SCALED_OBJECTS
                ),
                None,
            )
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
        let watched = Watched {
            prometheus: None,
            ..watched
        };
        paced(
            grpc_addr,
            Arrivals::Poisson,
            Client::Raw,
            watched,
            "paced 5,000 calls/s, Poisson, Prometheus stopped (answers are holds)",
        )
        .await;
    }
    println!("scaler resident memory at the end: {}", rss(child.id()));
    let _ = child.kill();
    let _ = child.wait();
}

/// VmRSS of process `pid`, as /proc reports it.
fn rss(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .map_or_else(|| "unknown".into(), |v| v.trim().to_owned())
}
