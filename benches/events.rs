//! One activity event into the store (`cargo bench --bench events`): what
//! counting sessions by the id events carry costs against plain open/close
//! arithmetic, in the same run. The store holds 10,000 servers with 100
//! open sessions each; each iteration opens a session and closes it again
//! (two events), with ids and without; and one request with and without
//! its session's id.

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_autoscaler::id::ServerKey;
use mcp_autoscaler::signal::EventKind;
use mcp_autoscaler::source::Store;
use mcp_autoscaler::source::sessions::SessionId;
use mcp_autoscaler::time::Timestamp;
use std::hint::black_box;

const SERVERS: usize = 10_000;
const OPEN_PER_SERVER: usize = 100;
const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

fn key(i: usize) -> ServerKey {
    ServerKey::parse(&format!("tenant-{:04}", i % 1000), &format!("mcp-{i:06}")).expect("valid")
}

fn id(server: usize, session: usize) -> Option<SessionId> {
    SessionId::parse(&format!("{server}-{session}-c0ffee"))
}

/// A store whose servers each hold `OPEN_PER_SERVER` open sessions, by id
/// or without.
fn store(with_ids: bool) -> Store {
    let store = Store::new(false).with_max_servers(SERVERS * 2);
    for i in 0..SERVERS {
        for s in 0..OPEN_PER_SERVER {
            let session = if with_ids { id(i, s) } else { None };
            store.record_session_event(&key(i), (EventKind::SessionOpen, session), NOW);
        }
    }
    store
}

fn bench(c: &mut Criterion) {
    let keys: Vec<ServerKey> = (0..SERVERS).map(key).collect();
    let mut g = c.benchmark_group("one event into a store of 10,000 servers");
    for (name, with_ids) in [("with session ids", true), ("without ids", false)] {
        let s = store(with_ids);
        // Ids are hashed where an event is parsed: outside (see "parse").
        let fresh: Vec<Option<SessionId>> = (0..SERVERS)
            .map(|i| {
                if with_ids {
                    id(i, OPEN_PER_SERVER)
                } else {
                    None
                }
            })
            .collect();
        let mut i = 0usize;
        g.bench_function(format!("open + close, {name}"), |b| {
            b.iter(|| {
                i = (i + 1) % SERVERS;
                let session = fresh[i];
                s.record_session_event(&keys[i], (EventKind::SessionOpen, session), NOW);
                black_box(s.record_session_event(&keys[i], (EventKind::SessionClose, session), NOW))
            });
        });
        let mut j = 0usize;
        let ids: Vec<Option<SessionId>> = (0..SERVERS)
            .map(|i| if with_ids { id(i, 7) } else { None })
            .collect();
        g.bench_function(format!("request, {name}"), |b| {
            b.iter(|| {
                j = (j + 1) % SERVERS;
                black_box(s.record_session_event(&keys[j], (EventKind::Request, ids[j]), NOW))
            });
        });
    }
    g.bench_function("parse: hash one 20-byte session id", |b| {
        b.iter(|| black_box(SessionId::parse(black_box("4821-17-c0ffee-abcde"))));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
