use super::*;
use crate::config::PrometheusAuth;
use crate::output::metrics::Metrics;
use crate::source::{Store, Telemetry};
use crate::time::{Clock, Timestamp};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

/// Answers every query with `series` (or fails while `fail` is set) and counts calls.
struct FakeQuerier {
    series: Mutex<Vec<Series>>,
    fail: AtomicBool,
    calls: AtomicUsize,
}

impl FakeQuerier {
    fn new(series: Vec<Series>) -> Self {
        Self {
            series: Mutex::new(series),
            fail: AtomicBool::new(false),
            calls: AtomicUsize::new(0),
        }
    }
}

impl Querier for Arc<FakeQuerier> {
    fn instant(
        &self,
        _promql: String,
        _at: Option<Timestamp>,
    ) -> BoxFuture<'_, Result<Vec<Series>, PrometheusError>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.fail.load(Ordering::SeqCst) {
                return Err(PrometheusError::Query("connection refused".into()));
            }
            Ok(self.series.lock().expect("lock").clone())
        })
    }
}

struct FixedClock(Mutex<Timestamp>);
impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().expect("lock")
    }
}

fn series(server: &str, value: f64) -> Series {
    Series {
        labels: HashMap::from([
            ("namespace".to_owned(), "tenants".to_owned()),
            ("server".to_owned(), server.to_owned()),
        ]),
        value,
        at: Timestamp::from_millis(1_000),
    }
}

fn id(s: &str) -> ServerKey {
    ServerKey::parse("tenants", s).expect("id")
}

fn labels() -> KeyLabels {
    KeyLabels::of(&PrometheusConfig::default())
}

fn source(
    q: Arc<FakeQuerier>,
    store: Arc<Store>,
    clock: Arc<FixedClock>,
) -> PrometheusSource<Arc<FakeQuerier>> {
    let config = PrometheusConfig::default();
    let ctx = SourceContext {
        store,
        telemetry: Telemetry::new(Arc::new(Metrics::default())),
        clock,
        ready: Arc::new(AtomicBool::new(false)),
    };
    PrometheusSource::new(q, &config, ctx)
}

#[test]
fn templates_get_the_label_and_empty_ones_are_skipped() {
    let mut c = PrometheusConfig {
        server_label: "tenant".into(),
        ..PrometheusConfig::default()
    };
    c.queries.set(SignalKind::ErrorRate, "");
    let q = render_queries(&c);
    assert_eq!(q.len(), 5);
    assert!(q.iter().all(|(_, text)| !text.contains('{')));
    assert_eq!(
        q[0].1,
        "sum by (namespace, tenant) (mcp_active_connections)"
    );
    assert!(
        !q.iter().any(|(_, text)| text.contains("kube_")),
        "the replica query is not a signal"
    );
    c.queries.set(
        SignalKind::Connections,
        "max by ({namespace_label}, {label}) (x)",
    );
    c.namespace_label = "ns".into();
    assert_eq!(render_queries(&c)[0].1, "max by (ns, tenant) (x)");
}

#[test]
fn hostile_labels_and_bad_values_are_dropped_and_counted() {
    let mut no_label = series("x", 1.0);
    no_label.labels.clear();
    let input = vec![
        series("good", 2.0),
        series("good", 5.0),
        series("x\"} or vector(1) #", 1.0),
        series("a.b", 1.0),
        series("neg", -1.0),
        series("inf", f64::INFINITY),
        series("good", f64::NAN),
        series("nan", f64::NAN),
        no_label,
    ];
    let (values, rejected) = server_values(&input, &labels());
    assert_eq!(values.len(), 2, "{values:?}");
    assert_eq!(values[0], (id("good"), 5.0), "duplicates keep the max");
    assert_eq!(values[1].0, id("nan"));
    assert!(values[1].1.is_nan(), "present without a value");
    assert_eq!(rejected, 5, "NaN is 'no data', not rejected");
}

#[test]
fn one_name_in_two_namespaces_is_two_servers_and_a_series_without_namespace_is_rejected() {
    let in_ns = |ns: &str, value| {
        let mut s = series("github", value);
        s.labels.insert("namespace".into(), ns.into());
        s
    };
    let mut no_namespace = series("github", 7.0);
    no_namespace.labels.remove("namespace");
    let mut bad_namespace = in_ns("Tenant_A", 1.0);
    bad_namespace.value = 9.0;
    let input = vec![
        in_ns("tenant-a", 5.0),
        in_ns("tenant-b", 0.0),
        no_namespace,
        bad_namespace,
    ];
    let (values, rejected) = server_values(&input, &labels());
    let key = |ns| ServerKey::parse(ns, "github").expect("key");
    assert_eq!(values, vec![(key("tenant-a"), 5.0), (key("tenant-b"), 0.0)]);
    assert_eq!(rejected, 2);
}

