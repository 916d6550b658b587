//! What one policy did to one server (and, merged, to the fleet).

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latencies are recorded in microseconds, 3 significant digits, up to 1 day.
const LATENCY_MAX_US: u64 = 86_400_000_000;

/// Seconds (≥ 0, finite) as whole microseconds.
pub fn micros(s: f64) -> u64 {
    round_to_u64(s * 1e6)
}

/// `x.round() as u64` (halves away from zero; negative and NaN → 0), without
/// the library call `round` is on a baseline x86-64 build: the simulator
/// rounds several times per request.
pub fn round_to_u64(x: f64) -> u64 {
    /// 2^63: from here on, every f64 is a whole number beyond `i64`.
    const SIGNED_LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if x.is_nan() || x <= 0.0 {
        return 0;
    }
    if x >= SIGNED_LIMIT {
        return x as u64;
    }
    // Signed conversions are one instruction each way (unsigned ones are
    // several). Exact below 2^52; from there on every f64 is a whole
    // number. No branch: which way a time rounds is a coin toss the CPU
    // cannot predict.
    let whole = x as i64;
    let up = i64::from(x - whole as f64 >= 0.5);
    u64::try_from(whole + up).unwrap_or(0)
}

/// Counters and integrals of one simulated run. Every total is an integer
/// or a maximum, so merging is exact in any order and a sharded run's
/// partials (which carry these, serialised) add up to the unsharded run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Requests that arrived.
    pub requests: u64,
    /// Requests served.
    pub served: u64,
    /// Requests dropped after the queue timeout.
    pub dropped: u64,
    /// Requests still in the system at the end (neither served nor dropped).
    pub unfinished: u64,
    /// Of those, the ones already sure to miss the SLO (in service past it
    /// from arrival to end, or waiting past it): violations all the same.
    pub unfinished_late: u64,
    /// Requests that arrived while no replica was ready.
    pub cold_start_requests: u64,
    /// Served requests slower than the SLO.
    pub slow: u64,
    /// Served requests that waited at all.
    pub waited: u64,
    /// Sum of waits of served requests (µs).
    pub wait_sum_us: u64,
    /// Starts from zero that a request waited for (however many waited).
    pub cold_starts: u64,
    /// Every start from zero replicas, pre-warms included.
    pub starts_from_zero: u64,
    /// Changes of the replica count.
    pub scale_events: u64,
    /// ∫ replicas dt (pods count from creation), in replica-µs. Integers:
    /// sums are exact in any order, so a sharded run adds up to exactly
    /// the unsharded one.
    pub replica_us: u64,
    /// ∫ replicas dt while no request was in service or queued (replica-µs).
    pub idle_replica_us: u64,
    /// Most replicas at once.
    pub peak_replicas: u32,
    /// Sessions opened.
    pub sessions: u64,
    /// Sessions whose replica was removed under them.
    pub sessions_cut: u64,
    /// Streams opened.
    pub streams: u64,
    /// Streams whose replica was removed under them.
    pub streams_cut: u64,
    /// Engine decisions made.
    pub decisions: u64,
    /// Latency (wait + service) of served requests, µs.
    #[serde(with = "buckets")]
    pub latency_us: Histogram<u64>,
}

/// A latency histogram as its recorded buckets: (value µs, count).
mod buckets {
    use super::{Histogram, LATENCY_MAX_US};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(h: &Histogram<u64>, s: S) -> Result<S::Ok, S::Error> {
        let pairs: Vec<(u64, u64)> = h
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        pairs.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Histogram<u64>, D::Error> {
        let pairs = Vec::<(u64, u64)>::deserialize(d)?;
        let mut h = Histogram::new_with_max(LATENCY_MAX_US, 3).map_err(serde::de::Error::custom)?;
        for (value, count) in pairs {
            h.saturating_record_n(value, count);
        }
        Ok(h)
    }
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            requests: 0,
            served: 0,
            dropped: 0,
            unfinished: 0,
            unfinished_late: 0,
            cold_start_requests: 0,
            slow: 0,
            waited: 0,
            wait_sum_us: 0,
            cold_starts: 0,
            starts_from_zero: 0,
            scale_events: 0,
            replica_us: 0,
            idle_replica_us: 0,
            peak_replicas: 0,
            sessions: 0,
            sessions_cut: 0,
            streams: 0,
            streams_cut: 0,
            decisions: 0,
            latency_us: Histogram::new_with_max(LATENCY_MAX_US, 3).expect("valid histogram bounds"),
        }
    }
}

