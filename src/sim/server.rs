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
//! 8. a decision's `reevaluate_at` (window end, pre-warm) re-decides a
//!    push stream.
//!
//! While a server is fully quiet (no replicas, no work, nothing in
//! Prometheus' window, last decision idle), nothing can change until its
//! next arrival or `reevaluate_at`, so the loop jumps there. A test runs
//! scenarios both ways and compares the reports.

use super::exporter::{Exporter, Gauges};
use super::pods::Pods;
use super::scenario::{Activation, Actuator, PolicyRun, Scenario};
use super::station::{Outcome, Station};
use super::stats::{Stats, Timeline, micros, round_to_u64};
use super::workload::Arrival;
use crate::engine::hpa::{HpaModel, MetricType};
use crate::engine::replay::Memo;
use crate::engine::{Decision, MetricMode, decide_with};
use crate::signal::{EventKind, Signals};
use crate::time::Timestamp;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal};

/// How much earlier than strictly needed the oracle starts a pod (s).
const ORACLE_LEAD: f64 = 0.001;

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
}

/// A periodic tick at `phase + k × period`, computed afresh from `k` (not
/// accumulated) so that jumping ahead lands on exactly the same instants.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    phase: f64,
    period: f64,
    k: u64,
    /// The next tick (infinite when off).
    at: f64,
}

impl Schedule {
    fn new(phase: f64, period: f64) -> Self {
        Self {
            phase,
            period,
            k: 0,
            at: phase,
        }
    }
    /// The same ticks, or none at all.
    fn only_if(self, on: bool) -> Self {
        if on {
            self
        } else {
            Self {
                at: f64::INFINITY,
                ..self
            }
        }
    }
    fn next(&self) -> f64 {
        self.at
    }
    fn due(&self, now: f64) -> bool {
        self.at <= now
    }
    fn advance(&mut self) {
        self.set(self.k + 1);
    }
    fn set(&mut self, k: u64) {
        if self.at.is_finite() {
            self.k = k;
            self.at = self.phase + k as f64 * self.period;
        }
    }
    /// Skips ticks so that the first one left is the last at or before
    /// `before - keep`.
    fn skip_to(&mut self, before: f64, keep: f64) {
        let target = before - keep - self.phase;
        if target > 0.0 {
            let k = (target / self.period).floor() as u64;
            if k > self.k {
                self.set(k);
            }
        }
    }
}

/// The smallest of `times` (none is NaN).
fn earliest(times: &[f64]) -> f64 {
    let mut m = f64::INFINITY;
    for &t in times {
        if t < m {
            m = t;
        }
    }
    m
}

/// Service times for requests that do not carry their own.
#[derive(Debug, Clone, Copy)]
enum ServiceTime {
    Fixed(f64),
    Exponential(Exp<f64>),
    LogNormal(LogNormal<f64>),
}

impl ServiceTime {
    fn new(mean: f64, cv: f64) -> Self {
        if cv <= 0.0 {
            return Self::Fixed(mean);
        }
        if (cv - 1.0).abs() < 1e-9 {
            return Exp::new(1.0 / mean).map_or(Self::Fixed(mean), Self::Exponential);
        }
        let sigma2 = (1.0 + cv * cv).ln();
        LogNormal::new(mean.ln() - sigma2 / 2.0, sigma2.sqrt())
            .map_or(Self::Fixed(mean), Self::LogNormal)
    }
    fn draw(&self, rng: &mut ChaCha8Rng) -> f64 {
        match self {
            Self::Fixed(m) => *m,
            Self::Exponential(d) => d.sample(rng),
            Self::LogNormal(d) => d.sample(rng),
        }
    }
}

struct Ticks {
    scrape: Schedule,
    query: Schedule,
    poll: Schedule,
    sync: Schedule,
    direct: Schedule,
}

/// One server, one policy.
struct Sim<'a> {
    setup: Setup<'a>,
    stats: &'a mut Stats,
    run: &'a PolicyRun,
    now: f64,
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

/// One server under one policy, fed its events a chunk at a time (so that
/// they need not all be in memory, and every policy can share a chunk).
pub struct ServerSim<'a>(Sim<'a>);

impl<'a> ServerSim<'a> {
    /// A server at time 0 (see [`simulate`] for the arguments).
    pub fn new(
        setup: Setup<'a>,
        run: &'a PolicyRun,
        seed: u64,
        stats: &'a mut Stats,
        timeline: Option<usize>,
    ) -> Self {
        Self(Sim::new(setup, run, seed, stats, timeline))
    }

    /// Runs through `chunk` (time-ordered, after every earlier chunk) up
    /// to the next event, which comes at `after` (infinite: there is
    /// none). A chunk must hold every event at its last time.
    pub fn feed(&mut self, chunk: &[Arrival], after: f64) {
        self.0.feed(chunk, after);
    }

