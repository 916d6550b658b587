//! Workload discovery: one watch per kind (Deployment, StatefulSet, and
//! pods metadata-only) and scope (every namespace, or each listed one),
//! selected by the server label. Workloads feed the [`Inventory`] and,
//! through it, every changed server's replica count into the [`Store`];
//! pods feed [`Pods`] for session-aware scale-in.
//!
//! A watch that fails is restarted with a fresh list after a backoff (see
//! [`super::watch`]). From the failure until that list is complete the
//! store is told the counts are not live: a count of 0 is then no longer
//! believed (rule 3: a lost watch is missing data, never "0 replicas").

use super::inventory::{Inventory, Scope, Update};
use super::pods::{PodState, Pods, pod_of};
use super::watch::{self, Sink};
use super::workload::{ScalableWorkload, Workload, WorkloadRef, observe};
use crate::config::KubernetesConfig;
use crate::id::{Namespace, ServerKey};
use crate::source::Store;
use crate::source::Telemetry;
use crate::time::Clock;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::core::PartialObjectMeta;
use kube::{Api, Client, Resource};
use std::collections::HashSet;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};
use tokio_util::sync::CancellationToken;

/// What every watch shares.
#[derive(Clone)]
pub struct Shared {
    /// The discovered workloads.
    pub inventory: Arc<Inventory>,
    /// The pods of discovered servers.
    pub pods: Arc<Pods>,
    /// Where replica counts go.
    pub store: Arc<Store>,
    /// Where discovery reports what it saw.
    pub telemetry: Telemetry,
    /// The scaler's clock.
    pub clock: Arc<dyn Clock>,
    /// The selector label.
    pub label: String,
    health: Arc<Health>,
}

/// Which workload watches are live; the store hears when all are, or not.
struct Health {
    watches: usize,
    live: Mutex<HashSet<usize>>,
}

impl Shared {
    /// State for the workload watches `config` runs.
    pub fn new(
        inventory: Arc<Inventory>,
        pods: Arc<Pods>,
        store: Arc<Store>,
        telemetry: Telemetry,
        clock: Arc<dyn Clock>,
        config: &KubernetesConfig,
    ) -> Self {
        let health = Arc::new(Health {
            watches: 2 * scopes(config).len(),
            live: Mutex::default(),
        });
        Self {
            inventory,
            pods,
            store,
            telemetry,
            clock,
            label: config.discovery.label.clone(),
            health,
        }
    }

    fn set_live(&self, watch: usize, live: bool) {
        let all = {
            let mut set = self
                .health
                .live
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
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
        let mut refused = update.refused;
        for (server, replicas) in &update.changes {
            if !self.store.set_replicas(server, *replicas, now) {
                refused += 1;
            }
        }
        self.telemetry.servers_refused("kubernetes", refused);
        self.telemetry.workloads_known(self.inventory.len());
    }
}

/// The scopes `config` watches: each listed namespace, or all (`None`).
pub(crate) fn scopes(config: &KubernetesConfig) -> Vec<Option<Namespace>> {
    match config.watched_namespaces() {
        Some(list) if !list.is_empty() => list.into_iter().map(Some).collect(),
        _ => vec![None],
    }
}

/// Runs every watch until `shutdown`.
pub async fn run(
    client: Client,
    config: KubernetesConfig,
    shared: Shared,
    shutdown: CancellationToken,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, namespace) in scopes(&config).into_iter().enumerate() {
        let ns = namespace.as_ref();
        let label = shared.label.clone();
        let deployments = WorkloadSink::<Deployment>::new(&shared, 2 * i, namespace.clone());
        let sets = WorkloadSink::<StatefulSet>::new(&shared, 2 * i + 1, namespace.clone());
        let pods = PodSink(shared.clone());
        let stop = || shutdown.clone();
        tasks.spawn(watch::run(
            api::<Deployment>(&client, ns),
            namespace.clone(),
            label.clone(),
            deployments,
            stop(),
        ));
        tasks.spawn(watch::run(
            api::<StatefulSet>(&client, ns),
            namespace.clone(),
            label.clone(),
            sets,
            stop(),
        ));
        tasks.spawn(watch::run(
            api::<PartialObjectMeta<Pod>>(&client, ns),
            namespace,
            label,
            pods,
            stop(),
        ));
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

/// Deployments or StatefulSets into the inventory and the store.
pub struct WorkloadSink<K> {
    shared: Shared,
    id: usize,
    scope: Scope,
    kind: PhantomData<fn() -> K>,
}

impl<K: ScalableWorkload> WorkloadSink<K> {
    /// The sink of watch `id` over `namespace` (all: `None`).
    pub fn new(shared: &Shared, id: usize, namespace: Option<Namespace>) -> Self {
        Self {
            shared: shared.clone(),
            id,
            scope: Scope {
                kind: K::KIND,
                namespace,
            },
            kind: PhantomData,
        }
    }
}

impl<K: ScalableWorkload + 'static> Sink<K> for WorkloadSink<K> {
    type Kept = Workload;

    fn kind(&self) -> &'static str {
        K::KIND.as_str()
    }

    fn keep(&self, object: &K) -> Option<Workload> {
        observe(object, &self.shared.label)
            .inspect_err(|e| tracing::debug!(kind = %K::KIND, error = %e, "workload skipped"))
            .ok()
    }

    fn resync(&self, _: Option<&Namespace>, listed: Vec<Workload>) {
        self.shared
            .publish(self.shared.inventory.resync(&self.scope, listed));
    }

    fn apply(&self, kept: Workload) {
        self.shared.publish(self.shared.inventory.apply(kept));
    }

    fn delete(&self, object: &K) {
        let meta = ScalableWorkload::meta(object);
        if let (Some(ns), Some(name)) = (&meta.namespace, &meta.name)
            && let Ok(ns) = Namespace::parse(ns)
        {
            let workload = WorkloadRef {
                kind: K::KIND,
                name: name.clone(),
            };
            self.shared
                .publish(self.shared.inventory.delete(&ns, &workload));
        }
    }

    fn set_live(&self, live: bool) {
        if !live {
            self.shared.telemetry.watch_failed(K::KIND.as_str());
        }
        self.shared.set_live(self.id, live);
    }
}

/// Pods (metadata only) into [`Pods`].
pub struct PodSink(pub Shared);

impl Sink<PartialObjectMeta<Pod>> for PodSink {
    type Kept = (ServerKey, String, PodState);

    fn kind(&self) -> &'static str {
        "Pod"
    }

    fn keep(&self, object: &PartialObjectMeta<Pod>) -> Option<Self::Kept> {
        pod_of(&object.metadata, &self.0.label)
    }

    fn resync(&self, namespace: Option<&Namespace>, listed: Vec<Self::Kept>) {
        self.0.pods.resync(namespace, listed);
    }

    fn apply(&self, (server, name, state): Self::Kept) {
        if !self.0.pods.apply(server, name, state) {
            self.0.telemetry.servers_refused("kubernetes-pods", 1);
        }
    }

    fn delete(&self, object: &PartialObjectMeta<Pod>) {
        let meta = &object.metadata;
        if let (Some(ns), Some(name)) = (&meta.namespace, &meta.name)
            && let Ok(ns) = Namespace::parse(ns)
        {
            self.0.pods.delete(&ns, name);
        }
    }

    fn set_live(&self, live: bool) {
        if !live {
            self.0.telemetry.watch_failed("Pod");
        }
    }
}

#[cfg(test)]
#[path = "discovery_tests.rs"]
mod tests;
