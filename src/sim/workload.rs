//! Workloads: what arrives at each server, as a time-sorted list of events.
//!
//! The synthetic fleet draws each server's mean request rate from a
//! log-normal fitted to the Azure Functions 2019 trace (Shahrad et al.):
//! about 45% of apps are invoked at most once an hour and 81% at most once a
//! minute. Rates follow a diurnal cycle with a per-server phase, random
//! bursts multiply them for a while, and a fraction of servers serve MCP
//! sessions (open, many requests, close). Same seed → same events.

use crate::signal::EventKind;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Normal};
use serde::{Deserialize, Serialize};
use std::f64::consts::TAU;
use std::time::Duration;

/// One event at one server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrival {
    /// Seconds from the start.
    pub t: f64,
    /// Index into [`Fleet::servers`].
    pub server: u32,
    /// What happens.
    pub kind: EventKind,
    /// The session it belongs to, if any.
    pub session: Option<u32>,
    /// Work it needs, if the source says (else the server model draws it).
    pub service_s: Option<f64>,
}

/// A fleet's names and its events in time order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fleet {
    /// Server names (valid server ids).
    pub servers: Vec<String>,
    /// Events sorted by time.
    pub arrivals: Vec<Arrival>,
}

/// Bursts: rare periods of much higher load.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Bursts {
    /// Expected bursts per server per hour.
    pub per_hour: f64,
    /// Rate multiplier during a burst.
    pub factor: f64,
    /// How long a burst lasts.
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
}

impl Default for Bursts {
    fn default() -> Self {
        Self {
            per_hour: 0.05,
            factor: 10.0,
            duration: Duration::from_secs(120),
        }
    }
}

/// MCP sessions on some servers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sessions {
    /// Share of servers whose traffic comes in sessions.
    pub server_fraction: f64,
    /// Mean requests per session.
    pub requests: f64,
    /// Mean session length.
    #[serde(with = "humantime_serde")]
    pub mean_duration: Duration,
}

impl Default for Sessions {
    fn default() -> Self {
        Self {
            server_fraction: 0.3,
            requests: 20.0,
            mean_duration: Duration::from_secs(600),
        }
    }
}

/// A synthetic fleet.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Synthetic {
    /// Number of servers.
    pub servers: u32,
    /// Mean of ln(requests per minute) across servers.
    pub rate_log_mean: f64,
    /// Standard deviation of ln(requests per minute).
    pub rate_log_sd: f64,
    /// Cap on a server's mean rate (requests/s).
    pub max_rate_per_s: f64,
    /// Diurnal swing: rate × (1 + amplitude × sin(day phase)).
    pub diurnal_amplitude: f64,
    /// Bursts.
    pub bursts: Bursts,
    /// Sessions.
    pub sessions: Sessions,
}

impl Default for Synthetic {
    fn default() -> Self {
        // Fitted so that P(rate ≤ 1/h) = 0.45 and P(rate ≤ 1/min) = 0.81.
        Self {
            servers: 100,
            rate_log_mean: -3.581,
            rate_log_sd: 4.079,
            max_rate_per_s: 20.0,
            diurnal_amplitude: 0.5,
            bursts: Bursts::default(),
            sessions: Sessions::default(),
        }
    }
}

impl Synthetic {
    /// Mean rate (requests/s) of each server, drawn with `seed`.
    pub fn rates(&self, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let normal = Normal::new(self.rate_log_mean, self.rate_log_sd.max(0.0))
            .unwrap_or_else(|_| Normal::new(0.0, 1.0).expect("unit normal"));
        (0..self.servers)
            .map(|_| (normal.sample(&mut rng).exp() / 60.0).min(self.max_rate_per_s))
            .collect()
    }

