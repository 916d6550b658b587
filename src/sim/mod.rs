//! The offline capacity-planning simulator.
//!
//! `mcp-autoscaler simulate` runs the production [`crate::engine::decide`]
//! on a virtual clock over a fleet of MCP servers and reports, per policy,
//! cost, cold starts, latency, SLO violations and sessions cut.
//!
//! ```text
//! scenario.yaml ─▶ [scenario] ─▶ policies (+ [sweep]s), server model, control loop
//!                      │
//! workload ─▶ [workload] / [trace] ─▶ per-server arrivals
//!                      │
//!        per server × policy: [server] event loop
//!          [station] (replicas × concurrency, FIFO queue, timeout)
//!          [exporter] (Prometheus scrape + query lag)
//!          engine::decide ◀─ NATS events (at once)
//!          KEDA poll / push activation, cooldown; HPA via engine::hpa
//!                      │
//!        [run]: parallel over servers, merged in order ─▶ [stats]
//!                      │
//!        [report] (report.json, report.md) + [plot] (SVG)
//! ```
//!
//! Correctness checks: [`station`] against Erlang C and Little's law, the
//! whole loop against Erlang C with a fixed replica count, fast-forward
//! against step-by-step, and golden reports for `simulations/`.

pub mod cli;
pub mod compare;
pub mod erlang;
pub mod exporter;
pub mod frontier;
pub mod frontier_plot;
mod modulated;
mod pending;
pub mod plot;
pub mod pods;
pub mod recorded;
pub mod report;
pub mod run;
pub mod scenario;
mod scenario_checks;
pub mod server;
pub mod shard;
mod shard_workload;
pub mod spill;
pub mod station;
pub mod stats;
pub mod stream;
pub mod sweep;
pub mod ticks;
pub mod trace;
mod trace_lines;
pub mod wiring;
pub mod workload;

use report::{PolicyReport, Report, ScenarioSummary};
use run::{FleetSource, Options, ServerTimeline};
use scenario::{PolicyRun, Scenario, ScenarioError, TraceFormat, TraceSource, Workload};
use stats::Stats;
use std::path::{Path, PathBuf};
use trace::TraceError;

/// The report's files.
pub const REPORT_JSON: &str = "report.json";
/// The report in Markdown.
pub const REPORT_MD: &str = "report.md";

/// Whether `name` is a file `simulate` writes into `--out` (a report, a
/// plot, a shard's partial report).
pub fn is_output_name(name: &str) -> bool {
    [
        REPORT_JSON,
        REPORT_MD,
        shard::PARTIAL_FILE,
        plot::COST_VS_SLO,
        plot::LATENCY_CDF,
        frontier_plot::FRONTIER,
    ]
    .contains(&name)
        || name.starts_with(plot::TIMELINE_PREFIX) && name.ends_with(".svg")
}

