use super::*;
use crate::engine::KeepAlive;
use crate::signal::Held;
use std::time::Duration;

fn at(s: u64) -> Timestamp {
    Timestamp::from_millis(1_700_000_000_000 + s * 1000)
}

fn view<'a>(views: &'a [SignalView], name: &str) -> &'a SignalView {
    views.iter().find(|v| v.signal == name).expect(name)
}

#[test]
fn each_signal_is_aged_from_when_it_was_last_known_good() {
    let mut s = Signals::default();
    s.feed.polled_at = Some(at(100));
    s.set(SignalKind::Connections, 3.0);
    s.set(SignalKind::Sessions, 5.0);
    // Sessions vanished while busy: held since the poll at 40.
    s.held = Held {
        kinds: 1 << SignalKind::Sessions.index(),
        good_at: Some(at(40)),
    };
    s.last_event = Some(at(70));
    s.load.event_counts[SignalKind::Sessions.index()] = 2;
    let views = signal_views(&s, at(130));
    let conns = view(&views, "connections");
    assert_eq!(
        (conns.value, conns.age_s, conns.held),
        (Some(3.0), Some(30.0), false)
    );
    let sessions = view(&views, "sessions");
    assert_eq!(
        (sessions.value, sessions.age_s, sessions.held),
        (Some(5.0), Some(90.0), true)
    );
    let queue = view(&views, "queue_length");
    assert_eq!(
        (queue.value, queue.age_s),
        (None, None),
        "never seen: no age"
    );
    let events = view(&views, "event_sessions");
    assert_eq!(
        (events.source, events.value, events.age_s),
        ("nats", Some(2.0), Some(60.0))
    );
    assert_eq!(views.len(), SignalKind::ALL.len() + 2);
}

#[test]
fn a_fixed_policy_is_warm_for_its_idle_window_after_the_last_activity() {
    let policy = Policy {
        keep_alive: KeepAlive::Fixed,
        idle_window: Duration::from_secs(300),
        ..Policy::default()
    };
    let s = Signals {
        last_event: Some(at(0)),
        ..Signals::default()
    };
    let k = keep_alive_view(&s, &policy);
    assert_eq!(k.plan, "fixed");
    assert_eq!(k.last_activity, Some(rfc3339(at(0))));
    assert_eq!(k.warm_until, Some(rfc3339(at(300))));
    assert_eq!((k.prewarm_from, k.prewarm_until), (None, None));
    let never = keep_alive_view(&Signals::default(), &policy);
    assert_eq!((never.last_activity, never.warm_until), (None, None));
}

#[test]
fn learned_long_regular_gaps_release_the_server_and_warm_it_before_the_next_request() {
    let policy = Policy::default();
    let mut s = Signals::default();
    for _ in 0..20 {
        s.gaps.record(
            Duration::from_secs(30 * 60),
            crate::time::Timestamp::from_millis(0),
        );
    }
    s.last_event = Some(at(0));
    let k = keep_alive_view(&s, &policy);
    assert_eq!(k.plan, "prewarm", "{:?}", k.prewarm_from);
    let (from, until) = (
        k.prewarm_from.expect("from"),
        k.prewarm_until.expect("until"),
    );
    assert!(
        from < rfc3339(at(30 * 60)) && until > rfc3339(at(30 * 60)),
        "{from} {until}"
    );
    assert!(k.warm_until.expect("grace") < from);
}
