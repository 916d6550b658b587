//! The Prometheus source against a real `prometheus` scraping a test exporter.

mod common;

use common::servers::{Exporter, Gauges, Prometheus, eventually};
use common::{WAIT, client, http_get, metric, next_within, so, start};
use mcp_autoscaler::config::Config;
use mcp_autoscaler::id::ServerKey;
use mcp_autoscaler::proto::GetMetricsRequest;
use mcp_autoscaler::signal::SignalKind;
use mcp_autoscaler::time::Clock;
use std::time::Duration;
use tonic::Code;

fn config(prom: &Prometheus) -> Config {
    common::sized_by_sessions(Config {
        prometheus: Some(common::poll_every_second(prom.url())),
        ..Config::default()
    })
}

fn id(s: &str) -> ServerKey {
    ServerKey::parse("tenants", s).expect("id")
}

fn fleet(n: usize) -> Vec<(String, Gauges)> {
    (0..n)
        .map(|i| {
            (
                format!("mcp-{i}"),
                Gauges {
                    connections: 1.0,
                    sessions: i as f64,
                    queue: 0.0,
                },
            )
        })
        .collect()
}

#[tokio::test]
async fn values_for_many_servers_arrive_with_six_queries_per_tick_and_hostile_labels_are_dropped() {
    let exporter = Exporter::start().await;
    let servers = fleet(200);
    let mut exposed: Vec<(&str, Gauges)> = servers.iter().map(|(s, g)| (s.as_str(), *g)).collect();
    exposed.push((
        "x'} or vector(1) #",
        Gauges {
            sessions: 99.0,
            ..Gauges::default()
        },
    ));
    exposed.push((
        "Upper.Case",
        Gauges {
            sessions: 99.0,
            ..Gauges::default()
        },
    ));
    exporter.set(&exposed);
    let prom = Prometheus::start(exporter.addr).await;
    let srv = start(config(&prom)).await;

    eventually(WAIT * 3, "all 200 servers' sessions in the store", || {
        (0..200).all(|i| {
            srv.store
                .signals(&id(&format!("mcp-{i}")))
                .get(SignalKind::Sessions)
                == Some(i as f64)
        })
    })
    .await;
    assert_eq!(
        srv.store.len(),
        200,
        "hostile label values never become servers"
    );
    assert_eq!(
        http_get(srv.http, "/readyz").await.0,
        200,
        "ready after the first complete poll"
    );

    // Measure queries per tick with Prometheus' own request counter.
    let polls_before = metric(srv.http, "mcp_autoscaler_polls_total").await;
    let queries_before = prom
        .own_counter("prometheus_http_requests_total{code=\"200\",handler=\"/api/v1/query\"}")
        .await;
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let polls = metric(srv.http, "mcp_autoscaler_polls_total").await - polls_before;
    let queries = prom
        .own_counter("prometheus_http_requests_total{code=\"200\",handler=\"/api/v1/query\"}")
        .await
        - queries_before;
    assert!(polls >= 2.0, "polled {polls} times");
    let per_tick = queries / polls;
    assert!(
        (5.0..=7.0).contains(&per_tick),
        "{queries} queries over {polls} polls for 200 servers"
    );

    // The value reaches KEDA: 45 sessions / 20 per replica = 3.
    exposed[7].1.sessions = 45.0;
    exporter.set(&exposed);
    let mut c = client(srv.grpc).await;
    let req = GetMetricsRequest {
        scaled_object_ref: Some(so("mcp-7", &[])),
        metric_name: "mcp-desired-replicas".into(),
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let v = c
            .get_metrics(req.clone())
            .await
            .expect("metrics")
            .into_inner()
            .metric_values[0]
            .metric_value_float;
        if v == 3.0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "desired stayed {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_prometheus_outage_holds_then_turns_unavailable_then_recovers_by_itself() {
    let exporter = Exporter::start().await;
    exporter.set(&[(
        "busy",
        Gauges {
            sessions: 45.0,
            connections: 3.0,
            queue: 0.0,
        },
    )]);
    let mut prom = Prometheus::start(exporter.addr).await;
    let srv = start(config(&prom)).await;
    let mut c = client(srv.grpc).await;
    let md = [("staleAfter", "2s"), ("unavailableAfter", "5s")];
    let req = GetMetricsRequest {
        scaled_object_ref: Some(so("busy", &md)),
        metric_name: "mcp-desired-replicas".into(),
    };
    let value = |r: Result<
        tonic::Response<mcp_autoscaler::proto::GetMetricsResponse>,
        tonic::Status,
    >| { r.map(|r| r.into_inner().metric_values[0].metric_value_float) };

    let deadline = tokio::time::Instant::now() + WAIT * 2;
    while value(c.get_metrics(req.clone()).await).ok() != Some(3.0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never saw fresh data"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    prom.stop();
    let deadline = tokio::time::Instant::now() + WAIT;
    while metric(srv.http, "mcp_autoscaler_poll_errors_total").await == 0.0 {
        assert!(tokio::time::Instant::now() < deadline, "no poll failed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Mid-way between staleAfter (2 s) and unavailableAfter (5 s) since the
    // last good poll.
    let busy = ServerKey::parse("tenants", "busy").expect("id");
    let good_at = srv.store.signals(&busy).feed.polled_at.expect("polled");
    let age = srv.clock.now().since(good_at);
    srv.clock
        .jump(Duration::from_millis(3_500).saturating_sub(age));
    assert_eq!(
        value(c.get_metrics(req.clone()).await).expect("held"),
        3.0,
        "stale: last good answer held"
    );
    assert!(
        c.is_active(so("busy", &md))
            .await
            .expect("active")
            .into_inner()
            .result
    );

    srv.clock.jump(Duration::from_secs(3)); // past unavailableAfter
    let err = c.get_metrics(req.clone()).await.expect_err("too old");
    assert_eq!(err.code(), Code::Unavailable);
    assert!(
        err.message().contains("Prometheus poll"),
        "{}",
        err.message()
    );
    let err = c
        .is_active(so("busy", &md))
        .await
        .expect_err("missing data never reads idle: KEDA's fallback applies");
    assert_eq!(err.code(), Code::Unavailable);

    prom.restart().await;
    let deadline = tokio::time::Instant::now() + WAIT * 2;
    while value(c.get_metrics(req.clone()).await).ok() != Some(3.0) {
        assert!(tokio::time::Instant::now() < deadline, "did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn polled_activity_wakes_a_stream_and_wakes_it_again_after_it_ended() {
    let exporter = Exporter::start().await;
    let sessions = |n: f64| Gauges {
        sessions: n,
        ..Gauges::default()
    };
    exporter.set(&[("ws", sessions(0.0)), ("calm", sessions(0.0))]);
    let prom = Prometheus::start(exporter.addr).await;
    let srv = start(config(&prom)).await;
    let mut c = client(srv.grpc).await;
    let md = [("idleWindow", "1s")];
    let mut ws = common::open_stream(&mut c, "ws", &md).await;
    let mut calm = common::open_stream(&mut c, "calm", &md).await;
    assert_eq!(next_within(&mut ws, WAIT).await, Some(false), "opens idle");
    assert_eq!(next_within(&mut calm, WAIT).await, Some(false));

    exporter.set(&[("ws", sessions(2.0)), ("calm", sessions(0.0))]);
    assert_eq!(
        next_within(&mut ws, WAIT * 2).await,
        Some(true),
        "a poll that sees sessions wakes the stream"
    );
    // The sessions end: the next poll tells the watcher (it was busy in the
    // poll before), the idle window lapses, and new sessions are a new wake.
    exporter.set(&[("ws", sessions(0.0)), ("calm", sessions(0.0))]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    exporter.set(&[("ws", sessions(3.0)), ("calm", sessions(0.0))]);
    assert_eq!(
        next_within(&mut ws, WAIT * 2).await,
        Some(true),
        "the second wake is pushed too"
    );
    assert_eq!(
        next_within(&mut calm, Duration::from_millis(200)).await,
        None,
        "an idle server's stream hears nothing"
    );
}

/// The latest value Prometheus holds for `server`'s sessions, if any.
async fn sessions_in(prom: &Prometheus, server: &str) -> Option<f64> {
    let addr = format!("127.0.0.1:{}", prom.port).parse().expect("addr");
    let query = format!("/api/v1/query?query=mcp_active_sessions%7Bserver%3D%22{server}%22%7D");
    let (status, body) = http_get(addr, &query).await;
    if status != 200 {
        return None;
    }
    let json: serde_json::Value = serde_json::from_str(body.split("\r\n\r\n").last()?).ok()?;
    json["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[tokio::test]
async fn a_scaler_that_starts_later_knows_what_prometheus_saw_before_it() {
    let exporter = Exporter::start().await;
    let sessions = |n: f64| Gauges {
        sessions: n,
        ..Gauges::default()
    };
    exporter.set(&[("earlier", sessions(4.0))]);
    let prom = Prometheus::start(exporter.addr).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while sessions_in(&prom, "earlier").await != Some(4.0) {
        assert!(tokio::time::Instant::now() < deadline, "never scraped");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Longer than a backfill step (5 s), on Prometheus' own clock.
    tokio::time::sleep(Duration::from_secs(6)).await;
    exporter.set(&[("earlier", sessions(0.0))]);
    while sessions_in(&prom, "earlier").await != Some(0.0) {
        assert!(
            tokio::time::Instant::now() < deadline + WAIT,
            "never scraped 0"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut config = config(&prom);
    if let Some(p) = &mut config.prometheus {
        p.backfill = Duration::from_secs(60);
    }
    let srv = start(config).await;
    let started = srv.clock.now();
    common::wait_ready(srv.http).await;
    let signals = srv.store.signals(&id("earlier"));
    let seen = signals
        .last_poll_activity
        .expect("the sessions from before the start are known");
    assert!(seen < started, "activity at {seen:?}, start at {started:?}");
    assert_eq!(signals.get(SignalKind::Sessions), Some(0.0), "and now none");
    // (A slot keeps its last write: the point of the last past poll may
    // already show the live poll's 0.)
    let sessions_then = (0..signals.history.len())
        .filter_map(|i| signals.history.load(i))
        .filter_map(|load| load.polled[SignalKind::Sessions.index()])
        .fold(0.0, f64::max);
    assert_eq!(
        sessions_then, 4.0,
        "the history holds the sessions as they were"
    );
}

/// `quiet`'s latency histogram and request counter, `served` requests in,
/// each taking 0.1 s.
fn histogram(served: u64) -> String {
    let labels = r#"namespace="tenants",server="quiet""#;
    let mut out = String::from("# TYPE mcp_tool_duration_seconds histogram\n");
    for le in ["0.05", "0.25", "+Inf"] {
        let n = if le == "0.05" { 0 } else { served };
        out.push_str(&format!(
            "mcp_tool_duration_seconds_bucket{{{labels},le=\"{le}\"}} {n}\n"
        ));
    }
    out.push_str(&format!(
        "# TYPE mcp_tool_requests_total counter\nmcp_tool_requests_total{{{labels}}} {served}\n"
    ));
    out
}

#[tokio::test]
async fn a_latency_quantile_over_no_requests_is_no_value_and_the_idle_server_stays_fresh() {
    let exporter = Exporter::start().await;
    exporter.set_raw(histogram(0));
    let prom = Prometheus::start(exporter.addr).await;
    // The default latency and rate queries, over 3 s instead of minutes.
    let mut config = config(&prom);
    if let Some(p) = &mut config.prometheus {
        p.queries.set(
            SignalKind::LatencyP95,
            "histogram_quantile(0.95, sum by ({by}, le) (rate(mcp_tool_duration_seconds_bucket[3s])))",
        );
        p.queries.set(
            SignalKind::RequestRate,
            "sum by ({by}) (rate(mcp_tool_requests_total[3s]))",
        );
    }
    let srv = start(config).await;
    let quiet = id("quiet");
    // Requests come: the quantile has a value.
    let deadline = tokio::time::Instant::now() + WAIT * 2;
    let mut served = 0;
    while srv
        .store
        .signals(&quiet)
        .get(SignalKind::LatencyP95)
        .is_none()
    {
        assert!(tokio::time::Instant::now() < deadline, "no latency seen");
        served += 10;
        exporter.set_raw(histogram(served));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // They stop: the quantile's series stays, its value NaN (0/0).
    eventually(WAIT * 2, "the latency turns to no value", || {
        srv.store
            .signals(&quiet)
            .get(SignalKind::LatencyP95)
            .is_none()
    })
    .await;
    let signals = srv.store.signals(&quiet);
    assert_eq!(signals.held.kinds, 0, "nothing held as missing data");
    let d = srv.store.decide(
        &quiet,
        &mcp_autoscaler::engine::Policy::default(),
        srv.clock.now(),
    );
    assert_eq!(d.data, mcp_autoscaler::engine::DataQuality::Fresh, "{d:?}");
}
