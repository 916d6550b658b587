//! The declared rules equal what the code asks the API server for: every
//! request discovery, `manifests --discover` and deletion cost make is
//! recorded from kube-rs' `tower-test` mock and mapped to its RBAC triple.

use super::*;
use crate::cluster::discovery::{self, Shared};
use crate::cluster::pods::PodState;
use crate::cluster::scale_in::ScaleIn;
use crate::cluster::workload::{Workload, WorkloadKind, WorkloadRef};
use crate::cluster::{Inventory, list};
use crate::config::Config;
use crate::id::ServerKey;
use crate::output::metrics::Metrics;
use crate::source::Store;
use crate::time::SystemClock;
use http::{Request, Response};
use kube::client::Body;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

type Seen = Arc<Mutex<BTreeSet<(String, String, String)>>>;

/// A client whose every request is recorded and answered: lists empty,
/// patches with a pod; watches are held open (never answered).
fn recording_client(seen: Seen, stop: CancellationToken) -> kube::Client {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(async move {
        let mut open_watches = Vec::new();
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
            seen.lock().expect("lock").insert(triple);
            let body = if method == "GET" && !uri.contains("watch=true") {
                r#"{"apiVersion":"v1","kind":"List","metadata":{"resourceVersion":"1"},"items":[]}"#
            } else if method == "GET" {
                open_watches.push(send);
                continue;
            } else {
                r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}"#
            };
            let response = Response::builder().body(Body::from(body.as_bytes().to_vec()));
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
            Arc::new(Metrics::default()),
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
                Arc::new(Metrics::default()),
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
    assert_eq!(needed_for("GET", "/healthz"), None);
    assert!(
        required(&KubernetesConfig::default()).is_empty(),
        "nothing without discovery"
    );
}
