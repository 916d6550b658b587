//! What Prometheus knows about one server, and when.
//!
//! The MCP gateway in front of each server exports a request counter, a
//! timeout counter and gauges (open sessions, connections, queued
//! requests); the server's replicas export a latency histogram
//! (`mcp_tool_duration_seconds`, the Prometheus client's default buckets)
//! of the time requests spend in the server, so a cold start's wait at the
//! gateway is not in it.
//! Prometheus scrapes them every scrape interval (at a per-server phase);
//! the scaler's query tick sees the newest scrape only, with `rate()` and
//! `histogram_quantile(0.95, ...)` taken over the rate window: the same lag
//! and the same bucket resolution a real deployment has. The gateway is what lets a Prometheus-only policy
//! see demand for a server at zero replicas (its queue and counter).

use crate::signal::{SignalKind, Signals};
use crate::time::Timestamp;
use std::collections::VecDeque;

/// Upper bounds of the latency buckets (s): the Prometheus client default.
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Per-bucket counts; the last is `+Inf`.
type Counts = [u64; BUCKETS.len() + 1];

/// The gateway's series at one scrape.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scrape {
    at: f64,
    requests_total: u64,
    timeouts_total: u64,
    sessions: u32,
    connections: u32,
    queued: u32,
    latency: Counts,
}

/// Live gauges at a scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Gauges {
    /// Open MCP sessions.
    pub sessions: u32,
    /// Open connections (sessions, streams, and requests in flight or
    /// queued).
    pub connections: u32,
    /// Requests queued.
    pub queued: u32,
}

/// One server's exported series and Prometheus' copy of them.
#[derive(Debug, Clone)]
pub struct Exporter {
    window: f64,
    requests_total: u64,
    timeouts_total: u64,
    latency: Counts,
    scrapes: VecDeque<Scrape>,
}

impl Exporter {
    /// An exporter whose `rate()` and quantile look back `window` seconds.
    pub fn new(window: f64) -> Self {
        Self {
            window,
            requests_total: 0,
            timeouts_total: 0,
            latency: [0; BUCKETS.len() + 1],
            scrapes: VecDeque::new(),
        }
    }

    /// A request reached the gateway.
    pub fn request(&mut self) {
        self.requests_total += 1;
    }

    /// A request gave up in the queue.
    pub fn timeout(&mut self) {
        self.timeouts_total += 1;
    }

    /// A request finished after `latency` seconds.
    pub fn completed(&mut self, latency: f64) {
        // The bucket is the number of bounds below the latency, counted
        // without a branch (a search mispredicts on random latencies).
        let i: usize = BUCKETS.iter().map(|&le| usize::from(le < latency)).sum();
        self.latency[i] += 1;
    }

    /// Whether Prometheus' view holds nothing but zeros: no rate, no
    /// latency, no gauge above zero.
    pub fn is_quiet(&self) -> bool {
        match (self.scrapes.front(), self.scrapes.back()) {
            (Some(a), Some(b)) => {
                a.requests_total == b.requests_total
                    && b.requests_total == self.requests_total
                    && b.sessions == 0
                    && b.connections == 0
                    && b.queued == 0
                    && a.latency == b.latency
                    && b.latency == self.latency
            }
            _ => self.requests_total == 0 && self.latency == [0; BUCKETS.len() + 1],
        }
    }

    /// Prometheus scrapes at `t`.
    pub fn scrape(&mut self, t: f64, gauges: Gauges) {
        self.scrapes.push_back(Scrape {
            at: t,
            requests_total: self.requests_total,
            timeouts_total: self.timeouts_total,
            sessions: gauges.sessions,
            connections: gauges.connections,
            queued: gauges.queued,
            latency: self.latency,
        });
        while self.scrapes.front().is_some_and(|s| s.at < t - self.window) {
            self.scrapes.pop_front();
        }
    }

