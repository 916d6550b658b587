use super::*;

fn key(s: &str) -> ServerKey {
    let (ns, name) = s.split_once('/').expect("ns/name");
    ServerKey::parse(ns, name).expect("valid")
}

fn w(server: &str, kind: WorkloadKind, name: &str, desired: u32) -> Workload {
    Workload {
        server: key(server),
        workload: WorkloadRef {
            kind,
            name: name.into(),
        },
        desired,
        ready: desired,
        policy: None,
    }
}

const D: WorkloadKind = WorkloadKind::Deployment;
const S: WorkloadKind = WorkloadKind::StatefulSet;

#[test]
fn a_server_totals_its_workloads_and_unchanged_objects_report_nothing() {
    let inv = Inventory::new(10);
    let up = inv.apply(w("t-a/github", D, "github", 2));
    assert_eq!(up.changes, vec![(key("t-a/github"), Some((2, 2)))]);
    assert_eq!(
        inv.apply(w("t-a/github", D, "github", 2)),
        Update::default()
    );
    let up = inv.apply(w("t-a/github", S, "github-db", 1));
    assert_eq!(up.changes, vec![(key("t-a/github"), Some((3, 3)))]);
    let up = inv.delete(
        &key("t-a/github").namespace,
        &WorkloadRef {
            kind: D,
            name: "github".into(),
        },
    );
    assert_eq!(up.changes, vec![(key("t-a/github"), Some((1, 1)))]);
}

#[test]
fn tenants_with_the_same_server_name_stay_apart() {
    let inv = Inventory::new(10);
    inv.apply(w("t-a/github", D, "github", 0));
    inv.apply(w("t-b/github", D, "github", 4));
    assert_eq!(inv.hosted(&key("t-a/github"))[0].desired, 0);
    assert_eq!(inv.hosted(&key("t-b/github"))[0].desired, 4);
}

#[test]
fn a_relabelled_workload_moves_to_its_new_server() {
    let inv = Inventory::new(10);
    inv.apply(w("t-a/one", D, "web", 2));
    let up = inv.apply(w("t-a/two", D, "web", 2));
    assert_eq!(
        up.changes,
        vec![(key("t-a/one"), None), (key("t-a/two"), Some((2, 2)))]
    );
}

#[test]
fn a_relist_drops_only_what_its_own_scope_no_longer_lists() {
    let inv = Inventory::new(10);
    inv.apply(w("t-a/one", D, "one", 1));
    inv.apply(w("t-a/two", D, "two", 1));
    inv.apply(w("t-a/db", S, "db", 1));
    inv.apply(w("t-b/other", D, "other", 1));
    let scope = Scope {
        kind: D,
        namespace: Some(key("t-a/x").namespace),
    };
    let up = inv.resync(&scope, vec![w("t-a/two", D, "two", 3)]);
    assert_eq!(
        up.changes,
        vec![(key("t-a/one"), None), (key("t-a/two"), Some((3, 3)))]
    );
    assert_eq!(inv.len(), 3, "the StatefulSet and the other namespace stay");
}

#[test]
fn the_table_is_bounded_and_counts_what_it_refuses() {
    let inv = Inventory::new(2);
    inv.apply(w("t-a/one", D, "one", 1));
    inv.apply(w("t-a/two", D, "two", 1));
    let up = inv.apply(w("t-a/three", D, "three", 1));
    assert_eq!((up.refused, up.changes.len()), (1, 0));
    assert_eq!(
        inv.apply(w("t-a/two", D, "two", 5)).refused,
        0,
        "updates still land"
    );
    assert_eq!(inv.len(), 2);
}

#[test]
fn a_servers_workloads_read_in_one_order_however_they_were_seen() {
    let names = |inv: &Inventory| -> Vec<String> {
        inv.hosted(&key("t-a/github"))
            .iter()
            .map(|h| h.workload.name.clone())
            .collect()
    };
    let (seen_first, seen_last) = (Inventory::new(10), Inventory::new(10));
    for name in ["github-green", "github-blue", "github-red"] {
        seen_first.apply(w("t-a/github", D, name, 1));
    }
    for name in ["github-red", "github-blue", "github-green"] {
        seen_last.apply(w("t-a/github", D, name, 1));
    }
    assert_eq!(
        names(&seen_first),
        ["github-blue", "github-green", "github-red"]
    );
    assert_eq!(names(&seen_first), names(&seen_last));
}
