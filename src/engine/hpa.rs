//! A model of the Kubernetes HPA's own math, so the simulator and the docs
//! can predict what KEDA + HPA do with our numbers.
//!
//! Per sync (default every 15 s): AverageValue → desired = ceil(metric /
//! target), but only if |metric / (target × current) − 1| > tolerance (0.1);
//! Value → ceil(current × metric / target) under the same tolerance. Then the
//! scale-down stabilisation window (300 s: the highest recommendation in the
//! window wins) and the rate policies (up: max(4 pods, 100%) per 15 s; down:
//! 100% per 15 s). The HPA never acts at 0 replicas: KEDA does 0 ↔ 1.
//!
//! Consequence for "desired" mode (metric = our desired count, target 1): at
//! current = c the HPA moves only when |1 − desired / c| > 0.1, i.e. when the
//! change exceeds c / 10 replicas. Below 10 replicas every change lands
//! exactly; from 10 up a change of one replica is not carried out (20 → 21
//! or 20 → 19 waits until the need reaches 23 or 17; 10 → 11 happens to pass
//! only through floating-point rounding).

use super::limits::{MAX_PERCENT, REPLICA_LIMIT};
use super::stabilize::{Behavior, Memory, RateLimit, stabilize};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The HPA metric target type of a KEDA trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum MetricType {
    /// Per-pod average (KEDA's default).
    #[default]
    AverageValue,
    /// Whole-object value.
    Value,
}

/// One HPA, with its recommendation history.
#[derive(Debug, Clone, Default)]
pub struct HpaModel {
    behavior: Option<Behavior>,
    memory: Memory,
}

impl HpaModel {
    /// An HPA with `behavior` (`None`: the HPA's defaults).
    pub fn new(behavior: Option<Behavior>) -> Self {
        Self {
            behavior,
            memory: Memory::default(),
        }
    }

    /// The raw recommendation, with the tolerance applied.
    pub fn recommend(
        current: u32,
        metric: f64,
        target: f64,
        ty: MetricType,
        tolerance: f64,
    ) -> u32 {
        if current == 0 || !(metric.is_finite() && target > 0.0) {
            return current;
        }
        let ratio = match ty {
            MetricType::AverageValue => metric / (target * f64::from(current)),
            MetricType::Value => metric / target,
        };
        if (ratio - 1.0).abs() <= tolerance {
            return current;
        }
        super::load::replicas_for(f64::from(current) * ratio, 1.0)
    }

    /// One sync: the replica count the HPA sets, within `[max(min, 1), max]`.
    #[allow(clippy::too_many_arguments)]
    pub fn sync(
        &mut self,
        current: u32,
        metric: f64,
        target: f64,
        ty: MetricType,
        min: u32,
        max: u32,
        now: Timestamp,
    ) -> u32 {
        if current == 0 {
            return 0;
        }
        let b = self.behavior.unwrap_or_else(Behavior::hpa_default);
        let raw = Self::recommend(current, metric, target, ty, b.tolerance).clamp(min.max(1), max);
        let without_tolerance = Behavior {
            tolerance: 0.0,
            ..b
        };
        stabilize(raw, current, &without_tolerance, &mut self.memory, now)
            .0
            .clamp(min.max(1), max)
    }
}

/// How often the HPA syncs (the controller manager's default): a scale-up
/// period shorter than this is not carried out any faster.
pub const HPA_SYNC: Duration = Duration::from_secs(15);

