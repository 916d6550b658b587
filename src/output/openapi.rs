//! `GET /openapi.json`: the OpenAPI 3.1 document of the `/v1` API,
//! generated from the handlers and the types they answer with, so it cannot
//! drift from what they serve (a test checks bodies against it).

use super::api::{__path_fleet, __path_server_decision};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "mcp-autoscaler",
        description = "Scaling decisions for hosted MCP servers: the fleet and each server's decision with its reasons. A server is (namespace, name).",
    ),
    paths(fleet, server_decision),
    modifiers(&BearerAuth),
    tags((name = "fleet", description = "The fleet's decisions")),
)]
pub struct ApiDoc;

/// Declares the optional bearer token (`server.http_auth`).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The document as JSON.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"openapi: {e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_and_names_every_route_and_body() {
        let doc: serde_json::Value = serde_json::from_str(&document()).expect("json");
        assert!(
            doc["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1"))
        );
        for path in ["/v1/servers", "/v1/servers/{namespace}/{server}"] {
            assert!(doc["paths"][path]["get"].is_object(), "{path}");
        }
        for schema in [
            "Page",
            "Row",
            "ServerDetail",
            "Decision",
            "ErrorBody",
            "Reason",
        ] {
            assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
        }
    }
}
