//! The deletion-cost loop against kube-rs' `tower-test` mock: the exact
//! patches, their values, the per-pod interval and clean-up.

use super::*;
use crate::cluster::pods::PodState;
use crate::cluster::workload::{Workload, WorkloadKind, WorkloadRef};
use crate::time::ManualClock;
use http::{Request, Response};
use kube::client::Body;
use tower_test::mock::{self, Handle};

type Mock = Handle<Request<Body>, Response<Body>>;

fn key(s: &str) -> ServerKey {
    let (ns, n) = s.split_once('/').expect("ns/name");
    ServerKey::parse(ns, n).expect("valid")
}

struct Harness {
    scale_in: ScaleIn,
    clock: Arc<ManualClock>,
    mock: Mock,
}

fn harness() -> Harness {
    let (service, mock) = mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
    let mut config = Config::default();
    config.kubernetes.discovery.enabled = true;
    config.kubernetes.deletion_cost.enabled = true;
    let scale_in = ScaleIn::new(
        client,
        Arc::new(Inventory::new(100)),
        Arc::default(),
        Arc::new(Store::new(false)),
        Arc::new(config),
        clock.clone(),
        ActuatorTelemetry::default(),
        None,
    );
    Harness {
        scale_in,
        clock,
        mock,
    }
}

fn host(h: &Harness, server: &str, kind: WorkloadKind, replicas: u32, pods: &[&str]) {
    let s = key(server);
    h.scale_in.inventory.apply(Workload {
        server: s.clone(),
        workload: WorkloadRef {
            kind,
            name: s.server.to_string(),
        },
        desired: replicas,
        ready: replicas,
        policy: None,
    });
    for p in pods {
        let state = PodState {
            cost: None,
            stateful: kind == WorkloadKind::StatefulSet,
        };
        h.scale_in.pods.apply(s.clone(), (*p).into(), state);
    }
}

/// Answers `n` requests; returns (method, path, body) of each, in order.
async fn answer(mock: &mut Mock, n: usize) -> Vec<(String, String, String)> {
    let mut seen = Vec::new();
    for _ in 0..n {
        let (request, send) = mock.next_request().await.expect("request");
        let (parts, body) = request.into_parts();
        let body = body.collect_bytes().await.expect("body");
        assert_eq!(
            parts
                .headers
                .get("content-type")
                .map(|v| v.to_str().unwrap_or("")),
            Some("application/merge-patch+json")
        );
        let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}});
        let response = Response::builder()
            .body(Body::from(pod.to_string().into_bytes()))
            .expect("response");
        send.send_response(response);
        seen.push((
            parts.method.to_string(),
            parts.uri.to_string(),
            String::from_utf8_lossy(&body).into_owned(),
        ));
    }
    seen
}

fn cost(v: &str) -> String {
    format!(
        r#"{{"metadata":{{"annotations":{{"controller.kubernetes.io/pod-deletion-cost":{v}}}}}}}"#
    )
}

