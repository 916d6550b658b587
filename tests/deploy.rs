//! The shipped manifests and examples stay consistent with the code.

use mcp_autoscaler::config::{Config, Overrides};
use std::collections::HashMap;
use std::path::Path;

fn root(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn the_kustomize_config_is_a_valid_config() {
    let c = load("deploy/base/config.yaml");
    assert!(
        c.nats.and_then(|n| n.jetstream).is_some(),
        "replicas need JetStream to agree"
    );
}

/// The example ScaledObject's namespace, name and its trigger's metadata.
fn example_trigger() -> (String, String, HashMap<String, String>) {
    let text = std::fs::read_to_string(root("deploy/examples/scaledobject.yaml")).expect("read");
    let doc: serde_json::Value = serde_saphyr::from_str(&text).expect("yaml");
    let trigger = &doc["spec"]["triggers"][0];
    assert_eq!(trigger["type"], "external-push");
    let md: HashMap<String, String> =
        serde_json::from_value(trigger["metadata"].clone()).expect("string metadata");
    let namespace = doc["metadata"]["namespace"]
        .as_str()
        .expect("namespace")
        .to_owned();
    let name = doc["metadata"]["name"].as_str().expect("name").to_owned();
    (namespace, name, md)
}

fn load(path: &str) -> Config {
    Config::load(Some(&root(path)), &Overrides::default()).expect(path)
}

#[test]
fn the_example_scaled_object_resolves_against_the_shipped_and_the_example_config() {
    let (namespace, name, md) = example_trigger();
    for path in ["deploy/base/config.yaml", "examples/config.yaml"] {
        let target = mcp_autoscaler::metadata::resolve(&namespace, &name, &md, &load(path))
            .unwrap_or_else(|e| panic!("deploy/examples/scaledobject.yaml against {path}: {e}"));
        assert_eq!(target.server.to_string(), "mcp-tenants/weather");
        assert_eq!(Some(&target.policy_name), md.get("policy"), "{path}");
    }
}

#[test]
fn check_config_prints_no_credentials_from_urls_or_headers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("config.yaml");
    let yaml = r#"
prometheus:
  url: http://promuser:prompass@prom:9090
  headers: { Authorization: "Bearer headersecret" }
nats:
  url: nats://natsuser:natspass@nats:4222
"#;
    std::fs::write(&file, yaml).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-autoscaler"))
        .arg("check-config")
        .arg(&file)
        .output()
        .expect("run check-config");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in ["prompass", "headersecret", "natspass"] {
        assert!(!stdout.contains(secret), "{secret} printed:\n{stdout}");
    }
    assert!(stdout.contains("http://***@prom:9090"), "{stdout}");
    assert!(stdout.contains("Authorization"), "{stdout}");
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

/// Every KEDA ScaledObject shipped in deploy/ parses as the project's typed
/// ScaledObject (no unknown field) and its trigger resolves against the
/// config it ships with.
#[test]
fn every_shipped_scaled_object_is_a_typed_scaled_object_the_scaler_accepts() {
    use mcp_autoscaler::cluster::scaled_object::ScaledObject;
    let mut checked = 0;
    for entry in std::fs::read_dir(root("deploy/examples")).expect("examples") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).expect("yaml");
        for doc in docs.into_iter().filter(|d| d["kind"] == "ScaledObject") {
            let so: ScaledObject = serde_json::from_value(doc)
                .unwrap_or_else(|e| panic!("{}: not a ScaledObject we model: {e}", path.display()));
            so.check()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for trigger in &so.spec.triggers {
                let md: HashMap<String, String> = trigger.metadata.clone().into_iter().collect();
                mcp_autoscaler::metadata::resolve(
                    &so.metadata.namespace,
                    &so.metadata.name,
                    &md,
                    &load("deploy/base/config.yaml"),
                )
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "external, external-push and TLS examples: {checked}"
    );
}

/// Every example that sets the HPA's scale-up (the ScaledObjects and the
/// plain HPA) sets what `mcp-autoscaler manifests` writes for the policy it
/// uses in the shipped config (its trigger's `policy`, else the default),
/// so the examples move when a policy's limit does.
#[test]
fn every_example_scale_up_is_what_manifests_writes_for_its_policy() {
    use k8s_openapi::api::autoscaling::v2::HPAScalingRules;
    let config = load("deploy/base/config.yaml");
    let expected = |policy: &str| {
        let p = config
            .policies
            .get(policy)
            .unwrap_or_else(|| panic!("policy {policy} in the shipped config"));
        mcp_autoscaler::cluster::manifests::hpa_scale_up(&p.behavior.scale_up)
            .expect("a limit that needs a scaleUp")
    };
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(root("deploy/examples")).expect("examples") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).expect("yaml");
        for doc in docs {
            let (behavior, policy) = match doc["kind"].as_str() {
                Some("ScaledObject") => (
                    &doc["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"],
                    doc["spec"]["triggers"][0]["metadata"]["policy"].as_str(),
                ),
                Some("HorizontalPodAutoscaler") => (&doc["spec"]["behavior"], None),
                _ => continue,
            };
            let policy = policy.unwrap_or(&config.default_policy);
            let rules: HPAScalingRules = serde_json::from_value(behavior["scaleUp"].clone())
                .unwrap_or_else(|e| panic!("{}: scaleUp: {e}", path.display()));
            assert_eq!(rules, expected(policy), "{} ({policy})", path.display());
            checked.push(format!("{} ({policy})", path.display()));
        }
    }
    assert!(
        checked.len() >= 4,
        "three ScaledObjects and the HPA: {checked:?}"
    );
}

