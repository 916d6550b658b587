//! Workloads another autoscaler scales: the targets of KEDA ScaledObjects
//! and of HorizontalPodAutoscalers. Apply mode never touches them (two
//! controllers writing one replica count fight), and says so.
//!
//! Both kinds are watched (every object: no label), and only each object's
//! target is kept. A cluster without KEDA serves no ScaledObjects: that
//! list's 404 counts as "none". Until every watch has listed, nothing is
//! known to be free of another autoscaler, so apply mode does not act.

use super::watch::Sink;
use super::workload::{WorkloadKind, WorkloadRef};
use crate::id::Namespace;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::DynamicObject;
use kube::{Resource, ResourceExt};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

/// Which kind of object claims a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OwnerKind {
    /// A KEDA `ScaledObject`.
    ScaledObject,
    /// An `autoscaling/v2` HorizontalPodAutoscaler.
    Hpa,
}

impl OwnerKind {
    /// The Kubernetes kind.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ScaledObject => "ScaledObject",
            Self::Hpa => "HorizontalPodAutoscaler",
        }
    }
}

/// One claiming object: kind, namespace and name.
pub type Owner = (OwnerKind, Namespace, String);
/// A claimed workload: its namespace, kind and name.
pub type Claimed = (Namespace, WorkloadRef);

/// Most claiming objects kept (the rest are counted as unknown, and then
/// nothing is acted on: see [`Elsewhere::is_live`]).
pub const MAX_OWNERS: usize = 400_000;

#[derive(Debug, Default)]
struct Claims {
    by_owner: HashMap<Owner, Claimed>,
    by_target: HashMap<Claimed, BTreeSet<Owner>>,
    overflow: bool,
}

/// Every workload another autoscaler claims.
#[derive(Debug, Default)]
pub struct Elsewhere {
    claims: Mutex<Claims>,
    /// Watches started, and which of them are live.
    live: Mutex<(usize, HashSet<usize>)>,
}

impl Elsewhere {
    /// Expects `watches` watches to report (see [`ClaimSink`]).
    pub fn new(watches: usize) -> Self {
        Self {
            claims: Mutex::default(),
            live: Mutex::new((watches, HashSet::new())),
        }
    }

    /// The object that claims `workload` in `namespace`, if any, as
    /// `Kind/name`.
    pub fn claimed_by(&self, namespace: &Namespace, workload: &WorkloadRef) -> Option<String> {
        let claims = self.lock();
        let key = (namespace.clone(), workload.clone());
        claims
            .by_target
            .get(&key)
            .and_then(|owners| owners.iter().next())
            .map(|(kind, _, name)| format!("{}/{name}", kind.as_str()))
    }

    /// Whether every watch has listed and nothing was dropped: only then is
    /// a workload with no claim known to be free.
    pub fn is_live(&self) -> bool {
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.1.len() == live.0 && !self.lock().overflow
    }

    /// Records `owner`'s claim (replacing an earlier one).
    pub fn claim(&self, owner: Owner, target: Claimed) {
        let mut c = self.lock();
        c.forget(&owner);
        if c.by_owner.len() >= MAX_OWNERS {
            c.overflow = true;
            return;
        }
        c.by_target
            .entry(target.clone())
            .or_default()
            .insert(owner.clone());
        c.by_owner.insert(owner, target);
    }

    /// Forgets `owner`'s claim.
    pub fn release(&self, owner: &Owner) {
        self.lock().forget(owner);
    }

    /// Replaces every claim of `kind` in `scope` (`None`: everywhere).
    pub fn resync(
        &self,
        kind: OwnerKind,
        scope: Option<&Namespace>,
        listed: Vec<(Owner, Claimed)>,
    ) {
        {
            let mut c = self.lock();
            let stale: Vec<Owner> = c
                .by_owner
                .keys()
                .filter(|(k, ns, _)| *k == kind && scope.is_none_or(|s| s == ns))
                .cloned()
                .collect();
            for owner in &stale {
                c.forget(owner);
            }
            c.overflow = false;
        }
        for (owner, target) in listed {
            self.claim(owner, target);
        }
    }

