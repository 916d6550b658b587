//! The frontier: cold starts against replica-hours for fixed keep-alive
//! windows and for the cost-aware keep-alive at several prices, with the
//! oracle as the corner no real policy reaches.
//!
//! `simulate --frontier` runs `default`'s sizing under fixed windows of 1,
//! 2, 5, 10, 20, 30 and 60 minutes and under cost-aware keep-alive priced
//! at 1 minute to 2 hours per cold start, then says which fixed windows the
//! cost-aware curve dominates. A fleet can mix two prices server by server,
//! so every point on the straight line between two neighbouring cost-aware
//! points is within reach too: a fixed window above that line is beaten.

use super::report::{PolicyReport, Report};
use super::scenario::{ORACLE, PolicyRun, Scenario, SweepRole};
use crate::engine::{CostAware, KeepAlive, Policy};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::time::Duration;

/// Fixed keep-alive windows swept (minutes).
pub const WINDOWS_MIN: [u64; 7] = [1, 2, 5, 10, 20, 30, 60];
/// Cold-start prices swept (minutes of replica time).
pub const PRICES_MIN: [u64; 8] = [1, 2, 5, 10, 20, 30, 60, 120];

const FIXED_PREFIX: &str = "keep-alive-";
const PRICED_PREFIX: &str = "cost-aware-";

/// The policies of a frontier sweep over `base`'s sizing, oracle last.
pub fn runs(scenario: &Scenario, base: &Policy) -> Vec<PolicyRun> {
    let minutes = |m: u64| Duration::from_secs(m * 60);
    let fixed = WINDOWS_MIN.iter().map(|&w| {
        let policy = Policy {
            keep_alive: KeepAlive::Fixed,
            idle_window: minutes(w),
            ..base.clone()
        };
        PolicyRun {
            sweep: Some(SweepRole::Fixed),
            ..scenario.run_for(&format!("{FIXED_PREFIX}{w}m"), policy)
        }
    });
    let priced = PRICES_MIN.iter().map(|&p| {
        let learned = match base.keep_alive {
            KeepAlive::CostAware(c) => c,
            _ => CostAware::default(),
        };
        let policy = Policy {
            keep_alive: KeepAlive::CostAware(CostAware {
                cold_start_cost: minutes(p),
                ..learned
            }),
            ..base.clone()
        };
        PolicyRun {
            sweep: Some(SweepRole::Priced),
            ..scenario.run_for(&format!("{PRICED_PREFIX}{p}m"), policy)
        }
    });
    let oracle = scenario.run_for(ORACLE, base.clone());
    fixed.chain(priced).chain([oracle]).collect()
}

/// One policy on the chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Policy name.
    pub name: String,
    /// Replica-hours.
    pub replica_hours: f64,
    /// Cold starts.
    pub cold_starts: u64,
}

impl Point {
    fn of(p: &PolicyReport) -> Self {
        Self {
            name: p.name.clone(),
            replica_hours: p.replica_hours,
            cold_starts: p.cold_starts,
        }
    }
}

/// What the sweep found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frontier {
    /// Fixed windows, shortest first.
    pub fixed: Vec<Point>,
    /// Cost-aware prices, cheapest price first.
    pub cost_aware: Vec<Point>,
    /// The oracle.
    pub oracle: Option<Point>,
    /// Fixed windows the cost-aware curve dominates.
    pub dominated: Vec<String>,
}

impl Frontier {
    /// The frontier of a report's policies (in the order of `runs`), when
    /// the runs hold a sweep.
    pub fn of(runs: &[PolicyRun], policies: &[PolicyReport]) -> Option<Self> {
        let pick = |role: SweepRole| -> Vec<Point> {
            runs.iter()
                .zip(policies)
                .filter(|(r, _)| r.sweep == Some(role))
                .map(|(_, p)| Point::of(p))
                .collect()
        };
        let (fixed, cost_aware) = (pick(SweepRole::Fixed), pick(SweepRole::Priced));
        if fixed.is_empty() || cost_aware.is_empty() {
            return None;
        }
        let dominated = fixed
            .iter()
            .filter(|f| curve_beats(&cost_aware, f))
            .map(|f| f.name.clone())
            .collect();
        Some(Self {
            fixed,
            cost_aware,
            oracle: policies.iter().find(|p| p.name == ORACLE).map(Point::of),
            dominated,
        })
    }
}

