//! The offline capacity-planning simulator (issue #5, in progress).
//!
//! Present so far, each tested on its own:
//! - [`station`]: one MCP server's replicas as a pool of concurrency slots
//!   with a FIFO queue and a queue timeout, checked against queueing theory
//!   ([`erlang`]: Erlang C within 5%, Little's law within 3%);
//! - [`workload`]: a synthetic fleet calibrated to the Azure Functions 2019
//!   trace (heavy-tailed rates, diurnal cycle, bursts, MCP sessions);
//! - [`trace`]: replay inputs (events CSV, Azure per-minute counts) whose
//!   errors name the file, line and field.
//!
//! Still to come: the control loop (Prometheus lag, NATS push, KEDA polling
//! and cooldown, the HPA through [`crate::engine::hpa`]) driving
//! [`crate::engine::decide`], the report (JSON, Markdown, SVG) and the
//! `simulate` command.

pub mod erlang;
pub mod station;
pub mod trace;
pub mod workload;