    fn set_live(&self, watch: usize, live: bool) {
        let mut l = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        if live {
            l.1.insert(watch);
        } else {
            l.1.remove(&watch);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Claims> {
        self.claims.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Claims {
    fn forget(&mut self, owner: &Owner) {
        let Some(target) = self.by_owner.remove(owner) else {
            return;
        };
        if let Some(owners) = self.by_target.get_mut(&target) {
            owners.remove(owner);
            if owners.is_empty() {
                self.by_target.remove(&target);
            }
        }
    }
}

/// Feeds one watch of claiming objects into [`Elsewhere`].
pub struct ClaimSink<K> {
    /// Where claims go.
    pub elsewhere: Arc<Elsewhere>,
    /// This watch's number (for liveness).
    pub watch: usize,
    /// Reads the claim out of an object.
    pub kind: std::marker::PhantomData<fn() -> K>,
}

impl<K> ClaimSink<K> {
    /// Watch number `watch` of `elsewhere`'s.
    pub fn new(elsewhere: Arc<Elsewhere>, watch: usize) -> Self {
        Self {
            elsewhere,
            watch,
            kind: std::marker::PhantomData,
        }
    }
}

/// An object that may claim a workload.
pub trait Claiming: Resource + Send + Sync + 'static {
    /// Its kind.
    const OWNER: OwnerKind;
    /// The kind and name of the workload it scales, if it names one.
    fn target(&self) -> Option<(String, String)>;
}

impl Claiming for HorizontalPodAutoscaler {
    const OWNER: OwnerKind = OwnerKind::Hpa;
    fn target(&self) -> Option<(String, String)> {
        let r = &self.spec.as_ref()?.scale_target_ref;
        Some((r.kind.clone(), r.name.clone()))
    }
}

impl Claiming for DynamicObject {
    const OWNER: OwnerKind = OwnerKind::ScaledObject;
    fn target(&self) -> Option<(String, String)> {
        let r = self.data.get("spec")?.get("scaleTargetRef")?;
        let name = r.get("name")?.as_str()?.to_owned();
        // KEDA's default kind.
        let kind = r
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or("Deployment");
        Some((kind.to_owned(), name))
    }
}

/// The claim `object` makes, if it names a Deployment or StatefulSet.
fn claim_of<K: Claiming>(object: &K) -> Option<(Owner, Claimed)> {
    let namespace = Namespace::parse(&object.namespace()?).ok()?;
    let (kind, name) = object.target()?;
    let kind = match kind.as_str() {
        "Deployment" => WorkloadKind::Deployment,
        "StatefulSet" => WorkloadKind::StatefulSet,
        _ => return None,
    };
    let owner = (K::OWNER, namespace.clone(), object.name_any());
    Some((owner, (namespace, WorkloadRef { kind, name })))
}

impl<K: Claiming> Sink<K> for ClaimSink<K> {
    type Kept = (Owner, Claimed);

    fn kind(&self) -> &'static str {
        K::OWNER.as_str()
    }

    fn keep(&self, object: &K) -> Option<Self::Kept> {
        claim_of(object)
    }

    fn resync(&self, namespace: Option<&Namespace>, listed: Vec<Self::Kept>) {
        self.elsewhere.resync(K::OWNER, namespace, listed);
    }

    fn apply(&self, (owner, target): Self::Kept) {
        self.elsewhere.claim(owner, target);
    }

    fn delete(&self, object: &K) {
        if let Some(namespace) = object.namespace().and_then(|n| Namespace::parse(&n).ok()) {
            self.elsewhere
                .release(&(K::OWNER, namespace, object.name_any()));
        }
    }

    fn set_live(&self, live: bool) {
        self.elsewhere.set_live(self.watch, live);
    }

    fn missing_kind_is_empty(&self) -> bool {
        // KEDA may not be installed; HPAs are always served.
        K::OWNER == OwnerKind::ScaledObject
    }
}

#[cfg(test)]
#[path = "elsewhere_tests.rs"]
mod tests;