    /// Runs to the horizon (if the events stopped before it) and returns
    /// the timeline, if one was asked for.
    pub fn finish(mut self) -> Option<Timeline> {
        self.0.feed(&[], f64::INFINITY);
        self.0.stats.unfinished += (self.0.station.in_service() + self.0.station.queued()) as u64;
        self.0.timeline
    }
}

impl<'a> Sim<'a> {
    fn new(
        setup: Setup<'a>,
        run: &'a PolicyRun,
        seed: u64,
        stats: &'a mut Stats,
        timeline: Option<usize>,
    ) -> Self {
        let sc = setup.scenario;
        let c = &sc.control;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut phase = |period: std::time::Duration| {
            let p = period.as_secs_f64();
            (Schedule::new(rng.random::<f64>() * p, p), p)
        };
        let (scrape, _) = phase(c.scrape_interval);
        let (poll, _) = phase(c.polling_interval);
        let (sync, _) = phase(c.hpa_sync_period);
        let (direct, _) = phase(c.direct_period);
        let query = Schedule::new(0.0, c.query_interval.as_secs_f64());
        // Phases are drawn for every schedule so that service times do not
        // depend on the wiring; ticks that do nothing for this wiring are off.
        let direct_on = run.wiring.actuator == Actuator::Direct;
        let (poll, sync, direct) = (
            poll.only_if(!direct_on),
            sync.only_if(!direct_on),
            direct.only_if(direct_on),
        );
        let min = run.policy.min_replicas;
        let slots = min * sc.server.concurrency;
        stats.peak_replicas = stats.peak_replicas.max(min);
        Self {
            setup,
            stats,
            run,
            now: 0.0,
            station: Station::new(slots, sc.server.queue_timeout.as_secs_f64()),
            exporter: Exporter::new(c.rate_window.as_secs_f64()),
            signals: Signals::default(),
            memo: Memo::default(),
            hpa: HpaModel::new(Some(c.hpa_behavior(run.wiring.hpa_scale_down_window))),
            pods: Pods::new(min, run.wiring.scale_in_order()),
            ready_since: 0.0,
            cold_counted: false,
            keda_last_active: None,
            pushed: false,
            last_active: None,
            reevaluate: None,
            next_arrival: f64::INFINITY,
            done: false,
            ticks: Ticks {
                scrape,
                query,
                poll,
                sync,
                direct,
            },
            service: ServiceTime::new(sc.server.service_time.as_secs_f64(), sc.server.service_cv),
            rng,
            outcomes: Vec::new(),
            timeline: timeline.map(|n| Timeline::new(setup.horizon, n)),
        }
    }

    fn spec(&self) -> u32 {
        self.pods.spec()
    }

