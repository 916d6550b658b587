use super::*;
use crate::engine::decide::step_now;
use crate::engine::load::replicas_for;
use crate::engine::{Behavior, Gap};
use crate::signal::{EventKind, Feed, SignalKind};
use std::time::Duration;

const NOW: Timestamp = Timestamp::from_millis(10_000_000);

fn ago(secs: u64) -> Timestamp {
    NOW - Duration::from_secs(secs)
}

/// Signals from a fresh poll with the given (kind, value) samples.
fn polled(values: &[(SignalKind, f64)]) -> Signals {
    let mut s = Signals {
        feed: Feed {
            poller_configured: true,
            polled_at: Some(ago(5)),
            ..Feed::default()
        },
        ..Signals::default()
    };
    for &(kind, value) in values {
        s.set(kind, value);
    }
    if values.iter().any(|(k, v)| k.shows_activity() && *v > 0.0) {
        s.last_poll_activity = Some(ago(5));
    }
    s
}

/// The default policy with live work sizing too (connections 50 and
/// sessions 20 per replica), as a policy may ask.
fn sized_by_live_work() -> Policy {
    let mut policy = Policy::default();
    policy.targets.set(Metric::Connections, Some(50.0));
    policy.targets.set(Metric::Sessions, Some(20.0));
    policy
}

fn run(signals: &Signals) -> Decision {
    step_now(signals, &sized_by_live_work(), &State::default(), NOW)
}

#[test]
fn by_default_live_work_keeps_a_server_active_but_does_not_size_it() {
    let busy = polled(&[
        (SignalKind::Sessions, 400.0),
        (SignalKind::Connections, 900.0),
    ]);
    let d = step_now(&busy, &Policy::default(), &State::default(), NOW);
    assert_eq!((d.desired, d.active), (1, true));
    // Long after the last request, the sessions alone still keep it up.
    let mut quiet = busy.clone();
    quiet.last_poll_activity = Some(ago(86_400));
    let d = step_now(&quiet, &Policy::default(), &State::default(), NOW);
    assert_eq!((d.desired, d.active), (1, true));
    // In-flight work still sizes it.
    let loaded = polled(&[(SignalKind::QueueLength, 35.0)]);
    let d = step_now(&loaded, &Policy::default(), &State::default(), NOW);
    assert_eq!((d.desired, d.driver), (4, Some(Metric::QueueLength)));
}

#[test]
fn a_server_with_no_data_and_no_poller_is_idle_at_zero() {
    let d = run(&Signals::default());
    assert_eq!((d.desired, d.active, d.reason), (0, false, Reason::Idle));
    assert_eq!(d.data, DataQuality::EventsOnly);
}

#[test]
fn each_signal_needs_ceil_of_value_over_target_and_the_max_wins() {
    use SignalKind::*;
    // Default targets: connections 50, sessions 20, queue 10, concurrency 8.
    type Case<'a> = (&'a [(SignalKind, f64)], u32, Option<Metric>);
    let cases: &[Case] = &[
        (&[(Connections, 120.0)], 3, Some(Metric::Connections)),
        (&[(Sessions, 41.0)], 3, Some(Metric::Sessions)),
        (&[(QueueLength, 25.0)], 3, Some(Metric::QueueLength)),
        (
            &[(RequestRate, 40.0), (LatencyP95, 0.5)],
            3,
            Some(Metric::Concurrency),
        ),
        (
            &[(Connections, 60.0), (Sessions, 100.0)],
            5,
            Some(Metric::Sessions),
        ),
        (&[(Connections, 1.0)], 1, None),
    ];
    for (values, want, driver) in cases {
        let d = run(&polled(values));
        assert_eq!(d.desired, *want, "{values:?}");
        assert_eq!(d.driver, *driver, "{values:?}");
        assert!(d.active);
    }
}

#[test]
fn desired_is_capped_at_max_replicas_with_the_reason_said() {
    let d = run(&polled(&[(SignalKind::Connections, 50_000.0)]));
    assert_eq!((d.desired, d.reason), (10, Reason::MaxReplicas));
    assert_eq!(d.driver, Some(Metric::Connections));
}

#[test]
fn min_replicas_keeps_a_server_active_and_warm() {
    let policy = Policy {
        min_replicas: 2,
        ..Policy::default()
    };
    let d = step_now(&polled(&[]), &policy, &State::default(), NOW);
    assert_eq!((d.desired, d.active, d.reason), (2, true, Reason::KeepWarm));
}

#[test]
fn a_recent_event_keeps_a_server_reevaluate_at_the_idle_window_ends() {
    let mut s = Signals {
        last_event: Some(ago(299)),
        ..Signals::default()
    };
    assert!(run(&s).active);
    s.last_event = Some(ago(300));
    assert!(!run(&s).active);
}

