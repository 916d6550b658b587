//! What a shard's workload was made from, so that a merge refuses shards
//! run over different traces: a synthetic workload is described by the
//! scenario itself; a trace is named by a digest of its bytes (its path
//! may be written differently on each machine of a sharded run).

use super::scenario::{Scenario, Workload};
use sha2::{Digest, Sha256};
use std::io::Read;

/// How a trace replay (`--trace`) names its scenario, before the path.
pub const REPLAY_NAME: &str = "trace replay of ";

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
            // A trace replay's name repeats its path.
            if a.name.starts_with(REPLAY_NAME) && b.name.starts_with(REPLAY_NAME) {
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
}
