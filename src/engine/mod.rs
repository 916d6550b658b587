//! The decision engine: pure, deterministic, no I/O.
//!
//! [`decide`] takes what is known about one server ([`Signals`]), the policy
//! that applies to it, the engine's own memory of that server ([`State`]) and
//! the time, and returns a [`Decision`]. It imports no async runtime, network
//! client or clock: the KEDA scaler, the HTTP API and the simulator all call
//! this same function, so what the simulator predicts is what production does.

mod decide;
mod policy;

pub use decide::{Contribution, DataQuality, Decision, Metric, Reason, State, decide};
pub use policy::{MetricMode, Policy, PolicyError, REPLICA_LIMIT, Targets};
