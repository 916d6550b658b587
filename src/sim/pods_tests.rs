use super::*;

const fn session(id: u32) -> Unit {
    (Live::Session, id)
}

const fn stream(id: u32) -> Unit {
    (Live::Stream, id)
}

/// Four ready pods, pod i holding `held[i]` units (of `kind`).
fn four_pods_with(order: ScaleInOrder, kind: Live, held: &[u32]) -> Pods {
    let mut pods = Pods::new(4, order);
    let mut id = 0;
    // Round robin: unit k lands on pod k % 4; close some so that pod i
    // keeps `held[i]`.
    let most = held.iter().copied().max().unwrap_or(0);
    for round in 0..most {
        for &keep in held {
            pods.begin((kind, id));
            if round >= keep {
                pods.end((kind, id));
            }
            id += 1;
        }
    }
    pods
}

fn sessions(n: u64) -> PerLive {
    PerLive {
        sessions: n,
        streams: 0,
    }
}

#[test]
fn least_live_work_leaves_first_and_cuts_nothing_when_idle_pods_suffice() {
    let mut pods = four_pods_with(ScaleInOrder::LeastLiveWork, Live::Session, &[3, 0, 2, 0]);
    assert_eq!(pods.open(Live::Session), 5);
    assert_eq!(pods.scale_in(2), (2, sessions(0)));
    assert_eq!(pods.ready(), 2);
    // Now the pod with 2 sessions goes.
    assert_eq!(pods.scale_in(1), (1, sessions(2)));
    assert_eq!(pods.open(Live::Session), 5);
}

#[test]
fn newest_first_cuts_the_sessions_of_the_newest_pods() {
    let mut pods = four_pods_with(ScaleInOrder::Newest, Live::Session, &[3, 0, 2, 0]);
    assert_eq!(pods.scale_in(2), (2, sessions(2)));
    assert_eq!(pods.scale_in(0), (2, sessions(5)));
    assert_eq!(pods.open(Live::Session), 5);
}

#[test]
fn starting_pods_leave_before_ready_ones_and_waiting_sessions_get_the_first_pod() {
    let mut pods = Pods::new(0, ScaleInOrder::LeastLiveWork);
    pods.begin(session(7));
    pods.start(3, 10.0);
    assert_eq!((pods.ready(), pods.spec()), (0, 3));
    assert_eq!(pods.become_ready(9.0), 0);
    assert_eq!(pods.become_ready(10.0), 3);
    assert_eq!(pods.scale_in(1), (2, sessions(0)));
    pods.end(session(7));
    assert_eq!(pods.live(), 0);
    pods.start(2, 20.0);
    assert_eq!(pods.scale_in(1), (0, sessions(0)));
    assert_eq!(pods.spec(), 1);
}

#[test]
fn streams_are_live_work_counted_apart_from_sessions() {
    // Round robin: pod 0 gets streams 1 and 4, pod 1 session 1 and
    // stream 5; pods 2 and 3 end with nothing.
    let mut pods = Pods::new(4, ScaleInOrder::LeastLiveWork);
    for unit in [stream(1), session(1), stream(2), stream(3)] {
        pods.begin(unit);
    }
    pods.end(stream(2));
    pods.end(stream(3));
    pods.begin(stream(4));
    pods.begin(stream(5));
    pods.begin(stream(6));
    pods.end(stream(6));
    // The same id in two kinds is two units.
    assert_eq!((pods.open(Live::Stream), pods.open(Live::Session)), (3, 1));
    assert_eq!(pods.busy(), 2);
    // The two idle pods leave first; then the newer of two equals.
    assert_eq!(pods.scale_in(2), (2, PerLive::default()));
    let cut = PerLive {
        sessions: 1,
        streams: 1,
    };
    assert_eq!(pods.scale_in(1), (1, cut));
    // Cut work reconnects: nothing is lost, and ending it still works.
    assert_eq!(pods.live(), 4);
    let (_, cut) = pods.scale_in(0);
    assert_eq!(
        cut,
        PerLive {
            sessions: 1,
            streams: 3
        }
    );
    for unit in [stream(1), session(1), stream(4), stream(5)] {
        pods.end(unit);
    }
    assert_eq!(pods.live(), 0);
    assert_eq!(pods.open(Live::Stream), 0);
}

#[test]
fn closing_what_is_not_open_changes_nothing() {
    let mut pods = Pods::new(1, ScaleInOrder::LeastLiveWork);
    assert!(!pods.end(stream(9)));
    assert!(pods.begin(stream(9)));
    assert!(!pods.begin(stream(9)));
    assert_eq!(pods.open(Live::Stream), 1, "reopening an id is one unit");
    assert_eq!(pods.busy(), 1);
    assert!(!pods.end(session(9)));
    assert_eq!(pods.open(Live::Stream), 1);
    assert!(pods.end(stream(9)));
    assert!(!pods.end(stream(9)));
    assert_eq!((pods.live(), pods.busy()), (0, 0));
}

#[test]
fn every_event_kind_but_a_request_is_live_work() {
    use crate::signal::EventKind as K;
    assert_eq!(Live::of(K::Request), None);
    assert_eq!(Live::of(K::SessionOpen), Some((Live::Session, true)));
    assert_eq!(Live::of(K::SessionClose), Some((Live::Session, false)));
    assert_eq!(Live::of(K::ConnectionOpen), Some((Live::Stream, true)));
    assert_eq!(Live::of(K::ConnectionClose), Some((Live::Stream, false)));
}
