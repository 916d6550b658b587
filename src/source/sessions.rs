//! Which sessions and connections a server has open, by the ids events
//! carry, so that the event-counted signals count units, not arithmetic.
//!
//! Counting opens minus closes goes wrong when an event is lost: a lost
//! close left a unit open for good (each one adding to the server's count
//! whenever an event brought the counts back in force), and a close whose
//! open was lost cancelled some other live session. With ids the store
//! knows better:
//! - a second open of one id counts once (past the caps, where ids are not
//!   kept, it counts again: more, never fewer);
//! - a close counts only for an id seen open; one never seen (its open lost,
//!   or already forgotten) is ignored, so it cannot hide another's work,
//!   except while opens beyond the caps are counted (below), which such a
//!   close may cancel (see [`beyond`]); a cancel in the shared count never
//!   frees a pod (the unit it cancelled may have been on another);
//! - a unit silent for `nats.session_forget_after` ([`FORGET_AFTER`] by
//!   default: no open, request or close naming it) is forgotten: its close
//!   was lost.
//!
//! Events without an id are counted as before (opens minus closes), in a
//! share of their own that only closes without an id cancel. Opens with an
//! id beyond the caps are counted in buckets by the id's hash, which only
//! closes of ids the table does not know, falling in the same bucket,
//! cancel ([`beyond`]). Every rule reads the events alone
//! (their order and times), so two scaler replicas that applied the same
//! events keep equal tables (rule 2).

#[path = "sessions_beyond.rs"]
pub mod beyond;

use crate::signal::{EventKind, SIGNALS, SignalKind, Signals};
use crate::time::Timestamp;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// By default, a unit no event has named for this long is forgotten (its
/// close was lost): `nats.session_forget_after`.
pub const FORGET_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Most units one server's table tracks by id.
pub const MAX_PER_SERVER: usize = 10_000;

/// Most units tracked by id over the whole store.
pub const MAX_TRACKED: usize = 1_000_000;

/// How often (in event time) a server's table looks for silent units.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// A table this size keeps its room when it empties.
const SMALL_TABLE: usize = 64;

/// Most bytes of a session id an event may carry (longer ones are ignored).
pub const MAX_ID_LEN: usize = 256;

/// A session or connection id, kept as a fixed hash of its text (the same
/// in every replica; ids are bounded and never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(u64);

impl SessionId {
    /// The id of `text`, if it is a usable id: 1 to [`MAX_ID_LEN`] bytes
    /// without control characters.
    pub fn parse(text: &str) -> Option<Self> {
        let usable =
            !text.is_empty() && text.len() <= MAX_ID_LEN && !text.chars().any(char::is_control);
        usable.then(|| {
            // SipHash with fixed keys: equal in every process.
            let mut h = DefaultHasher::new();
            text.hash(&mut h);
            Self(h.finish())
        })
    }
}

/// The store-wide limits of tracking units by id: how many (within
/// `limit`, [`MAX_TRACKED`] by default; `used` counts them) and how long a
/// silent one is kept (`forget_after`, [`FORGET_AFTER`] by default).
#[derive(Debug)]
pub struct SessionLimits {
    used: AtomicUsize,
    limit: usize,
    forget_after: Duration,
    /// Buckets of units beyond the caps ([`beyond`]), within `bucket_limit`.
    buckets_used: AtomicUsize,
    bucket_limit: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self::with_limit(MAX_TRACKED)
    }
}

impl SessionLimits {
    /// At most `limit` units, forgotten after [`FORGET_AFTER`].
    pub fn with_limit(limit: usize) -> Self {
        Self {
            used: AtomicUsize::new(0),
            limit,
            forget_after: FORGET_AFTER,
            buckets_used: AtomicUsize::new(0),
            bucket_limit: beyond::MAX_BUCKETS,
        }
    }

    /// These limits with at most `n` buckets (tests: the buckets, filled).
    #[cfg(test)]
    pub fn with_bucket_limit(self, n: usize) -> Self {
        Self {
            bucket_limit: n,
            ..self
        }
    }

    /// These limits, a silent unit forgotten after `forget_after`.
    pub fn forgetting_after(self, forget_after: Duration) -> Self {
        Self {
            forget_after,
            ..self
        }
    }

    fn take(&self) -> bool {
        take_one(&self.used, self.limit)
    }

    /// Gives back `n` units (forgotten, closed, or their server evicted).
    pub fn give_back(&self, n: usize) {
        give_back(&self.used, n);
    }

    fn take_bucket(&self) -> bool {
        take_one(&self.buckets_used, self.bucket_limit)
    }

    /// Gives back `n` buckets (emptied, forgotten, or their server evicted).
    pub fn give_back_buckets(&self, n: usize) {
        give_back(&self.buckets_used, n);
    }

    /// How long a silent unit is kept.
    pub fn forget_after(&self) -> Duration {
        self.forget_after
    }

    /// Units tracked now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Buckets of units beyond the caps held now (tests).
    #[cfg(test)]
    pub fn buckets_used(&self) -> usize {
        self.buckets_used.load(Ordering::Acquire)
    }

    /// Whether every unit is taken.
    pub fn is_full(&self) -> bool {
        self.used() >= self.limit
    }
}

fn take_one(used: &AtomicUsize, limit: usize) -> bool {
    used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
        (n < limit).then_some(n + 1)
    })
    .is_ok()
}

fn give_back(used: &AtomicUsize, n: usize) {
    let _ = used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |m| {
        Some(m.saturating_sub(n))
    });
}

