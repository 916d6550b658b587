//! A recorded workload, held so that memory does not grow with the
//! trace's length:
//! - an events CSV is grouped by server and sorted by time in bounded
//!   memory ([`super::spill`]: past a chunk of events, on disk), and each
//!   server's events are read back as they are consumed;
//! - an Azure Functions file keeps each app's non-zero minutes (at most
//!   1,440 per app, however many invocations they count), and each
//!   minute's invocations are spread uniformly over it as they are
//!   consumed, in order, from a generator seeded per app.

use super::pods::Live;
use super::spill::{Grouped, Record, Sorter};
use super::trace::{self, TraceError};
use super::workload::Arrival;
use crate::signal::EventKind;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::sync::Mutex;

/// Events of an events CSV held in memory before sorted runs go to disk
/// (32 bytes each: 32 MiB).
pub const SPILL_AFTER: usize = 1 << 20;

/// A trace, ready to be replayed server by server.
#[derive(Debug)]
pub struct Recorded {
    /// Server names.
    pub names: Vec<String>,
    source: Source,
    /// The last event's time (s).
    last: f64,
    /// The first error met reading events back (a failing disk).
    read_error: Mutex<Option<String>>,
    /// The digest of the trace's bytes as read (`sha256:` and hex), which
    /// a sharded run's merge compares.
    pub digest: String,
}

#[derive(Debug)]
enum Source {
    Events(Grouped),
    Minutes {
        /// Per app: (minute, invocations), in minute order.
        counts: Vec<Vec<(u16, u32)>>,
        seed: u64,
        /// Invocations at or after it are left out.
        horizon: f64,
    },
}

impl Recorded {
    /// An events CSV; events at or after `horizon` are left out. At most
    /// `chunk` events are held in memory while it is sorted.
    pub fn from_events(
        input: impl Read,
        origin: &str,
        horizon: f64,
        chunk: usize,
    ) -> Result<Self, TraceError> {
        let io_error = |e: std::io::Error| TraceError {
            file: origin.to_owned(),
            line: 0,
            field: "file".into(),
            message: format!("cannot sort the events on disk: {e}"),
        };
        let mut sorter = Sorter::new(chunk);
        let mut last = 0.0f64;
        let names = trace::read_events(input, origin, |r| {
            if r.t < horizon {
                last = last.max(r.t);
                sorter.push(r).map_err(io_error)?;
            }
            Ok(())
        })?;
        let grouped = sorter.finish(names.len()).map_err(io_error)?;
        Ok(Self::new(names, Source::Events(grouped), last))
    }

    /// An Azure Functions 2019 file; invocations at or after `horizon`
    /// are left out.
    pub fn from_azure(
        input: impl Read,
        origin: &str,
        seed: u64,
        horizon: f64,
    ) -> Result<Self, TraceError> {
        let mut counts: Vec<Vec<(u16, u32)>> = Vec::new();
        let names = trace::read_azure(input, origin, |server, row| {
            let i = server as usize;
            if counts.len() <= i {
                counts.resize_with(i + 1, Vec::new);
            }
            add_minutes(&mut counts[i], row);
        })?;
        // Rows of one app add up: the bound holds for their sum too.
        for (app, minutes) in counts.iter().enumerate() {
            if let Some(&(m, n)) = minutes
                .iter()
                .find(|&&(_, n)| n > trace::MAX_AZURE_PER_MINUTE)
            {
                return Err(TraceError {
                    file: origin.to_owned(),
                    line: 0,
                    field: format!("minute {}", m + 1),
                    message: format!(
                        "the rows of app-{app} (HashOwner,HashApp pair number {} in file \
                         order) add up to {n} invocations in one minute; at most {} (10,000 a second)",
                        app + 1,
                        trace::MAX_AZURE_PER_MINUTE
                    ),
                });
            }
        }
        // Whole minutes: a minute that starts before the horizon counts.
        let minutes = (horizon / 60.0).ceil();
        let mut last = 0.0f64;
        for app in &mut counts {
            app.retain(|&(m, _)| f64::from(m) < minutes);
            if let Some(&(m, _)) = app.last() {
                last = last.max(f64::from(m) * 60.0);
            }
        }
        Ok(Self::new(
            names,
            Source::Minutes {
                counts,
                seed,
                horizon,
            },
            last,
        ))
    }