#[tokio::test]
async fn the_query_count_per_tick_does_not_grow_with_the_fleet() {
    for fleet in [1, 1_000] {
        let all: Vec<Series> = (0..fleet).map(|i| series(&format!("s{i}"), 1.0)).collect();
        let q = Arc::new(FakeQuerier::new(all));
        let store = Arc::new(Store::new(true));
        let clock = Arc::new(FixedClock(Mutex::new(Timestamp::from_millis(2_000))));
        let outcome = source(q.clone(), store.clone(), clock).poll_once().await;
        assert_eq!(
            (outcome.queries, outcome.failed, outcome.servers),
            (6, 0, fleet)
        );
        assert_eq!(q.calls.load(Ordering::SeqCst), 6);
        assert_eq!(store.len(), fleet);
    }
}

#[tokio::test]
async fn a_failed_tick_keeps_the_last_good_values_and_their_age() {
    let q = Arc::new(FakeQuerier::new(vec![series("a", 7.0)]));
    let store = Arc::new(Store::new(true));
    let clock = Arc::new(FixedClock(Mutex::new(Timestamp::from_millis(2_000))));
    let src = source(q.clone(), store.clone(), clock.clone());
    src.poll_once().await;
    assert!(
        src.ctx.ready.load(Ordering::SeqCst),
        "ready after the first complete poll"
    );
    q.fail.store(true, Ordering::SeqCst);
    *clock.0.lock().expect("lock") = Timestamp::from_millis(60_000);
    let outcome = src.poll_once().await;
    assert_eq!(outcome.failed, 6);
    let s = store.signals(&id("a"));
    assert_eq!(
        s.get(SignalKind::Sessions),
        Some(7.0),
        "last good value kept"
    );
    assert_eq!(
        s.feed.polled_at,
        Some(Timestamp::from_millis(2_000)),
        "poll time does not advance on failure"
    );
    q.fail.store(false, Ordering::SeqCst);
    src.poll_once().await;
    assert_eq!(
        store.signals(&id("a")).feed.polled_at,
        Some(Timestamp::from_millis(60_000)),
        "recovers by itself"
    );
}

#[test]
fn secrets_come_from_files_or_env_and_errors_never_show_them() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("token");
    std::fs::write(&file, "s3cret\n").expect("write");
    assert_eq!(read_secret(Some(&file), None).expect("read"), "s3cret");
    let err = read_secret(Some(&dir.path().join("missing")), None)
        .expect_err("missing")
        .to_string();
    assert!(err.contains("missing") && !err.contains("s3cret"));
    let err = read_secret(None, Some("MCP_AUTOSCALER_TEST_UNSET_VAR"))
        .expect_err("unset")
        .to_string();
    assert!(err.contains("MCP_AUTOSCALER_TEST_UNSET_VAR"));
}

#[test]
fn bearer_and_basic_credentials_become_sensitive_authorization_headers() {
    let dir = tempfile::tempdir().expect("dir");
    let token = dir.path().join("token");
    std::fs::write(&token, "abc.def\n").expect("write");
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "pass").expect("write");
    let cases = [
        (
            PrometheusAuth::Bearer {
                token_file: Some(token.clone()),
                token_env: None,
            },
            "Bearer abc.def",
        ),
        (
            PrometheusAuth::Basic {
                username: "user".into(),
                password_file: Some(pass),
                password_env: None,
            },
            "Basic dXNlcjpwYXNz",
        ),
    ];
    for (auth, want) in cases {
        let q = HttpQuerier::new(&PrometheusConfig {
            auth: Some(auth),
            ..PrometheusConfig::default()
        })
        .expect("client");
        let header = q.authorization().expect("read").expect("header");
        assert_eq!(header.to_str().expect("ascii"), want);
        assert!(
            header.is_sensitive(),
            "never printed by the HTTP client's debug output"
        );
    }
    // A token rotated on disk is picked up on the next query.
    std::fs::write(&token, "rotated").expect("write");
    let q = HttpQuerier::new(&PrometheusConfig {
        auth: Some(PrometheusAuth::Bearer {
            token_file: Some(token),
            token_env: None,
        }),
        ..PrometheusConfig::default()
    })
    .expect("client");
    assert_eq!(
        q.authorization()
            .expect("read")
            .expect("header")
            .to_str()
            .expect("ascii"),
        "Bearer rotated"
    );
}

#[test]
fn an_unreadable_credential_fails_at_start_up_naming_the_file() {
    let config = PrometheusConfig {
        auth: Some(PrometheusAuth::Bearer {
            token_file: Some("/nonexistent/token".into()),
            token_env: None,
        }),
        ..PrometheusConfig::default()
    };
    let err = HttpQuerier::new(&config)
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("/nonexistent/token"), "{err}");
}
