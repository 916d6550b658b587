//! Keep-alive: how long after its last activity a server stays warm.
//!
//! Fixed: `idle_window`. Cost-aware (`engine/cost_aware.rs`, the default):
//! the plan that minimises idle replica-time plus priced cold starts under
//! the server's learned gaps. Predictive (after "Serverless in the Wild",
//! Shahrad et al., USENIX ATC 2020): each server's idle gaps (time between
//! activity separated by a minute or more) go into a histogram of 1-minute
//! bins up to 4 hours. With enough representative samples, the server stays
//! warm for a short `grace` after activity, is released, is pre-warmed at
//! the `head_percentile` gap (minus a margin) and kept until the
//! `tail_percentile` gap (plus a margin). Rarely used servers thus drop to
//! zero after `grace` instead of `idle_window`, and regular ones are warm
//! when their next request comes. While the pattern is unclear (few samples,
//! most gaps beyond 4 hours) the fixed window applies.

pub use super::cost_aware::CostAware;
pub use super::idle_gaps::IdleGaps;
use super::limits::{MAX_KEEP_WARM, MAX_MIN_SAMPLES, count_within, duration_within};
use super::limits::{PolicyError, field_error};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Predictive keep-alive settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Predictive {
    /// Stay warm at least this long after activity (at most `max_keep_alive`).
    #[serde(with = "humantime_serde")]
    pub grace: Duration,
    /// Never keep warm longer than this after activity (at most
    /// [`MAX_KEEP_WARM`], 7 days).
    #[serde(with = "humantime_serde")]
    pub max_keep_alive: Duration,
    /// Pre-warm at this percentile of idle gaps.
    pub head_percentile: f64,
    /// Keep warm until this percentile of idle gaps.
    pub tail_percentile: f64,
    /// Samples needed before the histogram is trusted (0..=[`MAX_MIN_SAMPLES`]).
    pub min_samples: u32,
    /// Margin applied around head (earlier) and tail (later), as a fraction.
    pub margin: f64,
}

impl Default for Predictive {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(60),
            max_keep_alive: Duration::from_secs(4 * 3600),
            head_percentile: 5.0,
            tail_percentile: 99.0,
            min_samples: 10,
            margin: 0.15,
        }
    }
}

/// Fixed, cost-aware or predictive keep-alive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepAlive {
    /// Warm for `idle_window` after the last activity.
    Fixed,
    /// Learned per server at a price per cold start, falling back to
    /// `idle_window` while data is thin.
    CostAware(CostAware),
    /// Learned per server from gap percentiles, falling back to `idle_window`.
    Predictive(Predictive),
}

impl KeepAlive {
    pub(crate) fn validate(&self) -> Result<(), PolicyError> {
        let p = match self {
            KeepAlive::Fixed => return Ok(()),
            KeepAlive::CostAware(c) => return c.validate(),
            KeepAlive::Predictive(p) => p,
        };
        let f = "keep_alive.predictive";
        if !(0.0..=100.0).contains(&p.head_percentile) {
            return field_error(&format!("{f}.head_percentile"), "must be within 0..=100");
        }
        if !(p.head_percentile..=100.0).contains(&p.tail_percentile) {
            return field_error(
                &format!("{f}.tail_percentile"),
                "must be within head_percentile..=100",
            );
        }
        if !(0.0..1.0).contains(&p.margin) {
            return field_error(&format!("{f}.margin"), "must be within 0 <= margin < 1");
        }
        duration_within(
            &format!("{f}.max_keep_alive"),
            p.max_keep_alive,
            Duration::ZERO,
            MAX_KEEP_WARM,
        )?;
        if p.grace > p.max_keep_alive {
            return field_error(&format!("{f}.grace"), "must not exceed max_keep_alive");
        }
        count_within(
            &format!("{f}.min_samples"),
            p.min_samples,
            0,
            MAX_MIN_SAMPLES,
        )
    }
}

