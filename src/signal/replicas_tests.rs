use super::*;
use crate::signal::Feed;

const T: Timestamp = Timestamp::from_millis(1_000_000);

fn polled_fleet(workloads_live: bool) -> Signals {
    Signals {
        feed: Feed {
            poller_configured: true,
            polled_at: Some(T),
            workloads_live,
            ..Feed::default()
        },
        ..Signals::default()
    }
}

#[test]
fn running_replicas_with_no_series_and_no_history_never_were_good() {
    let mut s = polled_fleet(true);
    s.set_replicas(Some((2, 2)));
    s.finish_poll(T);
    assert_eq!(s.held.kinds, Held::NO_SERIES);
    assert_eq!(s.held.good_at, None, "never good: not idle");
}

#[test]
fn activity_after_the_series_went_missing_moves_the_answer_held() {
    let mut s = polled_fleet(true);
    s.set_replicas(Some((1, 0)));
    s.finish_poll(T);
    assert_eq!(s.held.good_at, None);
    let later = Timestamp::from_millis(T.as_millis() + 5_000);
    s.record_event(crate::signal::EventKind::Request, later);
    s.finish_poll(later);
    assert_eq!(
        (s.held.kinds, s.held.good_at),
        (Held::NO_SERIES, Some(later))
    );
}

#[test]
fn a_woken_server_without_series_yet_holds_the_answer_of_its_wake() {
    let mut s = polled_fleet(true);
    s.record_event(crate::signal::EventKind::Request, T);
    s.set_replicas(Some((1, 0)));
    let later = Timestamp::from_millis(T.as_millis() + 5_000);
    s.finish_poll(later);
    assert_eq!((s.held.kinds, s.held.good_at), (Held::NO_SERIES, Some(T)));
    s.set(SignalKind::Sessions, 0.0);
    s.finish_poll(later);
    assert_eq!(s.held, Held::default(), "its series arrived");
}

#[test]
fn zero_replicas_make_vanished_series_zero_only_on_a_live_watch() {
    for live in [true, false] {
        let mut s = polled_fleet(live);
        s.set(SignalKind::Sessions, 5.0);
        s.absent(SignalKind::Sessions, T);
        s.set_replicas(Some((0, 0)));
        s.finish_poll(T);
        let held = s.held.kinds != 0;
        assert_eq!(held, !live, "live watch {live}");
    }
}

#[test]
fn without_discovery_nothing_changes() {
    let mut s = polled_fleet(true);
    s.set_replicas(Some((3, 3)));
    s.set_replicas(None);
    s.finish_poll(T);
    assert_eq!(s.held, Held::default());
}