/// The scale-up policy an HPA can hold (`behavior.scaleUp`, `selectPolicy:
/// Max`) for a policy whose own limit is `limit`: the HPA applies its limit
/// after ours, so it must never be the stricter (looser is harmless: ours
/// still holds). An HPA counts whole seconds up to 1800 and whole pods
/// and percent: percent rounds up. A
/// period under the HPA's 15 s sync becomes 15 s with room for what the
/// policy can add over the `n` periods that fit in it: from `b` replicas
/// each period adds max(pods, ceil(b × p)), at most b × p + max(pods, 1),
/// so after `n` it is below b × (1 + p)ⁿ + max(pods, 1) × Σ(1 + p)ᵏ; the
/// HPA's percent is that growth with the sum counted as a percent of one
/// replica (the HPA acts from one up), and its pods the sum. `None` (the
/// HPA's default) when neither amount reaches one whole unit. A longer
/// period is cut to a multiple of the sync (at most 1800 s): the HPA counts
/// from its own scale events within the period and the scaler from its
/// count a period ago, and only on the syncs' grid do the two agree (a
/// shorter period is looser).
pub fn hpa_scale_up(limit: &RateLimit) -> Option<RateLimit> {
    let asked = limit.period;
    let sync = HPA_SYNC.as_secs();
    let whole = (asked.as_secs() / sync * sync).clamp(sync, 1800);
    let mut limit = RateLimit {
        period: Duration::from_secs(whole),
        ..*limit
    };
    if asked < HPA_SYNC && (limit.pods > 0 || limit.percent > 0.0) {
        let n = HPA_SYNC.as_millis().div_ceil(asked.as_millis().max(1));
        let n = f64::from(u32::try_from(n).unwrap_or(u32::MAX));
        let p = limit.percent / 100.0;
        // (1 + p)ⁿ − 1 and its sum Σ(1 + p)ᵏ, exact for a tiny p too.
        let grown = (n * p.ln_1p()).exp_m1();
        let each = f64::from(if p > 0.0 {
            limit.pods.max(1)
        } else {
            limit.pods
        });
        let added = each * if p > 0.0 { (grown / p).max(n) } else { n };
        if limit.pods > 0 {
            limit.pods = added.ceil().min(f64::from(REPLICA_LIMIT)) as u32;
        }
        limit.percent = (grown + added) * 100.0;
    }
    // Whole percent: 0, or 1 and up.
    limit.percent = limit.percent.ceil().min(MAX_PERCENT);
    (limit.pods > 0 || limit.percent > 0.0).then_some(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: u64) -> Timestamp {
        Timestamp::from_millis(10_000_000 + secs * 1000)
    }

    #[test]
    fn desired_mode_lands_exactly_below_ten_replicas() {
        for current in 1..=9u32 {
            for desired in [current - 1, current + 1] {
                if desired == 0 {
                    continue;
                }
                assert_eq!(
                    HpaModel::recommend(
                        current,
                        f64::from(desired),
                        1.0,
                        MetricType::AverageValue,
                        0.1
                    ),
                    desired,
                    "{current}->{desired}"
                );
            }
        }
    }

    #[test]
    fn the_tolerance_swallows_one_replica_changes_from_ten_up() {
        assert_eq!(
            HpaModel::recommend(20, 21.0, 1.0, MetricType::AverageValue, 0.1),
            20
        );
        assert_eq!(
            HpaModel::recommend(20, 19.0, 1.0, MetricType::AverageValue, 0.1),
            20
        );
        assert_eq!(
            HpaModel::recommend(20, 23.0, 1.0, MetricType::AverageValue, 0.1),
            23
        );
        assert_eq!(
            HpaModel::recommend(11, 12.0, 1.0, MetricType::AverageValue, 0.1),
            11
        );
        assert_eq!(
            HpaModel::recommend(10, 9.0, 1.0, MetricType::AverageValue, 0.1),
            10,
            "exactly 10% is inside"
        );
    }

    #[test]
    fn value_type_scales_the_current_count() {
        assert_eq!(
            HpaModel::recommend(4, 30.0, 10.0, MetricType::Value, 0.1),
            12
        );
    }

    #[test]
    fn scale_down_waits_five_minutes_and_scale_up_is_rate_limited() {
        let mut hpa = HpaModel::new(None);
        assert_eq!(
            hpa.sync(10, 10.0, 1.0, MetricType::AverageValue, 1, 100, t(0)),
            10
        );
        assert_eq!(
            hpa.sync(10, 2.0, 1.0, MetricType::AverageValue, 1, 100, t(60)),
            10,
            "within 300 s"
        );
        // The need of 10 was in force until t=60, so it leaves the window at t=360.
        assert_eq!(
            hpa.sync(10, 2.0, 1.0, MetricType::AverageValue, 1, 100, t(359)),
            10
        );
        assert_eq!(
            hpa.sync(10, 2.0, 1.0, MetricType::AverageValue, 1, 100, t(361)),
            2
        );
        assert_eq!(
            hpa.sync(2, 50.0, 1.0, MetricType::AverageValue, 1, 100, t(400)),
            6,
            "max(4 pods, 100%)"
        );
    }

    #[test]
    fn an_old_high_recommendation_never_scales_up_a_reactivated_target() {
        // KEDA took the target to zero and back to one within the window:
        // the HPA's window only stops scale-down, it never raises the count.
        let mut hpa = HpaModel::new(None);
        assert_eq!(
            hpa.sync(10, 10.0, 1.0, MetricType::AverageValue, 1, 100, t(0)),
            10
        );
        assert_eq!(
            hpa.sync(1, 1.0, 1.0, MetricType::AverageValue, 1, 100, t(60)),
            1
        );
    }

    #[test]
    fn the_hpa_never_acts_at_zero() {
        assert_eq!(
            HpaModel::new(None).sync(0, 50.0, 1.0, MetricType::AverageValue, 0, 10, t(0)),
            0
        );
    }

    fn limit(pods: u32, percent: f64, millis: u64) -> RateLimit {
        RateLimit {
            pods,
            percent,
            period: Duration::from_millis(millis),
        }
    }

    #[test]
    fn the_hpa_scale_up_is_what_an_hpa_can_hold_and_never_the_stricter() {
        // Whole seconds and units are kept as they are.
        let burst = super::super::BURST_SCALE_UP;
        assert_eq!(hpa_scale_up(&burst), Some(burst));
        let cases = [
            // Percent rounds up; a period is clamped to 1 s to 30 min.
            (limit(0, 0.4, 3_600_000), limit(0, 1.0, 1_800_000)),
            (limit(3, 12.2, 60_500), limit(3, 13.0, 60_000)),
            // A period off the syncs' grid is cut to it.
            (limit(4, 100.0, 20_000), limit(4, 100.0, 15_000)),
            (limit(1, 0.0, 44_999), limit(1, 0.0, 30_000)),
            // Under the 15 s sync: room for three periods of 10 pods (30,
            // and 3000% of one replica), of 100% (8×, plus a replica a
            // period for rounding: 7 + 7 = 1400%), four of 2 pods a 4 s
            // period.
            (limit(10, 0.0, 5_000), limit(30, 3000.0, 15_000)),
            (limit(0, 100.0, 5_000), limit(0, 1400.0, 15_000)),
            (limit(2, 0.0, 4_000), limit(8, 800.0, 15_000)),
        ];
        for (policy, hpa) in cases {
            assert_eq!(hpa_scale_up(&policy), Some(hpa), "{policy:?}");
        }
        // Huge growth is capped at what a policy may say.
        let capped = hpa_scale_up(&limit(1, 1000.0, 1)).expect("some");
        assert_eq!((capped.percent, capped.pods), (MAX_PERCENT, REPLICA_LIMIT));
        // Nothing to let through: the HPA's default.
        assert_eq!(hpa_scale_up(&limit(0, 0.0, 15_000)), None);
        assert_eq!(hpa_scale_up(&limit(0, 0.0, 1)), None);
        // A tiny percent still carries its pods over the periods.
        // (at least 3000, not 2998 as (1 + p)ⁿ − 1 loses its digits).
        for percent in [1e-12, 1e-15] {
            let tiny = hpa_scale_up(&limit(1000, percent, 5_000)).expect("some");
            assert!((3000..=3001).contains(&tiny.pods), "{percent}: {tiny:?}");
        }
    }

    /// How far the engine's own `stabilize` takes `b` replicas in one HPA
    /// sync (15 s) under scale-up limit `l` alone, deciding every 500 ms
    /// with the need at the most replicas allowed and the workload
    /// following each decision at once (the fastest it can grow: under
    /// KEDA the count moves only at the HPA's syncs, which is slower).
    fn engine_growth(l: &RateLimit, b: u32) -> u32 {
        let behavior = Behavior {
            tolerance: 0.0,
            scale_up_window: Duration::ZERO,
            scale_up: *l,
            panic: None,
            ..Behavior::default()
        };
        let mut memory = Memory::default();
        // Steady at `b` for longer than any period in the test.
        let _ = stabilize(b, b, &behavior, &mut memory, t(0));
        let mut current = b;
        for tick in 0..30 {
            let now = t(100) + Duration::from_millis(tick * 500);
            current = stabilize(REPLICA_LIMIT, current, &behavior, &mut memory, now).0;
        }
        current
    }

    /// Where one sync of the HPA model with scale-up `h` takes `b`
    /// replicas when the metric asks for the most allowed.
    fn hpa_sync_growth(h: &RateLimit, b: u32) -> u32 {
        let mut hpa = HpaModel::new(Some(Behavior {
            scale_up: *h,
            ..Behavior::hpa_default()
        }));
        let most = f64::from(REPLICA_LIMIT);
        let ty = MetricType::AverageValue;
        hpa.sync(b, most, 1.0, ty, 1, REPLICA_LIMIT, t(100))
    }

    #[test]
    fn over_a_sync_the_hpa_lets_through_what_the_policy_would_from_any_count() {
        // The two counterexamples to compounding alone: rounding up each
        // period (1 → 4 at 10% a 5 s), and pods and percent together
        // (1 → 44 at max(10 pods, 100%) a 5 s).
        assert_eq!(engine_growth(&limit(0, 10.0, 5_000), 1), 4);
        assert_eq!(engine_growth(&limit(10, 100.0, 5_000), 1), 44);
        let mut checked = 0;
        for pods in [0, 1, 4, 10, 100] {
            for percent in [0.0, 1.0, 10.0, 50.0, 100.0, 1000.0] {
                for secs in [1, 2, 3, 4, 5, 7, 10, 14] {
                    let l = limit(pods, percent, secs * 1_000);
                    let Some(h) = hpa_scale_up(&l) else {
                        assert_eq!((pods, percent), (0, 0.0));
                        continue;
                    };
                    for b in 1..=300 {
                        let (ours, theirs) = (engine_growth(&l, b), hpa_sync_growth(&h, b));
                        // Kubernetes' own rule, worked out apart from the
                        // model: max(ceil(b × (1 + percent)), b + pods). The
                        // model rounds b × percent up instead, which floating
                        // point can leave one replica off.
                        let by_percent = (f64::from(b) * (1.0 + h.percent / 100.0)).ceil();
                        let kubernetes = by_percent
                            .max(f64::from(b) + f64::from(h.pods))
                            .min(f64::from(REPLICA_LIMIT));
                        let model = f64::from(theirs);
                        assert!((model - kubernetes).abs() <= 1.0, "{h:?} from {b}");
                        assert!(theirs >= ours, "{l:?} from {b}: {theirs} < {ours}");
                        assert!(
                            kubernetes >= f64::from(ours),
                            "{l:?} from {b}: {kubernetes}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 60_000, "{checked}");
    }
}
