//! The decisions API (`/v1`), answering JSON:
//!
//! - `GET /v1/servers`: the fleet, filtered and paged ([`super::fleet`]).
//! - `GET /v1/servers/{namespace}/{server}`: one server's decision, with
//!   its reason, per-signal contributions, signal ages, keep-alive plan,
//!   replicas and recent changes ([`super::detail`]); `?policy=NAME`
//!   decides under another policy.
//! - `GET /openapi.json`: the OpenAPI 3.1 document ([`super::openapi`]).
//! - `GET /` and `GET /servers/{namespace}/{server}`: the live view
//!   ([`super::view`]).
//!
//! Errors are `{"error": "..."}` naming the problem: 400 for a bad id or
//! parameter, 401 without the bearer token (when `server.http_auth` is
//! set), 404 for an unknown server or path. The bearer token guards `/v1`
//! and the live view; health, readiness, metrics and the OpenAPI document
//! stay open.

use super::detail::{ServerDetail, detail};
use super::fleet::FleetQuery;
use super::fleet::Page;
use super::http::HttpState;
use crate::id::ServerKey;
use axum::Router;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde::Serialize;

/// The `/v1` routes, behind the token check.
pub fn router(state: HttpState) -> Router<HttpState> {
    Router::new()
        .route("/v1/servers", get(fleet))
        .route("/v1/servers/{namespace}/{server}", get(server_decision))
        .route("/v1/servers/{server}", get(namespace_missing))
        .route("/", get(super::view::fleet_page))
        .route(
            "/servers/{namespace}/{server}",
            get(super::view::server_page),
        )
        .route_layer(middleware::from_fn_with_state(state, require_token))
        .route("/openapi.json", get(openapi_json))
}

/// The OpenAPI document (open, like the health endpoints: it holds no data).
async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::openapi::document(),
    )
        .into_response()
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
        .and_then(bearer_token);
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

/// The token of an `Authorization: Bearer <token>` value (the scheme's
/// case does not matter, RFC 9110).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start_matches(' '))
}

/// Compares two secrets in time that depends on their lengths only.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Every known server, sorted by namespace then server, filtered and paged.
#[utoipa::path(
    get,
    path = "/v1/servers",
    tag = "fleet",
    params(
        ("namespace" = Option<String>, Query, description = "Only this namespace."),
        ("active" = Option<bool>, Query, description = "Only servers that should (true) or should not (false) run."),
        ("policy" = Option<String>, Query, description = "Only servers decided under this policy."),
        ("limit" = Option<usize>, Query, minimum = 1, maximum = 1000, description = "Rows per page (default 100)."),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the page before."),
    ),
    responses(
        (status = 200, description = "One page of the fleet.", body = Page),
        (status = 400, description = "A parameter is not valid.", body = ErrorBody),
        (status = 401, description = "The bearer token is missing or wrong.", body = ErrorBody),
    ),
    security((), ("bearer" = [])),
)]
pub(super) async fn fleet(State(s): State<HttpState>, RawQuery(raw): RawQuery) -> Response {
    let query = super::query::parse(raw.as_deref(), &FleetQuery::PARAMETERS)
        .and_then(|params| FleetQuery::parse(&params))
        .and_then(|q| q.checked(&s.config));
    let query = match query {
        Ok(q) => q,
        Err(e) => return bad_request(e),
    };
    match s.page(query).await {
        Some(page) => Json(page).into_response(),
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// What went wrong.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ErrorBody {
    /// The problem, naming the field or path and what is allowed.
    error: String,
}

fn bad_request(error: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(ErrorBody { error })).into_response()
}

fn not_found_with(error: String) -> Response {
    (StatusCode::NOT_FOUND, Json(ErrorBody { error })).into_response()
}

/// The policy a one-server request's query asks for (`?policy=NAME`, the
/// only parameter it takes), if any.
pub(super) fn asked_policy(
    s: &HttpState,
    raw: Option<&str>,
) -> Result<Option<(String, crate::engine::Policy)>, String> {
    let mut params = super::query::parse(raw, &["policy"])?;
    params
        .remove("policy")
        .map(|name| named_policy(s, name))
        .transpose()
}

/// The configured policy `name`, or an error naming the configured ones.
fn named_policy(s: &HttpState, name: String) -> Result<(String, crate::engine::Policy), String> {
    match s.config.policies.get(&name) {
        Some(policy) => Ok((name, policy.clone())),
        None => {
            let known: Vec<&str> = s.config.policies.keys().map(String::as_str).collect();
            Err(format!(
                "unknown policy {:?}; configured: {}",
                name.chars().take(64).collect::<String>(),
                known.join(", ")
            ))
        }
    }
}

/// Any path no route serves.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    not_found_with(format!(
        "no such path {:?}; see / (the live view), /v1/servers, /v1/servers/{{namespace}}/{{server}}, /openapi.json, /metrics, /healthz, /readyz",
        uri.path().chars().take(200).collect::<String>()
    ))
}

/// A path served, asked with a method it does not take (the `Allow`
/// header lists those it does).
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let body = Json(ErrorBody {
        error: format!(
            "{method} is not allowed on {:?}; the Allow header lists what is",
            uri.path().chars().take(200).collect::<String>()
        ),
    });
    (StatusCode::METHOD_NOT_ALLOWED, body).into_response()
}

/// The pre-namespace path: a server is (namespace, name) now.
async fn namespace_missing(Path(server): Path<String>) -> Response {
    not_found_with(format!(
        "a server is identified by namespace and name: use /v1/servers/{{namespace}}/{}",
        server.chars().take(63).collect::<String>()
    ))
}

/// One server's decision with everything behind it.
#[utoipa::path(
    get,
    path = "/v1/servers/{namespace}/{server}",
    tag = "fleet",
    params(
        ("namespace" = String, Path, description = "The server's namespace."),
        ("server" = String, Path, description = "The server's name."),
        ("policy" = Option<String>, Query, description = "Decide under this configured policy instead."),
    ),
    responses(
        (status = 200, description = "The server's decision.", body = ServerDetail),
        (status = 400, description = "A bad id or an unknown policy.", body = ErrorBody),
        (status = 404, description = "No such server is known.", body = ErrorBody),
        (status = 401, description = "The bearer token is missing or wrong.", body = ErrorBody),
    ),
    security((), ("bearer" = [])),
)]
pub(super) async fn server_decision(
    State(s): State<HttpState>,
    Path((namespace, server)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let server = match ServerKey::parse(&namespace, &server) {
        Ok(server) => server,
        Err(e) => return bad_request(e.to_string()),
    };
    // Parameters first (400), then whether the server exists (404).
    let asked_policy = match asked_policy(&s, raw.as_deref()) {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    if !s.knows(&server) {
        return not_found_with(format!(
            "no server {server}: no signals, no ScaledObject and no discovered workload name it"
        ));
    }
    let (name, policy) = asked_policy.unwrap_or_else(|| s.policy_of(&server));
    Json(detail(&s, &server, name, &policy)).into_response()
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_bearer_scheme_is_matched_in_any_case() {
        for value in ["Bearer t0k", "bearer t0k", "BEARER  t0k"] {
            assert_eq!(bearer_token(value), Some("t0k"), "{value}");
        }
        for value in ["Basic t0k", "Bearert0k", "t0k", ""] {
            assert_eq!(bearer_token(value), None, "{value}");
        }
    }
}
