use super::*;
use crate::signal::Metric;

fn md(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn config() -> Config {
    Config::from_yaml("policies: { fast: { idle_window: 30s } }", "t").expect("config")
}

#[test]
fn the_scaled_object_name_is_the_default_server_id() {
    let t = resolve("tenants", "weather", &md(&[]), &config()).expect("ok");
    assert_eq!(t.server.server.as_str(), "weather");
    assert_eq!(t.policy_name, "default");
}

#[test]
fn the_server_lives_in_the_scaled_objects_namespace() {
    let t = resolve("tenant-a", "github", &md(&[]), &config()).expect("ok");
    assert_eq!(t.server.to_string(), "tenant-a/github");
    let err = resolve("", "github", &md(&[]), &config()).expect_err("empty namespace");
    assert!(
        err.to_string().contains("ScaledObjectRef.namespace"),
        "{err}"
    );
    let err = resolve("Tenant A", "github", &md(&[]), &config()).expect_err("bad namespace");
    assert!(err.to_string().contains("invalid namespace"), "{err}");
}

#[test]
fn server_id_policy_and_keda_keys_are_accepted() {
    let m = md(&[
        ("serverId", "tenant-7"),
        ("policy", "fast"),
        ("scalerAddress", "mcp-autoscaler:9090"),
        ("enableTLS", "false"),
        ("unsafeSsl", "true"),
    ]);
    let t = resolve("tenants", "so-name", &m, &config()).expect("ok");
    assert_eq!(t.server.server.as_str(), "tenant-7");
    assert_eq!(t.policy.idle_window, Duration::from_secs(30));
}

#[test]
fn every_override_key_changes_its_setting() {
    let m = md(&[
        ("minReplicas", "1"),
        ("maxReplicas", "40"),
        ("idleWindow", "2m"),
        ("staleAfter", "30s"),
        ("unavailableAfter", "5m"),
        ("targetConnections", "off"),
        ("targetSessions", "4"),
        ("targetQueueLength", "2.5"),
        ("targetRequestRate", "100"),
        ("targetConcurrency", "3"),
        ("metricMode", "native"),
    ]);
    let p = resolve("tenants", "s", &m, &config()).expect("ok").policy;
    assert_eq!((p.min_replicas, p.max_replicas), (1, 40));
    assert_eq!(p.idle_window, Duration::from_secs(120));
    assert_eq!(
        (p.stale_after, p.unavailable_after),
        (Duration::from_secs(30), Duration::from_secs(300))
    );
    assert_eq!(p.targets.get(Metric::Connections), None);
    assert_eq!(p.targets.get(Metric::Sessions), Some(4.0));
    assert_eq!(p.targets.get(Metric::QueueLength), Some(2.5));
    assert_eq!(p.targets.get(Metric::RequestRate), Some(100.0));
    assert_eq!(p.targets.get(Metric::Concurrency), Some(3.0));
    assert_eq!(p.metric_mode, MetricMode::Native);
}

#[test]
fn bad_input_names_the_key_and_what_is_allowed() {
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (
            "s",
            &[("bogus", "1")],
            "\"bogus\"",
            "allowed keys: serverId, policy",
        ),
        ("s", &[("serverId", "Bad_ID")], "\"serverId\"", "a-z, 0-9"),
        (
            "s",
            &[("serverId", "x\"} or vector(1)")],
            "\"serverId\"",
            "a-z, 0-9",
        ),
        ("Bad.Name", &[], "ScaledObject name", "a-z, 0-9"),
        (
            "Bad.Name",
            &[("serverId", "s")],
            "ScaledObjectRef.name",
            "Kubernetes object name",
        ),
        ("s", &[("policy", "nope")], "\"policy\"", "default, fast"),
        (
            "s",
            &[("minReplicas", "-1")],
            "\"minReplicas\"",
            "whole number",
        ),
        ("s", &[("idleWindow", "soon")], "\"idleWindow\"", "duration"),
        (
            "s",
            &[("targetSessions", "0")],
            "\"targetSessions\"",
            "positive number",
        ),
        (
            "s",
            &[("targetSessions", "NaN")],
            "\"targetSessions\"",
            "positive number",
        ),
        (
            "s",
            &[("metricMode", "max")],
            "\"metricMode\"",
            "\"desired\" or \"native\"",
        ),
        (
            "s",
            &[
                ("metricMode", "native"),
                ("targetQueueLength", "off"),
                ("targetConcurrency", "off"),
            ],
            "\"metricMode\"",
            "needs at least one per-replica target",
        ),
        (
            "s",
            &[("minReplicas", "9"), ("maxReplicas", "3")],
            "\"minReplicas\"",
            "must not exceed",
        ),
        (
            "s",
            &[("maxReplicas", "0")],
            "\"maxReplicas\"",
            "a whole number from 1 to 10000",
        ),
    ];
    for (name, pairs, key, allowed) in cases {
        let msg = resolve("tenants", name, &md(pairs), &config())
            .expect_err(name)
            .to_string();
        assert!(msg.contains(key), "{msg} should name {key}");
        assert!(msg.contains(allowed), "{msg} should say {allowed}");
    }
}

