//! A small in-memory stand-in for the API server's Lease endpoints, for
//! tests that need several replicas racing over one object (a scripted
//! mock cannot answer two clients). Writes check the resourceVersion like
//! the real server; each client can be cut off on its own.

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The server's state, shared by every client.
#[derive(Default)]
pub struct FakeApi {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    lease: Option<Value>,
    version: u64,
    /// (client, method, path) of every request that reached the server.
    requests: Vec<(String, String, String)>,
}

impl FakeApi {
    /// A client named `who` (for the request log); while `cut` is set its
    /// requests fail with 503 and never reach the state.
    pub fn client(self: &Arc<Self>, who: &str, cut: Arc<AtomicBool>) -> kube::Client {
        let api = self.clone();
        let who = who.to_owned();
        let service = tower::service_fn(move |request: Request<Body>| {
            let (api, who, cut) = (api.clone(), who.clone(), cut.clone());
            async move {
                if cut.load(Ordering::Acquire) {
                    return Ok::<_, Infallible>(status(StatusCode::SERVICE_UNAVAILABLE, "cut off"));
                }
                Ok(api.handle(&who, request).await)
            }
        });
        kube::Client::new(service, "default")
    }

    /// The Lease as stored.
    pub fn lease(&self) -> Option<Value> {
        self.lock().lease.clone()
    }

    /// Every request so far: (client, method, path).
    pub fn requests(&self) -> Vec<(String, String, String)> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn handle(&self, who: &str, request: Request<Body>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let body = body.collect_bytes().await.unwrap_or_default();
        let sent: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let path = parts.uri.path().to_owned();
        let mut s = self.lock();
        s.requests
            .push((who.to_owned(), parts.method.to_string(), path.clone()));
        if !path.contains("/leases") {
            return status(StatusCode::NOT_FOUND, "only leases here");
        }
        match parts.method {
            Method::GET => match &s.lease {
                Some(lease) => ok(StatusCode::OK, lease),
                None => status(StatusCode::NOT_FOUND, "leases not found"),
            },
            Method::POST if s.lease.is_some() => status(StatusCode::CONFLICT, "already exists"),
            Method::PUT if sent["metadata"]["resourceVersion"] != version(&s) => {
                status(StatusCode::CONFLICT, "the object has been modified")
            }
            Method::POST | Method::PUT => {
                s.version += 1;
                let mut stored = sent;
                stored["metadata"]["resourceVersion"] = json!(s.version.to_string());
                s.lease = Some(stored.clone());
                let code = if parts.method == Method::POST {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                ok(code, &stored)
            }
            _ => status(StatusCode::METHOD_NOT_ALLOWED, "not here"),
        }
    }
}

fn version(s: &State) -> Value {
    s.lease
        .as_ref()
        .map_or(Value::Null, |l| l["metadata"]["resourceVersion"].clone())
}

fn ok(code: StatusCode, object: &Value) -> Response<Body> {
    let mut object = object.clone();
    object["apiVersion"] = json!("coordination.k8s.io/v1");
    object["kind"] = json!("Lease");
    respond(code, &object)
}

fn status(code: StatusCode, message: &str) -> Response<Body> {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "status": "Failure",
        "message": message, "reason": reason(code), "code": code.as_u16(),
    });
    respond(code, &body)
}

/// The API server's `reason` for `code` (kube's `get_opt` reads it).
fn reason(code: StatusCode) -> &'static str {
    match code {
        StatusCode::NOT_FOUND => "NotFound",
        StatusCode::CONFLICT => "Conflict",
        StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailable",
        _ => "MethodNotAllowed",
    }
}

fn respond(code: StatusCode, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::from(body.to_string().into_bytes()));
    *response.status_mut() = code;
    response
}
