use super::*;
use crate::signal::Sample;

const NOW: Timestamp = Timestamp::from_millis(10_000_000);

fn ago(secs: u64) -> Timestamp {
    NOW - Duration::from_secs(secs)
}

/// Signals from a fresh poll with the given (kind, value) samples.
fn polled(values: &[(SignalKind, f64)]) -> Signals {
    let mut s = Signals {
        poller_configured: true,
        polled_at: Some(ago(5)),
        ..Signals::default()
    };
    for &(kind, value) in values {
        s.set(kind, Sample { value, at: ago(5) });
    }
    if values.iter().any(|(k, v)| k.shows_activity() && *v > 0.0) {
        s.last_poll_activity = Some(ago(5));
    }
    s
}

fn run(signals: &Signals) -> Decision {
    decide(signals, &Policy::default(), &State::default(), NOW)
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
    let d = decide(&polled(&[]), &policy, &State::default(), NOW);
    assert_eq!((d.desired, d.active, d.reason), (2, true, Reason::KeepWarm));
}

#[test]
fn a_recent_event_keeps_a_server_active_until_the_idle_window_ends() {
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
    let s = Signals {
        event_sessions: 1,
        ..Signals::default()
    };
    let d = run(&s);
    assert!(d.active);
    assert_eq!(d.desired, 1);
}

#[test]
fn stale_data_holds_the_last_good_answer_and_never_goes_to_zero() {
    let mut s = polled(&[]);
    s.polled_at = Some(ago(200)); // stale_after 120 s, unavailable_after 600 s
    let state = State {
        last_desired: 4,
        last_active: true,
    };
    let d = decide(&s, &Policy::default(), &state, NOW);
    assert_eq!(
        (d.desired, d.active, d.reason),
        (4, true, Reason::StaleHold)
    );
    assert_eq!(d.data, DataQuality::Stale { age_ms: 200_000 });
    assert_eq!(
        d.next, state,
        "a hold must not overwrite the last good state"
    );
}

#[test]
fn data_older_than_the_limit_or_never_polled_is_unavailable() {
    let mut s = polled(&[]);
    s.polled_at = Some(ago(600));
    assert_eq!(
        run(&s).data,
        DataQuality::Unavailable {
            age_ms: Some(600_000)
        }
    );
    s.polled_at = None;
    let d = run(&s);
    assert_eq!(
        (d.data, d.reason),
        (
            DataQuality::Unavailable { age_ms: None },
            Reason::DataUnavailable
        )
    );
}

#[test]
fn a_wake_event_activates_a_server_even_while_data_is_stale() {
    let mut s = polled(&[]);
    s.polled_at = Some(ago(200));
    s.last_event = Some(NOW);
    let d = run(&s);
    assert!(d.active);
    assert_eq!(d.desired, 1);
}

#[test]
fn a_disabled_target_contributes_nothing() {
    let mut policy = Policy::default();
    policy.targets.connections = None;
    let d = decide(
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
    assert_eq!(d.active_until, Some(ago(100) + Duration::from_secs(300)));
    let live = Signals {
        event_sessions: 1,
        last_event: Some(ago(100)),
        ..Signals::default()
    };
    assert_eq!(
        run(&live).active_until,
        None,
        "live work does not lapse with time"
    );
}
