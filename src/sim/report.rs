//! The report: `report.json` (for machines and golden tests) and
//! `report.md` (for people). Both are deterministic for a seed: no wall
//! clock, no host names.

use super::scenario::{
    Activation, Actuator, ControlLoop, PolicyRun, Scenario, ServerModel, Workload,
};
use super::stats::{Stats, ratio};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// What was simulated.
    pub scenario: ScenarioSummary,
    /// One entry per policy, in run order.
    pub policies: Vec<PolicyReport>,
    /// The frontier, for a `--frontier` sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontier: Option<super::frontier::Frontier>,
}

/// The scenario, as run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioSummary {
    /// Its name.
    pub name: String,
    /// Seed.
    pub seed: u64,
    /// Simulated seconds.
    pub duration_s: f64,
    /// Servers in the fleet.
    pub servers: usize,
    /// Requests in the workload.
    pub requests: u64,
    /// `synthetic` or the trace file's name and format.
    pub workload: String,
    /// Server model.
    pub server: ServerModel,
    /// Control-loop timing.
    pub control: ControlLoop,
    /// Latency objective (s).
    pub slo_latency_s: f64,
    /// Price of a replica-hour.
    pub cost_per_replica_hour: f64,
}

/// One policy's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyReport {
    /// Policy name.
    pub name: String,
    /// Sees NATS events.
    pub events: bool,
    /// How a server at zero is woken.
    pub activation: Activation,
    /// Who scales above zero.
    pub actuator: Actuator,
    /// KEDA `cooldownPeriod` used (s).
    pub cooldown_period_s: f64,
    /// HPA scale-down stabilisation window used (s).
    pub hpa_scale_down_window_s: f64,
    /// How often a `direct` actuator applied the decision (s); `None` for
    /// the HPA.
    #[serde(default)]
    pub direct_period_s: Option<f64>,
    /// Requests that arrived.
    pub requests: u64,
    /// Requests served.
    pub served: u64,
    /// ∫ replicas dt.
    pub replica_seconds: f64,
    /// replica_seconds / 3600.
    pub replica_hours: f64,
    /// replica_hours × price.
    pub cost: f64,
    /// Replica time with no request in service or queued.
    pub idle_replica_seconds: f64,
    /// idle / total replica time.
    pub idle_ratio: f64,
    /// Starts from zero that a request waited for.
    pub cold_starts: u64,
    /// Every start from zero, pre-warms included.
    pub starts_from_zero: u64,
    /// Requests that arrived while no replica was ready.
    pub cold_start_requests: u64,
    /// Latency (wait + service) quantiles of served requests.
    pub latency_p50_s: f64,
    /// p95.
    pub latency_p95_s: f64,
    /// p99.
    pub latency_p99_s: f64,
    /// Largest.
    pub latency_max_s: f64,
    /// Share of served requests that waited at all.
    pub wait_probability: f64,
    /// Mean wait of served requests.
    pub mean_wait_s: f64,
    /// (slower than the SLO + dropped) / requests.
    pub slo_violation_ratio: f64,
    /// Dropped after the queue timeout.
    pub dropped: u64,
    /// Still queued or in service at the end.
    pub unfinished: u64,
    /// Sessions opened.
    pub sessions: u64,
    /// Sessions cut by scale-in.
    pub sessions_cut: u64,
    /// Streams opened (connections held open, such as MCP's
    /// `subscriptions/listen`).
    #[serde(default)]
    pub streams: u64,
    /// Streams cut by scale-in.
    #[serde(default)]
    pub streams_cut: u64,
    /// Replica count changes.
    pub scale_events: u64,
    /// Most replicas one server had.
    pub peak_replicas: u32,
    /// Replica-hours above the oracle's (negative: fewer, paid for in cold
    /// starts); `None` when the oracle did not run.
    pub excess_replica_hours: Option<f64>,
    /// Cold starts above the oracle's.
    pub excess_cold_starts: Option<i64>,
}

