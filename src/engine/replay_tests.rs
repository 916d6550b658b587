use super::*;
use crate::engine::decide::LazyPlan;
use crate::engine::{Behavior, decide};
use crate::signal::{EventKind, Feed, SignalKind};
use proptest::prelude::*;

const T0: u64 = 1_000_000_000;

fn at(secs: u64) -> Timestamp {
    Timestamp::from_millis(T0 + secs * 1000)
}

/// A server polled every 15 s with `sessions[i]` live sessions at poll i.
fn polled_sessions(sessions: &[f64]) -> Signals {
    polled(SignalKind::Sessions, sessions)
}

/// A server polled every 15 s with `values[i]` of `kind` at poll i.
fn polled(kind: SignalKind, values: &[f64]) -> Signals {
    let mut s = Signals {
        feed: Feed {
            poller_configured: true,
            ..Feed::default()
        },
        ..Signals::default()
    };
    for (i, &v) in values.iter().enumerate() {
        let t = at(i as u64 * 15);
        s.set(kind, v);
        s.feed.polled_at = Some(t);
        s.finish_poll(t);
    }
    s
}

fn step_rule() -> Policy {
    crate::engine::presets::baseline("infra-plan-rule").unwrap_or_default()
}

/// The step rule's answers at every second of the last poll's 15 s.
fn rule_answers(values: &[f64], running: Option<u32>) -> Vec<u32> {
    let mut s = polled(SignalKind::QueueLength, values);
    if let Some(desired) = running {
        s.feed.workloads_live = true;
        s.replicas = Some(crate::signal::Replicas {
            desired,
            ready: desired,
        });
    }
    let last = at((values.len() as u64 - 1) * 15);
    (0..15)
        .map(|k| decide(&s, &step_rule(), last + Duration::from_secs(k)).desired)
        .collect()
}

#[test]
fn the_step_rule_climbs_to_its_cap_under_a_long_queue() {
    // Queue 50 (> 10) for five minutes: 2, 4, 8, 16, 20 in four periods.
    assert_eq!(rule_answers(&[50.0; 20], None), vec![20; 15]);
    // Two periods of it: at most two doublings from the first count.
    let early = rule_answers(&[50.0; 3], None);
    assert!(early.iter().all(|&d| (4..=8).contains(&d)), "{early:?}");
}

#[test]
fn the_step_rule_steps_from_its_own_count_not_the_running_one() {
    // Discovery says 3 run: the rule wants its 20, neither echoing the 3
    // nor doubling them; the scale-up limit (4 pods a period) allows 7.
    assert_eq!(rule_answers(&[50.0; 20], Some(3)), vec![7; 15]);
    assert_eq!(rule_answers(&[50.0; 20], Some(18)), vec![20; 15]);
}

#[test]
fn the_step_rule_halves_to_its_floor_once_all_is_low() {
    let mut load = vec![50.0; 20];
    load.extend([1.0; 8]);
    assert_eq!(rule_answers(&load, None), vec![2; 15]);
}

#[test]
fn the_step_rule_holds_its_count_while_nothing_is_high_or_low() {
    // Queue 7: neither above 10 nor below 5, for ten minutes after the climb.
    let mut load = vec![50.0; 8];
    load.extend([7.0; 40]);
    assert_eq!(rule_answers(&load, None), vec![20; 15]);
}

/// Sized by sessions (20 per replica), which the default does not do.
fn sessions_policy() -> Policy {
    let mut policy = Policy {
        max_replicas: 50,
        ..Policy::default()
    };
    policy
        .targets
        .set(crate::signal::Metric::Sessions, Some(20.0));
    policy
}

#[test]
fn the_scale_down_window_holds_from_history_alone() {
    // 200 sessions (10 replicas at 20 each) for two minutes, then 20.
    let mut load = vec![200.0; 8];
    load.extend([20.0; 3]);
    let s = polled_sessions(&load);
    let now = at(10 * 15 + 1);
    let d = decide(&s, &sessions_policy(), now);
    assert!(d.desired > 1, "still inside the scale-down window: {d:?}");
    assert!(
        matches!(d.reason, Reason::Stabilizing | Reason::RateLimited),
        "{d:?}"
    );
    // Long after the drop, with the same history, it has come down.
    let mut settled = load.clone();
    settled.extend([20.0; 20]);
    let s = polled_sessions(&settled);
    let later = decide(&s, &sessions_policy(), at(settled.len() as u64 * 15 - 14));
    assert_eq!(later.desired, 1, "{later:?}");
}

#[test]
fn the_answer_is_the_same_whoever_asks_and_however_often() {
    let mut load = vec![200.0; 8];
    load.extend([20.0; 3]);
    let s = polled_sessions(&load);
    let now = at(10 * 15 + 1);
    let once = decide(&s, &sessions_policy(), now);
    let pinned = Policy {
        min_replicas: 9,
        max_replicas: 9,
        ..Policy::default()
    };
    for _ in 0..20 {
        let _ = decide(&s, &pinned, now);
    }
    assert_eq!(decide(&s, &sessions_policy(), now), once);
}