#[test]
fn oversized_metadata_is_rejected_with_the_limit() {
    let big = "x".repeat(20_000);
    let err =
        resolve("tenants", "s", &md(&[("serverId", &big)]), &config()).expect_err("too large");
    assert!(
        matches!(err, MetadataError::TooLarge { limit: 16384, .. }),
        "{err}"
    );
}

#[test]
fn policy_fields_map_back_to_their_metadata_keys() {
    assert_eq!(metadata_key_of("min_replicas"), "minReplicas");
    assert_eq!(metadata_key_of("targets.queue_length"), "targetQueueLength");
    assert_eq!(metadata_key_of("idle_window"), "idleWindow");
    assert_eq!(
        metadata_key_of("behavior.scale_down_window"),
        "scaleDownWindow"
    );
    assert_eq!(metadata_key_of("slo.latency_p95_s"), "targetLatencyP95");
    assert_eq!(metadata_key_of("behavior.tolerance"), "policy");
    assert_eq!(metadata_key_of(""), "policy");
}

#[test]
fn keep_alive_scale_down_window_and_latency_objective_can_be_overridden() {
    let m = md(&[
        ("keepAlive", "fixed"),
        ("scaleDownWindow", "30s"),
        ("targetLatencyP95", "off"),
    ]);
    let p = resolve("tenants", "s", &m, &config()).expect("ok").policy;
    assert_eq!(p.keep_alive, crate::engine::KeepAlive::Fixed);
    assert_eq!(p.behavior.scale_down_window, Duration::from_secs(30));
    assert_eq!(p.slo.get(Metric::LatencySlo), None);
    let err = resolve("tenants", "s", &md(&[("keepAlive", "forever")]), &config())
        .expect_err("bad")
        .to_string();
    assert!(
        err.contains("\"fixed\", \"cost_aware\" or \"predictive\""),
        "{err}"
    );
}

#[test]
fn out_of_range_values_are_refused_naming_the_key_and_the_range() {
    let cases: &[(&str, &str, &str)] = &[
        ("idleWindow", "18446744073709551615s", "from 1s to 7days"),
        ("idleWindow", "8days", "from 1s to 7days"),
        ("idleWindow", "0s", "a duration from 1s to 7days"),
        ("staleAfter", "25h", "from 0s to 15m"),
        ("unavailableAfter", "1000000000000h", "from 0s to 15m"),
        ("unavailableAfter", "16m", "from 0s to 15m"),
        ("scaleDownWindow", "2days", "from 0s to 1day"),
        ("maxReplicas", "4294967295", "from 1 to 10000"),
        ("minReplicas", "10001", "from 0 to 10000"),
        ("targetSessions", "1e300", "up to 1000000000"),
        ("targetConcurrency", "inf", "up to 1000000000"),
        ("targetRequestRate", "-5", "positive number"),
        ("targetLatencyP95", "100000", "up to 86400"),
    ];
    for (key, value, allowed) in cases {
        let err = resolve("tenants", "s", &md(&[(key, value)]), &config()).expect_err(key);
        let MetadataError::BadValue { key: named, .. } = &err else {
            panic!("{key}={value}: {err}");
        };
        assert_eq!(named, key, "{err}");
        assert!(
            err.to_string().contains(allowed),
            "{err} should say {allowed}"
        );
    }
}

