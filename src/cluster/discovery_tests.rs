//! Discovery against kube-rs' `tower-test` mock: the exact list and watch
//! requests, relist after `410 Gone`, and what reaches the store.

use super::*;
use crate::id::ServerKey;
use crate::time::SystemClock;
use http::{Request, Response};
use k8s_openapi::api::core::v1::Pod;
use kube::client::Body;
use kube::core::PartialObjectMeta;
use serde_json::{Value, json};
use tower_test::mock::{self, Handle};

type Mock = Handle<Request<Body>, Response<Body>>;

fn deployment(ns: &str, name: &str, server: &str, replicas: i32, ready: i32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"namespace": ns, "name": name, "resourceVersion": "7",
                     "labels": {"mcp-autoscaler/server": server}},
        "spec": {"replicas": replicas, "selector": {}, "template": {}},
        "status": {"readyReplicas": ready}
    })
}

fn list(rv: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "DeploymentList",
           "metadata": {"resourceVersion": rv}, "items": items})
}

fn respond(send: mock::SendResponse<Response<Body>>, status: u16, body: String) {
    let response = Response::builder()
        .status(status)
        .body(Body::from(body.into_bytes()))
        .expect("response");
    send.send_response(response);
}

/// Answers the next request after checking its method, path and query.
async fn expect(handle: &mut Mock, path_and_query: &str, status: u16, body: String) {
    let (request, send) = handle.next_request().await.expect("a request");
    assert_eq!(request.method(), http::Method::GET);
    let uri = request.uri().to_string();
    assert_eq!(uri, path_and_query, "request");
    respond(send, status, body);
}

fn watch_events(events: &[(&str, Value)]) -> String {
    events
        .iter()
        .map(|(kind, object)| json!({"type": kind, "object": object}).to_string() + "\n")
        .collect()
}

fn key(s: &str) -> ServerKey {
    let (ns, name) = s.split_once('/').expect("ns/name");
    ServerKey::parse(ns, name).expect("valid")
}

struct Harness {
    store: Arc<Store>,
    mock: Mock,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn start() -> Harness {
    let (service, mock) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let store = Arc::new(Store::with_sources(true, false));
    let clock = Arc::new(SystemClock);
    let mut config = KubernetesConfig::default();
    config.discovery.enabled = true;
    let shared = Shared::new(
        Arc::new(Inventory::new(100)),
        Arc::default(),
        Arc::clone(&store),
        Telemetry::default(),
        clock,
        &config,
    );
    // One of the two workload watches of the scope; the other counts as live.
    shared.set_live(1, true);
    let shutdown = CancellationToken::new();
    let api: Api<Deployment> = Api::all(client);
    let sink = WorkloadSink::<Deployment>::new(&shared, 0, None);
    let label = shared.label.clone();
    let task = tokio::spawn(watch::run(api, None, label, sink, shutdown.clone()));
    Harness {
        store,
        mock,
        shutdown,
        task,
    }
}

const LIST: &str = "/apis/apps/v1/deployments?&labelSelector=mcp-autoscaler%2Fserver&limit=500";

fn watch_from(rv: &str) -> String {
    format!(
        "/apis/apps/v1/deployments?&watch=true&timeoutSeconds=290&labelSelector=mcp-autoscaler%2Fserver&allowWatchBookmarks=true&resourceVersion={rv}"
    )
}

async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn lists_then_watches_by_label_and_relists_after_gone() {
    let mut h = start();
    let items = vec![
        deployment("tenant-a", "github", "github", 2, 1),
        deployment("tenant-b", "github", "github", 0, 0),
    ];
    expect(&mut h.mock, LIST, 200, list("10", items).to_string()).await;
    let mut changed = deployment("tenant-b", "github", "github", 3, 0);
    changed["metadata"]["resourceVersion"] = json!("11");
    let body = watch_events(&[("MODIFIED", changed)]);
    expect(&mut h.mock, &watch_from("10"), 200, body).await;
    settle().await;
    let replicas = |s: &str| {
        h.store
            .signals(&key(s))
            .replicas
            .map(|r| (r.desired, r.ready))
    };
    assert_eq!(replicas("tenant-a/github"), Some((2, 1)));
    assert_eq!(
        replicas("tenant-b/github"),
        Some((3, 0)),
        "the watch event landed"
    );
    assert!(h.store.feed().workloads_live);

    // The watch resumes from the last resource version; the API server says
    // it is too old, so the watcher lists afresh.
    let gone = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                      "code": 410, "reason": "Expired", "message": "too old"});
    expect(
        &mut h.mock,
        &watch_from("11"),
        200,
        watch_events(&[("ERROR", gone)]),
    )
    .await;
    let relisted = vec![deployment("tenant-a", "github", "github", 2, 2)];
    expect(&mut h.mock, LIST, 200, list("20", relisted).to_string()).await;
    settle().await;
    assert_eq!(replicas("tenant-a/github"), Some((2, 2)));
    assert_eq!(
        replicas("tenant-b/github"),
        None,
        "deleted while the watch was stale"
    );
    h.shutdown.cancel();
    h.task.await.expect("watch task");
}

