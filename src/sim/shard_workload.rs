//! What a shard's workload was made from, so that a merge refuses shards
//! run over different traces: a synthetic workload is described by the
//! scenario itself; a trace is named by a digest of its bytes (its path
//! may be written differently on each machine of a sharded run).

use super::scenario::{Scenario, Workload};
use sha2::{Digest, Sha256};
use std::io::Read;

/// The digest of `scenario`'s trace file (`sha256:` and hex), or empty
/// for a synthetic workload.
pub fn digest(scenario: &Scenario) -> std::io::Result<String> {
    let Workload::Trace(trace) = &scenario.workload else {
        return Ok(String::new());
    };
    let mut file = std::fs::File::open(&trace.file)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(format!("sha256:{hex}"))
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
            b.name.clone_from(&a.name);
            *a == b
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::{TraceFormat, TraceSource};

    fn over(file: &std::path::Path) -> Scenario {
        Scenario {
            workload: Workload::Trace(TraceSource {
                file: file.to_owned(),
                format: TraceFormat::Events,
            }),
            ..Scenario::default()
        }
    }

    #[test]
    fn a_trace_is_named_by_its_bytes_not_its_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (one, two) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
        std::fs::write(
            &one,
            "time_s,server,kind,session,service_s\n1,a,request,,\n",
        )
        .expect("write");
        std::fs::copy(&one, &two).expect("copy");
        let (d1, d2) = (
            digest(&over(&one)).expect("d"),
            digest(&over(&two)).expect("d"),
        );
        assert!(d1.starts_with("sha256:") && d1.len() == 7 + 64, "{d1}");
        assert!(
            same_scenario(&over(&one), &d1, &over(&two), &d2),
            "same bytes"
        );
        std::fs::write(
            &two,
            "time_s,server,kind,session,service_s\n1,a,request,,2\n",
        )
        .expect("write");
        let d3 = digest(&over(&two)).expect("d");
        assert!(
            !same_scenario(&over(&one), &d1, &over(&two), &d3),
            "other bytes"
        );
        assert_eq!(digest(&Scenario::default()).expect("synthetic"), "");
    }
}
