//! The decisions API (`/v1`), answering JSON:
//!
//! - `GET /v1/servers`: the fleet, filtered and paged ([`super::fleet`]).
//! - `GET /v1/servers/{namespace}/{server}`: one server's decision, with
//!   its reason, per-signal contributions and replicas; `?policy=NAME`
//!   decides under another policy.
//!
//! Errors are `{"error": "..."}` naming the problem: 400 for a bad id or
//! parameter, 401 without the bearer token (when `server.http_auth` is
//! set), 404 for an unknown path.

use super::fleet::FleetQuery;
use super::http::HttpState;
use crate::cluster::WorkloadRef;
use crate::engine::Decision;
use crate::id::ServerKey;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The `/v1` routes, behind the token check.
pub fn router(state: HttpState) -> Router<HttpState> {
    Router::new()
        .route("/v1/servers", get(fleet))
        .route("/v1/servers/{namespace}/{server}", get(server_decision))
        .route("/v1/servers/{server}", get(namespace_missing))
        .route_layer(middleware::from_fn_with_state(state, require_token))
}

/// Lets a request through when no token is configured or it carries
/// `Authorization: Bearer <token>`.
async fn require_token(State(s): State<HttpState>, request: Request, next: Next) -> Response {
    let Some(token) = &s.token else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|g| same_secret(g.as_bytes(), token.as_bytes())) {
        return next.run(request).await;
    }
    let body = Json(ErrorBody {
        error: "this endpoint needs Authorization: Bearer <token> (server.http_auth)".into(),
    });
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        body,
    )
        .into_response()
}

/// Compares two secrets in time that depends on their lengths only.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn fleet(
    State(s): State<HttpState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let query = match FleetQuery::parse(&params) {
        Ok(q) => q,
        Err(e) => return bad_request(e),
    };
    let asked = s.targets.by_server();
    Json(s.fleet(&asked).page(&query)).into_response()
}

#[derive(Deserialize)]
struct DecisionQuery {
    policy: Option<String>,
}

#[derive(Serialize)]
struct DecisionBody {
    namespace: String,
    server: String,
    policy: String,
    /// The workload's replicas, when discovery knows the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    replicas: Option<ReplicasBody>,
    #[serde(flatten)]
    decision: Decision,
}

#[derive(Serialize)]
struct ReplicasBody {
    /// `spec.replicas`, summed over the server's workloads.
    current: u32,
    /// `status.readyReplicas`, summed likewise.
    ready: u32,
    /// Whether the watch behind these counts is live.
    live: bool,
    /// The workloads hosting the server.
    workloads: Vec<WorkloadRef>,
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
}

fn bad_request(error: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(ErrorBody { error })).into_response()
}

fn not_found_with(error: String) -> Response {
    (StatusCode::NOT_FOUND, Json(ErrorBody { error })).into_response()
}

/// Any path no route serves.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    not_found_with(format!(
        "no such path {:?}; see /v1/servers, /v1/servers/{{namespace}}/{{server}}, /metrics, /healthz, /readyz",
        uri.path().chars().take(200).collect::<String>()
    ))
}

/// The pre-namespace path: a server is (namespace, name) now.
async fn namespace_missing(Path(server): Path<String>) -> Response {
    not_found_with(format!(
        "a server is identified by namespace and name: use /v1/servers/{{namespace}}/{}",
        server.chars().take(63).collect::<String>()
    ))
}

async fn server_decision(
    State(s): State<HttpState>,
    Path((namespace, server)): Path<(String, String)>,
    Query(q): Query<DecisionQuery>,
) -> Response {
    let server = match ServerKey::parse(&namespace, &server) {
        Ok(server) => server,
        Err(e) => return bad_request(e.to_string()),
    };
    let (name, policy) = match q.policy {
        Some(name) => match s.config.policies.get(&name) {
            Some(policy) => (name, policy.clone()),
            None => {
                let known: Vec<&str> = s.config.policies.keys().map(String::as_str).collect();
                return bad_request(format!(
                    "unknown policy {name:?}; configured: {}",
                    known.join(", ")
                ));
            }
        },
        // The policy its ScaledObject asks for (with its overrides), else
        // its workload's annotation, else the default: as in the fleet.
        // Only this server's ScaledObject is looked up: no map of them all.
        None => {
            let asked: std::collections::BTreeMap<_, _> = s
                .targets
                .for_server(&server)
                .map(|t| (server.clone(), t))
                .into_iter()
                .collect();
            s.fleet(&asked).policy_of(&server)
        }
    };
    let signals = s.store.signals(&server);
    let decision = crate::engine::decide(&signals, &policy, s.clock.now());
    let replicas = signals.replicas.map(|r| ReplicasBody {
        current: r.desired,
        ready: r.ready,
        live: signals.feed.workloads_live,
        workloads: s
            .inventory
            .hosted(&server)
            .into_iter()
            .map(|h| h.workload)
            .collect(),
    });
    Json(DecisionBody {
        namespace: server.namespace.to_string(),
        server: server.server.to_string(),
        policy: name,
        replicas,
        decision,
    })
    .into_response()
}