#[test]
fn sparse_traffic_stays_active_although_the_gauges_read_zero() {
    let mut s = polled(&[(SignalKind::Connections, 0.0)]);
    s.last_poll_activity = Some(ago(60));
    let d = run(&s);
    assert_eq!((d.desired, d.active, d.reason), (1, true, Reason::KeepWarm));
}

#[test]
fn live_sessions_from_events_alone_prevent_scale_to_zero() {
    let mut s = Signals::default();
    s.record_event(EventKind::SessionOpen, ago(3600)); // an hour-long session, no requests since
    let d = run(&s);
    assert!(d.active);
    assert_eq!(d.desired, 1);
}

#[test]
fn event_counted_sessions_say_when_they_stop_counting() {
    let policy = Policy::default();
    let mut s = Signals::default();
    s.record_event(EventKind::SessionOpen, ago(3600)); // its close event never came
    let d = run(&s);
    let ends = ago(3600) + policy.event_count_ttl;
    assert!(d.active);
    assert_eq!(
        d.reevaluate_at,
        Some(ends),
        "a stream must decide again when the session stops counting"
    );
    let after = step_now(&s, &policy, &d.next, ends);
    assert!(!after.active, "past the TTL and the idle window: idle");
}

#[test]
fn stale_data_holds_the_last_good_answer_and_never_goes_to_zero() {
    let mut s = polled(&[]);
    s.feed.polled_at = Some(ago(200)); // stale_after 120 s, unavailable_after 600 s
    let state = State {
        last_desired: 4,
        last_active: true,
        ..State::default()
    };
    let d = step_now(&s, &Policy::default(), &state, NOW);
    assert_eq!(
        (d.desired, d.active, d.reason),
        (4, true, Reason::StaleHold)
    );
    assert_eq!(
        d.data,
        DataQuality::Stale {
            age_ms: 200_000,
            cause: Gap::PollFailing
        }
    );
    assert_eq!(
        d.next, state,
        "a hold must not overwrite the last good state"
    );
}

#[test]
fn data_older_than_the_limit_or_never_polled_is_unavailable() {
    let mut s = polled(&[]);
    s.feed.polled_at = Some(ago(600));
    assert_eq!(
        run(&s).data,
        DataQuality::Unavailable {
            age_ms: Some(600_000),
            cause: Gap::PollFailing
        }
    );
    s.feed.polled_at = None;
    let d = run(&s);
    assert_eq!(
        (d.data, d.reason),
        (
            DataQuality::Unavailable {
                age_ms: None,
                cause: Gap::PollFailing
            },
            Reason::DataUnavailable
        )
    );
}

#[test]
fn a_wake_event_activates_a_server_even_while_data_is_stale() {
    let mut s = polled(&[]);
    s.feed.polled_at = Some(ago(200));
    s.last_event = Some(NOW);
    let d = run(&s);
    assert!(d.active);
    assert_eq!(d.desired, 1);
}

#[test]
fn a_disabled_target_contributes_nothing() {
    let mut policy = Policy::default();
    policy.targets.set(crate::signal::Metric::Connections, None);
    let d = step_now(
        &polled(&[(SignalKind::Connections, 500.0)]),
        &policy,
        &State::default(),
        NOW,
    );
    assert!(
        d.contributions
            .iter()
            .all(|c| c.metric != Metric::Connections)
    );
    assert_eq!(
        d.desired, 1,
        "connections still mean live work, so stay active"
    );
}

#[test]
fn replicas_for_saturates_instead_of_overflowing() {
    assert_eq!(replicas_for(1e30, 1.0), u32::MAX);
    assert_eq!(replicas_for(0.0, 1.0), 0);
    assert_eq!(replicas_for(0.1, 1.0), 1);
}

#[test]
fn an_activity_window_says_when_it_lapses_so_watchers_need_not_poll() {
    let s = Signals {
        last_event: Some(ago(100)),
        ..Signals::default()
    };
    let d = run(&s);
    assert_eq!(d.reevaluate_at, Some(ago(100) + Duration::from_secs(300)));
    let live = polled(&[(SignalKind::Sessions, 2.0)]);
    assert_eq!(
        run(&live).reevaluate_at,
        None,
        "polled live work does not lapse with time (the next poll says)"
    );
    let counted = Signals {
        load: counted_sessions(1),
        last_event: Some(ago(100)),
        ..Signals::default()
    };
    assert_eq!(
        run(&counted).reevaluate_at,
        Some(ago(100) + Policy::default().event_count_ttl),
        "event-counted work lapses when it stops counting"
    );
}

