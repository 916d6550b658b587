use super::poll::TRUST_GAP;
use super::*;
use crate::signal::SignalKind;

fn id(s: &str) -> ServerKey {
    ServerKey::parse("tenants", s).expect("valid id")
}

#[test]
fn an_event_notifies_only_that_servers_watchers() {
    let store = Store::new(false);
    let mut a = store
        .subscribe(&id("a"), Timestamp::from_millis(0))
        .expect("room");
    let mut b = store
        .subscribe(&id("b"), Timestamp::from_millis(0))
        .expect("room");
    store.record_event(&id("a"), EventKind::Request, Timestamp::from_millis(5));
    assert!(a.has_changed().expect("open"));
    assert!(!b.has_changed().expect("open"));
    a.mark_unchanged();
    b.mark_unchanged();
    assert_eq!(
        store.signals(&id("a")).last_event,
        Some(Timestamp::from_millis(5))
    );
}

#[test]
fn a_quantile_without_requests_is_no_value_not_missing_data() {
    // Traffic stopped: the latency quantile over no requests is NaN while
    // its series is still there. The server is idle, not unknown.
    let store = Store::new(true);
    let start = Timestamp::from_millis(1_700_000_000_000);
    let poll = |latency: f64, rate: f64, secs: u64| {
        let at = start + std::time::Duration::from_secs(secs);
        store.apply_poll(SignalKind::LatencyP95, &[(id("a"), latency)], at);
        store.apply_poll(SignalKind::RequestRate, &[(id("a"), rate)], at);
        store.finish_poll(at, false);
    };
    poll(0.3, 2.0, 0);
    for secs in (15..=3600).step_by(15) {
        poll(f64::NAN, 0.0, secs);
    }
    let a = store.signals(&id("a"));
    assert_eq!(a.get(SignalKind::LatencyP95), None);
    assert_eq!(a.held.kinds, 0, "nothing held");
    let now = start + std::time::Duration::from_secs(3600);
    let d = store.decide(&id("a"), &crate::engine::Policy::default(), now);
    assert_eq!(d.data, crate::engine::DataQuality::Fresh);
    assert!(!d.active && d.desired == 0, "{d:?}");
}

#[test]
fn nan_for_a_signal_that_shows_activity_is_missing_data_not_zero() {
    let store = Store::new(true);
    let t1 = Timestamp::from_millis(1_000);
    store.apply_poll(SignalKind::Sessions, &[(id("a"), 4.0)], t1);
    store.finish_poll(t1, false);
    let t2 = Timestamp::from_millis(16_000);
    store.apply_poll(SignalKind::Sessions, &[(id("a"), f64::NAN)], t2);
    store.finish_poll(t2, false);
    let a = store.signals(&id("a"));
    assert_eq!(a.get(SignalKind::Sessions), Some(4.0), "held");
    assert_ne!(a.held.kinds, 0);
}

#[test]
fn polls_turn_trusted_anew_only_after_a_gap_longer_than_a_rate_window() {
    let store = Store::new(true);
    let t0 = Timestamp::from_millis(1_700_000_000_000);
    let secs = std::time::Duration::from_secs;
    store.finish_poll(t0, true);
    assert_eq!(store.feed().trusted_since, Some(t0), "the first poll");
    // One failed query in between: nothing was missed.
    store.finish_poll(t0 + secs(30), true);
    assert_eq!(store.feed().trusted_since, Some(t0));
    let back = t0 + secs(30) + TRUST_GAP + secs(1);
    store.finish_poll(back, true);
    assert_eq!(store.feed().trusted_since, Some(back), "after a long gap");
    assert_eq!(
        store.feed().stretches.as_slice(),
        [crate::signal::Stretch {
            from: t0 + secs(30),
            back,
            polls: true
        }],
        "blind since the last good poll; the first poll and a short gap are none"
    );
}

#[test]
fn the_event_stream_back_after_an_outage_holds_the_answer_from_before_it() {
    let store = Store::with_sources(false, true);
    let ms = Timestamp::from_millis;
    store.set_events_status(true, ms(0));
    assert!(
        store.feed().stretches.as_slice().is_empty(),
        "live for the first time"
    );
    store.record_event(&id("a"), EventKind::Request, ms(1_000));
    store.set_events_status(false, ms(2_000));
    store.set_events_status(true, ms(402_000));
    assert_eq!(store.feed().trusted_since, Some(ms(402_000)));
    assert_eq!(
        store.feed().stretches.as_slice(),
        [crate::signal::Stretch {
            from: ms(2_000),
            back: ms(402_000),
            polls: false
        }]
    );
    let policy = Policy {
        keep_alive: crate::engine::KeepAlive::Fixed,
        ..Policy::default()
    };
    // Its requests during the outage were not seen: it does not read idle.
    let d = store.decide(&id("a"), &policy, ms(403_000));
    assert_eq!(
        (d.active, d.reason),
        (true, crate::engine::Reason::Resuming),
        "{d:?}"
    );
    let later = store.decide(&id("a"), &policy, ms(702_000));
    assert!(
        !later.active,
        "an idle window after it came back: {later:?}"
    );
}

