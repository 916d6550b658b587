use super::*;

/// The name serde gives a unit variant (what config and the API accept).
fn serde_name<T: Serialize>(value: T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        other => panic!("not a unit variant: {other:?}"),
    }
}

#[test]
fn every_signal_row_sits_at_its_kinds_index_under_its_serde_name() {
    for (i, kind) in SignalKind::ALL.iter().enumerate() {
        assert_eq!(kind.index(), i);
        assert_eq!(SIGNALS[i].kind, *kind);
        assert_eq!(serde_name(*kind), kind.name());
        assert_eq!(SignalKind::named(kind.name()), Some(*kind));
    }
    assert_eq!(SignalKind::named("nope"), None);
}

#[test]
fn every_metric_row_sits_at_its_metrics_index_under_its_serde_name() {
    for (i, metric) in Metric::ALL.iter().enumerate() {
        assert_eq!(metric.index(), i);
        assert_eq!(METRICS[i].metric, *metric);
        assert_eq!(serde_name(*metric), metric.name());
        let keda = format!("mcp-{}", metric.name().replace('_', "-"));
        assert_eq!(metric.spec().keda_name, keda);
    }
}

#[test]
fn goal_paths_and_override_keys_are_unique() {
    let mut paths: Vec<String> = METRICS.iter().map(MetricSpec::policy_path).collect();
    let mut keys: Vec<&str> = METRICS.iter().filter_map(|m| m.override_key).collect();
    let (n_paths, n_keys) = (paths.len(), keys.len());
    paths.sort();
    paths.dedup();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!((paths.len(), keys.len()), (n_paths, n_keys));
}

#[test]
fn defaults_lie_within_their_bounds() {
    for spec in METRICS {
        if let Some(d) = spec.default {
            assert!(d > 0.0 && d <= spec.max, "{}", spec.name);
        }
    }
}

#[test]
fn an_event_pair_counts_one_signal_only() {
    let events: Vec<EventKind> = SIGNALS
        .iter()
        .filter_map(|s| s.counted_by)
        .flat_map(|c| [c.open, c.close])
        .collect();
    for (i, e) in events.iter().enumerate() {
        assert!(!events[i + 1..].contains(e), "{e:?} counts twice");
    }
    assert!(!events.contains(&EventKind::Request));
    for spec in SIGNALS {
        if let Some(c) = spec.counted_by {
            assert_eq!(c.name, format!("event_{}", spec.name));
        }
    }
}
