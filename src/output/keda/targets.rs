//! Resolved ScaledObjects, kept so that a call does not re-parse, clone and
//! re-validate the same metadata (KEDA sends it on every call).
//!
//! An entry is keyed by the ScaledObject's namespace, name and metadata
//! content, so a changed trigger resolves afresh, and one ScaledObject's
//! entry never serves another. Errors are not kept. Entries not asked about
//! for [`FORGET_AFTER`] are dropped when the cache is full (of entries, or
//! of [`MAX_BYTES`] of names and metadata); a full cache of recently used
//! entries simply resolves without keeping.

use crate::config::Config;
use crate::metadata::{self, MetadataError, Target};
use crate::proto::ScaledObjectRef;
use crate::time::Timestamp;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// How long an entry is kept without being asked about, once the cache is
/// full.
pub const FORGET_AFTER: Duration = Duration::from_secs(600);

/// Most bytes of namespaces, names and metadata held (metadata may be up to
/// `server.max_metadata_bytes` each, which the entry count alone does not
/// bound).
pub const MAX_BYTES: usize = 64 << 20;

struct Entry {
    namespace: String,
    name: String,
    metadata: HashMap<String, String>,
    target: Arc<Target>,
    used_ms: AtomicU64,
    /// Bytes of its namespace, name and metadata.
    bytes: usize,
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
    /// Bytes of every entry held (changed under the write lock).
    bytes: AtomicUsize,
}

impl Targets {
    /// A cache of at most `capacity` ScaledObjects.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: RwLock::default(),
            hasher: RandomState::new(),
            capacity: capacity.max(1),
            bytes: AtomicUsize::new(0),
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

    /// The servers asked about, each with its preferred ScaledObject's
    /// target ([`preferred`]).
    pub fn by_server(&self) -> std::collections::BTreeMap<crate::id::ServerKey, Arc<Target>> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let mut asking: std::collections::BTreeMap<&crate::id::ServerKey, Vec<&Entry>> =
            std::collections::BTreeMap::new();
        for e in entries.values() {
            asking.entry(&e.target.server).or_default().push(e);
        }
        asking
            .into_iter()
            .filter_map(|(server, es)| Some((server.clone(), preferred(es)?.target.clone())))
            .collect()
    }

    /// The target of `server`'s preferred ScaledObject ([`preferred`]), if
    /// any asked about it.
    pub fn for_server(&self, server: &crate::id::ServerKey) -> Option<Arc<Target>> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let asking = entries.values().filter(|e| e.target.server == *server);
        preferred(asking.collect()).map(|e| e.target.clone())
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
        let bytes = so.namespace.len()
            + so.name.len()
            + so.scaler_metadata
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let full = |entries: &HashMap<u64, Entry>, held: usize| {
            entries.len() >= self.capacity || held + bytes > MAX_BYTES
        };
        let mut held = self.bytes.load(Ordering::Relaxed);
        if full(&entries, held) {
            let cutoff = (now - FORGET_AFTER).as_millis();
            entries.retain(|_, e| e.used_ms.load(Ordering::Relaxed) > cutoff);
            held = entries.values().map(|e| e.bytes).sum();
            self.bytes.store(held, Ordering::Relaxed);
            if full(&entries, held) {
                return;
            }
        }
        let entry = Entry {
            namespace: so.namespace.clone(),
            name: so.name.clone(),
            metadata: so.scaler_metadata.clone(),
            target,
            used_ms: AtomicU64::new(now.as_millis()),
            bytes,
        };
        let replaced = entries.insert(key, entry).map_or(0, |old| old.bytes);
        self.bytes.store(held + bytes - replaced, Ordering::Relaxed);
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

/// Of the entries naming one server, the one whose target the HTTP side
/// shows: among the ScaledObjects still asking (used within
/// [`FORGET_AFTER`] of the latest), the first by namespace and name, and
/// its latest metadata. The same whichever of them asked last: two
/// ScaledObjects naming one server do not flip the answer on every poll.
fn preferred(entries: Vec<&Entry>) -> Option<&Entry> {
    let used = |e: &Entry| e.used_ms.load(Ordering::Relaxed);
    let latest = entries.iter().map(|e| used(e)).max()?;
    let window = u64::try_from(FORGET_AFTER.as_millis()).unwrap_or(u64::MAX);
    entries
        .into_iter()
        .filter(|e| used(e).saturating_add(window) >= latest)
        .min_by(|a, b| {
            (&a.namespace, &a.name)
                .cmp(&(&b.namespace, &b.name))
                .then(used(b).cmp(&used(a)))
        })
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

    #[test]
    fn two_scaled_objects_naming_one_server_show_one_whichever_asked_last() {
        let cache = Targets::new(10);
        let config = Config::default();
        let pinned = |n: &'static str| [("serverId", "github"), ("minReplicas", n)];
        let server = crate::id::ServerKey::parse("tenants", "github").expect("id");
        for (i, (first, second)) in [("b", "a"), ("a", "b"), ("b", "a")].into_iter().enumerate() {
            let t = i as u64 * 30;
            cache
                .resolve(
                    &so(first, &pinned(if first == "a" { "1" } else { "9" })),
                    &config,
                    at(t),
                )
                .expect("ok");
            cache
                .resolve(
                    &so(second, &pinned(if second == "a" { "1" } else { "9" })),
                    &config,
                    at(t + 1),
                )
                .expect("ok");
            let shown = cache.for_server(&server).expect("asked");
            assert_eq!(shown.policy.min_replicas, 1, "round {i}: the first by name");
            assert_eq!(
                cache
                    .by_server()
                    .get(&server)
                    .map(|t| t.policy.min_replicas),
                Some(1)
            );
        }
        // One that stopped asking (deleted) gives way after FORGET_AFTER.
        let later = at(90) + FORGET_AFTER + Duration::from_secs(1);
        cache
            .resolve(&so("b", &pinned("9")), &config, later)
            .expect("ok");
        assert_eq!(
            cache.for_server(&server).map(|t| t.policy.min_replicas),
            Some(9)
        );
    }

    #[test]
    fn the_cache_holds_at_most_max_bytes_of_metadata() {
        let cache = Targets::new(1_000);
        let config = Config {
            server: crate::config::ServerConfig {
                max_metadata_bytes: crate::config::MAX_METADATA_BYTES,
                ..Default::default()
            },
            ..Config::default()
        };
        // Keys KEDA sends are accepted with any value: 1 MiB of padding each.
        let padding = " ".repeat(crate::config::MAX_METADATA_BYTES - 64);
        let big = |i: usize| ScaledObjectRef {
            name: format!("so-{i}"),
            namespace: "tenants".into(),
            scaler_metadata: HashMap::from([("scalerAddress".to_owned(), padding.clone())]),
        };
        for i in 0..100 {
            cache.resolve(&big(i), &config, at(0)).expect("ok");
        }
        let held = cache.bytes.load(Ordering::Relaxed);
        assert!(held <= MAX_BYTES, "{held}");
        assert_eq!(cache.len(), MAX_BYTES / crate::config::MAX_METADATA_BYTES);
        // Once they are old, new ones take their place.
        let later = at(0) + FORGET_AFTER + Duration::from_secs(1);
        cache.resolve(&big(100), &config, later).expect("ok");
        assert_eq!(cache.len(), 1);
        assert_eq!(
            cache.bytes.load(Ordering::Relaxed),
            big(100).scaler_metadata["scalerAddress"].len()
                + "scalerAddress".len()
                + "tenants".len()
                + "so-100".len()
        );
    }
}