/// What one event did to the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// It moved its signal's count (a request: would have; requests move
    /// none).
    pub server: bool,
    /// Its pod's count may move with it: not for a close of an id the
    /// table does not know that cancelled an open of the shared count
    /// beyond the caps, which may have been on another pod.
    pub pod: bool,
}

impl Counted {
    const NOTHING: Self = Self::both(false);

    const fn both(moved: bool) -> Self {
        Self {
            server: moved,
            pod: moved,
        }
    }
}

/// One server's open units.
#[derive(Debug, Default)]
pub struct SessionTable {
    /// (signal, id) → when an event last named it.
    open: HashMap<(SignalKind, SessionId), Timestamp>,
    /// Units opened without an id, per signal.
    anonymous: [u32; SignalKind::COUNT],
    /// Units opened with an id beyond the caps.
    beyond: beyond::BeyondCaps,
    /// Event time of the next look for silent units.
    next_sweep: Option<Timestamp>,
}

impl SessionTable {
    /// Units tracked by id.
    pub fn tracked(&self) -> usize {
        self.open.len()
    }

    /// Buckets of units beyond the caps held (given back when the server
    /// leaves the store).
    pub fn buckets(&self) -> usize {
        self.beyond.buckets()
    }

    /// Units of `signal` opened with an id beyond the caps.
    pub fn beyond_caps(&self, signal: SignalKind) -> u32 {
        self.beyond.units(signal)
    }

    /// Applies one event to `signals` through the table: forgets silent
    /// units first (at most once a minute of event time), then counts the
    /// event as the rules above say. Returns what it moved.
    pub fn record(
        &mut self,
        signals: &mut Signals,
        (kind, id, at): (EventKind, Option<SessionId>, Timestamp),
        limits: &SessionLimits,
    ) -> Counted {
        if let Some(forgotten) = self.sweep(at, limits) {
            signals.forget_units(forgotten, at);
        }
        let counted = self.count(kind, id, at, limits);
        signals.record_event_counted(kind, counted.server, at);
        counted
    }

    /// What the event moves.
    fn count(
        &mut self,
        kind: EventKind,
        id: Option<SessionId>,
        at: Timestamp,
        limits: &SessionLimits,
    ) -> Counted {
        let Some((signal, opens)) = kind.counts() else {
            // A request naming a unit keeps it from being forgotten.
            if let Some(id) = id {
                self.touch(id, at);
            }
            return Counted::both(true);
        };
        let Some(id) = id else {
            return Counted::both(count_untracked(&mut self.anonymous[signal.index()], opens));
        };
        if let Some(seen) = self.open.get_mut(&(signal, id)) {
            if opens {
                *seen = (*seen).max(at);
                return Counted::NOTHING;
            }
            self.open.remove(&(signal, id));
            limits.give_back(1);
            return Counted::both(true);
        }
        if !opens {
            // Never seen open: its open was lost or it was forgotten, or it
            // is one of those opened beyond the caps.
            // Its pod moves with a cancel in its own bucket (most likely
            // its own open), not with one of the shared count (any id's,
            // perhaps on another pod).
            return match self.beyond.close(signal, id, limits) {
                beyond::Cancelled::Nothing => Counted::NOTHING,
                beyond::Cancelled::InItsBucket => Counted::both(true),
                beyond::Cancelled::Shared => Counted {
                    server: true,
                    pod: false,
                },
            };
        }
        if self.open.len() < MAX_PER_SERVER && limits.take() {
            self.open.insert((signal, id), at);
        } else {
            self.beyond.open(signal, id, at, limits);
        }
        Counted::both(true)
    }

    /// Every unit `id` names, of each event-counted signal, is in use.
    fn touch(&mut self, id: SessionId, at: Timestamp) {
        let counted = SIGNALS.iter().filter(|spec| spec.counted_by.is_some());
        for spec in counted {
            match self.open.get_mut(&(spec.kind, id)) {
                Some(seen) => *seen = (*seen).max(at),
                None => self.beyond.touch(spec.kind, id, at),
            }
        }
    }

    /// Forgets units silent for the limits' `forget_after` at `at`, when a
    /// sweep is due: how many of each signal.
    pub fn sweep(
        &mut self,
        at: Timestamp,
        limits: &SessionLimits,
    ) -> Option<[u32; SignalKind::COUNT]> {
        if self.next_sweep.is_some_and(|due| at < due) {
            return None;
        }
        self.next_sweep = Some(at + SWEEP_EVERY);
        let mut forgotten = [0u32; SignalKind::COUNT];
        let before = self.open.len();
        self.open.retain(|(signal, _), seen| {
            let keep = at.since(*seen) < limits.forget_after;
            if !keep {
                forgotten[signal.index()] += 1;
            }
            keep
        });
        limits.give_back(before - self.open.len());
        self.beyond.forget_silent(at, limits, &mut forgotten);
        // A table that once held many ids does not keep their room (a
        // small one keeps it: no reallocating every minute).
        if self.open.capacity() > SMALL_TABLE && self.open.len() < self.open.capacity() / 4 {
            self.open.shrink_to(self.open.len() * 2);
        }
        forgotten.iter().any(|&n| n > 0).then_some(forgotten)
    }
}

/// An open or close of a unit without an id: closes cancel only opens
/// without one, never a unit tracked by id.
fn count_untracked(untracked: &mut u32, opens: bool) -> bool {
    if opens {
        *untracked = untracked.saturating_add(1);
        true
    } else if *untracked > 0 {
        *untracked -= 1;
        true
    } else {
        false
    }
}

#[cfg(test)]
#[path = "sessions_tests.rs"]
mod tests;