/// Anything that stops a simulation.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario is unusable.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The trace is unusable.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// A command-line choice is unusable.
    #[error("{0}")]
    Usage(String),
    /// A trace could not be read back while it was replayed (the run is
    /// incomplete and nothing is written).
    #[error("{0}")]
    Replay(String),
    /// A plot failed.
    #[error(transparent)]
    Plot(#[from] plot::PlotError),
    /// Partial reports that cannot be merged.
    #[error(transparent)]
    Merge(#[from] shard::MergeError),
    /// The output could not be written.
    #[error("writing {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A validated simulation, ready to run.
#[derive(Debug)]
pub struct Plan {
    /// The scenario.
    pub scenario: Scenario,
    /// Policies to run, in report order.
    pub runs: Vec<PolicyRun>,
    /// The fleet.
    pub fleet: FleetSource,
    /// Servers to plot over time.
    pub plotted: Vec<usize>,
}

/// What a run produced.
#[derive(Debug)]
pub struct Output {
    /// The report.
    pub report: Report,
    /// Per-policy statistics (latency histograms for the CDF plot).
    pub stats: Vec<Stats>,
    /// Plotted servers.
    pub timelines: Vec<ServerTimeline>,
}

impl Plan {
    /// Validates `scenario` (named `origin` in errors), keeps only the
    /// policies in `only` when it is not empty, and loads the workload.
    pub fn new(scenario: Scenario, origin: &str, only: &[String]) -> Result<Self, SimError> {
        let runs = choose(&scenario, scenario.validate(origin)?, only)?;
        let fleet = FleetSource::from_scenario(&scenario)?;
        Self::with_fleet(scenario, runs, fleet, origin)
    }

    /// Replays a trace with the default server model and every built-in
    /// policy (or those in `only`); the duration is the trace's span and
    /// a cold start and queue timeout after it, in whole minutes, so that
    /// its last requests can finish.
    pub fn from_trace(
        file: &Path,
        format: TraceFormat,
        seed: u64,
        only: &[String],
    ) -> Result<Self, SimError> {
        let fleet = FleetSource::from_trace(file, format, seed, f64::INFINITY)?;
        let last = match &fleet {
            FleetSource::Recorded(r) => r.last_time(),
            FleetSource::Synthetic { horizon, .. } => *horizon,
        };
        let mut scenario = Scenario {
            name: shard_workload::replay_name(file),
            seed,
            workload: Workload::Trace(TraceSource {
                file: file.to_owned(),
                format,
            }),
            ..Scenario::default()
        };
        // Room after the last event for its request to meet a cold start
        // and wait out the queue, in whole minutes.
        let server = &scenario.server;
        let tail = (server.cold_start + server.queue_timeout).as_secs_f64();
        let minutes = ((last + tail) / 60.0).ceil().max(1.0);
        let longest = scenario_checks::MAX_DURATION.as_secs_f64();
        if minutes * 60.0 > longest {
            return Err(SimError::Usage(format!(
                "{}: the trace runs to {last:.0} s; with {tail:.0} s for its last requests to finish, past the longest run ({:.0} s, 31 days): cut it, or name a scenario whose duration leaves out the rest",
                file.display(),
                longest
            )));
        }
        scenario.duration = std::time::Duration::from_secs_f64(minutes * 60.0);
        let origin = file.display().to_string();
        let runs = choose(&scenario, scenario.validate(&origin)?, only)?;
        Self::with_fleet(scenario, runs, fleet, &origin)
    }

    fn with_fleet(
        scenario: Scenario,
        runs: Vec<PolicyRun>,
        fleet: FleetSource,
        origin: &str,
    ) -> Result<Self, SimError> {
        if fleet.is_empty() {
            return Err(SimError::Usage(format!(
                "{origin}: the workload has no servers (a trace with no events before the run's end?)"
            )));
        }
        let plotted = fleet
            .pick_timelines(&scenario.timeline.servers, scenario.timeline.count)
            .map_err(SimError::Usage)?;
        Ok(Self {
            scenario,
            runs,
            fleet,
            plotted,
        })
    }

    /// Replaces the policies with a frontier sweep of `default`'s sizing:
    /// fixed windows, cost-aware prices and the oracle.
    pub fn into_frontier(mut self) -> Self {
        let base = self
            .scenario
            .named_policy(crate::config::DEFAULT_POLICY)
            .unwrap_or_default();
        self.runs = frontier::runs(&self.scenario, &base);
        self
    }

    /// Runs every policy over the fleet.
    pub fn run(&self, opts: Options) -> Result<Output, SimError> {
        let opts = Options {
            shard: None,
            ..opts
        };
        let out = self.simulate(opts)?;
        Ok(Output::new(
            &self.scenario,
            &self.runs,
            self.fleet.len(),
            out.stats,
            out.timelines,
        ))
    }

    fn simulate(&self, opts: Options) -> Result<run::Outcome, SimError> {
        let out = run::simulate_fleet(&self.scenario, &self.runs, &self.fleet, &self.plotted, opts);
        match self.fleet.read_error() {
            Some(e) => Err(SimError::Replay(e)),
            None => Ok(out),
        }
    }

    /// Runs every policy over one shard's servers: a partial report that
    /// [`Output::merged`] adds up with the other shards'.
    pub fn run_shard(
        &self,
        shard: shard::Shard,
        opts: Options,
    ) -> Result<shard::Partial, SimError> {
        let opts = Options {
            shard: Some(shard),
            ..opts
        };
        let workload = self.fleet.digest();
        let out = self.simulate(opts)?;
        Ok(shard::ShardResult {
            shard,
            workload,
            scenario: &self.scenario,
            runs: &self.runs,
            servers: self.fleet.len(),
            plotted: &self.plotted,
            stats: &out.stats,
            timelines: &out.timelines,
        }
        .to_partial())
    }
}

/// Keeps the policies named in `only` (any known policy may be named).
fn choose(
    scenario: &Scenario,
    runs: Vec<PolicyRun>,
    only: &[String],
) -> Result<Vec<PolicyRun>, SimError> {
    if only.is_empty() {
        return Ok(runs);
    }
    if let Some((_, twice)) = crate::lists::first_repeated(only) {
        return Err(SimError::Usage(format!(
            "--policy {twice}: given twice; name each policy once"
        )));
    }
    // The oracle is every report's reference (unless the scenario says no).
    let oracle = scenario::ORACLE.to_owned();
    let add_oracle = scenario.oracle && !only.contains(&oracle);
    only.iter()
        .chain(add_oracle.then_some(&oracle))
        .map(|name| {
            if let Some(r) = runs.iter().find(|r| &r.name == name) {
                return Ok(r.clone());
            }
            let policy = scenario.named_policy(name).ok_or_else(|| {
                let mut known: Vec<String> = runs.iter().map(|r| r.name.clone()).collect();
                for b in scenario::all_builtin_policies() {
                    if !known.contains(&b) {
                        known.push(b);
                    }
                }
                SimError::Usage(format!(
                    "--policy {name}: no such policy; known: {}",
                    known.join(", ")
                ))
            })?;
            Ok(scenario.run_for(name, policy))
        })
        .collect()
}

impl Output {
    /// The report of `runs` over a fleet of `servers` from their totals.
    pub fn new(
        scenario: &Scenario,
        runs: &[PolicyRun],
        servers: usize,
        stats: Vec<Stats>,
        timelines: Vec<ServerTimeline>,
    ) -> Self {
        let requests = stats.first().map_or(0, |s| s.requests);
        let mut policies: Vec<PolicyReport> = runs
            .iter()
            .zip(&stats)
            .map(|(r, s)| PolicyReport::new(r, s, scenario))
            .collect();
        compare::against_oracle(&mut policies);
        let report = Report {
            scenario: ScenarioSummary::new(scenario, servers, requests),
            frontier: frontier::Frontier::of(runs, &policies),
            policies,
        };
        Self {
            report,
            stats,
            timelines,
        }
    }

    /// The report of a sharded run: every shard's `partial.json` (in the
    /// directories, or the files, given) added up.
    pub fn merged(paths: &[PathBuf]) -> Result<Self, SimError> {
        let mut merger = shard::Merger::default();
        for path in paths {
            merger.add(shard::read(path)?)?;
        }
        let (scenario, runs, servers, stats, timelines) = merger.finish()?;
        Ok(Self::new(&scenario, &runs, servers, stats, timelines))
    }

    /// Writes `partial` as `partial.json` into `dir` (created if missing).
    pub fn write_partial(partial: &shard::Partial, dir: &Path) -> Result<PathBuf, SimError> {
        std::fs::create_dir_all(dir).map_err(|source| SimError::Write {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join(shard::PARTIAL_FILE);
        let text = serde_json::to_string(partial).map_err(|e| SimError::Usage(e.to_string()))?;
        std::fs::write(&path, text).map_err(|source| SimError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// Writes `report.json`, `report.md` and the SVG plots into `dir`
    /// (created if missing); returns the files written.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, SimError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| SimError::Write { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let plots = plot::all(&self.report, &self.stats, &self.timelines)?;
        let names: Vec<String> = plots.iter().map(|(n, _)| n.clone()).collect();
        let mut files = vec![
            (REPORT_JSON.to_owned(), self.report.to_json()),
            (REPORT_MD.to_owned(), self.report.to_markdown(&names)),
        ];
        files.extend(plots);
        let mut written = Vec::new();
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(io(&path))?;
            written.push(path);
        }
        Ok(written)
    }
}
