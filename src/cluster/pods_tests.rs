use super::*;

const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);
const TTL: Duration = Duration::from_secs(7200);
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

const LABEL: &str = "mcp-autoscaler/server";

fn meta(
    name: &str,
    label: Option<&str>,
    owner: Option<(&str, &str)>,
    hash: Option<&str>,
) -> ObjectMeta {
    let mut labels = BTreeMap::new();
    if let Some(v) = label {
        labels.insert(LABEL.to_owned(), v.to_owned());
    }
    if let Some(h) = hash {
        labels.insert("pod-template-hash".to_owned(), h.to_owned());
    }
    ObjectMeta {
        namespace: Some("tenant-a".into()),
        name: Some(name.into()),
        labels: Some(labels),
        owner_references: owner.map(|(kind, name)| {
            vec![OwnerReference {
                kind: kind.into(),
                name: name.into(),
                ..OwnerReference::default()
            }]
        }),
        ..ObjectMeta::default()
    }
}

fn key(s: &str) -> ServerKey {
    let (ns, n) = s.split_once('/').expect("ns/name");
    ServerKey::parse(ns, n).expect("valid")
}

#[test]
fn a_pod_belongs_to_its_label_or_else_to_the_workload_that_owns_it() {
    let (s, name, _) =
        pod_of(&meta("web-7d9f-abc", Some("github"), None, None), LABEL).expect("pod");
    assert_eq!(
        (s.to_string(), name.as_str()),
        ("tenant-a/github".into(), "web-7d9f-abc")
    );
    let m = meta(
        "web-7d9f-abc",
        Some(""),
        Some(("ReplicaSet", "web-7d9f")),
        Some("7d9f"),
    );
    assert_eq!(pod_of(&m, LABEL).map(|p| p.0), Some(key("tenant-a/web")));
    let m = meta("db-0", None, Some(("StatefulSet", "db")), None);
    let (s, _, state) = pod_of(&m, LABEL).expect("pod");
    assert_eq!((s, state.stateful), (key("tenant-a/db"), true));
    assert!(pod_of(&meta("x", None, Some(("Job", "j")), None), LABEL).is_none());
    assert!(pod_of(&meta("Bad_Name", Some("a"), None, None), LABEL).is_none());
}

/// A pod table watching `names` as `server`'s pods.
fn watched(server: &ServerKey, names: &[&str]) -> Pods {
    let pods = Pods::default();
    for p in names {
        let state = PodState {
            cost: None,
            stateful: false,
        };
        pods.apply(server.clone(), (*p).into(), state);
    }
    pods
}

#[test]
fn live_work_takes_the_larger_source_and_unknown_pods_have_none() {
    let s = key("tenant-a/github");
    let pods = watched(&s, &["p1", "p2", "p3"]);
    pods.record_event_work(&s, "p1", true, T0);
    pods.record_event_work(&s, "p1", true, T0);
    pods.record_event_work(&s, "p2", true, T0);
    pods.record_event_work(&s, "p2", false, T0);
    pods.set_polled_work(HashMap::from([
        ((s.clone(), "p2".to_owned()), 1.0),
        ((s.clone(), "p1".to_owned()), 1.0),
    ]));
    pods.record_event_work(&s, "not-watched", true, T0);
    assert_eq!(
        pods.lock().by_server.get(&s).map(|p| p.pods.len()),
        Some(3),
        "a pod the watch does not know is not counted, nor added"
    );
    assert!(!pods.work(&s, T0, TTL).contains_key("not-watched"));
    let work = pods.work(&s, T0, TTL);
    assert_eq!(work.get("p1"), Some(&2.0));
    assert_eq!(work.get("p2"), Some(&1.0));
    assert_eq!(work.get("p3"), None, "unknown, not zero");
    pods.delete(&s.namespace, "p1");
    assert_eq!(pods.work(&s, T0, TTL).get("p1"), None);
    pods.resync(
        Some(&s.namespace),
        vec![(
            s.clone(),
            "p3".into(),
            PodState {
                cost: Some(4),
                stateful: false,
            },
        )],
    );
    assert_eq!(pods.of(&s).keys().collect::<Vec<_>>(), vec!["p3"]);
    assert_eq!(pods.of(&s)["p3"].cost, Some(4));
}

#[test]
fn an_event_count_lapses_after_the_ttl_and_polled_work_is_held_until_replaced() {
    let s = key("tenant-a/github");
    let pods = watched(&s, &["p1", "p2", "p3"]);
    // p1's close was lost; p2 is polled once, then the query keeps failing;
    // p3's session stays in use: its requests keep coming.
    pods.record_event_work(&s, "p1", true, T0);
    pods.record_event_work(&s, "p3", true, T0);
    pods.set_polled_work(HashMap::from([((s.clone(), "p2".to_owned()), 3.0)]));
    let later = |secs| T0 + Duration::from_secs(secs);
    pods.touch_event_work(&s, "p3", later(7000));
    let work = pods.work(&s, later(7199), TTL);
    assert_eq!((work.get("p1"), work.get("p2")), (Some(&1.0), Some(&3.0)));
    let work = pods.work(&s, later(7200), TTL);
    assert_eq!(work.get("p1"), None, "unknown after the ttl: {work:?}");
    assert_eq!(work.get("p2"), Some(&3.0), "held while the query fails");
    assert_eq!(work.get("p3"), Some(&1.0), "its requests keep it counted");
    // The lapsed count was forgotten: a new open on p1 counts from zero.
    pods.record_event_work(&s, "p1", true, later(7300));
    assert_eq!(pods.work(&s, later(7300), TTL).get("p1"), Some(&1.0));
    // A good query replaces the polled work.
    pods.set_polled_work(HashMap::new());
    assert_eq!(pods.work(&s, later(7300), TTL).get("p2"), None);
}

#[test]
fn a_count_that_lapsed_between_ticks_is_not_brought_back_by_the_next_event() {
    let s = key("tenant-a/github");
    let pods = watched(&s, &["p1", "p2"]);
    let later = |secs| T0 + Duration::from_secs(secs);
    // Lost closes on both pods; a tick learns the server's ttl.
    pods.record_event_work(&s, "p1", true, T0);
    pods.record_event_work(&s, "p2", true, T0);
    assert_eq!(pods.work(&s, later(60), TTL).get("p1"), Some(&1.0));
    // After the lapse, before the next tick: an open on p1 counts from
    // zero, and a request on p2 does not revive its count.
    pods.record_event_work(&s, "p1", true, later(7300));
    pods.touch_event_work(&s, "p2", later(7300));
    let work = pods.work(&s, later(7301), TTL);
    assert_eq!(work.get("p1"), Some(&1.0), "{work:?}");
    assert_eq!(work.get("p2"), None, "{work:?}");
}
