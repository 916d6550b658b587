//! A synthetic server's events, generated as they are consumed: memory
//! holds the processes' state and the events of sessions, streams or jobs
//! already begun, never the whole horizon, so a month costs what a day
//! costs. A server's streams come from a process of their own, merged in
//! time order with its other events.
//!
//! The events are exactly those the eager generator drew (same seed, same
//! draws in the same order): each sub-process (the diurnal base, each
//! burst) gets its own copy of the generator, set to the position where
//! the eager generator began it; those positions come from a dry run that
//! draws without keeping anything.

pub use super::modulated::{Diurnal, Modulated, poisson_times};
use super::pending::{CLOSE, OPEN, Pending, REQUEST};
use super::workload::Arrival;
use crate::signal::EventKind;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};

/// Most requests one synthetic session makes (its count is drawn from an
/// exponential whose tail has no end; the cap is 10 times the largest mean
/// `sessions.requests` allows).
const MAX_SESSION_REQUESTS: f64 = 100_000.0;

/// One event drawn: its time, what it is, and its session or stream.
type Item = (f64, EventKind, Option<u32>);

/// Sessions start at the modulated rate; each opens, spreads its requests
/// uniformly over an exponential length, and closes. Streams are the same
/// with no requests: a connection opened, held and closed.
#[derive(Debug)]
pub struct SessionStream {
    starts: std::iter::Peekable<Modulated>,
    /// Draws each session's length, size and request times, in start order.
    rng: ChaCha8Rng,
    length: Exp<f64>,
    /// Requests per session (`None`: streams, which make none).
    count: Option<Exp<f64>>,
    /// Sessions close by the horizon.
    horizon: f64,
    pending: Pending,
    sessions: u32,
}

impl SessionStream {
    /// Sessions from `starts`, drawn with `rng`.
    pub fn new(
        starts: Modulated,
        rng: ChaCha8Rng,
        length: Exp<f64>,
        count: Exp<f64>,
        horizon: f64,
    ) -> Self {
        Self::with_requests(starts, rng, (length, Some(count)), horizon)
    }

    /// Streams from `starts` (connections held open for an exponential
    /// `length`, making no requests), drawn with `rng`.
    pub fn streams(starts: Modulated, rng: ChaCha8Rng, length: Exp<f64>, horizon: f64) -> Self {
        Self::with_requests(starts, rng, (length, None), horizon)
    }

    fn with_requests(
        starts: Modulated,
        rng: ChaCha8Rng,
        (length, count): (Exp<f64>, Option<Exp<f64>>),
        horizon: f64,
    ) -> Self {
        Self {
            starts: starts.peekable(),
            rng,
            length,
            count,
            horizon,
            pending: Pending::default(),
            sessions: 0,
        }
    }

    fn begin(&mut self, start: f64) {
        let session = self.sessions;
        self.sessions = self.sessions.wrapping_add(1);
        let end = (start + self.length.sample(&mut self.rng)).min(self.horizon);
        self.pending.push(start, OPEN);
        if let Some(count) = self.count {
            let count = count.sample(&mut self.rng).ceil().min(MAX_SESSION_REQUESTS);
            for _ in 0..(count as u32).max(1) {
                let t = start + self.rng.random::<f64>() * (end - start);
                self.pending.push(t, REQUEST);
            }
        }
        self.pending.push(end, CLOSE);
        self.pending.seal(session);
    }
}

impl Iterator for SessionStream {
    type Item = Item;
    fn next(&mut self) -> Option<Self::Item> {
        let (open, close) = match self.count {
            Some(_) => (EventKind::SessionOpen, EventKind::SessionClose),
            None => (EventKind::ConnectionOpen, EventKind::ConnectionClose),
        };
        loop {
            let next_start = self.starts.peek().copied().unwrap_or(f64::INFINITY);
            if let Some((t, kind, session)) = self.pending.pop_before(next_start, OPEN) {
                let kind = match kind {
                    OPEN => open,
                    REQUEST => EventKind::Request,
                    _ => close,
                };
                return Some((t, kind, Some(session)));
            }
            let start = self.starts.next()?;
            self.begin(start);
        }
    }
}

