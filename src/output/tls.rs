//! TLS and mutual TLS for the gRPC server, from PEM files.

use crate::config::TlsConfig;
use std::path::{Path, PathBuf};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// A TLS file that could not be read or holds no usable PEM.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// The config field that names it.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file holds no PEM of the kind it must.
    #[error("{what} {path} holds no {expected} (PEM)")]
    Pem {
        /// The config field that names it.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What it must hold.
        expected: &'static str,
    },
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

/// Reads `path` and checks it holds at least one certificate.
fn read_certs(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let pem = read(what, path)?;
    let mut reader = pem.as_slice();
    let first = rustls_pemfile::certs(&mut reader).next();
    match first {
        Some(Ok(_)) => Ok(pem),
        _ => Err(TlsError::Pem {
            what,
            path: path.to_owned(),
            expected: "certificate",
        }),
    }
}

/// Reads `path` and checks it holds a private key.
fn read_key(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let pem = read(what, path)?;
    match rustls_pemfile::private_key(&mut pem.as_slice()) {
        Ok(Some(_)) => Ok(pem),
        _ => Err(TlsError::Pem {
            what,
            path: path.to_owned(),
            expected: "private key",
        }),
    }
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
    let cert = read_certs("server.tls.cert_file", &config.cert_file)?;
    let key = read_key("server.tls.key_file", &config.key_file)?;
    let mut tls = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
    if let Some(ca) = &config.client_ca_file {
        let ca = read_certs("server.tls.client_ca_file", ca)?;
        tls = tls
            .client_ca_root(Certificate::from_pem(ca))
            .client_auth_optional(false);
    }
    Ok(tls)
}
