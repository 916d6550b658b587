//! Helpers the load benches share: knobs from the environment, a process's
//! resident memory, and a latency summary.

use std::time::Duration;

/// The number in environment variable `name`, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident memory of process `pid` in KiB (0 when unreadable).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Prints count, p50, p95, p99, max and mean of `v` under `name`.
pub fn summary(name: &str, mut v: Vec<Duration>) {
    if v.is_empty() {
        println!("{name}: none");
        return;
    }
    v.sort();
    let p = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let mean = v.iter().sum::<Duration>() / u32::try_from(v.len()).unwrap_or(u32::MAX);
    println!(
        "{name}: n={} p50={:?} p95={:?} p99={:?} max={:?} mean={:?}",
        v.len(),
        p(0.5),
        p(0.95),
        p(0.99),
        v[v.len() - 1],
        mean
    );
}
