//! The shipped manifests and examples stay consistent with the code.

use mcp_autoscaler::config::{Config, Overrides};
use std::path::Path;

fn root(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn the_kustomize_config_is_a_valid_config() {
    let c = Config::load(
        Some(&root("deploy/base/config.yaml")),
        &Overrides::default(),
    )
    .expect("deploy/base/config.yaml");
    assert!(
        c.nats.and_then(|n| n.jetstream).is_some(),
        "replicas need JetStream to agree"
    );
}

#[test]
fn the_example_scaled_object_uses_only_allowed_metadata_keys() {
    let text = std::fs::read_to_string(root("deploy/examples/scaledobject.yaml")).expect("read");
    let doc: serde_json::Value = serde_saphyr::from_str(&text).expect("yaml");
    let trigger = &doc["spec"]["triggers"][0];
    assert_eq!(trigger["type"], "external-push");
    let md: std::collections::HashMap<String, String> =
        serde_json::from_value(trigger["metadata"].clone()).expect("string metadata");
    let config =
        Config::load(Some(&root("examples/config.yaml")), &Overrides::default()).expect("config");
    let target = mcp_autoscaler::metadata::resolve(
        doc["metadata"]["namespace"].as_str().expect("namespace"),
        doc["metadata"]["name"].as_str().expect("name"),
        &md,
        &config,
    )
    .expect("resolves");
    assert_eq!(target.server.to_string(), "mcp-tenants/weather");
}

#[test]
fn the_deployment_runs_two_replicas_behind_a_headless_service_with_readiness_on_readyz() {
    let dep: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(root("deploy/base/deployment.yaml")).expect("read"),
    )
    .expect("yaml");
    let svc: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(root("deploy/base/service.yaml")).expect("read"),
    )
    .expect("yaml");
    assert!(dep["spec"]["replicas"].as_u64() >= Some(2));
    assert_eq!(svc["spec"]["clusterIP"], "None");
    assert_eq!(
        dep["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"],
        "/readyz"
    );
}