impl Stats {
    /// Records a served request.
    pub fn served(&mut self, wait: f64, service: f64, slo: f64) {
        self.served += 1;
        let latency = wait + service;
        if wait > 0.0 {
            self.waited += 1;
            self.wait_sum_us += micros(wait);
        }
        if latency > slo {
            self.slow += 1;
        }
        let us = round_to_u64(latency * 1e6).clamp(1, LATENCY_MAX_US);
        self.latency_us.saturating_record(us);
    }

    /// ∫ replicas dt in replica-seconds.
    pub fn replica_seconds(&self) -> f64 {
        self.replica_us as f64 / 1e6
    }

    /// Idle replica-seconds.
    pub fn idle_replica_seconds(&self) -> f64 {
        self.idle_replica_us as f64 / 1e6
    }

    /// Sum of waits of served requests (s).
    pub fn wait_sum_s(&self) -> f64 {
        self.wait_sum_us as f64 / 1e6
    }

    /// Adds `other` into `self` (saturating: a partial report read from a
    /// file may hold anything).
    pub fn merge(&mut self, other: &Stats) {
        self.requests = self.requests.saturating_add(other.requests);
        self.served = self.served.saturating_add(other.served);
        self.dropped = self.dropped.saturating_add(other.dropped);
        self.unfinished = self.unfinished.saturating_add(other.unfinished);
        self.unfinished_late = self.unfinished_late.saturating_add(other.unfinished_late);
        self.cold_start_requests = self
            .cold_start_requests
            .saturating_add(other.cold_start_requests);
        self.slow = self.slow.saturating_add(other.slow);
        self.waited = self.waited.saturating_add(other.waited);
        self.wait_sum_us = self.wait_sum_us.saturating_add(other.wait_sum_us);
        self.cold_starts = self.cold_starts.saturating_add(other.cold_starts);
        self.starts_from_zero = self.starts_from_zero.saturating_add(other.starts_from_zero);
        self.scale_events = self.scale_events.saturating_add(other.scale_events);
        self.replica_us = self.replica_us.saturating_add(other.replica_us);
        self.idle_replica_us = self.idle_replica_us.saturating_add(other.idle_replica_us);
        self.peak_replicas = self.peak_replicas.max(other.peak_replicas);
        self.sessions = self.sessions.saturating_add(other.sessions);
        self.sessions_cut = self.sessions_cut.saturating_add(other.sessions_cut);
        self.streams = self.streams.saturating_add(other.streams);
        self.streams_cut = self.streams_cut.saturating_add(other.streams_cut);
        self.decisions = self.decisions.saturating_add(other.decisions);
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency_us.add(&other.latency_us);
    }

    /// Latency quantile in seconds (0 when nothing was served).
    pub fn latency_quantile_s(&self, q: f64) -> f64 {
        if self.latency_us.is_empty() {
            return 0.0;
        }
        self.latency_us.value_at_quantile(q) as f64 / 1e6
    }

    /// Share of requests that were slower than the SLO, dropped, or still
    /// there at the end and sure to miss it.
    pub fn slo_violation_ratio(&self) -> f64 {
        let missed = self.slow.saturating_add(self.dropped);
        ratio(missed.saturating_add(self.unfinished_late), self.requests)
    }

