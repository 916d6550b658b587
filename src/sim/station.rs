//! One MCP server's serving capacity: `slots` concurrent requests (ready
//! replicas × per-replica concurrency), a FIFO queue, and a queue timeout
//! after which a waiting request is dropped. Times are virtual seconds.
//!
//! The station only keeps its own books; the caller's event loop asks for
//! [`Station::next_event`] and calls [`Station::advance`] up to it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Virtual time in seconds.
pub type Secs = f64;

/// A request that finished or gave up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Served: waited `wait`, then took `service`.
    Served {
        /// Arrival time.
        arrived: Secs,
        /// Time spent queued.
        wait: Secs,
        /// Service time.
        service: Secs,
    },
    /// Dropped after waiting `timeout`.
    TimedOut {
        /// Arrival time.
        arrived: Secs,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Waiting {
    arrived: Secs,
    service: Secs,
}

/// A time as a word that sorts as `f64::total_cmp` sorts the time.
fn order_key(t: Secs) -> u64 {
    let bits = t.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// The time [`order_key`] was made from.
fn from_order_key(key: u64) -> Secs {
    Secs::from_bits(if key >> 63 == 1 {
        key & !(1 << 63)
    } else {
        !key
    })
}

/// Requests in service, soonest end first: a min-heap of (end, arrival,
/// start) as words, so that ordering compares integers instead of three
/// `total_cmp`s. (A sorted list was as fast on the Azure-like fleets, but
/// a server with thousands of requests in service would move half of them
/// on every start.)
#[derive(Debug, Clone, Default)]
struct Running(BinaryHeap<Reverse<(u64, u64, u64)>>);

impl Running {
    fn len(&self) -> usize {
        self.0.len()
    }
    /// The soonest end.
    fn next_end(&self) -> Option<Secs> {
        self.0
            .peek()
            .map(|Reverse((end, _, _))| from_order_key(*end))
    }
    fn start(&mut self, end: Secs, arrived: Secs, start: Secs) {
        let entry = (order_key(end), order_key(arrived), order_key(start));
        self.0.push(Reverse(entry));
    }
    /// How many in service will take longer than `slo` from arrival.
    fn ending_later_than(&self, slo: Secs) -> usize {
        self.0
            .iter()
            .filter(|Reverse((end, arrived, _))| {
                from_order_key(*end) - from_order_key(*arrived) > slo
            })
            .count()
    }
    /// The request that ends soonest: (end, arrival, start).
    fn finish(&mut self) -> Option<(Secs, Secs, Secs)> {
        let Reverse((end, arrived, start)) = self.0.pop()?;
        Some((
            from_order_key(end),
            from_order_key(arrived),
            from_order_key(start),
        ))
    }
}

/// The serving model of one server.
#[derive(Debug, Clone)]
pub struct Station {
    slots: u32,
    running: Running,
    queue: VecDeque<Waiting>,
    timeout: Secs,
    /// ∫ queue length dt, for Little's law.
    queue_area: Secs,
    last_change: Secs,
}

impl Station {
    /// A station with `slots` concurrent slots and a queue `timeout`.
    pub fn new(slots: u32, timeout: Secs) -> Self {
        Self {
            slots,
            running: Running::default(),
            queue: VecDeque::new(),
            timeout,
            queue_area: 0.0,
            last_change: 0.0,
        }
    }

    /// Requests in service.
    pub fn in_service(&self) -> usize {
        self.running.len()
    }

    /// Requests waiting.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Of the requests still here at `now`, those already sure to miss
    /// `slo`: in service past it from arrival to end, or waiting so long
    /// that their service would end past it.
    pub fn sure_to_miss(&self, now: Secs, slo: Secs) -> usize {
        // A waiting request takes at least its wait so far and its service.
        let waiting = self
            .queue
            .iter()
            .filter(|w| now - w.arrived + w.service > slo)
            .count();
        self.running.ending_later_than(slo) + waiting
    }

    /// ∫ queue length dt so far.
    pub fn queue_area(&self) -> Secs {
        self.queue_area
    }

    /// The next time something happens on its own (a completion or a timeout).
    pub fn next_event(&self) -> Option<Secs> {
        let done = self.running.next_end();
        let expiry = self.queue.front().map(|w| w.arrived + self.timeout);
        match (done, expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A request arrives at `now` needing `service` seconds of work.
    pub fn arrive(&mut self, now: Secs, service: Secs, out: &mut Vec<Outcome>) {
        self.account(now);
        self.queue.push_back(Waiting {
            arrived: now,
            service,
        });
        self.dispatch(now, out);
    }

    /// Changes the number of slots (replicas became ready or went away).
    /// Requests in service finish; fewer slots only stop new starts.
    pub fn set_slots(&mut self, now: Secs, slots: u32, out: &mut Vec<Outcome>) {
        self.account(now);
        self.slots = slots;
        self.dispatch(now, out);
    }

    /// Processes everything that happens up to and including `now`.
    pub fn advance(&mut self, now: Secs, out: &mut Vec<Outcome>) {
        while let Some(t) = self.next_event().filter(|&t| t <= now) {
            self.account(t);
            let completes = self.running.next_end().is_some_and(|end| end <= t);
            if completes {
                if let Some((end, arrived, start)) = self.running.finish() {
                    out.push(Outcome::Served {
                        arrived,
                        wait: start - arrived,
                        service: end - start,
                    });
                }
            } else if let Some(w) = self.queue.pop_front() {
                out.push(Outcome::TimedOut { arrived: w.arrived });
            }
            self.dispatch(t, out);
        }
        self.account(now);
    }

    fn dispatch(&mut self, now: Secs, out: &mut Vec<Outcome>) {
        while let Some(w) = self.queue.front().copied() {
            if w.arrived + self.timeout < now {
                self.queue.pop_front();
                out.push(Outcome::TimedOut { arrived: w.arrived });
                continue;
            }
            if self.running.len() >= self.slots as usize {
                break;
            }
            self.queue.pop_front();
            self.running.start(now + w.service, w.arrived, now);
        }
    }

    fn account(&mut self, now: Secs) {
        if now > self.last_change {
            self.queue_area += self.queue.len() as f64 * (now - self.last_change);
            self.last_change = now;
        }
    }
}

use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, LogNormal};

/// Service times for requests that do not carry their own.
#[derive(Debug, Clone, Copy)]
pub enum ServiceTime {
    /// Always the mean.
    Fixed(f64),
    /// Exponential.
    Exponential(Exp<f64>),
    /// Log-normal.
    LogNormal(LogNormal<f64>),
}

impl ServiceTime {
    /// Mean `mean` s and coefficient of variation `cv`: fixed at 0,
    /// exponential at 1, log-normal otherwise.
    pub fn new(mean: f64, cv: f64) -> Self {
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
    /// One service time.
    pub fn draw(&self, rng: &mut ChaCha8Rng) -> f64 {
        match self {
            Self::Fixed(m) => *m,
            Self::Exponential(d) => d.sample(rng),
            Self::LogNormal(d) => d.sample(rng),
        }
    }
}

#[cfg(test)]
#[path = "station_tests.rs"]
mod tests;
