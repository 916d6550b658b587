//! The signal store: per server, the latest samples, event-derived activity,
//! the engine's memory, and a change notifier.
//!
//! Every write that can change a server's decision bumps that server's
//! [`tokio::sync::watch`] channel, so `StreamIsActive` streams re-evaluate the
//! moment an event lands: the wake path has no tick in it.
//!
//! Servers are spread over [`SHARDS`] independently locked maps, so a
//! Prometheus tick that rewrites 10,000 servers holds one small lock at a
//! time and KEDA's calls for other servers never wait behind it.

use super::sessions::{SessionLimits, SessionTable};
use crate::engine::{self, Decision, Policy};
use crate::id::ServerKey;
use crate::signal::{EventKind, Feed, Signals, Stretch};
use crate::time::Timestamp;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::watch;

/// One server's entry.
struct Entry {
    signals: Signals,
    /// Open sessions and connections by id (what event counts rest on).
    sessions: SessionTable,
    changed: watch::Sender<u64>,
}

impl Entry {
    fn new(feed: Feed) -> Self {
        Self {
            signals: Signals {
                feed,
                ..Signals::default()
            },
            sessions: SessionTable::default(),
            changed: watch::Sender::new(0),
        }
    }

    fn notify(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// Number of independently locked parts of the store.
pub const SHARDS: usize = 64;

type Shard = HashMap<ServerKey, Entry>;

/// The in-memory signal store shared by sources and handlers. It holds
/// what the sources saw, and nothing the engine or a caller computed: a
/// decision is computed from it on every read.
pub struct Store {
    shards: Box<[RwLock<Shard>]>,
    hasher: RandomState,
    /// The sources' status; every entry carries a copy, kept equal.
    feed: RwLock<Feed>,
    /// Most entries per shard (the tracked-server cap over [`SHARDS`]).
    shard_cap: usize,
    /// Every server held, in order (the fleet listing pages through it).
    /// Taken after a shard's lock, never before one.
    index: RwLock<BTreeSet<ServerKey>>,
    /// Sessions and connections tracked by id over every entry.
    sessions: SessionLimits,
    /// Event time of the next store-wide look for silent sessions.
    full_sweep_due: Mutex<Option<Timestamp>>,
    /// Servers whose data was refused at the cap. Taken after a shard's
    /// lock, never before one.
    refused: Mutex<refused::Refused>,
}

/// Default cap on tracked servers (`server.max_servers`).
pub const DEFAULT_MAX_SERVERS: usize = 200_000;

/// How long a server must have been quiet (no load, nothing held, no
/// activity) before its entry may make room for a new server.
pub const QUIET_BEFORE_EVICTION: std::time::Duration = std::time::Duration::from_secs(3600);

impl Default for Store {
    fn default() -> Self {
        Self::new(false)
    }
}

impl Store {
    /// An empty store fed by a Prometheus poller if `poller_configured`, and
    /// by no event stream.
    pub fn new(poller_configured: bool) -> Self {
        Self::with_sources(poller_configured, false)
    }

    /// An empty store; the flags say which sources will feed it. Without
    /// any, absent data is not a fault (every server is idle); with one,
    /// nothing is known until it has delivered.
    pub fn with_sources(poller_configured: bool, events_configured: bool) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: RandomState::new(),
            feed: RwLock::new(Feed {
                poller_configured,
                events_configured,
                ..Feed::default()
            }),
            shard_cap: DEFAULT_MAX_SERVERS.div_ceil(SHARDS),
            index: RwLock::default(),
            sessions: SessionLimits::default(),
            full_sweep_due: Mutex::default(),
            refused: Mutex::default(),
        }
    }

    /// This store, tracking at most about `max_servers` servers (the cap is
    /// kept per shard, so it is rounded up to a multiple of the 64 shards).
    pub fn with_max_servers(mut self, max_servers: usize) -> Self {
        self.shard_cap = max_servers.div_ceil(SHARDS).max(1);
        self
    }

    /// What is known about `server` right now.
    pub fn signals(&self, server: &ServerKey) -> Signals {
        if let Some(entry) = self.read(server).get(server) {
            return entry.signals.clone();
        }
        self.unknown(server)
    }

    /// Decides for `server` under `policy` at `now`, from its signals alone
    /// (nothing is remembered, so every caller gets the same answer).
    pub fn decide(&self, server: &ServerKey, policy: &Policy, now: Timestamp) -> Decision {
        self.decide_held(server, policy, now).map_or_else(
            || engine::decide(&self.unknown(server), policy, now),
            |(decision, _)| decision,
        )
    }