    /// Generates `duration` of events with `seed`.
    pub fn generate(&self, duration: Duration, seed: u64) -> Fleet {
        let rates = self.rates(seed);
        let horizon = duration.as_secs_f64();
        let mut arrivals = Vec::new();
        for (i, &rate) in rates.iter().enumerate() {
            let mut rng = ChaCha8Rng::seed_from_u64(
                seed ^ (0x9E37_79B9_7F4A_7C15_u64.wrapping_mul(i as u64 + 1)),
            );
            let sessions = rng.random::<f64>() < self.sessions.server_fraction;
            let server = i as u32;
            let bursts = self.bursts_for(&mut rng, horizon);
            let phase = rng.random::<f64>() * TAU;
            let shape = |t: f64| self.shape(t, phase, &bursts);
            if sessions {
                self.session_arrivals(&mut rng, server, rate, horizon, &shape, &mut arrivals);
            } else {
                poisson(&mut rng, rate, horizon, self.peak(), &shape, |t| {
                    arrivals.push(Arrival {
                        t,
                        server,
                        kind: EventKind::Request,
                        session: None,
                        service_s: None,
                    });
                });
            }
        }
        arrivals.sort_by(|a, b| a.t.total_cmp(&b.t).then(a.server.cmp(&b.server)));
        Fleet {
            servers: (0..self.servers).map(|i| format!("mcp-{i}")).collect(),
            arrivals,
        }
    }

    /// The largest value [`Synthetic::shape`] can take.
    fn peak(&self) -> f64 {
        (1.0 + self.diurnal_amplitude.abs()) * self.bursts.factor.max(1.0)
    }

    fn shape(&self, t: f64, phase: f64, bursts: &[(f64, f64)]) -> f64 {
        let day = 1.0 + self.diurnal_amplitude * (TAU * t / 86_400.0 + phase).sin();
        let burst = if bursts.iter().any(|&(a, b)| t >= a && t < b) {
            self.bursts.factor
        } else {
            1.0
        };
        day.max(0.0) * burst
    }

    fn bursts_for(&self, rng: &mut ChaCha8Rng, horizon: f64) -> Vec<(f64, f64)> {
        let mut out = Vec::new();
        let len = self.bursts.duration.as_secs_f64();
        poisson(
            rng,
            self.bursts.per_hour / 3600.0,
            horizon,
            1.0,
            &|_| 1.0,
            |t| out.push((t, t + len)),
        );
        out
    }

    /// Sessions arrive at rate / requests; each opens, spreads its requests
    /// over an exponential length, and closes.
    fn session_arrivals(
        &self,
        rng: &mut ChaCha8Rng,
        server: u32,
        rate: f64,
        horizon: f64,
        shape: &dyn Fn(f64) -> f64,
        out: &mut Vec<Arrival>,
    ) {
        let per_session = self.sessions.requests.max(1.0);
        let mut starts = Vec::new();
        poisson(rng, rate / per_session, horizon, self.peak(), shape, |t| {
            starts.push(t)
        });
        let length = Exp::new(1.0 / self.sessions.mean_duration.as_secs_f64().max(1.0))
            .expect("positive rate");
        let count = Exp::new(1.0 / per_session).expect("positive rate");
        let base = out.len() as u32;
        for (k, start) in starts.into_iter().enumerate() {
            let session = Some(base + k as u32);
            let end = (start + length.sample(rng)).min(horizon);
            let ev = |t, kind| Arrival {
                t,
                server,
                kind,
                session,
                service_s: None,
            };
            out.push(ev(start, EventKind::SessionOpen));
            for _ in 0..(count.sample(rng).ceil() as u32).max(1) {
                out.push(ev(
                    start + rng.random::<f64>() * (end - start),
                    EventKind::Request,
                ));
            }
            out.push(ev(end, EventKind::SessionClose));
        }
    }
}

/// A non-homogeneous Poisson process on `[0, horizon)` with rate
/// `base × shape(t)`, `shape ≤ peak`, by thinning.
fn poisson(
    rng: &mut ChaCha8Rng,
    base: f64,
    horizon: f64,
    peak: f64,
    shape: &dyn Fn(f64) -> f64,
    mut emit: impl FnMut(f64),
) {
    let top = base * peak;
    if !(top.is_finite() && top > 0.0) {
        return;
    }
    let gap = Exp::new(top).expect("positive rate");
    let mut t = gap.sample(rng);
    while t < horizon {
        if rng.random::<f64>() * peak < shape(t) {
            emit(t);
        }
        t += gap.sample(rng);
    }
}

#[cfg(test)]
#[path = "workload_tests.rs"]
mod tests;
