//! The simulator end to end: golden reports for every scenario in
//! `simulations/`, determinism, and the `simulate` command line.
//!
//! `UPDATE_GOLDEN=1 cargo test --test simulate` rewrites the golden files
//! after an intended change; review the diff of `report.md` before
//! committing it.

use mcp_autoscaler::sim::Plan;
use mcp_autoscaler::sim::run::Options;
use mcp_autoscaler::sim::scenario::Scenario;
use std::path::{Path, PathBuf};
use std::process::Command;

const QUIET: Options = Options {
    fast_forward: true,
    progress: false,
    shard: None,
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn plan(file: &Path) -> Plan {
    let scenario = Scenario::load(file).unwrap_or_else(|e| panic!("{e}"));
    Plan::new(scenario, &file.display().to_string(), &[]).unwrap_or_else(|e| panic!("{e}"))
}

fn scenarios() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("simulations"))
        .expect("simulations/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        // The built-in scenario is the `simulate` default; it is checked by
        // the command-line test below.
        .filter(|p| p.file_stem().is_some_and(|s| s != "builtin"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_scenario_matches_its_golden_report() {
    let files = scenarios();
    assert!(files.len() >= 4, "{files:?}");
    let mut failures = Vec::new();
    for file in files {
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = root().join("simulations/golden").join(&stem);
        let out = plan(&file).run(QUIET).expect("runs");
        let json = out.report.to_json();
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(&dir).expect("golden dir");
            std::fs::write(dir.join("report.json"), &json).expect("write");
            std::fs::write(dir.join("report.md"), out.report.to_markdown(&[])).expect("write");
            continue;
        }
        let golden = std::fs::read_to_string(dir.join("report.json"))
            .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", dir.display()));
        if golden != json {
            let first = golden
                .lines()
                .zip(json.lines())
                .enumerate()
                .find(|(_, (a, b))| a != b)
                .map(|(i, (a, b))| format!("line {}: golden `{a}`, now `{b}`", i + 1))
                .unwrap_or_else(|| "length differs".into());
            failures.push(format!("{stem}: {first}"));
        }
    }
    assert!(
        failures.is_empty(),
        "reports changed:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_experiment_scenario_is_valid() {
    let dir = root().join("simulations/experiments");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("simulations/experiments/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|x| x == "yaml") {
            let plan = plan(&path);
            assert!(!plan.runs.is_empty(), "{}", path.display());
            seen += 1;
        }
    }
    assert!(seen > 0, "no experiment scenario");
}

#[test]
fn the_same_seed_gives_identical_json_and_another_seed_does_not() {
    let file = root().join("simulations/small-fleet.yaml");
    let p = plan(&file);
    let a = p.run(QUIET).expect("runs").report.to_json();
    let b = p.run(QUIET).expect("runs").report.to_json();
    assert_eq!(a, b);
    let mut other = Scenario::load(&file).expect("loads");
    other.seed += 1;
    let c = Plan::new(other, "x", &[])
        .expect("plan")
        .run(QUIET)
        .expect("runs")
        .report
        .to_json();
    assert_ne!(a, c);
}

#[test]
fn the_report_has_every_required_key_for_every_policy() {
    let out = plan(&root().join("simulations/small-fleet.yaml"))
        .run(QUIET)
        .expect("runs");
    let json: serde_json::Value = serde_json::from_str(&out.report.to_json()).expect("json");
    let policies = json["policies"].as_array().expect("policies array");
    let names: Vec<&str> = policies.iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "default",
            "default-apply",
            "hpa",
            "keda-prometheus",
            "keep-alive-10m",
            "infra-plan-rule",
            "knative-kpa",
            "oracle"
        ]
    );
    for p in policies {
        for key in [
            "name",
            "requests",
            "replica_seconds",
            "idle_replica_seconds",
            "cold_starts",
            "latency_p50_s",
            "latency_p95_s",
            "latency_p99_s",
            "slo_violation_ratio",
            "dropped",
            "sessions_cut",
            "scale_events",
        ] {
            assert!(!p[key].is_null(), "{key} missing in {p}");
        }
        assert!(p["requests"].as_u64() > Some(0));
        let rs = p["replica_seconds"].as_f64().unwrap_or(-1.0);
        let idle = p["idle_replica_seconds"].as_f64().unwrap_or(-1.0);
        assert!(rs > 0.0 && idle >= 0.0 && idle <= rs, "{p}");
        let (p50, p95, p99) = (
            p["latency_p50_s"].as_f64().unwrap_or(0.0),
            p["latency_p95_s"].as_f64().unwrap_or(0.0),
            p["latency_p99_s"].as_f64().unwrap_or(0.0),
        );
        assert!(0.0 < p50 && p50 <= p95 && p95 <= p99, "{p}");
    }
    // Every policy sees the same workload.
    let first = policies[0]["requests"].as_u64();
    assert!(policies.iter().all(|p| p["requests"].as_u64() == first));
}