    /// Decides for `server` under `policy` at `now` if the store holds it,
    /// with the sources' status its signals carry; `None` when it does not
    /// (its data was never seen or refused at the cap: unknown). One read
    /// of the entry, no copy of its signals.
    pub fn decide_held(
        &self,
        server: &ServerKey,
        policy: &Policy,
        now: Timestamp,
    ) -> Option<(Decision, Feed)> {
        let shard = self.read(server);
        let signals = &shard.get(server)?.signals;
        Some((engine::decide(signals, policy, now), signals.feed))
    }

    /// The signals of a server the store does not hold: nothing, with the
    /// sources' status; unknown data when its data was refused at the cap.
    fn unknown(&self, server: &ServerKey) -> Signals {
        let refused = self
            .refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(server);
        Signals {
            feed: Feed {
                untracked: refused,
                ..self.feed()
            },
            ..Signals::default()
        }
    }

    /// Whether the store holds `server`.
    pub fn contains(&self, server: &ServerKey) -> bool {
        self.read(server).contains_key(server)
    }

    /// The sources' status now.
    pub fn feed(&self) -> Feed {
        *self.feed.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// A receiver that changes whenever `server`'s signals change; `None`
    /// when the store is full (see [`Store::with_max_servers`]).
    pub fn subscribe(&self, server: &ServerKey, now: Timestamp) -> Option<watch::Receiver<u64>> {
        let room = self.room(now);
        room.entry(&mut self.write(server), server)
            .map(|e| e.changed.subscribe())
    }

    /// Applies an activity event that names no session and wakes the
    /// server's watchers at once. Returns false when the store is full and
    /// the event was dropped.
    pub fn record_event(&self, server: &ServerKey, kind: EventKind, at: Timestamp) -> bool {
        self.record_session_event(server, (kind, None), at)
            .is_some()
    }

    /// Records how many of `server`'s pods hold live work, seen at `at`
    /// (a server the store does not hold is left out).
    pub fn set_busy_pods(&self, server: &ServerKey, pods: u32, at: Timestamp) {
        if let Some(entry) = self.write(server).get_mut(server)
            && entry.signals.load.busy_pods != pods
        {
            entry.signals.set_busy_pods(pods, at);
            entry.notify();
        }
    }

    /// `server` is known to run no replicas (a replica count says so):
    /// nothing it reported is held as missing data any more.
    pub fn known_empty(&self, server: &ServerKey) {
        if let Some(entry) = self.write(server).get_mut(server)
            && entry.signals.held.kinds != 0
        {
            entry.signals.known_empty();
            entry.notify();
        }
    }

    /// Records `server`'s workload replicas (`None`: discovery no longer
    /// knows it) seen at `at`. Returns false when the store is full.
    pub fn set_replicas(
        &self,
        server: &ServerKey,
        replicas: Option<(u32, u32)>,
        at: Timestamp,
    ) -> bool {
        let room = self.room(at);
        let mut servers = self.write(server);
        if replicas.is_none() && !servers.contains_key(server) {
            return true;
        }
        let Some(entry) = room.entry(&mut servers, server) else {
            return false;
        };
        let before = (entry.signals.replicas, entry.signals.held);
        entry.signals.set_replicas(replicas);
        if before != (entry.signals.replicas, entry.signals.held) {
            entry.notify();
        }
        true
    }

    /// Workload discovery's watch is live and its list complete (`true`), or
    /// lost (`false`). Every watcher re-decides.
    pub fn set_workloads_live(&self, live: bool) {
        let (changed, feed) =
            self.update_feed(|f| std::mem::replace(&mut f.workloads_live, live) != live);
        if changed {
            self.spread_feed(feed);
        }
    }

    /// Copies the sources' status into every entry and wakes its watchers.
    fn spread_feed(&self, feed: Feed) {
        for shard in &self.shards {
            let mut servers = shard.write().unwrap_or_else(PoisonError::into_inner);
            for entry in servers.values_mut() {
                entry.signals.feed = feed;
                entry.notify();
            }
        }
    }

    /// How entries are made at `now`.
    fn room(&self, now: Timestamp) -> Room<'_> {
        Room {
            feed: self.feed(),
            cap: self.shard_cap,
            now,
            index: &self.index,
            sessions: &self.sessions,
            refused: &self.refused,
        }
    }

