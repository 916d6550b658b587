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
    pub method: &'static str,
    /// gRPC status code name, e.g. `Ok`, `InvalidArgument`.
    pub code: &'static str,
}

/// Labels naming a signal or event source.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// `prometheus` / `nats`, or a signal name.
    pub source: String,
}

/// Labels naming one server.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct ServerLabels {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub server: String,
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
    /// Sessions and connections the store tracks by id.
    pub sessions_tracked: Gauge,
    /// Series that vanished from a good poll while their last value was
    /// above zero (held as missing data), by signal.
    pub series_absent: Family<SourceLabels, Counter>,
    /// Series dropped for a missing or invalid namespace or server label or
    /// a bad value, by signal.
    pub series_rejected: Family<SourceLabels, Counter>,
    /// Data for a new server dropped because the store tracks
    /// `server.max_servers` servers and none was quiet enough to forget, by
    /// source.
    pub servers_refused: Family<SourceLabels, Counter>,
    /// Failed Kubernetes list/watch requests, by watched kind.
    pub watch_errors: Family<SourceLabels, Counter>,
    /// Workloads kept by discovery.
    pub workloads_known: Gauge,
    /// Pod deletion-cost patches sent, by outcome (`set`, `cleared`,
    /// `failed`).
    pub deletion_cost_patches: Family<SourceLabels, Counter>,
    /// Apply mode's scale requests, by urgency and outcome (`wake_scaled`,
    /// `routine_failed`, `routine_dry_run`, ...).
    pub apply_requests: Family<SourceLabels, Counter>,
    /// 1 while this replica holds the apply-mode Lease and acts.
    pub apply_leader: Gauge,
    /// How long apply mode's last sweep took, in seconds.
    pub apply_sweep_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Each known server's decision: replicas it should run (filled at
    /// scrape time).
    pub desired_replicas: Family<ServerLabels, Gauge>,
    /// Each known server's decision: 1 active, 0 idle.
    pub active: Family<ServerLabels, Gauge>,
    /// Each known server's data age in seconds (absent when events alone
    /// decide).
    pub data_age_seconds: Family<ServerLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
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
            sessions_tracked: Gauge::default(),
            series_absent: Family::default(),
            series_rejected: Family::default(),
            servers_refused: Family::default(),
            watch_errors: Family::default(),
            workloads_known: Gauge::default(),
            deletion_cost_patches: Family::default(),
            apply_requests: Family::default(),
            apply_leader: Gauge::default(),
            apply_sweep_seconds: Gauge::default(),
            desired_replicas: Family::default(),
            active: Family::default(),
            data_age_seconds: Family::default(),
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
        registry.register(
            "sessions_tracked",
            "Sessions and connections the signal store tracks by the id their events carry",
            m.sessions_tracked.clone(),
        );
        registry.register(
            "series_absent",
            "Series that vanished from a good poll while busy (held as missing data, never read as zero), by signal",
            m.series_absent.clone(),
        );
        registry.register(
            "series_rejected",
            "Series dropped for a missing or invalid namespace or server label or a bad value, by signal",
            m.series_rejected.clone(),
        );
        registry.register(
            "servers_refused",
            "Data for a new server dropped because server.max_servers servers are tracked and none was quiet enough to forget, by source",
            m.servers_refused.clone(),
        );
        registry.register(
            "watch_errors",
            "Failed Kubernetes list or watch requests by kind (the watch backs off and relists; its data counts as missing meanwhile)",
            m.watch_errors.clone(),
        );
        registry.register(
            "workloads_known",
            "Deployments and StatefulSets kept by workload discovery",
            m.workloads_known.clone(),
        );
        registry.register(
            "deletion_cost_patches",
            "Pod deletion-cost annotation patches by outcome (set, cleared, failed)",
            m.deletion_cost_patches.clone(),
        );
        registry.register(
            "apply_requests",
            "Apply mode's scale requests by urgency and outcome (wake_scaled, routine_dry_run, routine_failed, ...)",
            m.apply_requests.clone(),
        );
        registry.register(
            "apply_leader",
            "1 while this replica holds the apply-mode Lease and acts",
            m.apply_leader.clone(),
        );
        registry.register(
            "apply_sweep_seconds",
            "How long apply mode's last sweep over every discovered server took",
            m.apply_sweep_seconds.clone(),
        );
        registry.register(
            "desired_replicas",
            "Replicas each known server should run (the scaler's decision)",
            m.desired_replicas.clone(),
        );
        registry.register(
            "active",
            "Whether each known server should run (1) or may scale to zero (0)",
            m.active.clone(),
        );
        registry.register(
            "data_age_seconds",
            "Age of each known server's polled data in seconds",
            m.data_age_seconds.clone(),
        );
        Self { registry, ..m }
    }
}

/// The name of a gRPC status code, as `{code:?}` prints it.
fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code as C;
    match code {
        C::Ok => "Ok",
        C::Cancelled => "Cancelled",
        C::Unknown => "Unknown",
        C::InvalidArgument => "InvalidArgument",
        C::DeadlineExceeded => "DeadlineExceeded",
        C::NotFound => "NotFound",
        C::AlreadyExists => "AlreadyExists",
        C::PermissionDenied => "PermissionDenied",
        C::ResourceExhausted => "ResourceExhausted",
        C::FailedPrecondition => "FailedPrecondition",
        C::Aborted => "Aborted",
        C::OutOfRange => "OutOfRange",
        C::Unimplemented => "Unimplemented",
        C::Internal => "Internal",
        C::Unavailable => "Unavailable",
        C::DataLoss => "DataLoss",
        C::Unauthenticated => "Unauthenticated",
    }
}

impl Metrics {
    /// Counts one gRPC call (no allocation: this is on every KEDA call).
    pub fn count_call(&self, method: &'static str, code: tonic::Code) {
        self.grpc_calls
            .get_or_create(&CallLabels {
                method,
                code: code_name(code),
            })
            .inc();
    }

    /// Counts one item for a source-labelled family.
    pub fn count(family: &Family<SourceLabels, Counter>, source: &str) {
        Self::count_n(family, source, 1);
    }

    /// Counts `n` items for a source-labelled family (none: no series made).
    pub fn count_n(family: &Family<SourceLabels, Counter>, source: &str, n: usize) {
        if n == 0 {
            return;
        }
        family
            .get_or_create(&SourceLabels {
                source: source.to_owned(),
            })
            .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
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

#[cfg(test)]
mod tests {
    #[test]
    fn code_names_match_their_debug_form() {
        for n in 0..17 {
            let code = tonic::Code::from_i32(n);
            assert_eq!(super::code_name(code), format!("{code:?}"));
        }
    }
}
