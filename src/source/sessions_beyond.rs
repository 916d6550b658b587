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

use super::SessionId;
use crate::signal::SignalKind;
use crate::time::Timestamp;
use std::collections::HashMap;
use std::time::Duration;

/// How many buckets the opens beyond the caps of one signal fall into.
pub const BUCKETS: u64 = 4096;

/// One bucket: units open in it, and when an event last named one.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    open: u32,
    seen: Timestamp,
}

/// One server's units beyond the caps, by (signal, bucket); only buckets
/// with a unit open are kept, so at most signals × [`BUCKETS`] entries.
#[derive(Debug, Default)]
pub struct BeyondCaps {
    buckets: HashMap<(SignalKind, u16), Bucket>,
}

pub(super) fn bucket_of(id: SessionId) -> u16 {
    // BUCKETS fits in u16, so the remainder does too.
    u16::try_from(id.0 % BUCKETS).unwrap_or(0)
}

impl BeyondCaps {
    /// Counts an open of `id` at `at`.
    pub fn open(&mut self, signal: SignalKind, id: SessionId, at: Timestamp) {
        let bucket = self
            .buckets
            .entry((signal, bucket_of(id)))
            .or_insert(Bucket { open: 0, seen: at });
        bucket.open = bucket.open.saturating_add(1);
        bucket.seen = bucket.seen.max(at);
    }

    /// Cancels an open in `id`'s bucket, if it holds one: whether it did.
    pub fn close(&mut self, signal: SignalKind, id: SessionId) -> bool {
        let key = (signal, bucket_of(id));
        let Some(bucket) = self.buckets.get_mut(&key) else {
            return false;
        };
        bucket.open -= 1;
        if bucket.open == 0 {
            self.buckets.remove(&key);
        }
        true
    }

    /// An event named `id` at `at`: its bucket, if open, is in use.
    pub fn touch(&mut self, signal: SignalKind, id: SessionId, at: Timestamp) {
        if let Some(bucket) = self.buckets.get_mut(&(signal, bucket_of(id))) {
            bucket.seen = bucket.seen.max(at);
        }
    }

    /// Forgets the buckets silent for `forget_after` at `at`, adding their
    /// units to `forgotten`.
    pub fn forget_silent(
        &mut self,
        at: Timestamp,
        forget_after: Duration,
        forgotten: &mut [u32; SignalKind::COUNT],
    ) {
        self.buckets.retain(|(signal, _), bucket| {
            let keep = at.since(bucket.seen) < forget_after;
            if !keep {
                let n = &mut forgotten[signal.index()];
                *n = n.saturating_add(bucket.open);
            }
            keep
        });
    }

    /// Units of `signal` open beyond the caps.
    pub fn units(&self, signal: SignalKind) -> u32 {
        self.buckets
            .iter()
            .filter(|((s, _), _)| *s == signal)
            .fold(0u32, |sum, (_, b)| sum.saturating_add(b.open))
    }
}
