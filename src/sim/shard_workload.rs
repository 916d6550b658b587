//! What a shard's workload was made from, so that a merge refuses shards
//! run over different traces: a synthetic workload is described by the
//! scenario itself; a trace is named by a digest of its bytes (its path
//! may be written differently on each machine of a sharded run).

use super::scenario::{Scenario, Workload};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// How a trace replay (`--trace`) names its scenario.
pub fn replay_name(file: &Path) -> String {
    format!("trace replay of {}", file.display())
}

/// A reader that digests what is read through it.
pub struct Digesting<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Digesting<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// `sha256:` and the hex digest of every byte read.
    pub fn finish(self) -> String {
        format!("sha256:{:x}", self.hasher.finalize())
    }
}

impl<R: Read> Read for Digesting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// How scenario `a` (of trace digest `a_digest`) differs from `b`, in
/// words, or `None` when two shards ran the same: equal, or equal but for
/// how the path of one trace (of equal digests) was written, which a trace
/// replay's name repeats.
pub fn scenario_difference(
    a: &Scenario,
    a_digest: &str,
    b: &Scenario,
    b_digest: &str,
) -> Option<String> {
    if a_digest != b_digest {
        return Some("the trace's bytes differ".into());
    }
    let mut b = b.clone();
    if let (Workload::Trace(x), Workload::Trace(y)) = (&a.workload, &b.workload)
        && !a_digest.is_empty()
    {
        // A trace replay's name repeats its path; a scenario file's name
        // is its own.
        let same_names = a.name == replay_name(&x.file) && b.name == replay_name(&y.file);
        let file = x.file.clone();
        if same_names {
            b.name.clone_from(&a.name);
        }
        if let Workload::Trace(y) = &mut b.workload {
            y.file = file;
        }
    }
    if *a == b {
        return None;
    }
    let (Ok(a), Ok(b)) = (serde_json::to_value(a), serde_json::to_value(&b)) else {
        return Some("the scenario differs".into());
    };
    Some(match first_difference(&a, &b, String::new()) {
        Some((path, x, y)) => format!("the scenario's `{path}` differs ({x} against {y})"),
        None => "the scenario differs".into(),
    })
}

/// The path of the first value that differs between `a` and `b`, and the
/// two values (shortened).
fn first_difference(
    a: &serde_json::Value,
    b: &serde_json::Value,
    path: String,
) -> Option<(String, String, String)> {
    use serde_json::Value;
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys = x.keys().chain(y.keys().filter(|k| !x.contains_key(*k)));
            keys.into_iter().find_map(|k| {
                let (u, v) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                (u != v).then(|| first_difference(u, v, join(k)))?
            })
        }
        _ if a == b => None,
        _ => Some((path, shorten(a), shorten(b))),
    }
}

/// A value in at most 60 characters.
fn shorten(v: &serde_json::Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::{TraceFormat, TraceSource};

    fn over(file: &str) -> Scenario {
        Scenario {
            workload: Workload::Trace(TraceSource {
                file: file.into(),
                format: TraceFormat::Events,
            }),
            ..Scenario::default()
        }
    }

    fn digest(bytes: &[u8]) -> String {
        let mut d = Digesting::new(bytes);
        std::io::copy(&mut d, &mut std::io::sink()).expect("read");
        d.finish()
    }

    #[test]
    fn a_trace_is_named_by_its_bytes_not_its_path() {
        let one = digest(b"time_s,server,kind,session,service_s\n1,a,request,,\n");
        assert!(one.starts_with("sha256:") && one.len() == 7 + 64, "{one}");
        let (a, b) = (over("t.csv"), over("./t.csv"));
        assert!(
            scenario_difference(&a, &one, &b, &one).is_none(),
            "same bytes"
        );
        let other = digest(b"time_s,server,kind,session,service_s\n1,a,request,,2\n");
        assert_eq!(
            scenario_difference(&a, &one, &b, &other).as_deref(),
            Some("the trace's bytes differ")
        );
        // Scenario files that differ otherwise (their names) do differ.
        let named = Scenario {
            name: "another".into(),
            ..over("t.csv")
        };
        assert_eq!(
            scenario_difference(&named, &one, &a, &one).as_deref(),
            Some("the scenario's `name` differs (\"another\" against \"scenario\")")
        );
    }

    #[test]
    fn only_a_trace_replays_own_name_follows_its_path() {
        let one = digest(b"time_s,server,kind,session,service_s\n1,a,request,,\n");
        let replay = |file: &str| Scenario {
            name: replay_name(Path::new(file)),
            ..over(file)
        };
        assert!(
            scenario_difference(&replay("t.csv"), &one, &replay("/data/t.csv"), &one).is_none()
        );
        // Scenario files whose names only look like a replay's keep them.
        let file_named = |name: &str, file: &str| Scenario {
            name: name.into(),
            ..over(file)
        };
        assert!(
            scenario_difference(
                &file_named("trace replay of a", "t.csv"),
                &one,
                &file_named("trace replay of b", "/data/t.csv"),
                &one
            )
            .is_some()
        );
    }

    #[test]
    fn a_difference_is_named_by_its_path_and_both_values() {
        let a = Scenario::default();
        let b = Scenario {
            seed: 9,
            ..Scenario::default()
        };
        assert_eq!(
            scenario_difference(&b, "", &a, "").as_deref(),
            Some(format!("the scenario's `seed` differs (9 against {})", a.seed).as_str())
        );
        let mut c = Scenario::default();
        c.server.cold_start = std::time::Duration::from_secs(3);
        let said = scenario_difference(&c, "", &a, "").unwrap_or_default();
        assert!(
            said.starts_with("the scenario's `server.cold_start` differs ("),
            "{said}"
        );
        let long = Scenario {
            name: "x".repeat(500),
            ..Scenario::default()
        };
        let said = scenario_difference(&long, "", &a, "").unwrap_or_default();
        assert!(said.len() < 200 && said.contains('…'), "{said}");
    }
}
