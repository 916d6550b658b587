use super::*;

#[test]
fn server_rates_match_the_azure_functions_shares() {
    let s = Synthetic {
        servers: 20_000,
        max_rate_per_s: f64::INFINITY,
        ..Synthetic::default()
    };
    let rates = s.rates(1);
    let share =
        |limit: f64| rates.iter().filter(|&&r| r <= limit).count() as f64 / rates.len() as f64;
    assert!(
        (share(1.0 / 3600.0) - 0.45).abs() < 0.02,
        "≤ 1/h: {}",
        share(1.0 / 3600.0)
    );
    assert!(
        (share(1.0 / 60.0) - 0.81).abs() < 0.02,
        "≤ 1/min: {}",
        share(1.0 / 60.0)
    );
}

#[test]
fn the_same_seed_gives_the_same_events_and_another_seed_does_not() {
    let s = Synthetic {
        servers: 50,
        ..Synthetic::default()
    };
    let a = s.generate(Duration::from_secs(3600), 42);
    assert_eq!(a, s.generate(Duration::from_secs(3600), 42));
    assert_ne!(
        a.arrivals,
        s.generate(Duration::from_secs(3600), 43).arrivals
    );
    assert!(
        a.arrivals.windows(2).all(|w| w[0].t <= w[1].t),
        "sorted by time"
    );
    assert!(
        a.servers
            .iter()
            .all(|n| crate::id::ServerId::parse(n).is_ok())
    );
}

#[test]
fn a_steady_server_gets_its_mean_rate() {
    let s = Synthetic {
        servers: 1,
        rate_log_mean: (2.0f64 * 60.0).ln(), // 2 requests/s
        rate_log_sd: 0.0,
        diurnal_amplitude: 0.0,
        bursts: Bursts {
            per_hour: 0.0,
            ..Bursts::default()
        },
        sessions: Sessions {
            server_fraction: 0.0,
            ..Sessions::default()
        },
        ..Synthetic::default()
    };
    let n = s.generate(Duration::from_secs(10_000), 3).arrivals.len() as f64;
    assert!(
        (n - 20_000.0).abs() < 600.0,
        "{n} arrivals, expected about 20000"
    );
}

#[test]
fn sessions_open_before_their_requests_and_close_after() {
    let s = Synthetic {
        servers: 5,
        rate_log_mean: (60.0f64).ln(),
        rate_log_sd: 0.0,
        sessions: Sessions {
            server_fraction: 1.0,
            ..Sessions::default()
        },
        ..Synthetic::default()
    };
    let fleet = s.generate(Duration::from_secs(3600), 9);
    let mut open = std::collections::HashMap::new();
    for a in &fleet.arrivals {
        let id = (a.server, a.session.expect("every event is in a session"));
        match a.kind {
            EventKind::SessionOpen => assert!(open.insert(id, a.t).is_none()),
            EventKind::Request => assert!(
                open.get(&id).is_some_and(|&t| t <= a.t),
                "request before open"
            ),
            EventKind::SessionClose => assert!(open.get(&id).is_some_and(|&t| t <= a.t)),
            _ => panic!("unexpected {:?}", a.kind),
        }
    }
    assert!(!open.is_empty());
}

#[test]
fn periodic_servers_run_jobs_on_a_schedule_with_jitter() {
    let w = Synthetic {
        servers: 40,
        periodic: Periodic {
            server_fraction: 1.0,
            requests: 3.0,
            run_length: Duration::from_secs(30),
            jitter: Duration::from_secs(10),
        },
        ..Synthetic::default()
    };
    let horizon = 6.0 * 3600.0;
    for server in 0..40 {
        let a = w.server_arrivals(server, 1.0, horizon, 9);
        assert!(a.windows(2).all(|p| p[0].t <= p[1].t));
        assert!(
            a.iter()
                .all(|x| x.t < horizon && x.kind == EventKind::Request)
        );
        // Gaps between jobs are one schedule period, give or take the
        // jitter and the run: the period is one of the schedules.
        let starts: Vec<f64> = a
            .windows(2)
            .filter(|p| p[1].t - p[0].t > 60.0)
            .map(|p| p[1].t)
            .collect();
        let Some(gap) = starts.windows(2).map(|p| p[1] - p[0]).next() else {
            continue;
        };
        assert!(
            SCHEDULES_MIN
                .iter()
                .any(|&m| (gap - f64::from(m) * 60.0).abs() <= 20.0 + 30.0),
            "server {server}: gap {gap}"
        );
    }
}

#[test]
fn a_fleet_without_jobs_is_what_it_was() {
    let plain = Synthetic::default();
    let with_field = Synthetic {
        periodic: Periodic {
            server_fraction: 0.0,
            requests: 9.0,
            ..Periodic::default()
        },
        ..Synthetic::default()
    };
    let d = Duration::from_secs(3600);
    assert_eq!(plain.generate(d, 5), with_field.generate(d, 5));
}

#[test]
fn streams_come_beside_the_other_events_and_leave_them_as_they_were() {
    let plain = Synthetic {
        servers: 30,
        rate_log_mean: (6.0f64).ln(),
        rate_log_sd: 1.0,
        ..Synthetic::default()
    };
    let with_streams = Synthetic {
        streams: Streams {
            server_fraction: 1.0,
            per_request: 0.5,
            mean_duration: Duration::from_secs(600),
        },
        ..plain
    };
    let d = Duration::from_secs(4 * 3600);
    let before = plain.generate(d, 11);
    let after = with_streams.generate(d, 11);
    let is_stream = |a: &Arrival| {
        matches!(
            a.kind,
            EventKind::ConnectionOpen | EventKind::ConnectionClose
        )
    };
    let others: Vec<Arrival> = after
        .arrivals
        .iter()
        .copied()
        .filter(|a| !is_stream(a))
        .collect();
    assert_eq!(others, before.arrivals, "the other events are unchanged");
    assert!(after.arrivals.windows(2).all(|p| p[0].t <= p[1].t));
    // Every stream opens once, then closes once by the horizon.
    let mut open = std::collections::HashMap::new();
    let mut closed = 0;
    for a in after.arrivals.iter().filter(|a| is_stream(a)) {
        let id = (a.server, a.session.expect("a stream has an id"));
        if a.kind == EventKind::ConnectionOpen {
            assert!(open.insert(id, a.t).is_none(), "{id:?} opened twice");
        } else {
            assert!(open.get(&id).is_some_and(|&t| t <= a.t), "{id:?}");
            closed += 1;
        }
    }
    assert_eq!(closed, open.len());
    // Half a stream per request, give or take the draws.
    let requests = before.arrivals.len() as f64;
    let ratio = open.len() as f64 / requests;
    assert!((0.4..0.6).contains(&ratio), "{ratio}");
}

#[test]
fn a_share_of_servers_hold_streams() {
    let w = Synthetic {
        servers: 400,
        rate_log_mean: (60.0f64).ln(),
        rate_log_sd: 0.0,
        streams: Streams {
            server_fraction: 0.25,
            ..Streams::default()
        },
        ..Synthetic::default()
    };
    let fleet = w.generate(Duration::from_secs(600), 2);
    let holding: std::collections::HashSet<u32> = fleet
        .arrivals
        .iter()
        .filter(|a| a.kind == EventKind::ConnectionOpen)
        .map(|a| a.server)
        .collect();
    // 100 expected; a binomial SD is about 8.7.
    assert!((70..=130).contains(&holding.len()), "{}", holding.len());
}
