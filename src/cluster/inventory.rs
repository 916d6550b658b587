//! The discovered workloads, per server: what the watches have listed and
//! seen since. Each watch (a kind in one namespace, or in all) replaces its
//! own part on a relist, so a workload deleted while a watch was down goes
//! away at the relist, and nothing else does.

use super::workload::{Workload, WorkloadKind, WorkloadRef};
use crate::id::{Namespace, ServerKey};
use smallvec::SmallVec;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

/// One workload as the table keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosted {
    /// Kind and name.
    pub workload: WorkloadRef,
    /// `spec.replicas`.
    pub desired: u32,
    /// `status.readyReplicas`.
    pub ready: u32,
    /// The policy its annotation names.
    pub policy: Option<String>,
}

/// A workload object: namespace, kind and name.
type ObjectKey = (Namespace, WorkloadRef);

/// What one watch covers: a kind in one namespace, or in every namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    /// The kind watched.
    pub kind: WorkloadKind,
    /// The namespace watched; `None` for all.
    pub namespace: Option<Namespace>,
}

impl Scope {
    fn covers(&self, key: &ObjectKey) -> bool {
        key.1.kind == self.kind && self.namespace.as_ref().is_none_or(|ns| *ns == key.0)
    }
}

#[derive(Default)]
struct Tables {
    server_of: HashMap<ObjectKey, ServerKey>,
    hosted: HashMap<ServerKey, SmallVec<[Hosted; 1]>>,
}

/// The workloads of every server, bounded at `max` objects.
pub struct Inventory {
    tables: Mutex<Tables>,
    max: usize,
}

/// A server whose replica count changed: its new totals, `None` when no
/// workload hosts it any more.
pub type Change = (ServerKey, Option<(u32, u32)>);

/// What an update did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Update {
    /// Servers whose totals changed.
    pub changes: Vec<Change>,
    /// Workloads not kept because the table is full.
    pub refused: usize,
}

impl Inventory {
    /// An empty table that keeps at most `max` workloads.
    pub fn new(max: usize) -> Self {
        Self {
            tables: Mutex::default(),
            max,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A workload was added or changed.
    pub fn apply(&self, w: Workload) -> Update {
        let mut t = self.lock();
        let mut touched = HashSet::new();
        let refused = usize::from(!t.put(w, self.max, &mut touched));
        Update {
            changes: t.totals(touched),
            refused,
        }
    }

    /// A workload was deleted.
    pub fn delete(&self, namespace: &Namespace, workload: &WorkloadRef) -> Update {
        let mut t = self.lock();
        let mut touched = HashSet::new();
        t.remove(&(namespace.clone(), workload.clone()), &mut touched);
        Update {
            changes: t.totals(touched),
            refused: 0,
        }
    }

    /// A watch listed everything in `scope` afresh: what it no longer lists
    /// is gone.
    pub fn resync(&self, scope: &Scope, listed: Vec<Workload>) -> Update {
        let mut t = self.lock();
        let mut touched = HashSet::new();
        let keep: HashSet<ObjectKey> = listed
            .iter()
            .map(|w| (w.server.namespace.clone(), w.workload.clone()))
            .collect();
        let gone: Vec<ObjectKey> = t
            .server_of
            .keys()
            .filter(|k| scope.covers(k) && !keep.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            t.remove(&key, &mut touched);
        }
        let refused = listed
            .into_iter()
            .filter(|w| !t.put(w.clone(), self.max, &mut touched))
            .count();
        Update {
            changes: t.totals(touched),
            refused,
        }
    }

    /// The workloads hosting `server`.
    pub fn hosted(&self, server: &ServerKey) -> Vec<Hosted> {
        self.lock()
            .hosted
            .get(server)
            .map(|h| h.to_vec())
            .unwrap_or_default()
    }

    /// Every server and its workloads, sorted by server.
    pub fn servers(&self) -> Vec<(ServerKey, Vec<Hosted>)> {
        let mut all: Vec<_> = {
            let t = self.lock();
            t.hosted
                .iter()
                .map(|(k, h)| (k.clone(), h.to_vec()))
                .collect()
        };
        // Sorted after the lock is let go: a watch or a wake never waits for it.
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Every server that has a workload, in no order. The lock is held only
    /// to copy the keys (the cheapest snapshot of a large fleet).
    pub fn server_keys(&self) -> Vec<ServerKey> {
        self.lock().hosted.keys().cloned().collect()
    }

    /// Number of workloads kept.
    pub fn len(&self) -> usize {
        self.lock().server_of.len()
    }

    /// True when no workload is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Tables {
    /// Inserts or updates `w`; false when it is new and the table is full.
    fn put(&mut self, w: Workload, max: usize, touched: &mut HashSet<ServerKey>) -> bool {
        let key = (w.server.namespace.clone(), w.workload.clone());
        match self.server_of.get(&key) {
            Some(old) if *old != w.server => {
                let old = old.clone();
                self.detach(&old, &key.1, touched);
            }
            Some(_) => {}
            None if self.server_of.len() >= max => return false,
            None => {}
        }
        self.server_of.insert(key, w.server.clone());
        let hosted = self.hosted.entry(w.server.clone()).or_default();
        let entry = Hosted {
            workload: w.workload,
            desired: w.desired,
            ready: w.ready,
            policy: w.policy,
        };
        match hosted.iter_mut().find(|h| h.workload == entry.workload) {
            Some(h) if *h == entry => return true,
            Some(h) => *h = entry,
            None => {
                // Sorted by workload, however they were seen: every replica
                // reads a server's workloads (and the first one's policy
                // annotation) in one order (rule 2).
                let at = hosted.partition_point(|h| h.workload < entry.workload);
                hosted.insert(at, entry);
            }
        }
        touched.insert(w.server);
        true
    }

    fn remove(&mut self, key: &ObjectKey, touched: &mut HashSet<ServerKey>) {
        if let Some(server) = self.server_of.remove(key) {
            self.detach(&server, &key.1, touched);
        }
    }

    fn detach(
        &mut self,
        server: &ServerKey,
        workload: &WorkloadRef,
        touched: &mut HashSet<ServerKey>,
    ) {
        if let Some(hosted) = self.hosted.get_mut(server) {
            hosted.retain(|h| h.workload != *workload);
            if hosted.is_empty() {
                self.hosted.remove(server);
            }
        }
        touched.insert(server.clone());
    }

    /// The totals of `servers`, sorted (so updates reach the store in a
    /// stable order).
    fn totals(&self, servers: HashSet<ServerKey>) -> Vec<Change> {
        let mut out: Vec<Change> = servers
            .into_iter()
            .map(|s| {
                let total = self.hosted.get(&s).map(|h| {
                    h.iter().fold((0u32, 0u32), |(d, r), w| {
                        (d.saturating_add(w.desired), r.saturating_add(w.ready))
                    })
                });
                (s, total)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

#[cfg(test)]
#[path = "inventory_tests.rs"]
mod tests;