/// Whether some cost-aware point, or the line between two, has no more
/// replica-hours and fewer cold starts than `f` (or fewer replica-hours and
/// no more cold starts).
fn curve_beats(curve: &[Point], f: &Point) -> bool {
    let at_most = |p: &Point| p.replica_hours <= f.replica_hours && p.cold_starts <= f.cold_starts;
    let strictly = |p: &Point| p.replica_hours < f.replica_hours || p.cold_starts < f.cold_starts;
    if curve.iter().any(|p| at_most(p) && strictly(p)) {
        return true;
    }
    let mut sorted: Vec<&Point> = curve.iter().collect();
    sorted.sort_by(|a, b| a.replica_hours.total_cmp(&b.replica_hours));
    sorted.windows(2).any(|w| {
        let (a, b) = (w[0], w[1]);
        let span = b.replica_hours - a.replica_hours;
        if span <= 0.0 || !(a.replica_hours..=b.replica_hours).contains(&f.replica_hours) {
            return false;
        }
        let share = (f.replica_hours - a.replica_hours) / span;
        let line = a.cold_starts as f64 + share * (b.cold_starts as f64 - a.cold_starts as f64);
        line < f.cold_starts as f64
    })
}

impl Report {
    /// The Markdown section on the frontier, when the report holds one.
    pub fn frontier_section(&self, md: &mut String) {
        let Some(f) = &self.frontier else {
            return;
        };
        md.push_str("## Frontier\n\n![frontier.svg](frontier.svg)\n\n");
        md.push_str("| keep-alive | replica-hours | cold starts |\n|---|---:|---:|\n");
        for p in f.fixed.iter().chain(&f.cost_aware).chain(&f.oracle) {
            let _ = writeln!(
                md,
                "| {} | {:.1} | {} |",
                p.name, p.replica_hours, p.cold_starts
            );
        }
        let beaten = if f.dominated.is_empty() {
            "none".to_owned()
        } else {
            f.dominated.join(", ")
        };
        let kept: Vec<&str> = f
            .fixed
            .iter()
            .filter(|p| !f.dominated.contains(&p.name))
            .map(|p| p.name.as_str())
            .collect();
        let _ = writeln!(
            md,
            "\nThe cost-aware curve (its points, and the straight lines between \
             neighbouring prices, which a fleet reaches by mixing two prices) \
             dominates these fixed windows: **{beaten}**. Not dominated: {}.\n",
            if kept.is_empty() {
                "none".to_owned()
            } else {
                kept.join(", ")
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, hours: f64, cold: u64) -> Point {
        Point {
            name: name.to_owned(),
            replica_hours: hours,
            cold_starts: cold,
        }
    }

    #[test]
    fn a_window_above_the_line_between_two_prices_is_dominated() {
        let curve = [p("c1", 100.0, 1000), p("c2", 200.0, 200)];
        // On the line at 150 h: 600 cold starts.
        assert!(curve_beats(&curve, &p("w", 150.0, 700)));
        assert!(!curve_beats(&curve, &p("w", 150.0, 500)));
        // Beaten by a point outright.
        assert!(curve_beats(&curve, &p("w", 250.0, 200)));
        assert!(curve_beats(&curve, &p("w", 200.0, 201)));
        // Equal is not beaten; outside the curve's span nothing is implied.
        assert!(!curve_beats(&curve, &p("w", 200.0, 200)));
        assert!(!curve_beats(&curve, &p("w", 90.0, 5000)));
    }

    #[test]
    fn only_runs_the_sweep_made_are_charted_whatever_their_names() {
        let s = Scenario::default();
        let swept = runs(&s, &Policy::default());
        let stats = crate::sim::stats::Stats::default();
        let reports: Vec<PolicyReport> = swept
            .iter()
            .map(|r| PolicyReport::new(r, &stats, &s))
            .collect();
        assert!(Frontier::of(&swept, &reports).is_some());
        // A scenario's own `cost-aware-*` policies beside `keep-alive-10m`.
        let named_alike: Vec<PolicyRun> = swept
            .iter()
            .map(|r| PolicyRun {
                sweep: None,
                ..r.clone()
            })
            .collect();
        assert_eq!(Frontier::of(&named_alike, &reports), None);
    }

    #[test]
    fn a_sweep_names_every_window_and_price_and_ends_with_the_oracle() {
        let s = Scenario::default();
        let runs = runs(&s, &Policy::default());
        let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names.len(), WINDOWS_MIN.len() + PRICES_MIN.len() + 1);
        assert_eq!(names[0], "keep-alive-1m");
        assert_eq!(names[7], "cost-aware-1m");
        assert_eq!(names.last(), Some(&ORACLE));
        assert_eq!(runs[3].policy.idle_window, Duration::from_secs(600));
        assert!(runs.iter().all(|r| r.policy.validate().is_ok()));
        assert!(
            runs.last()
                .is_some_and(|r| r.wiring.activation == crate::sim::scenario::Activation::Oracle)
        );
    }
}
