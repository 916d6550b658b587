//! The range checks of a scenario: every number and duration it takes
//! is bounded, and an error names the value's full path.

use super::scenario::{Scenario, Workload};
use super::workload::Synthetic;
use std::time::Duration;

/// The longest run: a month.
pub const MAX_DURATION: Duration = Duration::from_secs(31 * 24 * 3600);

impl Scenario {
    /// The first value out of range, as (path, what is allowed).
    pub(super) fn check_ranges(&self) -> Result<(), (String, String)> {
        let err = |f: &str, m: &str| Err((f.to_owned(), m.to_owned()));
        if self.duration < Duration::from_secs(60) || self.duration > MAX_DURATION {
            return err("duration", "must be between 1m and 31d");
        }
        let s = &self.server;
        if s.concurrency == 0 || s.concurrency > 10_000 {
            return err("server.concurrency", "must be 1..=10000");
        }
        if !(s.service_cv.is_finite() && (0.0..=10.0).contains(&s.service_cv)) {
            return err("server.service_cv", "must be between 0 and 10");
        }
        // Times a request or a pod takes: above 0 (a cold start may be 0),
        // at most an hour.
        for (field, d, zero) in [
            ("server.service_time", s.service_time, false),
            ("server.queue_timeout", s.queue_timeout, false),
            ("server.cold_start", s.cold_start, true),
            ("slo_latency", self.slo_latency, false),
        ] {
            if d > HOUR {
                return err(field, "must be at most 1h");
            }
            if d.is_zero() && !zero {
                return err(field, "must be above 0");
            }
        }
        let c = &self.control;
        for (field, d) in [
            ("control.scrape_interval", c.scrape_interval),
            ("control.query_interval", c.query_interval),
            ("control.rate_window", c.rate_window),
            ("control.polling_interval", c.polling_interval),
            ("control.hpa_sync_period", c.hpa_sync_period),
            ("control.direct_period", c.direct_period),
        ] {
            check_period(field, d)?;
        }
        check_keda_waits(
            "control",
            Some(c.cooldown_period),
            Some(c.hpa_scale_down_window),
        )?;
        if c.scrape_interval > HOUR / 2 {
            // The rate window covers two scrapes and is at most an hour.
            return err("control.scrape_interval", "must be from 100ms to 30m");
        }
        if c.rate_window < c.scrape_interval * 2 {
            return err(
                "control.rate_window",
                "must cover at least two scrape intervals",
            );
        }
        if !(c.hpa_tolerance.is_finite() && (0.0..1.0).contains(&c.hpa_tolerance)) {
            return err("control.hpa_tolerance", "must be in [0, 1)");
        }
        if !(self.cost_per_replica_hour.is_finite()
            && (0.0..=MAX_PRICE).contains(&self.cost_per_replica_hour))
        {
            return err("cost_per_replica_hour", "must be a number in 0..=1000000");
        }
        if let Workload::Synthetic(w) = &self.workload {
            check_synthetic(w)?;
        }
        if self.timeline.count > 20 {
            return err("timeline.count", "must be at most 20");
        }
        let servers = &self.timeline.servers;
        if servers.len() > 20 {
            return err("timeline.servers", "must name at most 20 servers");
        }
        if let Some((_, twice)) = crate::lists::first_repeated(servers) {
            return Err((
                "timeline.servers".into(),
                format!("`{twice}` is listed twice; name each server once"),
            ));
        }
        Ok(())
    }
}

const HOUR: Duration = Duration::from_secs(3600);

/// A control loop's period: 100 ms to an hour.
pub(super) fn check_period(field: &str, d: Duration) -> Result<(), (String, String)> {
    if d < Duration::from_millis(100) || d > HOUR {
        return Err((field.to_owned(), "must be from 100ms to 1h".into()));
    }
    Ok(())
}

/// KEDA's `cooldownPeriod` (at most a day) and the HPA's scale-down
/// window (at most an hour, as Kubernetes allows), under `prefix`.
pub(super) fn check_keda_waits(
    prefix: &str,
    cooldown: Option<Duration>,
    window: Option<Duration>,
) -> Result<(), (String, String)> {
    if cooldown.is_some_and(|d| d > 24 * HOUR) {
        return Err((
            format!("{prefix}.cooldown_period"),
            "must be at most 24h".into(),
        ));
    }
    if window.is_some_and(|d| d > HOUR) {
        return Err((
            format!("{prefix}.hpa_scale_down_window"),
            "must be at most 1h, as an HPA's stabilizationWindowSeconds".into(),
        ));
    }
    Ok(())
}

/// Highest price of a replica-hour (any currency): beyond it totals lose
/// their digits.
const MAX_PRICE: f64 = 1_000_000.0;

/// Most requests of open sessions one synthetic server may hold at its peak
/// rate (about 24 bytes each).
const MAX_PENDING_REQUESTS: f64 = 10_000_000.0;

