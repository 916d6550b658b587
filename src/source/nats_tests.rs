use super::*;
use crate::cluster::pods::PodState;
use crate::id::ServerKey;
use crate::output::metrics::Metrics;
use crate::signal::SignalKind;
use crate::source::{SourceContext, Store, Telemetry};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

struct At(Timestamp);

impl crate::time::Clock for At {
    fn now(&self) -> Timestamp {
        self.0
    }
}

fn key() -> ServerKey {
    ServerKey::parse("tenants", "weather").expect("id")
}

/// A source whose events land in a fresh store, with `pods` watched as
/// the server's pods.
fn source(pods: &[&str]) -> (NatsSource, Arc<Store>, Arc<Pods>) {
    let store = Arc::new(Store::with_sources(false, true));
    let ctx = SourceContext {
        store: Arc::clone(&store),
        telemetry: Telemetry::new(Arc::new(Metrics::default())),
        clock: Arc::new(At(NOW)),
        ready: Arc::new(AtomicBool::new(false)),
    };
    let table = Arc::new(Pods::default());
    for p in pods {
        let state = PodState {
            cost: None,
            stateful: false,
        };
        table.apply(key(), (*p).into(), state);
    }
    let src = NatsSource::new(NatsConfig::default(), ctx).with_pod_work(Arc::clone(&table));
    (src, store, table)
}

#[test]
fn a_repeated_open_or_a_stray_close_moves_neither_the_server_nor_the_pod() {
    let (src, store, pods) = source(&["p-1", "p-2"]);
    let subject = "mcp.activity.tenants.weather";
    for payload in [
        r#"{"kind":"session_open","session":"a","pod":"p-1"}"#,
        // Delivered twice, closed once: a is over.
        r#"{"kind":"session_open","session":"a","pod":"p-1"}"#,
        r#"{"kind":"session_close","session":"a","pod":"p-1"}"#,
        r#"{"kind":"session_open","session":"b","pod":"p-2"}"#,
        // Its open was lost: it must not free the pod of b.
        r#"{"kind":"session_close","session":"lost-open","pod":"p-2"}"#,
    ] {
        src.apply(subject, payload.as_bytes(), NOW, NOW);
    }
    let sessions = store.signals(&key()).load.event_count(SignalKind::Sessions);
    assert_eq!(sessions, 1, "b is open");
    let work = pods.work(&key(), NOW, Duration::from_secs(3600));
    assert_eq!(work.get("p-1").copied().unwrap_or(0.0), 0.0, "a is over");
    assert_eq!(work.get("p-2"), Some(&1.0), "b holds its pod");
}