    fn feed(&mut self, chunk: &[Arrival], after: f64) {
        let horizon = self.setup.horizon;
        let next = |i: usize| chunk.get(i).map_or(after, |a| a.t);
        let mut i = 0;
        self.next_arrival = next(0);
        while !self.done {
            if i == chunk.len() && after.is_finite() {
                // What comes next is in the next chunk.
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
            if self.run.wiring.clairvoyant {
                self.foresee();
            }
        }
    }

    fn next_time(&self, next_arrival: f64) -> f64 {
        let t = &self.ticks;
        earliest(&[
            next_arrival,
            self.station.next_event().unwrap_or(f64::INFINITY),
            self.pods.next_ready().unwrap_or(f64::INFINITY),
            t.scrape.next(),
            t.query.next(),
            t.poll.next(),
            t.sync.next(),
            t.direct.next(),
            self.reevaluate.unwrap_or(f64::INFINITY),
            self.oracle_wake(),
        ])
    }

    /// Replica time and the timeline from `self.now` to `t`.
    fn integrate(&mut self, t: f64) {
        let dt = t - self.now;
        let spec = self.spec();
        if dt > 0.0 && spec > 0 {
            // Whole microseconds of absolute time: the pieces add up exactly.
            let r = u64::from(spec) * (micros(t) - micros(self.now));
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

    fn drain_outcomes(&mut self) {
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

    fn arrive(&mut self, a: &Arrival) {
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
            EventKind::SessionOpen => {
                self.stats.sessions += 1;
                self.pods.open(a.session.unwrap_or(u32::MAX));
                self.tell_busy_pods();
            }
            EventKind::SessionClose => {
                self.pods.close(a.session.unwrap_or(u32::MAX));
                self.tell_busy_pods();
            }
            EventKind::ConnectionOpen | EventKind::ConnectionClose => {}
        }
        if self.run.wiring.events {
            self.signals.record_event(a.kind, ts(self.now));
            if self.run.wiring.activation == Activation::Push && !self.pushed {
                self.stream();
            }
        }
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
        let sessions = u32::try_from(self.pods.sessions()).unwrap_or(u32::MAX);
        let queued = self.station.queued() as u32;
        Gauges {
            sessions,
            connections: sessions + queued + self.station.in_service() as u32,
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

    /// `StreamIsActive` re-decides; a new `true` wakes KEDA at once.
    fn stream(&mut self) {
        let d = self.decide();
        if d.active && !self.pushed {
            self.activate(&d);
        }
        self.pushed = d.active;
    }

    fn activate(&mut self, d: &Decision) {
        if self.run.wiring.clairvoyant {
            return;
        }
        self.keda_last_active = Some(self.now);
        if self.spec() == 0 {
            let first = match self.run.wiring.actuator {
                Actuator::Hpa => self.run.policy.min_replicas.max(1),
                Actuator::Direct => d.desired.max(1),
            };
            self.scale_to(first);
        }
    }

    fn keda_poll(&mut self) {
        if self.run.wiring.actuator == Actuator::Direct || self.run.wiring.clairvoyant {
            return;
        }
        let d = self.decide();
        if d.active {
            self.activate(&d);
            return;
        }
        let cooldown = self
            .run
            .wiring
            .cooldown_period
            .unwrap_or(self.setup.scenario.control.cooldown_period)
            .as_secs_f64();
        let cooled = self
            .keda_last_active
            .is_none_or(|at| self.now - at >= cooldown);
        if self.spec() > 0 && self.run.policy.min_replicas == 0 && cooled {
            self.scale_to(0);
        }
    }

    fn hpa_sync(&mut self) {
        let current = self.spec();
        if self.run.wiring.actuator != Actuator::Hpa || current == 0 {
            return;
        }
        let d = self.decide();
        let (metric, target) = match self.run.policy.metric_mode {
            MetricMode::Desired => (f64::from(d.desired), 1.0),
            MetricMode::Native => d
                .contributions
                .iter()
                .filter(|c| !c.metric.is_slo() && c.target > 0.0)
                .map(|c| (c.value, c.target))
                .max_by(|a, b| (a.0 / a.1).total_cmp(&(b.0 / b.1)))
                .unwrap_or((0.0, 1.0)),
        };
        let p = &self.run.policy;
        let n = self.hpa.sync(
            current,
            metric,
            target,
            MetricType::AverageValue,
            p.min_replicas,
            p.max_replicas,
            ts(self.now),
        );
        self.scale_to(n);
    }

    fn direct(&mut self) {
        if self.run.wiring.actuator != Actuator::Direct {
            return;
        }
        let d = self.decide();
        if self.spec() == 0 {
            if d.active {
                self.activate(&d);
            }
        } else {
            self.scale_to(d.desired);
        }
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
        self.stats.sessions_cut += cut;
        if removed > 0 {
            self.set_slots();
            self.tell_busy_pods();
        }
    }

    /// When the oracle starts a server at zero: one cold start (and a
    /// millisecond, so rounding never makes it late) before its next arrival.
    fn oracle_wake(&self) -> f64 {
        if !self.run.wiring.clairvoyant || self.spec() > 0 {
            return f64::INFINITY;
        }
        self.next_arrival - self.cold_start() - ORACLE_LEAD
    }

    fn cold_start(&self) -> f64 {
        self.setup.scenario.server.cold_start.as_secs_f64()
    }

    /// The oracle's activation: warm exactly when the next arrival comes,
    /// released when its work is done and the next arrival is further
    /// away than a cold start (releasing for less would cost more).
    fn foresee(&mut self) {
        let spec = self.spec();
        if spec == 0 {
            if self.now >= self.oracle_wake() {
                self.scale_to(self.run.policy.min_replicas.max(1));
            }
            return;
        }
        let working =
            self.station.in_service() > 0 || self.station.queued() > 0 || self.pods.sessions() > 0;
        let far = self.next_arrival - self.now > self.cold_start() + ORACLE_LEAD;
        if !working && far && self.run.policy.min_replicas == 0 {
            self.scale_to(0);
        }
    }

    /// Nothing can change before the next arrival or `reevaluate_at`.
    fn is_quiet(&self) -> bool {
        let engine_idle =
            self.run.wiring.clairvoyant || (self.last_active == Some(false) && !self.pushed);
        self.spec() == 0
            && engine_idle
            && self.station.in_service() == 0
            && self.station.queued() == 0
            && self.pods.sessions() == 0
            && self.signals.load.event_sessions == 0
            && self.signals.load.event_connections == 0
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
        let t = &mut self.ticks;
        for s in [
            &mut t.scrape,
            &mut t.query,
            &mut t.poll,
            &mut t.sync,
            &mut t.direct,
        ] {
            s.skip_to(until, keep + s.period);
        }
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "oracle_tests.rs"]
mod oracle_tests;