#[tokio::test]
async fn idle_pods_are_marked_to_go_first_then_unmarked_once_the_scale_in_is_over() {
    let mut h = harness();
    // An idle server (no load: desired 0) still running 3 replicas.
    host(
        &h,
        "tenant-a/github",
        WorkloadKind::Deployment,
        3,
        &["gh-1", "gh-2", "gh-3"],
    );
    let s = key("tenant-a/github");
    h.scale_in
        .pods
        .record_event_work(&s, "gh-1", true, h.clock.now());
    h.scale_in
        .pods
        .set_polled_work(HashMap::from([((s.clone(), "gh-2".to_owned()), 0.0)]));
    let tick = tokio::spawn(async move {
        let outcome = h.scale_in.tick().await;
        (h.scale_in, outcome)
    });
    let seen = answer(&mut h.mock, 3).await;
    let (scale_in, outcome) = tick.await.expect("tick");
    h.scale_in = scale_in;
    assert_eq!(outcome.set, 3);
    let path = |p: &str| format!("/api/v1/namespaces/tenant-a/pods/{p}?");
    assert_eq!(
        seen,
        vec![
            ("PATCH".into(), path("gh-1"), cost("\"1\"")),
            ("PATCH".into(), path("gh-2"), cost("\"0\"")),
            ("PATCH".into(), path("gh-3"), cost("\"1000000000\"")),
        ],
        "live work is the cost; a pod with unknown work goes last"
    );

    // Nothing changed: nothing is sent. A change inside the interval waits.
    assert_eq!(h.scale_in.tick().await, TickOutcome::default());
    h.scale_in
        .pods
        .record_event_work(&s, "gh-2", true, h.clock.now());
    assert_eq!(h.scale_in.tick().await.deferred, 1);

    // The HPA scaled in (to 0) and the interval passed: annotations that no
    // longer matter are removed.
    host(&h, "tenant-a/github", WorkloadKind::Deployment, 0, &[]);
    h.clock.advance(Duration::from_secs(61));
    let tick = tokio::spawn(async move { h.scale_in.tick().await });
    let seen = answer(&mut h.mock, 3).await;
    assert_eq!(tick.await.expect("tick").cleared, 3);
    assert!(
        seen.iter().all(|(_, _, body)| *body == cost("null")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn stateful_sets_and_servers_without_trustworthy_data_are_left_alone() {
    let mut h = harness();
    host(
        &h,
        "tenant-a/db",
        WorkloadKind::StatefulSet,
        3,
        &["db-0", "db-1", "db-2"],
    );
    assert_eq!(h.scale_in.tick().await, TickOutcome::default());
    // A poller that has never delivered: the decision is unavailable.
    h.scale_in.store = Arc::new(Store::new(true));
    host(
        &h,
        "tenant-a/web",
        WorkloadKind::Deployment,
        3,
        &["w-1", "w-2"],
    );
    assert_eq!(h.scale_in.tick().await, TickOutcome::default());
    drop(h.mock);
}

#[tokio::test]
async fn a_live_work_floor_lapses_with_its_ttl_and_goes_with_the_server() {
    let mut h = harness();
    // One replica: nothing to patch, only the floor is set.
    host(
        &h,
        "tenant-a/github",
        WorkloadKind::Deployment,
        1,
        &["gh-1"],
    );
    let s = key("tenant-a/github");
    let busy = |h: &Harness| h.scale_in.store.signals(&s).load.busy_pods;
    // The store holds servers it has heard of.
    assert!(
        h.scale_in
            .store
            .record_event(&s, crate::signal::EventKind::Request, h.clock.now())
    );
    h.scale_in
        .pods
        .record_event_work(&s, "gh-1", true, h.clock.now());
    assert_eq!(h.scale_in.tick().await, TickOutcome::default());
    assert_eq!(busy(&h), 1);
    // Its close is lost: after the policy's event_count_ttl the pod's work
    // is unknown and the floor goes.
    h.clock
        .advance(crate::engine::Policy::default().event_count_ttl);
    h.scale_in.tick().await;
    assert_eq!(busy(&h), 0, "a lost close holds no floor for ever");
    // Busy again, then the server leaves the inventory: no floor is kept.
    h.scale_in
        .pods
        .record_event_work(&s, "gh-1", true, h.clock.now());
    h.scale_in.tick().await;
    assert_eq!(busy(&h), 1);
    h.scale_in.inventory.delete(
        &s.namespace,
        &WorkloadRef {
            kind: WorkloadKind::Deployment,
            name: s.server.to_string(),
        },
    );
    h.scale_in.tick().await;
    assert_eq!(
        busy(&h),
        0,
        "a server gone from the inventory keeps no floor"
    );
}

#[tokio::test]
async fn a_tick_sends_at_most_its_bound_of_patches_and_the_rest_wait() {
    let mut h = harness();
    h.scale_in = h.scale_in.with_max_patches(2);
    host(
        &h,
        "tenant-a/github",
        WorkloadKind::Deployment,
        3,
        &["gh-1", "gh-2", "gh-3"],
    );
    let tick = tokio::spawn(async move {
        let outcome = h.scale_in.tick().await;
        (h.scale_in, outcome)
    });
    assert_eq!(answer(&mut h.mock, 2).await.len(), 2);
    let (scale_in, outcome) = tick.await.expect("tick");
    h.scale_in = scale_in;
    assert_eq!((outcome.set, outcome.deferred), (2, 1));
    let tick = tokio::spawn(async move { h.scale_in.tick().await });
    let seen = answer(&mut h.mock, 1).await;
    assert_eq!(tick.await.expect("tick").set, 1, "{seen:?}");
}

#[tokio::test(start_paused = true)]
async fn patches_with_no_answer_fail_and_the_tick_ends_within_its_length() {
    let mut h = harness();
    host(
        &h,
        "tenant-a/github",
        WorkloadKind::Deployment,
        2,
        &["gh-1", "gh-2"],
    );
    let began = tokio::time::Instant::now();
    let tick = tokio::spawn(async move { h.scale_in.tick().await });
    // Take both requests and never answer them: the first fails at its
    // timeout (4 s), the second is cut by the tick's end (5 s) and waits
    // for the next tick, not for an interval.
    let _first = h.mock.next_request().await.expect("request");
    let _second = h.mock.next_request().await.expect("request");
    let outcome = tick.await.expect("tick");
    assert_eq!((outcome.failed, outcome.deferred), (1, 1));
    assert_eq!(began.elapsed(), TICK, "cut at the tick's end");
}
