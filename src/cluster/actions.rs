//! What apply mode last did for each server, and why it left one alone:
//! shown by the API (`apply` in a server's detail). One entry per
//! discovered server at most; servers no longer discovered are dropped at
//! the next sweep.

use super::apply_plan::Skip;
use super::workload::WorkloadRef;
use crate::id::ServerKey;
use crate::time::Timestamp;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

/// How a scale request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The API server took it.
    Scaled,
    /// Dry run: logged, not sent.
    DryRun,
    /// The API server refused it, or could not be reached.
    Failed(String),
}

/// One scale request and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// When.
    pub at: Timestamp,
    /// Which workload.
    pub workload: WorkloadRef,
    /// Replicas before.
    pub from: u32,
    /// Replicas asked for.
    pub to: u32,
    /// The decision's reason.
    pub reason: &'static str,
    /// How it ended.
    pub outcome: Outcome,
}

/// A server's apply-mode state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerActions {
    /// The last request for it.
    pub last: Option<Action>,
    /// Why it is left alone now.
    pub skipped: Option<Skip>,
}

/// Every discovered server's apply-mode state.
#[derive(Debug, Default)]
pub struct Actions {
    by_server: Mutex<HashMap<ServerKey, ServerActions>>,
}

impl Actions {
    /// Records a request's outcome.
    pub fn record(&self, action: Action, server: &ServerKey) {
        self.lock().entry(server.clone()).or_default().last = Some(action);
    }

    /// Notes that `server` is left alone for `why` (a new reason is logged once).
    pub fn skipped(&self, server: &ServerKey, why: Skip) {
        let mut all = self.lock();
        let entry = all.entry(server.clone()).or_default();
        if entry.skipped.as_ref() != Some(&why) {
            // A fleet-wide hold is logged once per sweep, not per server.
            if why != Skip::NotLive {
                tracing::info!(namespace = %server.namespace, server = %server.server, why = %why.describe(), "apply mode leaves this server alone");
            }
            entry.skipped = Some(why);
        }
    }

    /// `server` is no longer left alone.
    pub fn clear_skip(&self, server: &ServerKey) {
        if let Some(entry) = self.lock().get_mut(server) {
            entry.skipped = None;
        }
    }

    /// `server`'s state.
    pub fn of(&self, server: &ServerKey) -> ServerActions {
        self.lock().get(server).cloned().unwrap_or_default()
    }

    /// Drops every server not in `known`.
    pub fn keep_only<'a>(&self, known: impl Iterator<Item = &'a ServerKey>) {
        let known: HashSet<&ServerKey> = known.collect();
        let mut all = self.lock();
        if all.keys().any(|s| !known.contains(s)) {
            all.retain(|server, _| known.contains(server));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ServerKey, ServerActions>> {
        self.by_server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
