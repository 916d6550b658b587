//! Simulator speed: `cargo bench --bench simulate`.
//!
//! The goal (issue #5): 1,000 Azure-like servers × 24 simulated hours, one
//! policy, in under 10 s on the 2-core CI machine. Also prints how the
//! time scales with the number of servers and with the simulated duration.
//! Wall-clock times of whole runs (workload generation included), so a
//! plain timer rather than criterion's sampling.

use mcp_autoscaler::sim::Plan;
use mcp_autoscaler::sim::run::Options;
use mcp_autoscaler::sim::scenario::{Scenario, Workload};
use mcp_autoscaler::sim::workload::Synthetic;
use std::time::{Duration, Instant};

fn scenario(servers: u32, hours: u64) -> Scenario {
    Scenario {
        name: format!("{servers} servers x {hours} h"),
        duration: Duration::from_secs(hours * 3600),
        seed: 7,
        workload: Workload::Synthetic(Synthetic {
            servers,
            ..Synthetic::default()
        }),
        policies: vec!["default".into()],
        oracle: false,
        ..Scenario::default()
    }
}

/// (seconds, requests) of one run.
fn time(servers: u32, hours: u64) -> (f64, u64) {
    let plan = Plan::new(scenario(servers, hours), "bench", &[]).expect("valid scenario");
    let started = Instant::now();
    let out = plan
        .run(Options {
            progress: false,
            ..Options::default()
        })
        .expect("a synthetic run cannot fail");
    (
        started.elapsed().as_secs_f64(),
        out.report.scenario.requests,
    )
}

fn row(servers: u32, hours: u64) {
    let (secs, requests) = time(servers, hours);
    println!(
        "| {servers} | {hours} | {requests} | {secs:.2} | {:.1} |",
        requests as f64 / secs / 1e6
    );
}

fn main() {
    let threads = rayon::current_num_threads();
    println!("## simulate: 1,000 servers x 24 h, policy `default`, {threads} worker threads");
    let mut runs: Vec<f64> = (0..3).map(|_| time(1000, 24).0).collect();
    runs.sort_by(f64::total_cmp);
    println!(
        "runs: {:.2} s, {:.2} s, {:.2} s; median {:.2} s (goal < 10 s)\n",
        runs[0], runs[1], runs[2], runs[1]
    );
    println!("| servers | hours | requests | seconds | M requests/s |\n|---:|---:|---:|---:|---:|");
    for servers in [250, 500, 1000, 2000] {
        row(servers, 24);
    }
    for hours in [6, 12, 48] {
        row(1000, hours);
    }
}