fn simulate(args: &[&str], out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mcp-autoscaler"))
        .arg("simulate")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("runs")
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn simulate_with_no_scenario_runs_the_builtin_one_and_writes_the_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = simulate(&["--policy", "knative-kpa"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("| knative-kpa |"), "{stdout}");
    for f in [
        "report.json",
        "report.md",
        "cost_vs_slo.svg",
        "latency_cdf.svg",
    ] {
        let text =
            std::fs::read_to_string(dir.path().join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(!text.is_empty(), "{f}");
        if f.ends_with(".svg") {
            assert!(text.starts_with("<svg"), "{f}");
        }
    }
    let timelines = std::fs::read_dir(dir.path())
        .expect("out dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("timeline_"))
        })
        .count();
    assert_eq!(timelines, 3);
}

#[test]
fn a_trace_replays_with_every_builtin_policy_and_no_scenario_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = root().join("simulations/traces/events-sample.csv");
    let trace = trace.to_string_lossy();
    let o = simulate(
        &["--trace", &trace, "--format", "events", "--seed", "9"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report.json")).expect("report.json"),
    )
    .expect("json");
    // Every built-in policy, and the oracle.
    assert_eq!(json["policies"].as_array().map(Vec::len), Some(8));
    assert_eq!(json["scenario"]["seed"].as_u64(), Some(9));
    assert_eq!(json["scenario"]["servers"].as_u64(), Some(6));
    assert_eq!(
        json["scenario"]["duration_s"].as_f64(),
        Some(3.0 * 3600.0 + 60.0),
        "the trace's span and 38 s for its last requests, in whole minutes"
    );
    // A last request just before a minute's end still has room to finish.
    let late = dir.path().join("late.csv");
    std::fs::write(
        &late,
        "time_s,server,kind,session,service_s\n119.99,a,request,,0.1\n",
    )
    .expect("write");
    let late = late.display().to_string();
    let out = dir.path().join("late");
    let o = simulate(&["--trace", &late, "--format", "events"], &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("report.json")).expect("report.json"),
    )
    .expect("json");
    assert_eq!(json["scenario"]["duration_s"].as_f64(), Some(180.0));
    let policies = json["policies"].as_array().cloned().unwrap_or_default();
    assert_eq!(policies.len(), 8);
    for p in policies {
        // Served, or timed out in the queue: never still waiting at the end.
        let (served, dropped) = (p["served"].as_u64(), p["dropped"].as_u64());
        assert_eq!(served.zip(dropped).map(|(s, d)| s + d), Some(1), "{p}");
        assert_eq!(p["unfinished"].as_u64(), Some(0), "{p}");
    }
}

