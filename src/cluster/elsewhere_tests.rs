use super::*;
use crate::cluster::watch;
use http::{Request, Response};
use kube::api::{ApiResource, GroupVersionKind};
use kube::client::Body;
use kube::{Api, Client};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tower_test::mock;

fn ns(s: &str) -> Namespace {
    Namespace::parse(s).expect("ns")
}

fn deployment(name: &str) -> WorkloadRef {
    WorkloadRef {
        kind: WorkloadKind::Deployment,
        name: name.into(),
    }
}

#[test]
fn a_claim_names_its_owner_until_released_or_resynced_away() {
    let e = Elsewhere::new(0);
    let owner = (
        OwnerKind::ScaledObject,
        ns("tenant-a"),
        "github-so".to_owned(),
    );
    e.claim(owner.clone(), (ns("tenant-a"), deployment("github")));
    assert_eq!(
        e.claimed_by(&ns("tenant-a"), &deployment("github"))
            .as_deref(),
        Some("ScaledObject/github-so")
    );
    assert_eq!(
        e.claimed_by(&ns("tenant-b"), &deployment("github")),
        None,
        "tenants differ"
    );
    // The ScaledObject now targets another Deployment.
    e.claim(owner.clone(), (ns("tenant-a"), deployment("search")));
    assert_eq!(e.claimed_by(&ns("tenant-a"), &deployment("github")), None);
    e.release(&owner);
    assert_eq!(e.claimed_by(&ns("tenant-a"), &deployment("search")), None);

    let hpa = (OwnerKind::Hpa, ns("tenant-a"), "h".to_owned());
    e.claim(hpa.clone(), (ns("tenant-a"), deployment("a")));
    e.resync(OwnerKind::ScaledObject, None, Vec::new());
    assert!(
        e.claimed_by(&ns("tenant-a"), &deployment("a")).is_some(),
        "other kind kept"
    );
    e.resync(OwnerKind::Hpa, Some(&ns("tenant-b")), Vec::new());
    assert!(
        e.claimed_by(&ns("tenant-a"), &deployment("a")).is_some(),
        "other scope kept"
    );
    e.resync(OwnerKind::Hpa, None, Vec::new());
    assert_eq!(e.claimed_by(&ns("tenant-a"), &deployment("a")), None);
}

#[test]
fn objects_name_their_targets_with_kedas_default_kind() {
    let so: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
        "metadata": {"name": "so", "namespace": "tenant-a"},
        "spec": {"scaleTargetRef": {"name": "github"}}
    }))
    .expect("so");
    let (owner, target) = claim_of(&so).expect("claims");
    assert_eq!(
        owner,
        (OwnerKind::ScaledObject, ns("tenant-a"), "so".to_owned())
    );
    assert_eq!(target, (ns("tenant-a"), deployment("github")));
    let hpa: HorizontalPodAutoscaler = serde_json::from_value(json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "h", "namespace": "tenant-b"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db"},
                 "maxReplicas": 3}
    }))
    .expect("hpa");
    let (_, (_, target)) = claim_of(&hpa).expect("claims");
    assert_eq!(target.kind, WorkloadKind::StatefulSet);
    let rollout: HorizontalPodAutoscaler = serde_json::from_value(json!({
        "metadata": {"name": "r", "namespace": "tenant-b"},
        "spec": {"scaleTargetRef": {"kind": "Rollout", "name": "x"}, "maxReplicas": 3}
    }))
    .expect("hpa");
    assert!(claim_of(&rollout).is_none(), "not a kind we scale");
}

#[tokio::test]
async fn without_keda_installed_scaled_objects_count_as_none_and_the_watch_is_live() {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let elsewhere = Arc::new(Elsewhere::new(1));
    let gvk = GroupVersionKind::gvk("keda.sh", "v1alpha1", "ScaledObject");
    let api: Api<DynamicObject> = Api::all_with(client, &ApiResource::from_gvk(&gvk));
    let sink = ClaimSink::<DynamicObject> {
        elsewhere: elsewhere.clone(),
        watch: 0,
        kind: std::marker::PhantomData,
    };
    let stop = CancellationToken::new();
    let task = tokio::spawn(watch::run(api, None, String::new(), sink, stop.clone()));
    let (request, send) = handle.next_request().await.expect("list");
    assert_eq!(
        request.uri().to_string(),
        "/apis/keda.sh/v1alpha1/scaledobjects?&limit=500",
        "every object: no label selector"
    );
    let not_found = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                           "code": 404, "reason": "NotFound", "message": "the server could not find the requested resource"});
    send.send_response(
        Response::builder()
            .status(404)
            .body(Body::from(not_found.to_string().into_bytes()))
            .expect("response"),
    );
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    assert!(
        elsewhere.is_live(),
        "no KEDA: nothing is claimed by a ScaledObject"
    );
    stop.cancel();
    task.await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn a_kind_that_disappears_after_a_listing_keeps_its_claims_and_is_not_live() {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let elsewhere = Arc::new(Elsewhere::new(1));
    let gvk = GroupVersionKind::gvk("keda.sh", "v1alpha1", "ScaledObject");
    let api: Api<DynamicObject> = Api::all_with(client, &ApiResource::from_gvk(&gvk));
    let sink = ClaimSink::<DynamicObject>::new(elsewhere.clone(), 0);
    let stop = CancellationToken::new();
    let task = tokio::spawn(watch::run(api, None, String::new(), sink, stop.clone()));
    let respond =
        |send: mock::SendResponse<Response<Body>>, status: u16, body: serde_json::Value| {
            send.send_response(
                Response::builder()
                    .status(status)
                    .body(Body::from(body.to_string().into_bytes()))
                    .expect("response"),
            );
        };
    let (_, send) = handle.next_request().await.expect("list");
    respond(
        send,
        200,
        json!({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObjectList",
        "metadata": {"resourceVersion": "5"},
        "items": [{"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
                   "metadata": {"name": "so", "namespace": "tenant-a", "resourceVersion": "5"},
                   "spec": {"scaleTargetRef": {"name": "github"}}}]}),
    );
    let (_, send) = handle.next_request().await.expect("watch");
    respond(
        send,
        500,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                              "code": 500, "reason": "InternalError", "message": "boom"}),
    );
    // After the backoff, the list answers 404: the CRD is being reinstalled.
    let (_, send) = handle.next_request().await.expect("relist");
    respond(
        send,
        404,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                              "code": 404, "reason": "NotFound", "message": "not found"}),
    );
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    assert!(!elsewhere.is_live(), "a kind seen before is not 'none' now");
    assert_eq!(
        elsewhere
            .claimed_by(&ns("tenant-a"), &deployment("github"))
            .as_deref(),
        Some("ScaledObject/so"),
        "the claim stays"
    );
    stop.cancel();
    task.await.expect("stops");
}
