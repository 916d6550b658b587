use super::*;
use crate::signal::Metric;

fn invalid_field(yaml: &str) -> String {
    let config = Config::from_yaml(yaml, "test.yaml").expect("parses");
    match config.validate() {
        Err(ConfigError::Invalid { field, .. }) => field,
        other => panic!("expected an invalid field for {yaml:?}, got {other:?}"),
    }
}

#[test]
fn built_in_defaults_are_valid_and_have_a_default_policy() {
    let c = Config::default();
    c.validate().expect("valid");
    assert!(c.policies.contains_key(DEFAULT_POLICY));
    assert!(c.prometheus.is_none() && c.nats.is_none());
}

#[test]
fn a_full_file_parses_with_humantime_durations() {
    let yaml = r#"
server:
  grpc_addr: 127.0.0.1:7000
log: { level: debug, format: json }
policies:
  fast:
    idle_window: 90s
    max_replicas: 20
    targets: { sessions: 5, connections: null }
prometheus:
  url: http://prom:9090
  interval: 10s
  auth: { bearer: { token_file: /var/run/token } }
nats:
  url: nats://nats:4222
  jetstream: { replay_window: 5m }
"#;
    let c = Config::from_yaml(yaml, "t").expect("parses");
    c.validate().expect("valid");
    let fast = &c.policies["fast"];
    assert_eq!(fast.idle_window, std::time::Duration::from_secs(90));
    assert_eq!(fast.targets.get(Metric::Sessions), Some(5.0));
    assert_eq!(fast.targets.get(Metric::Connections), None);
    assert!(c.policies.contains_key(DEFAULT_POLICY), "default is added");
    assert_eq!(c.log.format, LogFormat::Json);
}

#[test]
fn unknown_fields_are_parse_errors_naming_the_field_and_file() {
    for yaml in [
        "serverz: {}",
        "policies: { default: { idle_windw: 5m } }",
        "prometheus: { urll: x }",
    ] {
        let err = Config::from_yaml(yaml, "my.yaml")
            .expect_err(yaml)
            .to_string();
        assert!(err.starts_with("my.yaml:"), "{err}");
        let field = yaml
            .split([':', '{', ' '])
            .filter(|s| !s.is_empty())
            .find(|s| s.ends_with('z') || s.ends_with("windw") || s.ends_with("urll"));
        assert!(err.contains(field.unwrap_or("?")), "{err}");
    }
}

#[test]
fn bad_durations_are_parse_errors() {
    let err =
        Config::from_yaml("policies: { default: { idle_window: soon } }", "f").expect_err("bad");
    assert!(matches!(err, ConfigError::Parse { .. }), "{err}");
}

