use super::*;
use crate::sim::run::Options;
use crate::sim::{Output, Plan};

const QUIET: Options = Options {
    fast_forward: true,
    progress: false,
    shard: None,
};

fn small_plan(seed: u64) -> Plan {
    let scenario = Scenario::from_yaml(
        "name: shards\nduration: 3h\nseed: 5\n\
         policies: [default, hpa, keep-alive-10m]\n\
         workload: { synthetic: { servers: 14, rate_log_mean: 0.5, rate_log_sd: 2.0,\n\
           periodic: { server_fraction: 0.3 }, streams: { server_fraction: 0.3 } } }\n",
        "shards.yaml",
    )
    .expect("parses");
    let scenario = Scenario { seed, ..scenario };
    Plan::new(scenario, "shards.yaml", &[]).expect("valid")
}

/// Through JSON, as the files carry them.
fn round_trip(p: &Partial) -> Partial {
    serde_json::from_str(&serde_json::to_string(p).expect("json")).expect("parses")
}

fn shards(plan: &Plan, count: u32) -> Vec<Partial> {
    (0..count)
        .map(|index| round_trip(&plan.run_shard(Shard { index, count }, QUIET).expect("runs")))
        .collect()
}

#[test]
fn shards_are_parsed_as_i_of_n_and_refused_out_of_range() {
    assert_eq!("2/5".parse::<Shard>(), Ok(Shard { index: 2, count: 5 }));
    for bad in ["5/5", "1/0", "a/2", "3", "-1/4", "0/100001", ""] {
        let e = bad.parse::<Shard>().expect_err(bad);
        assert!(e.contains("expected I/N"), "{e}");
    }
    let s = Shard { index: 1, count: 3 };
    assert!(s.covers(1) && s.covers(4) && !s.covers(3));
}

#[test]
fn merged_shards_give_exactly_the_unsharded_report() {
    let plan = small_plan(5);
    let whole = plan.run(QUIET).expect("runs");
    assert!(
        whole.report.policies.iter().all(|p| p.streams > 0),
        "streams are merged too"
    );
    for count in [1, 3, 5] {
        let mut parts = shards(&plan, count);
        // The order the shards arrive in does not matter.
        parts.reverse();
        let (scenario, runs, servers, stats, timelines) = merge(parts).expect("merges");
        let merged = Output::new(&scenario, &runs, servers, stats, timelines);
        assert_eq!(
            merged.report.to_json(),
            whole.report.to_json(),
            "{count} shards"
        );
        assert_eq!(
            merged.report.to_markdown(&[]),
            whole.report.to_markdown(&[])
        );
        let names =
            |o: &Output| -> Vec<String> { o.timelines.iter().map(|t| t.server.clone()).collect() };
        assert_eq!(names(&merged), names(&whole));
        for (a, b) in merged.timelines.iter().zip(&whole.timelines) {
            assert_eq!(a.per_policy, b.per_policy);
        }
    }
}

#[test]
fn partials_that_do_not_make_one_whole_run_are_refused() {
    let plan = small_plan(5);
    let parts = shards(&plan, 3);
    let e = merge(parts[..2].to_vec()).expect_err("missing");
    assert!(e.to_string().contains("missing shards: 2/3"), "{e}");
    let twice = vec![parts[0].clone(), parts[0].clone(), parts[1].clone()];
    assert!(
        merge(twice)
            .expect_err("twice")
            .to_string()
            .contains("given twice")
    );
    let other = shards(&small_plan(6), 3);
    let mixed = vec![parts[0].clone(), parts[1].clone(), other[2].clone()];
    let e = merge(mixed).expect_err("mixed");
    assert!(e.to_string().contains("another run"), "{e}");
    assert!(merge(Vec::new()).is_err());
}

#[test]
fn a_merger_given_an_unchecked_shard_count_refuses_it_instead_of_failing_later() {
    let plan = small_plan(5);
    let mut huge = shards(&plan, 3)[0].clone();
    huge.shard.count = MAX_SHARDS + 1;
    let mut merger = Merger::default();
    let e = merger.add(huge).expect_err("out of range");
    assert!(e.to_string().contains("at most"), "{e}");
    assert!(merger.finish().is_err(), "nothing was taken");
}

#[test]
fn a_file_that_is_not_a_partial_report_names_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(PARTIAL_FILE);
    std::fs::write(&path, "{}").expect("write");
    let e = read(dir.path()).expect_err("not a partial");
    assert!(e.to_string().contains("partial.json"), "{e}");
    let mut p = round_trip(
        &small_plan(5)
            .run_shard(Shard { index: 0, count: 2 }, QUIET)
            .expect("runs"),
    );
    p.shard = Shard { index: 7, count: 2 };
    std::fs::write(&path, serde_json::to_string(&p).expect("json")).expect("write");
    let e = read(&path).expect_err("bad shard");
    assert!(e.to_string().contains("7/2 is not a shard"), "{e}");
}