#[test]
fn a_breached_latency_slo_grows_the_current_count_in_proportion() {
    let s = polled(&[
        (SignalKind::Connections, 10.0),
        (SignalKind::LatencyP95, 10.0),
    ]);
    let state = State {
        last_desired: 3,
        last_active: true,
        ..State::default()
    };
    let d = step_now(&s, &Policy::default(), &state, NOW);
    // p95 10 s against a 5 s objective: 3 × 2 = 6.
    assert_eq!((d.desired, d.driver), (6, Some(Metric::LatencySlo)));
}

#[test]
fn the_replicas_really_running_are_the_current_count_when_a_live_watch_knows_them() {
    let mut s = polled(&[
        (SignalKind::Connections, 10.0),
        (SignalKind::LatencyP95, 10.0),
    ]);
    let state = State {
        last_desired: 3,
        last_active: true,
        ..State::default()
    };
    s.set_replicas(Some((4, 4)));
    // Not live: the count is not believed, the last decision stands in.
    assert_eq!(step_now(&s, &Policy::default(), &state, NOW).desired, 6);
    s.feed.workloads_live = true;
    // p95 twice the objective: 4 running × 2 = 8.
    assert_eq!(step_now(&s, &Policy::default(), &state, NOW).desired, 8);
}

#[test]
fn scale_down_is_stabilised_by_the_window_with_the_reason_said() {
    let policy = sized_by_live_work();
    let busy = polled(&[(SignalKind::Sessions, 100.0)]);
    let d1 = step_now(&busy, &policy, &State::default(), ago(60));
    assert_eq!(d1.desired, 5);
    let calm = polled(&[(SignalKind::Sessions, 20.0)]);
    let d2 = step_now(&calm, &policy, &d1.next, NOW);
    assert_eq!(
        (d2.desired, d2.reason),
        (5, Reason::Stabilizing),
        "120 s down window"
    );
}

#[test]
fn live_sessions_are_never_ignored_by_a_scale_down() {
    let policy = Policy {
        behavior: Behavior {
            scale_down_window: Duration::ZERO,
            ..Behavior::default()
        },
        ..Policy::default()
    };
    let state = State {
        last_desired: 8,
        last_active: true,
        ..State::default()
    };
    let d = step_now(
        &polled(&[(SignalKind::Sessions, 61.0)]),
        &policy,
        &state,
        NOW,
    );
    assert!(
        d.desired >= 4,
        "61 sessions at 20 per replica need 4, got {}",
        d.desired
    );
}

#[test]
fn a_learned_hourly_server_goes_idle_after_grace_and_is_prewarmed_before_its_next_request() {
    let mut s = Signals::default();
    let start = NOW - Duration::from_secs(30 * 3600);
    for hour in 0..20u64 {
        s.record_event(EventKind::Request, start + Duration::from_secs(hour * 3600));
    }
    let last = s.last_event.expect("last");
    let at = |secs: u64| {
        step_now(
            &s,
            &Policy::default(),
            &State::default(),
            last + Duration::from_secs(secs),
        )
    };
    assert!(at(30).active);
    let idle = at(120);
    assert_eq!(
        (idle.active, idle.reason),
        (false, Reason::Idle),
        "released after grace, not after 5 min"
    );
    let wake_at = idle.reevaluate_at.expect("a pre-warm is scheduled");
    assert!(
        wake_at < last + Duration::from_secs(3600),
        "pre-warm before the next hourly request"
    );
    let warm = step_now(&s, &Policy::default(), &State::default(), wake_at);
    assert_eq!((warm.active, warm.reason), (true, Reason::Prewarm));
}

