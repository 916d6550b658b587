//! The `server` section: listen addresses, TLS and the limits on what
//! clients may ask of the scaler.

use super::{ConfigError, HttpAuth};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Smallest `server.max_metadata_bytes`.
pub const MIN_METADATA_BYTES: usize = 256;

/// Largest `server.max_metadata_bytes` (1 MiB): KEDA's metadata is a few
/// short strings, and a gRPC message is at most 4 MiB.
pub const MAX_METADATA_BYTES: usize = 1 << 20;

/// Smallest `server.max_streams_per_connection`: RFC 9113 (6.5.2) asks for
/// no fewer than 100 concurrent streams.
pub const MIN_STREAMS_PER_CONNECTION: usize = 100;

/// Largest `server.max_streams_per_connection` and `server.max_streams`.
/// An open stream costs a few KiB (h2 state, a task, a channel): a million
/// is a few GiB, far beyond one KEDA operator's ScaledObjects.
pub const MAX_STREAMS: usize = 1_000_000;

/// Smallest `server.max_streams`.
pub const MIN_STREAMS: usize = 1;

/// Smallest `server.max_servers`.
pub const MIN_SERVERS: usize = 100;

/// Largest `server.max_servers`. An entry's size is bounded (its history
/// by [`crate::signal::RETENTION`] and 256 points, its idle-gap histogram
/// by 240 bins and 7 days of at most 241 bins each) but was not measured per entry: size the cap to the memory
/// limit by watching `servers_known` against resident memory.
pub const MAX_SERVERS: usize = 10_000_000;
/// Listen addresses and transport settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The KEDA gRPC service.
    pub grpc_addr: SocketAddr,
    /// Health, readiness, metrics and the decisions API.
    pub http_addr: SocketAddr,
    /// TLS for the gRPC service; plaintext when absent.
    pub tls: Option<TlsConfig>,
    /// Largest `scalerMetadata` accepted, in bytes (keys + values);
    /// [`MIN_METADATA_BYTES`]..=[`MAX_METADATA_BYTES`].
    pub max_metadata_bytes: usize,
    /// HTTP/2 concurrent streams per connection (streaming and unary calls
    /// alike). KEDA multiplexes every ScaledObject over one connection per
    /// scaler address, so keep it above `max_streams`: the headroom is what
    /// unary calls use while every stream is open.
    /// [`MIN_STREAMS_PER_CONNECTION`]..=[`MAX_STREAMS`].
    pub max_streams_per_connection: usize,
    /// Open `StreamIsActive` + `StreamMetricSpec` streams across all
    /// connections; one more is refused with `RESOURCE_EXHAUSTED`.
    /// [`MIN_STREAMS`]..=[`MAX_STREAMS`].
    pub max_streams: usize,
    /// Most servers tracked at once. At the limit, a server quiet for an
    /// hour with nothing watching it makes room; otherwise data for a new
    /// server is dropped and counted. [`MIN_SERVERS`]..=[`MAX_SERVERS`].
    pub max_servers: usize,
    /// A bearer token for `/v1` (health, readiness and metrics stay open).
    pub http_auth: Option<HttpAuth>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            grpc_addr: SocketAddr::from(([0, 0, 0, 0], 9090)),
            http_addr: SocketAddr::from(([0, 0, 0, 0], 8080)),
            tls: None,
            max_metadata_bytes: 16 * 1024,
            // 20,000 ScaledObjects with 25% to spare, plus 5,000 slots on
            // KEDA's one connection for unary calls while all are open.
            max_streams_per_connection: 30_000,
            max_streams: 25_000,
            max_servers: crate::source::DEFAULT_MAX_SERVERS,
            http_auth: None,
        }
    }
}

impl ServerConfig {
    /// Checks the request and stream limits.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let limits = [
            (
                "server.max_metadata_bytes",
                self.max_metadata_bytes,
                MIN_METADATA_BYTES,
                MAX_METADATA_BYTES,
            ),
            (
                "server.max_streams_per_connection",
                self.max_streams_per_connection,
                MIN_STREAMS_PER_CONNECTION,
                MAX_STREAMS,
            ),
            (
                "server.max_streams",
                self.max_streams,
                MIN_STREAMS,
                MAX_STREAMS,
            ),
            (
                "server.max_servers",
                self.max_servers,
                MIN_SERVERS,
                MAX_SERVERS,
            ),
        ];
        for (field, value, min, max) in limits {
            if !(min..=max).contains(&value) {
                return Err(ConfigError::invalid(
                    field,
                    format!("is {value}, allowed {min}..={max}"),
                ));
            }
        }
        if same_port(self.grpc_addr, self.http_addr) {
            return Err(ConfigError::invalid(
                "server.http_addr",
                format!(
                    "{} is server.grpc_addr too: the two listeners need their own ports",
                    self.http_addr
                ),
            ));
        }
        if let Some(HttpAuth::BearerTokenEnv(var)) = &self.http_auth {
            super::check_env_name("server.http_auth.bearer_token_env", var)?;
        }
        Ok(())
    }

    /// `max_streams_per_connection` as the HTTP/2 setting (validated to fit).
    pub fn http2_max_concurrent_streams(&self) -> u32 {
        u32::try_from(self.max_streams_per_connection).unwrap_or(u32::MAX)
    }
}

/// Whether two listeners would take one port: the same port (not 0, which
/// picks a free one each), on the same IP or with either on all of them.
fn same_port(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port()
        && a.port() != 0
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// Server TLS; setting `client_ca_file` turns on mutual TLS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain served to clients.
    pub cert_file: PathBuf,
    /// PEM private key for `cert_file`.
    pub key_file: PathBuf,
    /// PEM CA bundle; when set, clients must present a certificate it signed.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}