    /// Whether these totals could come from a run: every request served,
    /// dropped or unfinished, no part larger than its whole, and no sum
    /// saturated. A partial report edited by hand is refused rather than
    /// added up.
    pub fn consistency(&self) -> Result<(), String> {
        let accounted = self
            .served
            .checked_add(self.dropped)
            .and_then(|n| n.checked_add(self.unfinished));
        if accounted != Some(self.requests) {
            return Err(format!(
                "{} served, {} dropped and {} unfinished do not add up to the {} requests",
                self.served, self.dropped, self.unfinished, self.requests
            ));
        }
        let parts = [
            (self.slow, self.served, "slow requests", "served ones"),
            (
                self.unfinished_late,
                self.unfinished,
                "late unfinished requests",
                "unfinished ones",
            ),
            (
                self.waited,
                self.served,
                "requests that waited",
                "served ones",
            ),
            (
                self.latency_us.len(),
                self.served,
                "latencies",
                "served requests",
            ),
            (
                self.cold_start_requests,
                self.requests,
                "cold-start requests",
                "requests",
            ),
            (
                self.idle_replica_us,
                self.replica_us,
                "idle replica-time",
                "replica-time",
            ),
        ];
        // (Cold starts may outnumber starts from zero, a request meeting a
        // cold server just before the end, and cuts live work, a session or stream cut
        // again after it reconnected: neither is a part of the other.)
        // Sums saturate: a total at the top of its range overflowed.
        let sums = [
            self.requests,
            self.cold_starts,
            self.starts_from_zero,
            self.scale_events,
            self.replica_us,
            self.wait_sum_us,
            self.sessions,
            self.sessions_cut,
            self.streams,
            self.streams_cut,
            self.decisions,
        ];
        if sums.contains(&u64::MAX) {
            return Err("totals past what a count holds".into());
        }
        match parts.iter().find(|(part, whole, ..)| part > whole) {
            Some((part, whole, what, of)) => Err(format!("{part} {what} but only {whole} {of}")),
            None => Ok(()),
        }
    }
}

/// `a / b`, 0 when `b` is 0.
pub fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Load and replicas of one server over time, in fixed buckets.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// Bucket width in seconds.
    pub bucket_s: f64,
    /// Requests arriving in each bucket.
    pub requests: Vec<u32>,
    /// Most replicas (pods, ready or not) in each bucket.
    pub replicas: Vec<u32>,
}

impl Timeline {
    /// Empty buckets covering `horizon` seconds.
    pub fn new(horizon: f64, buckets: usize) -> Self {
        let n = buckets.max(1);
        Self {
            bucket_s: horizon / n as f64,
            requests: vec![0; n],
            replicas: vec![0; n],
        }
    }

    fn index(&self, t: f64) -> usize {
        ((t / self.bucket_s) as usize).min(self.requests.len() - 1)
    }

    /// A request at `t`.
    pub fn request(&mut self, t: f64) {
        let i = self.index(t);
        self.requests[i] += 1;
    }

    /// `replicas` held over `[from, to)`.
    pub fn replicas(&mut self, from: f64, to: f64, replicas: u32) {
        if replicas == 0 {
            return;
        }
        let a = self.index(from);
        let b = if to > from { self.index(to - 1e-9) } else { a };
        for r in &mut self.replicas[a..=b] {
            *r = (*r).max(replicas);
        }
    }
}

#[cfg(test)]
mod rounding_tests {
    use super::round_to_u64;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn rounds_like_the_library(x in 0.0f64..1e15) {
            prop_assert_eq!(round_to_u64(x), x.round() as u64);
        }

        #[test]
        fn rounds_like_the_library_over_every_f64(x in any::<f64>()) {
            prop_assert_eq!(round_to_u64(x), x.round() as u64);
        }
    }

    #[test]
    fn halves_go_up_and_the_odd_cases_hold() {
        for (x, want) in [
            (0.5, 1),
            (1.5, 2),
            (2.5, 3),
            (0.499_999_999_999_999_94, 0),
            (4_503_599_627_370_495.0, 4_503_599_627_370_495),
            (9_223_372_036_854_774_784.0, 9_223_372_036_854_774_784),
            (9_223_372_036_854_775_808.0, 9_223_372_036_854_775_808),
            (1e300, u64::MAX),
            (-3.0, 0),
            (f64::NAN, 0),
            (f64::INFINITY, u64::MAX),
        ] {
            assert_eq!(round_to_u64(x), want, "{x}");
        }
    }
}
