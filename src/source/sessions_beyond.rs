//! Opens with an id beyond the caps: counted without keeping the id, in
//! one of [`BUCKETS`] buckets chosen by the id's hash.
//!
//! A close cancels an open of its own bucket only, so a stray close (its
//! open lost, or its unit forgotten) can hide a live unit beyond the caps
//! only when it falls in a bucket that holds one: about one chance in
//! [`BUCKETS`] per such unit, where one shared count made it certain. A
//! bucket no event has named for the forget-after time is forgotten, like
//! a silent tracked unit, so opens whose close was lost do not stay for
//! good.
//!
//! Buckets are bounded over the whole store too ([`MAX_BUCKETS`], taken
//! from [`super::SessionLimits`]); past that, a server counts its opens
//! beyond the caps in one shared count per signal, which any close of an
//! unknown id cancels, as before buckets.

use super::{SessionId, SessionLimits};
use crate::signal::SignalKind;
use crate::time::Timestamp;
use std::collections::HashMap;

/// How many buckets the opens beyond the caps of one signal fall into.
pub const BUCKETS: u64 = 4096;

/// Most buckets held over the whole store (a few dozen bytes each).
pub const MAX_BUCKETS: usize = 1_000_000;

/// A bucket this size keeps its room when it empties.
const SMALL: usize = 16;

/// Units open in one bucket, and when an event last named one of them.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    open: u32,
    seen: Timestamp,
}

impl Bucket {
    fn new(at: Timestamp) -> Self {
        Self { open: 0, seen: at }
    }

    fn touch(&mut self, at: Timestamp) {
        self.seen = self.seen.max(at);
    }
}

/// What a close of an id the table does not track cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// Nothing: no open beyond the caps could be its.
    Nothing,
    /// An open in its id's bucket: most likely its own (another id's only
    /// by a hash collision).
    InItsBucket,
    /// An open in the shared count (past the store's buckets): any id's.
    Shared,
}

/// One server's units beyond the caps: by (signal, bucket) while the
/// store's buckets last, else in one shared count per signal.
#[derive(Debug, Default)]
pub struct BeyondCaps {
    buckets: HashMap<(SignalKind, u16), Bucket>,
    shared: [Option<Bucket>; SignalKind::COUNT],
}

/// `id`'s bucket.
pub(super) fn bucket_of(id: SessionId) -> u16 {
    // BUCKETS fits in u16, so the remainder does too.
    u16::try_from(id.0 % BUCKETS).unwrap_or(0)
}

impl BeyondCaps {
    /// Counts an open of `id` at `at`.
    pub fn open(
        &mut self,
        signal: SignalKind,
        id: SessionId,
        at: Timestamp,
        limits: &SessionLimits,
    ) {
        let key = (signal, bucket_of(id));
        let bucket = match self.buckets.get_mut(&key) {
            Some(bucket) => bucket,
            None if limits.take_bucket() => self.buckets.entry(key).or_insert(Bucket::new(at)),
            None => self.shared[signal.index()].get_or_insert(Bucket::new(at)),
        };
        bucket.open = bucket.open.saturating_add(1);
        bucket.touch(at);
    }

    /// Cancels an open in `id`'s bucket, or else in the shared count:
    /// which, if either.
    pub fn close(
        &mut self,
        signal: SignalKind,
        id: SessionId,
        limits: &SessionLimits,
    ) -> Cancelled {
        let key = (signal, bucket_of(id));
        if let Some(bucket) = self.buckets.get_mut(&key) {
            bucket.open -= 1;
            if bucket.open == 0 {
                self.buckets.remove(&key);
                limits.give_back_buckets(1);
            }
            return Cancelled::InItsBucket;
        }
        let shared = &mut self.shared[signal.index()];
        let Some(bucket) = shared else {
            return Cancelled::Nothing;
        };
        bucket.open -= 1;
        if bucket.open == 0 {
            *shared = None;
        }
        Cancelled::Shared
    }

    /// An event named `id`, which the table does not track, at `at`: the
    /// bucket it would be counted in, if open, is in use.
    pub fn touch(&mut self, signal: SignalKind, id: SessionId, at: Timestamp) {
        match self.buckets.get_mut(&(signal, bucket_of(id))) {
            Some(bucket) => bucket.touch(at),
            None => {
                if let Some(shared) = &mut self.shared[signal.index()] {
                    shared.touch(at);
                }
            }
        }
    }

    /// Forgets the buckets silent for the limits' forget-after time at
    /// `at`, adding their units to `forgotten`.
    pub fn forget_silent(
        &mut self,
        at: Timestamp,
        limits: &SessionLimits,
        forgotten: &mut [u32; SignalKind::COUNT],
    ) {
        let silent = |bucket: &Bucket| at.since(bucket.seen) >= limits.forget_after();
        let before = self.buckets.len();
        self.buckets.retain(|(signal, _), bucket| {
            let keep = !silent(bucket);
            if !keep {
                let n = &mut forgotten[signal.index()];
                *n = n.saturating_add(bucket.open);
            }
            keep
        });
        limits.give_back_buckets(before - self.buckets.len());
        for (shared, n) in self.shared.iter_mut().zip(forgotten.iter_mut()) {
            if let Some(bucket) = shared.take_if(|b| silent(b)) {
                *n = n.saturating_add(bucket.open);
            }
        }
        if self.buckets.capacity() > SMALL && self.buckets.len() < self.buckets.capacity() / 4 {
            self.buckets.shrink_to(self.buckets.len() * 2);
        }
    }

    /// Units of `signal` open beyond the caps.
    pub fn units(&self, signal: SignalKind) -> u32 {
        let shared = self.shared[signal.index()].map_or(0, |b| b.open);
        self.buckets
            .iter()
            .filter(|((s, _), _)| *s == signal)
            .fold(shared, |sum, (_, b)| sum.saturating_add(b.open))
    }

    /// Buckets held (given back when the server leaves the store).
    pub fn buckets(&self) -> usize {
        self.buckets.len()
    }
}
