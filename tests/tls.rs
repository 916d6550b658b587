//! TLS and mutual TLS on the gRPC port, with certificates made in the test.

mod common;

use common::{WAIT, so};
use mcp_autoscaler::config::{Config, TlsConfig};
use mcp_autoscaler::proto::external_scaler_client::ExternalScalerClient;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use std::path::Path;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

struct Pki {
    ca_pem: String,
    server: (String, String),
    client: (String, String),
    stranger: (String, String),
}

fn leaf(name: &str, issuer: &Issuer<'_, KeyPair>) -> (String, String) {
    let key = KeyPair::generate().expect("key");
    let params = CertificateParams::new(vec![name.to_owned()]).expect("params");
    (
        params.signed_by(&key, issuer).expect("sign").pem(),
        key.serialize_pem(),
    )
}

fn ca() -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let pem = params.self_signed(&key).expect("ca").pem();
    (pem, Issuer::new(params, key))
}

fn pki() -> Pki {
    let (ca_pem, issuer) = ca();
    let (_, other_issuer) = ca();
    Pki {
        ca_pem,
        server: leaf("localhost", &issuer),
        client: leaf("keda", &issuer),
        stranger: leaf("keda", &other_issuer),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

fn tls_config(dir: &Path, pki: &Pki, mutual: bool) -> Config {
    let mut c = Config::default();
    c.server.tls = Some(TlsConfig {
        cert_file: write(dir, "server.pem", &pki.server.0),
        key_file: write(dir, "server.key", &pki.server.1),
        client_ca_file: mutual.then(|| write(dir, "ca.pem", &pki.ca_pem)),
    });
    c
}

async fn call(
    addr: std::net::SocketAddr,
    ca: Option<&str>,
    identity: Option<&(String, String)>,
) -> Result<bool, String> {
    mcp_autoscaler::output::tls::install_crypto_provider();
    let scheme = if ca.is_some() { "https" } else { "http" };
    let mut endpoint = Channel::from_shared(format!("{scheme}://localhost:{}", addr.port()))
        .expect("uri")
        .connect_timeout(WAIT)
        .timeout(WAIT);
    if let Some(ca) = ca {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca))
            .domain_name("localhost");
        if let Some((cert, key)) = identity {
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        endpoint = endpoint.tls_config(tls).expect("tls");
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    let mut client = ExternalScalerClient::new(channel);
    client
        .is_active(so("tls-test", &[]))
        .await
        .map(|r| r.into_inner().result)
        .map_err(|e| format!("{e:?}"))
}

#[tokio::test]
async fn tls_serves_clients_that_trust_the_ca_and_refuses_plaintext() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = pki();
    let srv = common::start(tls_config(dir.path(), &pki, false)).await;
    assert_eq!(call(srv.grpc, Some(&pki.ca_pem), None).await, Ok(false));
    assert!(
        call(srv.grpc, None, None).await.is_err(),
        "plaintext must not work on a TLS port"
    );
    srv.stop().await.expect("clean stop");
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate_from_the_configured_ca() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = pki();
    let srv = common::start(tls_config(dir.path(), &pki, true)).await;
    assert_eq!(
        call(srv.grpc, Some(&pki.ca_pem), Some(&pki.client)).await,
        Ok(false)
    );
    assert!(
        call(srv.grpc, Some(&pki.ca_pem), None).await.is_err(),
        "no client certificate"
    );
    assert!(
        call(srv.grpc, Some(&pki.ca_pem), Some(&pki.stranger))
            .await
            .is_err(),
        "certificate from another CA"
    );
    srv.stop().await.expect("clean stop");
}

/// The error a scaler with `tls` stops with at start-up.
async fn start_up_error(tls: TlsConfig) -> String {
    let mut c = Config::default();
    c.server.tls = Some(tls);
    let srv = common::start(c).await;
    let err = tokio::time::timeout(WAIT, srv.task)
        .await
        .expect("ends")
        .expect("task")
        .expect_err("must fail");
    err.to_string()
}

#[tokio::test]
async fn missing_tls_files_are_a_clear_start_up_error() {
    let msg = start_up_error(TlsConfig {
        cert_file: "/nonexistent/cert.pem".into(),
        key_file: "/nonexistent/key.pem".into(),
        client_ca_file: None,
    })
    .await;
    assert!(
        msg.contains("server.tls.cert_file") && msg.contains("/nonexistent/cert.pem"),
        "{msg}"
    );
}

#[tokio::test]
async fn tls_files_that_hold_no_pem_are_a_start_up_error_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki();
    let not_pem = write(dir.path(), "junk.pem", "not a PEM file\n");
    let good = tls_config(dir.path(), &pki, true);
    let good = good.server.tls.expect("tls");
    for (field, tls) in [
        (
            "server.tls.cert_file",
            TlsConfig {
                cert_file: not_pem.clone(),
                ..good.clone()
            },
        ),
        (
            "server.tls.key_file",
            TlsConfig {
                key_file: good.cert_file.clone(),
                ..good.clone()
            },
        ),
        (
            "server.tls.client_ca_file",
            TlsConfig {
                client_ca_file: Some(not_pem.clone()),
                ..good.clone()
            },
        ),
    ] {
        let msg = start_up_error(tls).await;
        assert!(msg.contains(field) && msg.contains("(PEM)"), "{msg}");
    }
}
