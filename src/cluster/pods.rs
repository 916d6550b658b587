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
    by_server: HashMap<ServerKey, ServerPods>,
    server_of: HashMap<(Namespace, String), ServerKey>,
}

/// One server's pods, each with the live work known on it.
#[derive(Default)]
struct ServerPods {
    pods: BTreeMap<String, PodEntry>,
    /// How long event counts stand after the pod's last event (the
    /// server's policy's `event_count_ttl`, as the last scale-in tick
    /// resolved it), so that an event after the lapse does not bring the
    /// old count back before the next tick sees it.
    count_ttl: Option<Duration>,
}

struct PodEntry {
    state: PodState,
    /// Sessions and connections open on it, from events, and the time of
    /// its last such event.
    events: Option<(u32, Timestamp)>,
    /// Live work from the last good Prometheus query.
    polled: Option<f64>,
}

impl ServerPods {
    /// The pod `name`, with its event count forgotten if it lapsed by `at`.
    fn current(&mut self, name: &str, at: Timestamp) -> Option<&mut PodEntry> {
        let ttl = self.count_ttl;
        let pod = self.pods.get_mut(name)?;
        pod.lapse(ttl, at);
        Some(pod)
    }
}

impl PodEntry {
    /// Forgets the event count if it lapsed by `at` under `ttl`.
    fn lapse(&mut self, ttl: Option<Duration>, at: Timestamp) {
        if let (Some(ttl), Some((_, last))) = (ttl, self.events)
            && at.since(last) >= ttl
        {
            self.events = None;
        }
    }
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
        let pods = &mut t.by_server.entry(server).or_default().pods;
        match pods.get_mut(&key.1) {
            Some(pod) => pod.state = state,
            None => {
                let pod = PodEntry {
                    state,
                    events: None,
                    polled: None,
                };
                pods.insert(key.1, pod);
            }
        }
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
            .map_or_else(BTreeMap::new, |p| {
                p.pods
                    .iter()
                    .map(|(name, pod)| (name.clone(), pod.state.clone()))
                    .collect()
            })
    }

    /// Records that `cost` now stands on the pod (after a patch).
    pub fn set_cost(&self, server: &ServerKey, pod: &str, cost: Option<i32>) {
        if let Some(p) = self
            .lock()
            .by_server
            .get_mut(server)
            .and_then(|p| p.pods.get_mut(pod))
        {
            p.state.cost = cost;
        }
    }

    /// A session or connection opened (`+1`) or closed (`-1`) on a pod.
    /// Only pods the watch knows as `server`'s are counted: a name from an
    /// event cannot grow the table, and its count goes with the pod.
    pub fn record_event_work(&self, server: &ServerKey, pod: &str, opened: bool, at: Timestamp) {
        let mut t = self.lock();
        let Some(pod) = t.by_server.get_mut(server).and_then(|p| p.current(pod, at)) else {
            return;
        };
        let (n, last) = match (&mut pod.events, opened) {
            (None, false) => return,
            (events, _) => events.get_or_insert((0, at)),
        };
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
        let pod = t.by_server.get_mut(server).and_then(|p| p.current(pod, at));
        if let Some((_, last)) = pod.and_then(|p| p.events.as_mut()) {
            *last = (*last).max(at);
        }
    }

    /// Replaces the polled live work with a new query result.
    /// Series for pods the watch does not know are dropped.
    pub fn set_polled_work(&self, values: HashMap<(ServerKey, String), f64>) {
        let mut t = self.lock();
        for pod in t.by_server.values_mut().flat_map(|p| p.pods.values_mut()) {
            pod.polled = None;
        }
        for ((server, name), value) in values {
            if let Some(pod) = t
                .by_server
                .get_mut(&server)
                .and_then(|p| p.pods.get_mut(&name))
            {
                pod.polled = Some(value);
            }
        }
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
        let mut t = self.lock();
        let Some(pods) = t.by_server.get_mut(server) else {
            return HashMap::new();
        };
        pods.count_ttl = Some(ttl);
        pods.pods
            .iter_mut()
            .filter_map(|(name, pod)| {
                pod.lapse(Some(ttl), now);
                let events = pod.events.map(|(n, _)| f64::from(n));
                let work = match (events, pod.polled) {
                    (Some(a), Some(b)) => a.max(b),
                    (a, b) => a.or(b)?,
                };
                Some((name.clone(), work))
            })
            .collect()
    }
}

impl Tables {
    fn detach(&mut self, server: &ServerKey, name: &str) {
        if let Some(pods) = self.by_server.get_mut(server) {
            pods.pods.remove(name);
            if pods.pods.is_empty() {
                self.by_server.remove(server);
            }
        }
    }
}

#[cfg(test)]
#[path = "pods_tests.rs"]
mod tests;
