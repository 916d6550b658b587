//! Resolved ScaledObjects, kept so that a call does not re-parse, clone and
//! re-validate the same metadata (KEDA sends it on every call).
//!
//! An entry is keyed by the ScaledObject's namespace, name and metadata
//! content, so a changed trigger resolves afresh, and one ScaledObject's
//! entry never serves another. Errors are not kept. Entries not asked about
//! for [`FORGET_AFTER`] are dropped when the cache is full; a full cache of
//! recently used entries simply resolves without keeping.

use crate::config::Config;
use crate::metadata::{self, MetadataError, Target};
use crate::proto::ScaledObjectRef;
use crate::time::Timestamp;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// How long an entry is kept without being asked about, once the cache is
/// full.
pub const FORGET_AFTER: Duration = Duration::from_secs(600);

struct Entry {
    namespace: String,
    name: String,
    metadata: HashMap<String, String>,
    target: Arc<Target>,
    used_ms: AtomicU64,
}

impl Entry {
    fn is_for(&self, so: &ScaledObjectRef) -> bool {
        self.namespace == so.namespace
            && self.name == so.name
            && self.metadata == so.scaler_metadata
    }
}

/// The cache (one per scaler).
pub struct Targets {
    entries: RwLock<HashMap<u64, Entry>>,
    hasher: RandomState,
    capacity: usize,
}

impl Targets {
    /// A cache of at most `capacity` ScaledObjects.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: RwLock::default(),
            hasher: RandomState::new(),
            capacity: capacity.max(1),
        }
    }

    /// `so` resolved against `config`, from the cache when it was seen with
    /// the same namespace, name and metadata.
    pub fn resolve(
        &self,
        so: &ScaledObjectRef,
        config: &Config,
        now: Timestamp,
    ) -> Result<Arc<Target>, MetadataError> {
        let key = self.key(so);
        if let Some(e) = self
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .filter(|e| e.is_for(so))
        {
            e.used_ms.store(now.as_millis(), Ordering::Relaxed);
            return Ok(e.target.clone());
        }
        let target = Arc::new(metadata::resolve(
            &so.namespace,
            &so.name,
            &so.scaler_metadata,
            config,
        )?);
        self.keep(key, so, target.clone(), now);
        Ok(target)
    }

    /// The servers asked about, each with the target of the ScaledObject
    /// that asked most recently.
    pub fn by_server(&self) -> std::collections::BTreeMap<crate::id::ServerKey, Arc<Target>> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let mut newest: std::collections::BTreeMap<crate::id::ServerKey, (u64, Arc<Target>)> =
            std::collections::BTreeMap::new();
        for e in entries.values() {
            let used = e.used_ms.load(Ordering::Relaxed);
            let slot = newest
                .entry(e.target.server.clone())
                .or_insert((used, e.target.clone()));
            if used > slot.0 {
                *slot = (used, e.target.clone());
            }
        }
        newest.into_iter().map(|(k, (_, t))| (k, t)).collect()
    }

    /// The target of the ScaledObject that asked about `server` most
    /// recently, if any.
    pub fn for_server(&self, server: &crate::id::ServerKey) -> Option<Arc<Target>> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries
            .values()
            .filter(|e| e.target.server == *server)
            .max_by_key(|e| e.used_ms.load(Ordering::Relaxed))
            .map(|e| e.target.clone())
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn keep(&self, key: u64, so: &ScaledObjectRef, target: Arc<Target>, now: Timestamp) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity {
            let cutoff = (now - FORGET_AFTER).as_millis();
            entries.retain(|_, e| e.used_ms.load(Ordering::Relaxed) > cutoff);
            if entries.len() >= self.capacity {
                return;
            }
        }
        entries.insert(
            key,
            Entry {
                namespace: so.namespace.clone(),
                name: so.name.clone(),
                metadata: so.scaler_metadata.clone(),
                target,
                used_ms: AtomicU64::new(now.as_millis()),
            },
        );
    }

    /// A hash of namespace, name and metadata, independent of the map's
    /// iteration order (each pair hashed alone, then combined).
    fn key(&self, so: &ScaledObjectRef) -> u64 {
        let pairs = so
            .scaler_metadata
            .iter()
            .map(|pair| self.hasher.hash_one(pair))
            .fold(0u64, u64::wrapping_add);
        let mut h = self.hasher.build_hasher();
        so.namespace.hash(&mut h);
        so.name.hash(&mut h);
        pairs.hash(&mut h);
        h.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn so(name: &str, md: &[(&str, &str)]) -> ScaledObjectRef {
        ScaledObjectRef {
            name: name.into(),
            namespace: "tenants".into(),
            scaler_metadata: md.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
        }
    }

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_millis(1_000_000 + secs * 1000)
    }

    #[test]
    fn the_same_scaled_object_resolves_once_and_a_changed_one_afresh() {
        let cache = Targets::new(10);
        let config = Config::default();
        let a = cache
            .resolve(&so("a", &[("minReplicas", "1")]), &config, at(0))
            .expect("ok");
        let again = cache
            .resolve(&so("a", &[("minReplicas", "1")]), &config, at(1))
            .expect("ok");
        assert!(Arc::ptr_eq(&a, &again), "served from the cache");
        let changed = cache
            .resolve(&so("a", &[("minReplicas", "2")]), &config, at(2))
            .expect("ok");
        assert_eq!(changed.policy.min_replicas, 2);
        let other = cache
            .resolve(&so("b", &[("minReplicas", "1")]), &config, at(3))
            .expect("ok");
        assert_eq!(other.server.server.as_str(), "b");
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn errors_are_not_kept_and_a_full_cache_forgets_what_was_not_asked_about() {
        let cache = Targets::new(2);
        let config = Config::default();
        assert!(
            cache
                .resolve(&so("a", &[("colour", "red")]), &config, at(0))
                .is_err()
        );
        assert!(cache.is_empty());
        cache.resolve(&so("a", &[]), &config, at(0)).expect("ok");
        cache.resolve(&so("b", &[]), &config, at(0)).expect("ok");
        cache.resolve(&so("c", &[]), &config, at(1)).expect("ok");
        assert_eq!(
            cache.len(),
            2,
            "full of recent entries: c resolved, not kept"
        );
        cache.resolve(&so("b", &[]), &config, at(700)).expect("ok");
        cache.resolve(&so("c", &[]), &config, at(700)).expect("ok");
        assert_eq!(cache.len(), 2, "a, unused for 10 minutes, made room for c");
    }
}
