//! TLS and mutual TLS for the gRPC server, from PEM files.

use crate::config::TlsConfig;
use std::path::{Path, PathBuf};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// A TLS file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {what} {path}: {source}")]
pub struct TlsError {
    what: &'static str,
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError {
        what,
        path: path.to_owned(),
        source,
    })
}

/// Selects the one rustls crypto provider in the tree (aws-lc-rs) for the
/// whole process. Safe to call more than once.
pub fn install_crypto_provider() {
    // An Err only means a provider is installed already, which is fine.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Builds tonic's server TLS config; a client CA turns on mutual TLS
/// (clients without a certificate signed by it are refused).
pub fn server_tls(config: &TlsConfig) -> Result<ServerTlsConfig, TlsError> {
    let cert = read("server.tls.cert_file", &config.cert_file)?;
    let key = read("server.tls.key_file", &config.key_file)?;
    let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
    if let Some(ca) = &config.client_ca_file {
        let ca = read("server.tls.client_ca_file", ca)?;
        tls = tls
            .client_ca_root(Certificate::from_pem(ca))
            .client_auth_optional(false);
    }
    Ok(tls)
}
