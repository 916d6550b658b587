//! The store's side of a Prometheus tick: one grouped query's values for
//! the whole fleet, then the end of the poll.

use super::{SHARDS, Store};
use crate::id::ServerKey;
use crate::signal::SignalKind;
use crate::time::Timestamp;
use std::collections::HashSet;
use std::sync::PoisonError;

/// A good poll after none for this long turns the polls trusted anew
/// ([`crate::signal::Feed::trusted_since`]): half the default rate
/// queries' minute, so a rate still covers the gap's activity.
pub const TRUST_GAP: std::time::Duration = std::time::Duration::from_secs(30);

impl Store {
    /// Replaces one signal for the whole fleet with the result of a grouped
    /// query. A server missing from `values` whose last value was zero reads
    /// zero now; one whose last value was above zero is missing data: the
    /// value is held (see [`Signals::absent`]). Each shard is rewritten under
    /// its own lock, one after another.
    pub fn apply_poll(
        &self,
        kind: SignalKind,
        values: &[(ServerKey, f64)],
        at: Timestamp,
    ) -> Applied {
        let room = self.room(at);
        let last_good = room.feed.polled_at.unwrap_or(at);
        let mut by_shard: Vec<Vec<(&ServerKey, f64)>> = vec![Vec::new(); SHARDS];
        // NaN is no value for a measure (a quantile or ratio over no
        // requests); for a signal that shows activity it is missing data,
        // like a vanished series (rule 3: a busy server's NaN never reads 0).
        let missing = |v: f64| v.is_nan() && kind.shows_activity();
        for (server, value) in values.iter().filter(|(_, v)| !missing(*v)) {
            by_shard[self.shard_of(server)].push((server, *value));
        }
        let mut applied = Applied::default();
        for (shard, values) in self.shards.iter().zip(by_shard) {
            let mut servers = shard.write().unwrap_or_else(PoisonError::into_inner);
            let present: HashSet<&ServerKey> = values.iter().map(|(server, _)| *server).collect();
            for (server, entry) in servers.iter_mut() {
                if !present.contains(server) {
                    applied.absent += usize::from(entry.signals.absent(kind, last_good));
                }
            }
            for (server, value) in values {
                match room.entry(&mut servers, server) {
                    Some(entry) => _ = entry.signals.set(kind, value),
                    None => applied.refused += 1,
                }
            }
        }
        applied
    }

    /// Marks a complete successful poll at `at`: records activity seen in it
    /// and wakes the watchers of servers whose polled activity matters now:
    /// busy in this poll or in the one before (it may just have ended).
    /// A fleet of mostly idle servers thus wakes few of its `StreamIsActive`
    /// watchers per tick, not all of them. `resync` wakes every watcher: for
    /// the first poll and the first after a failed one, when data turning
    /// fresh again can change any answer.
    pub fn finish_poll(&self, at: Timestamp, resync: bool) {
        let (previous, feed) = self.update_feed(|f| {
            // Polled gauges are current whatever came before; only a gap
            // longer than a rate window may have hidden activity.
            let gap = f.polled_at.is_none_or(|last| at.since(last) > TRUST_GAP);
            if resync && gap {
                f.trusted_since = Some(at);
                if let Some(from) = f.polled_at {
                    f.stretches.push(crate::signal::Stretch {
                        from,
                        back: at,
                        polls: true,
                    });
                }
            }
            f.polled_at.replace(at)
        });
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
}

/// What one grouped query did to the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Servers whose series vanished while busy (held as missing data).
    pub absent: usize,
    /// New servers dropped because the store is full.
    pub refused: usize,
}
