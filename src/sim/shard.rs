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
use super::shard_workload::scenario_difference;
use super::stats::{Stats, Timeline};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Most shards a run may be split into.
pub const MAX_SHARDS: u32 = 100_000;
/// Largest partial report read (a partial of a dozen policies is well
/// under a megabyte: totals, histogram buckets and a few timelines).
pub const MAX_PARTIAL_BYTES: u64 = 256 * 1024 * 1024;
/// The partial report's file name in a shard's output directory.
pub const PARTIAL_FILE: &str = "partial.json";
/// Version 2: runs say whether a `--frontier` sweep made them. Version 3:
/// the trace's digest, and unfinished requests sure to miss the SLO.
/// Version 4: streams and streams cut. Version 5: each run's wiring may set
/// its own direct period and HPA scale-up.
const FORMAT: &str = "mcp-autoscaler partial simulation report, version 5";
/// Most buckets a plotted timeline may have (the simulator writes 720).
const MAX_TIMELINE_BUCKETS: usize = 100_000;

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
                "`{s}`: expected I/N, the shard I of N shards, with 0 <= I < N <= {MAX_SHARDS} (shards are numbered from 0)"
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
    /// The digest of the trace run over (empty for a synthetic workload).
    pub workload: String,
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
    /// The digest of the trace run over (empty for a synthetic workload).
    pub workload: String,
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
            workload: self.workload.clone(),
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

/// The partial report a merge argument names: `DIR/partial.json`, or the
/// file itself.
pub fn partial_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(PARTIAL_FILE)
    } else {
        path.to_owned()
    }
}

/// Reads [`partial_path`]`(path)` and checks that it is whole: its shard,
/// totals, plotted servers and timelines.
pub fn read(path: &Path) -> Result<Partial, MergeError> {
    let file = partial_path(path);
    let err = |message: String| MergeError::Read {
        path: file.clone(),
        message,
    };
    let opened = std::fs::File::open(&file).map_err(|e| err(e.to_string()))?;
    let size = opened.metadata().map_err(|e| err(e.to_string()))?.len();
    if size > MAX_PARTIAL_BYTES {
        return Err(err(format!(
            "{size} bytes, more than a partial report can be ({MAX_PARTIAL_BYTES})"
        )));
    }
    let reader = std::io::BufReader::new(opened.take(MAX_PARTIAL_BYTES));
    let p: Partial = serde_json::from_reader(reader).map_err(|e| err(e.to_string()))?;
    if p.format != FORMAT {
        return Err(err(format!(
            "format `{}`, expected `{FORMAT}`: merge partials written by the same version",
            p.format
        )));
    }
    check(&p).map_err(err)?;
    p.scenario
        .validate(&file.display().to_string())
        .map_err(|e| err(e.to_string()))?;
    Ok(p)
}

/// A partial is whole: one total per policy, a shard within bounds, and
/// plotted servers that fit it.
fn check(p: &Partial) -> Result<(), String> {
    if p.stats.len() != p.runs.len() {
        return Err("one total per policy expected".into());
    }
    for (run, stats) in p.runs.iter().zip(&p.stats) {
        stats
            .consistency()
            .map_err(|e| format!("policy {}: {e}", run.name))?;
    }
    let Shard { index, count } = p.shard;
    if count == 0 || count > MAX_SHARDS || index >= count {
        return Err(format!("shard {index}/{count} is not a shard"));
    }
    // A synthetic fleet is as large as its scenario says.
    if let super::scenario::Workload::Synthetic(w) = &p.scenario.workload
        && u64::try_from(p.servers).ok() != Some(u64::from(w.servers))
    {
        return Err(format!(
            "a fleet of {} servers, but its scenario draws {}",
            p.servers, w.servers
        ));
    }
    check_plotted(p)
}

/// The plotted servers are distinct servers of the fleet, and the partial
/// holds a well-formed timeline for exactly those its shard covers.
fn check_plotted(p: &Partial) -> Result<(), String> {
    let mut plotted = p.plotted.clone();
    plotted.sort_unstable();
    plotted.dedup();
    if plotted.len() != p.plotted.len() || plotted.last().is_some_and(|&i| i >= p.servers) {
        return Err(format!(
            "plotted servers {:?} are not distinct servers of a fleet of {}",
            p.plotted, p.servers
        ));
    }
    let mut covered: Vec<usize> = p
        .plotted
        .iter()
        .copied()
        .filter(|&i| p.shard.covers(i))
        .collect();
    let mut lines: Vec<usize> = p.timelines.iter().map(|t| t.index).collect();
    covered.sort_unstable();
    lines.sort_unstable();
    if lines != covered {
        return Err(format!(
            "timelines of servers {lines:?}, but shard {}/{} plots {covered:?}",
            p.shard.index, p.shard.count
        ));
    }
    match p.timelines.iter().find(|t| !well_formed(t, p.runs.len())) {
        Some(t) => Err(format!("timeline of server {:?} is malformed", t.server)),
        None => Ok(()),
    }
}