#[test]
fn the_step_rule_steps_once_per_period_at_fixed_times() {
    let policy = crate::engine::presets::baseline("infra-plan-rule").expect("preset");
    let hot = polled(&[(SignalKind::QueueLength, 50.0)]);
    let two = State {
        last_desired: 2,
        last_active: true,
        ..State::default()
    };
    // 9,990 s is a multiple of the 15 s period: the rule steps there.
    let boundary = Timestamp::from_millis(9_990_000);
    assert_eq!(step_now(&hot, &policy, &two, boundary).desired, 4);
    // Between two multiples it answers the count it carries, whenever asked.
    for k in [1, 7, 14] {
        let d = step_now(&hot, &policy, &two, boundary + Duration::from_secs(k));
        assert_eq!(d.desired, 2, "{k} s after a step");
    }
    let four = State {
        last_desired: 4,
        ..two.clone()
    };
    let next = boundary + Duration::from_secs(15);
    assert_eq!(step_now(&hot, &policy, &four, next).desired, 8);
    // The answer may change at the next step with no new data: watchers
    // and the replay's skipping wake then.
    for k in [0, 1, 14] {
        let d = step_now(&hot, &policy, &two, boundary + Duration::from_secs(k));
        assert_eq!(d.reevaluate_at, Some(next), "{k} s after a step");
    }
    // A period off the grid: its step is taken at the first grid time on
    // or after it (the multiple of 20 s after 9,990 s is 10,000 s; the
    // 15 s grid reaches it at 10,005 s).
    let twenty = Policy {
        behavior: crate::engine::Behavior {
            scale_up: crate::engine::RateLimit {
                period: Duration::from_secs(20),
                ..policy.behavior.scale_up
            },
            ..policy.behavior
        },
        ..policy.clone()
    };
    let d = step_now(&hot, &twenty, &two, boundary);
    assert_eq!(d.reevaluate_at, Some(Timestamp::from_millis(10_005_000)));
    // Asked between grid times after that boundary, the step is still owed
    // at 10,005 s, not at the next boundary's grid time.
    let owed = Timestamp::from_millis(10_001_000);
    let d = step_now(&hot, &twenty, &two, owed);
    assert_eq!(d.reevaluate_at, Some(Timestamp::from_millis(10_005_000)));
    // A load the rule holds on (the queue at its threshold: neither high
    // nor low) leaves nothing to wake for until the load changes.
    let calm = polled(&[(SignalKind::QueueLength, 10.0)]);
    let d = step_now(&calm, &policy, &two, boundary + Duration::from_secs(1));
    assert_eq!((d.desired, d.reevaluate_at), (2, None));
}

#[test]
fn event_counted_sessions_expire_when_the_server_falls_silent() {
    let mut s = Signals::default();
    s.record_event(EventKind::SessionOpen, ago(3 * 3600)); // its close was lost
    let d = run(&s);
    assert_eq!(
        (d.active, d.reason),
        (false, Reason::Idle),
        "2 h without events: the count is dropped"
    );
    s.record_event(EventKind::Request, ago(60));
    assert!(run(&s).active);
}

#[test]
fn a_window_is_over_at_its_reevaluation_time_so_watchers_never_spin() {
    // A predictive window with a fractional-millisecond length.
    let mut s = Signals::default();
    let start = NOW - Duration::from_secs(20 * 180);
    for k in 0..20u64 {
        s.record_event(
            EventKind::Request,
            start + Duration::from_millis(k * 180_000 + k * 7),
        );
    }
    // 240 s × 1.1234567 = 269.629608 s: the window ends inside a millisecond.
    let policy = Policy {
        keep_alive: crate::engine::KeepAlive::Predictive(crate::engine::Predictive {
            margin: 0.123_456_7,
            ..Default::default()
        }),
        ..Policy::default()
    };
    let d = step_now(
        &s,
        &policy,
        &State::default(),
        s.last_event.expect("last") + Duration::from_secs(1),
    );
    let at = d.reevaluate_at.expect("a warm window has an end");
    let later = step_now(&s, &policy, &State::default(), at);
    assert!(!later.active, "at its end the window is over");
    assert_ne!(
        later.reevaluate_at,
        Some(at),
        "re-evaluating at the given time must move on"
    );
}

#[test]
fn pods_holding_live_work_bound_a_scale_in_and_keep_the_server_up() {
    // Load needs one replica; three pods hold sessions: three stay.
    let mut s = polled(&[(SignalKind::QueueLength, 5.0)]);
    s.set_busy_pods(3, ago(5));
    // From 4, the rate limit alone would allow 2.
    let state = State {
        last_desired: 4,
        last_active: true,
        ..State::default()
    };
    let d = step_now(&s, &Policy::default(), &state, NOW);
    assert_eq!((d.desired, d.reason), (3, Reason::LiveWork));
    // Never above the ceiling.
    s.set_busy_pods(40, ago(5));
    assert_eq!(step_now(&s, &Policy::default(), &state, NOW).desired, 10);
    // With nothing else known but the busy pods, the server is not idle.
    let mut quiet = polled(&[]);
    quiet.set_busy_pods(2, ago(5));
    let d = step_now(&quiet, &Policy::default(), &State::default(), NOW);
    assert!(d.active);
    assert_eq!((d.desired, d.reason), (2, Reason::LiveWork));
    // Once their work ends, the floor is gone.
    quiet.set_busy_pods(0, ago(1));
    assert!(step_now(&quiet, &Policy::default(), &State::default(), NOW).desired <= 1);
}

/// A load of `n` sessions counted from events.
fn counted_sessions(n: u32) -> crate::signal::Load {
    let mut load = crate::signal::Load::default();
    load.event_counts[SignalKind::Sessions.index()] = n;
    load
}