#[tokio::test(start_paused = true)]
async fn a_failing_watch_is_not_live_and_relists_after_a_backoff() {
    let mut h = start();
    let items = vec![deployment("tenant-a", "web", "web", 0, 0)];
    expect(&mut h.mock, LIST, 200, list("10", items).to_string()).await;
    let failure = json!({"kind": "Status", "code": 500, "message": "etcd down"}).to_string();
    expect(&mut h.mock, &watch_from("10"), 500, failure).await;
    settle().await;
    assert!(!h.store.feed().workloads_live, "a lost watch is not live");
    let r = h.store.signals(&key("tenant-a/web")).replicas;
    assert_eq!(
        r.map(|r| r.desired),
        Some(0),
        "the last count is kept, flagged by the feed"
    );
    // The next request, after the backoff, is a fresh list, not a resumed
    // watch: only a complete list makes the counts live again.
    let before = tokio::time::Instant::now();
    let items = vec![deployment("tenant-a", "web", "web", 1, 0)];
    expect(&mut h.mock, LIST, 200, list("30", items).to_string()).await;
    assert!(before.elapsed() >= watch::FIRST_BACKOFF, "backed off first");
    let (request, _pending) = h.mock.next_request().await.expect("watch");
    assert_eq!(request.uri().to_string(), watch_from("30"));
    assert!(h.store.feed().workloads_live);
    let r = h.store.signals(&key("tenant-a/web")).replicas;
    assert_eq!(r.map(|r| r.desired), Some(1));
    h.shutdown.cancel();
    h.task.await.expect("watch task");
}

#[tokio::test]
async fn pods_are_watched_metadata_only_and_kept_per_server() {
    let (service, mut mock) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let mut config = KubernetesConfig::default();
    config.discovery.enabled = true;
    let pods = Arc::new(crate::cluster::pods::Pods::default());
    let shared = Shared::new(
        Arc::new(Inventory::new(100)),
        pods.clone(),
        Arc::new(Store::new(false)),
        Telemetry::default(),
        Arc::new(SystemClock),
        &config,
    );
    let shutdown = CancellationToken::new();
    let api: Api<PartialObjectMeta<Pod>> = Api::namespaced(client, "tenant-a");
    let ns = Namespace::parse("tenant-a").ok();
    let task = tokio::spawn(watch::run(
        api,
        ns,
        shared.label.clone(),
        PodSink(shared),
        shutdown.clone(),
    ));
    let (request, send) = mock.next_request().await.expect("list");
    assert_eq!(
        request.uri().to_string(),
        "/api/v1/namespaces/tenant-a/pods?&labelSelector=mcp-autoscaler%2Fserver&limit=500"
    );
    let accept = request
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        accept.contains("as=PartialObjectMetadataList"),
        "metadata only: {accept}"
    );
    let pod = |name: &str, cost: &str| {
        json!({
            "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
            "metadata": {"namespace": "tenant-a", "name": name,
                         "labels": {"mcp-autoscaler/server": "github"},
                         "annotations": {"controller.kubernetes.io/pod-deletion-cost": cost}}
        })
    };
    let list = json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList",
                      "metadata": {"resourceVersion": "3"},
                      "items": [pod("gh-1", "4"), pod("gh-2", "not-a-number")]});
    respond(send, 200, list.to_string());
    let (_watch, _pending) = mock.next_request().await.expect("watch");
    let kept = pods.of(&key("tenant-a/github"));
    assert_eq!(kept.len(), 2);
    assert_eq!((kept["gh-1"].cost, kept["gh-2"].cost), (Some(4), None));
    shutdown.cancel();
    task.await.expect("watch task");
}
