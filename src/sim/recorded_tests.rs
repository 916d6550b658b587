use super::*;
use crate::sim::trace::tests::azure;
use std::fmt::Write;

/// An events CSV of `servers` servers, written out of time order, with
/// sessions that open, carry requests and close.
fn events_csv(rows: usize, servers: usize) -> String {
    let mut text = String::from("time_s,server,kind,session,service_s\n");
    for k in 0..rows {
        let t = ((k * 7919) % rows) as f64 / 10.0;
        let server = k % servers;
        let session = format!("s{}", k / 40);
        let (kind, session) = match k % 40 {
            0 => ("session_open", session.as_str()),
            39 => ("session_close", session.as_str()),
            n if n % 2 == 0 => ("request", session.as_str()),
            _ => ("request", ""),
        };
        let _ = writeln!(text, "{t},srv-{server},{kind},{session},");
    }
    text
}

fn per_server(r: &Recorded) -> Vec<Vec<Arrival>> {
    (0..r.names.len()).map(|i| r.events(i).collect()).collect()
}

#[test]
fn an_events_trace_sorted_on_disk_replays_as_the_one_held_in_memory() {
    let text = events_csv(5000, 7);
    let memory = Recorded::from_events(text.as_bytes(), "t.csv", f64::INFINITY, SPILL_AFTER)
        .expect("parses");
    let disk = Recorded::from_events(text.as_bytes(), "t.csv", f64::INFINITY, 64).expect("parses");
    assert!(!memory.spilled() && disk.spilled());
    assert_eq!(memory.names, disk.names);
    let (a, b) = (per_server(&memory), per_server(&disk));
    assert_eq!(a, b);
    assert_eq!(a.iter().map(Vec::len).sum::<usize>(), 5000);
    for (i, events) in a.iter().enumerate() {
        assert!(
            events.windows(2).all(|w| w[0].t <= w[1].t),
            "server {i} in time order"
        );
        assert!(events.iter().all(|e| e.server == i as u32));
        assert_eq!(memory.count(i), events.len() as u64);
    }
    assert_eq!(disk.read_error(), None);
    assert_eq!(memory.last_time(), 499.9);
}

/// Server `server`'s events of the events trace `text`: (kind, number).
fn numbered(text: &str, server: usize) -> Vec<(EventKind, Option<u32>)> {
    let r = Recorded::from_events(text.as_bytes(), "t.csv", f64::INFINITY, 2).expect("parses");
    r.events(server).map(|e| (e.kind, e.session)).collect()
}

#[test]
fn sessions_are_numbered_per_server_and_a_closed_one_is_forgotten() {
    let text = "time_s,server,kind,session,service_s
1,a,session_open,x,
2,b,session_open,x,
3,a,request,x,
4,a,session_close,x,
5,a,session_open,y,
6,a,session_open,x,
";
    let a = numbered(text, 0);
    assert_eq!(
        a,
        [
            (EventKind::SessionOpen, Some(0)),
            (EventKind::Request, Some(0)),
            (EventKind::SessionClose, Some(0)),
            (EventKind::SessionOpen, Some(1)),
            (EventKind::SessionOpen, Some(2)),
        ]
    );
    assert_eq!(numbered(text, 1), [(EventKind::SessionOpen, Some(0))]);
}

#[test]
fn a_stream_and_a_session_of_one_id_are_numbered_apart() {
    let text = "time_s,server,kind,session,service_s
1,a,connection_open,x,
2,a,session_open,x,
3,a,request,x,
4,a,connection_close,x,
5,a,request,x,
6,a,session_close,x,
7,a,connection_close,x,
";
    let a = numbered(text, 0);
    assert_eq!(
        a,
        [
            (EventKind::ConnectionOpen, Some(0)),
            (EventKind::SessionOpen, Some(1)),
            (EventKind::Request, Some(1)),
            (EventKind::ConnectionClose, Some(0)),
            (EventKind::Request, Some(1)),
            (EventKind::SessionClose, Some(1)),
            // Closing a stream not open: a number of its own.
            (EventKind::ConnectionClose, Some(2)),
        ]
    );
}