#[test]
fn each_out_of_range_value_names_its_full_field_path() {
    let cases = [
        (
            "policies: { default: { max_replicas: 0 } }",
            "policies.default.max_replicas",
        ),
        (
            "policies: { p1: { min_replicas: 5, max_replicas: 2 } }",
            "policies.p1.min_replicas",
        ),
        (
            "policies: { p1: { targets: { queue_length: -1 } } }",
            "policies.p1.targets.queue_length",
        ),
        ("policies: { \"bad name\": {} }", "policies.bad name"),
        ("default_policy: missing", "default_policy"),
        (
            "server: { max_metadata_bytes: 10 }",
            "server.max_metadata_bytes",
        ),
        ("log: { level: \"[[\" }", "log.level"),
        ("prometheus: { url: ftp://x }", "prometheus.url"),
        ("prometheus: { url: \"http://h:99999/\" }", "prometheus.url"),
        ("prometheus: { url: \"http://[::1\" }", "prometheus.url"),
        ("nats: { url: \"not a url\" }", "nats.url"),
        ("nats: { url: \"nats://a:4222,http://b:4222\" }", "nats.url"),
        ("nats: { url: \"ws://a:8080\" }", "nats.url"),
        ("nats: { url: \"nats://a:4222,\" }", "nats.url"),
        (
            "server: { grpc_addr: \"0.0.0.0:9000\", http_addr: \"0.0.0.0:9000\" }",
            "server.http_addr",
        ),
        (
            "server: { grpc_addr: \"127.0.0.1:9000\", http_addr: \"0.0.0.0:9000\" }",
            "server.http_addr",
        ),
        ("nats: { auth: { token_env: \"\" } }", "nats.auth.token_env"),
        (
            "nats: { auth: { user_password: { user: u, password_env: \"A B\" } } }",
            "nats.auth.user_password.password_env",
        ),
        (
            "server: { http_auth: { bearer_token_env: \"1X\" } }",
            "server.http_auth.bearer_token_env",
        ),
        (
            "prometheus: { auth: { bearer: { token_env: \"A B\" } } }",
            "prometheus.auth.bearer.token_env",
        ),
        ("nats: { url: \"http://127.0.0.1:4222\" }", "nats.url"),
        ("nats: { url: \"nats://127.0.0.1:99999\" }", "nats.url"),
        ("prometheus: { interval: 0s }", "prometheus.interval"),
        ("prometheus: { timeout: 1m }", "prometheus.timeout"),
        ("prometheus: { backfill: 16m }", "prometheus.backfill"),
        (
            "prometheus: { server_label: \"a-b\" }",
            "prometheus.server_label",
        ),
        (
            "prometheus: { auth: { bearer: {} } }",
            "prometheus.auth.bearer",
        ),
        (
            "prometheus: { headers: { \"bad header\": x } }",
            "prometheus.headers.bad header",
        ),
        ("nats: { subject_prefix: \"mcp.>\" }", "nats.subject_prefix"),
        ("nats: { tls_cert_file: /c }", "nats.tls_cert_file"),
        (
            "nats: { session_forget_after: 30s }",
            "nats.session_forget_after",
        ),
        (
            "nats: { jetstream: { stream: \"a.b\" } }",
            "nats.jetstream.stream",
        ),
        (
            "nats: { jetstream: { replay_window: 2h } }",
            "nats.jetstream.replay_window",
        ),
        (
            "server: { max_metadata_bytes: 18446744073709551615 }",
            "server.max_metadata_bytes",
        ),
        ("prometheus: { interval: 2h }", "prometheus.interval"),
        (
            "server: { max_streams_per_connection: 99 }",
            "server.max_streams_per_connection",
        ),
        (
            "server: { max_streams_per_connection: 18446744073709551615 }",
            "server.max_streams_per_connection",
        ),
        ("server: { max_streams: 0 }", "server.max_streams"),
        ("server: { max_streams: 1000001 }", "server.max_streams"),
        (
            "nats: { jetstream: { max_age: 30days } }",
            "nats.jetstream.max_age",
        ),
        (
            "nats: { jetstream: { max_age: 0s, replay_window: 0s } }",
            "nats.jetstream.max_age",
        ),
        (
            "policies: { p1: { idle_window: 18446744073709551615s } }",
            "policies.p1.idle_window",
        ),
        (
            "policies: { p1: { targets: { sessions: 1e300 } } }",
            "policies.p1.targets.sessions",
        ),
        (
            "policies: { p1: { behavior: { scale_down_window: 2days } } }",
            "policies.p1.behavior.scale_down_window",
        ),
        (
            "policies: { p1: { keep_alive: { predictive: { max_keep_alive: 8days } } } }",
            "policies.p1.keep_alive.predictive.max_keep_alive",
        ),
    ];
    for (yaml, field) in cases {
        assert_eq!(invalid_field(yaml), field, "{yaml}");
    }
}

#[test]
fn stream_limits_out_of_range_name_the_field_and_the_allowed_range() {
    let cases = [
        (
            "server: { max_streams_per_connection: 0 }",
            "server.max_streams_per_connection: is 0, allowed 100..=1000000",
        ),
        (
            "server: { max_streams_per_connection: 4294967296 }",
            "server.max_streams_per_connection: is 4294967296, allowed 100..=1000000",
        ),
        (
            "server: { max_streams: 0 }",
            "server.max_streams: is 0, allowed 1..=1000000",
        ),
        (
            "server: { max_streams: 2000000 }",
            "server.max_streams: is 2000000, allowed 1..=1000000",
        ),
    ];
    for (yaml, message) in cases {
        let config = Config::from_yaml(yaml, "t").expect("parses");
        let err = config.validate().expect_err(yaml).to_string();
        assert_eq!(err, message, "{yaml}");
    }
}

#[test]
fn stream_limits_at_their_bounds_are_valid() {
    let yaml = "server: { max_streams_per_connection: 100, max_streams: 1 }";
    let c = Config::from_yaml(yaml, "t").expect("parses");
    c.validate().expect("lower bounds are valid");
    assert_eq!(c.server.http2_max_concurrent_streams(), 100);
    let yaml = "server: { max_streams_per_connection: 1000000, max_streams: 1000000 }";
    let c = Config::from_yaml(yaml, "t").expect("parses");
    c.validate().expect("upper bounds are valid");
    assert_eq!(c.server.http2_max_concurrent_streams(), 1_000_000);
}

