use crate::engine::{KeepAlive, Policy, Reason, decide};
use crate::signal::{EventKind, Feed, SignalKind, Signals, Stretch};
use crate::time::Timestamp;

const T0: u64 = 1_700_000_000_000;

fn at(secs: u64) -> Timestamp {
    Timestamp::from_millis(T0 + secs * 1000)
}

fn fixed_window() -> Policy {
    Policy {
        keep_alive: KeepAlive::Fixed,
        ..Policy::default()
    }
}

fn stretch(from: u64, back: u64, polls: bool) -> Stretch {
    Stretch {
        from: at(from),
        back: at(back),
        polls,
    }
}

/// An events-only server with a request every 30 s until `last`, after
/// the blind stretches `stretches` (seconds, oldest first).
fn events_only(last: u64, stretches: &[(u64, u64)]) -> Signals {
    let mut s = Signals {
        feed: Feed {
            events_configured: true,
            events_ready: true,
            ..Feed::default()
        },
        ..Signals::default()
    };
    for &(from, back) in stretches {
        s.feed.stretches.push(stretch(from, back, false));
        s.feed.trusted_since = Some(at(back));
    }
    for k in (0..=last).step_by(30) {
        s.record_event(EventKind::Request, at(k));
    }
    s
}

#[test]
fn a_server_busy_before_the_blind_stretch_stays_up_for_an_idle_window() {
    // Busy until 600 s, blind from 610 s to 1,090 s (8 minutes).
    let s = events_only(600, &[(610, 1090)]);
    let d = decide(&s, &fixed_window(), at(1091));
    assert_eq!((d.active, d.reason), (true, Reason::Resuming), "{d:?}");
    assert!(d.desired >= 1);
    assert_eq!(
        d.reevaluate_at,
        Some(at(1090 + 300)),
        "decide again when it ends"
    );
    let after = decide(&s, &fixed_window(), at(1390));
    assert_eq!((after.active, after.reason), (false, Reason::Idle));
    // The default (cost-aware) keep-alive is held the same way.
    assert!(decide(&s, &Policy::default(), at(1091)).active);
}

#[test]
fn no_hold_without_a_blind_stretch_or_for_a_server_idle_before_it() {
    // The stream turned trusted for the first time: nothing to hold.
    let first = events_only(600, &[]);
    assert!(!decide(&first, &fixed_window(), at(1091)).active);
    // Idle (300 s without a request) well before the stream went down.
    let idle = events_only(200, &[(610, 1090)]);
    let d = decide(&idle, &fixed_window(), at(1091));
    assert_eq!((d.active, d.reason), (false, Reason::Idle), "never a wake");
}

#[test]
fn the_hold_is_a_floor_not_a_cap() {
    let mut s = events_only(600, &[(610, 1090)]);
    s.record_event(EventKind::Request, at(1095));
    let d = decide(&s, &fixed_window(), at(1096));
    assert!(d.active);
    assert_ne!(d.reason, Reason::Resuming, "seen anew: the live answer");
}

#[test]
fn a_flap_right_after_the_source_came_back_does_not_cut_the_hold_short() {
    // Request at 90; down 100-500, then a blip 510-515. At 510 the server
    // was held up by the first hold, so the second holds it up too.
    let s = events_only(90, &[(100, 500), (510, 515)]);
    let d = decide(&s, &fixed_window(), at(516));
    assert_eq!((d.active, d.reason), (true, Reason::Resuming), "{d:?}");
    assert_eq!(d.reevaluate_at, Some(at(515 + 300)));
    assert!(!decide(&s, &fixed_window(), at(815)).active);
    // Four flaps in a row still chain back to the answer before the first.
    let s = events_only(90, &[(100, 500), (510, 515), (600, 605), (700, 705)]);
    let d = decide(&s, &fixed_window(), at(706));
    assert_eq!((d.active, d.reason), (true, Reason::Resuming), "{d:?}");
    // During the blip itself (stale: the last good answer, at 510, held).
    let mut during = events_only(90, &[(100, 500)]);
    during.feed.events_down_since = Some(at(510));
    let d = decide(&during, &fixed_window(), at(512));
    assert_eq!((d.active, d.reason), (true, Reason::StaleHold), "{d:?}");
}

/// A server polled every 15 s with a queue of `queue` until 600 s, then
/// polls failing until `back`, from when they show an empty queue for
/// ten minutes.
fn polled_then_blind(queue: f64, back: Option<u64>) -> Signals {
    let mut s = Signals::default();
    s.feed.poller_configured = true;
    for k in (0..=600).step_by(15) {
        s.set(SignalKind::QueueLength, queue);
        s.feed.polled_at = Some(at(k));
        s.finish_poll(at(k));
    }
    if let Some(back) = back {
        s.set(SignalKind::QueueLength, 0.0);
        s.feed.polled_at = Some(at(back));
        s.feed.trusted_since = Some(at(back));
        s.feed.stretches.push(stretch(600, back, true));
        s.finish_poll(at(back));
        for k in (back + 15..=back + 600).step_by(15) {
            s.feed.polled_at = Some(at(k));
            s.finish_poll(at(k));
        }
    }
    s
}

