//! The decision engine: pure, deterministic, no I/O.
//!
//! [`decide`] takes what is known about one server ([`crate::signal::Signals`],
//! its recent history included), the policy that applies to it and the time,
//! and returns a [`Decision`]. It remembers nothing between calls, and
//! imports no async runtime, network client or clock: the KEDA scaler, the
//! HTTP API and the simulator all call this same function.
//!
//! Pipeline, one file each:
//! 1. [`load`]: per-signal needs — ceil(value / per-replica target) for
//!    connections, sessions, queue, request rate and concurrency (rate ×
//!    p95, Little's law); SLO breaches (p95 latency, error ratio) grow the
//!    current count by observed / objective.
//! 2. [`keepalive`]: activity — live work, or activity within a fixed,
//!    cost-aware or percentile keep-alive learned from the server's idle
//!    gaps, with pre-warming.
//! 3. [`rule`] or the max of (1): the raw need, clamped to min/max.
//! 4. [`stabilize`]: tolerance, windows, rate limits, panic mode, with the
//!    state they need recomputed from the signal history by [`replay`].
//!
//! Every setting is bounded ([`limits`]). Stale or missing data holds the
//! last good answer. [`hpa`] models what the HPA then does with our number;
//! [`presets`] holds the baselines.

mod cost_aware;
mod decide;
mod decision;
mod goals;
pub mod hpa;
mod idle_gaps;
pub mod keepalive;
pub mod limits;
pub mod load;
mod policy;
pub mod presets;
pub mod quality;
pub mod replay;
mod resume;
pub mod rule;
pub mod stabilize;

#[cfg(test)]
mod proptests;

pub use decide::{decide, decide_with};
pub use decision::{
    Contribution, Contributions, DataQuality, Decision, Gap, Metric, Reason, State,
};
pub use goals::{Slo, Targets};
pub use keepalive::{CostAware, IdleGaps, KeepAlive, Predictive};
pub use policy::{Activity, Algorithm, MetricMode, Policy, PolicyError, REPLICA_LIMIT};
pub use rule::StepRule;
pub use stabilize::{BURST_SCALE_UP, Behavior, Panic, RateLimit};
