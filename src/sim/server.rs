//! One server under one policy: a discrete-event loop over its arrivals,
//! its replicas, and the control loop as deployed.
//!
//! What happens, in the order it is processed at one instant:
//! 1. pods whose cold start ends become ready (more serving slots);
//! 2. requests finish or time out ([`Station`]);
//! 3. arrivals reach the gateway: the request queues, and (if the policy is
//!    wired to events) the NATS event reaches the engine at once; a push
//!    policy's `StreamIsActive` re-decides and a `true` activates KEDA;
//! 4. Prometheus scrapes the gateway's request counter and queue and the
//!    servers' latency histogram (per-server phase);
//! 5. the scaler's Prometheus query tick copies the newest scrape into the
//!    engine's signals (and a push stream re-decides, as on a real poll);
//! 6. KEDA polls `IsActive` every `pollingInterval`: activation 0 → 1, and
//!    scale to zero once inactive for `cooldownPeriod`;
//! 7. the HPA syncs every period from `GetMetrics` through
//!    [`HpaModel`] (tolerance, stabilisation, rate policies) — or, for a
//!    `direct` actuator, the decision is applied as is;
//! 8. a decision's `reevaluate_at` (any time the engine names: a window's
//!    end, a pre-warm, a step of the step rule) re-decides a push stream.
//!
//! While a server is fully quiet (no replicas, no work, nothing in
//! Prometheus' window, last decision idle), nothing can change until its
//! next arrival or `reevaluate_at`, so the loop jumps there. A test runs
//! scenarios both ways and compares the reports.

use super::exporter::{Exporter, Gauges};
use super::pods::{Live, Pods};
use super::scenario::{Activation, PolicyRun, Scenario};
use super::station::{Outcome, ServiceTime, Station};
use super::stats::{Stats, Timeline, micros, round_to_u64};
use super::ticks::{Ticks, earliest};
use super::workload::Arrival;
use crate::engine::hpa::HpaModel;
use crate::engine::replay::Memo;
use crate::engine::{Decision, decide_with};
use crate::signal::Signals;
use crate::time::Timestamp;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Engine time of simulated second 0 (any fixed instant works).
const EPOCH_MS: u64 = 1_700_000_000_000;

/// Simulated seconds → engine time.
pub fn ts(t: f64) -> Timestamp {
    Timestamp::from_millis(EPOCH_MS + round_to_u64(t * 1000.0))
}

fn secs(t: Timestamp) -> f64 {
    t.as_millis().saturating_sub(EPOCH_MS) as f64 / 1000.0
}

/// What every server of a run shares.
#[derive(Debug, Clone, Copy)]
pub struct Setup<'a> {
    /// The scenario.
    pub scenario: &'a Scenario,
    /// Simulated seconds.
    pub horizon: f64,
    /// Jump over quiet stretches (off only to test that it changes nothing).
    pub fast_forward: bool,
    /// Take arrivals and completions before the next control event in a
    /// tight loop (off only to test that it changes nothing).
    pub tight_loop: bool,
}

/// One server under one policy, fed its events a chunk at a time (so that
/// they need not all be in memory, and every policy can share a chunk).
pub struct ServerSim<'a> {
    setup: Setup<'a>,
    stats: &'a mut Stats,
    run: &'a PolicyRun,
    now: f64,
    /// `now` in whole microseconds.
    now_us: u64,
    station: Station,
    exporter: Exporter,
    signals: Signals,
    /// The engine's replay of `signals`, reused while they do not change.
    memo: Memo,
    hpa: HpaModel,
    pods: Pods,
    /// When the ready count last rose from zero.
    ready_since: f64,
    /// A request already waits for the current start from zero (it is
    /// one cold start however many requests wait).
    cold_counted: bool,
    keda_last_active: Option<f64>,
    pushed: bool,
    last_active: Option<bool>,
    reevaluate: Option<f64>,
    /// The next arrival not yet processed (what the oracle foresees).
    next_arrival: f64,
    /// The horizon is reached.
    done: bool,
    ticks: Ticks,
    service: ServiceTime,
    rng: ChaCha8Rng,
    outcomes: Vec<Outcome>,
    timeline: Option<Timeline>,
}

/// Simulates one server's `arrivals` under `run`, adding what happened to
/// `stats`; `seed` fixes its phases and service times (the same for every
/// policy). Returns its timeline when asked for one with that many buckets.
pub fn simulate(
    setup: Setup<'_>,
    run: &PolicyRun,
    arrivals: &[Arrival],
    seed: u64,
    stats: &mut Stats,
    timeline: Option<usize>,
) -> Option<Timeline> {
    let mut sim = ServerSim::new(setup, run, seed, stats, timeline);
    sim.feed(arrivals, f64::INFINITY);
    sim.finish()
}

