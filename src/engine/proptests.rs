//! Property tests of the engine's invariants.

use super::*;
use crate::engine::decide::step_now;
use crate::signal::{Feed, SignalKind, Signals};
use crate::time::Timestamp;
use proptest::prelude::*;
use std::time::Duration;

const NOW: Timestamp = Timestamp::from_millis(1_000_000_000);

#[derive(Debug, Clone)]
struct Load {
    connections: f64,
    sessions: f64,
    queue: f64,
    rate: f64,
    p95: f64,
}

fn load() -> impl Strategy<Value = Load> {
    (
        0.0..5_000.0f64,
        0.0..500.0f64,
        0.0..200.0f64,
        0.0..1_000.0f64,
        0.0..20.0f64,
    )
        .prop_map(|(connections, sessions, queue, rate, p95)| Load {
            connections,
            sessions,
            queue,
            rate,
            p95,
        })
}

fn signals(l: &Load) -> Signals {
    let mut s = Signals {
        feed: Feed {
            poller_configured: true,
            polled_at: Some(NOW),
            ..Feed::default()
        },
        ..Signals::default()
    };
    for (kind, value) in [
        (SignalKind::Connections, l.connections),
        (SignalKind::Sessions, l.sessions),
        (SignalKind::QueueLength, l.queue),
        (SignalKind::RequestRate, l.rate),
        (SignalKind::LatencyP95, l.p95),
    ] {
        s.set(kind, value);
    }
    s
}

fn policy() -> impl Strategy<Value = Policy> {
    (
        0u32..3,
        1u32..50,
        prop::sample::select(presets::BASELINES.to_vec()),
        any::<bool>(),
    )
        .prop_map(|(min, span, base, ours)| {
            let mut p = if ours {
                Policy::default()
            } else {
                presets::baseline(base).unwrap_or_default()
            };
            p.min_replicas = min.min(p.max_replicas);
            p.max_replicas = (p.min_replicas + span).max(1);
            p
        })
}

fn state() -> impl Strategy<Value = State> {
    (0u32..60, any::<bool>()).prop_map(|(last_desired, last_active)| State {
        last_desired,
        last_active,
        ..State::default()
    })
}

proptest! {
    #[test]
    fn decisions_stay_within_min_and_max(l in load(), p in policy(), st in state()) {
        let d = step_now(&signals(&l), &p, &st, NOW);
        prop_assert!(d.desired <= p.max_replicas);
        prop_assert!(d.desired >= p.min_replicas);
    }

    #[test]
    fn live_sessions_connections_or_queue_never_mean_zero(l in load(), p in policy(), st in state()) {
        prop_assume!(l.sessions > 0.0 || l.connections > 0.0 || l.queue > 0.0);
        let d = step_now(&signals(&l), &p, &st, NOW);
        prop_assert!(d.active && d.desired >= 1, "{d:?}");
    }

    #[test]
    fn more_load_never_asks_for_fewer_replicas(l in load(), extra in 0.0..1_000.0f64, st in state()) {
        let p = Policy::default();
        let mut more = l.clone();
        more.connections += extra;
        more.sessions += extra / 10.0;
        more.queue += extra / 20.0;
        more.rate += extra;
        let a = step_now(&signals(&l), &p, &st, NOW).desired;
        let b = step_now(&signals(&more), &p, &st, NOW).desired;
        prop_assert!(b >= a, "{a} -> {b}");
    }

    #[test]
    fn the_same_inputs_give_the_same_decision(l in load(), p in policy(), st in state()) {
        prop_assert_eq!(step_now(&signals(&l), &p, &st, NOW), step_now(&signals(&l), &p, &st, NOW));
    }

    #[test]
    fn constant_load_settles_and_never_flaps(l in load(), p in policy()) {
        let s = signals(&l);
        let mut state = State::default();
        let mut seen = Vec::new();
        for i in 0..80u64 {
            let mut si = s.clone();
            let now = NOW + Duration::from_secs(i * 15);
            si.feed.polled_at = Some(now);
            let d = step_now(&si, &p, &state, now);
            seen.push(d.desired);
            state = d.next;
        }
        let tail = &seen[40..];
        prop_assert!(tail.iter().all(|&v| v == tail[0]), "still changing under constant load: {seen:?}");
    }
}
