//! # mcp-autoscaler
//!
//! An event-driven autoscaler for fleets of hosted MCP (Model Context
//! Protocol) servers on Kubernetes: a KEDA external scaler, a recommendation
//! service and a capacity-planning simulator, all over one pure decision
//! engine.
//!
//! ## Data flow
//! ```text
//!  Prometheus ─(grouped PromQL per tick)─┐
//!  NATS ───────(activity events, push)───┤
//!                                        ▼
//!           source::Store (per server (namespace, name): load, activity,
//!                          data quality, a bounded history of both)
//!                                        │  read (no I/O)
//!                     engine::decide(signals, policy, now)
//!                                        │  Decision
//!                 ┌──────────────────────┼───────────────────────┐
//!                 ▼                      ▼                       ▼
//!   output::keda (gRPC ExternalScaler)  output::http (health,   sim (same engine,
//!   IsActive / StreamIsActive /         metrics, decisions)     virtual clock,
//!   GetMetricSpec / GetMetrics                                  modelled loop)
//! ```
//! Handlers only read the store and call the engine; sources write the store
//! on their own schedule (the Prometheus poll on its own thread). A store
//! update wakes the server's watchers at once, which is how an activity
//! event reaches `StreamIsActive` with no tick. Nothing a caller does is
//! remembered: a decision is a function of the server's signal history, its
//! policy and the time (stabilisation is replayed from the history), so two
//! scaler replicas agree and one ScaledObject never moves another's answer.
//!
//! ## Layout
//! - [`time`], [`id`], [`signal`]: value types shared by everything (a
//!   server's identity is a [`id::ServerKey`]: namespace and name).
//! - [`engine`]: the pure decision engine and its policies.
//! - [`config`]: the YAML config, parsed and validated once.
//! - [`metadata`]: `scalerMetadata` → server id + effective policy.
//! - [`source`]: the signal store and the sources that feed it.
//! - [`output`]: the KEDA gRPC service, the HTTP endpoints, TLS.
//! - [`errors`]: an error with its causes, on one line.
//! - [`redact`]: credentials in URLs and header values hidden before
//!   anything is logged or printed.
//! - [`serve`]: wires it all together for the `serve` subcommand.
//! - [`sim`]: the capacity-planning simulator (`simulate`): scenarios,
//!   workloads and traces, the control loop per server, reports and plots.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cluster;
pub mod config;
pub mod engine;
pub mod errors;
pub mod id;
pub mod keyed_map;
pub mod lists;
pub mod metadata;
pub mod output;
pub mod plot;
pub mod redact;
pub mod serve;
pub mod signal;
pub mod sim;
pub mod source;
pub mod threads;
pub mod time;
pub mod yaml;

/// Generated code for KEDA's `externalscaler.proto`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("externalscaler");

    /// The encoded file descriptor set, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("externalscaler_descriptor");
}
