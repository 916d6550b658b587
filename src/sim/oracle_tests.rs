//! The oracle: warm for every arrival, paying only for starts and work,
//! and never beaten on replica time by a policy with no cold start.

use super::*;
use crate::engine::{KeepAlive, Policy};
use crate::signal::EventKind;
use crate::sim::scenario::{ORACLE, Wiring};
use proptest::prelude::*;
use std::time::Duration;

fn request(t: f64) -> Arrival {
    Arrival {
        t,
        server: 0,
        kind: EventKind::Request,
        session: None,
        service_s: Some(0.5),
    }
}

fn run_one(scenario: &Scenario, run: &PolicyRun, arrivals: &[Arrival]) -> Stats {
    let setup = Setup {
        scenario,
        horizon: scenario.duration.as_secs_f64(),
        fast_forward: true,
        tight_loop: true,
    };
    let mut stats = Stats::default();
    simulate(setup, run, arrivals, 42, &mut stats, None);
    stats
}

fn oracle() -> PolicyRun {
    PolicyRun {
        name: ORACLE.to_owned(),
        policy: Policy::default(),
        wiring: Wiring::for_policy(ORACLE),
        sweep: None,
    }
}

/// `default` with a fixed keep-alive of `window`.
fn fixed(window: Duration) -> PolicyRun {
    PolicyRun {
        name: "fixed".to_owned(),
        policy: Policy {
            keep_alive: KeepAlive::Fixed,
            idle_window: window,
            ..Policy::default()
        },
        wiring: Wiring::for_policy("default"),
        sweep: None,
    }
}

fn two_hours() -> Scenario {
    Scenario {
        duration: Duration::from_secs(2 * 3600),
        ..Scenario::default()
    }
}

#[test]
fn the_oracle_is_warm_for_every_arrival_and_pays_only_starts_and_work() {
    let scenario = two_hours();
    // A request every 15 minutes from minute 1.
    let arrivals: Vec<Arrival> = (0..8)
        .map(|k| request(60.0 + 900.0 * f64::from(k)))
        .collect();
    let o = run_one(&scenario, &oracle(), &arrivals);
    assert_eq!((o.requests, o.served), (8, 8));
    assert_eq!(o.cold_starts, 0);
    assert_eq!(o.cold_start_requests, 0);
    assert_eq!(o.starts_from_zero, 8);
    // Each arrival: one cold start ahead (8 s) plus its half second of work.
    let cold = scenario.server.cold_start.as_secs_f64();
    let per_arrival = o.replica_seconds() / 8.0;
    assert!(
        per_arrival >= cold + 0.5 && per_arrival < cold + 0.5 + 0.1,
        "{per_arrival}"
    );
    assert!(o.latency_quantile_s(1.0) < 0.51);
    // A 10-minute window meets every one of these arrivals cold.
    let f = run_one(&scenario, &fixed(Duration::from_secs(600)), &arrivals);
    assert_eq!(f.cold_starts, 8);
    assert!(f.replica_seconds() > 8.0 * 600.0);
}

#[test]
fn the_oracle_stays_warm_across_a_gap_shorter_than_a_cold_start() {
    let scenario = two_hours();
    let arrivals = [request(60.0), request(65.0), request(66.0)];
    let o = run_one(&scenario, &oracle(), &arrivals);
    assert_eq!((o.cold_starts, o.starts_from_zero), (0, 1));
}

#[test]
fn an_arrival_at_the_very_start_meets_one_cold_start_and_is_served() {
    let scenario = two_hours();
    let o = run_one(&scenario, &oracle(), &[request(0.0), request(3600.0)]);
    assert_eq!((o.requests, o.served, o.dropped), (2, 2, 0));
    assert_eq!((o.cold_starts, o.cold_start_requests), (1, 1));
    let cold = scenario.server.cold_start.as_secs_f64();
    assert!(o.latency_quantile_s(1.0) < cold + 0.6, "{o:?}");
}

/// With no cold start, the oracle wakes a server in the instant before an
/// arrival; it must not release it again in that instant (it did, and
/// woke it again, forever). Run on a thread so a hang fails the test.
#[test]
fn a_zero_cold_start_neither_hangs_nor_meets_an_arrival_cold() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let scenario = Scenario {
            server: crate::sim::scenario::ServerModel {
                cold_start: Duration::ZERO,
                ..Scenario::default().server
            },
            ..two_hours()
        };
        let arrivals: Vec<Arrival> = (1..190).map(|k| request(f64::from(k) * 37.3)).collect();
        let _ = done.send(run_one(&scenario, &oracle(), &arrivals));
    });
    let o = finished
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the run ends");
    assert_eq!((o.requests, o.served, o.cold_starts), (189, 189, 0));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The first request comes before any pod could start, so every policy
    /// (the oracle too) meets it cold. A fixed window that meets no later
    /// arrival cold stays warm through every gap; the oracle only ever pays
    /// less (a start instead of the gap). Windows of 50 minutes or more
    /// bridge every gap here, so the comparison is made in most cases.
    #[test]
    fn no_policy_with_as_few_cold_starts_uses_less_replica_time_than_the_oracle(
        gaps in prop::collection::vec(20.0f64..3000.0, 1..12),
        window_min in 1u64..90,
    ) {
        let scenario = two_hours();
        let mut t = 1.0;
        let mut arrivals = vec![request(t)];
        for g in gaps {
            t += g;
            if t >= 7000.0 {
                break;
            }
            arrivals.push(request(t));
        }
        let o = run_one(&scenario, &oracle(), &arrivals);
        prop_assert_eq!(o.cold_starts, 1);
        let f = run_one(&scenario, &fixed(Duration::from_secs(window_min * 60)), &arrivals);
        prop_assert!(f.cold_starts >= 1);
        if f.cold_starts == o.cold_starts {
            prop_assert!(
                f.replica_seconds() >= o.replica_seconds() - 1e-6,
                "{} < {}", f.replica_seconds(), o.replica_seconds()
            );
        }
    }
}
