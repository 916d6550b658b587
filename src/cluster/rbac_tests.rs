//! The declared rules equal what the code asks the API server for: every
//! request discovery, `manifests --discover` and deletion cost make is
//! recorded from kube-rs' `tower-test` mock and mapped to its RBAC triple.

use super::*;
use crate::cluster::discovery::{self, Shared};
use crate::cluster::pods::PodState;
use crate::cluster::scale_in::ScaleIn;
use crate::cluster::telemetry::ActuatorTelemetry;
use crate::cluster::workload::{Workload, WorkloadKind, WorkloadRef};
use crate::cluster::{Inventory, list};
use crate::config::Config;
use crate::id::ServerKey;
use crate::output::metrics::Metrics;
use crate::source::{Store, Telemetry};
use crate::time::SystemClock;
use http::{Request, Response};
use kube::client::Body;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

type Seen = Arc<Mutex<BTreeSet<(String, String, String)>>>;

const LIST: &str =
    r#"{"apiVersion":"v1","kind":"List","metadata":{"resourceVersion":"1"},"items":[]}"#;
const OBJECT: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}"#;
const NOT_FOUND: &str =
    r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#;

/// A client whose every request is recorded and answered: lists empty,
/// the Lease absent until written, other writes with an object; watches
/// are held open (never answered).
fn recording_client(seen: Seen, stop: CancellationToken) -> kube::Client {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(async move {
        let mut open_watches = Vec::new();
        let mut lease: Option<String> = None;
        loop {
            let next = tokio::select! {
                () = stop.cancelled() => return,
                next = handle.next_request() => next,
            };
            let Some((request, send)) = next else { return };
            let method = request.method().to_string();
            let uri = request.uri().to_string();
            let triple = needed_for(&method, &uri)
                .unwrap_or_else(|| panic!("unknown request {method} {uri}"));
            seen.lock().expect("lock").insert(triple.clone());
            let (verb, _, resource) = triple;
            let (status, body) = match (verb.as_str(), resource.as_str()) {
                ("watch", _) => {
                    open_watches.push(send);
                    continue;
                }
                ("list", _) => (200, LIST.to_owned()),
                // The Lease: absent until created, then as written.
                ("get", "leases") => lease
                    .clone()
                    .map_or((404, NOT_FOUND.to_owned()), |l| (200, l)),
                ("create" | "update", "leases") => {
                    let (_, body) = request.into_parts();
                    let body = body.collect_bytes().await.expect("body");
                    let mut written: serde_json::Value =
                        serde_json::from_slice(&body).expect("json");
                    written["metadata"]["resourceVersion"] = "2".into();
                    lease = Some(written.to_string());
                    (200, written.to_string())
                }
                _ => (200, OBJECT.to_owned()),
            };
            let response = Response::builder()
                .status(status)
                .body(Body::from(body.into_bytes()));
            send.send_response(response.expect("response"));
        }
    });
    kube::Client::new(service, "default")
}