/// A job schedule.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Seconds between job starts.
    pub period: f64,
    /// The first job's scheduled start.
    pub offset: f64,
    /// Each start moves up to this much either way.
    pub jitter: f64,
    /// A job's requests are spread over this long.
    pub run: f64,
    /// Requests per job (at least one).
    pub count: Exp<f64>,
}

/// Scheduled jobs: every `period` from `offset`, each start jittered, each
/// a run of requests spread over `run`; requests at or after the horizon
/// are left out.
#[derive(Debug)]
pub struct JobStream {
    rng: ChaCha8Rng,
    schedule: Schedule,
    horizon: f64,
    /// The next job's scheduled start.
    start: f64,
    pending: Pending,
}

impl JobStream {
    /// Jobs on `schedule`, drawn with `rng`.
    pub fn new(rng: ChaCha8Rng, schedule: Schedule, horizon: f64) -> Self {
        Self {
            rng,
            schedule,
            horizon,
            start: schedule.offset,
            pending: Pending::default(),
        }
    }

    fn begin(&mut self) {
        let s = self.schedule;
        let at = (self.start + (self.rng.random::<f64>() * 2.0 - 1.0) * s.jitter).max(0.0);
        for _ in 0..(s.count.sample(&mut self.rng).ceil() as u32).max(1) {
            let t = at + self.rng.random::<f64>() * s.run;
            if t < self.horizon {
                self.pending.push(t, REQUEST);
            }
        }
        self.pending.seal(0);
        self.start += s.period;
    }
}

impl Iterator for JobStream {
    type Item = f64;
    fn next(&mut self) -> Option<f64> {
        loop {
            // No later job can put a request before its start minus the jitter.
            let next_job = if self.start < self.horizon {
                (self.start - self.schedule.jitter).max(0.0)
            } else {
                f64::INFINITY
            };
            if let Some((t, _, _)) = self.pending.pop_before(next_job, OPEN) {
                return Some(t);
            }
            if self.start >= self.horizon {
                return None;
            }
            self.begin();
        }
    }
}

/// One server's events in time order.
#[derive(Debug)]
pub enum ServerStream {
    /// Requests alone.
    Requests(Modulated),
    /// Sessions.
    Sessions(SessionStream),
    /// Scheduled jobs.
    Jobs(JobStream),
}

impl ServerStream {
    fn next_item(&mut self) -> Option<Item> {
        match self {
            ServerStream::Requests(m) => Some((m.next()?, EventKind::Request, None)),
            ServerStream::Sessions(s) => s.next(),
            ServerStream::Jobs(j) => Some((j.next()?, EventKind::Request, None)),
        }
    }
}

/// Streams a server's clients hold open, beside its other events.
#[derive(Debug)]
pub struct Listens {
    streams: std::iter::Peekable<SessionStream>,
    /// The other events' next one, drawn ahead.
    other: Option<Item>,
}

impl Listens {
    /// The streams `streams` yields (see [`SessionStream::streams`]).
    pub fn new(streams: SessionStream) -> Self {
        Self {
            streams: streams.peekable(),
            other: None,
        }
    }

    /// The earlier of the next stream event and the next of `other`'s (on
    /// equal times, `other`'s).
    fn merge(&mut self, other: &mut ServerStream) -> Option<Item> {
        if self.other.is_none() {
            self.other = other.next_item();
        }
        let stream_first = match (&self.other, self.streams.peek()) {
            (Some(o), Some(s)) => s.0 < o.0,
            (None, s) => s.is_some(),
            (Some(_), None) => false,
        };
        if stream_first {
            self.streams.next()
        } else {
            self.other.take()
        }
    }
}

/// A server's events with its index filled in.
#[derive(Debug)]
pub struct Arrivals {
    /// The server's index.
    pub server: u32,
    /// Its events.
    pub stream: ServerStream,
    /// Streams its clients hold open, if they do.
    pub listens: Option<Listens>,
}

impl Iterator for Arrivals {
    type Item = Arrival;
    fn next(&mut self) -> Option<Arrival> {
        let (t, kind, session) = match &mut self.listens {
            None => self.stream.next_item()?,
            Some(listens) => listens.merge(&mut self.stream)?,
        };
        Some(Arrival {
            t,
            server: self.server,
            kind,
            session,
            service_s: None,
        })
    }
}
