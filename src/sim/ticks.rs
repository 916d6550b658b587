//! The control loop's periodic ticks for one server: Prometheus' scrape,
//! the scaler's query, KEDA's poll, the HPA's sync and the direct
//! actuator's period, each at its own phase.

use super::scenario::{Actuator, Scenario, Wiring};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A periodic tick at `phase + k × period`, computed afresh from `k` (not
/// accumulated) so that jumping ahead lands on exactly the same instants.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
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
    /// The next tick (infinite when off).
    pub fn next(&self) -> f64 {
        self.at
    }
    /// Whether a tick is due at `now`.
    pub fn due(&self, now: f64) -> bool {
        self.at <= now
    }
    /// Moves on to the following tick.
    pub fn advance(&mut self) {
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
pub fn earliest(times: &[f64]) -> f64 {
    let mut m = f64::INFINITY;
    for &t in times {
        if t < m {
            m = t;
        }
    }
    m
}

/// Every tick of one server.
#[derive(Debug, Clone, Copy)]
pub struct Ticks {
    /// Prometheus scrapes the server.
    pub scrape: Schedule,
    /// The scaler queries Prometheus.
    pub query: Schedule,
    /// KEDA polls `IsActive`.
    pub poll: Schedule,
    /// The HPA syncs.
    pub sync: Schedule,
    /// The direct actuator applies a decision.
    pub direct: Schedule,
}

impl Ticks {
    /// The scenario's ticks, phases drawn from `rng`. Phases are drawn for
    /// every schedule so that what `rng` draws next does not depend on the
    /// wiring; ticks that do nothing for `wiring`'s actuator are off.
    pub fn new(scenario: &Scenario, wiring: &Wiring, rng: &mut ChaCha8Rng) -> Self {
        let c = &scenario.control;
        let mut phase = |period: std::time::Duration| {
            let p = period.as_secs_f64();
            Schedule::new(rng.random::<f64>() * p, p)
        };
        let scrape = phase(c.scrape_interval);
        let poll = phase(c.polling_interval);
        let sync = phase(c.hpa_sync_period);
        let direct = phase(c.direct_period(wiring));
        let direct_on = wiring.actuator == Actuator::Direct;
        Self {
            scrape,
            query: Schedule::new(0.0, c.query_interval.as_secs_f64()),
            poll: poll.only_if(!direct_on),
            sync: sync.only_if(!direct_on),
            direct: direct.only_if(direct_on),
        }
    }

    /// The next tick of any kind.
    pub fn next(&self) -> f64 {
        earliest(&[
            self.scrape.next(),
            self.query.next(),
            self.poll.next(),
            self.sync.next(),
            self.direct.next(),
        ])
    }

    /// Skips every schedule so that its first tick left is the last at or
    /// before `until - keep - its period`.
    pub fn skip_until(&mut self, until: f64, keep: f64) {
        for s in [
            &mut self.scrape,
            &mut self.query,
            &mut self.poll,
            &mut self.sync,
            &mut self.direct,
        ] {
            s.skip_to(until, keep + s.period);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::time::Duration;

    #[test]
    fn a_wiring_sets_its_own_direct_period_and_draws_the_same_phases() {
        let scenario = Scenario::default();
        let mut apply = Wiring::for_policy("default-apply");
        let ticks = |w: &Wiring| Ticks::new(&scenario, w, &mut ChaCha8Rng::seed_from_u64(3));
        let ten = ticks(&apply);
        assert_eq!(ten.direct.period, 10.0);
        assert!(ten.direct.next() <= 10.0, "first tick within a period");
        assert_eq!(ten.sync.next(), f64::INFINITY, "no HPA when direct");
        apply.direct_period = None;
        let control = ticks(&apply);
        assert_eq!(
            control.direct.period,
            scenario.control.direct_period.as_secs_f64()
        );
        // The same draws: the other schedules' phases are unchanged, and
        // the direct tick's is the same fraction of either period.
        assert_eq!(ten.scrape.next(), control.scrape.next());
        assert!((ten.direct.next() / 10.0 - control.direct.next() / 2.0).abs() < 1e-9);
        apply.direct_period = Some(Duration::from_secs(30));
        assert_eq!(ticks(&apply).direct.period, 30.0);
    }
}