#[test]
fn the_largest_allowed_values_resolve_to_a_valid_policy() {
    let m = md(&[
        ("idleWindow", "7days"),
        ("staleAfter", "14m"),
        ("unavailableAfter", "15m"),
        ("scaleDownWindow", "24h"),
        ("maxReplicas", "10000"),
        ("minReplicas", "10000"),
        ("targetSessions", "1e9"),
        ("targetLatencyP95", "86400"),
    ]);
    let p = resolve("tenants", "s", &m, &config()).expect("ok").policy;
    assert_eq!(p.validate(), Ok(()));
    assert_eq!(p.idle_window, crate::engine::limits::MAX_KEEP_WARM);
}

#[test]
fn stale_after_must_outlast_the_poll_interval_in_config_and_metadata() {
    let yaml = "prometheus: { url: 'http://127.0.0.1:9090', interval: 15s }
policies: { quick: { stale_after: 10s, unavailable_after: 1m } }";
    let parsed = Config::from_yaml(yaml, "t").expect("parses");
    let err = parsed.validate().expect_err("stale between polls");
    let shown = err.to_string();
    assert!(
        shown.contains("policies.quick.stale_after") && shown.contains("prometheus.interval"),
        "{shown}"
    );
    let polled =
        Config::from_yaml("prometheus: { url: 'http://127.0.0.1:9090' }", "t").expect("config");
    let flapping = md(&[("staleAfter", "1s"), ("unavailableAfter", "2s")]);
    let err = resolve("tenants", "s", &flapping, &polled).expect_err("flaps");
    let MetadataError::BadValue { key, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(key, "staleAfter", "{err}");
    assert!(
        resolve("tenants", "s", &flapping, &config()).is_ok(),
        "no poller: fine"
    );
}

#[test]
fn a_rule_between_two_settings_names_the_key_that_was_set() {
    let err = resolve("t", "s", &md(&[("unavailableAfter", "1m")]), &config())
        .expect_err("below stale_after's 2m");
    match err {
        MetadataError::BadValue { key, value, .. } => {
            assert_eq!((key.as_str(), value.as_str()), ("unavailableAfter", "1m"));
        }
        other => panic!("{other}"),
    }
    // Both set: the field's own key.
    let both = md(&[("unavailableAfter", "1m"), ("staleAfter", "3m")]);
    let err = resolve("t", "s", &both, &config()).expect_err("stale after unavailable");
    assert!(
        err.to_string()
            .starts_with("scalerMetadata key \"staleAfter\" has value \"3m\""),
        "{err}"
    );
}

#[test]
fn each_key_says_its_own_range_and_every_value_is_trimmed() {
    let says = |key: &str, value: &str| match resolve("t", "s", &md(&[(key, value)]), &config()) {
        Err(MetadataError::BadValue { expected, .. }) => expected,
        other => panic!("{key}={value}: {other:?}"),
    };
    assert!(says("maxReplicas", "0").starts_with("a whole number from 1 to"));
    assert!(says("minReplicas", "10001").starts_with("a whole number from 0 to"));
    assert!(says("idleWindow", "500ms").starts_with("a duration from 1s to"));
    let t = resolve("t", "s", &md(&[("policy", " fast ")]), &config()).expect("trimmed");
    assert_eq!(t.policy_name, "fast");
}
