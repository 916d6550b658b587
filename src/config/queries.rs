//! `prometheus.queries`: one PromQL template per signal of the catalog
//! ([`crate::signal::SIGNALS`], whose rows give the defaults), plus the two
//! queries that are not loads (`replicas`, `pod_live_work`). In config a map
//! keyed by signal name; a key left out keeps its default, an unknown key is
//! refused with the allowed ones named.

use crate::keyed_map::read_entries;
use crate::signal::{SIGNALS, SignalKind};
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::LazyLock;

/// PromQL templates. `{by}` is replaced by the grouping labels
/// `<namespace_label>, <server_label>`; `{label}` and `{namespace_label}` by
/// each label name alone. Each query must return one series per server
/// carrying both labels (a series without them is rejected and counted). An
/// empty string disables the signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Queries {
    /// One template per signal, indexed by [`SignalKind::index`].
    signals: [String; SignalKind::COUNT],
    /// Replicas each server's workload runs (kube-state-metrics'
    /// `kube_deployment_status_replicas`, relabelled to the server label).
    /// Not a load: a server it reports at 0 replicas is known to have none,
    /// so series that vanished with its pods are zero, not missing data.
    /// Empty (the default) disables it.
    pub replicas: String,
    /// Live work (sessions, open streams, in-flight requests) per pod, for
    /// session-aware scale-in (`kubernetes.deletion_cost`): one series per
    /// pod carrying both labels and `pod`, e.g.
    /// `sum by ({by}, pod) (mcp_active_sessions)`. Empty (the default):
    /// per-pod work comes from NATS events' `pod` field alone.
    pub pod_live_work: String,
}

const REPLICAS: &str = "replicas";
const POD_LIVE_WORK: &str = "pod_live_work";

impl Default for Queries {
    fn default() -> Self {
        Self {
            signals: SIGNALS.map(|s| s.default_query.to_owned()),
            replicas: String::new(),
            pod_live_work: String::new(),
        }
    }
}

impl Queries {
    /// `kind`'s template (empty: disabled).
    pub fn get(&self, kind: SignalKind) -> &str {
        &self.signals[kind.index()]
    }

    /// Sets `kind`'s template (empty disables it).
    pub fn set(&mut self, kind: SignalKind, template: impl Into<String>) {
        self.signals[kind.index()] = template.into();
    }

    /// The template under [`KEYS`]`[i]`: the signals in catalog order, then
    /// `replicas`, then `pod_live_work`.
    fn slot(&mut self, i: usize) -> &mut String {
        match self.signals.get_mut(i) {
            Some(signal) => signal,
            None if i == SignalKind::COUNT => &mut self.replicas,
            None => &mut self.pod_live_work,
        }
    }
}

/// Every key, for serde's unknown-field error (which the YAML parser places
/// at the key's line and column).
static KEYS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut keys: Vec<&'static str> = SIGNALS.iter().map(|s| s.name).collect();
    keys.extend([REPLICAS, POD_LIVE_WORK]);
    keys
});

impl Serialize for Queries {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(SignalKind::COUNT + 2))?;
        for spec in &SIGNALS {
            map.serialize_entry(spec.name, self.get(spec.kind))?;
        }
        map.serialize_entry(REPLICAS, &self.replicas)?;
        map.serialize_entry(POD_LIVE_WORK, &self.pod_live_work)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for Queries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(QueriesVisitor)
    }
}

/// Reads the map over the defaults.
struct QueriesVisitor;

impl<'de> Visitor<'de> for QueriesVisitor {
    type Value = Queries;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a map with any of {}", KEYS.join(", "))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Queries, A::Error> {
        let mut queries = Queries::default();
        read_entries(map, &KEYS, |i, map| {
            *queries.slot(i) = map.next_value()?;
            Ok(())
        })?;
        Ok(queries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_come_from_the_catalog_and_keys_left_out_keep_them() {
        let q: Queries =
            serde_saphyr::from_str("sessions: \"max by ({by}) (s)\"\nreplicas: r\n").unwrap();
        assert_eq!(q.get(SignalKind::Sessions), "max by ({by}) (s)");
        assert_eq!(q.replicas, "r");
        for spec in SIGNALS.iter().filter(|s| s.kind != SignalKind::Sessions) {
            assert_eq!(q.get(spec.kind), spec.default_query);
        }
        let back: Queries = serde_json::from_value(serde_json::to_value(&q).unwrap()).unwrap();
        assert_eq!(back, q);
    }

    #[test]
    fn an_unknown_or_repeated_key_is_refused_with_the_allowed_ones() {
        let err = serde_saphyr::from_str::<Queries>("sesions: x\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("unknown field `sesions`"), "{msg}");
        assert!(
            msg.contains("latency_p95") && msg.contains("pod_live_work"),
            "{msg}"
        );
        let dup = serde_json::from_str::<Queries>(r#"{"replicas":"a","replicas":"b"}"#);
        assert!(dup.unwrap_err().to_string().contains("duplicate field"));
    }
}
