//! Apply mode against kube-rs' `tower-test` mock: the exact scale patches
//! and their values (0 included), the wake on an event, and everything it
//! must leave alone.

use super::*;
use crate::cluster::apply_plan::Skip;
use crate::cluster::elsewhere::OwnerKind;
use crate::cluster::workload::{Workload, WorkloadRef};
use crate::id::Namespace;
use crate::signal::EventKind;
use crate::time::{ManualClock, Timestamp};
use http::{Request, Response};
use kube::client::Body;
use tokio::time::Duration;
use tower_test::mock::{self, Handle};

type Mock = Handle<Request<Body>, Response<Body>>;

const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

fn key(s: &str) -> ServerKey {
    let (ns, n) = s.split_once('/').expect("ns/name");
    ServerKey::parse(ns, n).expect("valid")
}

struct Harness {
    actuator: Arc<Actuator>,
    mock: Mock,
    clock: Arc<ManualClock>,
}

fn harness_with(store: Store, dry_run: bool) -> Harness {
    let h = fresh_harness(store, dry_run);
    // Past the warm-up: the actuator has watched for an idle window.
    h.clock.advance(Duration::from_secs(301));
    h
}

/// An actuator that has just started (inside its warm-up).
fn fresh_harness(store: Store, dry_run: bool) -> Harness {
    let (service, mock) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let clock = Arc::new(ManualClock::new(T0));
    let mut config = Config::default();
    config.kubernetes.discovery.enabled = true;
    config.kubernetes.apply.enabled = true;
    config.kubernetes.apply.dry_run = dry_run;
    // Sessions size servers here (20 per replica), so that events alone
    // can ask for more replicas.
    if let Some(p) = config.policies.get_mut(crate::config::DEFAULT_POLICY) {
        p.targets.set(crate::signal::Metric::Sessions, Some(20.0));
    }
    let store = Arc::new(store);
    store.set_workloads_live(true);
    let leadership = Leadership::default();
    leadership.grant_for(Duration::from_secs(3600));
    let parts = ApplyParts {
        client,
        inventory: Arc::new(Inventory::new(100)),
        store,
        config: Arc::new(config),
        clock: clock.clone(),
        telemetry: ActuatorTelemetry::default(),
        pods: Some(Arc::default()),
    };
    let actuator = Actuator::new(parts, leadership, Arc::new(Elsewhere::new(0)));
    Harness {
        actuator: Arc::new(actuator),
        mock,
        clock,
    }
}

fn harness() -> Harness {
    harness_with(Store::new(false), false)
}

/// `server` hosted by one workload of `kind` running `replicas`.
fn host(h: &Harness, server: &str, kind: WorkloadKind, replicas: u32) {
    let s = key(server);
    let a = &h.actuator;
    a.parts.inventory.apply(Workload {
        server: s.clone(),
        workload: WorkloadRef {
            kind,
            name: s.server.to_string(),
        },
        desired: replicas,
        ready: replicas,
        policy: None,
    });
    a.parts
        .store
        .set_replicas(&s, Some((replicas, replicas)), h.clock.now());
}

