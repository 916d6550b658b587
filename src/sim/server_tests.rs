use super::*;
use crate::engine::Policy;
use crate::signal::EventKind;
use crate::sim::erlang;
use crate::sim::scenario::Wiring;
use crate::sim::workload::Synthetic;
use std::time::Duration;

fn request(t: f64) -> Arrival {
    Arrival {
        t,
        server: 0,
        kind: EventKind::Request,
        session: None,
        service_s: Some(0.1),
    }
}

fn run_one(scenario: &Scenario, run: &PolicyRun, arrivals: &[Arrival], ff: bool) -> Stats {
    run_with(scenario, run, arrivals, (ff, true))
}

/// One run with fast-forward and the tight serving loop on or off.
fn run_with(
    scenario: &Scenario,
    run: &PolicyRun,
    arrivals: &[Arrival],
    (fast_forward, tight_loop): (bool, bool),
) -> Stats {
    let setup = Setup {
        scenario,
        horizon: scenario.duration.as_secs_f64(),
        fast_forward,
        tight_loop,
    };
    let mut stats = Stats::default();
    simulate(setup, run, arrivals, 42, &mut stats, None);
    stats
}

fn policy_run(name: &str) -> PolicyRun {
    let scenario = Scenario::default();
    PolicyRun {
        name: name.to_owned(),
        policy: scenario.named_policy(name).expect("known"),
        wiring: Wiring::for_policy(name),
        sweep: None,
    }
}

/// Poisson arrivals at `rate`/s, exponential service at 1/`mean` s, on `c`
/// replicas that never change: the whole loop must behave like M/M/c.
#[test]
fn with_fixed_replicas_the_loop_matches_erlang_c_and_littles_law() {
    let (rate, mean, c) = (8.0_f64, 0.2_f64, 2_u32);
    let scenario = Scenario {
        duration: Duration::from_secs(6 * 3600),
        server: crate::sim::scenario::ServerModel {
            concurrency: 1,
            service_time: Duration::from_secs_f64(mean),
            service_cv: 1.0,
            cold_start: Duration::ZERO,
            queue_timeout: Duration::from_secs(3600),
        },
        ..Scenario::default()
    };
    let workload = Synthetic {
        servers: 1,
        rate_log_mean: (rate * 60.0).ln(),
        rate_log_sd: 0.0,
        max_rate_per_s: 1000.0,
        diurnal_amplitude: 0.0,
        bursts: crate::sim::workload::Bursts {
            per_hour: 0.0,
            ..Default::default()
        },
        sessions: crate::sim::workload::Sessions {
            server_fraction: 0.0,
            ..Default::default()
        },
        periodic: crate::sim::workload::Periodic::default(),
        streams: crate::sim::workload::Streams::default(),
    };
    let arrivals: Vec<Arrival> = workload
        .server_arrivals(0, rate, scenario.duration.as_secs_f64(), 9)
        .into_iter()
        .map(|a| Arrival {
            service_s: None,
            ..a
        })
        .collect();
    let run = PolicyRun {
        name: "fixed".into(),
        policy: Policy {
            min_replicas: c,
            max_replicas: c,
            ..Policy::default()
        },
        wiring: Wiring::for_policy("default"),
        sweep: None,
    };
    let s = run_one(&scenario, &run, &arrivals, true);
    let a = rate * mean;
    let p_wait = erlang::erlang_c(c, a);
    let w = erlang::mean_wait(c, rate, 1.0 / mean);
    let sim_p = s.waited as f64 / s.served as f64;
    let sim_w = s.wait_sum_s() / s.served as f64;
    assert!(
        (sim_p - p_wait).abs() / p_wait < 0.05,
        "P(wait) {sim_p} vs Erlang C {p_wait}"
    );
    assert!((sim_w - w).abs() / w < 0.08, "mean wait {sim_w} vs {w}");
    assert_eq!(s.cold_starts, 0);
    assert_eq!(s.scale_events, 0, "a fixed count never changes");
    // Little's law on replica time: busy replica-seconds = arrival rate × service.
    let busy = s.replica_seconds() - s.idle_replica_seconds();
    assert!(busy > 0.0);
    let horizon = scenario.duration.as_secs_f64();
    assert!((s.replica_seconds() - f64::from(c) * horizon).abs() < 1e-6);
    let served_rate = s.served as f64 / horizon;
    assert!((served_rate - rate).abs() / rate < 0.02, "{served_rate}");
}

