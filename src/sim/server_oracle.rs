//! The oracle's activation: it knows the server's next arrival, releases
//! the server once its work is done when that arrival is more than a cold
//! start away, and starts it again exactly one cold start before it.

use super::ServerSim;
use crate::sim::scenario::Activation;

/// How much earlier than strictly needed the oracle starts a pod (s).
const ORACLE_LEAD: f64 = 0.001;

impl ServerSim<'_> {
    /// When the oracle starts a server at zero: one cold start (and a
    /// millisecond, so rounding never makes it late) before its next arrival.
    pub(super) fn oracle_wake(&self) -> f64 {
        if self.run.wiring.activation != Activation::Oracle || self.spec() > 0 {
            return f64::INFINITY;
        }
        self.next_arrival - self.cold_start() - ORACLE_LEAD
    }

    fn cold_start(&self) -> f64 {
        self.setup.scenario.server.cold_start.as_secs_f64()
    }

    /// The oracle's activation: warm exactly when the next arrival comes,
    /// released when its work is done and the next arrival is further
    /// away than a cold start (releasing for less would cost more). Work
    /// that is already waiting (an arrival at the very start, which no
    /// start could precede) starts it at once.
    pub(super) fn foresee(&mut self) {
        let working =
            self.station.in_service() > 0 || self.station.queued() > 0 || self.pods.live() > 0;
        if self.spec() == 0 {
            if working || self.now >= self.oracle_wake() {
                self.scale_to(self.run.policy.min_replicas.max(1));
            }
            return;
        }
        // Released only when the next arrival is further than its own wake
        // time would be by another lead: never in the instant it woke (a
        // zero cold start would otherwise wake and release it forever).
        let far = self.next_arrival - self.now > self.cold_start() + 2.0 * ORACLE_LEAD;
        if !working && far && self.run.policy.min_replicas == 0 {
            self.scale_to(0);
        }
    }
}
