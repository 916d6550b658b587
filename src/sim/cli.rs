//! `mcp-autoscaler simulate`: the command line of the simulator.
//!
//! ```text
//! simulate [SCENARIO] [--trace FILE --format F] [--policy NAME]... [--frontier]
//!          [--seed N] [--shard I/N] [--out DIR] [--quiet]
//! simulate merge DIR... [--out DIR]
//! ```

use super::scenario::{Scenario, TraceFormat};
use super::shard::Shard;
use super::{Output, Plan, SimError, run::Options};
use std::path::PathBuf;

/// Simulate policies over a fleet and write a capacity report.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SimulateArgs {
    /// Combine the partial reports of a sharded run.
    #[command(subcommand)]
    pub command: Option<SimulateCommand>,
    /// Scenario file (YAML); without one, the built-in scenario runs.
    pub scenario: Option<PathBuf>,
    /// Replay a trace with the default server model and every built-in policy.
    #[arg(long, conflicts_with = "scenario", requires = "format")]
    pub trace: Option<PathBuf>,
    /// Format of --trace.
    #[arg(long, value_enum, requires = "trace")]
    pub format: Option<TraceFormat>,
    /// Directory for report.json, report.md and the SVG plots (with
    /// --shard: for partial.json).
    #[arg(long, default_value = "sim-out")]
    pub out: PathBuf,
    /// Seed (overrides the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run only this policy (repeatable); any built-in or defined name.
    #[arg(long = "policy", value_name = "NAME")]
    pub policies: Vec<String>,
    /// Sweep fixed keep-alive windows (1m-60m) and cost-aware prices
    /// (1m-2h per cold start) with the oracle, and chart cold starts
    /// against replica-hours (frontier.svg).
    #[arg(long, conflicts_with = "policies")]
    pub frontier: bool,
    /// Run only shard I of N (servers whose index is I modulo N, I from 0)
    /// and write partial.json; `simulate merge` adds the shards up.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// `simulate`'s subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum SimulateCommand {
    /// Add up the partial reports of every shard of one run into the
    /// report the unsharded run writes.
    Merge {
        /// Each shard's output directory (or its partial.json).
        #[arg(required = true, value_name = "DIR")]
        parts: Vec<PathBuf>,
        /// Directory for report.json, report.md and the SVG plots.
        #[arg(long, default_value = "sim-out")]
        out: PathBuf,
    },
}

/// Runs the command.
pub fn run(args: &SimulateArgs) -> Result<(), SimError> {
    let started = std::time::Instant::now();
    if let Some(SimulateCommand::Merge { parts, out }) = &args.command {
        check_out(out)?;
        let output = Output::merged(parts)?;
        // A merge into one of its shards' folders reads that partial: it is
        // this run's input, not an earlier run's output.
        let inputs: Vec<PathBuf> = parts
            .iter()
            .map(|p| super::shard::partial_path(p))
            .collect();
        return finish(
            &output,
            out,
            started,
            &format!("{} shards merged", parts.len()),
            &inputs,
        );
    }
    let plan = plan(args)?;
    // An output directory that cannot be made fails now, not after the run.
    check_out(&args.out)?;
    std::fs::create_dir_all(&args.out).map_err(|source| SimError::Write {
        path: args.out.clone(),
        source,
    })?;
    for note in unused_settings(&plan, args.frontier) {
        eprintln!("note: {note}");
    }
    let plan = if args.frontier {
        plan.into_frontier()
    } else {
        plan
    };
    let shard = args
        .shard
        .map(|s| format!(", shard {}/{}", s.index, s.count))
        .unwrap_or_default();
    eprintln!(
        "simulating {} servers x {} under {} {} (seed {}{shard})",
        plan.fleet.len(),
        super::report::span_text(plan.scenario.duration),
        plan.runs.len(),
        if plan.runs.len() == 1 {
            "policy"
        } else {
            "policies"
        },
        plan.scenario.seed
    );
    let opts = Options {
        progress: !args.quiet,
        ..Options::default()
    };
    if let Some(shard) = args.shard {
        let partial = plan.run_shard(shard, opts)?;
        let path = Output::write_partial(&partial, &args.out)?;
        println!(
            "shard {}/{} simulated in {:.1} s; wrote {}",
            shard.index,
            shard.count,
            started.elapsed().as_secs_f64(),
            path.display()
        );
        note_earlier_outputs(&args.out, &[path]);
        return Ok(());
    }
    finish(&plan.run(opts)?, &args.out, started, "simulated", &[])
}

