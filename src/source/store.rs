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

use crate::engine::{self, Decision, Policy};
use crate::id::ServerKey;
use crate::signal::{EventKind, Feed, SignalKind, Signals};
use crate::time::Timestamp;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::watch;

/// One server's entry.
struct Entry {
    signals: Signals,
    changed: watch::Sender<u64>,
}

impl Entry {
    fn new(feed: Feed) -> Self {
        Self {
            signals: Signals {
                feed,
                ..Signals::default()
            },
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
}

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
        }
    }

    /// What is known about `server` right now.
    pub fn signals(&self, server: &ServerKey) -> Signals {
        self.read(server)
            .get(server)
            .map_or_else(|| self.unknown(), |e| e.signals.clone())
    }

    /// Decides for `server` under `policy` at `now`, from its signals alone
    /// (nothing is remembered, so every caller gets the same answer).
    pub fn decide(&self, server: &ServerKey, policy: &Policy, now: Timestamp) -> Decision {
        if let Some(entry) = self.read(server).get(server) {
            return engine::decide(&entry.signals, policy, now);
        }
        engine::decide(&self.unknown(), policy, now)
    }

    /// The signals of a server nothing is known about.
    fn unknown(&self) -> Signals {
        Signals {
            feed: self.feed(),
            ..Signals::default()
        }
    }

    /// The sources' status now.
    pub fn feed(&self) -> Feed {
        *self.feed.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// A receiver that changes whenever `server`'s signals change.
    pub fn subscribe(&self, server: &ServerKey) -> watch::Receiver<u64> {
        let feed = self.feed();
        entry_mut(&mut self.write(server), server, feed)
            .changed
            .subscribe()
    }

    /// Applies an activity event and wakes the server's watchers at once.
    pub fn record_event(&self, server: &ServerKey, kind: EventKind, at: Timestamp) {
        let feed = self.feed();
        let mut servers = self.write(server);
        let entry = entry_mut(&mut servers, server, feed);
        entry.signals.record_event(kind, at);
        entry.notify();
    }

    /// Replaces one signal for the whole fleet with the result of a grouped
    /// query. A server missing from `values` whose last value was zero reads
    /// zero now; one whose last value was above zero is missing data: the
    /// value is held (see [`Signals::absent`]). Each shard is rewritten under
    /// its own lock, one after another. Returns how many servers' series
    /// went missing in this poll.
    pub fn apply_poll(
        &self,
        kind: SignalKind,
        values: &[(ServerKey, f64)],
        at: Timestamp,
    ) -> usize {
        let feed = self.feed();
        let last_good = feed.polled_at.unwrap_or(at);
        let mut by_shard: Vec<Vec<(&ServerKey, f64)>> = vec![Vec::new(); SHARDS];
        for (server, value) in values {
            by_shard[self.shard_of(server)].push((server, *value));
        }
        let mut missing = 0;
        for (shard, values) in self.shards.iter().zip(by_shard) {
            let mut servers = shard.write().unwrap_or_else(PoisonError::into_inner);
            let present: HashSet<&ServerKey> = values.iter().map(|(server, _)| *server).collect();
            for (server, entry) in servers.iter_mut() {
                if !present.contains(server) {
                    missing += usize::from(entry.signals.absent(kind, last_good));
                }
            }
            for (server, value) in values {
                entry_mut(&mut servers, server, feed)
                    .signals
                    .set(kind, value);
            }
        }
        missing
    }

    /// Marks a complete successful poll at `at`: records activity seen in it
    /// and wakes the watchers of servers whose polled activity matters now:
    /// busy in this poll or in the one before (it may just have ended).
    /// A fleet of mostly idle servers thus wakes few of its `StreamIsActive`
    /// watchers per tick, not all of them. `resync` wakes every watcher: for
    /// the first poll and the first after a failed one, when data turning
    /// fresh again can change any answer.
    pub fn finish_poll(&self, at: Timestamp, resync: bool) {
        let (previous, feed) = self.update_feed(|f| f.polled_at.replace(at));
        for shard in &self.shards {
            let mut servers = shard.write().unwrap_or_else(PoisonError::into_inner);
            for entry in servers.values_mut() {
                let was_busy = previous.is_some() && entry.signals.last_poll_activity == previous;
                let was_held = entry.signals.held.kinds != 0;
                entry.signals.feed = feed;
                let busy = entry.signals.finish_poll(at);
                let held = entry.signals.held.kinds != 0;
                if resync || busy || was_busy || held != was_held {
                    entry.notify();
                }
            }
        }
    }

    /// The event stream is live (`up`) or down since `at`. The first `up`
    /// also marks its replay as applied. Every watcher re-decides: whether
    /// events can be trusted changes every answer of an events-only fleet.
    pub fn set_events_status(&self, up: bool, at: Timestamp) {
        let (changed, feed) = self.update_feed(|f| {
            let before = (f.events_ready, f.events_down_since);
            if up {
                f.events_ready = true;
                f.events_down_since = None;
            } else if f.events_down_since.is_none() {
                f.events_down_since = Some(at);
            }
            before != (f.events_ready, f.events_down_since)
        });
        if !changed {
            return;
        }
        for shard in &self.shards {
            let mut servers = shard.write().unwrap_or_else(PoisonError::into_inner);
            for entry in servers.values_mut() {
                entry.signals.feed = feed;
                entry.notify();
            }
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

/// `server`'s entry, created if missing. Looks up before inserting, so the
/// common case (a known server: every call, event and poll) copies no key.
fn entry_mut<'a>(servers: &'a mut Shard, server: &ServerKey, feed: Feed) -> &'a mut Entry {
    if !servers.contains_key(server) {
        servers.insert(server.clone(), Entry::new(feed));
    }
    servers
        .get_mut(server)
        .expect("the entry was inserted just above")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ServerKey {
        ServerKey::parse("tenants", s).expect("valid id")
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
        let poll = |values: &[(ServerKey, f64)], ms| {
            let at = Timestamp::from_millis(ms);
            store.apply_poll(SignalKind::Sessions, values, at);
            store.finish_poll(at, false);
        };
        poll(&[(id("a"), 3.0), (id("b"), 1.0)], 1_000);
        poll(&[(id("a"), 0.0), (id("b"), 2.0)], 2_000);
        poll(&[(id("b"), 2.0)], 3_000);
        let a = store.signals(&id("a"));
        assert_eq!(
            a.get(SignalKind::Sessions),
            None,
            "last seen at zero: gone is zero"
        );
        assert_eq!(a.held.kinds, 0);
        assert_eq!(a.last_poll_activity, Some(Timestamp::from_millis(1_000)));
        let b = store.signals(&id("b"));
        assert_eq!(b.get(SignalKind::Sessions), Some(2.0));
        assert_eq!(b.feed.polled_at, Some(Timestamp::from_millis(3_000)));
    }

    #[test]
    fn a_poll_wakes_the_watchers_of_busy_servers_and_of_those_that_just_stopped() {
        let store = Store::new(true);
        let (busy, stopped, idle) = (id("busy"), id("stopped"), id("idle"));
        let mut watch: Vec<_> = [&busy, &stopped, &idle]
            .iter()
            .map(|s| store.subscribe(s))
            .collect();
        let all = [busy.clone(), stopped.clone(), idle.clone()];
        let mut woken = |store: &Store, at: u64, resync: bool, busy_now: &[&ServerKey]| {
            let at = Timestamp::from_millis(at);
            let values: Vec<_> = all
                .iter()
                .map(|s| (s.clone(), if busy_now.contains(&s) { 1.0 } else { 0.0 }))
                .collect();
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
    fn a_busy_servers_vanished_series_is_held_and_counted_an_idle_ones_reads_zero() {
        let store = Store::new(true);
        let t1 = Timestamp::from_millis(1_000);
        let values = [(id("busy"), 5.0), (id("idle"), 0.0)];
        store.apply_poll(SignalKind::Sessions, &values, t1);
        store.finish_poll(t1, true);
        let t2 = Timestamp::from_millis(16_000);
        assert_eq!(store.apply_poll(SignalKind::Sessions, &[], t2), 1);
        store.finish_poll(t2, false);
        let busy = store.signals(&id("busy"));
        assert_eq!(busy.get(SignalKind::Sessions), Some(5.0), "held, not zero");
        assert_eq!(busy.held.good_at, Some(t1));
        assert_eq!(store.signals(&id("idle")).get(SignalKind::Sessions), None);
        let d = store.decide(&id("busy"), &Policy::default(), t2);
        assert!(d.active, "unknown is never idle: {d:?}");
        assert!(
            matches!(d.data, engine::DataQuality::Stale { .. }),
            "{:?}",
            d.data
        );
    }

    #[test]
    fn asking_about_a_server_stores_nothing() {
        let store = Store::new(true);
        let d = store.decide(
            &id("never-seen"),
            &Policy::default(),
            Timestamp::from_millis(1),
        );
        assert!(matches!(
            d.data,
            engine::DataQuality::Unavailable { age_ms: None, .. }
        ));
        assert!(store.is_empty(), "a call must not create an entry");
    }

    #[test]
    fn a_decision_depends_on_the_signals_not_on_earlier_calls() {
        let store = Store::new(false);
        let busy = Policy::default();
        let pinned = Policy {
            min_replicas: 9,
            max_replicas: 9,
            ..Policy::default()
        };
        store.record_event(&id("a"), EventKind::SessionOpen, Timestamp::from_millis(0));
        let at = Timestamp::from_millis(10_000);
        let first = store.decide(&id("a"), &busy, at);
        for t in 0..50 {
            store.decide(&id("a"), &pinned, at + std::time::Duration::from_millis(t));
        }
        assert_eq!(
            store.decide(&id("a"), &busy, at),
            first,
            "other policies' calls leave no trace"
        );
    }

    #[test]
    fn losing_the_event_stream_wakes_every_watcher_and_holds_answers() {
        let store = Store::with_sources(false, true);
        let mut w = store.subscribe(&id("a"));
        store.set_events_status(true, Timestamp::from_millis(0));
        assert!(w.has_changed().expect("open"));
        w.mark_unchanged();
        store.record_event(&id("a"), EventKind::Request, Timestamp::from_millis(1_000));
        w.mark_unchanged();
        store.set_events_status(false, Timestamp::from_millis(2_000));
        assert!(w.has_changed().expect("open"));
        let late = Timestamp::from_millis(2_000 + 400_000);
        let d = store.decide(&id("a"), &Policy::default(), late);
        assert!(
            d.active,
            "active before the outage, active during it: {d:?}"
        );
    }
}