#[test]
fn opens_and_closes_without_an_id_pair_up_oldest_first() {
    let text = "time_s,server,kind,session,service_s
1,a,connection_open,,
2,a,connection_open,,
3,a,session_open,,
4,a,connection_close,,
5,a,request,,
6,a,connection_close,,
7,a,connection_close,,
8,a,session_close,,
";
    let a = numbered(text, 0);
    assert_eq!(
        a,
        [
            (EventKind::ConnectionOpen, Some(0)),
            (EventKind::ConnectionOpen, Some(1)),
            (EventKind::SessionOpen, Some(2)),
            (EventKind::ConnectionClose, Some(0)),
            (EventKind::Request, None),
            (EventKind::ConnectionClose, Some(1)),
            // Nothing left open: a close of its own.
            (EventKind::ConnectionClose, Some(3)),
            (EventKind::SessionClose, Some(2)),
        ]
    );
}

#[test]
fn events_at_or_after_the_horizon_are_left_out() {
    let text = events_csv(1000, 3);
    let r = Recorded::from_events(text.as_bytes(), "t.csv", 50.0, 100).expect("parses");
    let all: Vec<Arrival> = (0..3).flat_map(|i| r.events(i)).collect();
    assert_eq!(all.len(), 500);
    assert!(all.iter().all(|a| a.t < 50.0));
    assert_eq!(r.last_time(), 49.9);
}

#[test]
fn an_apps_invocations_are_uniform_within_their_minute_and_in_order() {
    let text = azure(
        &[
            "o,a,f1,http,0,6000,1",
            "o,a,f2,http,0,4000,0",
            "o,b,f,http,3,0,0",
        ],
        3,
    );
    let r = Recorded::from_azure(text.as_bytes(), "az.csv", 11, f64::INFINITY).expect("parses");
    assert_eq!(r.names, ["app-0", "app-1"]);
    assert_eq!((r.count(0), r.count(1)), (10_001, 3));
    let a: Vec<f64> = r.events(0).map(|e| e.t).collect();
    assert_eq!(a.len(), 10_001);
    assert!(a.windows(2).all(|w| w[0] <= w[1]), "in time order");
    let minute_two: Vec<f64> = a
        .iter()
        .filter(|&&t| (60.0..120.0).contains(&t))
        .map(|t| t - 60.0)
        .collect();
    assert_eq!(minute_two.len(), 10_000);
    // Uniform over the minute: every tenth of it holds about a tenth.
    for d in 0..10 {
        let lo = f64::from(d) * 6.0;
        let share = minute_two
            .iter()
            .filter(|&&t| (lo..lo + 6.0).contains(&t))
            .count();
        assert!((share as f64 - 1000.0).abs() < 120.0, "tenth {d}: {share}");
    }
    assert_eq!(a.last().map(|t| (t / 60.0).floor()), Some(2.0));
    assert_eq!(r.last_time(), 120.0);
    let again = Recorded::from_azure(text.as_bytes(), "az.csv", 11, f64::INFINITY).expect("again");
    assert_eq!(per_server(&r), per_server(&again), "same seed, same spread");
}

#[test]
fn a_negative_zero_time_sorts_first() {
    let text = "time_s,server,kind,session,service_s\n1,a,request,,\n-0,a,request,,\n";
    let r = Recorded::from_events(text.as_bytes(), "t.csv", f64::INFINITY, 1).expect("parses");
    let times: Vec<f64> = r.events(0).map(|e| e.t).collect();
    assert_eq!(times, [0.0, 1.0]);
    assert!(times[0].is_sign_positive());
}

#[test]
fn azure_invocations_at_or_after_the_horizon_are_left_out() {
    let text = azure(&["o,a,f,http,50,50"], 2);
    let r = Recorded::from_azure(text.as_bytes(), "az.csv", 3, 90.0).expect("parses");
    let times: Vec<f64> = r.events(0).map(|e| e.t).collect();
    assert!(times.iter().all(|&t| t < 90.0));
    let second_minute = times.iter().filter(|&&t| t >= 60.0).count();
    assert!(second_minute > 10 && second_minute < 40, "{second_minute}");
}

#[test]
fn a_server_with_more_units_open_than_it_may_hold_stops_the_replay_saying_why() {
    let open = |i: usize| {
        Ok(Record {
            t: i as f64,
            server: 0,
            kind: Record::code(EventKind::ConnectionOpen),
            session: None,
            service_s: None,
        })
    };
    let failed = std::sync::Mutex::new(None);
    let taken = Sessions::new(0, (0..=MAX_OPEN_UNITS + 5).map(open), &failed).count();
    assert_eq!(taken, MAX_OPEN_UNITS);
    let why = failed
        .lock()
        .map(|f| f.clone())
        .ok()
        .flatten()
        .unwrap_or_default();
    assert!(
        why.contains("more than 1000000 sessions and streams open"),
        "{why}"
    );
}
