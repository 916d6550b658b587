//! The KEDA ExternalScaler service over real TCP with a tonic client.

mod common;

use common::{WAIT, client, http_get, metric, now, so, start};
use mcp_autoscaler::config::Config;
use mcp_autoscaler::id::ServerKey;
use mcp_autoscaler::proto::{GetMetricsRequest, IsActiveResponse};
use mcp_autoscaler::signal::EventKind;
use std::time::Duration;
use tokio_stream::StreamExt;
use tonic::Code;

fn id(s: &str) -> ServerKey {
    ServerKey::parse("tenants", s).expect("id")
}

fn metrics_req(name: &str, md: &[(&str, &str)], metric: &str) -> GetMetricsRequest {
    GetMetricsRequest {
        scaled_object_ref: Some(so(name, md)),
        metric_name: metric.to_owned(),
    }
}

#[tokio::test]
#[allow(deprecated)]
async fn every_polled_rpc_answers_from_the_store_in_desired_mode() {
    let srv = start(common::sized_by_sessions(Config::default())).await;
    let mut c = client(srv.grpc).await;
    let spec = c
        .get_metric_spec(so("weather", &[]))
        .await
        .expect("spec")
        .into_inner();
    assert_eq!(spec.metric_specs.len(), 1);
    let s = &spec.metric_specs[0];
    assert_eq!(
        (s.metric_name.as_str(), s.target_size, s.target_size_float),
        ("mcp-desired-replicas", 1, 1.0)
    );

    let idle = c
        .get_metrics(metrics_req("weather", &[], &s.metric_name))
        .await
        .expect("metrics")
        .into_inner();
    assert_eq!(
        idle.metric_values[0].metric_name, s.metric_name,
        "names agree between spec and metrics"
    );
    assert_eq!(
        (
            idle.metric_values[0].metric_value,
            idle.metric_values[0].metric_value_float
        ),
        (0, 0.0)
    );
    assert!(
        !c.is_active(so("weather", &[]))
            .await
            .expect("active")
            .into_inner()
            .result
    );

    for _ in 0..45 {
        srv.store
            .record_event(&id("weather"), EventKind::SessionOpen, now());
    }
    let busy = c
        .get_metrics(metrics_req("weather", &[], &s.metric_name))
        .await
        .expect("metrics")
        .into_inner();
    assert_eq!(
        (
            busy.metric_values[0].metric_value,
            busy.metric_values[0].metric_value_float
        ),
        (3, 3.0),
        "45 sessions / 20 per replica"
    );
    assert!(
        c.is_active(so("weather", &[]))
            .await
            .expect("active")
            .into_inner()
            .result
    );
    srv.stop().await.expect("clean stop");
}

#[tokio::test]
async fn native_mode_serves_one_metric_per_signal_with_matching_names() {
    // Connections and sessions size too here, so that each has a metric.
    let mut config = common::sized_by_sessions(Config::default());
    if let Some(p) = config
        .policies
        .get_mut(mcp_autoscaler::config::DEFAULT_POLICY)
    {
        p.targets
            .set(mcp_autoscaler::signal::Metric::Connections, Some(50.0));
    }
    let srv = start(config).await;
    let mut c = client(srv.grpc).await;
    let md = [("metricMode", "native"), ("serverId", "tenant-1")];
    srv.store
        .record_event(&id("tenant-1"), EventKind::ConnectionOpen, now());
    let specs = c
        .get_metric_spec(so("so", &md))
        .await
        .expect("spec")
        .into_inner()
        .metric_specs;
    assert!(specs.len() >= 3);
    for spec in &specs {
        let v = c
            .get_metrics(metrics_req("so", &md, &spec.metric_name))
            .await
            .expect("metrics")
            .into_inner();
        assert_eq!(v.metric_values[0].metric_name, spec.metric_name);
    }
    let conn = c
        .get_metrics(metrics_req("so", &md, "mcp-connections"))
        .await
        .expect("metrics")
        .into_inner();
    assert_eq!(conn.metric_values[0].metric_value_float, 1.0);
    let err = c
        .get_metrics(metrics_req("so", &md, "mcp-nope"))
        .await
        .expect_err("unknown metric");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("mcp-connections"),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn bad_metadata_of_each_kind_is_invalid_argument_naming_the_key() {
    let srv = start(Config::default()).await;
    let mut c = client(srv.grpc).await;
    let huge = "x".repeat(40_000);
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        ("ok", vec![("colour", "red")], "\"colour\""),
        ("ok", vec![("serverId", "Not Valid")], "\"serverId\""),
        (
            "ok",
            vec![("serverId", "a\"} or vector(1)")],
            "\"serverId\"",
        ),
        ("Bad_Name", vec![], "ScaledObject name"),
        ("ok", vec![("policy", "ghost")], "\"policy\""),
        ("ok", vec![("maxReplicas", "many")], "\"maxReplicas\""),
        ("ok", vec![("idleWindow", "-5s")], "\"idleWindow\""),
        ("ok", vec![("targetSessions", "-1")], "\"targetSessions\""),
        ("ok", vec![("metricMode", "both")], "\"metricMode\""),
        ("ok", vec![("serverId", &huge)], "server.max_metadata_bytes"),
    ];
    for (name, md, needle) in &cases {
        let e1 = c.is_active(so(name, md)).await.expect_err("is_active");
        let e2 = c.get_metric_spec(so(name, md)).await.expect_err("spec");
        let e3 = c
            .get_metrics(metrics_req(name, md, "mcp-desired-replicas"))
            .await
            .expect_err("metrics");
        let e4 = c.stream_is_active(so(name, md)).await.expect_err("stream");
        for e in [e1, e2, e3, e4] {
            assert_eq!(e.code(), Code::InvalidArgument, "{md:?}");
            assert!(
                e.message().contains(needle),
                "{:?} should mention {needle}",
                e.message()
            );
        }
    }
    let missing = c
        .get_metrics(GetMetricsRequest {
            scaled_object_ref: None,
            metric_name: "x".into(),
        })
        .await
        .expect_err("no ref");
    assert_eq!(missing.code(), Code::InvalidArgument);
}

