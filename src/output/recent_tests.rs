use super::*;

fn key(name: &str) -> ServerKey {
    ServerKey::parse("tenants", name).expect("id")
}

fn at(s: u64) -> Timestamp {
    Timestamp::from_millis(s * 1000)
}

fn sample(t: u64, desired: u32, sessions: f32) -> Sample {
    Sample {
        at: at(t),
        desired: Some(desired),
        current: Some(desired),
        active: Some(desired > 0),
        sessions,
        connections: 0.0,
        request_rate: 0.0,
        queue_length: 0.0,
    }
}

#[test]
fn an_unchanged_server_keeps_one_point_and_a_change_adds_one_with_its_reason() {
    let recent = Recent::default();
    for t in 0..10 {
        recent.record(&key("a"), sample(t * 15, 0, 0.0), Reason::Idle);
    }
    assert_eq!(recent.of(&key("a")).samples.len(), 1);
    recent.record(&key("a"), sample(150, 2, 30.0), Reason::Load);
    recent.record(&key("a"), sample(165, 2, 31.0), Reason::Load);
    let r = recent.of(&key("a"));
    assert_eq!(r.samples.len(), 3, "a signal change is a point too");
    assert_eq!(
        r.changes
            .iter()
            .map(|c| (c.desired, c.reason))
            .collect::<Vec<_>>(),
        [(Some(0), Reason::Idle), (Some(2), Reason::Load)],
        "only decision changes are changes"
    );
    assert_eq!(recent.len(), 3);
}

#[test]
fn the_window_keeps_the_value_in_force_when_it_opens_and_nothing_older() {
    let recent = Recent::default();
    recent.record(&key("a"), sample(0, 1, 1.0), Reason::Load);
    recent.record(&key("a"), sample(100, 2, 2.0), Reason::Load);
    recent.record(&key("a"), sample(200, 3, 3.0), Reason::Load);
    let late = 200 + WINDOW.as_secs();
    recent.record(&key("a"), sample(late, 4, 4.0), Reason::Load);
    let times: Vec<u64> = recent
        .of(&key("a"))
        .samples
        .iter()
        .map(|s| s.at.as_millis() / 1000)
        .collect();
    assert_eq!(times, [200, late], "200 is in force at the window's start");
    assert_eq!(recent.len(), 2);
}

#[test]
fn a_busy_server_keeps_at_most_max_samples_and_max_changes() {
    let recent = Recent::default();
    for t in 0..(MAX_SAMPLES as u64 * 2) {
        let desired = u32::try_from(t % 7).expect("small");
        recent.record(&key("a"), sample(t, desired, t as f32), Reason::Load);
    }
    let r = recent.of(&key("a"));
    assert_eq!(r.samples.len(), MAX_SAMPLES);
    assert_eq!(r.changes.len(), MAX_CHANGES);
    assert_eq!(recent.len(), MAX_SAMPLES);
}

#[test]
fn past_the_budget_timelines_stop_growing_but_keep_their_newest_point() {
    let recent = Recent::with_budget(20);
    for t in 0..20 {
        recent.record(&key("a"), sample(t, 1, t as f32), Reason::Load);
    }
    for t in 0..30 {
        recent.record(&key("b"), sample(t, 1, t as f32), Reason::Load);
    }
    let b = recent.of(&key("b")).samples;
    assert_eq!(b.len(), FLOOR, "a newcomer still gets the floor");
    assert_eq!(b.last().map(|s| s.sessions), Some(29.0), "newest kept");
    assert_eq!(recent.len(), 20 + FLOOR);
}

#[test]
fn a_sweep_forgets_servers_it_did_not_see() {
    let recent = Recent::default();
    recent.begin_sweep();
    recent.record(&key("a"), sample(0, 1, 1.0), Reason::Load);
    recent.record(&key("b"), sample(0, 1, 1.0), Reason::Load);
    recent.end_sweep();
    recent.begin_sweep();
    recent.record(&key("a"), sample(15, 1, 1.0), Reason::Load);
    recent.end_sweep();
    assert_eq!(recent.of(&key("b")), Remembered::default());
    assert_eq!(recent.of(&key("a")).samples.len(), 1);
    assert_eq!(recent.len(), 1);
}

#[test]
fn a_sample_shows_event_counts_only_while_they_stand() {
    use crate::signal::EventKind;
    let mut signals = Signals::default();
    for _ in 0..3 {
        signals.record_event(EventKind::SessionOpen, at(100));
    }
    signals.set(SignalKind::Sessions, 1.0);
    let decision = crate::engine::decide(&signals, &crate::engine::Policy::default(), at(100));
    let ttl = Duration::from_secs(60);
    let within = Sample::of(&signals, &decision, ttl, at(159));
    assert_eq!(within.sessions, 3.0, "the count, above the poll");
    let lapsed = Sample::of(&signals, &decision, ttl, at(160));
    assert_eq!(
        lapsed.sessions, 1.0,
        "a minute without events: the count (a lost close, perhaps) no longer stands"
    );
}