#[test]
fn polls_back_after_a_long_gap_hold_the_count_from_before_it() {
    let policy = fixed_window();
    let then = decide(&polled_then_blind(40.0, None), &policy, at(600));
    assert!(then.desired >= 2, "a count worth holding: {then:?}");
    // Eight minutes without a poll: the answer was held through it.
    let s = polled_then_blind(40.0, Some(1090));
    let d = decide(&s, &policy, at(1091));
    assert_eq!(
        (d.desired, d.active, d.reason),
        (then.desired, true, Reason::Resuming)
    );
    assert!(
        !decide(&s, &policy, at(1090 + 300)).active,
        "an idle window later"
    );
}

#[test]
fn a_server_that_went_idle_on_trusted_data_is_never_woken() {
    let policy = fixed_window();
    // Queue until 600 s; polls fail 600-690 (shorter than stale_after, so
    // the data stayed trusted): still warm just before, so held warm.
    let short = polled_then_blind(40.0, Some(690));
    assert!(decide(&short, &policy, at(691)).active);
    // Last activity at 600; polls fail 850-950 (100 s, under stale_after):
    // idle from 900 s on trusted data, and it stays idle after them.
    let mut s = Signals::default();
    s.feed.poller_configured = true;
    for k in (0..=850).step_by(15) {
        s.set(SignalKind::QueueLength, if k <= 600 { 40.0 } else { 0.0 });
        s.feed.polled_at = Some(at(k));
        s.finish_poll(at(k));
    }
    assert!(
        !decide(&s, &policy, at(949)).active,
        "idle before they came back"
    );
    s.feed.polled_at = Some(at(950));
    s.feed.trusted_since = Some(at(950));
    s.feed.stretches.push(stretch(840, 950, true));
    s.finish_poll(at(950));
    let d = decide(&s, &policy, at(951));
    assert_eq!((d.active, d.reason), (false, Reason::Idle), "{d:?}");
}

#[test]
fn events_back_while_polls_stayed_good_hold_what_the_polls_said() {
    // Polls good throughout (idle after 600 + 300 s); events down 850-950.
    let policy = fixed_window();
    let mut s = Signals::default();
    s.feed.poller_configured = true;
    s.feed.events_configured = true;
    s.feed.events_ready = true;
    for k in (0..=960).step_by(15) {
        s.set(SignalKind::QueueLength, if k <= 600 { 40.0 } else { 0.0 });
        s.feed.polled_at = Some(at(k));
        s.finish_poll(at(k));
    }
    s.feed.stretches.push(stretch(850, 950, false));
    s.feed.trusted_since = Some(at(950));
    let d = decide(&s, &policy, at(961));
    assert_eq!((d.active, d.reason), (false, Reason::Idle), "{d:?}");
}

/// Polled every 15 s with `queue(k)` until 600 s; polls then fail until
/// `back`, from when they show an empty queue.
fn polled_with(queue: impl Fn(u64) -> f64, back: Option<u64>) -> Signals {
    let mut s = Signals::default();
    s.feed.poller_configured = true;
    for k in (0..=600).step_by(15) {
        s.set(SignalKind::QueueLength, queue(k));
        s.feed.polled_at = Some(at(k));
        s.finish_poll(at(k));
    }
    if let Some(back) = back {
        s.set(SignalKind::QueueLength, 0.0);
        s.feed.stretches.push(stretch(600, back, true));
        for k in (back..=back + 600).step_by(15) {
            s.feed.polled_at = Some(at(k));
            s.finish_poll(at(k));
        }
    }
    s
}

#[test]
fn the_hold_keeps_the_count_the_stale_hold_answered() {
    // A queue that jumps at 600 s, rate-limited then (the HPA's default
    // limit, so the count is between its old and its new need): the stale
    // hold keeps that count through the gap, and the hold after it the same.
    let mut policy = fixed_window();
    policy.behavior.scale_up = crate::engine::Behavior::hpa_default().scale_up;
    let queue = |k| if k < 600 { 5.0 } else { 100.0 };
    let held = decide(&polled_with(queue, None), &policy, at(900));
    assert_eq!(held.reason, Reason::StaleHold, "{held:?}");
    let d = decide(&polled_with(queue, Some(1090)), &policy, at(1091));
    assert_eq!(
        (d.desired, d.reason),
        (held.desired, Reason::Resuming),
        "{d:?}"
    );
}

#[test]
fn a_short_gap_is_judged_on_the_data_before_the_poll_that_ended_it() {
    // Active only while the queue is above 0; polls fail 600-652 (under
    // stale_after) and the poll that ends the gap reads 0 in the same
    // history slot as the moment just before it.
    let policy = Policy {
        activity: crate::engine::Activity::Instant {
            metric: crate::signal::Metric::QueueLength,
            above: 0.0,
        },
        ..fixed_window()
    };
    let s = polled_with(|_| 40.0, Some(652));
    let d = decide(&s, &policy, at(653));
    assert_eq!((d.active, d.reason), (true, Reason::Resuming), "{d:?}");
}
