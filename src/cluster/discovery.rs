//! Workload discovery: one kube-runtime watcher per kind (Deployment,
//! StatefulSet) and scope (every namespace, or each listed one), selected
//! by the server label. Each feeds the [`Inventory`] and, through it, every
//! changed server's replica count into the [`Store`].
//!
//! A watch that fails is dropped, backs off (1 s doubling to 30 s) and
//! starts again with a fresh list (kube-runtime itself relists after `410
//! Gone`). From the failure until that list is complete the store is told
//! the counts are not live: a count of 0 is then no longer believed (rule
//! 3: a lost watch is missing data, never "0 replicas").

use super::inventory::{Inventory, Scope, Update};
use super::workload::{ScalableWorkload, Workload, observe};
use crate::config::KubernetesConfig;
use crate::id::Namespace;
use crate::output::metrics::Metrics;
use crate::source::Store;
use crate::time::Clock;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// First wait before a failed watch starts again; it doubles per failure.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// Longest wait before a failed watch starts again.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What every watch shares.
#[derive(Clone)]
pub struct Shared {
    /// The discovered workloads.
    pub inventory: Arc<Inventory>,
    /// Where replica counts go.
    pub store: Arc<Store>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The scaler's clock.
    pub clock: Arc<dyn Clock>,
    /// The selector label.
    pub label: String,
    health: Arc<Health>,
}

/// Which watches are live; the store hears when all are, or not.
struct Health {
    watches: usize,
    live: Mutex<HashSet<usize>>,
}

impl Shared {
    /// State for `watches` watches over `inventory`.
    pub fn new(
        inventory: Arc<Inventory>,
        store: Arc<Store>,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
        label: String,
        watches: usize,
    ) -> Self {
        let health = Arc::new(Health {
            watches,
            live: Mutex::default(),
        });
        Self {
            inventory,
            store,
            metrics,
            clock,
            label,
            health,
        }
    }

    fn set_live(&self, watch: usize, live: bool) {
        let all = {
            let mut set = self.health.live.lock().unwrap_or_else(PoisonError::into_inner);
            if live {
                set.insert(watch);
            } else {
                set.remove(&watch);
            }
            set.len() == self.health.watches
        };
        self.store.set_workloads_live(all);
    }

    fn publish(&self, update: Update) {
        let now = self.clock.now();
        for (server, replicas) in &update.changes {
            if !self.store.set_replicas(server, *replicas, now) {
                Metrics::count(&self.metrics.servers_refused, "kubernetes");
            }
        }
        Metrics::count_n(&self.metrics.servers_refused, "kubernetes", update.refused);
        let known = i64::try_from(self.inventory.len()).unwrap_or(i64::MAX);
        self.metrics.workloads_known.set(known);
    }
}

/// The number of watches `config` runs: two kinds per scope.
pub fn watch_count(config: &KubernetesConfig) -> usize {
    2 * config.watched_namespaces().map_or(1, |ns| ns.len().max(1))
}

/// Runs every workload watch until `shutdown`.
pub async fn run(client: Client, config: &KubernetesConfig, shared: Shared, shutdown: CancellationToken) {
    let scopes: Vec<Option<Namespace>> = match config.watched_namespaces() {
        Some(list) => list.into_iter().map(Some).collect(),
        None => vec![None],
    };
    let mut tasks = tokio::task::JoinSet::new();
    for (i, namespace) in scopes.into_iter().enumerate() {
        let deployments = api::<Deployment>(&client, namespace.as_ref());
        let sets = api::<StatefulSet>(&client, namespace.as_ref());
        tasks.spawn(watch(deployments, namespace.clone(), 2 * i, shared.clone(), shutdown.clone()));
        tasks.spawn(watch(sets, namespace, 2 * i + 1, shared.clone(), shutdown.clone()));
    }
    while tasks.join_next().await.is_some() {}
}

fn api<K>(client: &Client, namespace: Option<&Namespace>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns.as_str()),
        None => Api::all(client.clone()),
    }
}

/// One watch: `K` objects carrying the label, in `namespace` or all.
pub async fn watch<K>(
    api: Api<K>,
    namespace: Option<Namespace>,
    id: usize,
    shared: Shared,
    shutdown: CancellationToken,
) where
    K: ScalableWorkload + Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let scope = Scope {
        kind: K::KIND,
        namespace,
    };
    let mut backoff = FIRST_BACKOFF;
    loop {
        let config = watcher::Config::default().labels(&shared.label);
        let events = watcher::watcher(api.clone(), config);
        let failure = tokio::select! {
            () = shutdown.cancelled() => return,
            failure = follow(events, &scope, id, &shared, &mut backoff) => failure,
        };
        shared.set_live(id, false);
        Metrics::count(&shared.metrics.watch_errors, K::KIND.as_str());
        tracing::warn!(kind = %K::KIND, error = %failure, retry_in = ?backoff, "kubernetes watch failed; its counts are not live until it has listed again");
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Applies a watch's events until it fails; a complete list resets the
/// backoff.
async fn follow<K, S>(
    events: S,
    scope: &Scope,
    id: usize,
    shared: &Shared,
    backoff: &mut Duration,
) -> watcher::Error
where
    K: ScalableWorkload,
    S: futures::Stream<Item = Result<Event<K>, watcher::Error>>,
{
    let mut events = std::pin::pin!(events);
    let mut listing: Option<Vec<Workload>> = None;
    loop {
        match events.next().await {
            Some(Ok(event)) => {
                if matches!(event, Event::InitDone) {
                    *backoff = FIRST_BACKOFF;
                }
                apply(event, scope, &mut listing, id, shared);
            }
            Some(Err(e)) => return e,
            // The watcher's stream never ends; if it did, start over.
            None => return watcher::Error::NoResourceVersion,
        }
    }
}

fn apply<K: ScalableWorkload>(
    event: Event<K>,
    scope: &Scope,
    listing: &mut Option<Vec<Workload>>,
    id: usize,
    shared: &Shared,
) {
    let seen = |object: &K| match observe(object, &shared.label) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::debug!(kind = %K::KIND, error = %e, "workload skipped");
            None
        }
    };
    match event {
        Event::Init => *listing = Some(Vec::new()),
        Event::InitApply(object) => {
            if let (Some(list), Some(w)) = (listing.as_mut(), seen(&object)) {
                list.push(w);
            }
        }
        Event::InitDone => {
            let listed = listing.take().unwrap_or_default();
            shared.publish(shared.inventory.resync(scope, listed));
            shared.set_live(id, true);
        }
        Event::Apply(object) => {
            if let Some(w) = seen(&object) {
                shared.publish(shared.inventory.apply(w));
            }
        }
        Event::Delete(object) => {
            let meta = object.meta();
            if let (Some(ns), Some(name)) = (&meta.namespace, &meta.name)
                && let Ok(ns) = Namespace::parse(ns)
            {
                let workload = super::workload::WorkloadRef {
                    kind: K::KIND,
                    name: name.clone(),
                };
                shared.publish(shared.inventory.delete(&ns, &workload));
            }
        }
    }
}

#[cfg(test)]
#[path = "discovery_tests.rs"]
mod tests;
