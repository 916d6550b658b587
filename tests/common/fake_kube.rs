//! A fake Kubernetes API server on loopback HTTP, enough for discovery and
//! apply mode: it lists (in pages) and watches Deployments, serves empty
//! StatefulSets and pods, HPAs as configured, no KEDA (ScaledObjects are
//! 404), one Lease, and records every scale request with when it arrived.
//! A scale changes the Deployment and is sent to open watches, as the real
//! server does. Shared by the apply-mode tests and the fleet bench.

#![allow(dead_code)]

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;
use tokio::sync::{Notify, broadcast};

/// The label discovery selects by.
pub const LABEL: &str = "mcp-autoscaler/server";

/// One scale request as the server received it.
#[derive(Debug, Clone)]
pub struct ScaleCall {
    /// `deployments` or `statefulsets`.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Workload name.
    pub name: String,
    /// Replicas asked for.
    pub replicas: u64,
    /// When it arrived.
    pub at: Instant,
}

#[derive(Default)]
struct Objects {
    /// (namespace, name) → replicas, in list order.
    deployments: Vec<(String, String, u64)>,
    index: HashMap<(String, String), usize>,
    hpas: Vec<(String, String, String)>,
    lease: Option<Value>,
    version: u64,
}

/// The fake's shared state.
pub struct FakeKube {
    objects: Mutex<Objects>,
    calls: Mutex<Vec<ScaleCall>>,
    called: Notify,
    events: broadcast::Sender<String>,
}

/// A running fake API server.
pub struct Running {
    /// Its address.
    pub addr: SocketAddr,
    /// Its state.
    pub kube: Arc<FakeKube>,
}

impl FakeKube {
    /// A server holding `deployments` as (namespace, name, replicas), each
    /// labelled as an MCP server named like itself, and HPAs as
    /// (namespace, hpa name, target Deployment).
    pub fn new(
        deployments: Vec<(String, String, u64)>,
        hpas: Vec<(String, String, String)>,
    ) -> Arc<Self> {
        let index = deployments
            .iter()
            .enumerate()
            .map(|(i, (ns, n, _))| ((ns.clone(), n.clone()), i))
            .collect();
        Arc::new(Self {
            objects: Mutex::new(Objects {
                deployments,
                index,
                hpas,
                lease: None,
                version: 100,
            }),
            calls: Mutex::default(),
            called: Notify::new(),
            events: broadcast::channel(65_536).0,
        })
    }

    /// Serves on a free loopback port.
    pub async fn serve(self: Arc<Self>) -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new()
            .route("/apis/apps/v1/deployments", get(deployments))
            .route("/apis/apps/v1/statefulsets", get(empty))
            .route("/api/v1/pods", get(empty))
            .route("/apis/autoscaling/v2/horizontalpodautoscalers", get(hpas))
            .route("/apis/keda.sh/v1alpha1/scaledobjects", get(no_keda))
            .route(
                "/apis/apps/v1/namespaces/{ns}/{kind}/{name}/scale",
                axum::routing::patch(scale),
            )
            .route(
                "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases",
                axum::routing::post(put_lease),
            )
            .route(
                "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}",
                get(get_lease).put(put_lease),
            )
            .with_state(self.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Running { addr, kube: self }
    }

    /// A kube client for the server at `addr`.
    pub fn client(addr: SocketAddr) -> kube::Client {
        let url = format!("http://{addr}").parse().expect("url");
        kube::Client::try_from(kube::Config::new(url)).expect("client")
    }