/// Feeds `arrivals` in chunks of about `size`, never splitting an instant.
fn run_in_chunks(scenario: &Scenario, run: &PolicyRun, arrivals: &[Arrival], size: usize) -> Stats {
    let setup = Setup {
        scenario,
        horizon: scenario.duration.as_secs_f64(),
        fast_forward: true,
        tight_loop: true,
    };
    let mut stats = Stats::default();
    let mut sim = ServerSim::new(setup, run, 42, &mut stats, Some(50));
    let mut start = 0;
    while start < arrivals.len() {
        let mut end = start.saturating_add(size).min(arrivals.len());
        while end < arrivals.len() && arrivals[end].t == arrivals[end - 1].t {
            end += 1;
        }
        let after = arrivals.get(end).map_or(f64::INFINITY, |a| a.t);
        sim.feed(&arrivals[start..end], after);
        start = end;
    }
    sim.finish();
    stats
}

#[test]
fn feeding_events_in_chunks_changes_nothing() {
    let scenario = Scenario {
        duration: Duration::from_secs(4 * 3600),
        ..Scenario::default()
    };
    let workload = Synthetic {
        servers: 1,
        rate_log_mean: (0.01f64 * 60.0).ln(),
        rate_log_sd: 0.0,
        sessions: crate::sim::workload::Sessions {
            server_fraction: 1.0,
            ..Default::default()
        },
        ..Synthetic::default()
    };
    let mut arrivals = workload.server_arrivals(0, 0.01, scenario.duration.as_secs_f64(), 3);
    // Several events at one instant, and a quiet stretch.
    arrivals.extend((0..5).map(|_| request(14_000.0)));
    arrivals.sort_by(|a, b| a.t.total_cmp(&b.t));
    assert!(arrivals.len() > 100, "{}", arrivals.len());
    for name in crate::sim::scenario::all_builtin_policies() {
        let run = policy_run(&name);
        let whole = run_in_chunks(&scenario, &run, &arrivals, usize::MAX);
        assert!(whole.requests > 80, "{name}");
        if run.policy.min_replicas == 0 {
            assert!(whole.starts_from_zero > 2, "{name}: never released");
        }
        for size in [1, 3, 64] {
            let chunked = run_in_chunks(&scenario, &run, &arrivals, size);
            assert_eq!(whole, chunked, "{name}, chunks of {size}");
        }
    }
}

#[test]
fn fast_forward_changes_nothing_but_the_work_done() {
    let scenario = Scenario {
        duration: Duration::from_secs(6 * 3600),
        ..Scenario::default()
    };
    let mut arrivals: Vec<Arrival> = (0..40).map(|k| request(f64::from(k) * 523.7)).collect();
    arrivals.extend((0..200).map(|k| request(15_000.0 + f64::from(k) * 0.3)));
    for name in crate::sim::scenario::all_builtin_policies() {
        let run = policy_run(&name);
        let slow = run_one(&scenario, &run, &arrivals, false);
        let fast = run_one(&scenario, &run, &arrivals, true);
        // The oracle makes no decision while at zero, so skipping shows
        // in the others only; its numbers must still be the same.
        if run.policy.min_replicas == 0 && run.wiring.activation != Activation::Oracle {
            assert!(fast.decisions < slow.decisions, "{name}: nothing skipped");
        }
        let strip = |s: &Stats| {
            format!(
                "{} {} {} {} {} {} {:.9} {:.9} {}",
                s.requests,
                s.served,
                s.dropped,
                s.cold_starts,
                s.cold_start_requests,
                s.scale_events,
                s.replica_seconds(),
                s.idle_replica_seconds(),
                s.latency_us.value_at_quantile(0.99)
            )
        };
        assert_eq!(strip(&slow), strip(&fast), "{name}");
    }
}