async fn next(stream: &mut tonic::Streaming<IsActiveResponse>) -> bool {
    common::next_within(stream, WAIT)
        .await
        .expect("message in time")
}

async fn nothing_within(stream: &mut tonic::Streaming<IsActiveResponse>, d: Duration) -> bool {
    common::next_within(stream, d).await.is_none()
}

#[tokio::test]
async fn a_stream_sends_the_state_then_only_inactive_to_active_transitions() {
    let srv = start(Config::default()).await;
    let mut c = client(srv.grpc).await;
    let md = [("serverId", "wake-me"), ("idleWindow", "1s")];
    let mut first = common::open_stream(&mut c, "a", &md).await;
    let mut second = common::open_stream(&mut c, "b", &md).await;
    assert!(!next(&mut first).await, "opens with the current state");
    assert!(!next(&mut second).await);

    srv.store
        .record_event(&id("wake-me"), EventKind::Request, now());
    assert!(
        next(&mut first).await,
        "wake reaches every stream of the server"
    );
    assert!(next(&mut second).await);

    srv.store
        .record_event(&id("wake-me"), EventKind::Request, now());
    assert!(
        nothing_within(&mut first, Duration::from_millis(300)).await,
        "no duplicate true while active"
    );

    // Idle window (1 s) lapses; the next request is a new transition.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert!(
        nothing_within(&mut first, Duration::from_millis(50)).await,
        "false is never pushed"
    );
    srv.store
        .record_event(&id("wake-me"), EventKind::Request, now());
    assert!(
        next(&mut first).await,
        "second wake after the window lapsed"
    );
    assert!(next(&mut second).await);
}

#[tokio::test]
async fn a_stream_for_an_active_server_opens_with_true_and_other_servers_stay_quiet() {
    let srv = start(Config::default()).await;
    let mut c = client(srv.grpc).await;
    srv.store
        .record_event(&id("busy"), EventKind::SessionOpen, now());
    let mut busy = common::open_stream(&mut c, "busy", &[]).await;
    let mut quiet = common::open_stream(&mut c, "quiet", &[]).await;
    assert!(next(&mut busy).await);
    assert!(!next(&mut quiet).await);
    srv.store
        .record_event(&id("busy"), EventKind::Request, now());
    assert!(nothing_within(&mut quiet, Duration::from_millis(200)).await);
}

