//! Where signals come from, and the store they land in.
//!
//! Sources run on their own schedule and write the [`Store`]; nothing that
//! answers a request ever waits on a source.
//! - [`prometheus`]: grouped PromQL, one query per signal per tick.
//! - [`nats`]: activity events, applied the moment they arrive.

mod context;
pub mod event;
pub mod nats;
pub mod prometheus;
pub mod sessions;
mod store;

pub use context::{SourceContext, Telemetry};
pub use store::{DEFAULT_MAX_SERVERS, Store};
