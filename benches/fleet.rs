//! The fleet listing at 100,000 servers (`cargo bench --bench fleet`): the
//! first page (100 rows), a page deep in the fleet through a cursor, a full
//! page of 1,000 rows, and a filter that must scan the whole fleet to fill a
//! page (`active=true` when only 1% of servers are active). Compared with
//! the alternative of listing every server and sorting per request.

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_autoscaler::cluster::Inventory;
use mcp_autoscaler::config::Config;
use mcp_autoscaler::id::ServerKey;
use mcp_autoscaler::output::fleet::{Fleet, FleetQuery, encode_cursor};
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
