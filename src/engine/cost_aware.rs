//! Cost-aware keep-alive: each server's keep-alive and pre-warm chosen to
//! minimise the expected idle replica-time plus cold starts priced in
//! replica-time, under the server's learned idle-gap distribution.
//!
//! A fixed window is the best answer for exactly one gap distribution and
//! one price. Here, after each burst of activity, a plan is one of:
//! - **window** `w`: warm for `w`; a gap `G` costs `min(G, w)` of idle
//!   replica-time, plus the price when `G ≥ w` (the next request starts
//!   cold);
//! - **pre-warm** `(a, b)`: warm for a minute, released, warmed again from
//!   `a − lead` to `b`; a gap before `a` pays the minute and the price, a
//!   gap in `[a, b)` pays the minute plus `G − a + lead`, a longer gap all
//!   of it plus the price. Periodic traffic is warm when it comes at a
//!   fraction of the cost of staying warm through the gap.
//!
//! Every window up to `max_keep_alive` (1-minute steps) and the pre-warms
//! between head and tail percentiles of the gaps are priced in O(1) each
//! from the histogram's running sums; the cheapest wins. Two guards keep
//! the choice from trusting the sample too far: a pre-warm is priced only
//! where the gaps show a dead time (memoryless traffic leaves none), and a
//! window that bridges every gap seen is stretched by the price, so that a
//! longer gap than any seen yet is bridged if it ends soon after. While a
//! server has fewer than `min_samples` gaps, the policy's fixed
//! `idle_window` applies.

use super::idle_gaps::{BINS, IdleGaps};
use super::keepalive::{Basis, Plan};
use super::limits::{
    MAX_KEEP_WARM, MAX_MIN_SAMPLES, MAX_WINDOW, PolicyError, count_within, duration_within,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

const MINUTE: f64 = 60.0;
/// Warm this long after activity before a pre-warm plan releases (minutes).
const GRACE_MIN: usize = 1;
/// A pre-warm releases for at least this long (minutes): a shorter release
/// saves less than a pod start costs the cluster (scheduling, pulls).
const MIN_RELEASE_MIN: usize = 2;
/// Standard deviations below memoryless traffic's count of early gaps
/// that show a dead time (one-sided, about 0.6% for each of the
/// [`HEADS`]).
const DEAD_TIME_Z: f64 = 2.5;
/// Percentiles of the gaps a pre-warm may start at, and end at.
const HEADS: [f64; 8] = [1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 50.0, 70.0];
const TAILS: [f64; 9] = [30.0, 50.0, 70.0, 80.0, 90.0, 95.0, 98.0, 99.0, 100.0];

/// Cost-aware keep-alive settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CostAware {
    /// What one cold start is worth, in replica-time: `10m` means a cold
    /// start is as bad as a replica idling for ten minutes. Higher keeps
    /// servers warm longer. 0s..=24h.
    #[serde(with = "humantime_serde")]
    pub cold_start_cost: Duration,
    /// Gaps needed before the histogram is trusted (0..=[`MAX_MIN_SAMPLES`]); until then
    /// the fixed `idle_window` applies.
    pub min_samples: u32,
    /// Never keep warm longer than this after activity (1m..=7 days; the
    /// histogram sees gaps up to 4 hours).
    #[serde(with = "humantime_serde")]
    pub max_keep_alive: Duration,
    /// A pre-warm starts this long before the earliest expected request
    /// (covers the pod's start and the control loop's delay). 0s..=1h.
    #[serde(with = "humantime_serde")]
    pub prewarm_lead: Duration,
}

impl Default for CostAware {
    fn default() -> Self {
        Self {
            cold_start_cost: Duration::from_secs(1200),
            min_samples: 3,
            max_keep_alive: Duration::from_secs(4 * 3600),
            prewarm_lead: Duration::from_secs(60),
        }
    }
}