impl PolicyReport {
    /// The numbers of one policy.
    pub fn new(run: &PolicyRun, s: &Stats, scenario: &Scenario) -> Self {
        let hours = s.replica_seconds() / 3600.0;
        let price = scenario.cost_per_replica_hour;
        let w = &run.wiring;
        let c = &scenario.control;
        Self {
            name: run.name.clone(),
            events: w.events,
            activation: w.activation,
            actuator: w.actuator,
            cooldown_period_s: w.cooldown_period.unwrap_or(c.cooldown_period).as_secs_f64(),
            hpa_scale_down_window_s: w
                .hpa_scale_down_window
                .unwrap_or(c.hpa_scale_down_window)
                .as_secs_f64(),
            direct_period_s: (w.actuator == Actuator::Direct)
                .then(|| c.direct_period(w).as_secs_f64()),
            requests: s.requests,
            served: s.served,
            replica_seconds: s.replica_seconds(),
            replica_hours: hours,
            cost: hours * price,
            idle_replica_seconds: s.idle_replica_seconds(),
            idle_ratio: if s.replica_us > 0 {
                s.idle_replica_seconds() / s.replica_seconds()
            } else {
                0.0
            },
            cold_starts: s.cold_starts,
            starts_from_zero: s.starts_from_zero,
            cold_start_requests: s.cold_start_requests,
            latency_p50_s: s.latency_quantile_s(0.50),
            latency_p95_s: s.latency_quantile_s(0.95),
            latency_p99_s: s.latency_quantile_s(0.99),
            latency_max_s: s.latency_quantile_s(1.0),
            wait_probability: ratio(s.waited, s.served),
            mean_wait_s: if s.served > 0 {
                s.wait_sum_s() / s.served as f64
            } else {
                0.0
            },
            slo_violation_ratio: s.slo_violation_ratio(),
            dropped: s.dropped,
            unfinished: s.unfinished,
            sessions: s.sessions,
            sessions_cut: s.sessions_cut,
            streams: s.streams,
            streams_cut: s.streams_cut,
            scale_events: s.scale_events,
            peak_replicas: s.peak_replicas,
            excess_replica_hours: None,
            excess_cold_starts: None,
        }
    }
}

impl ScenarioSummary {
    /// The scenario as run on a fleet of `servers` with `requests`.
    pub fn new(s: &Scenario, servers: usize, requests: u64) -> Self {
        let workload = match &s.workload {
            Workload::Synthetic(_) => "synthetic".to_owned(),
            Workload::Trace(t) => format!(
                "trace {} ({:?})",
                t.file
                    .file_name()
                    .map_or_else(String::new, |f| f.to_string_lossy().into_owned()),
                t.format
            )
            .to_lowercase(),
        };
        Self {
            name: s.name.clone(),
            seed: s.seed,
            duration_s: s.duration.as_secs_f64(),
            servers,
            requests,
            workload,
            server: s.server,
            control: s.control,
            slo_latency_s: s.slo_latency.as_secs_f64(),
            cost_per_replica_hour: s.cost_per_replica_hour,
        }
    }
}