/// Named by a server id (it becomes a plot's file name), one series per
/// policy, all of one length within the plot's bound.
fn well_formed(t: &TimelineRecord, policies: usize) -> bool {
    let len = t.requests.first().map_or(0, Vec::len);
    crate::id::ServerId::parse(&t.server).is_ok()
        && t.bucket_s.is_finite()
        && t.bucket_s > 0.0
        && t.requests.len() == policies
        && t.replicas.len() == policies
        && (1..=MAX_TIMELINE_BUCKETS).contains(&len)
        && t.requests.iter().chain(&t.replicas).all(|b| b.len() == len)
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

/// Adds partials up one at a time, so a merge holds one partial and the
/// running totals however many shards there are.
#[derive(Debug, Default)]
pub struct Merger {
    /// The first partial, its totals and timelines taken out.
    first: Option<Partial>,
    seen: Vec<bool>,
    stats: Vec<Stats>,
    lines: Vec<TimelineRecord>,
}

/// How partial `p` is of another run than `first`, in words.
fn run_difference(p: &Partial, first: &Partial) -> Option<String> {
    if p.shard.count != first.shard.count {
        return Some(format!(
            "the shard count differs ({} against {})",
            p.shard.count, first.shard.count
        ));
    }
    if let Some(what) =
        scenario_difference(&p.scenario, &p.workload, &first.scenario, &first.workload)
    {
        return Some(what);
    }
    let names = |runs: &[PolicyRun]| runs.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
    if p.runs != first.runs {
        let (mine, theirs) = (names(&p.runs), names(&first.runs));
        return Some(if mine == theirs {
            "the policies' definitions or wirings differ".into()
        } else {
            format!("the policies differ ({mine:?} against {theirs:?})")
        });
    }
    if p.servers != first.servers {
        return Some(format!(
            "the fleet differs ({} servers against {})",
            p.servers, first.servers
        ));
    }
    (p.plotted != first.plotted).then(|| "the plotted servers differ".into())
}

impl Merger {
    /// Adds `p` (as [`read`] checked it), which must be of the same run as
    /// those before and a shard not given yet.
    pub fn add(&mut self, mut p: Partial) -> Result<(), MergeError> {
        let Some(first) = &self.first else {
            // Every later partial must have this count, and `finish` looks
            // at every shard of it.
            let count = p.shard.count;
            if count == 0 || count > MAX_SHARDS {
                return Err(MergeError::Mismatch(format!(
                    "{count} shards: at least 1 and at most {MAX_SHARDS} expected"
                )));
            }
            self.seen = vec![false; count as usize];
            self.stats = p.runs.iter().map(|_| Stats::default()).collect();
            self.fold(&mut p)?;
            self.first = Some(p);
            return Ok(());
        };
        if let Some(what) = run_difference(&p, first) {
            return Err(MergeError::Mismatch(format!(
                "shard {}/{} is from another run than shard {}/{}: {what}",
                p.shard.index, p.shard.count, first.shard.index, first.shard.count
            )));
        }
        self.fold(&mut p)
    }

    /// Marks `p`'s shard seen and takes its totals and timelines.
    fn fold(&mut self, p: &mut Partial) -> Result<(), MergeError> {
        let Some(slot) = self.seen.get_mut(p.shard.index as usize) else {
            return Err(MergeError::Mismatch(format!(
                "shard {}/{} is not a shard",
                p.shard.index, p.shard.count
            )));
        };
        if std::mem::replace(slot, true) {
            return Err(MergeError::Mismatch(format!(
                "shard {}/{} is given twice",
                p.shard.index, p.shard.count
            )));
        }
        for (total, part) in self.stats.iter_mut().zip(&p.stats) {
            total.merge(part);
        }
        p.stats = Vec::new();
        self.lines.append(&mut p.timelines);
        Ok(())
    }

    /// The merged run, once every shard was added.
    pub fn finish(self) -> Result<Merged, MergeError> {
        let first = self
            .first
            .ok_or_else(|| MergeError::Mismatch("no partial reports given".into()))?;
        let count = first.shard.count;
        let missing: Vec<String> = (0..count)
            .filter(|&i| !self.seen[i as usize])
            .map(|i| format!("{i}/{count}"))
            .collect();
        if !missing.is_empty() {
            return Err(MergeError::Mismatch(format!(
                "missing shards: {}",
                missing.join(", ")
            )));
        }
        for (run, stats) in first.runs.iter().zip(&self.stats) {
            stats
                .consistency()
                .map_err(|e| MergeError::Mismatch(format!("policy {} in all: {e}", run.name)))?;
        }
        let mut lines = self.lines;
        lines.sort_by_key(|l| first.plotted.iter().position(|&i| i == l.index));
        let timelines = lines.into_iter().map(server_timeline).collect();
        Ok((
            first.scenario,
            first.runs,
            first.servers,
            self.stats,
            timelines,
        ))
    }
}

/// A timeline record as the report plots it.
fn server_timeline(l: TimelineRecord) -> ServerTimeline {
    let bucket_s = l.bucket_s;
    ServerTimeline {
        index: l.index,
        server: l.server,
        per_policy: l
            .requests
            .into_iter()
            .zip(l.replicas)
            .map(|(requests, replicas)| Timeline {
                bucket_s,
                requests,
                replicas,
            })
            .collect(),
    }
}

/// Adds up the partials of one run, each checked as [`read`] checks a
/// file; each of its `N` shards exactly once.
#[cfg(test)]
pub fn merge(parts: impl IntoIterator<Item = Partial>) -> Result<Merged, MergeError> {
    let mut merger = Merger::default();
    for p in parts {
        check(&p).map_err(|e| {
            MergeError::Mismatch(format!("shard {}/{}: {e}", p.shard.index, p.shard.count))
        })?;
        merger.add(p)?;
    }
    merger.finish()
}

#[cfg(test)]
#[path = "shard_tests.rs"]
mod tests;