impl CostAware {
    pub(crate) fn validate(&self) -> Result<(), PolicyError> {
        let f = "keep_alive.cost_aware";
        duration_within(
            &format!("{f}.cold_start_cost"),
            self.cold_start_cost,
            Duration::ZERO,
            MAX_WINDOW,
        )?;
        duration_within(
            &format!("{f}.max_keep_alive"),
            self.max_keep_alive,
            Duration::from_secs(60),
            MAX_KEEP_WARM,
        )?;
        duration_within(
            &format!("{f}.prewarm_lead"),
            self.prewarm_lead,
            Duration::ZERO,
            Duration::from_secs(3600),
        )?;
        count_within(
            &format!("{f}.min_samples"),
            self.min_samples,
            0,
            MAX_MIN_SAMPLES,
        )
    }
}

/// The priced distribution: counts and lengths in minutes.
struct Priced<'a> {
    gaps: &'a IdleGaps,
    /// Every gap, in range and beyond.
    total: f64,
    /// The cold-start price (minutes).
    price: f64,
    /// The pre-warm lead (minutes).
    lead: f64,
}

impl Priced<'_> {
    fn below(&self, edge: usize) -> f64 {
        f64::from(self.gaps.below(edge))
    }

    /// Expected cost per gap (minutes) of staying warm `w` minutes.
    fn window(&self, w: usize) -> f64 {
        let longer = self.total - self.below(w);
        (self.gaps.length_below(w) + longer * (w as f64 + self.price)) / self.total
    }

    /// Expected cost per gap (minutes) of warm for the grace, then again
    /// from `a − lead` to `b` (bin edges, `GRACE_MIN < a < b`).
    fn prewarm(&self, a: usize, b: usize) -> f64 {
        let g = GRACE_MIN as f64;
        let (af, bf) = (a as f64, b as f64);
        let short = self.gaps.length_below(GRACE_MIN);
        let early = (self.below(a) - self.below(GRACE_MIN)) * (g + self.price);
        let caught = self.gaps.length_below(b) - self.gaps.length_below(a)
            + (self.below(b) - self.below(a)) * (g - af + self.lead);
        let late = (self.total - self.below(b)) * (g + (bf - af) + self.lead + self.price);
        (short + early + caught + late) / self.total
    }
}

/// The plan for a server with `gaps` under `p`, `idle_window` while data is thin.
pub fn plan(p: &CostAware, idle_window: Duration, gaps: &IdleGaps) -> Plan {
    let (inside, beyond) = gaps.counts();
    let samples = inside.saturating_add(beyond);
    if samples == 0 || samples < p.min_samples {
        return Plan {
            warm_until: idle_window,
            prewarm: None,
            basis: Basis::ThinData {
                samples,
                needed: p.min_samples,
            },
        };
    }
    let priced = Priced {
        gaps,
        total: f64::from(samples),
        price: p.cold_start_cost.as_secs_f64() / MINUTE,
        lead: p.prewarm_lead.as_secs_f64() / MINUTE,
    };
    let longest = ((p.max_keep_alive.as_secs() / 60) as usize).clamp(1, BINS);
    let (mut best, mut cost) = (Choice::Window(1), priced.window(1));
    // Between the upper edges of two occupied bins the cost only grows
    // (more idle time, no fewer cold starts): only those edges can be best.
    for w in gaps.occupied_upper_edges(longest) {
        let c = priced.window(w);
        if c < cost {
            (best, cost) = (Choice::Window(w), c);
        }
    }
    for (a, b) in prewarm_candidates(gaps, priced.lead, longest) {
        let c = priced.prewarm(a, b);
        // A pre-warm must be clearly cheaper than staying warm.
        if c < cost - 1e-9 {
            (best, cost) = (Choice::Prewarm(a, b), c);
        }
    }
    let mut stretched = false;
    if let Choice::Window(w) = best {
        let hedged = hedged_window(gaps, w, priced.price, longest);
        stretched = hedged > w;
        best = Choice::Window(hedged);
    }
    // The bin edge at or above the window (90 s is priced as 2 minutes).
    let fixed_window = usize::try_from(idle_window.as_secs().div_ceil(60))
        .unwrap_or(BINS)
        .clamp(1, BINS);
    let basis = Basis::CostAware {
        samples,
        expected_s: cost * MINUTE,
        fixed_s: priced.window(fixed_window) * MINUTE,
        stretched,
    };
    let minutes = |m: usize| Duration::from_secs(m as u64 * 60);
    match best {
        Choice::Window(w) => Plan {
            warm_until: minutes(w).min(p.max_keep_alive),
            prewarm: None,
            basis,
        },
        Choice::Prewarm(a, b) => Plan {
            warm_until: minutes(GRACE_MIN),
            prewarm: Some((
                minutes(a).saturating_sub(p.prewarm_lead),
                minutes(b).min(p.max_keep_alive),
            )),
            basis,
        },
    }
}

