//! Criterion benchmarks of the pure engine: one `decide` call, and one
//! decision tick over a fleet of 10,000 servers (`cargo bench --bench decide`).

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mcp_autoscaler::engine::{Policy, State, decide, presets};
use mcp_autoscaler::signal::{EventKind, Sample, SignalKind, Signals};
use mcp_autoscaler::time::Timestamp;
use std::hint::black_box;
use std::time::Duration;

const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

/// A server with every signal polled and a learned idle-gap histogram.
fn busy_server(i: u64) -> Signals {
    let mut s = Signals {
        poller_configured: true,
        polled_at: Some(NOW - Duration::from_secs(5)),
        ..Signals::default()
    };
    for (k, v) in [
        (SignalKind::Connections, (i % 90) as f64),
        (SignalKind::Sessions, (i % 40) as f64),
        (SignalKind::QueueLength, (i % 13) as f64),
        (SignalKind::RequestRate, (i % 200) as f64),
        (SignalKind::LatencyP95, 0.05 + (i % 7) as f64 * 0.3),
        (SignalKind::ErrorRate, 0.001),
    ] {
        s.set(
            k,
            Sample {
                value: v,
                at: NOW - Duration::from_secs(5),
            },
        );
    }
    for gap in 0..30 {
        s.record_event(
            EventKind::Request,
            NOW - Duration::from_secs(7200) + Duration::from_secs(gap * 180 + i % 60),
        );
    }
    s
}

fn bench(c: &mut Criterion) {
    let policy = Policy::default();
    let one = busy_server(17);
    let state = State {
        last_desired: 3,
        last_active: true,
        ..State::default()
    };
    c.bench_function("decide/one_server_default_policy", |b| {
        b.iter(|| decide(black_box(&one), black_box(&policy), black_box(&state), NOW))
    });
    let idle = Signals::default();
    c.bench_function("decide/one_idle_server", |b| {
        b.iter(|| decide(black_box(&idle), &policy, &State::default(), NOW))
    });
    for name in ["knative-kpa", "infra-plan-rule"] {
        let p = presets::baseline(name).expect("preset");
        c.bench_function(&format!("decide/one_server_{name}"), |b| {
            b.iter(|| decide(black_box(&one), &p, &state, NOW))
        });
    }

    let fleet: Vec<(Signals, State)> = (0..10_000)
        .map(|i| (busy_server(i), State::default()))
        .collect();
    let mut group = c.benchmark_group("tick");
    group.sample_size(20);
    group.bench_function("decide_10k_servers", |b| {
        b.iter_batched_ref(
            || fleet.clone(),
            |fleet| {
                for (signals, state) in fleet.iter_mut() {
                    let d = decide(signals, &policy, state, NOW);
                    *state = d.next;
                }
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
