use super::*;

fn options() -> Options {
    Options {
        scaler_address: "mcp-autoscaler.mcp-system.svc.cluster.local:9090".into(),
        poll_only: false,
        tls: false,
        trigger_authentication: None,
    }
}

fn config() -> Config {
    let mut c = Config::default();
    let mut chat = c.policies["default"].clone();
    chat.max_replicas = 40;
    c.policies.insert("interactive".into(), chat);
    c
}

const FILE: &str = "\
- namespace: tenant-a
  server: github
- namespace: tenant-b
  server: github
  policy: interactive
  workload: { kind: StatefulSet, name: github-sts }
";

#[test]
fn entries_default_to_a_deployment_named_like_the_server() {
    let entries = parse_servers(FILE, "servers.yaml", &config()).expect("valid");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].workload.kind, WorkloadKind::Deployment);
    assert_eq!(entries[0].workload.name, "github");
    assert_eq!(entries[1].workload.kind, WorkloadKind::StatefulSet);
    assert_eq!(entries[1].policy.as_deref(), Some("interactive"));
}

#[test]
fn every_bad_entry_names_its_line_and_field() {
    let cases = [
        ("- namespace: Tenant\n  server: a\n", "line 1: namespace"),
        (
            "- namespace: t\n  server: a\n- namespace: t\n  server: b_c\n",
            "line 3: server",
        ),
        (
            "- namespace: t\n  server: a\n  policy: nope\n",
            "line 3: policy",
        ),
        (
            "- namespace: t\n  server: a\n  workload: { kind: Job }\n",
            "line 1: workload.kind",
        ),
        (
            "- namespace: t\n  server: a\n  workload: { name: X }\n",
            "line 1: workload.name",
        ),
        (
            "- namespace: t\n  server: a\n- namespace: t\n  server: a\n",
            "line 3: server",
        ),
    ];
    for (text, want) in cases {
        let err = parse_servers(text, "servers.yaml", &config())
            .expect_err(text)
            .to_string();
        assert!(err.contains(want), "{text:?}: {err}");
    }
    let err = parse_servers(
        "- namespace: t\n  server: a\n  replicas: 3\n",
        "s.yaml",
        &config(),
    )
    .expect_err("unknown field")
    .to_string();
    assert!(err.contains("replicas") && err.contains("line 3"), "{err}");
}

#[test]
fn a_scaled_object_scales_to_zero_under_the_policy_maximum_and_round_trips() {
    let c = config();
    let entries = parse_servers(FILE, "servers.yaml", &c).expect("valid");
    let mut opts = options();
    opts.tls = true;
    opts.trigger_authentication = Some("mcp-autoscaler-tls".into());
    let objects: Vec<ScaledObject> = entries
        .iter()
        .map(|e| scaled_object(e, &c, &opts))
        .collect();
    let so = &objects[1];
    assert_eq!(so.metadata.namespace, "tenant-b");
    assert_eq!(so.spec.min_replica_count, Some(0));
    assert_eq!(so.spec.max_replica_count, Some(40), "the policy's maximum");
    assert_eq!(
        so.spec.scale_target_ref.kind.as_deref(),
        Some("StatefulSet")
    );
    let trigger = &so.spec.triggers[0];
    assert_eq!(trigger.kind, "external-push");
    assert_eq!(trigger.metadata["serverId"], "github");
    assert_eq!(trigger.metadata["policy"], "interactive");
    assert_eq!(trigger.metadata["enableTLS"], "true");
    assert!(!objects[0].spec.triggers[0].metadata.contains_key("policy"));
    // The HPA lets through the scale-up the policy allows.
    let scale_up = |so: &ScaledObject| -> Vec<(String, i32, i32)> {
        let rules = so.spec.advanced.as_ref().and_then(|a| {
            a.horizontal_pod_autoscaler_config
                .as_ref()
                .and_then(|h| h.behavior.as_ref())
                .and_then(|b| b.scale_up.clone())
        });
        let rules = rules.expect("a scale-up policy");
        assert_eq!(rules.select_policy.as_deref(), Some("Max"));
        rules
            .policies
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.type_, p.value, p.period_seconds))
            .collect()
    };
    let burst = vec![
        ("Percent".to_owned(), 1000, 15),
        ("Pods".to_owned(), 100, 15),
    ];
    assert_eq!(scale_up(&objects[0]), burst);
    assert_eq!(scale_up(&objects[1]), burst);
    let mut slow = c.clone();
    if let Some(p) = slow.policies.get_mut("interactive") {
        p.behavior.scale_up = crate::engine::Behavior::hpa_default().scale_up;
    }
    let so = scaled_object(&entries[1], &slow, &opts);
    assert_eq!(
        scale_up(&so),
        [("Percent".to_owned(), 100, 15), ("Pods".to_owned(), 4, 15)]
    );
    // Rounded so the HPA is never the stricter, within what it accepts.
    if let Some(p) = slow.policies.get_mut("interactive") {
        p.behavior.scale_up = crate::engine::RateLimit {
            pods: 0,
            percent: 0.4,
            period: std::time::Duration::from_secs(3600),
        };
    }
    let so = scaled_object(&entries[1], &slow, &opts);
    assert_eq!(scale_up(&so), [("Percent".to_owned(), 1, 1800)]);

    let yaml = to_yaml(&objects).expect("yaml");
    let back: Vec<ScaledObject> = serde_saphyr::from_multiple(&yaml).expect("round trip");
    assert_eq!(back, objects);
    for so in &back {
        so.check().expect("valid ScaledObject");
        let md: std::collections::HashMap<String, String> =
            so.spec.triggers[0].metadata.clone().into_iter().collect();
        let target = crate::metadata::resolve(&so.metadata.namespace, &so.metadata.name, &md, &c)
            .expect("the scaler accepts what manifests writes");
        assert_eq!(target.server.namespace.as_str(), so.metadata.namespace);
    }
}

#[test]
fn the_scaler_address_must_be_host_and_port() {
    for bad in [
        "",
        "host",
        "host:0",
        "host:99999",
        ":9090",
        "a b:9090",
        "http://x:1",
        "\"quoted\":1",
        "a_b:1",
        "[::1:1",
        "[zz]:1",
    ] {
        let o = Options {
            scaler_address: bad.into(),
            ..options()
        };
        assert!(o.validate().is_err(), "{bad}");
    }
    assert!(options().validate().is_ok());
    for good in [
        "10.0.0.7:9090",
        "[fd00::1]:9090",
        "Scaler.Example.com:443",
        "scaler.keda.svc.cluster.local.:9090",
    ] {
        let o = Options {
            scaler_address: good.into(),
            ..options()
        };
        assert!(o.validate().is_ok(), "{good}");
    }
}

#[test]
fn workload_and_trigger_authentication_names_follow_the_object_name_rule() {
    let text = "- namespace: t\n  server: a\n  workload: { name: web.v2 }\n";
    let entries =
        parse_servers(text, "servers.yaml", &config()).expect("a Deployment may have dots");
    assert_eq!(entries[0].workload.name, "web.v2");
    for (name, ok) in [
        ("tls.mcp-autoscaler", true),
        ("", false),
        ("Bad", false),
        ("a..b", false),
    ] {
        let o = Options {
            trigger_authentication: Some(name.into()),
            ..options()
        };
        assert_eq!(o.validate().is_ok(), ok, "{name:?}");
    }
}