/// Why a plan is what it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Basis {
    /// The policy's fixed `idle_window`.
    Fixed,
    /// A learned keep-alive with too few gaps yet: the fixed window.
    ThinData {
        /// Gaps learned.
        samples: u32,
        /// Gaps needed.
        needed: u32,
    },
    /// Predictive: gap percentiles (or the fixed window while the pattern
    /// is unclear).
    Percentiles,
    /// Cost-aware: the cheapest plan at the policy's cold-start price.
    CostAware {
        /// Gaps learned.
        samples: u32,
        /// Expected idle replica-seconds plus priced cold starts per gap.
        expected_s: f64,
        /// The same for the fixed `idle_window`.
        fixed_s: f64,
        /// The window bridges every gap seen and runs up to one cold-start price
        /// longer, for a longer gap than any seen yet.
        stretched: bool,
    },
}

/// A keep-alive plan relative to the last activity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Warm during `[0, warm_until)` after activity.
    pub warm_until: Duration,
    /// Then, if set, warm again during `[from, until)` (a pre-warm).
    pub prewarm: Option<(Duration, Duration)>,
    /// Why.
    pub basis: Basis,
}

impl Plan {
    fn fixed(idle_window: Duration, basis: Basis) -> Self {
        Self {
            warm_until: idle_window,
            prewarm: None,
            basis,
        }
    }

    /// `fixed`, `learned` (kept warm through the learned gaps) or `prewarm`.
    pub fn kind(&self) -> &'static str {
        match (self.prewarm, self.basis) {
            (Some(_), _) => "prewarm",
            (None, Basis::CostAware { .. }) => "learned",
            (None, Basis::Percentiles) => "learned",
            _ => "fixed",
        }
    }

    /// One sentence on why, for people.
    pub fn why(&self) -> String {
        let m = |s: f64| format!("{:.1} min", s / 60.0);
        match self.basis {
            Basis::Fixed => "keep_alive is fixed: the idle window".to_owned(),
            Basis::ThinData { samples, needed } => format!(
                "{samples} idle gaps learned, {needed} needed: the fixed idle window until then"
            ),
            Basis::Percentiles => "predictive: idle-gap percentiles".to_owned(),
            Basis::CostAware {
                samples,
                expected_s,
                fixed_s,
                stretched,
            } => format!(
                "cost-aware over {samples} idle gaps: expected {} of idle replica-time \
                 and priced cold starts per gap, against {} for the fixed idle window{}",
                m(expected_s),
                m(fixed_s),
                if stretched {
                    "; the window bridges every gap seen, plus up to one cold start's \
                     price for a longer one"
                } else {
                    ""
                }
            ),
        }
    }
}

/// The plan for a server with `gaps` under `keep_alive`.
pub fn plan(keep_alive: &KeepAlive, idle_window: Duration, gaps: &IdleGaps) -> Plan {
    match keep_alive {
        KeepAlive::Fixed => Plan::fixed(idle_window, Basis::Fixed),
        KeepAlive::CostAware(c) => super::cost_aware::plan(c, idle_window, gaps),
        KeepAlive::Predictive(p) => predictive(p, idle_window, gaps),
    }
}

fn predictive(p: &Predictive, idle_window: Duration, gaps: &IdleGaps) -> Plan {
    let fixed = Plan::fixed(idle_window, Basis::Percentiles);
    let (inside, beyond) = gaps.counts();
    if inside < p.min_samples || beyond > inside {
        return fixed;
    }
    let (Some(head), Some(tail)) = (
        gaps.percentile(p.head_percentile),
        gaps.percentile(p.tail_percentile),
    ) else {
        return fixed;
    };
    // Never panics, even on a policy that skipped validation: a scaled
    // duration that is not representable becomes the keep-alive ceiling,
    // and clamping cannot see a floor above its ceiling.
    let until = scale(tail, 1.0 + p.margin, p.max_keep_alive)
        .max(p.grace)
        .min(p.max_keep_alive);
    let from = scale(head, 1.0 - p.margin, p.max_keep_alive);
    // Releasing for less than the fixed window would only churn: stay warm.
    if from <= p.grace.saturating_add(idle_window) {
        return Plan {
            warm_until: until,
            prewarm: None,
            basis: Basis::Percentiles,
        };
    }
    Plan {
        warm_until: p.grace,
        prewarm: Some((from, until)),
        basis: Basis::Percentiles,
    }
}

