//! What a workload's replica count (workload discovery) says about a
//! server's polled series: at 0 replicas, vanished series are zero; with
//! replicas running and no series at all, data is missing.

use super::{Held, SignalKind, Signals};
use crate::time::Timestamp;

/// A server's workload as the cluster reports it (workload discovery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replicas {
    /// `spec.replicas` (summed over the server's workloads).
    pub desired: u32,
    /// `status.readyReplicas`.
    pub ready: u32,
}

impl Signals {
    /// What the workload's replica count says about the series of a poll
    /// ending at `at`: at 0 replicas (and a live watch) vanished series are
    /// zero; with replicas running and no series at all, data is missing
    /// since the last poll that had series or the last activity, whichever
    /// is later (a server just woken by a request holds that answer, and
    /// later requests move it); with neither, it never was good.
    pub(super) fn check_series_against_replicas(&mut self, at: Timestamp) {
        let any_series = self.load.polled.iter().any(Option::is_some);
        if any_series {
            self.series_seen_at = Some(at);
            self.held.kinds &= !Held::NO_SERIES;
        }
        let Some(replicas) = self.replicas else {
            self.held.kinds &= !Held::NO_SERIES;
            return;
        };
        if replicas.desired == 0 {
            if self.feed.workloads_live {
                self.known_empty();
            }
            return;
        }
        if !any_series && self.feed.poller_configured {
            // Activity seen since (events) is good data too: it moves the
            // answer held, unless series vanished while busy are held too.
            if self.held.kinds & !Held::NO_SERIES == 0 {
                self.held.good_at = self.series_seen_at.max(self.last_activity());
            }
            self.held.kinds |= Held::NO_SERIES;
        }
    }

    /// Records the workload's replicas (`None`: discovery does not know the
    /// server). 0 replicas on a live watch empties what is held.
    pub fn set_replicas(&mut self, replicas: Option<(u32, u32)>) {
        self.replicas = replicas.map(|(desired, ready)| Replicas { desired, ready });
        match self.replicas {
            Some(r) if r.desired == 0 && self.feed.workloads_live => self.known_empty(),
            None => self.held.kinds &= !Held::NO_SERIES,
            _ => {}
        }
        if self.held.kinds == 0 {
            self.held.good_at = None;
        }
    }

    /// The server is known to run no replicas: nothing it reported is held.
    pub fn known_empty(&mut self) {
        for kind in SignalKind::ALL {
            if self.held.kinds & (1 << kind.index()) != 0 {
                self.load.polled[kind.index()] = None;
            }
        }
        self.held = Held::default();
    }
}

#[cfg(test)]
#[path = "replicas_tests.rs"]
mod tests;