#[test]
fn overrides_win_over_the_file() {
    let mut c = Config::from_yaml("server: { grpc_addr: 127.0.0.1:1 }", "f").expect("parses");
    c.apply(&Overrides {
        grpc_addr: Some("127.0.0.1:2".parse().expect("addr")),
        log_level: Some("debug".into()),
        nats_url: Some("nats://n:4222".into()),
        ..Overrides::default()
    });
    assert_eq!(c.server.grpc_addr.port(), 2);
    assert_eq!(c.log.level, "debug");
    assert_eq!(
        c.nats.as_ref().map(|n| n.url.as_str()),
        Some("nats://n:4222")
    );
}

#[test]
fn dry_run_turns_apply_mode_on_without_sending() {
    let mut c = Config::default();
    c.apply(&Overrides {
        dry_run: true,
        ..Overrides::default()
    });
    assert!(c.kubernetes.apply.enabled && c.kubernetes.apply.dry_run);
    let e = c.validate().expect_err("apply needs discovery").to_string();
    assert!(e.starts_with("kubernetes.apply.enabled"), "{e}");
    c.kubernetes.discovery.enabled = true;
    let e = c.validate().expect_err("apply needs a source").to_string();
    assert!(e.contains("needs a signal source"), "{e}");
    c.nats = Some(NatsConfig::default());
    assert!(c.validate().is_ok());
}

#[test]
fn the_printed_config_parses_back_to_the_same_config() {
    let c = Config {
        prometheus: Some(PrometheusConfig::default()),
        ..Config::default()
    };
    let again = Config::from_yaml(&c.to_yaml(), "printed").expect("round trip");
    assert_eq!(again, c);
}

#[test]
fn the_printed_config_hides_url_credentials_and_header_values() {
    let yaml = r#"
prometheus:
  url: http://promuser:prompass@prom:9090/api?token=promtoken
  headers: { Authorization: "Bearer headersecret", X-Scope-OrgID: tenant-7 }
nats:
  url: nats://natsuser:nats%23pass@n1:4222, nats://n2:4222
"#;
    let c = Config::from_yaml(yaml, "t").expect("parses");
    c.validate().expect("valid");
    let printed = c.redacted().to_yaml();
    for secret in [
        "prompass",
        "promtoken",
        "headersecret",
        "tenant-7",
        "nats%23pass",
    ] {
        assert!(!printed.contains(secret), "{secret} in\n{printed}");
    }
    for kept in [
        "@prom:9090/api",
        "Authorization",
        "X-Scope-OrgID",
        "nats://***@n1:4222, nats://n2:4222",
    ] {
        assert!(printed.contains(kept), "{kept} missing from\n{printed}");
    }
    assert_eq!(
        c.prometheus.as_ref().map(|p| p.url.as_str()),
        Some("http://promuser:prompass@prom:9090/api?token=promtoken"),
        "the config itself is untouched"
    );
}

#[test]
fn a_parse_error_names_line_and_column_and_quotes_no_secret() {
    for yaml in [
        "prometheus: {url: \"http://admin:LEAKPW1@127.0.0.1:9\", interval: 5x}",
        "nats: {url: \"nats://admin:LEAKPW1@h:4222\", bogus: 1}",
        "prometheus:\n  auth: { basic: { user: u, password: \"LEAKPW1\" } }",
    ] {
        let err = Config::from_yaml(yaml, "t").expect_err("bad").to_string();
        assert!(err.contains("line ") && err.contains("column "), "{err}");
        assert!(!err.contains(" | "), "no excerpt of the file: {err}");
        assert!(!err.contains("LEAKPW1"), "{err}");
    }
}

#[test]
fn a_url_its_client_cannot_parse_is_refused_without_its_secret() {
    for url in [
        "http://u:SECRET#x@127.0.0.1:9/",
        "http://admin:SECRET@host:99999/",
    ] {
        let yaml = format!("prometheus: {{ url: \"{url}\" }}");
        let c = Config::from_yaml(&yaml, "t").expect("parses");
        let err = c.validate().expect_err("unusable").to_string();
        assert!(
            err.starts_with("prometheus.url") && !err.contains("SECRET"),
            "{err}"
        );
    }
}