#[test]
fn a_server_that_woke_from_zero_gets_its_need_at_once() {
    let mut s = polled_sessions(&[0.0; 20]);
    let t = at(20 * 15);
    s.set(SignalKind::Sessions, 150.0);
    s.feed.polled_at = Some(t);
    s.finish_poll(t);
    let d = decide(&s, &sessions_policy(), t + Duration::from_secs(1));
    assert_eq!(d.desired, 8, "150 sessions at 20 each: {d:?}");
}

#[test]
fn an_idle_server_replays_to_its_steady_state() {
    let s = polled_sessions(&[0.0; 60]);
    let state = replay(&s, &sessions_policy(), at(60 * 15));
    assert_eq!((state.last_desired, state.last_active), (0, false));
}

#[test]
fn grid_and_horizon_follow_the_policy_within_bounds() {
    let p = Policy::default();
    assert_eq!(grid_step(&p), Duration::from_secs(15));
    assert!(horizon(&p) >= p.behavior.scale_down_window);
    let long = Policy {
        behavior: Behavior {
            scale_down_window: Duration::from_secs(24 * 3600),
            ..Behavior::default()
        },
        ..Policy::default()
    };
    assert_eq!(horizon(&long), RETENTION);
}

fn history() -> impl Strategy<Value = Vec<(u8, u16, u8)>> {
    // (what, value, seconds to the next write)
    prop::collection::vec((0u8..4, 0u16..400, 1u8..40), 1..60)
}

fn build(steps: &[(u8, u16, u8)]) -> (Signals, Timestamp) {
    let mut s = Signals {
        feed: Feed {
            poller_configured: true,
            ..Feed::default()
        },
        ..Signals::default()
    };
    let mut t = at(0);
    for &(what, value, gap) in steps {
        write(&mut s, what, value, t);
        t = t + Duration::from_secs(u64::from(gap));
    }
    (s, t)
}

/// One write: a poll (`what` 0), a session opening or closing, a request.
fn write(s: &mut Signals, what: u8, value: u16, t: Timestamp) {
    match what {
        0 => {
            s.set(SignalKind::Sessions, f64::from(value));
            s.set(SignalKind::QueueLength, f64::from(value / 10));
            s.feed.polled_at = Some(t);
            s.finish_poll(t);
        }
        1 => s.record_event(EventKind::SessionOpen, t),
        2 => s.record_event(EventKind::SessionClose, t),
        _ => s.record_event(EventKind::Request, t),
    }
}

/// The count and activity a replay `extra` seconds after the history of
/// `steps` ends gives skipping fixed points, and without skipping.
fn replayed_both_ways(
    steps: &[(u8, u16, u8)],
    extra: u64,
    policy: &Policy,
) -> ((u32, bool), (u32, bool)) {
    let (s, end) = build(steps);
    let until = end + Duration::from_secs(extra);
    let plan = LazyPlan::new(&s, policy);
    let fast = replay_with(&s, policy, &plan, until, true);
    let full = replay_with(&s, policy, &LazyPlan::new(&s, policy), until, false);
    (
        (fast.last_desired, fast.last_active),
        (full.last_desired, full.last_active),
    )
}

fn a_policy(base: &str, ours: bool) -> Policy {
    if ours {
        sessions_policy()
    } else {
        crate::engine::presets::baseline(base).unwrap_or_default()
    }
}

proptest! {
    #[test]
    fn skipping_fixed_points_never_changes_the_answer(
        steps in history(),
        extra in 0u64..900,
        base in prop::sample::select(crate::engine::presets::BASELINES.to_vec()),
        ours in any::<bool>(),
    ) {
        let (fast, full) = replayed_both_ways(&steps, extra, &a_policy(base, ours));
        prop_assert_eq!(fast, full);
    }

    #[test]
    fn skipping_never_changes_the_step_rule_whatever_its_periods(
        steps in history(),
        extra in 0u64..900,
        up in prop::sample::select(vec![3u64, 10, 15, 20, 25, 60, 150]),
        down in prop::sample::select(vec![5u64, 10, 15, 40]),
    ) {
        let mut policy = step_rule();
        policy.behavior.scale_up.period = Duration::from_secs(up);
        policy.behavior.scale_down.period = Duration::from_secs(down);
        let (fast, full) = replayed_both_ways(&steps, extra, &policy);
        prop_assert_eq!(fast, full);
    }

    #[test]
    fn decisions_stay_within_min_and_max_whatever_the_history(steps in history()) {
        let (s, end) = build(&steps);
        let p = sessions_policy();
        let d = decide(&s, &p, end);
        prop_assert!(d.desired >= p.min_replicas && d.desired <= p.max_replicas);
    }

    #[test]
    fn a_kept_replay_is_what_a_fresh_one_gives(
        // (what, value, milliseconds to the next write, how late the write
        // is stamped (an event that came late), decide after it)
        steps in prop::collection::vec(
            (0u8..4, 0u16..400, 50u32..40_000, prop::option::weighted(0.2, 0u64..30_000), any::<bool>()),
            1..120,
        ),
        base in prop::sample::select(crate::engine::presets::BASELINES.to_vec()),
        ours in any::<bool>(),
    ) {
        let policy = a_policy(base, ours);
        let mut s = Signals {
            feed: Feed { poller_configured: true, ..Feed::default() },
            ..Signals::default()
        };
        let mut memo = Memo::default();
        let mut t = at(0);
        for (what, value, gap, late, ask) in steps {
            write(&mut s, what, value, t - Duration::from_millis(late.unwrap_or(0)));
            t = t + Duration::from_millis(u64::from(gap));
            if ask {
                let kept = memo.replay(&s, &policy, t, &LazyPlan::new(&s, &policy));
                let fresh = replay_with(&s, &policy, &LazyPlan::new(&s, &policy), t, true);
                prop_assert_eq!(kept, fresh);
            }
        }
    }
}