#[test]
fn bad_input_is_one_error_naming_the_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("bad.csv");
    std::fs::write(
        &csv,
        "time_s,server,kind,session,service_s\n1.0,a,request,,\n2.0,a,reqest,,\n",
    )
    .expect("write");
    let yaml = dir.path().join("bad.yaml");
    std::fs::write(&yaml, "name: x\ncontrol:\n  polling_intervall: 30s\n").expect("write");
    let long = dir.path().join("long.csv");
    std::fs::write(
        &long,
        "time_s,server,kind,session,service_s\n1.0,a,request,,\n3000000.0,a,request,,\n",
    )
    .expect("write");
    let cases: Vec<(Vec<String>, Vec<String>)> = vec![
        (
            vec![
                "--trace".into(),
                csv.display().to_string(),
                "--format".into(),
                "events".into(),
            ],
            vec![format!("{}:3: kind:", csv.display()), "reqest".into()],
        ),
        (
            vec![yaml.display().to_string()],
            vec![
                yaml.display().to_string(),
                "line 3".into(),
                "polling_intervall".into(),
            ],
        ),
        (
            vec!["--policy".into(), "nope".into()],
            vec!["--policy nope".into(), "known: ".into()],
        ),
        (
            vec![
                "--trace".into(),
                long.display().to_string(),
                "--format".into(),
                "events".into(),
            ],
            vec![
                long.display().to_string(),
                "runs to 3000000 s; with 38 s for its last requests to finish, past the longest run".into(),
            ],
        ),
        (
            vec![
                "--policy".into(),
                "hpa".into(),
                "--policy".into(),
                "hpa".into(),
            ],
            vec!["--policy hpa: given twice".into()],
        ),
    ];
    for (args, wanted) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = simulate(&args, &dir.path().join("out"));
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert!(err.starts_with("error: "), "{err}");
        for w in wanted {
            assert!(err.contains(&w), "{args:?}: `{w}` not in {err}");
        }
        assert!(!dir.path().join("out/report.json").exists());
    }
}

#[test]
fn a_frontier_sweep_charts_windows_and_prices_and_names_the_windows_beaten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = root().join("simulations/trace-events.yaml");
    let o = simulate(&["--frontier", &scenario.to_string_lossy()], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = std::fs::read_to_string(dir.path().join("frontier.svg")).expect("frontier.svg");
    assert!(svg.starts_with("<svg") && svg.contains("oracle"), "{svg}");
    let md = std::fs::read_to_string(dir.path().join("report.md")).expect("report.md");
    assert!(md.contains("## Frontier") && md.contains("dominates these fixed windows"));
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("report.json")).expect("report.json"),
    )
    .expect("json");
    let f = &json["frontier"];
    assert_eq!(f["fixed"].as_array().map(Vec::len), Some(7));
    assert_eq!(f["cost_aware"].as_array().map(Vec::len), Some(8));
    assert_eq!(f["oracle"]["name"].as_str(), Some("oracle"));
    assert!(f["dominated"].is_array());
    // The oracle meets at most the arrivals no start could precede.
    let cold = |p: &serde_json::Value| p["cold_starts"].as_u64().unwrap_or(u64::MAX);
    let oracle = cold(&f["oracle"]);
    assert!(
        f["fixed"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|p| cold(p) >= oracle)
    );
    // A frontier chooses its own policies.
    let clash = simulate(&["--frontier", "--policy", "default"], dir.path());
    assert!(!clash.status.success());
}

#[test]
fn a_run_split_into_shards_merges_into_the_unsharded_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = root().join("simulations/trace-events.yaml");
    let scenario = scenario.to_string_lossy();
    let whole = dir.path().join("whole");
    let o = simulate(&[&scenario, "--quiet"], &whole);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut parts = Vec::new();
    for i in 0..3 {
        let part = dir.path().join(format!("shard-{i}"));
        let o = simulate(&[&scenario, "--quiet", "--shard", &format!("{i}/3")], &part);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(part.join("partial.json").is_file());
        assert!(
            !part.join("report.json").exists(),
            "a shard writes only its partial"
        );
        parts.push(part);
    }
    let merged = dir.path().join("merged");
    let mut args: Vec<String> = vec!["merge".into()];
    args.extend(parts.iter().map(|p| p.to_string_lossy().into_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = simulate(&args, &merged);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in ["report.json", "report.md"] {
        let a = std::fs::read_to_string(whole.join(f)).expect("whole");
        let b = std::fs::read_to_string(merged.join(f)).expect("merged");
        assert_eq!(a, b, "{f}");
    }
    // Merged into a shard's own folder: its partial is an input, not an
    // earlier run's output.
    let o = simulate(&args, &parts[0]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("earlier run"), "{}", stderr(&o));
    // Two of three shards are not a run.
    let o = simulate(&args[..3], &dir.path().join("incomplete"));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("missing shards: 2/3"), "{}", stderr(&o));
    let o = simulate(&[&scenario, "--shard", "3/3"], &dir.path().join("bad"));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("expected I/N"), "{}", stderr(&o));
}

