//! The election against an in-memory Lease API shared by two replicas, on
//! tokio's paused clock: create, renew, standby, takeover only after the
//! lease duration, release on shutdown, and the timings that keep two
//! replicas from ever acting at once.

use super::*;
use crate::cluster::fake_api::FakeApi;
use std::sync::atomic::{AtomicBool, Ordering};

const NS: &str = "mcp-system";

struct Replica {
    elector: Elector,
    cut: Arc<AtomicBool>,
}

fn replica(api: &Arc<FakeApi>, who: &str) -> Replica {
    let cut = Arc::new(AtomicBool::new(false));
    let elector = Elector::new(
        api.client(who, cut.clone()),
        LeaseConfig::default(),
        NS,
        who.to_owned(),
    );
    Replica { elector, cut }
}

fn holder(api: &FakeApi) -> Option<String> {
    api.lease()
        .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_owned))
}

fn transitions(api: &FakeApi) -> i64 {
    api.lease()
        .and_then(|l| l["spec"]["leaseTransitions"].as_i64())
        .unwrap_or(-1)
}

fn calls(api: &FakeApi, who: &str) -> Vec<String> {
    api.requests()
        .into_iter()
        .filter(|(w, _, _)| w == who)
        .map(|(_, method, path)| format!("{method} {path}"))
        .collect()
}

const PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/mcp-system/leases";

#[tokio::test(start_paused = true)]
async fn the_first_replica_creates_the_lease_then_renews_it_and_the_second_stands_by() {
    let api = Arc::new(FakeApi::default());
    let mut a = replica(&api, "a");
    let mut b = replica(&api, "b");
    assert_eq!(a.elector.round().await.expect("round"), Round::Holding);
    assert_eq!(
        calls(&api, "a"),
        [
            format!("GET {PATH}/mcp-autoscaler-leader"),
            format!("POST {PATH}")
        ]
    );
    let lease = api.lease().expect("created");
    assert_eq!(lease["spec"]["holderIdentity"], "a");
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 15);
    assert_eq!(lease["spec"]["leaseTransitions"], 0);
    let acquired = lease["spec"]["acquireTime"].clone();

    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(a.elector.round().await.expect("renew"), Round::Holding);
    assert_eq!(
        calls(&api, "a")[2..],
        [
            format!("GET {PATH}/mcp-autoscaler-leader"),
            format!("PUT {PATH}/mcp-autoscaler-leader")
        ]
    );
    let renewed = api.lease().expect("lease");
    assert_eq!(
        renewed["spec"]["acquireTime"], acquired,
        "a renewal keeps it"
    );
    assert_eq!(renewed["spec"]["leaseTransitions"], 0);

    assert_eq!(b.elector.round().await.expect("round"), Round::Standby);
    assert_eq!(
        calls(&api, "b"),
        [format!("GET {PATH}/mcp-autoscaler-leader")]
    );
    assert_eq!(holder(&api).as_deref(), Some("a"));
    let _ = &b.cut;
}

#[tokio::test(start_paused = true)]
async fn a_lapsed_lease_is_taken_only_after_its_duration_unchanged() {
    let api = Arc::new(FakeApi::default());
    let mut a = replica(&api, "a");
    let mut b = replica(&api, "b");
    a.elector.round().await.expect("create");
    let last_renewal = Instant::now();
    // `a` stops renewing; `b` tries every 2 s.
    loop {
        tokio::time::advance(Duration::from_secs(2)).await;
        if b.elector.round().await.expect("round") == Round::Holding {
            break;
        }
        assert!(
            last_renewal.elapsed() < Duration::from_secs(30),
            "never taken"
        );
    }
    let waited = last_renewal.elapsed();
    assert!(
        waited >= Duration::from_secs(15),
        "taken after {waited:?}, before the lease duration"
    );
    // `b` first saw the Lease 2 s after the renewal: it takes it at its
    // first try after 2 + 15 s.
    assert!(waited <= Duration::from_secs(19), "taken late: {waited:?}");
    assert_eq!(holder(&api).as_deref(), Some("b"));
    assert_eq!(transitions(&api), 1, "a takeover is a transition");
    // `a` comes back: it sees `b` holding, and stands by.
    assert_eq!(a.elector.round().await.expect("round"), Round::Standby);
}

