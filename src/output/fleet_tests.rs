use super::*;
use crate::signal::EventKind;
use serde_json::json;

const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

fn key(s: &str) -> ServerKey {
    let (ns, n) = s.split_once('/').expect("ns/name");
    ServerKey::parse(ns, n).expect("valid")
}

fn store_with(servers: &[&str]) -> Store {
    let store = Store::new(false);
    for s in servers {
        store.record_event(&key(s), EventKind::Request, NOW);
    }
    store
}

/// `pairs` read as a request's query is.
fn query(pairs: &[(&str, &str)]) -> Result<FleetQuery, String> {
    let raw = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let params = crate::output::query::parse(Some(&raw), &FleetQuery::PARAMETERS)?;
    FleetQuery::parse(&params)
}

fn names(page: &Page) -> Vec<String> {
    page.servers
        .iter()
        .map(|r| format!("{}/{}", r.namespace, r.server))
        .collect()
}

struct World {
    store: Store,
    inventory: Inventory,
    asked: BTreeMap<ServerKey, Arc<Target>>,
    config: Config,
}

impl World {
    fn new(servers: &[&str]) -> Self {
        Self {
            store: store_with(servers),
            inventory: Inventory::new(100),
            asked: BTreeMap::new(),
            config: Config::default(),
        }
    }

    fn fleet(&self) -> Fleet<'_> {
        Fleet {
            store: &self.store,
            inventory: &self.inventory,
            asked: &self.asked,
            config: &self.config,
            now: NOW,
        }
    }
}

#[test]
fn pages_walk_the_fleet_in_order_and_stay_stable_while_servers_come_and_go() {
    let w = World::new(&["b/two", "a/one", "c/four", "b/three", "a/zero"]);
    let first = w.fleet().page(&query(&[("limit", "2")]).expect("query"));
    assert_eq!(names(&first), ["a/one", "a/zero"]);
    let cursor = first.next_cursor.clone().expect("more");
    // A server appears before the cursor and one after it.
    w.store.record_event(&key("a/aaa"), EventKind::Request, NOW);
    w.store
        .record_event(&key("b/four"), EventKind::Request, NOW);
    let second = w
        .fleet()
        .page(&query(&[("limit", "2"), ("cursor", &cursor)]).expect("query"));
    assert_eq!(
        names(&second),
        ["b/four", "b/three"],
        "no repeat, the newcomer after the cursor shows"
    );
    let third = w.fleet().page(
        &query(&[
            ("limit", "2"),
            ("cursor", &second.next_cursor.clone().expect("more")),
        ])
        .expect("q"),
    );
    assert_eq!(names(&third), ["b/two", "c/four"]);
    assert_eq!(third.next_cursor, None, "the last page has no cursor");
}

#[test]
fn filters_select_by_namespace_activity_and_policy() {
    let mut w = World::new(&["a/busy", "b/busy"]);
    // An idle server known only because KEDA asked about it.
    let target =
        crate::metadata::resolve("a", "asked", &HashMap::new(), &w.config).expect("target");
    w.asked.insert(key("a/asked"), Arc::new(target));
    let all = w.fleet().page(&query(&[]).expect("q"));
    assert_eq!(names(&all), ["a/asked", "a/busy", "b/busy"]);
    let a = w.fleet().page(&query(&[("namespace", "a")]).expect("q"));
    assert_eq!(names(&a), ["a/asked", "a/busy"]);
    let idle = w.fleet().page(&query(&[("active", "false")]).expect("q"));
    assert_eq!(names(&idle), ["a/asked"]);
    assert_eq!(idle.servers[0].reason, Reason::Idle);
    let none = w
        .fleet()
        .page(&query(&[("policy", "interactive")]).expect("q"));
    assert!(none.servers.is_empty());
    let row = &all.servers[1];
    assert!(
        row.active == Some(true)
            && row.desired.is_some_and(|d| d >= 1)
            && row.last_activity.is_some(),
        "{row:?}"
    );
}

#[test]
fn bad_parameters_name_the_parameter_and_what_is_allowed() {
    for (pairs, want) in [
        (vec![("limit", "0")], "limit"),
        (vec![("limit", "1001")], "1 to 1000"),
        (vec![("active", "yes")], "active"),
        (vec![("namespace", "Bad_NS")], "namespace"),
        (vec![("cursor", "%%%")], "cursor"),
        (vec![("cursor", "bm8tc2xhc2g")], "cursor"),
        (vec![("sort", "x")], "unknown parameter"),
    ] {
        let err = query(&pairs).expect_err(want);
        assert!(err.contains(want), "{pairs:?}: {err}");
    }
    let q = query(&[]).expect("defaults");
    assert_eq!((q.limit, q.after), (DEFAULT_LIMIT, None));
    let config = Config::default();
    let unknown = query(&[("policy", "nosuch")]).expect("parses");
    let err = unknown.checked(&config).expect_err("not configured");
    assert!(err.contains("policy") && err.contains("default"), "{err}");
    let known = query(&[("policy", "default")]).expect("parses");
    assert!(known.checked(&config).is_ok());
}

