//! The one declaration of every signal and every metric (STYLE 14).
//!
//! A **signal** is something a source reports about a server: a polled
//! Prometheus series, and for some an open/close event pair counted on the
//! event stream. A **metric** is a load measure the engine sizes a server
//! on, computed from signals, with a per-replica target or an objective in
//! the policy. The sources, the engine, the KEDA output and the config
//! iterate over [`SIGNALS`] and [`METRICS`]: adding a signal or a metric is
//! a variant and a row here (and, for the simulator to produce it, a line in
//! its exporter's model). Up to 7 signals fit (a held signal is a bit of
//! one byte; a compile-time check says so).

use crate::engine::limits::{MAX_AMOUNT, MAX_LATENCY_S};
use serde::{Deserialize, Serialize};

/// Kinds of load signal the engine understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// Open client connections (gauge).
    Connections,
    /// Live MCP sessions (gauge); stateful and pinned to a replica.
    Sessions,
    /// Tool calls waiting in the server's queue (gauge).
    QueueLength,
    /// Tool requests per second.
    RequestRate,
    /// Failed tool requests as a fraction of all requests (0..1).
    ErrorRate,
    /// 95th percentile tool call latency in seconds.
    LatencyP95,
}

/// What an activity event on the event stream reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A request (tool call) arrived.
    Request,
    /// An MCP session was opened.
    SessionOpen,
    /// An MCP session was closed.
    SessionClose,
    /// A client connection was opened.
    ConnectionOpen,
    /// A client connection was closed.
    ConnectionClose,
}

/// One signal: its name and what it means to each part.
#[derive(Debug, Clone, Copy)]
pub struct SignalSpec {
    /// The signal.
    pub kind: SignalKind,
    /// The snake_case name used in config (`prometheus.queries.<name>`),
    /// logs and the API.
    pub name: &'static str,
    /// The default PromQL template (`{by}` becomes the grouping labels).
    pub default_query: &'static str,
    /// A value above zero means the server is in use (a busy poll).
    pub shows_activity: bool,
    /// A value above zero is live work that scaling to zero would cut.
    pub live_work: bool,
    /// The events that open and close one unit of it, when the event
    /// stream counts it; the engine takes the larger of poll and count.
    pub counted_by: Option<EventCount>,
}

/// A signal counted on the event stream: one unit opens and closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventCount {
    /// The event that opens one.
    pub open: EventKind,
    /// The event that closes one.
    pub close: EventKind,
    /// The count's name in the API's per-signal detail (`event_<signal>`).
    pub name: &'static str,
}

/// Every signal, in [`SignalKind`] order.
pub const SIGNALS: [SignalSpec; SignalKind::COUNT] = [
    SignalSpec {
        kind: SignalKind::Connections,
        name: "connections",
        default_query: "sum by ({by}) (mcp_active_connections)",
        shows_activity: true,
        live_work: true,
        counted_by: Some(EventCount {
            open: EventKind::ConnectionOpen,
            close: EventKind::ConnectionClose,
            name: "event_connections",
        }),
    },
    SignalSpec {
        kind: SignalKind::Sessions,
        name: "sessions",
        default_query: "sum by ({by}) (mcp_active_sessions)",
        shows_activity: true,
        live_work: true,
        counted_by: Some(EventCount {
            open: EventKind::SessionOpen,
            close: EventKind::SessionClose,
            name: "event_sessions",
        }),
    },
    SignalSpec {
        kind: SignalKind::QueueLength,
        name: "queue_length",
        default_query: "sum by ({by}) (mcp_tool_queue_length)",
        shows_activity: true,
        live_work: true,
        counted_by: None,
    },
    SignalSpec {
        kind: SignalKind::RequestRate,
        name: "request_rate",
        default_query: "sum by ({by}) (rate(mcp_tool_requests_total[1m]))",
        shows_activity: true,
        live_work: false,
        counted_by: None,
    },
    SignalSpec {
        kind: SignalKind::ErrorRate,
        name: "error_rate",
        default_query: "sum by ({by}) (rate(mcp_tool_errors_total[5m])) / sum by ({by}) (rate(mcp_tool_requests_total[5m]))",
        shows_activity: false,
        live_work: false,
        counted_by: None,
    },
    SignalSpec {
        kind: SignalKind::LatencyP95,
        name: "latency_p95",
        default_query: "histogram_quantile(0.95, sum by ({by}, le) (rate(mcp_tool_duration_seconds_bucket[5m])))",
        shows_activity: false,
        live_work: false,
        counted_by: None,
    },
];