/// The merge error when shard 0 of `parts` (two shards) is edited by `edit`.
fn refused_with(parts: &[Partial], edit: &dyn Fn(&mut Partial)) -> String {
    let mut p = parts[0].clone();
    edit(&mut p);
    merge(vec![p, parts[1].clone()])
        .expect_err("refused")
        .to_string()
}

#[test]
fn a_partial_whose_plotted_servers_or_timelines_do_not_fit_its_shard_is_refused() {
    let plan = small_plan(5);
    let parts = shards(&plan, 2);
    let with = |edit: &dyn Fn(&mut Partial)| refused_with(&parts, edit);
    let plotted = parts[0].plotted.clone();
    assert!(!plotted.is_empty() && !parts[0].timelines.is_empty());
    let e = with(&|p| p.plotted.push(p.servers));
    assert!(e.contains("not distinct servers"), "{e}");
    let e = with(&|p| p.plotted.push(p.plotted[0]));
    assert!(e.contains("not distinct servers"), "{e}");
    // A timeline of a server shard 1 covers.
    let e = with(&|p| {
        let theirs = parts[1].timelines.first().expect("shard 1 plots one");
        p.timelines.push(theirs.clone());
    });
    assert!(e.contains("but shard 0/2 plots"), "{e}");
    let e = with(&|p| p.timelines.clear());
    assert!(e.contains("but shard 0/2 plots"), "{e}");
    let e = with(&|p| p.timelines[0].replicas[0].push(1));
    assert!(e.contains("malformed"), "{e}");
}

#[test]
fn a_partial_whose_totals_could_not_come_from_a_run_is_refused() {
    let plan = small_plan(5);
    let parts = shards(&plan, 2);
    let with = |edit: &dyn Fn(&mut Stats)| refused_with(&parts, &|p| edit(&mut p.stats[0]));
    let e = with(&|s| s.served += 1);
    assert!(e.contains("do not add up to the"), "{e}");
    let e = with(&|s| s.slow = u64::MAX);
    assert!(e.contains("slow requests but only"), "{e}");
    let e = with(&|s| s.idle_replica_us = s.replica_us + 1);
    assert!(e.contains("idle replica-time"), "{e}");
    // A synthetic fleet of another size than its scenario draws.
    let e = refused_with(&parts, &|p| p.servers = 1 << 40);
    assert!(
        e.contains("a fleet of 1099511627776 servers, but its scenario draws 14"),
        "{e}"
    );
    // Each shard right, the sums past what a count holds.
    let e = {
        let (mut a, mut b) = (parts[0].clone(), parts[1].clone());
        for p in [&mut a, &mut b] {
            let s = &mut p.stats[0];
            s.requests = u64::MAX - 1;
            s.unfinished = s.requests - s.served - s.dropped;
        }
        merge(vec![a, b]).expect_err("overflow").to_string()
    };
    assert!(e.contains("in all"), "{e}");
    // Any saturated sum, not only the requests.
    let (mut a, mut b) = (parts[0].clone(), parts[1].clone());
    a.stats[0].wait_sum_us = u64::MAX - 1;
    b.stats[0].wait_sum_us = 2;
    let e = merge(vec![a, b]).expect_err("overflow").to_string();
    assert!(e.contains("past what a count holds"), "{e}");
}

#[test]
fn merging_files_folds_them_one_by_one_into_the_same_report() {
    let plan = small_plan(5);
    let whole = plan.run(QUIET).expect("runs");
    let dir = tempfile::tempdir().expect("tempdir");
    let paths: Vec<PathBuf> = shards(&plan, 4)
        .iter()
        .enumerate()
        .map(|(i, p)| Output::write_partial(p, &dir.path().join(format!("s{i}"))).expect("written"))
        .collect();
    let merged = Output::merged(&paths).expect("merges");
    assert_eq!(merged.report.to_json(), whole.report.to_json());
}

#[test]
fn a_partial_of_another_format_version_is_refused_naming_both() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut p = round_trip(
        &small_plan(5)
            .run_shard(Shard { index: 0, count: 2 }, QUIET)
            .expect("runs"),
    );
    p.format = "mcp-autoscaler partial simulation report, version 1".into();
    let path = dir.path().join(PARTIAL_FILE);
    std::fs::write(&path, serde_json::to_string(&p).expect("json")).expect("write");
    let e = read(&path).expect_err("old version").to_string();
    assert!(e.contains("version 1") && e.contains("version 5"), "{e}");
}
