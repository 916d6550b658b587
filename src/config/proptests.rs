//! Property tests: no config text makes parsing or validation panic, and a
//! config that validates is one the engine and `check-config` can use.

use super::*;
use proptest::prelude::*;

/// Pieces of YAML, config field names and nasty values, glued at random.
const TOKENS: &[&str] = &[
    "\n",
    "\n  ",
    "\n    ",
    " ",
    ": ",
    ", ",
    "{ ",
    " }",
    "[",
    "]",
    "- ",
    "#",
    "'",
    "\"",
    "&a ",
    "*a",
    "<<: ",
    "!!str ",
    "!!float ",
    "~",
    "null",
    "true",
    "---",
    "...",
    "|",
    ">",
    "? ",
    "server",
    "max_metadata_bytes",
    "max_streams",
    "max_streams_per_connection",
    "log",
    "level",
    "default_policy",
    "policies",
    "default",
    "p1",
    "min_replicas",
    "max_replicas",
    "idle_window",
    "targets",
    "sessions",
    "behavior",
    "tolerance",
    "panic",
    "keep_alive",
    "predictive",
    "prometheus",
    "url",
    "interval",
    "headers",
    "nats",
    "jetstream",
    "max_age",
    "0",
    "-1",
    "1e300",
    ".nan",
    ".inf",
    "-.inf",
    "18446744073709551615",
    "18446744073709551616s",
    "7days",
    "5m",
    "0s",
    "🙂",
    "é",
];

/// A policy, server or source field and where it goes, with `$V` for the value.
const FIELDS: &[&str] = &[
    "server: { max_metadata_bytes: $V }",
    "server: { grpc_addr: $V }",
    "default_policy: $V",
    "policies: { p1: { min_replicas: $V } }",
    "policies: { p1: { max_replicas: $V } }",
    "policies: { p1: { idle_window: $V } }",
    "policies: { p1: { event_count_ttl: $V } }",
    "policies: { p1: { stale_after: $V } }",
    "policies: { p1: { unavailable_after: $V } }",
    "policies: { p1: { targets: { sessions: $V } } }",
    "policies: { p1: { slo: { latency_p95_s: $V } } }",
    "policies: { p1: { slo: { error_rate: $V } } }",
    "policies: { p1: { activity: { kind: instant, metric: sessions, above: $V } } }",
    "policies: { p1: { keep_alive: { predictive: { grace: $V } } } }",
    "policies: { p1: { keep_alive: { predictive: { max_keep_alive: $V } } } }",
    "policies: { p1: { keep_alive: { predictive: { min_samples: $V } } } }",
    "policies: { p1: { keep_alive: { predictive: { margin: $V } } } }",
    "policies: { p1: { behavior: { tolerance: $V } } }",
    "policies: { p1: { behavior: { scale_down_window: $V } } }",
    "policies: { p1: { behavior: { scale_up: { pods: $V, percent: 100, period: 15s } } } }",
    "policies: { p1: { behavior: { scale_up: { pods: 4, percent: $V, period: 15s } } } }",
    "policies: { p1: { behavior: { scale_up: { pods: 4, percent: 100, period: $V } } } }",
    "policies: { p1: { behavior: { panic: { threshold: $V, window: 60s } } } }",
    "policies: { p1: { behavior: { panic: { threshold: 2, window: $V } } } }",
    "policies: { p1: { algorithm: { kind: step_rule, queue_above: $V } } }",
    "policies: { p1: { algorithm: { kind: step_rule, max_replicas: $V } } }",
    "prometheus: { interval: $V }",
    "prometheus: { timeout: $V }",
    "prometheus: { url: $V }",
    "prometheus: { headers: { X-Token: $V } }",
    "nats: { url: $V }",
    "nats: { jetstream: { max_age: $V } }",
    "nats: { jetstream: { replay_window: $V } }",
    "server: { max_streams_per_connection: $V }",
    "server: { max_streams: $V }",
];