impl EventKind {
    /// The signal this event opens (`true`) or closes (`false`) one unit
    /// of, if the event stream counts one.
    pub fn counts(self) -> Option<(SignalKind, bool)> {
        SIGNALS.iter().find_map(|spec| {
            let pair = spec.counted_by?;
            if pair.open == self {
                Some((spec.kind, true))
            } else if pair.close == self {
                Some((spec.kind, false))
            } else {
                None
            }
        })
    }
}

impl SignalKind {
    /// How many kinds there are.
    pub const COUNT: usize = 6;

    /// Every kind, in a fixed order (used for arrays and stable output).
    pub const ALL: [SignalKind; Self::COUNT] = [
        SignalKind::Connections,
        SignalKind::Sessions,
        SignalKind::QueueLength,
        SignalKind::RequestRate,
        SignalKind::ErrorRate,
        SignalKind::LatencyP95,
    ];

    /// Position in [`SignalKind::ALL`] and [`SIGNALS`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The signal's declaration.
    pub const fn spec(self) -> &'static SignalSpec {
        &SIGNALS[self.index()]
    }

    /// The snake_case name used in config, logs and the API.
    pub const fn name(self) -> &'static str {
        self.spec().name
    }

    /// True for signals whose non-zero value means the server is in use.
    pub const fn shows_activity(self) -> bool {
        self.spec().shows_activity
    }

    /// The kind named `name`, if any.
    pub fn named(name: &str) -> Option<SignalKind> {
        SIGNALS.iter().find(|s| s.name == name).map(|s| s.kind)
    }
}

/// A load measure with a per-replica target or an objective.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Open connections.
    Connections,
    /// Live MCP sessions.
    Sessions,
    /// Queued tool calls.
    QueueLength,
    /// Requests per second.
    RequestRate,
    /// In-flight requests: request rate × p95 latency (Little's law).
    Concurrency,
    /// p95 latency against its objective.
    LatencySlo,
    /// Error ratio against its objective.
    ErrorRate,
}

/// How a metric's value comes from the signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// One signal's value.
    Signal(SignalKind),
    /// The product of two signals (Little's law: rate × latency).
    Product(SignalKind, SignalKind),
}

/// Where a metric's goal lives in a policy, and how it sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// A per-replica target under `targets.<key>`: the metric needs
    /// ceil(value / target) replicas.
    PerReplica,
    /// An objective under `slo.<key>`: when breached, the current count
    /// grows by value / objective.
    Objective,
}

impl Goal {
    /// The policy section that holds goals of this kind.
    pub const fn section(self) -> &'static str {
        match self {
            Goal::PerReplica => "targets",
            Goal::Objective => "slo",
        }
    }
}

/// One metric: how it is measured, where its goal is set, and its names.
#[derive(Debug, Clone, Copy)]
pub struct MetricSpec {
    /// The metric.
    pub metric: Metric,
    /// The snake_case name used in logs, the API and reasons.
    pub name: &'static str,
    /// The metric name KEDA sees in `native` metric mode.
    pub keda_name: &'static str,
    /// How its value comes from the signals.
    pub measure: Measure,
    /// Target or objective.
    pub goal: Goal,
    /// The goal's key inside its policy section.
    pub policy_key: &'static str,
    /// The goal in the built-in default policy (`None`: off).
    pub default: Option<f64>,
    /// The largest goal a policy may set (goals are above 0).
    pub max: f64,
    /// The `scalerMetadata` key that overrides the goal per ScaledObject.
    pub override_key: Option<&'static str>,
}

