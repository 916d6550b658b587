//! The diurnal arrival process: Poisson arrivals at rate × (1 + amplitude
//! × sin(day phase)), drawn by thinning against a cheap bound, and the same
//! process with bursts superposed ([`Modulated`]). Each part draws from its
//! own copy of the generator, set where the eager generator began it (see
//! [`super::stream`]).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};
use std::f64::consts::TAU;

/// A server's load shape: rate × (1 + amplitude × sin(day phase)).
#[derive(Debug, Clone, Copy)]
pub struct Diurnal {
    /// Swing of the daily cycle.
    pub amplitude: f64,
    /// The server's phase (radians).
    pub phase: f64,
}

impl Diurnal {
    fn at(self, t: f64) -> f64 {
        (1.0 + self.amplitude * (TAU * t / 86_400.0 + self.phase).sin()).max(0.0)
    }
    fn peak(self) -> f64 {
        1.0 + self.amplitude.abs()
    }
    /// A bound `at` never goes below, in floating point too: `a × sin`
    /// rounds to no less than `−|a|`, and adding 1 rounds monotonically.
    /// A candidate under it is kept without evaluating `sin`.
    fn floor(self) -> f64 {
        1.0 - self.amplitude.abs()
    }
    /// How fast `at` can change: |a| × 2π per day, per second.
    fn slope(self) -> f64 {
        self.amplitude.abs() * TAU / 86_400.0
    }
}

/// More than `at`'s rounding can be off from the exact shape: its argument
/// is under 300 radians (31 days), so rounding moves it by under 1e-13
/// and `sin` adds an ulp.
const ROUNDING_SLACK: f64 = 1e-9;

/// Widest band around the last value `at` was evaluated to inside which a
/// candidate is decided by evaluating it again.
const BAND_LIMIT: f64 = 0.01;

/// `at`, evaluated once and then used as a bound for nearby times: the
/// shape moves at most `slope × |t − t0|` from `value` (plus rounding).
#[derive(Debug, Clone, Copy)]
struct Anchor {
    t: f64,
    value: f64,
}

impl Anchor {
    const NONE: Anchor = Anchor {
        t: f64::NEG_INFINITY,
        value: 0.0,
    };

    /// Whether `u < shape.at(t)` (the same answer), evaluating `sin` only
    /// when `u` is too close to call from the bound, or the bound too wide.
    fn below(&mut self, shape: Diurnal, t: f64, u: f64) -> bool {
        let band = shape.slope() * (t - self.t).abs() + ROUNDING_SLACK;
        if band < BAND_LIMIT {
            if u < self.value - band {
                return true;
            }
            if u >= self.value + band {
                return false;
            }
        }
        let value = shape.at(t);
        *self = Anchor { t, value };
        u < value
    }
}

/// A non-homogeneous Poisson process on `[from, to)` with rate
/// `base × shape(t)`, by thinning against the shape's peak.
#[derive(Debug, Clone)]
struct Thinned {
    rng: ChaCha8Rng,
    gap: Option<Exp<f64>>,
    shape: Diurnal,
    anchor: Anchor,
    /// The next candidate time.
    t: f64,
    to: f64,
}

impl Thinned {
    fn new(mut rng: ChaCha8Rng, base: f64, (from, to): (f64, f64), shape: Diurnal) -> Self {
        let top = base * shape.peak();
        let gap = (top.is_finite() && top > 0.0 && from < to)
            .then(|| Exp::new(top).ok())
            .flatten();
        let t = gap.map_or(to, |g| from + g.sample(&mut rng));
        Self {
            rng,
            gap,
            shape,
            anchor: Anchor::NONE,
            t,
            to,
        }
    }

    /// The generator where the process ends: the same draws as running
    /// it, without deciding which candidates it keeps.
    fn end_state(mut self) -> ChaCha8Rng {
        if let Some(gap) = self.gap {
            while self.t < self.to {
                let _: f64 = self.rng.random();
                self.t += gap.sample(&mut self.rng);
            }
        }
        self.rng
    }
}

/// Every time of a homogeneous Poisson process at `rate` on `[from, to)`,
/// drawn from `rng` (for short lists, such as a server's bursts).
pub fn poisson_times(rng: &mut ChaCha8Rng, rate: f64, span: (f64, f64)) -> Vec<f64> {
    let flat = Diurnal {
        amplitude: 0.0,
        phase: 0.0,
    };
    let mut process = Thinned::new(rng.clone(), rate, span, flat);
    let times = process.by_ref().collect();
    *rng = process.rng;
    times
}

impl Iterator for Thinned {
    type Item = f64;
    fn next(&mut self) -> Option<f64> {
        let gap = self.gap?;
        let (peak, floor) = (self.shape.peak(), self.shape.floor());
        while self.t < self.to {
            let u = self.rng.random::<f64>() * peak;
            let accept = u < floor || self.anchor.below(self.shape, self.t, u);
            let candidate = self.t;
            self.t += gap.sample(&mut self.rng);
            if accept {
                return Some(candidate);
            }
        }
        None
    }
}

/// The diurnal process plus, during each burst, a superposed one at
/// `(factor − 1)` times the rate, merged in time order (on equal times the
/// earlier process first).
#[derive(Debug, Clone)]
pub struct Modulated {
    parts: Vec<Thinned>,
    heads: Vec<Option<f64>>,
}

impl Modulated {
    /// The process at `base` from `rng`'s position.
    pub fn new(
        rng: &ChaCha8Rng,
        base: f64,
        (horizon, shape): (f64, Diurnal),
        bursts: &[(f64, f64)],
        factor: f64,
    ) -> Self {
        let extra = base * (factor - 1.0);
        let mut parts = Vec::with_capacity(bursts.len() + 1);
        parts.push(Thinned::new(rng.clone(), base, (0.0, horizon), shape));
        for &(a, b) in bursts {
            let at = parts
                .last()
                .map_or_else(|| rng.clone(), |p| p.clone().end_state());
            parts.push(Thinned::new(at, extra, (a, b.min(horizon)), shape));
        }
        let heads = parts.iter_mut().map(Iterator::next).collect();
        Self { parts, heads }
    }

    /// The generator where the eager generator continued after this
    /// process (the same however much of it has been consumed).
    pub fn rest(&self) -> Option<ChaCha8Rng> {
        self.parts.last().map(|p| p.clone().end_state())
    }
}

impl Iterator for Modulated {
    type Item = f64;
    fn next(&mut self) -> Option<f64> {
        let mut best: Option<(usize, f64)> = None;
        for (i, h) in self.heads.iter().enumerate() {
            if let Some(t) = *h
                && best.is_none_or(|(_, b)| t < b)
            {
                best = Some((i, t));
            }
        }
        let (i, t) = best?;
        self.heads[i] = self.parts[i].next();
        Some(t)
    }
}

#[cfg(test)]
#[path = "modulated_tests.rs"]
mod tests;