    /// The scaler's query tick at `now`: writes the newest scrape into
    /// `signals` as a complete poll. `ts` maps simulated seconds to engine
    /// time.
    pub fn query(&self, signals: &mut Signals, now: f64, ts: impl Fn(f64) -> Timestamp) {
        signals.feed.poller_configured = true;
        signals.feed.polled_at = Some(ts(now));
        let (Some(first), Some(last)) = (self.scrapes.front(), self.scrapes.back()) else {
            signals.load.polled = Default::default();
            signals.finish_poll(ts(now));
            return;
        };
        let span = last.at - first.at;
        let d_req = (last.requests_total - first.requests_total) as f64;
        let d_to = (last.timeouts_total - first.timeouts_total) as f64;
        let rate = if span > 0.0 { d_req / span } else { 0.0 };
        let errors = if d_req > 0.0 {
            (d_to / d_req).min(1.0)
        } else {
            0.0
        };
        let mut set = |kind, value: f64| {
            signals.set(kind, value);
        };
        set(SignalKind::Connections, f64::from(last.connections));
        set(SignalKind::Sessions, f64::from(last.sessions));
        set(SignalKind::QueueLength, f64::from(last.queued));
        set(SignalKind::RequestRate, rate);
        set(SignalKind::ErrorRate, errors);
        match histogram_quantile(0.95, &first.latency, &last.latency) {
            Some(p) => set(SignalKind::LatencyP95, p),
            None => signals.load.polled[SignalKind::LatencyP95.index()] = None,
        }
        signals.finish_poll(ts(now));
    }
}

/// PromQL's `histogram_quantile(q, increase(bucket[w]))` from two
/// snapshots: linear within the bucket, the last finite bound for `+Inf`,
/// nothing when no request completed.
fn histogram_quantile(q: f64, from: &Counts, to: &Counts) -> Option<f64> {
    let delta: Vec<u64> = to.iter().zip(from).map(|(b, a)| b - a).collect();
    let total: u64 = delta.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    for (i, &n) in delta.iter().enumerate() {
        if (below + n) as f64 >= rank && n > 0 {
            let Some(&upper) = BUCKETS.get(i) else {
                return Some(BUCKETS[BUCKETS.len() - 1]);
            };
            let lower = if i == 0 { 0.0 } else { BUCKETS[i - 1] };
            return Some(lower + (upper - lower) * (rank - below as f64) / n as f64);
        }
        below += n;
    }
    Some(BUCKETS[BUCKETS.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(t: f64) -> Timestamp {
        Timestamp::from_millis(1_000_000 + (t * 1000.0) as u64)
    }

    #[test]
    fn the_query_sees_only_what_was_scraped() {
        let mut e = Exporter::new(60.0);
        let mut s = Signals::default();
        for _ in 0..30 {
            e.request();
        }
        e.scrape(0.0, Gauges::default());
        e.query(&mut s, 1.0, ts);
        assert_eq!(s.get(SignalKind::RequestRate), Some(0.0));
        for _ in 0..30 {
            e.request();
        }
        e.query(&mut s, 14.0, ts);
        assert_eq!(s.get(SignalKind::RequestRate), Some(0.0), "not scraped yet");
        e.scrape(
            15.0,
            Gauges {
                queued: 3,
                ..Gauges::default()
            },
        );
        e.query(&mut s, 16.0, ts);
        assert_eq!(s.get(SignalKind::RequestRate), Some(2.0));
        assert_eq!(s.get(SignalKind::QueueLength), Some(3.0));
        assert_eq!(s.last_poll_activity, Some(ts(16.0)));
    }

    #[test]
    fn the_p95_is_interpolated_in_its_bucket_over_the_window_and_then_lapses() {
        let mut e = Exporter::new(60.0);
        let mut s = Signals::default();
        e.scrape(0.0, Gauges::default());
        // 90 fast requests (<= 5 ms) and 10 between 0.5 s and 1 s.
        for _ in 0..90 {
            e.completed(0.004);
        }
        for _ in 0..10 {
            e.completed(0.7);
        }
        e.scrape(15.0, Gauges::default());
        e.query(&mut s, 15.0, ts);
        let p95 = s.get(SignalKind::LatencyP95);
        // Rank 95 is the 5th of 10 in (0.5, 1]: 0.5 + 0.5 × 5/10.
        assert_eq!(p95, Some(0.75));
        e.scrape(75.1, Gauges::default());
        e.query(&mut s, 75.1, ts);
        assert_eq!(s.get(SignalKind::LatencyP95), None, "window passed");
        assert!(e.is_quiet());
    }

    #[test]
    fn a_quantile_in_the_overflow_bucket_is_the_last_bound() {
        let mut to = [0; BUCKETS.len() + 1];
        to[BUCKETS.len()] = 5;
        assert_eq!(
            histogram_quantile(0.95, &[0; BUCKETS.len() + 1], &to),
            Some(10.0)
        );
        assert_eq!(histogram_quantile(0.95, &to, &to), None);
    }
}
