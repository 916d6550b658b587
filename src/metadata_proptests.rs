//! Property tests: no `scalerMetadata` makes [`resolve`] panic, and whatever
//! it accepts is a valid policy the engine can plan with.

use super::*;
use crate::engine::limits::MAX_KEEP_WARM;
use crate::engine::{IdleGaps, decide, keepalive};
use crate::signal::{SignalKind, Signals};
use crate::time::Timestamp;
use proptest::prelude::*;

const NOW: Timestamp = Timestamp::from_millis(1_000_000_000);

fn config() -> Config {
    let yaml = "policies: { fast: { idle_window: 30s, keep_alive: fixed, max_replicas: 3 } }";
    let config = Config::from_yaml(yaml, "t").expect("config");
    config.validate().expect("valid");
    config
}

/// Values that have broken parsers before: edges of every range, overflow,
/// NaN and infinities in their many spellings, units, unicode digits.
const NASTY: &[&str] = &[
    "",
    " ",
    "0",
    "-0",
    "-1",
    "1",
    "2",
    "10000",
    "10001",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "18446744073709551615s",
    "1e9",
    "1e9.0",
    "1000000001",
    "1e300",
    "1e-300",
    "5e-324",
    "NaN",
    "nan",
    "-NaN",
    "inf",
    "-inf",
    "Infinity",
    "+inf",
    "off",
    "OFF",
    "Off",
    "fixed",
    "predictive",
    "desired",
    "native",
    "0s",
    "1ns",
    "1s",
    "59s",
    "7days",
    "7days 1ns",
    "168h",
    "24h",
    "24h 1s",
    "25h",
    "2w",
    "1y",
    "999999999999999999h",
    "1h30m",
    " 5m ",
    "5 m",
    "-5m",
    "default",
    "fast",
    "hpa",
    "knative-kpa",
    "infra-plan-rule",
    "weather",
    "tenant-7",
    "Bad_ID",
    "a.b",
    "５",
    "٣",
    "🙂",
    "\u{0}",
    "\u{202e}5m",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(NASTY).prop_map(str::to_owned),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|f| f.to_string()),
        2 => (edge_u64(), prop::sample::select(UNITS)).prop_map(|(n, unit)| format!("{n}{unit}")),
        1 => any::<String>(),
    ]
}

/// Whole numbers biased to the edges where arithmetic overflows.
pub(crate) fn edge_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => Just(u64::MAX),
        2 => (u64::MAX - 1_000)..=u64::MAX,
        1 => any::<u64>(),
        3 => 0..10_000_000u64,
    ]
}

/// humantime units, long and short.
pub(crate) const UNITS: &[&str] = &["ns", "ms", "s", "m", "h", "d", "days", "w", "y"];

fn key() -> impl Strategy<Value = String> {
    let allowed: Vec<String> = allowed_keys().split(", ").map(str::to_owned).collect();
    prop_oneof![
        6 => prop::sample::select(allowed),
        1 => "[a-zA-Z]{0,16}",
        1 => any::<String>(),
    ]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(&["weather", "tenant-7", "a"][..]).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

fn metadata() -> impl Strategy<Value = HashMap<String, String>> {
    prop::collection::hash_map(key(), value(), 0..10)
}

/// Hourly idle gaps: the predictive plan with a pre-warm.
fn hourly() -> IdleGaps {
    let mut gaps = IdleGaps::default();
    for _ in 0..20 {
        gaps.record(
            Duration::from_secs(59 * 60),
            crate::time::Timestamp::from_millis(0),
        );
    }
    gaps
}

/// Runs what the engine runs with a policy, at the edges of time.
pub(crate) fn exercise(policy: &Policy) {
    let plan = keepalive::plan(&policy.keep_alive, policy.idle_window, &hourly());
    for last in [Timestamp::from_millis(0), Timestamp::from_millis(u64::MAX)] {
        let _ = keepalive::warm_at(&plan, last, last + MAX_KEEP_WARM);
    }
    let mut busy = Signals::default();
    busy.feed.poller_configured = true;
    busy.feed.polled_at = Some(NOW);
    busy.set(SignalKind::Sessions, 1e12);
    busy.finish_poll(NOW);
    for signals in [Signals::default(), busy] {
        let _ = decide(&signals, policy, NOW);
        let _ = decide(&signals, policy, NOW + policy.idle_window);
    }
}

/// Keys checked against each other: an error may name the partner instead.
fn partner(key: &str) -> &str {
    match key {
        "staleAfter" => "unavailableAfter",
        "unavailableAfter" => "staleAfter",
        "maxReplicas" => "minReplicas",
        other => other,
    }
}

proptest! {
    #[test]
    fn any_metadata_resolves_or_is_refused_without_panicking(name in name(), md in metadata()) {
        match resolve("tenants", &name, &md, &config()) {
            Ok(target) => {
                prop_assert_eq!(target.policy.validate(), Ok(()));
                exercise(&target.policy);
            }
            Err(MetadataError::BadValue { key, expected, .. }) => {
                let known = allowed_keys();
                prop_assert!(
                    key.starts_with("name (") || known.split(", ").any(|k| k == key),
                    "unknown key named in an error: {key:?}"
                );
                prop_assert!(!expected.is_empty());
            }
            Err(MetadataError::UnknownKey { key, .. }) => {
                prop_assert!(md.keys().any(|k| k.starts_with(&key)), "{key:?}");
            }
            Err(MetadataError::TooLarge { .. }) => {}
        }
    }

    #[test]
    fn durations_of_any_size_are_bounded_or_refused(
        key in prop::sample::select(&["idleWindow", "staleAfter", "unavailableAfter", "scaleDownWindow"][..]),
        secs in edge_u64(),
        keep_alive in prop::sample::select(&["fixed", "predictive"][..]),
    ) {
        for unit in UNITS {
            let md = HashMap::from([
                (key.to_owned(), format!("{secs}{unit}")),
                ("keepAlive".to_owned(), keep_alive.to_owned()),
            ]);
            match resolve("tenants", "weather", &md, &config()) {
                Ok(target) => {
                    prop_assert_eq!(target.policy.validate(), Ok(()));
                    exercise(&target.policy);
                }
                Err(e) => {
                    let shown = e.to_string();
                    prop_assert!(shown.contains(key) || shown.contains(partner(key)), "{e}");
                }
            }
        }
    }

    #[test]
    fn a_single_override_that_is_refused_names_its_own_key(
        key in prop::sample::select(override_keys().collect::<Vec<_>>()),
        value in value(),
    ) {
        let md = HashMap::from([(key.to_owned(), value)]);
        let resolved = resolve("tenants", "weather", &md, &config());
        if let Ok(target) = &resolved {
            prop_assert_eq!(target.policy.validate(), Ok(()));
            exercise(&target.policy);
        }
        if let Err(e) = resolved {
            let MetadataError::BadValue { key: named, .. } = &e else {
                return Err(TestCaseError::fail(format!("{e}")));
            };
            prop_assert!(named == key || named == partner(key), "{e}");
        }
    }
}