/// What the scenario sets that this run will not use, so that nothing is
/// dropped without a word: a defined policy not run, or, under
/// `--frontier` (which sweeps `default` as the scenario defines it, with
/// the oracle), the scenario's own choice of policies and sweeps.
fn unused_settings(plan: &Plan, frontier: bool) -> Vec<String> {
    let s = &plan.scenario;
    if frontier {
        let own = s.sweeps.len() + s.define.keys().filter(|n| *n != "default").count();
        let chosen = s.policies != Scenario::default().policies;
        return (own > 0 || chosen || !s.oracle)
            .then(|| {
                "--frontier sweeps `default` as the scenario defines it, with the oracle: \
                 the scenario's other definitions, its sweeps, `policies` and `oracle` are \
                 not used"
                    .to_owned()
            })
            .into_iter()
            .collect();
    }
    // A definition is used by a run of its name, by a run of a sweep over
    // it, and `default`'s by `default-apply` too.
    let ran = |sweep: &super::sweep::Sweep| plan.runs.iter().any(|r| sweep.made(&r.name));
    let used = |name: &str| {
        s.sweeps.iter().any(|w| w.policy == name && ran(w))
            || plan.runs.iter().any(|r| {
                r.name == name
                    || (name == crate::config::DEFAULT_POLICY && r.name == super::scenario::APPLY)
            })
    };
    let unused_definitions = s.define.keys().filter(|name| !used(name)).map(|name| {
        format!("`define.{name}` is not run: list it in `policies` or pass --policy {name}")
    });
    let unused_sweeps = s
        .sweeps
        .iter()
        .enumerate()
        .filter(|(_, w)| !ran(w))
        .map(|(i, w)| {
            format!(
                "`sweeps[{i}]` (over `{}`) is not run: --policy left out all its policies",
                w.policy
            )
        });
    unused_definitions.chain(unused_sweeps).collect()
}

/// `--out` names a directory, or nothing yet.
fn check_out(out: &std::path::Path) -> Result<(), SimError> {
    if out.exists() && !out.is_dir() {
        return Err(SimError::Usage(format!(
            "--out {}: exists and is not a directory",
            out.display()
        )));
    }
    Ok(())
}

fn plan(args: &SimulateArgs) -> Result<Plan, SimError> {
    match (&args.trace, &args.scenario, args.format) {
        (Some(file), _, Some(format)) => {
            Plan::from_trace(file, format, args.seed.unwrap_or(1), &args.policies)
        }
        (_, Some(file), _) => {
            let mut scenario = Scenario::load(file)?;
            scenario.seed = args.seed.unwrap_or(scenario.seed);
            Plan::new(scenario, &file.display().to_string(), &args.policies)
        }
        _ => {
            let mut scenario = Scenario::builtin();
            scenario.seed = args.seed.unwrap_or(scenario.seed);
            Plan::new(scenario, "<built-in scenario>", &args.policies)
        }
    }
}

/// Writes the report and prints its summary.
fn finish(
    output: &Output,
    out: &std::path::Path,
    started: std::time::Instant,
    done: &str,
    inputs: &[PathBuf],
) -> Result<(), SimError> {
    let files = output.write(out)?;
    print!(
        "{}",
        output
            .report
            .to_markdown(&[])
            .split("\n## Model")
            .next()
            .unwrap_or("")
    );
    println!(
        "\n{} requests, {done} in {:.1} s; wrote {}",
        output.report.scenario.requests,
        started.elapsed().as_secs_f64(),
        files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let known: Vec<PathBuf> = files.iter().chain(inputs).cloned().collect();
    note_earlier_outputs(out, &known);
    Ok(())
}

/// Names the files in `out` that look like this command's output but this
/// run neither wrote nor read (an earlier run's plots or partial report),
/// so that nobody reads them as this run's. They are left alone: they may
/// be someone's.
fn note_earlier_outputs(out: &std::path::Path, known: &[PathBuf]) {
    let Ok(entries) = std::fs::read_dir(out) else {
        return;
    };
    let same = |a: &std::path::Path, b: &std::path::Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b);
    let mut earlier: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| !known.iter().any(|k| same(k, &e.path())))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|name| super::is_output_name(name))
        .collect();
    if earlier.is_empty() {
        return;
    }
    earlier.sort();
    eprintln!(
        "note: {} also holds {} from an earlier run, not this one",
        out.display(),
        earlier.join(", ")
    );
}
