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

use crate::engine::{self, Decision, Policy, State};
use crate::id::ServerId;
use crate::signal::{EventKind, Sample, SignalKind, Signals};
use crate::time::Timestamp;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::watch;

/// One server's entry.
struct Entry {
    signals: Signals,
    state: State,
    changed: watch::Sender<u64>,
}

impl Entry {
    fn new() -> Self {
        Self {
            signals: Signals::default(),
            state: State::default(),
            changed: watch::Sender::new(0),
        }
    }

    fn notify(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// Fleet-wide poll status.
#[derive(Debug, Clone, Copy, Default)]
struct Fleet {
    poller_configured: bool,
    polled_at: Option<Timestamp>,
}

/// Number of independently locked parts of the store.
pub const SHARDS: usize = 64;

type Shard = HashMap<ServerId, Entry>;

/// The in-memory signal store shared by sources and handlers.
pub struct Store {
    shards: Box<[RwLock<Shard>]>,
    hasher: RandomState,
    fleet: RwLock<Fleet>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new(false)
    }
}

impl Store {
    /// An empty store; `poller_configured` says whether a Prometheus poller
    /// will feed it (without one, absent data is not a fault).
    pub fn new(poller_configured: bool) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: RandomState::new(),
            fleet: RwLock::new(Fleet {
                poller_configured,
                polled_at: None,
            }),
        }
    }

    /// What is known about `server` right now.
    pub fn signals(&self, server: &ServerId) -> Signals {
        let mut signals = self
            .read(server)
            .get(server)
            .map(|e| e.signals.clone())
            .unwrap_or_default();
        self.stamp_fleet(&mut signals);
        signals
    }

    /// Runs the engine for `server` and remembers its state for next time.
    pub fn decide(&self, server: &ServerId, policy: &Policy, now: Timestamp) -> Decision {
        let fleet = *self.fleet.read().unwrap_or_else(PoisonError::into_inner);
        let mut servers = self.write(server);
        let entry = entry_mut(&mut servers, server);
        entry.signals.poller_configured = fleet.poller_configured;
        entry.signals.polled_at = fleet.polled_at;
        let mut decision = engine::decide(&entry.signals, policy, &entry.state, now);
        // The state moves into the store; the returned decision keeps an
        // empty `next` (callers read the answer, not the memory).
        entry.state = std::mem::take(&mut decision.next);
        decision
    }

    /// The decision for `server` without remembering anything: for readers
    /// (the HTTP API) that must not disturb the state KEDA's answers use.
    pub fn peek(&self, server: &ServerId, policy: &Policy, now: Timestamp) -> Decision {
        let (state, signals) = {
            let servers = self.read(server);
            servers
                .get(server)
                .map(|e| (e.state.clone(), e.signals.clone()))
                .unwrap_or_default()
        };
        let mut signals = signals;
        self.stamp_fleet(&mut signals);
        engine::decide(&signals, policy, &state, now)
    }

    /// A receiver that changes whenever `server`'s signals change.
    pub fn subscribe(&self, server: &ServerId) -> watch::Receiver<u64> {
        entry_mut(&mut self.write(server), server)
            .changed
            .subscribe()
    }

    /// Applies an activity event and wakes the server's watchers at once.
    pub fn record_event(&self, server: &ServerId, kind: EventKind, at: Timestamp) {
        let mut servers = self.write(server);
        let entry = entry_mut(&mut servers, server);
        entry.signals.record_event(kind, at);
        entry.notify();
    }

    /// Replaces one signal for the whole fleet with the result of a grouped
    /// query: servers missing from `values` have no sample of `kind` now.
    /// Each shard is rewritten under its own lock, one after another.
    pub fn apply_poll(&self, kind: SignalKind, values: &[(ServerId, f64)], at: Timestamp) {
        let mut by_shard: Vec<Vec<(&ServerId, f64)>> = vec![Vec::new(); SHARDS];
        for (server, value) in values {
            by_shard[self.shard_of(server)].push((server, *value));
        }
        for (shard, values) in self.shards.iter().zip(by_shard) {
            let mut servers = shard.write().unwrap_or_else(PoisonError::into_inner);
            for entry in servers.values_mut() {
                entry.signals.polled[kind.index()] = None;
            }
            for (server, value) in values {
                entry_mut(&mut servers, server)
                    .signals
                    .set(kind, Sample { value, at });
            }
        }
    }

    /// Marks a complete successful poll at `at`: records activity seen in it
    /// and wakes the watchers of servers whose polled activity matters now:
    /// busy in this poll or in the one before (it may just have ended).
    /// A fleet of mostly idle servers thus wakes few of its `StreamIsActive`
    /// watchers per tick, not all of them. `resync` wakes every watcher: for
    /// the first poll and the first after a failed one, when data turning
    /// fresh again can change any answer.
    pub fn finish_poll(&self, at: Timestamp, resync: bool) {
        let previous = self
            .fleet
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .polled_at
            .replace(at);
        for shard in &self.shards {
            let mut servers = shard.write().unwrap_or_else(PoisonError::into_inner);
            for entry in servers.values_mut() {
                let was_busy = previous.is_some() && entry.signals.last_poll_activity == previous;
                let busy = entry.signals.finish_poll(at);
                if resync || busy || was_busy {
                    entry.notify();
                }
            }
        }
    }

    /// Time of the last successful poll.
    pub fn polled_at(&self) -> Option<Timestamp> {
        self.fleet
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .polled_at
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

    fn stamp_fleet(&self, signals: &mut Signals) {
        let fleet = *self.fleet.read().unwrap_or_else(PoisonError::into_inner);
        signals.poller_configured = fleet.poller_configured;
        signals.polled_at = fleet.polled_at;
    }

    fn shard_of(&self, server: &ServerId) -> usize {
        (self.hasher.hash_one(server) % SHARDS as u64) as usize
    }

    /// The shard holding `server`, locked for reading.
    fn read(&self, server: &ServerId) -> RwLockReadGuard<'_, Shard> {
        self.shards[self.shard_of(server)]
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The shard holding `server`, locked for writing.
    fn write(&self, server: &ServerId) -> RwLockWriteGuard<'_, Shard> {
        self.shards[self.shard_of(server)]
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// `server`'s entry, created if missing. Looks up before inserting, so the
/// common case (a known server: every call, event and poll) copies no key.
fn entry_mut<'a>(servers: &'a mut Shard, server: &ServerId) -> &'a mut Entry {
    if !servers.contains_key(server) {
        servers.insert(server.clone(), Entry::new());
    }
    servers
        .get_mut(server)
        .expect("the entry was inserted just above")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ServerId {
        ServerId::parse(s).expect("valid id")
    }

    #[test]
    fn an_event_notifies_only_that_servers_watchers() {
        let store = Store::new(false);
        let mut a = store.subscribe(&id("a"));
        let mut b = store.subscribe(&id("b"));
        store.record_event(&id("a"), EventKind::Request, Timestamp::from_millis(5));
        assert!(a.has_changed().expect("open"));
        assert!(!b.has_changed().expect("open"));
        a.mark_unchanged();
        b.mark_unchanged();
        assert_eq!(
            store.signals(&id("a")).last_event,
            Some(Timestamp::from_millis(5))
        );
    }

    #[test]
    fn a_grouped_poll_replaces_the_whole_fleets_values() {
        let store = Store::new(true);
        let t1 = Timestamp::from_millis(1_000);
        store.apply_poll(SignalKind::Sessions, &[(id("a"), 3.0), (id("b"), 1.0)], t1);
        store.finish_poll(t1, true);
        let t2 = Timestamp::from_millis(2_000);
        store.apply_poll(SignalKind::Sessions, &[(id("b"), 2.0)], t2);
        store.finish_poll(t2, false);
        assert_eq!(store.signals(&id("a")).get(SignalKind::Sessions), None);
        assert_eq!(store.signals(&id("a")).last_poll_activity, Some(t1));
        assert_eq!(
            store
                .signals(&id("b"))
                .get(SignalKind::Sessions)
                .map(|s| s.value),
            Some(2.0)
        );
        assert_eq!(store.signals(&id("b")).polled_at, Some(t2));
    }

    #[test]
    fn a_poll_wakes_the_watchers_of_busy_servers_and_of_those_that_just_stopped() {
        let store = Store::new(true);
        let (busy, stopped, idle) = (id("busy"), id("stopped"), id("idle"));
        let mut watch: Vec<_> = [&busy, &stopped, &idle]
            .iter()
            .map(|s| store.subscribe(s))
            .collect();
        let mut woken = |store: &Store, at: u64, resync: bool, busy_now: &[&ServerId]| {
            let at = Timestamp::from_millis(at);
            let values: Vec<_> = busy_now.iter().map(|s| ((*s).clone(), 1.0)).collect();
            store.apply_poll(SignalKind::Sessions, &values, at);
            store.finish_poll(at, resync);
            watch
                .iter_mut()
                .map(|w| {
                    let changed = w.has_changed().expect("open");
                    w.mark_unchanged();
                    changed
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            woken(&store, 1_000, true, &[&busy, &stopped]),
            [true, true, true],
            "the first poll wakes everyone"
        );
        assert_eq!(
            woken(&store, 2_000, false, &[&busy]),
            [true, true, false],
            "busy, and busy until now; an idle server's watcher sleeps on"
        );
        assert_eq!(woken(&store, 3_000, false, &[&busy]), [true, false, false]);
        assert_eq!(
            woken(&store, 4_000, true, &[&busy]),
            [true, true, true],
            "after a failed poll everyone re-decides"
        );
    }

    #[test]
    fn peek_decides_without_touching_the_remembered_state() {
        let store = Store::new(false);
        store.record_event(&id("a"), EventKind::SessionOpen, Timestamp::from_millis(0));
        let kept = store
            .decide(&id("a"), &Policy::default(), Timestamp::from_millis(10))
            .next;
        let other = Policy {
            min_replicas: 5,
            max_replicas: 9,
            ..Policy::default()
        };
        assert_eq!(
            store
                .peek(&id("a"), &other, Timestamp::from_millis(20))
                .desired,
            5
        );
        let again = store.decide(&id("a"), &Policy::default(), Timestamp::from_millis(30));
        assert_eq!(
            again.next.last_desired, kept.last_desired,
            "peek left no trace"
        );
    }

    #[test]
    fn decide_remembers_the_engine_state() {
        let store = Store::new(false);
        store.record_event(&id("a"), EventKind::SessionOpen, Timestamp::from_millis(0));
        let d = store.decide(&id("a"), &Policy::default(), Timestamp::from_millis(10));
        assert!(d.active);
        assert_eq!(
            store
                .decide(&id("a"), &Policy::default(), Timestamp::from_millis(20))
                .next,
            d.next
        );
    }
}
