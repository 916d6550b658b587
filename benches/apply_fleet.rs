//! Benchmark: apply mode holding a fleet of 100,000 Deployments.
//!
//! A fake Kubernetes API server on loopback (in this process) lists, in
//! pages of 500, and watches `APPLY_SERVERS` Deployments (default 100,000,
//! over 1,000 namespaces), and records when each scale request arrives.
//! The real `mcp-autoscaler serve --apply` binary runs beside it (its
//! memory read on its own) with real nats-server events. `APPLY_BACKLOG`
//! of the Deployments (default 2,000) run 1 idle replica, so the first
//! sweep after the warm-up (the policy's idle window, 60 s here: long
//! enough that a server woken during the run stays up through it) queues
//! that many routine scale-downs: at the default 20 requests/s a backlog of
//! 100 s. Measured:
//! - discovery: time to list the fleet, and RSS;
//! - wakes during the backlog: `APPLY_WAKES` events (default 300, at
//!   `APPLY_WAKE_RATE`/s, default 15) for servers at 0, publish → scale
//!   request received at the API server;
//! - the API server's request rate (highest count in any 1 s window);
//! - a mass wake: `APPLY_MASS` events (default 400) at once;
//! - the sweep's duration (`mcp_autoscaler_apply_sweep_seconds`) and RSS.
//!
//! Run: `cargo bench --bench apply_fleet`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::bench::{env_usize, rss_kib, summary};
use common::fake_kube::{FakeKube, ScaleCall};
use common::servers::Nats;
use common::{free_port, metric, wait_for_port};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn rss_mib(pid: u32) -> f64 {
    rss_kib(pid) as f64 / 1024.0
}

