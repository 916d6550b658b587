//! Starting apply mode: the claim watches (ScaledObjects and HPAs, per
//! discovery scope), the Lease election and the actuator.

use super::actions::Actions;
use super::apply::{Actuator, ApplyParts};
use super::discovery::scopes;
use super::elsewhere::{ClaimSink, Elsewhere};
use super::lease::{Elector, Leadership, identity};
use super::watch;
use crate::id::{Namespace, ServerKey};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Activity events waiting for the actuator's wake check; when full, the
/// next sweep catches the rest.
pub const WAKE_QUEUE: usize = 65_536;

/// Where the service account's namespace is mounted in a pod.
const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// What the API shows of apply mode.
#[derive(Clone)]
pub struct ApplyView {
    /// The last action per server.
    pub actions: Arc<Actions>,
    /// Whether this replica acts.
    pub leadership: Leadership,
    /// Dry run: nothing is sent.
    pub dry_run: bool,
}

/// Errors starting apply mode.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The Lease's namespace is not configured and cannot be found.
    #[error(
        "kubernetes.apply.lease.namespace is empty and neither POD_NAMESPACE nor {SERVICE_ACCOUNT_NAMESPACE} names the scaler's namespace"
    )]
    NoNamespace,
    /// The sweep's thread could not start.
    #[error("starting apply mode's sweep thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// Apply mode, started.
pub struct Started {
    /// What the API shows.
    pub view: ApplyView,
    /// Ends once the Lease is released after `shutdown`: wait for it
    /// before the process exits, or the next replica waits out the lease.
    pub released: tokio::task::JoinHandle<()>,
    /// The actuator (its sweeps run on their own thread; tests call
    /// [`Actuator::sweep`] directly).
    pub actuator: Arc<Actuator>,
}

/// Starts apply mode; it stops with `shutdown` (the Lease is released).
pub fn start(
    parts: ApplyParts,
    wakes: mpsc::Receiver<ServerKey>,
    shutdown: &CancellationToken,
) -> Result<Started, ApplyError> {
    let apply = &parts.config.kubernetes.apply;
    let namespace = lease_namespace(&apply.lease.namespace)?;
    let elsewhere = start_claim_watches(&parts, shutdown);
    let who = identity();
    tracing::info!(lease = %apply.lease.name, namespace = %namespace, identity = %who, dry_run = apply.dry_run, qps = apply.qps, burst = apply.burst, "apply mode on");
    let elector = Elector::new(
        parts.client.clone(),
        apply.lease.clone(),
        namespace.as_str(),
        who,
    );
    let leadership = elector.leadership();
    let dry_run = apply.dry_run;
    let actuator = Arc::new(Actuator::new(parts, leadership.clone(), elsewhere));
    let actions = actuator.actions.clone();
    let sweeps = actuator.clone().sweep_loop(shutdown.clone());
    let handle = actuator.clone();
    crate::threads::run_on_own_thread("apply-sweep", sweeps).map_err(ApplyError::Thread)?;
    let acting = tokio::spawn(actuator.run(wakes, shutdown.clone()));
    // The Lease goes back only once no request is in flight.
    let stopped = async move {
        let _ = acting.await;
    };
    let released = tokio::spawn(elector.run(shutdown.clone(), stopped));
    Ok(Started {
        view: ApplyView {
            actions,
            leadership,
            dry_run,
        },
        released,
        actuator: handle,
    })
}

/// Watches ScaledObjects and HPAs in every discovery scope.
fn start_claim_watches(parts: &ApplyParts, shutdown: &CancellationToken) -> Arc<Elsewhere> {
    let scopes = scopes(&parts.config.kubernetes);
    let elsewhere = Arc::new(Elsewhere::new(2 * scopes.len()));
    let keda = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "keda.sh",
        "v1alpha1",
        "ScaledObject",
    ));
    for (i, namespace) in scopes.into_iter().enumerate() {
        let (objects, hpas): (Api<DynamicObject>, Api<HorizontalPodAutoscaler>) = match &namespace {
            Some(ns) => (
                Api::namespaced_with(parts.client.clone(), ns.as_str(), &keda),
                Api::namespaced(parts.client.clone(), ns.as_str()),
            ),
            None => (
                Api::all_with(parts.client.clone(), &keda),
                Api::all(parts.client.clone()),
            ),
        };
        let so_sink = ClaimSink::<DynamicObject>::new(elsewhere.clone(), 2 * i);
        let hpa_sink = ClaimSink::<HorizontalPodAutoscaler>::new(elsewhere.clone(), 2 * i + 1);
        tokio::spawn(watch::run(
            objects,
            namespace.clone(),
            String::new(),
            so_sink,
            shutdown.clone(),
        ));
        tokio::spawn(watch::run(
            hpas,
            namespace,
            String::new(),
            hpa_sink,
            shutdown.clone(),
        ));
    }
    elsewhere
}

/// The Lease's namespace: configured, else `POD_NAMESPACE`, else the
/// service account's.
fn lease_namespace(configured: &str) -> Result<Namespace, ApplyError> {
    let found = [
        Some(configured.to_owned()),
        std::env::var("POD_NAMESPACE").ok(),
        std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE).ok(),
    ];
    found
        .into_iter()
        .flatten()
        .map(|s| s.trim().to_owned())
        .find_map(|s| Namespace::parse(&s).ok())
        .ok_or(ApplyError::NoNamespace)
}
