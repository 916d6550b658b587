//! The fleet listing at 100,000 servers (`cargo bench --bench fleet`): the
//! first page (100 rows), a page deep in the fleet through a cursor, a full
//! page of 1,000 rows, and a filter that must scan the whole fleet to fill a
//! page (`active=true` when only 1% of servers are active). Compared with
//! the alternative of listing every server and sorting per request. Then
//! the live view's costs: the sampler's sweep over 100,000 servers, and one
//! hour-long timeline drawn as SVG.

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_autoscaler::cluster::Inventory;
use mcp_autoscaler::config::Config;
use mcp_autoscaler::id::ServerKey;
use mcp_autoscaler::output::fleet::{Fleet, FleetQuery, encode_cursor};
use mcp_autoscaler::output::recent::{MAX_SAMPLES, Recent};
use mcp_autoscaler::plot::{Shade, Steps, Timeline};
use mcp_autoscaler::signal::EventKind;
use mcp_autoscaler::source::Store;
use mcp_autoscaler::time::Timestamp;
use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::time::Duration;

const SERVERS: usize = 100_000;
const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

fn key(i: usize) -> ServerKey {
    ServerKey::parse(&format!("tenant-{:04}", i % 1000), &format!("mcp-{i:06}")).expect("valid")
}

fn fleet_store() -> Store {
    let store = Store::new(false).with_max_servers(SERVERS * 2);
    for i in 0..SERVERS {
        // 1% active now, the rest last active two hours ago (idle).
        let at = if i % 100 == 0 {
            NOW
        } else {
            NOW - Duration::from_secs(7200)
        };
        store.record_event(&key(i), EventKind::Request, at);
    }
    store
}

fn query(pairs: &[(&str, &str)]) -> FleetQuery {
    let params: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    FleetQuery::parse(&params).expect("query")
}

fn bench(c: &mut Criterion) {
    let store = fleet_store();
    let inventory = Inventory::new(10);
    let asked = BTreeMap::new();
    let config = Config::default();
    let fleet = Fleet {
        store: &store,
        inventory: &inventory,
        asked: &asked,
        config: &config,
        now: NOW,
    };
    let deep = encode_cursor(&key(50_000));
    let mut g = c.benchmark_group("fleet_100k");
    g.sample_size(20);
    g.bench_function("first_page_100", |b| {
        b.iter(|| black_box(fleet.page(&query(&[]))))
    });
    g.bench_function("deep_page_100_by_cursor", |b| {
        b.iter(|| black_box(fleet.page(&query(&[("cursor", &deep)]))))
    });
    g.bench_function("page_1000", |b| {
        b.iter(|| black_box(fleet.page(&query(&[("limit", "1000")]))))
    });
    g.bench_function("active_true_page_100_scanning", |b| {
        b.iter(|| black_box(fleet.page(&query(&[("active", "true")]))))
    });
    // The alternative: keys gathered from hash maps (in no order) and sorted
    // on each request, before a single row is decided.
    let mut unordered = store.keys_after(None, None, usize::MAX);
    let hasher = std::hash::RandomState::new();
    unordered.sort_by_key(|k| std::hash::BuildHasher::hash_one(&hasher, k));
    g.bench_function("alternative_collect_and_sort_keys", |b| {
        b.iter(|| {
            let mut all = unordered.clone();
            all.sort();
            black_box(all.into_iter().take(100).count())
        })
    });
    g.finish();
    sweep(c, &fleet);
}

/// The live view's sampler: one sweep decides every server and records what
/// changed (every 15 s in `serve`). Steady state: the servers are known.
fn sweep(c: &mut Criterion, fleet: &Fleet<'_>) {
    let recent = Recent::default();
    recent.sweep(fleet);
    let mut g = c.benchmark_group("recent_100k");
    g.sample_size(10);
    g.bench_function("sweep_every_server", |b| b.iter(|| recent.sweep(fleet)));
    // For scale: what a /metrics scrape already spends on the per-server
    // gauges (a row per server).
    g.bench_function("compare_each_row_as_a_scrape_does", |b| {
        b.iter(|| {
            let mut n = 0usize;
            fleet.each_row(|row| n += usize::from(row.active == Some(true)));
            black_box(n)
        })
    });
    g.finish();
    let samples: Vec<(f64, f64)> = (0..MAX_SAMPLES)
        .map(|i| (-60.0 + i as f64 / 4.0, (i % 7) as f64))
        .collect();
    let chart = Timeline {
        title: "replicas".into(),
        x_desc: "minutes".into(),
        y_desc: "replicas".into(),
        x_range: -60.0..0.0,
        lines: vec![Steps {
            label: "desired".into(),
            points: samples.clone(),
        }],
        shade: Some(Shade {
            label: "sessions".into(),
            points: samples,
        }),
        size: (900, 340),
    };
    let mut g = c.benchmark_group("live_view");
    g.bench_function("timeline_svg_240_points", |b| {
        b.iter(|| black_box(mcp_autoscaler::plot::timeline(&chart)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