#[test]
fn a_bad_url_error_does_not_echo_its_credentials() {
    let c = Config::from_yaml("prometheus: { url: \"ftp://u:hunter2@x\" }", "t").expect("parses");
    let err = c.validate().expect_err("bad scheme").to_string();
    assert!(
        err.starts_with("prometheus.url") && !err.contains("hunter2"),
        "{err}"
    );
}

#[test]
fn an_unknown_goal_or_query_key_is_named_at_its_own_line() {
    let cases = [
        (
            "policies:\n  p1:\n    targets:\n      sessions: 5\n      sesions: 1\n",
            "line 5 column 7",
        ),
        (
            "policies:\n  p1:\n    slo:\n      latency_p95_s: 2\n      error_rat: 0.1\n",
            "line 5 column 7",
        ),
        (
            "prometheus:\n  queries:\n    sessions: x\n    sesions: y\n",
            "line 4 column 5",
        ),
    ];
    for (yaml, line) in cases {
        let err = Config::from_yaml(yaml, "c.yaml")
            .expect_err(yaml)
            .to_string();
        assert!(err.contains("unknown field"), "{err}");
        assert!(err.contains(line), "{err} should name {line}");
    }
}

#[test]
fn a_session_forgotten_before_a_policy_stops_counting_it_is_warned_about() {
    let yaml = "nats: { url: nats://n:4222, session_forget_after: 30m }\n\
                policies: { short: { event_count_ttl: 10m }, long: { event_count_ttl: 3h } }";
    let c = Config::from_yaml(yaml, "t").expect("parses");
    c.validate().expect("valid: a warning, not an error");
    let warnings = c.warnings();
    assert_eq!(warnings.len(), 1, "one sentence: {warnings:?}");
    let w = &warnings[0];
    assert!(
        w.starts_with("nats.session_forget_after (30m) is shorter"),
        "{w}"
    );
    // `default` keeps its 2 h ttl, `long` has 3 h; `short` (10 min) is fine.
    assert!(w.contains("default (2h)") && w.contains("long (3h)"), "{w}");
    assert!(!w.contains("short ("), "{w}");
    assert!(w.ends_with("at least 3h"), "{w}");
    assert!(
        Config::default().warnings().is_empty(),
        "no NATS, nothing to warn about"
    );
    let defaults = Config::from_yaml("nats: { url: nats://n:4222 }", "t").expect("parses");
    assert!(defaults.warnings().is_empty(), "24 h against 2 h: fine");
}

#[test]
fn a_nats_list_splits_at_every_comma_and_refuses_what_would_reach_another_host() {
    let nats = |url: &str| crate::config::NatsConfig {
        url: url.to_owned(),
        ..crate::config::NatsConfig::default()
    };
    assert_eq!(
        nats("nats://a:4222, tls://b:4222,c:4222").urls(),
        ["nats://a:4222", "tls://b:4222", "c:4222"]
    );
    // Every comma separates: a second member is never taken for a password.
    assert_eq!(
        nats("nats://a:4222,u:p@b:4222").urls(),
        ["nats://a:4222", "u:p@b:4222"]
    );
    nats("nats://u:ab%2Ccd@h1:4222,nats://h2:4222")
        .validate()
        .expect("an encoded comma in a password");
    // A member that fails shows the whole list redacted.
    let err = nats("nats://u:abcd@h1:99999,nats://h2:4222")
        .validate()
        .expect_err("bad port")
        .to_string();
    assert!(
        err.starts_with("nats.url") && !err.contains("abcd"),
        "{err}"
    );
    // A `#` or `?` left in a password would reach host `u`.
    for url in ["nats://u:4222#x@h:4222", "http://u:8080?x@h/"] {
        let field = if url.starts_with("http") {
            "prometheus"
        } else {
            "nats"
        };
        let yaml = format!("{field}: {{ url: \"{url}\" }}");
        let c = Config::from_yaml(&yaml, "t").expect("parses");
        let err = c.validate().expect_err(url).to_string();
        assert!(
            err.contains("after a ? or #") && !err.contains("x@"),
            "{err}"
        );
    }
}

#[test]
fn listeners_on_port_0_or_on_other_ips_may_share_a_port_number() {
    for yaml in [
        "server: { grpc_addr: \"127.0.0.1:0\", http_addr: \"127.0.0.1:0\" }",
        "server: { grpc_addr: \"127.0.0.1:9000\", http_addr: \"127.0.0.2:9000\" }",
        "server: { http_auth: { bearer_token_env: api-token.v1 } }",
    ] {
        let c = Config::from_yaml(yaml, "t").expect("parses");
        c.validate().expect(yaml);
    }
}
