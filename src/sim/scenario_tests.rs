use super::*;

fn parse(yaml: &str) -> Result<Scenario, ScenarioError> {
    Scenario::from_yaml(yaml, "s.yaml")
}

#[test]
fn the_builtin_scenario_parses_and_validates_with_every_builtin_policy() {
    let s = Scenario::builtin();
    let runs = s.validate("<built-in>").expect("valid");
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "default",
            "default-apply",
            "hpa",
            "keda-prometheus",
            "keep-alive-10m",
            "infra-plan-rule",
            "knative-kpa",
            "oracle"
        ]
    );
    // The same policy, applied by the scaler itself every apply interval.
    let apply = &runs[1];
    assert_eq!(apply.policy, runs[0].policy);
    assert_eq!(
        (apply.wiring.actuator, apply.wiring.activation),
        (Actuator::Direct, Activation::Push)
    );
    assert_eq!(
        apply.wiring.direct_period,
        Some(crate::config::ApplyConfig::default().interval)
    );
    assert!(apply.wiring.deletion_cost);
}

#[test]
fn a_wiring_sets_the_hpa_scale_up_policy_its_scaled_object_would() {
    let s = parse(
        "wiring: { default: { events: true, activation: push, actuator: hpa,\n  \
         hpa_scale_down_window: 30s, hpa_scale_up: { pods: 100, percent: 1000, period: 15s } } }",
    )
    .expect("parses");
    let runs = s.validate("s.yaml").expect("valid");
    let hpa = s.control.hpa_behavior(&runs[0].wiring, &runs[0].policy);
    assert_eq!((hpa.scale_up.pods, hpa.scale_up.percent), (100, 1000.0));
    assert_eq!(hpa.scale_down_window, Duration::from_secs(30));
    // Unset: what `manifests` writes for the policy, its own scale-up as an
    // HPA holds it: the burst limit for ours, Kubernetes' default for the
    // baselines that poll through an HPA.
    let burst = crate::engine::BURST_SCALE_UP;
    let slow = crate::engine::Behavior::hpa_default().scale_up;
    for (name, scale_up) in [
        ("default", burst),
        ("oracle", burst),
        ("keep-alive-10m", burst),
        ("hpa", slow),
        ("keda-prometheus", slow),
        ("infra-plan-rule", slow),
    ] {
        let policy = s.named_policy(name).expect("built in");
        let wiring = Wiring::for_policy(name);
        assert_eq!(wiring.hpa_scale_up, None, "{name}");
        let hpa = s.control.hpa_behavior(&wiring, &policy);
        assert_eq!(hpa.scale_up, scale_up, "{name}");
    }
    // A policy of its own scales up through an HPA that lets it: a faster
    // limit than the default is modelled as `manifests` writes it.
    let fast = parse(
        "policies: [quick]\n\
         define: { quick: { behavior: { scale_up: { pods: 500, percent: 0, period: 5s } } } }",
    )
    .expect("parses");
    let runs = fast.validate("s.yaml").expect("valid");
    let hpa = fast.control.hpa_behavior(&runs[0].wiring, &runs[0].policy);
    assert_eq!(
        (hpa.scale_up.pods, hpa.scale_up.period),
        (1500, Duration::from_secs(15))
    );
}

#[test]
fn default_apply_runs_the_default_the_scenario_defines() {
    let s = parse(
        "define: { default: { idle_window: 17m, max_replicas: 3 } }\n\
         policies: [default, default-apply]",
    )
    .expect("parses");
    let runs = s.validate("s.yaml").expect("valid");
    assert_eq!(runs[1].name, "default-apply");
    assert_eq!(runs[1].policy, runs[0].policy);
    assert_eq!(runs[1].policy.max_replicas, 3);
    assert_ne!(runs[1].policy, Policy::default());
}

