//! Where signals come from, and the store they land in.
//!
//! Sources run on their own schedule and write the [`Store`]; nothing that
//! answers a request ever waits on a source.

pub mod prometheus;
mod store;

pub use store::Store;
