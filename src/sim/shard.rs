//! Capacity planning past one machine: a run split by server.
//!
//! Servers are simulated independently, so `simulate --shard I/N` runs the
//! servers whose index is `I` modulo `N` and writes `partial.json`: the
//! scenario and policies as run, and each policy's raw totals (integer
//! counters, replica-microseconds, the latency histogram's buckets).
//! `simulate merge DIR...` adds the partials of all `N` shards up into one
//! report. Every total is an integer sum or a maximum, so the merged
//! report is exactly the unsharded run's, whatever the order.

use super::run::ServerTimeline;
use super::scenario::{PolicyRun, Scenario};
use super::stats::{Stats, Timeline};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Most shards a run may be split into.
pub const MAX_SHARDS: u32 = 100_000;
/// Largest partial report read (a partial of a dozen policies is well
/// under a megabyte: totals, histogram buckets and a few timelines).
pub const MAX_PARTIAL_BYTES: u64 = 256 * 1024 * 1024;
/// The partial report's file name in a shard's output directory.
pub const PARTIAL_FILE: &str = "partial.json";
const FORMAT: &str = "mcp-autoscaler partial simulation report, version 1";

/// Shard `index` of `count` (0-based): servers with `i % count == index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard, `0..count`.
    pub index: u32,
    /// How many shards the run is split into.
    pub count: u32,
}