fn check_synthetic(w: &Synthetic) -> Result<(), (String, String)> {
    let err = |f: &str, m: &str| Err((format!("workload.synthetic.{f}"), m.to_owned()));
    if w.servers == 0 || w.servers > 1_000_000 {
        return err("servers", "must be 1..=1000000");
    }
    for (f, v) in [
        ("rate_log_mean", w.rate_log_mean),
        ("rate_log_sd", w.rate_log_sd),
        ("diurnal_amplitude", w.diurnal_amplitude),
    ] {
        if !v.is_finite() {
            return err(f, "must be a finite number");
        }
    }
    if w.rate_log_sd < 0.0 {
        return err("rate_log_sd", "must be >= 0");
    }
    if !(w.max_rate_per_s.is_finite() && w.max_rate_per_s > 0.0 && w.max_rate_per_s <= 10_000.0) {
        return err("max_rate_per_s", "must be in (0, 10000]");
    }
    if !(0.0..=1.0).contains(&w.diurnal_amplitude) {
        return err("diurnal_amplitude", "must be in [0, 1]");
    }
    // Each burst is one more process to draw, and a busy session holds its
    // events until they are taken: both are bounded.
    if !(w.bursts.per_hour.is_finite() && (0.0..=60.0).contains(&w.bursts.per_hour)) {
        return err("bursts.per_hour", "must be in [0, 60]");
    }
    if !(w.bursts.factor.is_finite() && (1.0..=1000.0).contains(&w.bursts.factor)) {
        return err("bursts.factor", "must be in [1, 1000]");
    }
    if !(0.0..=1.0).contains(&w.sessions.server_fraction) {
        return err("sessions.server_fraction", "must be in [0, 1]");
    }
    if !(w.sessions.requests.is_finite() && (1.0..=10_000.0).contains(&w.sessions.requests)) {
        return err("sessions.requests", "must be in [1, 10000]");
    }
    if !(Duration::from_secs(1)..=Duration::from_secs(86_400)).contains(&w.sessions.mean_duration) {
        return err("sessions.mean_duration", "must be in [1s, 24h]");
    }
    // An open session holds its requests until they come: about peak rate
    // × mean duration events per server wait in memory.
    let peak_rate = w.max_rate_per_s * w.bursts.factor * (1.0 + w.diurnal_amplitude);
    if w.sessions.server_fraction > 0.0
        && peak_rate * w.sessions.mean_duration.as_secs_f64() > MAX_PENDING_REQUESTS
    {
        return err(
            "sessions.mean_duration",
            &format!(
                "with max_rate_per_s × bursts.factor × (1 + diurnal_amplitude) = {peak_rate} \
                 requests/s, sessions this long would hold more than {MAX_PENDING_REQUESTS} \
                 requests of one server in memory; shorten it or lower the rate"
            ),
        );
    }
    let p = &w.periodic;
    if !(0.0..=1.0).contains(&p.server_fraction) {
        return err("periodic.server_fraction", "must be in [0, 1]");
    }
    if !(p.requests.is_finite() && (1.0..=10_000.0).contains(&p.requests)) {
        return err("periodic.requests", "must be in [1, 10000]");
    }
    let hour = Duration::from_secs(3600);
    if p.run_length > hour {
        return err("periodic.run_length", "must be at most 1h");
    }
    if p.jitter > hour {
        return err("periodic.jitter", "must be at most 1h");
    }
    check_streams(w)
}

/// Most streams one synthetic server may hold open at its peak rate (each
/// waits in memory for its close, and its pod keeps a count).
const MAX_OPEN_STREAMS: f64 = 1_000_000.0;

/// Most streams one synthetic server may open a second at its peak rate
/// (the highest request rate allowed: each is drawn before the run).
const MAX_STREAM_RATE: f64 = 10_000.0;

fn check_streams(w: &Synthetic) -> Result<(), (String, String)> {
    let err = |f: &str, m: &str| Err((format!("workload.synthetic.streams.{f}"), m.to_owned()));
    let s = &w.streams;
    if !(0.0..=1.0).contains(&s.server_fraction) {
        return err("server_fraction", "must be in [0, 1]");
    }
    if !(s.per_request.is_finite() && (0.0..=100.0).contains(&s.per_request)) {
        return err("per_request", "must be in [0, 100]");
    }
    if !(Duration::from_secs(1)..=Duration::from_secs(86_400)).contains(&s.mean_duration) {
        return err("mean_duration", "must be in [1s, 24h]");
    }
    let peak = w.max_rate_per_s * (1.0 + w.diurnal_amplitude) * s.per_request;
    if s.server_fraction > 0.0 && peak > MAX_STREAM_RATE {
        return err(
            "per_request",
            &format!(
                "with max_rate_per_s × (1 + diurnal_amplitude) = {} requests/s, streams \
                 would open at up to {peak}/s on one server, over {MAX_STREAM_RATE}/s",
                w.max_rate_per_s * (1.0 + w.diurnal_amplitude)
            ),
        );
    }
    if s.server_fraction > 0.0 && peak * s.mean_duration.as_secs_f64() > MAX_OPEN_STREAMS {
        return err(
            "mean_duration",
            &format!(
                "with max_rate_per_s × (1 + diurnal_amplitude) × per_request = {peak} \
                 streams/s, streams this long would hold more than {MAX_OPEN_STREAMS} open \
                 on one server; shorten it or lower the rate"
            ),
        );
    }
    Ok(())
}