    fn new(names: Vec<String>, source: Source, last: f64) -> Self {
        Self {
            names,
            source,
            last,
            read_error: Mutex::new(None),
            digest: String::new(),
        }
    }

    /// When the last event comes (s; for Azure files, the start of the
    /// last minute with invocations).
    pub fn last_time(&self) -> f64 {
        self.last
    }

    /// Server `i`'s number of events (for Azure files, the invocations of
    /// minutes that start before the horizon).
    pub fn count(&self, i: usize) -> u64 {
        match &self.source {
            Source::Events(g) => g.count(i),
            Source::Minutes { counts, .. } => counts
                .get(i)
                .map_or(0, |c| c.iter().map(|&(_, n)| u64::from(n)).sum()),
        }
    }

    /// Whether the events went to disk to be sorted.
    pub fn spilled(&self) -> bool {
        matches!(&self.source, Source::Events(g) if g.spilled())
    }

    /// Server `i`'s events in time order, read or drawn as they are
    /// consumed. A failure to read them back ends them early and is kept
    /// for [`Self::read_error`].
    pub fn events(&self, i: usize) -> Box<dyn Iterator<Item = Arrival> + Send + '_> {
        let server = i as u32;
        match &self.source {
            Source::Events(g) => match g.records(i) {
                Ok(records) => Box::new(Sessions::new(server, records, &self.read_error)),
                Err(e) => {
                    keep_first(&self.read_error, &e);
                    Box::new(std::iter::empty())
                }
            },
            Source::Minutes {
                counts,
                seed,
                horizon,
            } => {
                let minutes = counts.get(i).map_or(&[][..], Vec::as_slice);
                let horizon = *horizon;
                Box::new(spread(server, minutes, app_seed(*seed, i)).filter(move |a| a.t < horizon))
            }
        }
    }

    /// The first error met reading events back, if any: a run that met
    /// one is incomplete.
    pub fn read_error(&self) -> Option<String> {
        self.read_error.lock().ok().and_then(|e| e.clone())
    }

    /// Every event at once, in time order (tests).
    #[cfg(test)]
    pub fn to_fleet(&self) -> super::workload::Fleet {
        let mut arrivals: Vec<Arrival> =
            (0..self.names.len()).flat_map(|i| self.events(i)).collect();
        arrivals.sort_by(|a, b| a.t.total_cmp(&b.t));
        super::workload::Fleet {
            servers: self.names.clone(),
            arrivals,
        }
    }
}

/// Keeps the first read-back error (later ones follow from it).
fn keep_first(slot: &Mutex<Option<String>>, e: &std::io::Error) {
    if let Ok(mut first) = slot.lock() {
        first.get_or_insert_with(|| format!("reading the sorted trace back: {e}"));
    }
}

/// Adds a row's minutes into an app's (both in minute order).
fn add_minutes(app: &mut Vec<(u16, u32)>, row: &[(u16, u32)]) {
    if app.is_empty() {
        app.extend_from_slice(row);
        return;
    }
    let mut merged = Vec::with_capacity(app.len() + row.len());
    let (mut a, mut b) = (app.iter().peekable(), row.iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(&&(ma, ca)), Some(&&(mb, cb))) if ma == mb => {
                a.next();
                b.next();
                (ma, ca.saturating_add(cb))
            }
            (Some(&&x), Some(&&y)) => {
                if x.0 < y.0 {
                    a.next();
                    x
                } else {
                    b.next();
                    y
                }
            }
            (Some(&&x), None) => {
                a.next();
                x
            }
            (None, Some(&&y)) => {
                b.next();
                y
            }
            (None, None) => break,
        };
        merged.push(next);
    }
    *app = merged;
}

fn app_seed(seed: u64, app: usize) -> u64 {
    seed ^ 0xA076_1D64_78BD_642F_u64.wrapping_mul(app as u64 + 1)
}

/// Each minute's invocations at uniform times within it, drawn in
/// ascending order (each the least of the uniforms still to come, over
/// what is left of the minute), so nothing is held.
fn spread(
    server: u32,
    minutes: &[(u16, u32)],
    seed: u64,
) -> impl Iterator<Item = Arrival> + Send + '_ {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    minutes.iter().flat_map(move |&(m, n)| {
        let mut rng = ChaCha8Rng::seed_from_u64(rng.random());
        let mut at = 0.0f64;
        (0..n).map(move |k| {
            let left = f64::from(n - k);
            let u: f64 = rng.random();
            at += (1.0 - at) * (1.0 - u.powf(1.0 / left));
            Arrival {
                t: (f64::from(m) + at.min(1.0 - f64::EPSILON)) * 60.0,
                server,
                kind: EventKind::Request,
                session: None,
                service_s: None,
            }
        })
    })
}

