//! Workload discovery at fleet size: 100,000 Deployments listed into the
//! inventory and their replica counts into the store (what a relist does),
//! timed over several runs, with the resident memory it adds.
//!
//! `cargo bench --bench inventory` (release build; not part of `cargo test`).

use mcp_autoscaler::cluster::inventory::{Inventory, Scope};
use mcp_autoscaler::cluster::workload::{Workload, WorkloadKind, WorkloadRef};
use mcp_autoscaler::id::ServerKey;
use mcp_autoscaler::source::Store;
use mcp_autoscaler::time::Timestamp;
use std::time::Instant;

const WORKLOADS: usize = 100_000;
const NAMESPACES: usize = 1_000;
const RUNS: usize = 5;

fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

fn fleet(replicas: u32) -> Vec<Workload> {
    (0..WORKLOADS)
        .map(|i| {
            let name = format!("mcp-server-{i:06}");
            let ns = format!("tenant-{:04}", i % NAMESPACES);
            Workload {
                server: ServerKey::parse(&ns, &name).expect("valid"),
                workload: WorkloadRef {
                    kind: WorkloadKind::Deployment,
                    name,
                },
                desired: replicas,
                ready: replicas,
                policy: None,
            }
        })
        .collect()
}

fn main() {
    let scope = Scope {
        kind: WorkloadKind::Deployment,
        namespace: None,
    };
    let before = rss_mib();
    let inventory = Inventory::new(WORKLOADS);
    let store = Store::with_sources(true, false).with_max_servers(WORKLOADS * 2);
    let mut times = Vec::new();
    for run in 0..RUNS {
        // Alternate counts so every relist changes every server.
        let listed = fleet(u32::try_from(run % 2).unwrap_or(0));
        let at = Timestamp::from_millis(1_700_000_000_000 + run as u64 * 1000);
        let started = Instant::now();
        let update = inventory.resync(&scope, listed);
        for (server, replicas) in &update.changes {
            store.set_replicas(server, *replicas, at);
        }
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(update.changes.len(), WORKLOADS, "every server changed");
    }
    let after = rss_mib();
    times.sort_by(f64::total_cmp);
    println!(
        "relist of {WORKLOADS} Deployments into inventory + store: min {:.0} ms, median {:.0} ms, max {:.0} ms over {RUNS} runs",
        times[0],
        times[RUNS / 2],
        times[RUNS - 1]
    );
    println!(
        "resident memory added: {:.0} MiB ({} workloads kept, {} servers in the store)",
        after - before,
        inventory.len(),
        store.len()
    );
}
