//! Live work in the server loop: sessions and streams pinned to pods, what
//! scale-in cuts, and how open work keeps a server up.

use super::*;

/// A 3-minute burst of 150 requests/s (15 in flight: 2 replicas at 8
/// each); 40 units of live work (`open` … `close`) open mid-burst and stay
/// open for the hour. Returns the runs of `hpa`, `default`, and `default`
/// without deletion cost.
fn live_work_through_a_burst(open: EventKind, close: EventKind) -> [Stats; 3] {
    let scenario = Scenario {
        duration: Duration::from_secs(3600),
        ..Scenario::default()
    };
    let unit = |t, kind, id| Arrival {
        t,
        server: 0,
        kind,
        session: Some(id),
        service_s: Some(0.1),
    };
    let mut arrivals: Vec<Arrival> = (0..27_000)
        .map(|k| request(10.0 + f64::from(k) / 150.0))
        .collect();
    arrivals.extend((0..40).map(|id| unit(120.0 + f64::from(id), open, id)));
    arrivals.extend((0..40).map(|id| unit(3500.0, close, id)));
    arrivals.sort_by(|a, b| a.t.total_cmp(&b.t));
    let mut blind = policy_run("default");
    blind.wiring.deletion_cost = false;
    [policy_run("hpa"), policy_run("default"), blind]
        .map(|run| run_one(&scenario, &run, &arrivals, true))
}

#[test]
fn scaling_in_keeps_the_pods_holding_sessions_only_when_it_knows_them() {
    let [hpa, ours, blind] =
        live_work_through_a_burst(EventKind::SessionOpen, EventKind::SessionClose);
    // The HPA baseline scales on concurrency only and removes the newest
    // pods: after the burst it scales in and cuts their sessions.
    assert_eq!(hpa.sessions, 40);
    assert!(hpa.peak_replicas >= 2, "{}", hpa.peak_replicas);
    assert!(hpa.sessions_cut >= 10, "{}", hpa.sessions_cut);
    // Ours does not size by sessions either, so it scales in too, but it
    // knows which pods hold them: those stay until their sessions end.
    assert_eq!(ours.sessions_cut, 0);
    assert!(ours.peak_replicas >= 2, "{}", ours.peak_replicas);
    // Without that knowledge (no deletion cost), the same policy cuts.
    assert!(blind.sessions_cut >= 10, "{}", blind.sessions_cut);
    assert!(blind.replica_seconds() < ours.replica_seconds());
}

#[test]
fn scaling_in_keeps_the_pods_holding_streams_only_when_it_knows_them() {
    let [hpa, ours, blind] =
        live_work_through_a_burst(EventKind::ConnectionOpen, EventKind::ConnectionClose);
    assert_eq!((hpa.streams, hpa.sessions), (40, 0));
    assert!(hpa.streams_cut >= 10, "{}", hpa.streams_cut);
    assert_eq!(ours.streams_cut, 0);
    assert!(ours.peak_replicas >= 2, "{}", ours.peak_replicas);
    assert!(blind.streams_cut >= 10, "{}", blind.streams_cut);
    assert_eq!(blind.sessions_cut + ours.sessions_cut, 0);
}

#[test]
fn an_open_stream_keeps_its_server_up_until_it_closes() {
    let scenario = Scenario {
        duration: Duration::from_secs(3 * 3600),
        ..Scenario::default()
    };
    let stream = |t, kind| Arrival {
        t,
        server: 0,
        kind,
        session: Some(7),
        service_s: None,
    };
    // One request wakes the server; its client then listens for 2 hours
    // without asking anything.
    let quiet = vec![request(5.0)];
    let mut listening = quiet.clone();
    listening.push(stream(6.0, EventKind::ConnectionOpen));
    listening.push(stream(7206.0, EventKind::ConnectionClose));
    for name in ["default", "keep-alive-10m", "oracle"] {
        let run = policy_run(name);
        let held = run_one(&scenario, &run, &listening, true);
        let alone = run_one(&scenario, &run, &quiet, true);
        assert_eq!((held.streams, held.streams_cut), (1, 0), "{name}");
        assert!(
            held.replica_seconds() >= 7200.0,
            "{name}: {}",
            held.replica_seconds()
        );
        // Released after it closes, as without it.
        assert!(held.replica_seconds() < 7200.0 + 3600.0, "{name}");
        assert!(
            alone.replica_seconds() < 3600.0,
            "{name}: {}",
            alone.replica_seconds()
        );
        assert_eq!(held.cold_starts, 1, "{name}");
    }
}

fn stream_event(t: f64, kind: EventKind, id: u32) -> Arrival {
    Arrival {
        t,
        server: 0,
        kind,
        session: Some(id),
        service_s: None,
    }
}

#[test]
fn a_stream_opened_at_zero_wakes_the_server_and_waits_for_its_pod() {
    let scenario = Scenario {
        duration: Duration::from_secs(3600),
        ..Scenario::default()
    };
    let arrivals = [
        stream_event(100.0, EventKind::ConnectionOpen, 1),
        stream_event(1000.0, EventKind::ConnectionClose, 1),
    ];
    let s = run_one(&scenario, &policy_run("default"), &arrivals, true);
    // Woken by the open (pushed at once), ready a cold start later; no
    // request waited, so no cold start.
    assert_eq!((s.starts_from_zero, s.cold_starts), (1, 0));
    assert_eq!((s.streams, s.streams_cut), (1, 0));
    assert!(s.replica_seconds() >= 900.0, "{}", s.replica_seconds());
    assert!(s.replica_seconds() < 3500.0, "{}", s.replica_seconds());
}

#[test]
fn a_second_open_or_a_close_never_opened_changes_no_count() {
    let scenario = Scenario {
        duration: Duration::from_secs(4 * 3600),
        ..Scenario::default()
    };
    let run = |arrivals: &[Arrival]| run_one(&scenario, &policy_run("default"), arrivals, true);
    let opened_twice = [
        request(5.0),
        stream_event(6.0, EventKind::ConnectionOpen, 1),
        stream_event(300.0, EventKind::ConnectionOpen, 1),
        stream_event(600.0, EventKind::ConnectionClose, 1),
    ];
    let s = run(&opened_twice);
    assert_eq!(s.streams, 1);
    // The engine's count is back to zero at 600 s: the server is released
    // after its keep-alive, not held by a count that never closes.
    assert!(s.replica_seconds() < 3600.0, "{}", s.replica_seconds());
    // A close of a stream never opened does not end the open one.
    let stray_close = [
        request(5.0),
        stream_event(6.0, EventKind::ConnectionOpen, 1),
        stream_event(300.0, EventKind::ConnectionClose, 2),
        stream_event(2400.0, EventKind::ConnectionClose, 1),
    ];
    let s = run(&stray_close);
    assert!(s.replica_seconds() >= 2390.0, "{}", s.replica_seconds());
    assert!(
        s.replica_seconds() < 2400.0 + 3600.0,
        "{}",
        s.replica_seconds()
    );
}