#[derive(clap::Parser)]
struct SimulateCli {
    #[command(flatten)]
    args: mcp_autoscaler::sim::cli::SimulateArgs,
}

/// The container's args with `$(SHARD)` expanded as the kubelet would.
fn job_args(job: &serde_json::Value, shard: &str) -> Vec<String> {
    job["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string").replace("$(SHARD)", shard))
        .collect()
}

#[test]
fn the_indexed_job_example_runs_every_shard_of_a_valid_scenario_and_merges_them_all() {
    use clap::Parser;
    use mcp_autoscaler::sim::cli::SimulateCommand;
    let text = std::fs::read_to_string(root("deploy/examples/simulate-indexed-job.yaml"))
        .expect("example");
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).expect("yaml");
    let kind = |k: &str, name: &str| {
        docs.iter()
            .find(|d| d["kind"] == k && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{k} {name}"))
            .clone()
    };
    let fleet = kind("ConfigMap", "capacity-plan-scenario")["data"]["fleet.yaml"]
        .as_str()
        .expect("fleet.yaml")
        .to_owned();
    let scenario =
        mcp_autoscaler::sim::scenario::Scenario::from_yaml(&fleet, "fleet.yaml").expect("parses");
    scenario.validate("fleet.yaml").expect("valid");
    let shards = kind("Job", "capacity-plan-shards");
    let count = shards["spec"]["completions"].as_u64().expect("completions");
    assert_eq!(shards["spec"]["completionMode"], "Indexed");
    let mut dirs = Vec::new();
    for i in 0..count {
        let args = job_args(&shards, &i.to_string());
        let cli = SimulateCli::try_parse_from(
            std::iter::once("simulate".to_owned()).chain(args.into_iter().skip(1)),
        )
        .expect("the shard's args parse");
        let shard = cli.args.shard.expect("--shard");
        assert_eq!((u64::from(shard.index), u64::from(shard.count)), (i, count));
        dirs.push(cli.args.out);
    }
    let merge = kind("Job", "capacity-plan-merge");
    let args = job_args(&merge, "");
    let cli = SimulateCli::try_parse_from(
        std::iter::once("simulate".to_owned()).chain(args.into_iter().skip(1)),
    )
    .expect("the merge args parse");
    let Some(SimulateCommand::Merge { parts, .. }) = cli.args.command else {
        panic!("merge");
    };
    assert_eq!(parts, dirs, "the merge names every shard's directory");
}
