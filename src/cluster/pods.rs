//! The pods of discovered servers and the live work on each: what
//! session-aware scale-in ranks. Pods are watched metadata-only (name,
//! labels, owner, annotations); live work comes from Prometheus
//! (`queries.pod_live_work`) and from NATS events that name a `pod`.

use crate::id::{Namespace, ServerId, ServerKey};
use crate::time::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The annotation the ReplicaSet controller reads on scale-in: pods with
/// the lowest cost go first.
pub const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// Most pods (and per-pod work entries) kept.
pub const MAX_PODS: usize = 1_000_000;

/// Longest pod name (a DNS subdomain).
const MAX_POD_NAME: usize = 253;

/// A pod as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodState {
    /// The deletion cost annotation it carries now, if any (and if it parses).
    pub cost: Option<i32>,
    /// Its owner is a StatefulSet (which ignores deletion cost).
    pub stateful: bool,
}

/// Whether `name` can be a pod name: 1-253 characters of `a-z 0-9 - .`.
pub fn valid_pod_name(name: &str) -> bool {
    (1..=MAX_POD_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// The server a pod belongs to and its name: `label`'s value, or else the
/// workload that owns it (a Deployment's ReplicaSet minus its
/// `pod-template-hash`, or the StatefulSet), which is the server when the
/// workload's label is empty too.
pub fn pod_of(meta: &ObjectMeta, label: &str) -> Option<(ServerKey, String, PodState)> {
    let namespace = Namespace::parse(meta.namespace.as_deref()?).ok()?;
    let name = meta.name.clone().filter(|n| valid_pod_name(n))?;
    let labels = meta.labels.as_ref();
    let owner = meta.owner_references.as_ref().and_then(|o| o.first());
    let stateful = owner.is_some_and(|o| o.kind == "StatefulSet");
    let server = match labels.and_then(|l| l.get(label)).filter(|v| !v.is_empty()) {
        Some(value) => value.clone(),
        None => {
            let owner = owner?;
            match owner.kind.as_str() {
                "StatefulSet" => owner.name.clone(),
                "ReplicaSet" => {
                    let hash = labels.and_then(|l| l.get("pod-template-hash"))?;
                    owner.name.strip_suffix(&format!("-{hash}"))?.to_owned()
                }
                _ => return None,
            }
        }
    };
    let server = ServerKey::new(namespace, ServerId::parse(&server).ok()?);
    let cost = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(DELETION_COST))
        .and_then(|v| v.parse().ok());
    Some((server, name, PodState { cost, stateful }))
}

#[derive(Default)]
struct Tables {
    by_server: HashMap<ServerKey, BTreeMap<String, PodState>>,
    server_of: HashMap<(Namespace, String), ServerKey>,
    /// Sessions and connections open per pod, from events, and the time
    /// of the pod's last such event.
    event_work: HashMap<(ServerKey, String), (u32, Timestamp)>,
    /// Live work per pod from the last good Prometheus query.
    polled_work: HashMap<(ServerKey, String), f64>,
    /// How long each server's event counts stand after its pod's last
    /// event (its policy's `event_count_ttl`, as the last scale-in tick
    /// resolved it), so that an event after the lapse does not bring the
    /// old count back before the next tick sees it.
    count_ttl: HashMap<ServerKey, Duration>,
}

/// Pods per server and their live work, bounded by [`MAX_PODS`].
#[derive(Default)]
pub struct Pods {
    tables: Mutex<Tables>,
}

impl Pods {
    fn lock(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A pod was added or changed. False when the table is full.
    pub fn apply(&self, server: ServerKey, name: String, state: PodState) -> bool {
        let mut t = self.lock();
        let key = (server.namespace.clone(), name);
        match t.server_of.get(&key) {
            Some(old) if *old != server => {
                let old = old.clone();
                t.detach(&old, &key.1);
            }
            None if t.server_of.len() >= MAX_PODS => return false,
            _ => {}
        }
        t.server_of.insert(key.clone(), server.clone());
        t.by_server.entry(server).or_default().insert(key.1, state);
        true
    }

    /// A pod was deleted: it and its work are forgotten.
    pub fn delete(&self, namespace: &Namespace, name: &str) {
        let mut t = self.lock();
        if let Some(server) = t.server_of.remove(&(namespace.clone(), name.to_owned())) {
            t.detach(&server, name);
        }
    }

    /// A fresh list of the pods of `namespace` (every namespace: `None`).
    pub fn resync(
        &self,
        namespace: Option<&Namespace>,
        listed: Vec<(ServerKey, String, PodState)>,
    ) {
        let gone: Vec<(Namespace, String)> = {
            let t = self.lock();
            let keep: std::collections::HashSet<(&Namespace, &str)> = listed
                .iter()
                .map(|(s, n, _)| (&s.namespace, n.as_str()))
                .collect();
            t.server_of
                .keys()
                .filter(|(ns, n)| {
                    namespace.is_none_or(|w| w == ns) && !keep.contains(&(ns, n.as_str()))
                })
                .cloned()
                .collect()
        };
        for (ns, name) in gone {
            self.delete(&ns, &name);
        }
        for (server, name, state) in listed {
            self.apply(server, name, state);
        }
    }

    /// The pods of `server`, by name.
    pub fn of(&self, server: &ServerKey) -> BTreeMap<String, PodState> {
        self.lock()
            .by_server
            .get(server)
            .cloned()
            .unwrap_or_default()
    }

    /// Records that `cost` now stands on the pod (after a patch).
    pub fn set_cost(&self, server: &ServerKey, pod: &str, cost: Option<i32>) {
        if let Some(p) = self
            .lock()
            .by_server
            .get_mut(server)
            .and_then(|m| m.get_mut(pod))
        {
            p.cost = cost;
        }
    }

    /// A session or connection opened (`+1`) or closed (`-1`) on a pod.
    /// Only pods the watch knows as `server`'s are counted: a name from an
    /// event cannot grow the table, and its count goes with the pod.
    pub fn record_event_work(&self, server: &ServerKey, pod: &str, opened: bool, at: Timestamp) {
        let mut t = self.lock();
        let known = t.by_server.get(server).is_some_and(|p| p.contains_key(pod));
        if !known {
            return;
        }
        let key = (server.clone(), pod.to_owned());
        t.forget_lapsed(&key, at);
        if !t.event_work.contains_key(&key) && !opened {
            return;
        }
        let (n, last) = t.event_work.entry(key).or_insert((0, at));
        *n = if opened {
            n.saturating_add(1)
        } else {
            n.saturating_sub(1)
        };
        *last = (*last).max(at);
    }

    /// A request on a pod: its counted work is still in use, so the count
    /// keeps speaking for the pod (a long session whose requests keep
    /// coming never lapses; nor, alike, a count a lost close left while
    /// requests keep coming). A pod with no count, or a lapsed one, is
    /// left alone.
    pub fn touch_event_work(&self, server: &ServerKey, pod: &str, at: Timestamp) {
        let mut t = self.lock();
        if t.event_work.is_empty() {
            return;
        }
        let key = (server.clone(), pod.to_owned());
        t.forget_lapsed(&key, at);
        if let Some((_, last)) = t.event_work.get_mut(&key) {
            *last = (*last).max(at);
        }
    }

    /// Replaces the polled live work with a new query result.
    /// Series for pods the watch does not know are dropped.
    pub fn set_polled_work(&self, values: HashMap<(ServerKey, String), f64>) {
        let mut t = self.lock();
        let known = |(server, pod): &(ServerKey, String)| {
            t.by_server.get(server).is_some_and(|p| p.contains_key(pod))
        };
        let kept: HashMap<_, _> = values.into_iter().filter(|(k, _)| known(k)).collect();
        t.polled_work = kept;
    }

    /// The live work on each pod of `server` that any source reports (the
    /// larger of the two); pods no source reports are absent: unknown.
    /// Event counts lapse `ttl` after the pod's last event (open, close or
    /// request: a lost close holds a pod only while events keep coming)
    /// and a lapsed count is forgotten, so the pod's next open counts from
    /// zero; `ttl` is kept for the events before the next call. Polled work stands until
    /// the next good query replaces it: while the query fails it is held
    /// (unknown is never idle; the failures are counted).
    pub fn work(&self, server: &ServerKey, now: Timestamp, ttl: Duration) -> HashMap<String, f64> {
        let mut guard = self.lock();
        let t = &mut *guard;
        let Some(pods) = t.by_server.get(server) else {
            return HashMap::new();
        };
        t.count_ttl.insert(server.clone(), ttl);
        for pod in pods.keys() {
            let key = (server.clone(), pod.clone());
            if t.event_work
                .get(&key)
                .is_some_and(|(_, at)| now.since(*at) >= ttl)
            {
                t.event_work.remove(&key);
            }
        }
        pods.keys()
            .filter_map(|pod| {
                let key = (server.clone(), pod.clone());
                let events = t.event_work.get(&key).map(|&(n, _)| f64::from(n));
                let polled = t.polled_work.get(&key).copied();
                let work = match (events, polled) {
                    (Some(a), Some(b)) => a.max(b),
                    (a, b) => a.or(b)?,
                };
                Some((pod.clone(), work))
            })
            .collect()
    }
}

impl Tables {
    /// Forgets the pod's event count if it lapsed by `at` under its
    /// server's last known ttl.
    fn forget_lapsed(&mut self, key: &(ServerKey, String), at: Timestamp) {
        let Some(ttl) = self.count_ttl.get(&key.0) else {
            return;
        };
        if self
            .event_work
            .get(key)
            .is_some_and(|(_, last)| at.since(*last) >= *ttl)
        {
            self.event_work.remove(key);
        }
    }

    fn detach(&mut self, server: &ServerKey, name: &str) {
        if let Some(pods) = self.by_server.get_mut(server) {
            pods.remove(name);
            if pods.is_empty() {
                self.by_server.remove(server);
                self.count_ttl.remove(server);
            }
        }
        let key = (server.clone(), name.to_owned());
        self.event_work.remove(&key);
        self.polled_work.remove(&key);
    }
}

#[cfg(test)]
#[path = "pods_tests.rs"]
mod tests;