#[tokio::test(start_paused = true)]
async fn the_declared_rules_are_exactly_the_requests_each_mode_makes() {
    for deletion_cost in [false, true] {
        let mut config = Config::default();
        config.kubernetes.discovery.enabled = true;
        config.kubernetes.deletion_cost.enabled = deletion_cost;
        let seen: Seen = Arc::default();
        let stop = CancellationToken::new();
        let client = recording_client(seen.clone(), stop.clone());
        let store = Arc::new(Store::new(false));
        let inventory = Arc::new(Inventory::new(100));
        let pods = Arc::new(crate::cluster::pods::Pods::default());
        let shared = Shared::new(
            inventory.clone(),
            pods.clone(),
            store.clone(),
            Telemetry::default(),
            Arc::new(SystemClock),
            &config.kubernetes,
        );
        let watches = tokio::spawn(discovery::run(
            client.clone(),
            config.kubernetes.clone(),
            shared,
            stop.clone(),
        ));
        list::servers(&client, &config.kubernetes)
            .await
            .expect("list");
        if deletion_cost {
            let server = ServerKey::parse("tenant-a", "web").expect("valid");
            inventory.apply(Workload {
                server: server.clone(),
                workload: WorkloadRef {
                    kind: WorkloadKind::Deployment,
                    name: "web".into(),
                },
                desired: 2,
                ready: 2,
                policy: None,
            });
            pods.apply(
                server,
                "web-1".into(),
                PodState {
                    cost: None,
                    stateful: false,
                },
            );
            let mut scale_in = ScaleIn::new(
                client.clone(),
                inventory,
                pods,
                store,
                Arc::new(config.clone()),
                Arc::new(SystemClock),
                ActuatorTelemetry::default(),
                None,
            );
            assert_eq!(scale_in.tick().await.set, 1);
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        stop.cancel();
        watches.await.expect("watches");
        let made: Vec<_> = seen.lock().expect("lock").iter().cloned().collect();
        assert_eq!(
            made,
            triples(&required(&config.kubernetes)),
            "deletion cost {deletion_cost}"
        );
    }
}

#[test]
fn requests_map_to_their_rbac_triples() {
    let t = |v: &str, g: &str, r: &str| Some((v.to_owned(), g.to_owned(), r.to_owned()));
    assert_eq!(
        needed_for(
            "GET",
            "/apis/apps/v1/deployments?&labelSelector=x&limit=500"
        ),
        t("list", "apps", "deployments")
    );
    assert_eq!(
        needed_for("GET", "/api/v1/namespaces/a/pods?&watch=true"),
        t("watch", "", "pods")
    );
    assert_eq!(
        needed_for("PATCH", "/api/v1/namespaces/a/pods/p?"),
        t("patch", "", "pods")
    );
    assert_eq!(
        needed_for("PATCH", "/apis/apps/v1/namespaces/a/deployments/web/scale?"),
        t("patch", "apps", "deployments/scale")
    );
    assert_eq!(needed_for("GET", "/healthz"), None);
    assert!(
        required(&KubernetesConfig::default()).is_empty(),
        "nothing without discovery"
    );
}

#[tokio::test(start_paused = true)]
async fn apply_mode_asks_for_its_declared_rules_and_the_lease_in_its_own_namespace() {
    use crate::cluster::apply::ApplyParts;
    use crate::cluster::apply_run;
    let mut config = Config::default();
    config.kubernetes.discovery.enabled = true;
    config.kubernetes.apply.enabled = true;
    config.kubernetes.apply.lease.namespace = "mcp-system".into();
    let config = Arc::new(config);
    let seen: Seen = Arc::default();
    let stop = CancellationToken::new();
    let client = recording_client(seen.clone(), stop.clone());
    let store = Arc::new(Store::new(false));
    let inventory = Arc::new(Inventory::new(100));
    let metrics = Arc::new(Metrics::default());
    let shared = Shared::new(
        inventory.clone(),
        Arc::default(),
        store.clone(),
        Telemetry::new(metrics.clone()),
        Arc::new(SystemClock),
        &config.kubernetes,
    );
    let watches = tokio::spawn(discovery::run(
        client.clone(),
        config.kubernetes.clone(),
        shared,
        stop.clone(),
    ));
    let clock = Arc::new(crate::time::ManualClock::new(
        crate::time::Timestamp::from_millis(1_700_000_000_000),
    ));
    let parts = ApplyParts {
        client,
        inventory: inventory.clone(),
        store: store.clone(),
        config: config.clone(),
        clock: clock.clone(),
        telemetry: ActuatorTelemetry::new(metrics),
        pods: None,
    };
    let (_wakes, rx) = tokio::sync::mpsc::channel(1);
    let started = apply_run::start(parts, rx, &stop).expect("starts");
    let view = started.view.clone();
    // Once the (empty) lists are in: an idle server running 2 replicas.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let server = ServerKey::parse("tenant-a", "web").expect("valid");
    inventory.apply(Workload {
        server: server.clone(),
        workload: WorkloadRef {
            kind: WorkloadKind::Deployment,
            name: "web".into(),
        },
        desired: 2,
        ready: 2,
        policy: None,
    });
    store.set_replicas(&server, Some((2, 2)), crate::time::Clock::now(&*clock));
    // Past the warm-up (an idle window watched), then a sweep (the sweep
    // thread runs on real time; this test's clock is paused).
    clock.advance(std::time::Duration::from_secs(301));
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(started.actuator.sweep(), 1);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(view.leadership.is_leader());
    let last = view.actions.of(&server).last.expect("scaled");
    assert_eq!((last.from, last.to), (2, 0));
    stop.cancel();
    watches.await.expect("watches");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let made: BTreeSet<_> = seen.lock().expect("lock").iter().cloned().collect();
    let declared: BTreeSet<_> = triples(&required(&config.kubernetes))
        .into_iter()
        .chain(triples(&required_in_own_namespace(&config.kubernetes)))
        .collect();
    let t = |v: &str, r: &str| (v.to_owned(), "apps".to_owned(), r.to_owned());
    // Granted but not used here: get and update of the scale subresources
    // (the code patches), and the StatefulSet's patch (only a Deployment
    // was scaled).
    let unused: BTreeSet<_> = [
        t("get", "deployments/scale"),
        t("update", "deployments/scale"),
        t("get", "statefulsets/scale"),
        t("update", "statefulsets/scale"),
        t("patch", "statefulsets/scale"),
    ]
    .into();
    assert_eq!(
        made,
        declared.difference(&unused).cloned().collect(),
        "every request is declared, and every declared right but those is used"
    );
}
