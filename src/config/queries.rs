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

/// Longest template (a PromQL query is a few hundred bytes; Prometheus
/// gets it in the URL).
pub const MAX_TEMPLATE_BYTES: usize = 8192;

/// The placeholders a template may hold.
const PLACEHOLDERS: [&str; 3] = ["by", "label", "namespace_label"];

/// `template` with its placeholders filled: `{by}` with both labels,
/// `{namespace_label}` and `{label}` with each alone.
pub(super) fn fill(template: &str, namespace_label: &str, server_label: &str) -> String {
    let by = format!("{namespace_label}, {server_label}");
    let values: [&str; 3] = [&by, server_label, namespace_label];
    PLACEHOLDERS
        .iter()
        .zip(values)
        .fold(template.to_owned(), |text, (name, value)| {
            text.replace(&format!("{{{name}}}"), value)
        })
}

impl Queries {
    /// Checks every template: at most [`MAX_TEMPLATE_BYTES`], only known
    /// placeholders, brackets that close in order (outside strings and
    /// `#` comments). Not a
    /// PromQL parser: what passes may still fail in Prometheus, which the
    /// scaler then reports (every poll of that signal fails).
    pub(crate) fn validate(&self) -> Result<(), super::ConfigError> {
        let templates = self
            .signals
            .iter()
            .chain([&self.replicas, &self.pod_live_work]);
        for (key, template) in KEYS.iter().zip(templates) {
            check_template(template).map_err(|message| {
                super::ConfigError::invalid(format!("prometheus.queries.{key}"), message)
            })?;
        }
        Ok(())
    }
}

fn check_template(template: &str) -> Result<(), String> {
    if template.len() > MAX_TEMPLATE_BYTES {
        return Err(format!(
            "is {} bytes, more than {MAX_TEMPLATE_BYTES}",
            template.len()
        ));
    }
    let mut open: Vec<char> = Vec::new();
    let mut quote: Option<char> = None;
    let mut chars = template.char_indices();
    while let Some((at, c)) = chars.next() {
        if let Some(q) = quote {
            match c {
                '\\' if q != '`' => {
                    chars.next();
                }
                c if c == q => quote = None,
                _ => {}
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            // A comment runs to the end of the line.
            '#' => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '{' => match placeholder(&template[at + 1..]) {
                Some(word) if !PLACEHOLDERS.contains(&word) => {
                    return Err(format!(
                        "unknown placeholder {{{word}}} (allowed: {{by}}, {{label}}, \
                         {{namespace_label}})"
                    ));
                }
                // Past the word and its `}`.
                Some(word) => {
                    let _ = chars.nth(word.len());
                }
                None => open.push('}'),
            },
            '(' => open.push(')'),
            '[' => open.push(']'),
            // Each closes the bracket open last.
            ')' | ']' | '}' if open.pop() != Some(c) => {
                return Err(format!("{c:?} at byte {at} closes nothing open"));
            }
            _ => {}
        }
    }
    if quote.is_some() {
        return Err("a string is not closed".to_owned());
    }
    match open.last() {
        Some(c) => Err(format!(
            "{c:?} missing at the end ({} bracket(s) not closed)",
            open.len()
        )),
        None => Ok(()),
    }
}

/// The word of a `{word}` placeholder that `rest` (the text after a `{`)
/// begins with.
fn placeholder(rest: &str) -> Option<&str> {
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (end > 0 && rest[end..].starts_with('}')).then(|| &rest[..end])
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
    fn templates_with_unknown_placeholders_or_open_brackets_are_refused() {
        for good in [
            "",
            "sum by ({by}) (rate(x{job=\"a(\"}[1m]))",
            "max by ({namespace_label}, {label}, pod) (y{a='}'})",
            "histogram_quantile(0.99, sum by ({by}, le) (rate(h_bucket[5m])))",
            "sum by ({by}) (x) # a comment ) with \" a quote",
            "# leading comment (\nsum by ({by}) (x{a=\"#\"})",
        ] {
            assert_eq!(check_template(good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("sum by ({bogus}) (up)", "unknown placeholder {bogus}"),
            ("sum((", "not closed"),
            ("sum(x))", "closes nothing"),
            ("rate(x[1m)]", "closes nothing"),
            ("x{a=\"b}", "string is not closed"),
        ] {
            let err = check_template(bad).expect_err(bad);
            assert!(err.contains(says), "{bad}: {err}");
        }
        let long = "x".repeat(MAX_TEMPLATE_BYTES + 1);
        assert!(check_template(&long).is_err());
        let mut q = Queries::default();
        q.set(SignalKind::Sessions, "sum by ({bogus}) (up)");
        let err = q.validate().expect_err("bad").to_string();
        assert!(err.starts_with("prometheus.queries.sessions"), "{err}");
        assert_eq!(
            Queries::default().validate().map_err(|e| e.to_string()),
            Ok(())
        );
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