/// A server's stored records as events; sessions and streams numbered in
/// order of first appearance (a closed one's number is forgotten, so
/// memory holds only open ones).
struct Sessions<'a, I> {
    server: u32,
    records: I,
    /// (kind, id hash) of each open session or stream → its number.
    open: HashMap<(Live, u64), u32>,
    /// The numbers of sessions and streams opened without an id, oldest
    /// first, by [`Live::index`]: a close without an id ends the oldest
    /// (the scaler counts them as opens minus closes).
    anonymous: [VecDeque<u32>; 2],
    next: u32,
    failed: &'a Mutex<Option<String>>,
}

/// Most sessions and streams one server of a trace may hold open at once.
pub(crate) const MAX_OPEN_UNITS: usize = 1_000_000;

impl<'a, I> Sessions<'a, I> {
    fn new(server: u32, records: I, failed: &'a Mutex<Option<String>>) -> Self {
        Self {
            server,
            records,
            open: HashMap::new(),
            anonymous: [VecDeque::new(), VecDeque::new()],
            next: 0,
            failed,
        }
    }

    /// The number of the session or stream an event belongs to: an open
    /// one keeps its number until it closes; an event of one not open (a
    /// request naming a session) gets a number of its own that is not
    /// remembered. An open or close without an id is numbered in order.
    fn number(&mut self, r: &Record) -> Option<u32> {
        let unit = Live::of(r.event_kind());
        let Some(hash) = r.session else {
            let (live, opens) = unit?;
            return Some(self.anonymous(live, opens));
        };
        let opens = unit.is_some_and(|(_, opens)| opens);
        let closes = unit.is_some_and(|(_, opens)| !opens);
        // A request belongs to a session.
        let key = (unit.map_or(Live::Session, |(live, _)| live), hash);
        let known = if closes {
            self.open.remove(&key)
        } else {
            self.open.get(&key).copied()
        };
        Some(known.unwrap_or_else(|| {
            let n = self.fresh();
            if opens {
                self.open.insert(key, n);
            }
            n
        }))
    }

    /// A new number, or for a close without an id the oldest open one's.
    fn anonymous(&mut self, live: Live, opens: bool) -> u32 {
        if !opens && let Some(n) = self.anonymous[live.index()].pop_front() {
            return n;
        }
        let n = self.fresh();
        if opens {
            self.anonymous[live.index()].push_back(n);
        }
        n
    }

    /// Whether more units are open than a server may hold (a trace of
    /// opens without closes would otherwise grow the pods' tables with the
    /// file); says why in `failed`, which stops the run.
    fn too_many_open(&self) -> bool {
        let open = self.open.len() + self.anonymous.iter().map(VecDeque::len).sum::<usize>();
        if open <= MAX_OPEN_UNITS {
            return false;
        }
        if let Ok(mut first) = self.failed.lock() {
            first.get_or_insert_with(|| {
                format!(
                    "server {} of the trace holds more than {MAX_OPEN_UNITS} sessions and \
                     streams open at once (opens without closes?)",
                    self.server
                )
            });
        }
        true
    }

    /// The next number not handed out.
    fn fresh(&mut self) -> u32 {
        let n = self.next;
        self.next = self.next.wrapping_add(1);
        n
    }
}

impl<I: Iterator<Item = std::io::Result<Record>>> Iterator for Sessions<'_, I> {
    type Item = Arrival;
    fn next(&mut self) -> Option<Arrival> {
        let r = match self.records.next()? {
            Ok(r) => r,
            Err(e) => {
                keep_first(self.failed, &e);
                return None;
            }
        };
        let session = self.number(&r);
        if Live::of(r.event_kind()).is_some_and(|(_, opens)| opens) && self.too_many_open() {
            return None;
        }
        Some(Arrival {
            t: r.t,
            server: self.server,
            kind: r.event_kind(),
            session,
            service_s: r.service_s,
        })
    }
}

#[cfg(test)]
#[path = "recorded_tests.rs"]
mod tests;