#[test]
fn an_output_directory_that_cannot_be_made_fails_before_the_run_naming_its_cause_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").expect("write");
    // The built-in scenario takes seconds; refused before it starts.
    let o = simulate(&[], &file);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(!err.contains("simulating"), "refused before the run: {err}");
    assert!(
        err.contains(&format!(
            "--out {}: exists and is not a directory",
            file.display()
        )),
        "{err}"
    );
    // Under a file: the system's reason, said once.
    let under = file.join("out");
    let o = simulate(&[], &under);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(!err.contains("simulating"), "refused before the run: {err}");
    assert!(
        err.contains(&format!("writing {}", under.display())),
        "{err}"
    );
    assert_eq!(err.matches("os error").count(), 1, "{err}");
    // A scenario that is not there: its cause once too.
    let o = simulate(&["no-such.yaml"], &dir.path().join("out"));
    let err = stderr(&o);
    assert!(err.contains("cannot read scenario no-such.yaml"), "{err}");
    assert_eq!(err.matches("os error").count(), 1, "{err}");
}

/// Writes `dir/t.csv`: an events trace of `requests` requests 7 s apart
/// over `servers` servers. Returns its path and text.
fn write_events_trace(dir: &Path, requests: u32, servers: u32) -> (PathBuf, String) {
    let trace = dir.join("t.csv");
    let mut csv = String::from("time_s,server,kind,session,service_s\n");
    for k in 0..requests {
        csv.push_str(&format!("{},s{},request,,0.2\n", k * 7, k % servers));
    }
    std::fs::write(&trace, &csv).expect("write");
    (trace, csv)
}

#[test]
fn shards_over_a_trace_merge_by_its_bytes_not_by_how_its_path_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (trace, csv) = write_events_trace(dir.path(), 200, 5);
    let shard = |path: &str, i: u32| {
        let out = dir.path().join(format!("part-{i}"));
        let args = ["--trace", path, "--format", "events", "--policy", "hpa"];
        let shard_arg = format!("{i}/2");
        let o = simulate(
            &[&args[..], &["--quiet", "--shard", &shard_arg]].concat(),
            &out,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        out.to_string_lossy().into_owned()
    };
    let plain = trace.to_string_lossy().into_owned();
    let dotted = format!("{}/./t.csv", dir.path().display());
    let (a, b) = (shard(&plain, 0), shard(&dotted, 1));
    let o = simulate(&["merge", &a, &b], &dir.path().join("merged"));
    assert!(
        o.status.success(),
        "same bytes, another spelling: {}",
        stderr(&o)
    );
    // The trace changed between the shards: refused, saying what differs.
    std::fs::write(&trace, csv.replace(",0.2\n", ",0.3\n")).expect("rewrite");
    let b = shard(&plain, 1);
    let o = simulate(&["merge", &a, &b], &dir.path().join("mixed"));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("trace's bytes differ"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_piped_trace_is_digested_as_it_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (trace, csv) = write_events_trace(dir.path(), 50, 3);
    let digest_of = |out: &Path| -> String {
        let text = std::fs::read_to_string(out.join("partial.json")).expect("partial");
        let json: serde_json::Value = serde_json::from_str(&text).expect("json");
        json["workload"].as_str().expect("digest").to_owned()
    };
    let args = [
        "--format", "events", "--policy", "hpa", "--quiet", "--shard", "0/1",
    ];
    let from_file = dir.path().join("file");
    let trace_arg = trace.to_string_lossy().into_owned();
    let o = simulate(
        &[&["--trace", trace_arg.as_str()][..], &args[..]].concat(),
        &from_file,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let piped = dir.path().join("piped");
    // A real pipe: read once, it cannot be read again.
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-autoscaler"))
        .arg("simulate")
        .args(["--trace", "/dev/stdin"])
        .args(args)
        .arg("--out")
        .arg(&piped)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    let mut stdin = child.stdin.take().expect("stdin");
    std::io::Write::write_all(&mut stdin, csv.as_bytes()).expect("piped");
    drop(stdin);
    let o = child.wait_with_output().expect("ends");
    assert!(o.status.success(), "{}", stderr(&o));
    let empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert_ne!(
        digest_of(&piped),
        empty,
        "the bytes read, not a second read"
    );
    assert_eq!(digest_of(&piped), digest_of(&from_file));
}

#[test]
fn streams_in_a_trace_keep_their_server_up_and_are_never_cut_by_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Server `a` gets one request, then two listen streams over 2 hours
    // and another request; server `b` only requests.
    let csv = "time_s,server,kind,session,service_s
0,a,request,,0.2
0,b,request,,0.2
30,a,connection_open,l1,
60,a,connection_open,l2,
3600,a,connection_close,l1,
5000,a,request,,0.2
7230,a,connection_close,l2,
10799,b,request,,0.2
";
    let report = |csv: &str, name: &str| {
        let trace = dir.path().join(format!("{name}.csv"));
        std::fs::write(&trace, csv).expect("write");
        let out = dir.path().join(name);
        let path = trace.to_string_lossy();
        let args = ["--trace", &path, "--format", "events", "--quiet"];
        let o = simulate(&[&args[..], &["--policy", "default"]].concat(), &out);
        assert!(o.status.success(), "{}", stderr(&o));
        let md = std::fs::read_to_string(out.join("report.md")).expect("report.md");
        assert!(md.contains("| streams cut |"), "{md}");
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("report.json")).expect("report.json"),
        )
        .expect("json");
        json["policies"].clone()
    };
    let named = report(csv, "named");
    for p in named.as_array().expect("policies") {
        assert_eq!(p["streams"].as_u64(), Some(2), "{p}");
        assert_eq!(p["streams_cut"].as_u64(), Some(0), "{p}");
        // `a` is up at least from its first stream to its last close.
        let up = p["replica_seconds"].as_f64().unwrap_or(0.0);
        assert!(up >= 7200.0, "{p}");
    }
    // Without ids, opens and closes pair up oldest first: the same run.
    let unnamed = report(&csv.replace(",l1,", ",,").replace(",l2,", ",,"), "unnamed");
    assert_eq!(named, unnamed);
}