/// Answers the next request; returns (method, path, body).
async fn answer(mock: &mut Mock) -> (String, String, String) {
    let (request, send) = mock.next_request().await.expect("a request");
    let (parts, body) = request.into_parts();
    let body = body.collect_bytes().await.expect("body");
    assert_eq!(
        parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/merge-patch+json")
    );
    let scale = serde_json::json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
                                   "metadata": {"name": "x"}, "spec": {"replicas": 0}});
    send.send_response(
        Response::builder()
            .body(Body::from(scale.to_string().into_bytes()))
            .expect("response"),
    );
    (
        parts.method.to_string(),
        parts.uri.path().to_owned(),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// Sends every queued request, answering each.
async fn send_all(h: &mut Harness) -> Vec<(String, String, String)> {
    let mut seen = Vec::new();
    while let Some(r) = h.actuator.queue.try_next() {
        let actuator = h.actuator.clone();
        let sending = tokio::spawn(async move { actuator.send(r).await });
        seen.push(answer(&mut h.mock).await);
        sending.await.expect("sent");
    }
    seen
}

async fn no_request(mock: &mut Mock) {
    let next = tokio::time::timeout(Duration::from_millis(100), mock.next_request()).await;
    assert!(next.is_err(), "no request may be sent");
}

#[tokio::test]
async fn an_idle_server_is_scaled_to_zero_and_a_busy_one_out_through_the_scale_subresource() {
    let mut h = harness();
    host(&h, "tenant-a/github", WorkloadKind::Deployment, 2);
    host(&h, "tenant-b/db", WorkloadKind::StatefulSet, 1);
    // 90 live sessions at 20 per replica on the StatefulSet.
    for _ in 0..90 {
        h.actuator.parts.store.record_event(
            &key("tenant-b/db"),
            EventKind::SessionOpen,
            h.clock.now(),
        );
    }
    assert_eq!(h.actuator.sweep(), 2);
    let mut seen = send_all(&mut h).await;
    seen.sort();
    assert_eq!(
        seen,
        [
            (
                "PATCH".into(),
                "/apis/apps/v1/namespaces/tenant-a/deployments/github/scale".into(),
                r#"{"spec":{"replicas":0}}"#.into()
            ),
            (
                "PATCH".into(),
                "/apis/apps/v1/namespaces/tenant-b/statefulsets/db/scale".into(),
                r#"{"spec":{"replicas":5}}"#.into()
            ),
        ]
    );
    let last = h
        .actuator
        .actions
        .of(&key("tenant-a/github"))
        .last
        .expect("recorded");
    assert_eq!(
        (last.from, last.to, last.reason, last.outcome),
        (2, 0, "idle", Outcome::Scaled)
    );
    // Sent once: the next sweep, before the watch shows the new count, sends nothing.
    assert_eq!(h.actuator.sweep(), 0);
}

#[tokio::test]
async fn an_event_wakes_a_server_at_zero_at_once_not_at_the_next_sweep() {
    let mut h = harness();
    host(&h, "tenant-a/github", WorkloadKind::Deployment, 0);
    let (wakes, rx) = mpsc::channel(16);
    let stop = CancellationToken::new();
    // `run` plans wakes and sends; no sweep runs here.
    let task = tokio::spawn(h.actuator.clone().run(rx, stop.clone()));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let s = key("tenant-a/github");
    h.actuator
        .parts
        .store
        .record_event(&s, EventKind::Request, h.clock.now());
    let sent_at = Instant::now();
    wakes.send(s.clone()).await.expect("wake");
    let (method, path, body) = answer(&mut h.mock).await;
    assert!(
        sent_at.elapsed() < Duration::from_secs(1),
        "at once, not at the sweep"
    );
    assert_eq!(method, "PATCH");
    assert_eq!(
        path,
        "/apis/apps/v1/namespaces/tenant-a/deployments/github/scale"
    );
    assert_eq!(body, r#"{"spec":{"replicas":1}}"#);
    stop.cancel();
    task.await.expect("stops");
}

#[tokio::test]
async fn a_workload_another_autoscaler_targets_is_left_alone_and_says_why() {
    let mut h = harness();
    host(&h, "tenant-a/github", WorkloadKind::Deployment, 3);
    let owner = (
        OwnerKind::ScaledObject,
        Namespace::parse("tenant-a").expect("ns"),
        "gh".to_owned(),
    );
    let target = (
        Namespace::parse("tenant-a").expect("ns"),
        WorkloadRef {
            kind: WorkloadKind::Deployment,
            name: "github".into(),
        },
    );
    h.actuator.elsewhere.claim(owner, target);
    assert_eq!(h.actuator.sweep(), 0);
    assert!(h.actuator.queue.is_empty());
    no_request(&mut h.mock).await;
    let skipped = h.actuator.actions.of(&key("tenant-a/github")).skipped;
    assert_eq!(skipped, Some(Skip::Claimed("ScaledObject/gh".into())));
}

#[tokio::test]
async fn nothing_is_scaled_on_missing_data_or_while_the_watches_are_not_live() {
    // A poller is configured and has never answered: every server's data
    // is unavailable, so a server running 3 replicas keeps them.
    let mut h = harness_with(Store::with_sources(true, false), false);
    host(&h, "tenant-a/github", WorkloadKind::Deployment, 3);
    assert_eq!(h.actuator.sweep(), 0);
    let skipped = h.actuator.actions.of(&key("tenant-a/github")).skipped;
    assert_eq!(skipped, Some(Skip::MissingData));

    let mut h2 = harness();
    host(&h2, "tenant-a/github", WorkloadKind::Deployment, 3);
    h2.actuator.parts.store.set_workloads_live(false);
    assert_eq!(h2.actuator.sweep(), 0);
    let skipped = h2.actuator.actions.of(&key("tenant-a/github")).skipped;
    assert_eq!(skipped, Some(Skip::NotLive));
    no_request(&mut h.mock).await;
    no_request(&mut h2.mock).await;
}

#[tokio::test]
async fn a_replica_that_does_not_lead_sends_nothing_and_dry_run_only_says_what_it_would_do() {
    let mut h = harness();
    host(&h, "tenant-a/github", WorkloadKind::Deployment, 2);
    h.actuator.leadership.grant_for(Duration::ZERO);
    assert_eq!(h.actuator.sweep(), 0);
    // Leadership lost between queueing and sending: the request is dropped.
    h.actuator.leadership.grant_for(Duration::from_secs(60));
    assert_eq!(h.actuator.sweep(), 1);
    h.actuator.leadership.grant_for(Duration::ZERO);
    let r = h.actuator.queue.try_next().expect("queued");
    h.actuator.send(r).await;
    no_request(&mut h.mock).await;

    let mut dry = harness_with(Store::new(false), true);
    host(&dry, "tenant-a/github", WorkloadKind::Deployment, 2);
    assert_eq!(dry.actuator.sweep(), 1);
    let r = dry.actuator.queue.try_next().expect("queued");
    // A request sent by mistake would wait for the mock's answer: time out.
    tokio::time::timeout(Duration::from_secs(1), dry.actuator.send(r))
        .await
        .expect("a dry run sends nothing");
    no_request(&mut dry.mock).await;
    let last = dry
        .actuator
        .actions
        .of(&key("tenant-a/github"))
        .last
        .expect("recorded");
    assert_eq!((last.to, last.outcome), (0, Outcome::DryRun));
}

#[tokio::test]
async fn a_replica_scales_nothing_down_before_it_has_watched_an_idle_window_but_wakes_at_once() {
    let h = fresh_harness(Store::new(false), false);
    host(
        &h,
        "tenant-a/busy-before-we-started",
        WorkloadKind::Deployment,
        2,
    );
    host(&h, "tenant-a/asleep", WorkloadKind::Deployment, 0);
    h.actuator
        .parts
        .store
        .record_event(&key("tenant-a/asleep"), EventKind::Request, h.clock.now());
    assert_eq!(h.actuator.sweep(), 1, "only the wake");
    let r = h.actuator.queue.try_next().expect("the wake");
    assert_eq!((r.workload.name.as_str(), r.to), ("asleep", 1));
    let held = h
        .actuator
        .actions
        .of(&key("tenant-a/busy-before-we-started"))
        .skipped;
    assert_eq!(held, Some(Skip::WarmingUp));
    h.clock.advance(Duration::from_secs(301));
    assert_eq!(h.actuator.sweep(), 1, "the scale-down, once warmed up");
}

#[tokio::test]
async fn after_the_event_stream_comes_up_or_back_nothing_is_scaled_down_for_an_idle_window() {
    // Events only: sessions opened while the stream was down were not seen.
    let h = harness_with(Store::with_sources(false, true), false);
    let store = &h.actuator.parts.store;
    host(&h, "tenant-a/sessions-unseen", WorkloadKind::Deployment, 2);
    let skipped = |h: &Harness| {
        h.actuator
            .actions
            .of(&key("tenant-a/sessions-unseen"))
            .skipped
    };
    assert_eq!(h.actuator.sweep(), 0, "not live yet: unknown");
    assert_eq!(skipped(&h), Some(Skip::MissingData));
    store.set_events_status(true, h.clock.now());
    assert_eq!(h.actuator.sweep(), 0, "live only now");
    assert_eq!(skipped(&h), Some(Skip::WarmingUp));
    h.clock.advance(Duration::from_secs(301));
    // Down and back: a new idle window.
    store.set_events_status(false, h.clock.now());
    store.set_events_status(true, h.clock.now());
    assert_eq!(h.actuator.sweep(), 0);
    assert_eq!(skipped(&h), Some(Skip::WarmingUp));
    h.clock.advance(Duration::from_secs(301));
    assert_eq!(h.actuator.sweep(), 1, "watched for an idle window: 2 -> 0");
}

/// `tenant-a/chat` on a Deployment of 3 pods with no deletion cost, and 30
/// live sessions (20 per replica: 2 replicas, one pod goes); its pods.
fn chat_to_scale_down(h: &Harness) -> (ServerKey, Arc<crate::cluster::pods::Pods>) {
    use crate::cluster::pods::PodState;
    let s = key("tenant-a/chat");
    host(h, "tenant-a/chat", WorkloadKind::Deployment, 3);
    let pods = h.actuator.parts.pods.clone().expect("pods");
    for p in ["chat-1", "chat-2", "chat-3"] {
        let state = PodState {
            cost: None,
            stateful: false,
        };
        pods.apply(s.clone(), p.into(), state);
    }
    for _ in 0..30 {
        h.actuator
            .parts
            .store
            .record_event(&s, EventKind::SessionOpen, h.clock.now());
    }
    (s, pods)
}

#[tokio::test]
async fn a_scale_down_that_keeps_pods_waits_for_their_deletion_costs() {
    let h = harness();
    let (s, pods) = chat_to_scale_down(&h);
    assert_eq!(h.actuator.sweep(), 0);
    let skipped = h.actuator.actions.of(&s).skipped;
    assert_eq!(skipped, Some(Skip::AwaitingDeletionCost));
    // Costs, but not the ones the cost loop plans (the pods' work is not
    // known: each must cost the most): still waiting.
    for p in ["chat-1", "chat-2", "chat-3"] {
        pods.set_cost(&s, p, Some(0));
    }
    assert_eq!(h.actuator.sweep(), 0, "outdated costs");
    let ttl = Duration::from_secs(600);
    let work = pods.work(&s, h.clock.now(), ttl);
    for (p, cost) in crate::cluster::deletion_cost::plan(&pods.of(&s), &work, true) {
        pods.set_cost(&s, &p, cost);
    }
    assert_eq!(h.actuator.sweep(), 1, "costs set: 3 -> 2 queued");
    let r = h.actuator.queue.try_next().expect("queued");
    assert_eq!(r.to, 2);
}

#[tokio::test]
async fn a_scale_down_waits_for_deletion_costs_only_so_long() {
    let h = harness();
    // Live sessions keep 2 replicas however long this takes.
    let _ = chat_to_scale_down(&h);
    assert_eq!(h.actuator.sweep(), 0, "waiting for the costs");
    // The cost loop never manages (RBAC, a webhook): the interval (1 m)
    // and two ticks later the scale-down goes ahead.
    h.clock.advance(Duration::from_secs(69));
    assert_eq!(h.actuator.sweep(), 0, "still within the wait");
    // The scale-down stops being wanted (the HPA got there), then comes
    // back: its wait starts afresh.
    host(&h, "tenant-a/chat", WorkloadKind::Deployment, 2);
    assert_eq!(h.actuator.sweep(), 0, "nothing to do");
    h.clock.advance(Duration::from_secs(2));
    host(&h, "tenant-a/chat", WorkloadKind::Deployment, 3);
    assert_eq!(h.actuator.sweep(), 0, "a new wait");
    let skipped = h.actuator.actions.of(&key("tenant-a/chat")).skipped;
    assert_eq!(skipped, Some(Skip::AwaitingDeletionCost));
    h.clock.advance(Duration::from_secs(71));
    assert_eq!(h.actuator.sweep(), 1, "3 -> 2 without the costs");
}

#[tokio::test]
async fn a_queued_request_the_server_no_longer_needs_is_dropped_not_sent() {
    let mut h = harness();
    host(&h, "tenant-a/github", WorkloadKind::Deployment, 2);
    assert_eq!(h.actuator.sweep(), 1, "an idle server: 2 -> 0 queued");
    let stale = h.actuator.queue.try_next().expect("queued");
    // Sessions open before the request is sent: 2 replicas are needed now.
    for _ in 0..30 {
        h.actuator.parts.store.record_event(
            &key("tenant-a/github"),
            EventKind::SessionOpen,
            h.clock.now(),
        );
    }
    tokio::time::timeout(Duration::from_secs(1), h.actuator.send(stale))
        .await
        .expect("dropped without a request");
    no_request(&mut h.mock).await;
    // And a sweep that finds nothing to do cancels what is still queued.
    h.actuator.queue.push(ScaleRequest {
        server: key("tenant-a/github"),
        workload: WorkloadRef {
            kind: WorkloadKind::Deployment,
            name: "github".into(),
        },
        from: 2,
        to: 0,
        reason: "idle",
        urgency: Urgency::Routine,
        queued_at: Instant::now(),
    });
    assert_eq!(h.actuator.sweep(), 0);
    assert!(h.actuator.queue.is_empty(), "cancelled");
}

#[tokio::test]
async fn a_policy_typo_or_a_server_the_store_does_not_hold_is_left_alone() {
    let h = harness();
    let typo = key("tenant-a/typo");
    h.actuator.parts.inventory.apply(Workload {
        server: typo.clone(),
        workload: WorkloadRef {
            kind: WorkloadKind::Deployment,
            name: "typo".into(),
        },
        desired: 2,
        ready: 2,
        policy: Some("interactve".into()),
    });
    h.actuator
        .parts
        .store
        .set_replicas(&typo, Some((2, 2)), h.clock.now());
    // Discovered, but the store refused it (full): no signals at all.
    let unheld = key("tenant-a/unheld");
    h.actuator.parts.inventory.apply(Workload {
        server: unheld.clone(),
        workload: WorkloadRef {
            kind: WorkloadKind::Deployment,
            name: "unheld".into(),
        },
        desired: 3,
        ready: 3,
        policy: None,
    });
    assert_eq!(h.actuator.sweep(), 0);
    assert!(h.actuator.queue.is_empty());
    let skip = |s: &ServerKey| h.actuator.actions.of(s).skipped;
    assert_eq!(skip(&typo), Some(Skip::UnknownPolicy("interactve".into())));
    assert_eq!(skip(&unheld), Some(Skip::MissingData));
}
