//! Runs every policy over every server of a fleet, in parallel, with a
//! deterministic result: every total is an integer sum or a maximum, so
//! the order in which workers add their servers up does not matter, and
//! each worker keeps one running total per policy (memory does not grow
//! with the fleet).

use super::recorded::{Recorded, SPILL_AFTER};
use super::scenario::{PolicyRun, Scenario, TraceFormat, Workload};
use super::server::{ServerSim, Setup};
use super::shard::Shard;
use super::shard_workload::Digesting;
use super::stats::{Stats, Timeline};
use super::trace::TraceError;
use super::workload::{Arrival, Synthetic};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::path::Path;

/// Points on a timeline plot.
const TIMELINE_BUCKETS: usize = 720;

/// Events handed to every policy at once (small enough to stay in cache).
const CHUNK: usize = 4096;

/// Where each server's events come from.
#[derive(Debug)]
pub enum FleetSource {
    /// Generated per server on demand (memory stays per server).
    Synthetic {
        /// The generator.
        spec: Synthetic,
        /// Each server's mean rate.
        rates: Vec<f64>,
        /// Seed.
        seed: u64,
        /// Simulated seconds.
        horizon: f64,
    },
    /// A trace, replayed server by server.
    Recorded(Recorded),
}

impl FleetSource {
    /// The scenario's workload, reading its trace if it has one.
    pub fn from_scenario(s: &Scenario) -> Result<Self, TraceError> {
        let horizon = s.duration.as_secs_f64();
        match &s.workload {
            Workload::Synthetic(spec) => Ok(Self::Synthetic {
                spec: *spec,
                rates: spec.rates(s.seed),
                seed: s.seed,
                horizon,
            }),
            Workload::Trace(t) => Self::from_trace(&t.file, t.format, s.seed, horizon),
        }
    }

    /// A trace file; events at or after `horizon` are left out.
    pub fn from_trace(
        file: &Path,
        format: TraceFormat,
        seed: u64,
        horizon: f64,
    ) -> Result<Self, TraceError> {
        let origin = file.display().to_string();
        let input = std::fs::File::open(file).map_err(|e| TraceError {
            file: origin.clone(),
            line: 0,
            field: "file".into(),
            message: format!("cannot open: {e}"),
        })?;
        // Digested as it is read: a pipe is read once.
        let mut input = Digesting::new(std::io::BufReader::new(input));
        let mut recorded = match format {
            TraceFormat::Events => {
                Recorded::from_events(&mut input, &origin, horizon, SPILL_AFTER)?
            }
            TraceFormat::Azure => Recorded::from_azure(&mut input, &origin, seed, horizon)?,
        };
        recorded.digest = input.finish();
        Ok(Self::Recorded(recorded))
    }

    /// The digest of the trace read (empty for a synthetic workload).
    pub fn digest(&self) -> String {
        match self {
            Self::Recorded(r) => r.digest.clone(),
            Self::Synthetic { .. } => String::new(),
        }
    }

    /// Number of servers.
    pub fn len(&self) -> usize {
        match self {
            Self::Synthetic { rates, .. } => rates.len(),
            Self::Recorded(r) => r.names.len(),
        }
    }

    /// Whether the fleet has no servers.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Server `i`'s name.
    pub fn name(&self, i: usize) -> String {
        match self {
            Self::Synthetic { .. } => format!("mcp-{i}"),
            Self::Recorded(r) => r.names.get(i).cloned().unwrap_or_default(),
        }
    }

    /// Server `i`'s expected load (for choosing whom to plot).
    pub fn weight(&self, i: usize) -> f64 {
        match self {
            Self::Synthetic { rates, .. } => rates[i],
            Self::Recorded(r) => r.count(i) as f64,
        }
    }

    /// The first error met reading a trace back, if any.
    pub fn read_error(&self) -> Option<String> {
        match self {
            Self::Synthetic { .. } => None,
            Self::Recorded(r) => r.read_error(),
        }
    }

    /// Server `i`'s events in time order, drawn or read as they are
    /// consumed.
    pub fn events(&self, i: usize) -> Box<dyn Iterator<Item = Arrival> + Send + '_> {
        match self {
            Self::Synthetic {
                spec,
                rates,
                seed,
                horizon,
            } => Box::new(spec.server_stream(i as u32, rates[i], *horizon, *seed)),
            Self::Recorded(r) => r.events(i),
        }
    }

    /// Indices of the servers to plot: the named ones, else `count` spread
    /// from the busiest to the least busy server that saw any load.
    pub fn pick_timelines(&self, named: &[String], count: usize) -> Result<Vec<usize>, String> {
        if !named.is_empty() {
            return named
                .iter()
                .map(|n| {
                    (0..self.len())
                        .find(|&i| self.name(i) == *n)
                        .ok_or_else(|| format!("timeline.servers: no server named `{n}`"))
                })
                .collect();
        }
        let mut busy: Vec<usize> = (0..self.len()).filter(|&i| self.weight(i) > 0.0).collect();
        busy.sort_by(|&a, &b| self.weight(b).total_cmp(&self.weight(a)).then(a.cmp(&b)));
        // `picked` spread evenly from the busiest to the least busy: distinct
        // (steps of at least one), so asking for more than there are plots
        // them all.
        let n = busy.len();
        let picked = count.min(n);
        Ok((0..picked)
            .map(|k| {
                busy[if picked > 1 {
                    k * (n - 1) / (picked - 1)
                } else {
                    0
                }]
            })
            .collect())
    }
}

/// How to run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Jump over quiet stretches (always on, except to test it).
    pub fast_forward: bool,
    /// Show a progress bar on standard error (hidden when not a terminal).
    pub progress: bool,
    /// Run only this shard's servers.
    pub shard: Option<Shard>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            fast_forward: true,
            progress: true,
            shard: None,
        }
    }
}