#[tokio::test]
async fn a_client_that_goes_away_frees_its_stream() {
    let srv = start(Config::default()).await;
    let mut c = client(srv.grpc).await;
    let mut s = common::open_stream(&mut c, "gone", &[]).await;
    next(&mut s).await;
    assert_eq!(metric(srv.http, "mcp_autoscaler_streams_open").await, 1.0);
    drop(s);
    drop(c);
    let deadline = tokio::time::Instant::now() + WAIT;
    while metric(srv.http, "mcp_autoscaler_streams_open").await != 0.0 {
        assert!(tokio::time::Instant::now() < deadline, "stream not freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn streams_beyond_max_streams_are_refused_until_one_closes_and_unary_calls_still_work() {
    let mut config = Config::default();
    config.server.max_streams = 3;
    let srv = start(config).await;
    let mut c = client(srv.grpc).await;
    let mut open = Vec::new();
    for name in ["s1", "s2", "s3"] {
        let mut s = common::open_stream(&mut c, name, &[]).await;
        assert!(!next(&mut s).await, "{name} opens with the current state");
        open.push(s);
    }

    let refused = c
        .stream_is_active(so("s4", &[]))
        .await
        .expect_err("a fourth stream is refused");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused.message().contains("server.max_streams") && refused.message().contains('3'),
        "{:?} should name the limit and its key",
        refused.message()
    );
    let refused_spec = c
        .stream_metric_spec(so("s4", &[]))
        .await
        .expect_err("StreamMetricSpec shares the limit");
    assert_eq!(refused_spec.code(), Code::ResourceExhausted);
    let refusals =
        r#"mcp_autoscaler_grpc_calls_total{method="StreamIsActive",code="ResourceExhausted"}"#;
    assert_eq!(metric(srv.http, refusals).await, 1.0);

    c.is_active(so("s4", &[]))
        .await
        .expect("IsActive is not limited");
    c.get_metric_spec(so("s4", &[]))
        .await
        .expect("GetMetricSpec is not limited");
    c.get_metrics(metrics_req("s4", &[], "mcp-desired-replicas"))
        .await
        .expect("GetMetrics is not limited");

    drop(open.pop());
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut reopened = loop {
        match c.stream_is_active(so("s4", &[])).await {
            Ok(s) => break s.into_inner(),
            Err(e) if e.code() == Code::ResourceExhausted => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the closed stream's slot was never freed"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("unexpected refusal: {e:?}"),
        }
    };
    assert!(!next(&mut reopened).await, "the new stream works");
    for s in &mut open {
        assert!(
            nothing_within(s, Duration::from_millis(50)).await,
            "the other streams stay open"
        );
    }
    srv.stop().await.expect("clean stop");
}

#[tokio::test]
async fn shutdown_closes_open_streams_cleanly() {
    let srv = start(Config::default()).await;
    let mut c = client(srv.grpc).await;
    let mut s = common::open_stream(&mut c, "x", &[]).await;
    next(&mut s).await;
    let mut specs = c
        .stream_metric_spec(so("x", &[]))
        .await
        .expect("spec stream")
        .into_inner();
    let first = tokio::time::timeout(WAIT, specs.next())
        .await
        .expect("in time")
        .expect("open")
        .expect("ok");
    assert_eq!(first.metric_specs[0].metric_name, "mcp-desired-replicas");
    srv.shutdown.cancel();
    let end = tokio::time::timeout(WAIT, s.next())
        .await
        .expect("stream ends in time");
    assert!(end.is_none(), "stream ends with OK, not an error: {end:?}");
    let end = tokio::time::timeout(WAIT, specs.next())
        .await
        .expect("spec stream ends in time");
    assert!(end.is_none());
    tokio::time::timeout(WAIT, srv.task)
        .await
        .expect("stops")
        .expect("task")
        .expect("clean");
}

#[tokio::test]
async fn health_and_reflection_answer_for_the_scaler_service() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let srv = start(Config::default()).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", srv.grpc))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut health = HealthClient::new(channel.clone());
    for service in ["", "externalscaler.ExternalScaler"] {
        let r = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("check")
            .into_inner();
        assert_eq!(r.status(), ServingStatus::Serving, "{service:?}");
    }
    let mut reflection = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut resp = reflection
        .server_reflection_info(tokio_stream::iter([req]))
        .await
        .expect("reflect")
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) = resp
        .next()
        .await
        .expect("answer")
        .expect("ok")
        .message_response
    else {
        panic!("expected a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"externalscaler.ExternalScaler".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );
}

#[tokio::test]
async fn the_http_side_serves_health_metrics_and_decisions() {
    let srv = start(Config::default()).await;
    srv.store
        .record_event(&id("api-demo"), EventKind::SessionOpen, now());
    assert_eq!(http_get(srv.http, "/healthz").await.0, 200);
    assert_eq!(http_get(srv.http, "/readyz").await.0, 200);
    let (status, body) = http_get(srv.http, "/v1/servers/tenants/api-demo").await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["desired"], 1);
    assert_eq!(json["active"], true);
    assert_eq!(json["reason"], "keep_warm");
    assert!(
        json["contributions"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    let (status, body) = http_get(srv.http, "/v1/servers/tenants/Bad%22Id").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("allowed:"), "{body}");
    assert_eq!(
        http_get(srv.http, "/v1/servers/tenants/x?policy=ghost")
            .await
            .0,
        400
    );
    let mut c = client(srv.grpc).await;
    c.is_active(so("api-demo", &[])).await.expect("call");
    let (_, metrics) = http_get(srv.http, "/metrics").await;
    assert!(
        metrics.contains("mcp_autoscaler_grpc_calls_total{method=\"IsActive\",code=\"Ok\"} 1"),
        "{metrics}"
    );
}

#[test]
fn the_example_config_in_examples_is_valid() {
    let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/config.yaml"));
    let c = Config::load(Some(path), &Default::default()).expect("examples/config.yaml is valid");
    assert!(c.policies.contains_key("interactive"));
}
