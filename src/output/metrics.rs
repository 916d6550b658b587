//! The scaler's own Prometheus metrics, all named here in one place.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of a gRPC call counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// RPC name, e.g. `GetMetrics`.
    pub method: String,
    /// gRPC status code name, e.g. `Ok`, `InvalidArgument`.
    pub code: String,
}

/// Labels naming a signal or event source.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// `prometheus` / `nats`, or a signal name.
    pub source: String,
}

/// Every metric the scaler exports.
pub struct Metrics {
    registry: Registry,
    /// gRPC calls by method and status.
    pub grpc_calls: Family<CallLabels, Counter>,
    /// Open `StreamIsActive` streams.
    pub streams_open: Gauge,
    /// `true` messages pushed on `StreamIsActive` after the opening one.
    pub wakes_sent: Counter,
    /// Completed Prometheus polls.
    pub polls: Counter,
    /// Failed Prometheus queries, by signal.
    pub poll_errors: Family<SourceLabels, Counter>,
    /// Activity events applied, by source.
    pub events: Family<SourceLabels, Counter>,
    /// Events that could not be used (bad subject, id or payload).
    pub events_malformed: Family<SourceLabels, Counter>,
    /// Servers in the signal store.
    pub servers_known: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("mcp_autoscaler");
        let m = Self {
            grpc_calls: Family::default(),
            streams_open: Gauge::default(),
            wakes_sent: Counter::default(),
            polls: Counter::default(),
            poll_errors: Family::default(),
            events: Family::default(),
            events_malformed: Family::default(),
            servers_known: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "grpc_calls",
            "gRPC calls by method and status code",
            m.grpc_calls.clone(),
        );
        registry.register(
            "streams_open",
            "Open StreamIsActive streams",
            m.streams_open.clone(),
        );
        registry.register(
            "wakes_sent",
            "Inactive-to-active transitions pushed on StreamIsActive",
            m.wakes_sent.clone(),
        );
        registry.register(
            "polls",
            "Completed Prometheus polls of the whole fleet",
            m.polls.clone(),
        );
        registry.register(
            "poll_errors",
            "Failed Prometheus queries by signal",
            m.poll_errors.clone(),
        );
        registry.register(
            "events",
            "Activity events applied by source",
            m.events.clone(),
        );
        registry.register(
            "events_malformed",
            "Activity events dropped as malformed by source",
            m.events_malformed.clone(),
        );
        registry.register(
            "servers_known",
            "Servers in the signal store",
            m.servers_known.clone(),
        );
        Self { registry, ..m }
    }
}

impl Metrics {
    /// Counts one gRPC call.
    pub fn count_call(&self, method: &str, code: tonic::Code) {
        self.grpc_calls
            .get_or_create(&CallLabels {
                method: method.to_owned(),
                code: format!("{code:?}"),
            })
            .inc();
    }

    /// Counts one item for a source-labelled family.
    pub fn count(family: &Family<SourceLabels, Counter>, source: &str) {
        family
            .get_or_create(&SourceLabels {
                source: source.to_owned(),
            })
            .inc();
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