    /// Up to `limit` servers after `after` (from the start: `None`), in
    /// order, only those of `namespace` when given.
    pub fn keys_after(
        &self,
        after: Option<&ServerKey>,
        namespace: Option<&crate::id::Namespace>,
        limit: usize,
    ) -> Vec<ServerKey> {
        use std::ops::Bound;
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        index
            .range((start, Bound::Unbounded))
            .skip_while(|k| namespace.is_some_and(|ns| k.namespace < *ns))
            .take_while(|k| namespace.is_none_or(|ns| k.namespace == *ns))
            .take(limit)
            .cloned()
            .collect()
    }

    /// The event stream is live (`up`) or down since `at`. The first `up`
    /// also marks its replay as applied. Every watcher re-decides: whether
    /// events can be trusted changes every answer of an events-only fleet.
    pub fn set_events_status(&self, up: bool, at: Timestamp) {
        let (changed, feed) = self.update_feed(|f| {
            let before = (f.events_ready, f.events_down_since);
            let was_live = f.events_ready && f.events_down_since.is_none();
            if up {
                if !was_live {
                    f.trusted_since = Some(at);
                    // Down after having been live: blind since then.
                    if let Some(from) = f.events_down_since.filter(|_| f.events_ready) {
                        f.stretches.push(Stretch {
                            from,
                            back: at,
                            polls: false,
                        });
                    }
                }
                f.events_ready = true;
                f.events_down_since = None;
            } else if f.events_down_since.is_none() {
                f.events_down_since = Some(at);
            }
            before != (f.events_ready, f.events_down_since)
        });
        if changed {
            self.spread_feed(feed);
        }
    }

    /// Applies `change` to the sources' status; returns its result and the
    /// new status.
    fn update_feed<T>(&self, change: impl FnOnce(&mut Feed) -> T) -> (T, Feed) {
        let mut feed = self.feed.write().unwrap_or_else(PoisonError::into_inner);
        let out = change(&mut feed);
        (out, *feed)
    }

    /// Time of the last successful poll.
    pub fn polled_at(&self) -> Option<Timestamp> {
        self.feed().polled_at
    }

    /// Number of servers known.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// True when no server is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard_of(&self, server: &ServerKey) -> usize {
        (self.hasher.hash_one(server) % SHARDS as u64) as usize
    }

    /// The shard holding `server`, locked for reading.
    fn read(&self, server: &ServerKey) -> RwLockReadGuard<'_, Shard> {
        self.shards[self.shard_of(server)]
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The shard holding `server`, locked for writing.
    fn write(&self, server: &ServerKey) -> RwLockWriteGuard<'_, Shard> {
        self.shards[self.shard_of(server)]
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Makes entries: with the sources' status, under the cap, at `now`.
struct Room<'a> {
    feed: Feed,
    cap: usize,
    now: Timestamp,
    index: &'a RwLock<BTreeSet<ServerKey>>,
    sessions: &'a SessionLimits,
    refused: &'a Mutex<refused::Refused>,
}

impl Room<'_> {
    /// `server`'s entry, created if missing. Looks up before inserting, so
    /// the common case (a known server: every call, event and poll) copies
    /// no key. A full shard first forgets one quiet, unwatched server;
    /// `None` when it has none (the server is remembered as refused).
    fn entry<'a>(&self, servers: &'a mut Shard, server: &ServerKey) -> Option<&'a mut Entry> {
        if !servers.contains_key(server) {
            let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
            if servers.len() >= self.cap && !self.evict_one(servers) {
                refused.insert(server);
                return None;
            }
            refused.remove(server);
            servers.insert(server.clone(), Entry::new(self.feed));
            self.index
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(server.clone());
        }
        servers.get_mut(server)
    }

    fn evict_one(&self, servers: &mut Shard) -> bool {
        let quiet = servers.iter().find(|(_, e)| {
            e.changed.receiver_count() == 0 && e.signals.is_quiet(self.now, QUIET_BEFORE_EVICTION)
        });
        let Some(key) = quiet.map(|(k, _)| k.clone()) else {
            return false;
        };
        if let Some(gone) = servers.remove(&key) {
            self.sessions.give_back(gone.sessions.tracked());
            self.sessions.give_back_buckets(gone.sessions.buckets());
        }
        self.index
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key);
        true
    }
}

#[path = "store_poll.rs"]
mod poll;
#[path = "store_refused.rs"]
mod refused;
#[path = "store_sessions.rs"]
mod session_events;

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
