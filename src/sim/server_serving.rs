//! What reaches the server and what it serves: arrivals (requests and
//! session and stream events, and what the gateway and the scaler see of them),
//! completions and timeouts, and the tight loop that takes them while no
//! control event is due.

use super::ServerSim;
use super::ts;
use crate::signal::EventKind;
use crate::sim::pods::Live;
use crate::sim::scenario::Activation;
use crate::sim::station::Outcome;
use crate::sim::ticks::earliest;
use crate::sim::workload::Arrival;

impl ServerSim<'_> {
    /// Arrivals, completions and timeouts that come before anything else
    /// (a pod becoming ready, a tick, a re-decision, the horizon), each at
    /// its own time and in the loop's order, taken without asking every
    /// schedule what is due: nothing is. Returns the first arrival left.
    /// A server without replicas, and the oracle (which looks at the
    /// server after every event), go round the whole loop.
    pub(super) fn serve(&mut self, chunk: &[Arrival], mut i: usize, after: f64) -> usize {
        if self.run.wiring.activation == Activation::Oracle || !self.setup.tight_loop {
            return i;
        }
        loop {
            let arrival = chunk.get(i).map_or(after, |a| a.t);
            // An arrival may re-decide (a push), which may set a re-decision.
            let control = self.control_time();
            self.serve_completions_before(arrival.min(control));
            if i == chunk.len() || arrival >= control || arrival < self.now || self.spec() == 0 {
                return i;
            }
            self.integrate(arrival);
            self.station.advance(arrival, &mut self.outcomes);
            self.drain_outcomes();
            while let Some(a) = chunk.get(i).filter(|a| a.t <= arrival) {
                self.arrive(a);
                i += 1;
            }
            self.next_arrival = chunk.get(i).map_or(after, |a| a.t);
        }
    }

    /// The next time anything but an arrival, a completion or a timeout
    /// happens (the oracle's wake aside).
    pub(super) fn control_time(&self) -> f64 {
        earliest(&[
            self.setup.horizon,
            self.pods.next_ready().unwrap_or(f64::INFINITY),
            self.ticks.next(),
            self.reevaluate.unwrap_or(f64::INFINITY),
        ])
    }

    /// Completions and timeouts before `limit`, each at its own time.
    pub(super) fn serve_completions_before(&mut self, limit: f64) {
        while let Some(t) = self
            .station
            .next_event()
            .filter(|&t| t < limit && t >= self.now)
        {
            self.integrate(t);
            self.station.advance(t, &mut self.outcomes);
            self.drain_outcomes();
        }
    }

    pub(super) fn drain_outcomes(&mut self) {
        let slo = self.setup.scenario.slo_latency.as_secs_f64();
        for o in self.outcomes.drain(..) {
            match o {
                Outcome::Served {
                    arrived,
                    wait,
                    service,
                } => {
                    self.stats.served(wait, service, slo);
                    // The server's own histogram (`mcp_tool_duration_seconds`)
                    // starts when a replica exists: a cold start's wait is
                    // the gateway's, not the server's.
                    let start = arrived + wait;
                    let in_server = start - arrived.max(self.ready_since).min(start);
                    self.exporter.completed(in_server + service);
                }
                Outcome::TimedOut { .. } => {
                    self.stats.dropped += 1;
                    self.exporter.timeout();
                }
            }
        }
    }

    /// A session or stream opens or closes on the pod that holds it;
    /// returns whether that changed what is open (the scaler's session
    /// table counts a second open, or a close of one never opened, as
    /// nothing: the engine's count must agree).
    fn live_work(&mut self, kind: EventKind, id: Option<u32>) -> bool {
        let Some((live, opens)) = Live::of(kind) else {
            return true;
        };
        let unit = (live, id.unwrap_or(u32::MAX));
        let changed = if opens {
            self.pods.begin(unit)
        } else {
            self.pods.end(unit)
        };
        if !changed {
            return false;
        }
        if opens {
            match live {
                Live::Session => self.stats.sessions += 1,
                Live::Stream => self.stats.streams += 1,
            }
        }
        self.tell_busy_pods();
        true
    }

    pub(super) fn arrive(&mut self, a: &Arrival) {
        let mut counted = true;
        match a.kind {
            EventKind::Request => {
                self.stats.requests += 1;
                self.exporter.request();
                if let Some(tl) = &mut self.timeline {
                    tl.request(self.now);
                }
                if self.pods.ready() == 0 {
                    self.stats.cold_start_requests += 1;
                    if !self.cold_counted {
                        self.cold_counted = true;
                        self.stats.cold_starts += 1;
                    }
                }
                let service = a
                    .service_s
                    .unwrap_or_else(|| self.service.draw(&mut self.rng));
                self.station.arrive(self.now, service, &mut self.outcomes);
                self.drain_outcomes();
            }
            kind => counted = self.live_work(kind, a.session),
        }
        if self.run.wiring.events {
            self.signals
                .record_event_counted(a.kind, counted, ts(self.now));
            if self.run.wiring.activation == Activation::Push && !self.pushed {
                self.stream();
            }
        }
    }
}
