//! Workloads: what arrives at each server, as time-ordered events (drawn
//! as they are consumed: see [`super::stream`]).
//!
//! The synthetic fleet draws each server's mean request rate from a
//! log-normal fitted to the Azure Functions 2019 trace (Shahrad et al.):
//! about 45% of apps are invoked at most once an hour and 81% at most once a
//! minute. Rates follow a diurnal cycle with a per-server phase, random
//! bursts multiply them for a while, a fraction of servers serve MCP
//! sessions (open, many requests, close), and on a fraction the clients
//! hold streams open (MCP's `subscriptions/listen`). Same seed → same
//! events.

use super::stream::{
    Arrivals, Diurnal, JobStream, Listens, Modulated, Schedule, ServerStream, SessionStream,
    poisson_times,
};
use crate::signal::EventKind;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Normal};
use serde::{Deserialize, Serialize};
use std::f64::consts::TAU;
use std::time::Duration;

/// The ChaCha stream a server's streams draw from (its other events draw
/// from stream 0 of the same key).
const STREAMS_RNG_STREAM: u64 = 1;

/// The ChaCha stream their lengths draw from.
const STREAM_LENGTHS_RNG_STREAM: u64 = 2;

/// Server `server`'s generator under the fleet's `seed`.
fn server_rng(seed: u64, server: u32) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(
        seed ^ (0x9E37_79B9_7F4A_7C15_u64.wrapping_mul(u64::from(server) + 1)),
    )
}

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

/// Streams on some servers: connections the clients hold open (MCP's
/// `subscriptions/listen`, or any long-lived connection), each live work
/// pinned to the pod that accepted it, making no requests of its own.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Streams {
    /// Share of servers whose clients hold streams (0: none, the default).
    pub server_fraction: f64,
    /// Streams opened per request, on average: they open at this multiple
    /// of the server's mean request rate, following its daily cycle.
    pub per_request: f64,
    /// Mean stream length.
    #[serde(with = "humantime_serde")]
    pub mean_duration: Duration,
}

impl Default for Streams {
    fn default() -> Self {
        Self {
            server_fraction: 0.0,
            per_request: 1.0,
            mean_duration: Duration::from_secs(1800),
        }
    }
}

/// Scheduled agent jobs on some servers: each such server runs a job on a
/// cron-like schedule (every 5, 10, 15, 30, 60, 120 or 240 minutes, one
/// picked per server, with a per-server offset), each job a short run of
/// requests. Their idle gaps are regular: what pre-warming is for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Periodic {
    /// Share of servers driven by scheduled jobs instead of the Poisson
    /// process (0: none, the default).
    pub server_fraction: f64,
    /// Mean requests per job (at least 1).
    pub requests: f64,
    /// How long a job's requests are spread over.
    #[serde(with = "humantime_serde")]
    pub run_length: Duration,
    /// Each job starts up to this much early or late (schedulers drift).
    #[serde(with = "humantime_serde")]
    pub jitter: Duration,
}

impl Default for Periodic {
    fn default() -> Self {
        Self {
            server_fraction: 0.0,
            requests: 5.0,
            run_length: Duration::from_secs(60),
            jitter: Duration::from_secs(20),
        }
    }
}