const VALUES: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "0.5",
    "0.9999999",
    "1.0",
    "2",
    "100",
    "10000",
    "10001",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "1e9",
    "1e300",
    "-1e300",
    ".nan",
    ".NaN",
    ".inf",
    "-.inf",
    "NaN",
    "inf",
    "null",
    "~",
    "\"\"",
    "true",
    "[]",
    "{}",
    "0s",
    "1ns",
    "1s",
    "2h",
    "24h",
    "25h",
    "7days",
    "8days",
    "18446744073709551615s",
    "999999999999999999999h",
    "5 m",
    "-5m",
    "soon",
    "\"🙂\"",
    "http://u:p@h:9090",
    "nats://u:p@n:4222",
    "\"a\\u0000b\"",
    "127.0.0.1:99999",
];

fn template(i: usize, value: &str) -> String {
    FIELDS[i].replace("$V", value)
}

fn structured() -> impl Strategy<Value = String> {
    (prop::collection::vec(
        (0..FIELDS.len(), prop::sample::select(VALUES)),
        1..3,
    ),)
        .prop_map(|(fields,)| {
            // Each field on its own document line; duplicate top-level keys
            // are themselves a parse error, which is fine.
            fields
                .iter()
                .map(|&(i, v)| template(i, v))
                .collect::<Vec<_>>()
                .join("\n")
        })
}

fn yamlish() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::collection::vec(prop::sample::select(TOKENS), 0..40).prop_map(|t| t.concat()),
        3 => structured(),
        1 => any::<String>(),
    ]
}

/// A config that validated must be usable: every policy plans keep-alive
/// and decides without a panic, and the printed (redacted) config parses back and validates.
fn check_usable(config: &Config) -> Result<(), TestCaseError> {
    for (name, policy) in &config.policies {
        prop_assert_eq!(policy.validate(), Ok(()), "{}", name);
        crate::metadata::proptests::exercise(policy);
    }
    let printed = config.redacted().to_yaml();
    let again = Config::from_yaml(&printed, "printed");
    prop_assert!(again.is_ok(), "{:?}\n{}", again.err(), printed);
    if let Ok(again) = again {
        prop_assert!(
            again.validate().is_ok(),
            "{:?}\n{}",
            again.validate().err(),
            printed
        );
    }
    Ok(())
}

/// Every duration field of the config, as a template.
const DURATION_FIELDS: &[&str] = &[
    "policies: { p1: { idle_window: $V } }",
    "policies: { p1: { event_count_ttl: $V } }",
    "policies: { p1: { stale_after: 1s, unavailable_after: $V } }",
    "policies: { p1: { keep_alive: { predictive: { max_keep_alive: $V } } } }",
    "policies: { p1: { keep_alive: { predictive: { grace: $V, max_keep_alive: $V } } } }",
    "policies: { p1: { behavior: { scale_up_window: $V, scale_down_window: $V } } }",
    "policies: { p1: { behavior: { scale_down: { pods: 1, percent: 50, period: $V } } } }",
    "policies: { p1: { behavior: { panic: { threshold: 2, window: $V } } } }",
    "prometheus: { interval: $V, timeout: $V }",
    "nats: { jetstream: { replay_window: $V, max_age: $V } }",
];

proptest! {
    #[test]
    fn durations_of_any_size_are_bounded_or_refused(
        field in prop::sample::select(DURATION_FIELDS),
        secs in crate::metadata::proptests::edge_u64(),
    ) {
        for unit in crate::metadata::proptests::UNITS {
            let text = field.replace("$V", &format!("{secs}{unit}"));
            if let Ok(config) = Config::from_yaml(&text, "fuzz.yaml")
                && config.validate().is_ok()
            {
                check_usable(&config)?;
            }
        }
    }

    #[test]
    fn no_config_text_panics_and_a_valid_one_is_usable(text in yamlish()) {
        if let Ok(config) = Config::from_yaml(&text, "fuzz.yaml")
            && config.validate().is_ok()
        {
            check_usable(&config)?;
        }
    }
}

#[test]
fn the_templates_reach_validation() {
    let config = Config::from_yaml(&template(5, "5m"), "t").expect("parses");
    assert_eq!(
        config.policies["p1"].idle_window,
        std::time::Duration::from_secs(300)
    );
    config.validate().expect("valid");
}