/// The most requests that arrived within any one second.
fn peak_per_second(calls: &[ScaleCall]) -> usize {
    let mut at: Vec<Instant> = calls.iter().map(|c| c.at).collect();
    at.sort();
    let mut best = 0;
    let mut start = 0;
    for end in 0..at.len() {
        while at[end].duration_since(at[start]) >= Duration::from_secs(1) {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

fn name(i: usize) -> (String, String) {
    (format!("tenant-{:04}", i % 1000), format!("mcp-{i:06}"))
}

struct Scaler {
    child: std::process::Child,
    http: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Scaler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_scaler(nats: &Nats, api: SocketAddr, servers: usize) -> Scaler {
    let dir = tempfile::tempdir().expect("dir");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: fake, cluster: {{server: \"http://{api}\"}}}}]\n\
             users: [{{name: u, user: {{}}}}]\ncontexts: [{{name: c, context: {{cluster: fake, user: u}}}}]\ncurrent-context: c\n"
        ),
    )
    .expect("kubeconfig");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "log: {{ level: warn }}\nserver: {{ max_servers: {} }}\nnats: {{ url: \"{}\" }}\n\
             policies: {{ default: {{ idle_window: 60s }} }}\n\
             kubernetes:\n  discovery: {{ enabled: true }}\n  apply: {{ enabled: true, lease: {{ namespace: mcp-system }} }}\n",
            servers * 2,
            nats.url()
        ),
    )
    .expect("config");
    let (grpc, http) = (free_port(), free_port());
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-autoscaler"))
        .args(common::serve_args(grpc, http))
        .args(["--config", &config.display().to_string()])
        .env("KUBECONFIG", &kubeconfig)
        .spawn()
        .expect("start serve");
    let http: SocketAddr = ([127, 0, 0, 1], http).into();
    wait_for_port(http).await;
    Scaler {
        child,
        http,
        _dir: dir,
    }
}

/// Publishes one event per server in `servers`, `per_second` apart (all
/// at once when 0); returns when each was published.
async fn publish(nats: &Nats, servers: &[usize], per_second: usize) -> HashMap<String, Instant> {
    let client = async_nats::connect(nats.url()).await.expect("connect");
    let gap = (per_second > 0).then(|| Duration::from_secs_f64(1.0 / per_second as f64));
    let mut sent = HashMap::new();
    for &i in servers {
        let (ns, n) = name(i);
        sent.insert(n.clone(), Instant::now());
        client
            .publish(
                format!("mcp.activity.{ns}.{n}"),
                r#"{"kind":"request"}"#.into(),
            )
            .await
            .expect("publish");
        client.flush().await.expect("flush");
        if let Some(gap) = gap {
            tokio::time::sleep(gap).await;
        }
    }
    sent
}

/// Publish → scale request received, for every server in `sent`.
async fn latencies(
    api: &FakeKube,
    sent: &HashMap<String, Instant>,
    limit: Duration,
) -> Vec<Duration> {
    let deadline = Instant::now() + limit;
    loop {
        let calls = api.calls();
        let got: Vec<Duration> = calls
            .iter()
            .filter(|c| c.replicas >= 1)
            .filter_map(|c| sent.get(&c.name).map(|t| c.at.duration_since(*t)))
            .collect();
        if got.len() >= sent.len() || Instant::now() >= deadline {
            if got.len() < sent.len() {
                println!("  only {} of {} woken in {limit:?}", got.len(), sent.len());
            }
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let servers = env_usize("APPLY_SERVERS", 100_000);
    let backlog = env_usize("APPLY_BACKLOG", 2_000).min(servers);
    let wakes = env_usize("APPLY_WAKES", 300);
    let wake_rate = env_usize("APPLY_WAKE_RATE", 15);
    let mass = env_usize("APPLY_MASS", 400);
    let nats = Nats::start().await;
    let deployments = (0..servers)
        .map(|i| {
            let (ns, n) = name(i);
            (ns, n, u64::from(i < backlog))
        })
        .collect();
    let api = FakeKube::new(deployments, Vec::new()).serve().await;
    let started = Instant::now();
    let scaler = start_scaler(&nats, api.addr, servers).await;
    let pid = scaler.child.id();
    while (metric(scaler.http, "mcp_autoscaler_workloads_known").await as usize) < servers {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "discovery did not finish"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "discovery: {servers} Deployments listed in {:?}; scaler RSS {:.0} MiB",
        started.elapsed(),
        rss_mib(pid)
    );
    while metric(scaler.http, "mcp_autoscaler_apply_leader").await < 1.0 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The first sweep after the warm-up queues the backlog of scale-downs.
    let backlog_started = Instant::now();
    while metric(scaler.http, "mcp_autoscaler_apply_requests_total").await < 1.0 {
        assert!(
            backlog_started.elapsed() < Duration::from_secs(180),
            "no scale-down began"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let sweep = metric(scaler.http, "mcp_autoscaler_apply_sweep_seconds").await;
    println!("sweep over {servers} servers: {:.0} ms", sweep * 1000.0);

    let targets: Vec<usize> = (backlog..servers)
        .step_by(((servers - backlog) / wakes.max(1)).max(1))
        .take(wakes)
        .collect();
    let sent = publish(&nats, &targets, wake_rate).await;
    summary(
        &format!("wake during a backlog of {backlog} scale-downs ({wake_rate}/s)"),
        latencies(&api.kube, &sent, Duration::from_secs(30)).await,
    );

    let woken: std::collections::HashSet<usize> = targets.iter().copied().collect();
    let burst_targets: Vec<usize> = (backlog..servers)
        .filter(|i| !woken.contains(i))
        .take(mass)
        .collect();
    let t = Instant::now();
    let sent = publish(&nats, &burst_targets, 0).await;
    let got = latencies(&api.kube, &sent, Duration::from_secs(120)).await;
    println!(
        "mass wake of {mass} at once: all scaled in {:?}",
        t.elapsed()
    );
    summary("  mass wake latency", got);

    let calls = api.kube.calls();
    let downs = calls.iter().filter(|c| c.replicas == 0).count();
    println!(
        "API server: {} scale requests ({downs} routine scale-downs), peak {} in any 1 s (qps 20, burst 50)",
        calls.len(),
        peak_per_second(&calls)
    );
    let sweep = metric(scaler.http, "mcp_autoscaler_apply_sweep_seconds").await;
    println!(
        "last sweep {:.0} ms; scaler RSS {:.0} MiB",
        sweep * 1000.0,
        rss_mib(pid)
    );
}