/// Whether fewer gaps end between the grace and minute `a` than memoryless
/// traffic would give, by more than chance ([`DEAD_TIME_Z`] standard
/// deviations): the dead time a pre-warm releases the server for. Memoryless
/// arrivals (and mixtures of them, such as a diurnal rate) never leave one,
/// and a pre-warm picked from a few dozen of their gaps would only fit
/// noise: each one that meets no request costs its whole span. The test
/// does not depend on the price, so a dearer cold start still never plans
/// more cold starts.
fn shows_dead_time(gaps: &IdleGaps, a: usize) -> bool {
    let (inside, beyond) = gaps.counts();
    if inside == 0 || a <= GRACE_MIN {
        return false;
    }
    let grace = GRACE_MIN as f64;
    // The memoryless mean excess over the grace, from gaps cut off at the
    // histogram's end as well (each lasted at least that long): the time
    // observed past the grace over the gaps seen to end.
    let observed = gaps.length_below(BINS) - f64::from(inside) * grace
        + f64::from(beyond) * (BINS - GRACE_MIN) as f64;
    let mean_excess = observed / f64::from(inside);
    if mean_excess <= 0.0 {
        return false;
    }
    let n = f64::from(inside) + f64::from(beyond);
    let early = f64::from(gaps.below(a) - gaps.below(GRACE_MIN));
    // Memoryless gaps past the grace end within `a - grace` more with
    // probability 1 - e^(-(a - grace) / mean excess).
    let share = 1.0 - (-(a as f64 - grace) / mean_excess).exp();
    let expected = n * share;
    let deviation = (expected * (1.0 - share)).sqrt();
    early < expected - DEAD_TIME_Z * deviation
}

/// A window `w` that bridges every gap seen (all shorter than `w`, none
/// beyond the histogram) is stretched by the price, up to `longest`: a
/// longer gap than any seen so far (each new record, about ln n of them in
/// n gaps) is then still bridged when it ends within one price more, and
/// costs at most that price of idling when it does not (the ski-rental
/// hedge). On the gaps seen the stretched window costs what `w` does.
fn hedged_window(gaps: &IdleGaps, w: usize, price: f64, longest: usize) -> usize {
    let (inside, beyond) = gaps.counts();
    if beyond > 0 || gaps.below(w) < inside {
        return w;
    }
    // Prices are validated to at most a day; a float past usize saturates.
    w.saturating_add(price.ceil() as usize).min(longest)
}

#[derive(Debug, Clone, Copy)]
enum Choice {
    Window(usize),
    Prewarm(usize, usize),
}

/// Pre-warms from a head percentile's bin to a tail percentile's bin edge
/// that release for at least [`MIN_RELEASE_MIN`] after the grace.
fn prewarm_candidates(
    gaps: &IdleGaps,
    lead: f64,
    longest: usize,
) -> impl Iterator<Item = (usize, usize)> {
    let edge = |pct: f64| {
        gaps.percentile(pct)
            .map_or(0, |d| (d.as_secs() / 60) as usize)
    };
    let heads = HEADS.map(|p| edge(p).saturating_sub(1));
    let tails = TAILS.map(|p| edge(p).min(longest));
    let releases = move |a: usize| {
        a as f64 - lead >= (GRACE_MIN + MIN_RELEASE_MIN) as f64 && shows_dead_time(gaps, a)
    };
    heads
        .into_iter()
        .filter(move |&a| releases(a))
        .flat_map(move |a| {
            tails
                .into_iter()
                .filter(move |&b| b > a)
                .map(move |b| (a, b))
        })
}

#[cfg(test)]
#[path = "cost_aware_tests.rs"]
mod tests;
