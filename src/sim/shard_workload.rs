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

/// Whether two shards ran the same scenario: equal, or equal but for how
/// the path of one trace (of equal digests) was written, which a trace
/// replay's name repeats.
pub fn same_scenario(a: &Scenario, a_digest: &str, b: &Scenario, b_digest: &str) -> bool {
    if a_digest != b_digest {
        return false;
    }
    match (&a.workload, &b.workload) {
        (Workload::Trace(x), Workload::Trace(y)) if !a_digest.is_empty() => {
            let mut b = b.clone();
            b.workload = Workload::Trace(super::scenario::TraceSource {
                file: x.file.clone(),
                format: y.format,
            });
            // A trace replay's name repeats its path; a scenario file's
            // name is its own.
            if a.name == replay_name(&x.file) && b.name == replay_name(&y.file) {
                b.name.clone_from(&a.name);
            }
            *a == b
        }
        _ => a == b,
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
        assert!(same_scenario(&a, &one, &b, &one), "same bytes");
        let other = digest(b"time_s,server,kind,session,service_s\n1,a,request,,2\n");
        assert!(!same_scenario(&a, &one, &b, &other), "other bytes");
        // Scenario files that differ otherwise (their names) do differ.
        let named = Scenario {
            name: "another".into(),
            ..over("t.csv")
        };
        assert!(!same_scenario(&a, &one, &named, &one));
    }

    #[test]
    fn only_a_trace_replays_own_name_follows_its_path() {
        let one = digest(b"time_s,server,kind,session,service_s\n1,a,request,,\n");
        let replay = |file: &str| Scenario {
            name: replay_name(Path::new(file)),
            ..over(file)
        };
        assert!(same_scenario(
            &replay("t.csv"),
            &one,
            &replay("/data/t.csv"),
            &one
        ));
        // Scenario files whose names only look like a replay's keep them.
        let file_named = |name: &str, file: &str| Scenario {
            name: name.into(),
            ..over(file)
        };
        assert!(!same_scenario(
            &file_named("trace replay of a", "t.csv"),
            &one,
            &file_named("trace replay of b", "/data/t.csv"),
            &one
        ));
    }
}
