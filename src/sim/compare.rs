//! Every policy against the limit: the clairvoyant `oracle` has no cold
//! start at the least replica time its sizing allows, so what a policy
//! spends above it (replica-hours) and the cold starts it has are what a
//! better keep-alive could still win.

use super::report::{PolicyReport, Report};
use super::scenario::ORACLE;
use std::fmt::Write as _;

/// Fills each policy's excess over the oracle, when the oracle ran.
pub fn against_oracle(policies: &mut [PolicyReport]) {
    let Some(oracle) = policies.iter().find(|p| p.name == ORACLE) else {
        return;
    };
    let (hours, cold) = (oracle.replica_hours, oracle.cold_starts);
    for p in policies.iter_mut() {
        p.excess_replica_hours = Some(p.replica_hours - hours);
        p.excess_cold_starts = Some(signed(p.cold_starts) - signed(cold));
    }
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Share of `reference`'s excess replica-hours over the oracle that `p`
/// removes (1 = all of it; above 1: cheaper than the oracle). `None` when
/// the reference has no excess to remove.
pub fn excess_removed(p: &PolicyReport, reference: &PolicyReport) -> Option<f64> {
    let (mine, theirs) = (p.excess_replica_hours?, reference.excess_replica_hours?);
    (theirs > 0.0).then(|| 1.0 - mine / theirs)
}

impl Report {
    /// The Markdown section comparing every policy with the oracle.
    pub fn oracle_section(&self, md: &mut String) {
        let Some(oracle) = self.policies.iter().find(|p| p.name == ORACLE) else {
            return;
        };
        let _ = writeln!(
            md,
            "## Against the oracle\n\n\
             The oracle knows each server's next arrival: it releases a server \
             once its work is done whenever the next arrival is more than a cold \
             start away, and starts it again exactly one cold start before that \
             arrival, sized like `default`. It uses {:.1} replica-hours with {} \
             cold starts. It bounds policies that size like `default`: those \
             that use fewer replica-hours pay for them in cold starts. A policy \
             that sizes otherwise (a different target or stabilisation) can \
             use fewer replica-hours than the oracle.\n",
            oracle.replica_hours, oracle.cold_starts
        );
        md.push_str("| policy | replica-hours over the oracle | cold starts over the oracle |\n");
        md.push_str("|---|---:|---:|\n");
        for p in self.policies.iter().filter(|p| p.name != ORACLE) {
            let (Some(h), Some(c)) = (p.excess_replica_hours, p.excess_cold_starts) else {
                continue;
            };
            let pct = if oracle.replica_hours > 0.0 {
                format!(" ({:+.0}%)", h / oracle.replica_hours * 100.0)
            } else {
                String::new()
            };
            let _ = writeln!(md, "| {} | {h:+.1}{pct} | {c:+} |", p.name);
        }
        md.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(name: &str, hours: f64, cold: u64) -> PolicyReport {
        let mut p: PolicyReport = serde_json::from_value(serde_json::json!({
            "name": name, "events": true, "activation": "push", "actuator": "hpa",
            "cooldown_period_s": 0.0, "hpa_scale_down_window_s": 0.0,
            "requests": 0, "served": 0, "replica_seconds": 0.0, "replica_hours": hours,
            "cost": 0.0, "idle_replica_seconds": 0.0, "idle_ratio": 0.0,
            "cold_starts": cold, "starts_from_zero": cold, "cold_start_requests": 0,
            "latency_p50_s": 0.0, "latency_p95_s": 0.0, "latency_p99_s": 0.0,
            "latency_max_s": 0.0, "wait_probability": 0.0, "mean_wait_s": 0.0,
            "slo_violation_ratio": 0.0, "dropped": 0, "unfinished": 0, "sessions": 0,
            "sessions_cut": 0, "scale_events": 0, "peak_replicas": 1,
            "excess_replica_hours": null, "excess_cold_starts": null
        }))
        .expect("a policy report");
        p.replica_hours = hours;
        p
    }

    #[test]
    fn excess_is_measured_from_the_oracle_and_shares_follow() {
        let mut ps = vec![
            report("keep-alive-10m", 30.0, 100),
            report("default", 15.0, 40),
            report(ORACLE, 10.0, 0),
        ];
        against_oracle(&mut ps);
        assert_eq!(ps[0].excess_replica_hours, Some(20.0));
        assert_eq!(ps[1].excess_cold_starts, Some(40));
        assert_eq!(ps[2].excess_replica_hours, Some(0.0));
        assert_eq!(excess_removed(&ps[1], &ps[0]), Some(0.75));
        assert_eq!(excess_removed(&ps[0], &ps[2]), None);
    }

    #[test]
    fn without_the_oracle_nothing_is_filled() {
        let mut ps = vec![report("default", 15.0, 40)];
        against_oracle(&mut ps);
        assert_eq!(ps[0].excess_replica_hours, None);
    }
}
