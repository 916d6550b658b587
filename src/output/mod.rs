//! Everything that answers the outside world: the KEDA gRPC service, the
//! HTTP endpoints, our own metrics, and TLS set-up.

pub mod api;
pub mod detail;
pub mod fleet;
pub mod http;
pub mod keda;
pub mod metrics;
pub mod openapi;
mod query;
pub mod recent;
pub mod tls;
pub mod view;
mod view_detail;
mod view_html;