#[test]
fn a_request_at_zero_waits_out_the_cold_start_and_counts_as_one() {
    let scenario = Scenario {
        duration: Duration::from_secs(3600),
        ..Scenario::default()
    };
    let s = run_one(&scenario, &policy_run("default"), &[request(100.0)], true);
    assert_eq!(
        (s.requests, s.served, s.cold_starts, s.cold_start_requests),
        (1, 1, 1, 1)
    );
    let latency = s.latency_quantile_s(1.0);
    assert!(
        (latency - 8.1).abs() < 0.01,
        "8 s cold start + 0.1 s work: {latency}"
    );
    // Scaled back to zero after the idle window: one up, one down.
    assert_eq!(s.scale_events, 2);
    assert!(
        s.replica_seconds() > 300.0 && s.replica_seconds() < 400.0,
        "{}",
        s.replica_seconds()
    );
}

#[test]
fn push_wakes_at_once_while_polling_waits_for_keda() {
    let scenario = Scenario {
        duration: Duration::from_secs(3600),
        server: crate::sim::scenario::ServerModel {
            cold_start: Duration::ZERO,
            ..Default::default()
        },
        ..Scenario::default()
    };
    let arrivals = [request(1000.0)];
    let push = run_one(&scenario, &policy_run("default"), &arrivals, true);
    let poll = run_one(&scenario, &policy_run("keda-prometheus"), &arrivals, true);
    assert!(
        push.latency_quantile_s(1.0) < 0.11,
        "{}",
        push.latency_quantile_s(1.0)
    );
    // Prometheus scrape (≤ 15 s) + query tick (≤ 15 s) + KEDA poll (≤ 30 s).
    let waited = poll.latency_quantile_s(1.0);
    assert!(waited > 1.0 && waited <= 60.2, "{waited}");
}

/// Arrivals that meet the control loop at its own instants. Groups come
/// 915 s apart (61 query ticks, so each is on a tick and finds the server
/// at zero under most policies): a burst at one instant; one request when
/// the pod woken by the burst becomes ready (8 s later); one on the next
/// tick; and service times that end on those instants too.
fn arrivals_on_ties() -> Vec<Arrival> {
    let mut out = Vec::new();
    let with = |t: f64, service: f64| Arrival {
        service_s: Some(service),
        ..request(t)
    };
    for k in 0..12u32 {
        let t = f64::from(k) * 915.0;
        for _ in 0..=(k % 4) {
            out.push(with(t, 15.0));
        }
        out.push(with(t + 1.0, 7.0));
        out.push(with(t + 8.0, 7.0));
        out.push(with(t + 15.0, 8.0));
    }
    out
}

#[test]
fn the_tight_serving_loop_changes_nothing() {
    let scenario = Scenario {
        duration: Duration::from_secs(3 * 3600),
        ..Scenario::default()
    };
    let fleet = Synthetic {
        servers: 12,
        max_rate_per_s: 5.0,
        ..Synthetic::default()
    }
    .generate(scenario.duration, 5);
    let mut workloads: Vec<Vec<Arrival>> = (0..12)
        .map(|i| {
            fleet
                .arrivals
                .iter()
                .filter(|a| a.server == i)
                .copied()
                .collect()
        })
        .collect();
    workloads.push(arrivals_on_ties());
    for name in crate::sim::scenario::all_builtin_policies() {
        let run = policy_run(&name);
        for (w, arrivals) in workloads.iter().enumerate() {
            for ff in [true, false] {
                let tight = run_with(&scenario, &run, arrivals, (ff, true));
                let plain = run_with(&scenario, &run, arrivals, (ff, false));
                assert_eq!(tight, plain, "{name}, workload {w}, fast-forward {ff}");
            }
        }
    }
}

#[path = "server_live_tests.rs"]
mod live;