/// `d` × `factor`, or `otherwise` when that is negative, NaN or too large.
fn scale(d: Duration, factor: f64, otherwise: Duration) -> Duration {
    Duration::try_from_secs_f64(d.as_secs_f64() * factor).unwrap_or(otherwise)
}

/// Whether a server whose last activity was at `last` is warm at `now`, and
/// when that next changes without new activity.
pub fn warm_at(plan: &Plan, last: Timestamp, now: Timestamp) -> (bool, Option<Timestamp>) {
    let since = now.since(last);
    if since < plan.warm_until {
        return (true, Some(last + plan.warm_until));
    }
    match plan.prewarm {
        Some((from, _)) if since < from => (false, Some(last + from)),
        Some((_, until)) if since < until => (true, Some(last + until)),
        _ => (false, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaps(minutes: &[u64]) -> IdleGaps {
        IdleGaps::of_minutes(minutes)
    }

    const FIVE_MIN: Duration = Duration::from_secs(300);

    #[test]
    fn an_unclear_pattern_falls_back_to_the_fixed_window() {
        let predictive = KeepAlive::Predictive(Predictive::default());
        let few = gaps(&[60, 61]);
        assert_eq!(
            plan(&predictive, FIVE_MIN, &few),
            Plan {
                warm_until: FIVE_MIN,
                prewarm: None,
                basis: Basis::Percentiles,
            }
        );
        let mostly_beyond = gaps(&[
            300, 300, 300, 300, 300, 300, 300, 300, 300, 300, 300, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        ]);
        assert_eq!(
            plan(&predictive, FIVE_MIN, &mostly_beyond).warm_until,
            FIVE_MIN
        );
        assert_eq!(
            plan(&KeepAlive::Fixed, FIVE_MIN, &gaps(&[1; 20])).warm_until,
            FIVE_MIN
        );
    }

    #[test]
    fn an_hourly_server_is_released_after_grace_and_prewarmed_before_its_next_request() {
        let p = plan(
            &KeepAlive::Predictive(Predictive::default()),
            FIVE_MIN,
            &gaps(&[59; 20]),
        );
        assert_eq!(p.warm_until, Duration::from_secs(60));
        let (from, until) = p.prewarm.expect("prewarm");
        assert!(
            from < Duration::from_secs(59 * 60) && from > Duration::from_secs(45 * 60),
            "{from:?}"
        );
        assert!(until > Duration::from_secs(60 * 60), "{until:?}");
        let last = Timestamp::from_millis(0);
        assert!(warm_at(&p, last, last + Duration::from_secs(30)).0);
        assert_eq!(
            warm_at(&p, last, last + Duration::from_secs(120)),
            (false, Some(last + from))
        );
        assert!(warm_at(&p, last, last + Duration::from_secs(59 * 60)).0);
        assert_eq!(
            warm_at(&p, last, last + Duration::from_secs(3 * 3600)),
            (false, None)
        );
    }

    #[test]
    fn a_regular_server_with_short_gaps_stays_warm_across_them() {
        let p = plan(
            &KeepAlive::Predictive(Predictive::default()),
            FIVE_MIN,
            &gaps(&[2, 3, 2, 3, 2, 3, 2, 3, 2, 3]),
        );
        assert_eq!(p.prewarm, None);
        assert!(
            p.warm_until >= Duration::from_secs(4 * 60) && p.warm_until < FIVE_MIN,
            "{:?}",
            p.warm_until
        );
    }

    #[test]
    fn planning_never_overflows_even_on_an_unvalidated_policy() {
        let wild = KeepAlive::Predictive(Predictive {
            grace: Duration::MAX,
            max_keep_alive: Duration::from_secs(60),
            margin: f64::NAN,
            min_samples: 0,
            ..Predictive::default()
        });
        let p = plan(&wild, Duration::MAX, &gaps(&[59; 20]));
        let last = Timestamp::from_millis(u64::MAX - 5);
        let _ = warm_at(&p, last, last + Duration::MAX);
        let e = KeepAlive::Predictive(Predictive {
            max_keep_alive: Duration::MAX,
            ..Predictive::default()
        })
        .validate()
        .expect_err("too long");
        assert_eq!(e.field, "keep_alive.predictive.max_keep_alive");
    }
}
