//! The offline capacity-planning simulator (issue #5, in progress).
//!
//! Present so far: [`station`], the model of one MCP server's replicas as a
//! pool of concurrency slots with a FIFO queue and a queue timeout, checked
//! against queueing theory ([`erlang`]: Erlang C and Little's law). The
//! workload generators, the KEDA/HPA control loop, the report and the
//! `simulate` command build on it.

pub mod erlang;
pub mod station;
pub mod workload;