    /// Every scale request so far.
    pub fn calls(&self) -> Vec<ScaleCall> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until at least `n` scale requests arrived (or `limit` passed).
    pub async fn wait_for_calls(&self, n: usize, limit: std::time::Duration) -> Vec<ScaleCall> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.called.notified();
            let calls = self.calls();
            if calls.len() >= n || tokio::time::Instant::now() >= deadline {
                return calls;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    /// The Lease as stored.
    pub fn lease(&self) -> Option<Value> {
        self.lock().lease.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Objects> {
        self.objects.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn deployment(ns: &str, name: &str, replicas: u64, version: u64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "resourceVersion": version.to_string(),
                     "labels": {LABEL: name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}}},
        "status": {"replicas": replicas, "readyReplicas": replicas}
    })
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn list(kind: &str, items: Vec<Value>, version: u64, next: Option<String>) -> Response {
    let mut metadata = json!({"resourceVersion": version.to_string()});
    if let Some(token) = next {
        metadata["continue"] = json!(token);
    }
    json_response(
        StatusCode::OK,
        &json!({"apiVersion": "v1", "kind": kind, "metadata": metadata, "items": items}),
    )
}

/// A watch that stays open and carries `events` (JSON lines).
fn watch_stream(events: Option<broadcast::Receiver<String>>) -> Response {
    let stream = futures::stream::unfold(events, |rx| async move {
        let mut rx = rx?;
        loop {
            match rx.recv().await {
                Ok(line) => {
                    return Some((
                        Ok::<_, std::convert::Infallible>(Bytes::from(line)),
                        Some(rx),
                    ));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let pending = futures::stream::pending::<Result<Bytes, std::convert::Infallible>>();
    let body = Body::from_stream(futures::StreamExt::chain(stream, pending));
    Response::builder()
        .header("content-type", "application/json")
        .body(body)
        .unwrap_or_default()
}

fn watching(q: &HashMap<String, String>) -> bool {
    q.get("watch").is_some_and(|w| w == "true")
}

async fn deployments(
    State(k): State<Arc<FakeKube>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if watching(&q) {
        return watch_stream(Some(k.events.subscribe()));
    }
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(usize::MAX);
    let from: usize = q.get("continue").and_then(|c| c.parse().ok()).unwrap_or(0);
    let o = k.lock();
    let end = from.saturating_add(limit).min(o.deployments.len());
    let items = o.deployments[from.min(end)..end]
        .iter()
        .map(|(ns, n, r)| deployment(ns, n, *r, o.version))
        .collect();
    let next = (end < o.deployments.len()).then(|| end.to_string());
    list("DeploymentList", items, o.version, next)
}

async fn empty(Query(q): Query<HashMap<String, String>>) -> Response {
    if watching(&q) {
        return watch_stream(None);
    }
    list("List", Vec::new(), 1, None)
}

async fn hpas(
    State(k): State<Arc<FakeKube>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if watching(&q) {
        return watch_stream(None);
    }
    let items = k
        .lock()
        .hpas
        .iter()
        .map(|(ns, name, target)| {
            json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                   "metadata": {"name": name, "namespace": ns, "resourceVersion": "1"},
                   "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                            "maxReplicas": 10}})
        })
        .collect();
    list("HorizontalPodAutoscalerList", items, 1, None)
}

fn status(code: StatusCode, reason: &str) -> Response {
    json_response(
        code,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "reason": reason, "code": code.as_u16(), "message": reason}),
    )
}

async fn no_keda() -> Response {
    status(StatusCode::NOT_FOUND, "NotFound")
}

async fn scale(
    State(k): State<Arc<FakeKube>>,
    Path((ns, kind, name)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let patch: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let replicas = patch["spec"]["replicas"].as_u64().unwrap_or(u64::MAX);
    k.calls
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(ScaleCall {
            kind: kind.clone(),
            namespace: ns.clone(),
            name: name.clone(),
            replicas,
            at,
        });
    k.called.notify_waiters();
    let event = {
        let mut o = k.lock();
        o.version += 1;
        let version = o.version;
        let found = o.index.get(&(ns.clone(), name.clone())).copied();
        found.map(|i| {
            o.deployments[i].2 = replicas;
            json!({"type": "MODIFIED", "object": deployment(&ns, &name, replicas, version)})
                .to_string()
                + "\n"
        })
    };
    if let Some(line) = event {
        let _ = k.events.send(line);
    }
    json_response(
        StatusCode::OK,
        &json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
                "metadata": {"name": name, "namespace": ns}, "spec": {"replicas": replicas}}),
    )
}

async fn get_lease(State(k): State<Arc<FakeKube>>) -> Response {
    match k.lock().lease.clone() {
        Some(lease) => json_response(StatusCode::OK, &lease),
        None => status(StatusCode::NOT_FOUND, "NotFound"),
    }
}

async fn put_lease(State(k): State<Arc<FakeKube>>, body: Bytes) -> Response {
    let mut sent: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut o = k.lock();
    let stored_version = o
        .lease
        .as_ref()
        .map(|l| l["metadata"]["resourceVersion"].clone());
    if let Some(v) = stored_version
        && sent["metadata"]["resourceVersion"] != v
    {
        return status(StatusCode::CONFLICT, "Conflict");
    }
    o.version += 1;
    sent["metadata"]["resourceVersion"] = json!(o.version.to_string());
    sent["apiVersion"] = json!("coordination.k8s.io/v1");
    sent["kind"] = json!("Lease");
    o.lease = Some(sent.clone());
    json_response(StatusCode::OK, &sent)
}