#[test]
fn the_step_rule_steps_at_the_first_grid_time_of_each_period_only() {
    let mut p = step_rule();
    p.behavior.scale_up.period = Duration::from_secs(25);
    p.behavior.scale_down.period = Duration::from_secs(10); // a 10 s grid
    // 1,000 s: a multiple of both.
    let due: Vec<u64> = (0..=100_000)
        .step_by(500)
        .filter(|&ms| rule_due(&p, Timestamp::from_millis(1_000_000 + ms)))
        .collect();
    // Boundaries at 0, 25, 50, 75, 100 s: taken at grid times 0, 30, 50,
    // 80, 100 s, never between grid times (25.5 s, 77 s ...).
    assert_eq!(due, vec![0, 30_000, 50_000, 80_000, 100_000]);
    // A period under a slot steps at every grid time (5 s).
    p.behavior.scale_up.period = Duration::from_secs(3);
    p.behavior.scale_down.period = Duration::from_secs(3);
    let due = (0..=20).filter(|&s| rule_due(&p, at(0) + Duration::from_secs(s)));
    assert_eq!(due.count(), 5, "at 0, 5, 10, 15 and 20 s: one a grid time");
}

proptest! {
    /// The named step time is the first grid time after `now` at which the
    /// rule steps, whatever the period and wherever `now` falls.
    #[test]
    fn the_next_step_named_is_the_first_time_the_rule_steps(
        period_s in 1u64..200,
        now_ms in 0u64..10_000_000,
    ) {
        let base = crate::engine::presets::baseline("infra-plan-rule").expect("preset");
        let policy = Policy {
            behavior: Behavior {
                scale_up: crate::engine::RateLimit {
                    period: Duration::from_secs(period_s),
                    ..base.behavior.scale_up
                },
                ..base.behavior
            },
            ..base
        };
        let now = Timestamp::from_millis(now_ms);
        let named = next_rule_step(&policy, now);
        prop_assert!(named > now);
        prop_assert!(rule_due(&policy, named));
        // No grid time between `now` and it steps (5 s is the finest grid).
        let mut t = Timestamp::from_millis(now_ms / 5_000 * 5_000 + 5_000);
        while t < named {
            prop_assert!(!rule_due(&policy, t), "{t:?}");
            t = t + Duration::from_secs(5);
        }
    }
}

/// The risk of a fast scale-up limit is overshoot on noisy data: one poll
/// that reads a spike must not hold a server up past the scale-down window
/// and the scale-down steps after it.
#[test]
fn a_one_poll_spike_is_let_go_after_the_scale_down_window() {
    let policy = Policy {
        max_replicas: 200,
        ..Policy::default()
    };
    // Queue 15 (2 replicas at 10 each) for 5 minutes, one poll of 1,500,
    // then 15 again for 10 minutes.
    let mut values = vec![15.0; 20];
    values.push(1_500.0);
    values.extend([15.0; 40]);
    let spike = 20;
    let answers: Vec<u32> = (1..=values.len())
        .map(|n| {
            let s = polled(SignalKind::QueueLength, &values[..n]);
            decide(&s, &policy, at((n as u64 - 1) * 15)).desired
        })
        .collect();
    assert_eq!(answers[spike - 1], 2, "{answers:?}");
    // The spike gets its replicas in one step (2 + 100 pods)...
    assert_eq!(answers[spike], 102, "{answers:?}");
    // ...holds while the 120 s window still sees the spike (a poll's value
    // stands until the next poll), then falls at least by half every 15 s:
    // back to 2 within six more polls.
    let window = usize::try_from(policy.behavior.scale_down_window.as_secs() / 15).unwrap_or(0);
    let held = spike + window + 1;
    assert!(
        answers[spike..held].iter().all(|&d| d == 102),
        "{answers:?}"
    );
    assert!(answers[held + 6..].iter().all(|&d| d == 2), "{answers:?}");
    assert!(
        answers[spike..].windows(2).all(|w| w[1] <= w[0]),
        "never up again: {answers:?}"
    );
    assert!(answers.iter().all(|&d| d <= 102), "{answers:?}");
}