#[test]
fn an_unknown_field_is_named_with_its_line_and_column() {
    let err = parse("name: x\nserver:\n  concurency: 4\n")
        .expect_err("unknown")
        .to_string();
    assert!(err.starts_with("s.yaml:"), "{err}");
    assert!(err.contains("concurency"), "{err}");
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn each_out_of_range_value_names_its_full_field_path() {
    let cases = [
        ("server: { concurrency: 0 }", "server.concurrency"),
        ("duration: 10s", "duration"),
        ("control: { rate_window: 15s }", "control.rate_window"),
        ("control: { hpa_tolerance: 1.5 }", "control.hpa_tolerance"),
        ("cost_per_replica_hour: -1", "cost_per_replica_hour"),
        (
            "workload: { synthetic: { servers: 0 } }",
            "workload.synthetic.servers",
        ),
        (
            "workload: { synthetic: { sessions: { requests: 1e12 } } }",
            "workload.synthetic.sessions.requests",
        ),
        (
            "workload: { synthetic: { sessions: { mean_duration: 2d } } }",
            "workload.synthetic.sessions.mean_duration",
        ),
        (
            "workload: { synthetic: { bursts: { per_hour: 1e9 } } }",
            "workload.synthetic.bursts.per_hour",
        ),
        (
            "workload: { synthetic: { streams: { server_fraction: 1.5 } } }",
            "workload.synthetic.streams.server_fraction",
        ),
        (
            "workload: { synthetic: { streams: { per_request: -1 } } }",
            "workload.synthetic.streams.per_request",
        ),
        (
            "workload: { synthetic: { streams: { mean_duration: 2d } } }",
            "workload.synthetic.streams.mean_duration",
        ),
        (
            "workload: { synthetic: { streams: { mean_duration: 0s } } }",
            "workload.synthetic.streams.mean_duration",
        ),
        (
            // Opening faster than any request rate allowed.
            "workload: { synthetic: { max_rate_per_s: 10000,\n  \
             sessions: { server_fraction: 0 },\n  \
             streams: { server_fraction: 0.1, per_request: 2, mean_duration: 1s } } }",
            "workload.synthetic.streams.per_request",
        ),
        (
            // Too many open at once on one server.
            "workload: { synthetic: { max_rate_per_s: 100,\n  \
             sessions: { server_fraction: 0 },\n  \
             streams: { server_fraction: 0.1, per_request: 10, mean_duration: 1h } } }",
            "workload.synthetic.streams.mean_duration",
        ),
        ("policies: [nope]", "policies[0]"),
        // Durations from outside are bounded.
        ("server: { cold_start: 2h }", "server.cold_start"),
        ("server: { service_time: 10000000h }", "server.service_time"),
        ("slo_latency: 0s", "slo_latency"),
        ("control: { query_interval: 2h }", "control.query_interval"),
        (
            "control: { scrape_interval: 40m }",
            "control.scrape_interval",
        ),
        (
            "control: { cooldown_period: 25h }",
            "control.cooldown_period",
        ),
        (
            "control: { hpa_scale_down_window: 61m }",
            "control.hpa_scale_down_window",
        ),
        (
            "wiring: { default: { events: true, activation: push, actuator: hpa,\n  \
             hpa_scale_down_window: 2h } }",
            "wiring.default.hpa_scale_down_window",
        ),
        (
            "workload: { synthetic: { sessions: { mean_duration: 0s } } }",
            "workload.synthetic.sessions.mean_duration",
        ),
        // A name the reports' tables and file names can hold.
        ("define: { \"a|b\": {} }\npolicies: [\"a|b\"]", "define.a|b"),
        ("define: { \"\": {} }", "define."),
        // The oracle is the bound every report measures against.
        ("define: { oracle: { max_replicas: 3 } }", "define.oracle"),
        (
            "wiring: { oracle: { events: true, activation: push, actuator: hpa } }",
            "wiring.oracle.activation",
        ),
        (
            "wiring: { default: { events: true, activation: push, actuator: direct,\n  \
             cooldown_period: 1m } }",
            "wiring.default.cooldown_period",
        ),
        (
            "wiring: { default: { events: true, activation: push, actuator: direct,\n  \
             hpa_scale_down_window: 1m } }",
            "wiring.default.hpa_scale_down_window",
        ),
        ("policies: [default, default]", "policies"),
        (
            "wiring: { nope: { events: true, activation: push, actuator: hpa } }",
            "wiring.nope",
        ),
        (
            "wiring: { default: { events: true, activation: push, actuator: direct,\n  \
             direct_period: 10ms } }",
            "wiring.default.direct_period",
        ),
        (
            "wiring: { default: { events: true, activation: push, actuator: direct,\n  \
             direct_period: 2h } }",
            "wiring.default.direct_period",
        ),
        (
            "wiring: { default: { events: true, activation: push, actuator: hpa,\n  \
             direct_period: 10s } }",
            "wiring.default.direct_period",
        ),
        (
            "wiring: { default: { events: true, activation: push, actuator: hpa,\n  \
             hpa_scale_up: { pods: 4, percent: -1, period: 15s } } }",
            "wiring.default.hpa_scale_up.percent",
        ),
        (
            "wiring: { default: { events: true, activation: push, actuator: direct,\n  \
             hpa_scale_up: { pods: 4, percent: 100, period: 15s } } }",
            "wiring.default.hpa_scale_up",
        ),
        (
            "wiring: { default: { events: true, activation: push, actuator: hpa,\n  \
             hpa_scale_up: { pods: 4, percent: 100, period: 1500ms } } }",
            "wiring.default.hpa_scale_up.period",
        ),
        (
            "wiring: { default: { events: true, activation: push, actuator: hpa,\n  \
             hpa_scale_up: { pods: 4, percent: 12.5, period: 15s } } }",
            "wiring.default.hpa_scale_up.percent",
        ),
        (
            "define: { mine: { max_replicas: 0 } }\npolicies: [mine]",
            "define.mine.max_replicas",
        ),
        (
            // Defined but not listed: `--policy mine` could still pick it.
            "define: { mine: { min_replicas: 5, max_replicas: 2 } }\npolicies: [default]",
            "define.mine.min_replicas",
        ),
        ("cost_per_replica_hour: 1e308", "cost_per_replica_hour"),
        ("timeline: { servers: [mcp-1, mcp-1] }", "timeline.servers"),
        (
            "sweeps: [{ policy: nope, vary: { idle_window: [1m] } }]",
            "sweeps[0].policy",
        ),
        (
            "sweeps: [{ policy: default, vary: { idle_windw: [1m] } }]",
            "sweeps[0].vary.idle_windw",
        ),
    ];
    for (yaml, field) in cases {
        let s = parse(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
        match s.validate("s.yaml") {
            Err(ScenarioError::Invalid {
                field: f, origin, ..
            }) => {
                assert_eq!(f, field, "{yaml}");
                assert_eq!(origin, "s.yaml");
            }
            other => panic!("{yaml}: {other:?}"),
        }
    }
}

#[test]
fn sessions_that_would_hold_too_many_requests_in_memory_are_refused() {
    let long = "workload: { synthetic: { max_rate_per_s: 10000, bursts: { factor: 100 },\n  \
                sessions: { server_fraction: 0.5, mean_duration: 12h } } }";
    let s = parse(long).expect("parses");
    match s.validate("s.yaml") {
        Err(ScenarioError::Invalid { field, message, .. }) => {
            assert_eq!(field, "workload.synthetic.sessions.mean_duration");
            assert!(message.contains("in memory"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let short = long.replace("12h", "1s");
    assert!(parse(&short).expect("parses").validate("s.yaml").is_ok());
}

#[test]
fn defined_policies_and_sweeps_join_the_run_with_their_wiring() {
    let s = parse(
        "policies: [default, mine]\n\
         define: { mine: { idle_window: 2m } }\n\
         wiring: { mine: { events: false, activation: poll, actuator: hpa } }\n\
         sweeps: [{ policy: mine, vary: { idle_window: [1m, 3m] } }]\n",
    )
    .expect("parses");
    let runs = s.validate("s.yaml").expect("valid");
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "default",
            "mine",
            "mine{idle_window=1m}",
            "mine{idle_window=3m}",
            "oracle",
        ]
    );
    assert_eq!(runs[1].policy.idle_window, Duration::from_secs(120));
    assert_eq!(runs[1].wiring.activation, Activation::Poll);
    assert_eq!(
        runs[3].wiring.activation,
        Activation::Poll,
        "a sweep keeps its base's wiring"
    );
    assert_eq!(runs[0].wiring, Wiring::for_policy("default"));
}

#[test]
fn a_trace_path_is_relative_to_the_scenario_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.yaml");
    std::fs::write(
        &path,
        "workload: { trace: { file: t.csv, format: events } }\n",
    )
    .expect("write");
    let s = Scenario::load(&path).expect("loads");
    match s.workload {
        Workload::Trace(t) => assert_eq!(t.file, dir.path().join("t.csv")),
        Workload::Synthetic(_) => panic!("trace expected"),
    }
}

#[test]
fn a_workload_is_one_of_its_two_kinds_and_says_so() {
    for (yaml, wanted) in [
        (
            "workload: {}",
            "give `synthetic: {...}` or `trace: { file, format }`",
        ),
        (
            "workload: { synthetic: {}, trace: { file: t.csv, format: events } }",
            "not both",
        ),
        (
            "workload: { tracee: {} }",
            "expected one of synthetic, trace",
        ),
    ] {
        let err = parse(yaml).expect_err(yaml).to_string();
        assert!(
            err.contains(wanted) && err.contains("s.yaml"),
            "{yaml}: {err}"
        );
    }
    let s = parse("workload: { trace: { file: t.csv, format: azure } }").expect("one kind");
    assert!(matches!(s.workload, Workload::Trace(_)));
}