impl<'a> ServerSim<'a> {
    /// A server at time 0 (see [`simulate`] for the arguments).
    pub fn new(
        setup: Setup<'a>,
        run: &'a PolicyRun,
        seed: u64,
        stats: &'a mut Stats,
        timeline: Option<usize>,
    ) -> Self {
        let sc = setup.scenario;
        let c = &sc.control;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let ticks = Ticks::new(sc, &run.wiring, &mut rng);
        let min = run.policy.min_replicas;
        let slots = min * sc.server.concurrency;
        stats.peak_replicas = stats.peak_replicas.max(min);
        Self {
            setup,
            stats,
            run,
            now: 0.0,
            now_us: 0,
            station: Station::new(slots, sc.server.queue_timeout.as_secs_f64()),
            exporter: Exporter::new(c.rate_window.as_secs_f64()),
            signals: Signals::default(),
            memo: Memo::default(),
            hpa: HpaModel::new(Some(c.hpa_behavior(&run.wiring, &run.policy))),
            pods: Pods::new(min, run.wiring.scale_in_order()),
            ready_since: 0.0,
            cold_counted: false,
            keda_last_active: None,
            pushed: false,
            last_active: None,
            reevaluate: None,
            next_arrival: f64::INFINITY,
            done: false,
            ticks,
            service: ServiceTime::new(sc.server.service_time.as_secs_f64(), sc.server.service_cv),
            rng,
            outcomes: Vec::new(),
            timeline: timeline.map(|n| Timeline::new(setup.horizon, n)),
        }
    }

    /// Runs to the horizon (if the events stopped before it) and returns
    /// the timeline, if one was asked for.
    pub fn finish(mut self) -> Option<Timeline> {
        self.feed(&[], f64::INFINITY);
        self.stats.unfinished += (self.station.in_service() + self.station.queued()) as u64;
        let slo = self.setup.scenario.slo_latency.as_secs_f64();
        self.stats.unfinished_late += self.station.sure_to_miss(self.now, slo) as u64;
        self.timeline
    }

    fn spec(&self) -> u32 {
        self.pods.spec()
    }

    /// Runs through `chunk` (time-ordered, after every earlier chunk) up
    /// to the next event, which comes at `after` (infinite: there is
    /// none). A chunk must hold every event at its last time.
    pub fn feed(&mut self, chunk: &[Arrival], after: f64) {
        debug_assert!(
            chunk.last().is_none_or(|a| a.t < after),
            "a chunk must hold every event at its last time"
        );
        let horizon = self.setup.horizon;
        let next = |i: usize| chunk.get(i).map_or(after, |a| a.t);
        let mut i = 0;
        self.next_arrival = next(0);
        while !self.done {
            if i == chunk.len() && after.is_finite() {
                // What comes next is in the next chunk.
                return;
            }
            i = self.serve(chunk, i, after);
            if i == chunk.len() && after.is_finite() {
                return;
            }
            let next_arrival = next(i);
            if self.setup.fast_forward && self.is_quiet() {
                self.skip_until(next_arrival.min(horizon));
            }
            let t = self.next_time(next_arrival).min(horizon).max(self.now);
            self.integrate(t);
            if t >= horizon {
                self.done = true;
                return;
            }
            self.pods_ready();
            self.station.advance(t, &mut self.outcomes);
            self.drain_outcomes();
            while let Some(a) = chunk.get(i).filter(|a| a.t <= t) {
                self.arrive(a);
                i += 1;
            }
            self.next_arrival = next(i);
            self.tick();
            if self.run.wiring.activation == Activation::Oracle {
                self.foresee();
            }
        }
    }

    /// The next time anything happens (the horizon included).
    fn next_time(&self, next_arrival: f64) -> f64 {
        earliest(&[
            next_arrival,
            self.station.next_event().unwrap_or(f64::INFINITY),
            self.control_time(),
            self.oracle_wake(),
        ])
    }

    /// Replica time and the timeline from `self.now` to `t`.
    fn integrate(&mut self, t: f64) {
        let dt = t - self.now;
        if dt <= 0.0 {
            return;
        }
        // Whole microseconds of absolute time: the pieces add up exactly.
        let t_us = micros(t);
        let elapsed_us = t_us - std::mem::replace(&mut self.now_us, t_us);
        let spec = self.spec();
        if spec > 0 {
            let r = u64::from(spec) * elapsed_us;
            self.stats.replica_us += r;
            if self.station.in_service() == 0 && self.station.queued() == 0 {
                self.stats.idle_replica_us += r;
            }
            if let Some(tl) = &mut self.timeline {
                tl.replicas(self.now, t, spec);
            }
        }
        self.now = t;
    }