#[test]
fn a_grouped_poll_replaces_the_whole_fleets_values() {
    let store = Store::new(true);
    let poll = |values: &[(ServerKey, f64)], ms| {
        let at = Timestamp::from_millis(ms);
        store.apply_poll(SignalKind::Sessions, values, at);
        store.finish_poll(at, false);
    };
    poll(&[(id("a"), 3.0), (id("b"), 1.0)], 1_000);
    poll(&[(id("a"), 0.0), (id("b"), 2.0)], 2_000);
    poll(&[(id("b"), 2.0)], 3_000);
    let a = store.signals(&id("a"));
    assert_eq!(
        a.get(SignalKind::Sessions),
        None,
        "last seen at zero: gone is zero"
    );
    assert_eq!(a.held.kinds, 0);
    assert_eq!(a.last_poll_activity, Some(Timestamp::from_millis(1_000)));
    let b = store.signals(&id("b"));
    assert_eq!(b.get(SignalKind::Sessions), Some(2.0));
    assert_eq!(b.feed.polled_at, Some(Timestamp::from_millis(3_000)));
}

#[test]
fn a_poll_wakes_the_watchers_of_busy_servers_and_of_those_that_just_stopped() {
    let store = Store::new(true);
    let (busy, stopped, idle) = (id("busy"), id("stopped"), id("idle"));
    let mut watch: Vec<_> = [&busy, &stopped, &idle]
        .iter()
        .map(|s| store.subscribe(s, Timestamp::from_millis(0)).expect("room"))
        .collect();
    let all = [busy.clone(), stopped.clone(), idle.clone()];
    let mut woken = |store: &Store, at: u64, resync: bool, busy_now: &[&ServerKey]| {
        let at = Timestamp::from_millis(at);
        let values: Vec<_> = all
            .iter()
            .map(|s| (s.clone(), if busy_now.contains(&s) { 1.0 } else { 0.0 }))
            .collect();
        store.apply_poll(SignalKind::Sessions, &values, at);
        store.finish_poll(at, resync);
        watch
            .iter_mut()
            .map(|w| {
                let changed = w.has_changed().expect("open");
                w.mark_unchanged();
                changed
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        woken(&store, 1_000, true, &[&busy, &stopped]),
        [true, true, true],
        "the first poll wakes everyone"
    );
    assert_eq!(
        woken(&store, 2_000, false, &[&busy]),
        [true, true, false],
        "busy, and busy until now; an idle server's watcher sleeps on"
    );
    assert_eq!(woken(&store, 3_000, false, &[&busy]), [true, false, false]);
    assert_eq!(
        woken(&store, 4_000, true, &[&busy]),
        [true, true, true],
        "after a failed poll everyone re-decides"
    );
}

#[test]
fn a_busy_servers_vanished_series_is_held_and_counted_an_idle_ones_reads_zero() {
    let store = Store::new(true);
    let t1 = Timestamp::from_millis(1_000);
    let values = [(id("busy"), 5.0), (id("idle"), 0.0)];
    store.apply_poll(SignalKind::Sessions, &values, t1);
    store.finish_poll(t1, true);
    let t2 = Timestamp::from_millis(16_000);
    assert_eq!(store.apply_poll(SignalKind::Sessions, &[], t2).absent, 1);
    store.finish_poll(t2, false);
    let busy = store.signals(&id("busy"));
    assert_eq!(busy.get(SignalKind::Sessions), Some(5.0), "held, not zero");
    assert_eq!(busy.held.good_at, Some(t1));
    assert_eq!(store.signals(&id("idle")).get(SignalKind::Sessions), None);
    let d = store.decide(&id("busy"), &Policy::default(), t2);
    assert!(d.active, "unknown is never idle: {d:?}");
    assert!(
        matches!(d.data, engine::DataQuality::Stale { .. }),
        "{:?}",
        d.data
    );
}

#[test]
fn asking_about_a_server_stores_nothing() {
    let store = Store::new(true);
    let d = store.decide(
        &id("never-seen"),
        &Policy::default(),
        Timestamp::from_millis(1),
    );
    assert!(matches!(
        d.data,
        engine::DataQuality::Unavailable { age_ms: None, .. }
    ));
    assert!(store.is_empty(), "a call must not create an entry");
}

#[test]
fn a_decision_depends_on_the_signals_not_on_earlier_calls() {
    let store = Store::new(false);
    let busy = Policy::default();
    let pinned = Policy {
        min_replicas: 9,
        max_replicas: 9,
        ..Policy::default()
    };
    store.record_event(&id("a"), EventKind::SessionOpen, Timestamp::from_millis(0));
    let at = Timestamp::from_millis(10_000);
    let first = store.decide(&id("a"), &busy, at);
    for t in 0..50 {
        store.decide(&id("a"), &pinned, at + std::time::Duration::from_millis(t));
    }
    assert_eq!(
        store.decide(&id("a"), &busy, at),
        first,
        "other policies' calls leave no trace"
    );
}

#[test]
fn losing_the_event_stream_wakes_every_watcher_and_holds_answers() {
    let store = Store::with_sources(false, true);
    let mut w = store
        .subscribe(&id("a"), Timestamp::from_millis(0))
        .expect("room");
    store.set_events_status(true, Timestamp::from_millis(0));
    assert!(w.has_changed().expect("open"));
    w.mark_unchanged();
    store.record_event(&id("a"), EventKind::Request, Timestamp::from_millis(1_000));
    w.mark_unchanged();
    store.set_events_status(false, Timestamp::from_millis(2_000));
    assert!(w.has_changed().expect("open"));
    let late = Timestamp::from_millis(2_000 + 400_000);
    let d = store.decide(&id("a"), &Policy::default(), late);
    assert!(
        d.active,
        "active before the outage, active during it: {d:?}"
    );
}

#[test]
fn a_full_store_forgets_a_quiet_unwatched_server_or_refuses_a_new_one() {
    let store = Store::new(false).with_max_servers(SHARDS); // one entry per shard
    let t0 = Timestamp::from_millis(1_000);
    // Fill every shard with a watched server: nothing can be forgotten.
    let mut watchers = Vec::new();
    let mut i = 0;
    while store.len() < SHARDS && i < 100_000 {
        let key = id(&format!("w-{i}"));
        if let Some(w) = store.subscribe(&key, t0) {
            watchers.push(w);
        }
        i += 1;
    }
    assert_eq!(store.len(), SHARDS);
    assert!(
        !store.record_event(&id("newcomer"), EventKind::Request, t0),
        "full: refused"
    );
    assert!(store.subscribe(&id("newcomer"), t0).is_none());
    // Unwatched and quiet for an hour: its room goes to the newcomer.
    watchers.clear();
    let later = t0 + QUIET_BEFORE_EVICTION;
    assert!(store.record_event(&id("newcomer"), EventKind::Request, later));
    assert_eq!(store.len(), SHARDS, "one forgotten, one added");
}

#[test]
fn a_busy_server_is_never_forgotten_to_make_room() {
    let store = Store::new(false).with_max_servers(SHARDS);
    let t0 = Timestamp::from_millis(1_000);
    let mut i = 0;
    while store.len() < SHARDS && i < 100_000 {
        store.record_event(&id(&format!("s-{i}")), EventKind::SessionOpen, t0);
        i += 1;
    }
    let later = t0 + QUIET_BEFORE_EVICTION * 2;
    assert!(
        !store.record_event(&id("newcomer"), EventKind::SessionOpen, later),
        "live sessions everywhere"
    );
    assert_eq!(store.len(), SHARDS);
    // The refused server is unknown, not idle; one never seen is idle.
    let policy = crate::engine::Policy::default();
    let refused = store.decide(&id("newcomer"), &policy, later);
    assert_eq!(
        refused.data,
        crate::engine::DataQuality::Unavailable {
            age_ms: None,
            cause: crate::engine::Gap::NotTracked
        }
    );
    let unseen = store.decide(&id("never-seen"), &policy, later);
    assert_eq!(unseen.data, crate::engine::DataQuality::EventsOnly);
    assert!(!unseen.active);
}

#[test]
fn a_server_known_to_run_no_replicas_holds_nothing() {
    let store = Store::new(true);
    let t1 = Timestamp::from_millis(1_000);
    store.apply_poll(SignalKind::Sessions, &[(id("gone"), 4.0)], t1);
    store.finish_poll(t1, true);
    let t2 = Timestamp::from_millis(16_000);
    store.apply_poll(SignalKind::Sessions, &[], t2);
    store.finish_poll(t2, false);
    assert_ne!(
        store.signals(&id("gone")).held.kinds,
        0,
        "vanished while busy: held"
    );
    store.known_empty(&id("gone"));
    let s = store.signals(&id("gone"));
    assert_eq!((s.held.kinds, s.get(SignalKind::Sessions)), (0, None));
    let d = store.decide(&id("gone"), &Policy::default(), t2);
    assert_eq!(
        d.data,
        engine::DataQuality::Fresh,
        "known empty is known, not missing"
    );
    store.known_empty(&id("never-seen"));
    assert_eq!(store.len(), 1, "a replica count creates no entry");
}

#[test]
fn events_naming_a_session_count_it_once_and_give_its_place_back_when_it_closes() {
    let store = Store::new(false);
    let t0 = Timestamp::from_millis(1_000);
    let s = crate::source::sessions::SessionId::parse("s-1");
    let sessions = |store: &Store| {
        store
            .signals(&id("a"))
            .load
            .event_count(SignalKind::Sessions)
    };
    let moved = |event| {
        store
            .record_session_event(&id("a"), event, t0)
            .map(|c| c.server)
    };
    let open = (EventKind::SessionOpen, s);
    assert_eq!(moved(open), Some(true));
    assert_eq!(moved(open), Some(false), "a second open moves no count");
    assert_eq!((sessions(&store), store.tracked_sessions()), (1, 1));
    let close = (EventKind::SessionClose, s);
    assert_eq!(moved(close), Some(true));
    assert_eq!((sessions(&store), store.tracked_sessions()), (0, 0));
    assert_eq!(
        moved(close),
        Some(false),
        "a close of a session not open moves no count"
    );
}

#[test]
fn with_every_place_taken_the_silent_sessions_of_quiet_servers_are_forgotten() {
    let store = Store::new(false).with_tracked_sessions(2);
    let t0 = Timestamp::from_millis(1_000);
    let s = |name: &str| crate::source::sessions::SessionId::parse(name);
    let open = |name: &str| (EventKind::SessionOpen, s(name));
    // Two servers whose closes were lost and which never speak again.
    store.record_session_event(&id("gone-1"), open("a"), t0);
    store.record_session_event(&id("gone-2"), open("b"), t0);
    assert_eq!(store.tracked_sessions(), 2);
    // A day later another server's sessions need the places.
    let later = t0 + crate::source::sessions::FORGET_AFTER;
    store.record_session_event(&id("live"), open("c"), later);
    assert_eq!(store.tracked_sessions(), 1, "a and b forgotten, c tracked");
    let count = |name: &str| {
        store
            .signals(&id(name))
            .load
            .event_count(SignalKind::Sessions)
    };
    assert_eq!((count("gone-1"), count("gone-2"), count("live")), (0, 0, 1));
}

#[test]
fn a_held_servers_decision_is_the_stores_and_an_unheld_one_has_none() {
    let store = Store::new(false);
    let policy = Policy::default();
    let now = Timestamp::from_millis(10_000);
    assert_eq!(store.decide_held(&id("a"), &policy, now), None);
    assert!(store.is_empty(), "asking stores nothing");
    store.record_event(&id("a"), EventKind::SessionOpen, Timestamp::from_millis(0));
    let (decision, feed) = store.decide_held(&id("a"), &policy, now).expect("held");
    assert_eq!(decision, store.decide(&id("a"), &policy, now));
    assert_eq!(feed, store.signals(&id("a")).feed);
    assert!(decision.desired >= 1, "a live session keeps it up");
}

#[test]
fn a_stray_close_never_wakes_a_server_at_zero() {
    let store = Store::new(false);
    let policy = Policy::default();
    let t0 = Timestamp::from_millis(1_000);
    store.record_event(&id("a"), EventKind::Request, t0);
    // Long after the keep-alive: idle.
    let t1 = t0 + policy.idle_window * 3;
    let asleep = store.decide(&id("a"), &policy, t1);
    assert_eq!(asleep.desired, 0);
    let stray = crate::source::sessions::SessionId::parse("never-opened");
    store.record_session_event(&id("a"), (EventKind::SessionClose, stray), t1);
    store.record_event(&id("a"), EventKind::ConnectionClose, t1);
    let later = t1 + std::time::Duration::from_secs(1);
    assert_eq!(store.decide(&id("a"), &policy, later).desired, 0);
    assert_eq!(store.signals(&id("a")).last_activity(), Some(t0));
    // A request is activity: the same path wakes it.
    store.record_event(&id("a"), EventKind::Request, t1);
    assert_eq!(store.decide(&id("a"), &policy, later).desired, 1);
}