#[test]
fn a_long_fleet_pages_past_the_store_batch() {
    let servers: Vec<String> = (0..1300).map(|i| format!("t/s-{i:04}")).collect();
    let refs: Vec<&str> = servers.iter().map(String::as_str).collect();
    let w = World::new(&refs);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut pairs = vec![("limit", "1000")];
        if let Some(c) = &cursor {
            pairs.push(("cursor", c));
        }
        let page = w.fleet().page(&query(&pairs).expect("q"));
        seen.extend(names(&page));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, servers);
    let mut every = 0;
    w.fleet().each_row(|_| every += 1);
    assert_eq!(every, 1300);
}

/// A world whose one server, `tenants/busy`, had 45 sessions at its last
/// good poll, `age` before now.
fn polled(age: std::time::Duration) -> World {
    let mut w = World::new(&[]);
    w.store = Store::new(true);
    let at = NOW - age;
    let values = [(key("tenants/busy"), 45.0)];
    w.store
        .apply_poll(crate::signal::SignalKind::Sessions, &values, at);
    w.store.finish_poll(at, false);
    w
}

fn decision_series(w: &World) -> String {
    let m = Metrics::default();
    w.fleet().record_decisions(&m);
    m.encode()
        .lines()
        .filter(|l| l.contains(r#"server="busy""#))
        .map(|l| l.split(' ').next().unwrap_or(l).to_owned() + "\n")
        .collect()
}

#[test]
fn the_decision_metrics_follow_the_configured_policy_not_a_scaledobjects_metadata() {
    let mut w = polled(std::time::Duration::from_secs(10));
    // Any gRPC caller can name a server in its own namespace: 9 replicas.
    let pinned = HashMap::from([
        ("serverId".to_owned(), "busy".to_owned()),
        ("minReplicas".to_owned(), "9".to_owned()),
        ("maxReplicas".to_owned(), "9".to_owned()),
    ]);
    let target = crate::metadata::resolve("tenants", "other", &pinned, &w.config).expect("ok");
    w.asked.insert(key("tenants/busy"), Arc::new(target));
    assert_eq!(
        w.fleet().row(&key("tenants/busy")).desired,
        Some(9),
        "the API shows it"
    );
    let m = Metrics::default();
    w.fleet().record_decisions(&m);
    let series = m.encode();
    assert!(!series.contains(r#"server="busy"} 9"#), "{series}");
    let configured = Fleet {
        asked: &BTreeMap::new(),
        ..w.fleet()
    };
    let want = configured.row(&key("tenants/busy")).desired.expect("known");
    assert!(
        series.contains(&format!(
            "mcp_autoscaler_desired_replicas{{namespace=\"tenants\",server=\"busy\"}} {want}"
        )),
        "{series}"
    );
}

#[test]
fn a_server_whose_data_is_unavailable_exports_no_decision_for_an_hpa_to_follow() {
    let fresh = decision_series(&polled(std::time::Duration::from_secs(10)));
    assert!(
        fresh.contains("mcp_autoscaler_desired_replicas{")
            && fresh.contains("mcp_autoscaler_active{"),
        "{fresh}"
    );
    // Past `unavailable_after` (10 minutes): only the data's age remains.
    let lost = decision_series(&polled(std::time::Duration::from_secs(3600)));
    assert_eq!(
        lost,
        "mcp_autoscaler_data_age_seconds{namespace=\"tenants\",server=\"busy\"}\n"
    );
}

#[test]
fn a_server_whose_data_is_unavailable_shows_no_count_in_the_api() {
    let mut w = polled(std::time::Duration::from_secs(3600));
    // Busy when its data was lost: held active, its count unknown.
    let row = w.fleet().row(&key("tenants/busy"));
    assert_eq!(
        (row.active, row.desired, row.data),
        (Some(true), None, "unavailable")
    );
    // Known only from a ScaledObject, never any data: neither.
    let target = crate::metadata::resolve("tenants", "quiet", &HashMap::new(), &w.config);
    w.asked
        .insert(key("tenants/quiet"), Arc::new(target.expect("ok")));
    let row = w.fleet().row(&key("tenants/quiet"));
    assert_eq!((row.active, row.desired), (None, None));
    let json = serde_json::to_value(&row).expect("json");
    assert_eq!(
        (&json["active"], &json["desired"]),
        (&json!(null), &json!(null))
    );
    let decision = w.fleet().evaluate(&key("tenants/quiet")).decision;
    let json = serde_json::to_value(&decision).expect("json");
    assert_eq!(
        (&json["active"], &json["desired"]),
        (&json!(null), &json!(null))
    );
    // No filter takes an unknown server for idle.
    let idle = w.fleet().page(&query(&[("active", "false")]).expect("q"));
    assert!(idle.servers.is_empty(), "{:?}", names(&idle));
    let active = w.fleet().page(&query(&[("active", "true")]).expect("q"));
    assert_eq!(names(&active), ["tenants/busy"]);
    // With data the counts are there.
    let fresh = polled(std::time::Duration::from_secs(10));
    let json = serde_json::to_value(fresh.fleet().evaluate(&key("tenants/busy")).decision);
    let json = json.expect("json");
    assert!(json["desired"].as_u64().is_some_and(|d| d >= 1), "{json}");
    assert_eq!(json["active"], json!(true));
}
