//! Criterion benchmarks of the pure engine (`cargo bench --bench decide`):
//! one `decide` call (the signal history replayed, then the decision at
//! `now`) for a busy server whose load changes at every poll, a steady one
//! and an idle one; the replay alone; and one decision for every server of
//! a 10,000-server fleet.

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_autoscaler::engine::{Policy, decide, presets, replay};
use mcp_autoscaler::signal::{EventKind, SignalKind, Signals, Stretch};
use mcp_autoscaler::time::Timestamp;
use std::hint::black_box;
use std::time::Duration;

const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

/// A server polled every 15 s for 20 minutes (load changing at every poll
/// when `varying`), with a learned idle-gap histogram.
fn server(i: u64, varying: bool) -> Signals {
    let mut s = Signals::default();
    s.feed.poller_configured = true;
    for gap in 0..30 {
        s.record_event(
            EventKind::Request,
            NOW - Duration::from_secs(9000) + Duration::from_secs(gap * 180 + i % 60),
        );
    }
    for poll in 0..80u64 {
        let at = NOW - Duration::from_secs(1200) + Duration::from_secs(poll * 15);
        let wobble = if varying { (poll * 7 + i) % 23 } else { 0 } as f64;
        for (k, v) in [
            (SignalKind::Connections, (i % 90) as f64 + wobble),
            (SignalKind::Sessions, (i % 40) as f64 + wobble),
            (SignalKind::QueueLength, (i % 13) as f64),
            (SignalKind::RequestRate, (i % 200) as f64 + wobble * 3.0),
            (SignalKind::LatencyP95, 0.05 + (i % 7) as f64 * 0.3),
            (SignalKind::ErrorRate, 0.001),
        ] {
            s.set(k, v);
        }
        s.feed.polled_at = Some(at);
        s.finish_poll(at);
    }
    s
}

fn bench(c: &mut Criterion) {
    let policy = Policy::default();
    let busy = server(17, true);
    let steady = server(17, false);
    let now = NOW + Duration::from_secs(3);
    c.bench_function("decide/busy_changing_every_poll", |b| {
        b.iter(|| decide(black_box(&busy), black_box(&policy), now))
    });
    // The same server for an idle window after polls failed for 4 minutes:
    // each decision also finds the answer held before the gap.
    let mut resumed = busy.clone();
    resumed.feed.stretches.push(Stretch {
        from: NOW - Duration::from_secs(300),
        back: NOW - Duration::from_secs(60),
        polls: true,
    });
    c.bench_function("decide/after_a_blind_stretch", |b| {
        b.iter(|| decide(black_box(&resumed), black_box(&policy), now))
    });
    c.bench_function("decide/steady", |b| {
        b.iter(|| decide(black_box(&steady), black_box(&policy), now))
    });
    let mut idle = Signals::default();
    idle.feed.poller_configured = true;
    idle.feed.polled_at = Some(NOW);
    idle.finish_poll(NOW);
    c.bench_function("decide/idle", |b| {
        b.iter(|| decide(black_box(&idle), &policy, now))
    });
    c.bench_function("replay/busy_changing_every_poll", |b| {
        b.iter(|| replay::replay(black_box(&busy), black_box(&policy), now))
    });
    for name in ["hpa", "knative-kpa", "infra-plan-rule"] {
        let p = presets::baseline(name).expect("preset");
        c.bench_function(&format!("decide/busy_{name}"), |b| {
            b.iter(|| decide(black_box(&busy), &p, now))
        });
    }
    // The step rule's worst case: a queue of 7 (neither high nor low) while
    // other signals change at every poll, so its 15-minute replay never
    // skips ahead.
    let middle = server(20, true);
    let rule = presets::baseline("infra-plan-rule").expect("preset");
    c.bench_function("decide/busy_infra-plan-rule_middle_load", |b| {
        b.iter(|| decide(black_box(&middle), &rule, now))
    });
    // The step rule at rest: a steady low load holds it at its floor, so its
    // replay skips ahead to the next change.
    c.bench_function("decide/steady_infra-plan-rule", |b| {
        b.iter(|| decide(black_box(&steady), &rule, now))
    });

    let fleet: Vec<Signals> = (0..10_000).map(|i| server(i, i % 10 == 0)).collect();
    let mut group = c.benchmark_group("tick");
    group.sample_size(20);
    group.bench_function("decide_10k_servers_10pct_changing", |b| {
        b.iter(|| {
            fleet
                .iter()
                .map(|s| decide(s, &policy, now).desired)
                .sum::<u32>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