/// Samples both replicas' leadership every 100 ms while they run.
async fn watch_both(
    a: &Leadership,
    b: &Leadership,
    for_how_long: Duration,
) -> Vec<(u64, bool, bool)> {
    let start = Instant::now();
    let mut seen = Vec::new();
    while start.elapsed() < for_how_long {
        seen.push((
            start.elapsed().as_millis() as u64,
            a.is_leader(),
            b.is_leader(),
        ));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen
}

#[tokio::test(start_paused = true)]
async fn a_replica_that_cannot_renew_stops_acting_before_another_may_start() {
    let api = Arc::new(FakeApi::default());
    let a = replica(&api, "a");
    let (a_lead, a_cut) = (a.elector.leadership(), a.cut.clone());
    let stop = CancellationToken::new();
    let a_task = tokio::spawn(a.elector.run(stop.clone(), std::future::ready(())));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(a_lead.is_leader(), "a holds the lease");
    let b = replica(&api, "b");
    let b_lead = b.elector.leadership();
    let b_task = tokio::spawn(b.elector.run(stop.clone(), std::future::ready(())));

    tokio::time::sleep(Duration::from_secs(5)).await;
    // The API becomes unreachable for `a` alone.
    a_cut.store(true, Ordering::Release);
    let cut_at = Instant::now();
    let seen = watch_both(&a_lead, &b_lead, Duration::from_secs(30)).await;
    stop.cancel();
    let _ = tokio::join!(a_task, b_task);

    assert!(
        seen.iter().all(|&(_, a, b)| !(a && b)),
        "two replicas acted at once: {seen:?}"
    );
    let a_stopped = seen.iter().find(|s| !s.1).map(|s| s.0).expect("a stops");
    let b_started = seen
        .iter()
        .find(|s| s.2)
        .map(|s| s.0)
        .expect("b takes over");
    // `a` renewed at most 2 s before the cut, so it stops within the renew
    // deadline (10 s) of that; `b` waits out the 15 s duration.
    assert!(a_stopped <= 10_000, "a acted {a_stopped} ms past the cut");
    assert!(
        // duration - renew_deadline = 5 s, less one 100 ms sample.
        b_started >= a_stopped + 4_900,
        "b started {b_started} ms after the cut, a stopped at {a_stopped} ms"
    );
    assert!(b_started <= 17_000, "b took {b_started} ms");
    eprintln!(
        "after the cut at {:?}: a stopped acting at +{a_stopped} ms, b started at +{b_started} ms",
        cut_at.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_releases_the_lease_so_the_next_replica_takes_it_at_once() {
    let api = Arc::new(FakeApi::default());
    let a = replica(&api, "a");
    let a_lead = a.elector.leadership();
    let a_stop = CancellationToken::new();
    let a_task = tokio::spawn(a.elector.run(a_stop.clone(), std::future::ready(())));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let b = replica(&api, "b");
    let b_lead = b.elector.leadership();
    let b_stop = CancellationToken::new();
    let b_task = tokio::spawn(b.elector.run(b_stop.clone(), std::future::ready(())));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(a_lead.is_leader() && !b_lead.is_leader());

    a_stop.cancel();
    a_task.await.expect("a stops");
    assert!(!a_lead.is_leader(), "stops acting before it releases");
    let released = api.lease().expect("lease");
    assert_eq!(released["spec"]["holderIdentity"], serde_json::Value::Null);
    let released_at = Instant::now();
    while !b_lead.is_leader() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let handover = released_at.elapsed();
    assert!(
        handover <= Duration::from_secs(2),
        "taken {handover:?} after the release: one retry, not a lease duration"
    );
    b_stop.cancel();
    b_task.await.expect("b stops");
}