/// The schedules a periodic server picks from (minutes).
pub const SCHEDULES_MIN: [u32; 7] = [5, 10, 15, 30, 60, 120, 240];

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
    /// Scheduled agent jobs.
    pub periodic: Periodic,
    /// Streams held open.
    pub streams: Streams,
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
            periodic: Periodic::default(),
            streams: Streams::default(),
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

    /// Generates `duration` of events with `seed`, the whole fleet at once
    /// (small fleets and tests; the simulator asks per server).
    pub fn generate(&self, duration: Duration, seed: u64) -> Fleet {
        let rates = self.rates(seed);
        let horizon = duration.as_secs_f64();
        let mut arrivals: Vec<Arrival> = (0..self.servers)
            .flat_map(|i| self.server_arrivals(i, rates[i as usize], horizon, seed))
            .collect();
        arrivals.sort_by(|a, b| a.t.total_cmp(&b.t).then(a.server.cmp(&b.server)));
        Fleet {
            servers: self.names(),
            arrivals,
        }
    }

    /// Server names, `mcp-0` .. `mcp-{N-1}`.
    pub fn names(&self) -> Vec<String> {
        (0..self.servers).map(|i| format!("mcp-{i}")).collect()
    }

    /// The events of server `server` (mean rate `rate`) over `[0, horizon)`
    /// seconds, in time order. Depends only on `seed` and `server`.
    pub fn server_arrivals(&self, server: u32, rate: f64, horizon: f64, seed: u64) -> Vec<Arrival> {
        self.server_stream(server, rate, horizon, seed).collect()
    }

    /// The same events as [`Self::server_arrivals`], drawn as they are
    /// consumed (memory does not grow with the horizon).
    pub fn server_stream(&self, server: u32, rate: f64, horizon: f64, seed: u64) -> Arrivals {
        let mut rng = server_rng(seed, server);
        let sessions = rng.random::<f64>() < self.sessions.server_fraction;
        let mut cycle = Diurnal {
            amplitude: 0.0,
            phase: 0.0,
        };
        // Drawn only when asked for, so fleets without jobs stay as they were.
        let stream = if self.periodic.server_fraction > 0.0
            && rng.random::<f64>() < self.periodic.server_fraction
        {
            ServerStream::Jobs(self.jobs(rng, horizon))
        } else {
            let len = self.bursts.duration.as_secs_f64();
            let bursts: Vec<(f64, f64)> =
                poisson_times(&mut rng, self.bursts.per_hour / 3600.0, (0.0, horizon))
                    .into_iter()
                    .map(|t| (t, t + len))
                    .collect();
            let shape = Diurnal {
                amplitude: self.diurnal_amplitude,
                phase: rng.random::<f64>() * TAU,
            };
            cycle = shape;
            let factor = self.bursts.factor;
            if sessions {
                let per_session = self.sessions.requests.max(1.0);
                let starts =
                    Modulated::new(&rng, rate / per_session, (horizon, shape), &bursts, factor);
                let rest = starts.rest().unwrap_or(rng);
                let length = Exp::new(1.0 / self.sessions.mean_duration.as_secs_f64().max(1.0))
                    .expect("positive rate");
                let count = Exp::new(1.0 / per_session).expect("positive rate");
                ServerStream::Sessions(SessionStream::new(starts, rest, length, count, horizon))
            } else {
                let requests = Modulated::new(&rng, rate, (horizon, shape), &bursts, factor);
                ServerStream::Requests(requests)
            }
        };
        Arrivals {
            server,
            stream,
            listens: self.listens(
                server,
                rate * self.streams.per_request,
                (horizon, cycle),
                seed,
            ),
        }
    }

    /// The streams of server `server`, opening at `rate` on its daily
    /// `cycle`, if its clients hold any. They draw from a stream of the
    /// server's generator of their own, so a fleet's other events are the
    /// same with or without them.
    fn listens(&self, server: u32, rate: f64, cycle: (f64, Diurnal), seed: u64) -> Option<Listens> {
        if self.streams.server_fraction <= 0.0 {
            return None;
        }
        let mut rng = server_rng(seed, server);
        rng.set_stream(STREAMS_RNG_STREAM);
        if rng.random::<f64>() >= self.streams.server_fraction {
            return None;
        }
        let horizon = cycle.0;
        let starts = Modulated::new(&rng, rate, cycle, &[], 1.0);
        // Lengths from a stream of their own: no dry run of the starts.
        let mut lengths = rng;
        lengths.set_stream(STREAM_LENGTHS_RNG_STREAM);
        let length = Exp::new(1.0 / self.streams.mean_duration.as_secs_f64().max(1.0))
            .expect("positive rate");
        Some(Listens::new(SessionStream::streams(
            starts, lengths, length, horizon,
        )))
    }

    /// Jobs every period from a random offset, each start jittered, each a
    /// run of requests (at least one) spread over `run_length`.
    fn jobs(&self, mut rng: ChaCha8Rng, horizon: f64) -> JobStream {
        let p = &self.periodic;
        let pick = rng.random_range(0..SCHEDULES_MIN.len());
        let period = f64::from(SCHEDULES_MIN[pick]) * 60.0;
        let offset = rng.random::<f64>() * period;
        JobStream::new(
            rng,
            Schedule {
                period,
                offset,
                jitter: p.jitter.as_secs_f64(),
                run: p.run_length.as_secs_f64(),
                count: Exp::new(1.0 / p.requests.max(1.0)).expect("positive rate"),
            },
            horizon,
        )
    }
}

#[cfg(test)]
#[path = "workload_tests.rs"]
mod tests;