impl MetricSpec {
    /// The goal's path in a policy, e.g. `targets.queue_length`.
    pub fn policy_path(&self) -> String {
        format!("{}.{}", self.goal.section(), self.policy_key)
    }
}

/// Every metric, in [`Metric`] order. Live work (sessions, connections)
/// keeps a server active but does not size it by default: most MCP sessions
/// are idle.
pub const METRICS: [MetricSpec; Metric::COUNT] = [
    per_replica(
        Metric::Connections,
        "connections",
        "mcp-connections",
        SignalKind::Connections,
        None,
        "targetConnections",
    ),
    per_replica(
        Metric::Sessions,
        "sessions",
        "mcp-sessions",
        SignalKind::Sessions,
        None,
        "targetSessions",
    ),
    per_replica(
        Metric::QueueLength,
        "queue_length",
        "mcp-queue-length",
        SignalKind::QueueLength,
        Some(10.0),
        "targetQueueLength",
    ),
    per_replica(
        Metric::RequestRate,
        "request_rate",
        "mcp-request-rate",
        SignalKind::RequestRate,
        None,
        "targetRequestRate",
    ),
    MetricSpec {
        metric: Metric::Concurrency,
        name: "concurrency",
        keda_name: "mcp-concurrency",
        measure: Measure::Product(SignalKind::RequestRate, SignalKind::LatencyP95),
        goal: Goal::PerReplica,
        policy_key: "concurrency",
        default: Some(8.0),
        max: MAX_AMOUNT,
        override_key: Some("targetConcurrency"),
    },
    MetricSpec {
        metric: Metric::LatencySlo,
        name: "latency_slo",
        keda_name: "mcp-latency-slo",
        measure: Measure::Signal(SignalKind::LatencyP95),
        goal: Goal::Objective,
        policy_key: "latency_p95_s",
        default: Some(5.0),
        max: MAX_LATENCY_S,
        override_key: Some("targetLatencyP95"),
    },
    MetricSpec {
        metric: Metric::ErrorRate,
        name: "error_rate",
        keda_name: "mcp-error-rate",
        measure: Measure::Signal(SignalKind::ErrorRate),
        goal: Goal::Objective,
        policy_key: "error_rate",
        default: None,
        max: 1.0,
        override_key: None,
    },
];

/// A metric that is one signal per replica.
const fn per_replica(
    metric: Metric,
    name: &'static str,
    keda_name: &'static str,
    signal: SignalKind,
    default: Option<f64>,
    override_key: &'static str,
) -> MetricSpec {
    MetricSpec {
        metric,
        name,
        keda_name,
        measure: Measure::Signal(signal),
        goal: Goal::PerReplica,
        policy_key: name,
        default,
        max: MAX_AMOUNT,
        override_key: Some(override_key),
    }
}

impl Metric {
    /// How many metrics there are.
    pub const COUNT: usize = 7;

    /// Every metric, in output order.
    pub const ALL: [Metric; Self::COUNT] = [
        Metric::Connections,
        Metric::Sessions,
        Metric::QueueLength,
        Metric::RequestRate,
        Metric::Concurrency,
        Metric::LatencySlo,
        Metric::ErrorRate,
    ];

    /// Position in [`Metric::ALL`] and [`METRICS`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The metric's declaration.
    pub const fn spec(self) -> &'static MetricSpec {
        &METRICS[self.index()]
    }

    /// The snake_case name used in logs, the API and metric names.
    pub const fn name(self) -> &'static str {
        self.spec().name
    }

    /// Objectives scale the current count; the others are per-replica loads.
    pub const fn is_slo(self) -> bool {
        matches!(self.spec().goal, Goal::Objective)
    }
}

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;