impl Shard {
    /// Whether server `i` belongs to this shard.
    pub fn covers(&self, i: usize) -> bool {
        i % self.count.max(1) as usize == self.index as usize
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `I/N` with `0 <= I < N <= 100000`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{s}`: expected I/N, the shard I (from 0) of N shards, with N at most {MAX_SHARDS}"
            )
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse::<u32>().map_err(|_| bad())?,
            n.trim().parse::<u32>().map_err(|_| bad())?,
        );
        if count == 0 || count > MAX_SHARDS || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

/// A plotted server's timelines as written to disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineRecord {
    index: usize,
    server: String,
    bucket_s: f64,
    requests: Vec<Vec<u32>>,
    replicas: Vec<Vec<u32>>,
}

/// What one shard wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    format: String,
    /// Which shard.
    pub shard: Shard,
    /// The scenario as run.
    pub scenario: Scenario,
    /// The policies as run, in report order.
    pub runs: Vec<PolicyRun>,
    /// Servers in the whole fleet.
    pub servers: usize,
    /// Plotted servers of the whole fleet, in plot order.
    pub plotted: Vec<usize>,
    stats: Vec<Stats>,
    timelines: Vec<TimelineRecord>,
}

/// A shard's results, ready to write.
#[derive(Debug)]
pub struct ShardResult<'a> {
    /// Which shard.
    pub shard: Shard,
    /// The scenario.
    pub scenario: &'a Scenario,
    /// The policies.
    pub runs: &'a [PolicyRun],
    /// Servers in the whole fleet.
    pub servers: usize,
    /// Plotted servers of the whole fleet.
    pub plotted: &'a [usize],
    /// Per-policy totals of this shard's servers.
    pub stats: &'a [Stats],
    /// This shard's plotted servers.
    pub timelines: &'a [ServerTimeline],
}

impl ShardResult<'_> {
    /// The partial report.
    pub fn to_partial(&self) -> Partial {
        Partial {
            format: FORMAT.to_owned(),
            shard: self.shard,
            scenario: self.scenario.clone(),
            runs: self.runs.to_vec(),
            servers: self.servers,
            plotted: self.plotted.to_vec(),
            stats: self.stats.to_vec(),
            timelines: self
                .timelines
                .iter()
                .map(|t| TimelineRecord {
                    index: t.index,
                    server: t.server.clone(),
                    bucket_s: t.per_policy.first().map_or(0.0, |p| p.bucket_s),
                    requests: t.per_policy.iter().map(|p| p.requests.clone()).collect(),
                    replicas: t.per_policy.iter().map(|p| p.replicas.clone()).collect(),
                })
                .collect(),
        }
    }
}

/// Partials that cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A file could not be read or parsed.
    #[error("{path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The partials do not belong together or do not cover the fleet.
    #[error("{0}")]
    Mismatch(String),
}

/// Reads `DIR/partial.json` (or the file itself).
pub fn read(path: &Path) -> Result<Partial, MergeError> {
    let file = if path.is_dir() {
        path.join(PARTIAL_FILE)
    } else {
        path.to_owned()
    };
    let err = |message: String| MergeError::Read {
        path: file.clone(),
        message,
    };
    let size = std::fs::metadata(&file)
        .map_err(|e| err(e.to_string()))?
        .len();
    if size > MAX_PARTIAL_BYTES {
        return Err(err(format!(
            "{size} bytes, more than a partial report can be ({MAX_PARTIAL_BYTES})"
        )));
    }
    let text = std::fs::read_to_string(&file).map_err(|e| err(e.to_string()))?;
    let p: Partial = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    if p.format != FORMAT {
        return Err(err(format!("not a partial report (format `{}`)", p.format)));
    }
    if p.stats.len() != p.runs.len() {
        return Err(err("one total per policy expected".into()));
    }
    let Shard { index, count } = p.shard;
    if count == 0 || count > MAX_SHARDS || index >= count {
        return Err(err(format!("shard {index}/{count} is not a shard")));
    }
    for t in &p.timelines {
        // The name becomes a plot's file name: a server id, nothing else.
        let named = crate::id::ServerId::parse(&t.server).is_ok();
        let shaped = t.bucket_s.is_finite()
            && t.bucket_s > 0.0
            && t.requests.len() == p.runs.len()
            && t.replicas.len() == p.runs.len()
            && t.requests.iter().chain(&t.replicas).all(|b| !b.is_empty());
        if !named || !shaped || t.index >= p.servers {
            return Err(err(format!(
                "timeline of server {:?} is malformed",
                t.server
            )));
        }
    }
    p.scenario
        .validate(&file.display().to_string())
        .map_err(|e| err(e.to_string()))?;
    Ok(p)
}

/// Every shard's totals added up: the scenario, policies, fleet size, the
/// per-policy totals and the plotted servers' timelines.
pub type Merged = (
    Scenario,
    Vec<PolicyRun>,
    usize,
    Vec<Stats>,
    Vec<ServerTimeline>,
);

/// Adds up the partials of one run; each of its `N` shards exactly once.
pub fn merge(parts: Vec<Partial>) -> Result<Merged, MergeError> {
    let first = parts
        .first()
        .ok_or_else(|| MergeError::Mismatch("no partial reports given".into()))?;
    let count = first.shard.count;
    let mut seen = vec![false; count as usize];
    for p in &parts {
        let same = p.scenario == first.scenario
            && p.runs == first.runs
            && p.servers == first.servers
            && p.plotted == first.plotted
            && p.shard.count == count;
        if !same {
            return Err(MergeError::Mismatch(format!(
                "shard {}/{} is from another run than shard {}/{} (scenario, policies, fleet or shard count differ)",
                p.shard.index, p.shard.count, first.shard.index, count
            )));
        }
        let slot = &mut seen[p.shard.index as usize];
        if *slot {
            return Err(MergeError::Mismatch(format!(
                "shard {}/{count} is given twice",
                p.shard.index
            )));
        }
        *slot = true;
    }
    let missing: Vec<String> = (0..count)
        .filter(|&i| !seen[i as usize])
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Mismatch(format!(
            "missing shards: {}",
            missing.join(", ")
        )));
    }
    let mut stats: Vec<Stats> = first.runs.iter().map(|_| Stats::default()).collect();
    let mut lines: Vec<TimelineRecord> = Vec::new();
    for p in &parts {
        for (total, part) in stats.iter_mut().zip(&p.stats) {
            total.merge(part);
        }
        lines.extend(p.timelines.iter().cloned());
    }
    let timelines = first
        .plotted
        .iter()
        .filter_map(|i| lines.iter().find(|l| l.index == *i))
        .map(|l| ServerTimeline {
            index: l.index,
            server: l.server.clone(),
            per_policy: l
                .requests
                .iter()
                .zip(&l.replicas)
                .map(|(requests, replicas)| Timeline {
                    bucket_s: l.bucket_s,
                    requests: requests.clone(),
                    replicas: replicas.clone(),
                })
                .collect(),
        })
        .collect();
    let (scenario, runs, servers) = (first.scenario.clone(), first.runs.clone(), first.servers);
    Ok((scenario, runs, servers, stats, timelines))
}

#[cfg(test)]
#[path = "shard_tests.rs"]
mod tests;