    fn pods_ready(&mut self) {
        let was_zero = self.pods.ready() == 0;
        if self.pods.become_ready(self.now) > 0 {
            self.tell_busy_pods();
            if was_zero {
                self.ready_since = self.now;
                self.cold_counted = false;
            }
            self.set_slots();
        }
    }

    fn set_slots(&mut self) {
        let slots = self.pods.ready() * self.setup.scenario.server.concurrency;
        self.station.set_slots(self.now, slots, &mut self.outcomes);
        self.drain_outcomes();
    }

    /// With session-aware scale-in, the scaler knows which pods hold live
    /// work (events name the pod) and keeps them.
    fn tell_busy_pods(&mut self) {
        if self.run.wiring.deletion_cost {
            self.signals.set_busy_pods(self.pods.busy(), ts(self.now));
        }
    }

    fn tick(&mut self) {
        let now = self.now;
        if self.ticks.scrape.due(now) {
            self.ticks.scrape.advance();
            let gauges = self.gauges();
            self.exporter.scrape(now, gauges);
        }
        if self.ticks.query.due(now) {
            self.ticks.query.advance();
            self.exporter.query(&mut self.signals, now, ts);
            if self.run.wiring.activation == Activation::Push {
                self.stream();
            }
        }
        if self.ticks.poll.due(now) {
            self.ticks.poll.advance();
            self.keda_poll();
        }
        if self.ticks.sync.due(now) {
            self.ticks.sync.advance();
            self.hpa_sync();
        }
        if self.ticks.direct.due(now) {
            self.ticks.direct.advance();
            self.direct();
        }
        if self.reevaluate.is_some_and(|t| t <= now) {
            self.reevaluate = None;
            if self.run.wiring.activation == Activation::Push {
                self.stream();
            }
        }
    }

    fn gauges(&self) -> Gauges {
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let queued = count(self.station.queued());
        let requests = queued.saturating_add(count(self.station.in_service()));
        Gauges {
            sessions: count(self.pods.open(Live::Session)),
            connections: count(self.pods.live()).saturating_add(requests),
            queued,
        }
    }

    /// One engine decision from the signals, as the scaler's store makes it.
    fn decide(&mut self) -> Decision {
        let d = decide_with(
            &self.signals,
            &self.run.policy,
            ts(self.now),
            &mut self.memo,
        );
        self.stats.decisions += 1;
        self.reevaluate = d.reevaluate_at.map(secs);
        self.last_active = Some(d.active);
        d
    }

    fn scale_to(&mut self, n: u32) {
        let spec = self.spec();
        if n == spec {
            return;
        }
        self.stats.scale_events += 1;
        if spec == 0 {
            self.stats.starts_from_zero += 1;
        }
        if n > spec {
            let ready_at = self.now + self.setup.scenario.server.cold_start.as_secs_f64();
            self.pods.start(n, ready_at);
            self.stats.peak_replicas = self.stats.peak_replicas.max(n);
            return;
        }
        let (removed, cut) = self.pods.scale_in(n);
        self.stats.sessions_cut += cut.sessions;
        self.stats.streams_cut += cut.streams;
        if removed > 0 {
            self.set_slots();
            self.tell_busy_pods();
        }
    }

    /// Nothing can change before the next arrival or `reevaluate_at`.
    fn is_quiet(&self) -> bool {
        let engine_idle = self.run.wiring.activation == Activation::Oracle
            || (self.last_active == Some(false) && !self.pushed);
        self.spec() == 0
            && engine_idle
            && self.station.in_service() == 0
            && self.station.queued() == 0
            && self.pods.live() == 0
            && self.signals.load.event_counts.iter().all(|&n| n == 0)
            && self.signals.load.polled.iter().flatten().all(|&v| v == 0.0)
            && self.exporter.is_quiet()
    }

    /// Jumps every schedule close to `until` (bounded by `reevaluate_at`),
    /// leaving one rate window of ticks to run for real so that
    /// Prometheus' window holds exactly what it would have.
    fn skip_until(&mut self, until: f64) {
        let until = self.reevaluate.map_or(until, |r| r.min(until));
        let c = &self.setup.scenario.control;
        let keep = c.rate_window.as_secs_f64() + c.scrape_interval.as_secs_f64();
        self.ticks.skip_until(until, keep);
    }
}

#[path = "server_control.rs"]
mod control;
#[path = "server_oracle.rs"]
mod oracle;
#[path = "server_serving.rs"]
mod serving;

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "oracle_tests.rs"]
mod oracle_tests;