/// One plotted server: its load and each policy's replicas.
#[derive(Debug, Clone)]
pub struct ServerTimeline {
    /// Its index in the fleet.
    pub index: usize,
    /// Server name.
    pub server: String,
    /// One timeline per policy, in policy order.
    pub per_policy: Vec<Timeline>,
}

/// Everything a run produced.
#[derive(Debug)]
pub struct Outcome {
    /// Per policy, in the order given.
    pub stats: Vec<Stats>,
    /// Plotted servers.
    pub timelines: Vec<ServerTimeline>,
}

/// One chunk's per-policy totals and the timelines of its plotted servers.
type ChunkResult = (Vec<Stats>, Vec<(usize, Vec<Timeline>)>);

/// Simulates `runs` over `fleet`.
pub fn simulate_fleet(
    scenario: &Scenario,
    runs: &[PolicyRun],
    fleet: &FleetSource,
    plotted: &[usize],
    opts: Options,
) -> Outcome {
    let setup = Setup {
        scenario,
        horizon: scenario.duration.as_secs_f64(),
        fast_forward: opts.fast_forward,
        tight_loop: true,
    };
    let indices: Vec<usize> = (0..fleet.len())
        .filter(|&i| opts.shard.is_none_or(|s| s.covers(i)))
        .collect();
    let bar = progress_bar(indices.len(), opts.progress);
    let empty = || -> ChunkResult { (runs.iter().map(|_| Stats::default()).collect(), Vec::new()) };
    let (stats, found) = indices
        .par_iter()
        .fold(empty, |(mut totals, mut lines), &i| {
            let mut chunk = Vec::with_capacity(CHUNK);
            let plot = plotted.contains(&i).then_some(TIMELINE_BUCKETS);
            let seed = server_seed(scenario.seed, i);
            let mut sims: Vec<ServerSim<'_>> = runs
                .iter()
                .zip(&mut totals)
                .map(|(run, stats)| ServerSim::new(setup, run, seed, stats, plot))
                .collect();
            in_chunks(fleet.events(i), &mut chunk, |events, after| {
                for sim in &mut sims {
                    sim.feed(events, after);
                }
            });
            let tl: Vec<Timeline> = sims.into_iter().filter_map(ServerSim::finish).collect();
            if plot.is_some() {
                lines.push((i, tl));
            }
            bar.inc(1);
            (totals, lines)
        })
        .reduce(empty, |(mut totals, mut lines), (more, found)| {
            for (all, part) in totals.iter_mut().zip(&more) {
                all.merge(part);
            }
            lines.extend(found);
            (totals, lines)
        });
    bar.finish_and_clear();
    timelines_of(stats, found, fleet, plotted)
}

/// Feeds `events` to `f` a chunk at a time, each chunk with the time of the
/// event after it (infinite after the last). A chunk holds every event at
/// its last time, so no instant is split between two chunks.
fn in_chunks(
    events: impl Iterator<Item = Arrival>,
    chunk: &mut Vec<Arrival>,
    mut f: impl FnMut(&[Arrival], f64),
) {
    let mut events = events.peekable();
    loop {
        chunk.clear();
        while chunk.len() < CHUNK {
            match events.next() {
                Some(a) => chunk.push(a),
                None => break,
            }
        }
        if let Some(last) = chunk.last().map(|a| a.t) {
            while let Some(a) = events.next_if(|a| a.t == last) {
                chunk.push(a);
            }
        }
        let after = events.peek().map_or(f64::INFINITY, |a| a.t);
        f(chunk, after);
        if after.is_infinite() {
            return;
        }
    }
}

fn timelines_of(
    stats: Vec<Stats>,
    found: Vec<(usize, Vec<Timeline>)>,
    fleet: &FleetSource,
    plotted: &[usize],
) -> Outcome {
    let timelines = plotted
        .iter()
        .filter_map(|&i| {
            let (_, per_policy) = found.iter().find(|(j, _)| *j == i)?;
            Some(ServerTimeline {
                index: i,
                server: fleet.name(i),
                per_policy: per_policy.clone(),
            })
        })
        .collect();
    Outcome { stats, timelines }
}

/// Each server's own seed for phases and service times.
fn server_seed(seed: u64, server: usize) -> u64 {
    seed.rotate_left(17) ^ (0xD1B5_4A32_D192_ED03_u64.wrapping_mul(server as u64 + 1))
}

fn progress_bar(len: usize, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} simulating [{bar:30}] {pos}/{len} servers, {elapsed} elapsed, ~{eta} left",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asking_for_more_timelines_than_busy_servers_plots_them_all_busiest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("t.csv");
        let mut csv = String::from("time_s,server,kind,session,service_s\n");
        // Server sK gets K + 1 requests: s7 is the busiest.
        for k in 0..8u32 {
            for r in 0..=k {
                csv.push_str(&format!("{},s{k},request,,0.1\n", r * 10 + k));
            }
        }
        std::fs::write(&file, csv).expect("write");
        let fleet =
            FleetSource::from_trace(&file, TraceFormat::Events, 1, f64::INFINITY).expect("fleet");
        let names = |picked: Vec<usize>| -> Vec<String> {
            picked
                .into_iter()
                .map(|i| fleet.name(i).to_string())
                .collect()
        };
        let all: Vec<String> = (0..8).rev().map(|k| format!("s{k}")).collect();
        for count in [8, 10, 20] {
            let picked = fleet.pick_timelines(&[], count).expect("picked");
            assert_eq!(names(picked), all, "count {count}");
        }
        let three = fleet.pick_timelines(&[], 3).expect("picked");
        assert_eq!(names(three), ["s7", "s4", "s0"]);
    }
}