impl Report {
    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s =
            serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
        s.push('\n');
        s
    }

    /// The Markdown report; `plots` are the SVG file names to embed.
    pub fn to_markdown(&self, plots: &[String]) -> String {
        let sc = &self.scenario;
        let mut md = String::new();
        let _ = writeln!(md, "# Capacity simulation: {}\n", sc.name);
        let _ = writeln!(
            md,
            "{} servers, {} simulated, {} requests ({} workload), seed {}. \
             SLO: a request is a violation if it takes longer than {} or is dropped \
             (or is still there at the end, sure to take longer).\n",
            sc.servers,
            span_text(std::time::Duration::from_secs_f64(sc.duration_s)),
            sc.requests,
            sc.workload,
            sc.seed,
            secs(sc.slo_latency_s),
        );
        md.push_str("| policy | replica-hours | cost | idle | cold starts | cold-start requests | p50 | p95 | p99 | SLO violations | dropped | sessions cut | streams cut | scale events |\n");
        md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for p in &self.policies {
            let _ = writeln!(
                md,
                "| {} | {:.1} | {:.2} | {:.0}% | {} | {} | {} | {} | {} | {:.3}% | {} | {} | {} | {} |",
                p.name,
                p.replica_hours,
                p.cost,
                p.idle_ratio * 100.0,
                p.cold_starts,
                p.cold_start_requests,
                secs(p.latency_p50_s),
                secs(p.latency_p95_s),
                secs(p.latency_p99_s),
                p.slo_violation_ratio * 100.0,
                p.dropped,
                p.sessions_cut,
                p.streams_cut,
                p.scale_events,
            );
        }
        md.push('\n');
        self.highlights(&mut md);
        self.oracle_section(&mut md);
        self.frontier_section(&mut md);
        for plot in plots {
            let _ = writeln!(md, "![{plot}]({plot})\n");
        }
        self.model_notes(&mut md);
        md
    }

    fn highlights(&self, md: &mut String) {
        let cheapest = self
            .policies
            .iter()
            .min_by(|a, b| a.cost.total_cmp(&b.cost));
        let best = self
            .policies
            .iter()
            .min_by(|a, b| a.slo_violation_ratio.total_cmp(&b.slo_violation_ratio));
        if let (Some(c), Some(b)) = (cheapest, best) {
            let _ = writeln!(
                md,
                "Cheapest: **{}** ({:.1} replica-hours, {:.3}% SLO violations). \
                 Fewest SLO violations: **{}** ({:.3}%, {:.1} replica-hours).\n",
                c.name,
                c.replica_hours,
                c.slo_violation_ratio * 100.0,
                b.name,
                b.slo_violation_ratio * 100.0,
                b.replica_hours
            );
        }
    }

    fn model_notes(&self, md: &mut String) {
        let c = &self.scenario.control;
        let s = &self.scenario.server;
        let d = |x: std::time::Duration| humantime::format_duration(x).to_string();
        let _ = writeln!(md, "## Model\n");
        let _ = writeln!(
            md,
            "- Server: {} concurrent requests per replica, mean service time {} (cv {}), \
             cold start {}, queue timeout {}.",
            s.concurrency,
            d(s.service_time),
            s.service_cv,
            d(s.cold_start),
            d(s.queue_timeout)
        );
        let _ = writeln!(
            md,
            "- Prometheus scrapes every {} and the scaler queries every {} (rate window {}); \
             NATS events reach the engine at once.",
            d(c.scrape_interval),
            d(c.query_interval),
            d(c.rate_window)
        );
        let _ = writeln!(
            md,
            "- KEDA polls every {}; the HPA syncs every {} with tolerance {}; direct \
             actuators tick every {} unless the table says otherwise. Per policy:\n",
            d(c.polling_interval),
            d(c.hpa_sync_period),
            c.hpa_tolerance,
            d(c.direct_period)
        );
        md.push_str(
            "| policy | NATS events | wake | actuator | KEDA cooldown | HPA scale-down window |\n",
        );
        md.push_str("|---|---|---|---|---:|---:|\n");
        for p in &self.policies {
            let (cooldown, window) = match p.actuator {
                Actuator::Hpa => (
                    format!("{} s", p.cooldown_period_s),
                    format!("{} s", p.hpa_scale_down_window_s),
                ),
                Actuator::Direct => ("n/a".to_owned(), "n/a".to_owned()),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {:?} | {} | {cooldown} | {window} |",
                p.name,
                if p.events { "yes" } else { "no" },
                p.activation,
                p.direct_period_s
                    .map_or_else(|| "Hpa".to_owned(), |s| format!("Direct every {s} s")),
            );
        }
    }
}

/// Seconds for people: `850 ms`, `2.31 s`.
fn secs(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

/// A run's length as people count it: days past four weeks stay days
/// (humantime would say "1month 13h 26m 24s" for 31 days).
pub fn span_text(d: std::time::Duration) -> String {
    const DAY: u64 = 86_400;
    let days = d.as_secs() / DAY;
    if days < 28 {
        return humantime::format_duration(d).to_string();
    }
    let rest = d.saturating_sub(std::time::Duration::from_secs(days * DAY));
    if rest.is_zero() {
        format!("{days}days")
    } else {
        format!("{days}days {}", humantime::format_duration(rest))
    }
}

#[cfg(test)]
mod tests {
    use super::span_text;
    use std::time::Duration;

    #[test]
    fn a_long_run_is_counted_in_days_not_months() {
        let day = 86_400;
        assert_eq!(span_text(Duration::from_secs(31 * day)), "31days");
        assert_eq!(span_text(Duration::from_secs(28 * day + 60)), "28days 1m");
        assert_eq!(span_text(Duration::from_secs(day)), "1day");
        assert_eq!(span_text(Duration::from_secs(3 * 3600 + 60)), "3h 1m");
    }
}