/// What a scenario sets that a run will not use is said, not dropped.
#[test]
fn settings_a_run_will_not_use_are_named_in_a_note() {
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = dir.path().join("s.yaml");
    std::fs::write(
        &yaml,
        "duration: 1h\nworkload: { synthetic: { servers: 2 } }\npolicies: [hpa]\n\
         define: { mine: { idle_window: 2m }, swept: { idle_window: 3m } }\n\
         sweeps: [{ policy: swept, vary: { idle_window: [1m, 2m] } }]\n",
    )
    .expect("write");
    let path = yaml.display().to_string();
    let o = simulate(&[&path, "--quiet"], &dir.path().join("out"));
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("note: `define.mine` is not run: list it in `policies` or pass --policy mine"),
        "{err}"
    );
    assert!(
        !err.contains("define.swept"),
        "a swept definition is run: {err}"
    );
    // `--policy` that leaves out a sweep's policies leaves out the sweep.
    let o = simulate(
        &[&path, "--quiet", "--policy", "hpa"],
        &dir.path().join("p"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("`define.swept` is not run"), "{err}");
    assert!(
        err.contains("`sweeps[0]` (over `swept`) is not run"),
        "{err}"
    );
    let o = simulate(&[&path, "--quiet", "--frontier"], &dir.path().join("f"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("note: --frontier sweeps `default`"),
        "{}",
        stderr(&o)
    );
    // The same directory again, without --frontier: its chart is an
    // earlier run's, and said to be.
    let o = simulate(&[&path, "--quiet"], &dir.path().join("f"));
    let err = stderr(&o);
    assert!(
        err.contains("also holds frontier.svg from an earlier run"),
        "{err}"
    );
    assert!(dir.path().join("f/frontier.svg").exists(), "left alone");
    let o = simulate(&[&path, "--quiet", "--frontier"], &dir.path().join("f"));
    assert!(!stderr(&o).contains("earlier run"), "{}", stderr(&o));
}
