//! Stability: tolerance band, scale-up/scale-down stabilisation windows,
//! rate limits and a panic mode for bursts. The same code models the
//! Kubernetes HPA's behaviour (see [`super::hpa`]) with HPA defaults.

use super::limits::{
    MAX_AMOUNT, MAX_PERCENT, MAX_WINDOW, count_within, duration_within, number_within,
};
use super::limits::{PolicyError, REPLICA_LIMIT, field_error};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::Duration;

/// At most one rate rule per direction: `max(pods, percent% of base)` per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Pods per period (0..=[`REPLICA_LIMIT`]).
    pub pods: u32,
    /// Percent of the count at the start of the period, per period
    /// (0..=[`MAX_PERCENT`]).
    pub percent: f64,
    /// The period (above 0, at most [`MAX_WINDOW`], 24 hours).
    #[serde(with = "humantime_serde")]
    pub period: Duration,
}

impl RateLimit {
    fn validate(&self, name: &str) -> Result<(), PolicyError> {
        duration_within(
            &format!("behavior.{name}.period"),
            self.period,
            Duration::from_millis(1),
            MAX_WINDOW,
        )?;
        number_within(
            &format!("behavior.{name}.percent"),
            self.percent,
            0.0,
            MAX_PERCENT,
        )?;
        count_within(
            &format!("behavior.{name}.pods"),
            self.pods,
            0,
            REPLICA_LIMIT,
        )
    }
}

/// Knative-style panic mode: when the need jumps to `threshold` × current,
/// skip the scale-up window and refuse to scale down for `window` (the
/// scale-up rate limit still applies).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Panic {
    /// Need / current ratio that starts a panic (above 1, at most [`MAX_AMOUNT`]).
    pub threshold: f64,
    /// How long a panic lasts after the last trigger (at most [`MAX_WINDOW`]).
    #[serde(with = "humantime_serde")]
    pub window: Duration,
}

/// Scaling behaviour between a raw need and the decision.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Behavior {
    /// Changes within this fraction of the current count are ignored.
    pub tolerance: f64,
    /// Scale up to the lowest need seen in this window (at most [`MAX_WINDOW`]).
    #[serde(with = "humantime_serde")]
    pub scale_up_window: Duration,
    /// Scale down to the highest need seen in this window (at most [`MAX_WINDOW`]).
    #[serde(with = "humantime_serde")]
    pub scale_down_window: Duration,
    /// Growth limit.
    pub scale_up: RateLimit,
    /// Shrink limit.
    pub scale_down: RateLimit,
    /// Burst handling; `None` disables it.
    pub panic: Option<Panic>,
}

/// The default scale-up limit: max(100 pods, 1000%) per 15 s. The
/// example ScaledObjects give the HPA the same (`behavior.scaleUp`), as the
/// two limits apply one after the other.
pub const BURST_SCALE_UP: RateLimit = RateLimit {
    pods: 100,
    percent: 1000.0,
    period: Duration::from_secs(15),
};

impl Default for Behavior {
    fn default() -> Self {
        Self {
            tolerance: 0.1,
            scale_up_window: Duration::ZERO,
            scale_down_window: Duration::from_secs(120),
            // Bursts of MCP traffic need replicas at once: max(100 pods,
            // 1000%) a period lets one reach ten times its load in one step
            // (the HPA's default, max(4 pods, 100%), took the built-in
            // fleet's bursts several periods; see BURST_SCALE_UP).
            scale_up: BURST_SCALE_UP,
            scale_down: RateLimit {
                pods: 1,
                percent: 50.0,
                period: Duration::from_secs(15),
            },
            panic: Some(Panic {
                threshold: 2.0,
                window: Duration::from_secs(60),
            }),
        }
    }
}

impl Behavior {
    /// The HPA's defaults (autoscaling/v2, no `behavior` set).
    pub fn hpa_default() -> Self {
        Self {
            tolerance: 0.1,
            scale_up_window: Duration::ZERO,
            scale_down_window: Duration::from_secs(300),
            scale_up: RateLimit {
                pods: 4,
                percent: 100.0,
                period: Duration::from_secs(15),
            },
            scale_down: RateLimit {
                pods: 0,
                percent: 100.0,
                period: Duration::from_secs(15),
            },
            panic: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), PolicyError> {
        if !(0.0..1.0).contains(&self.tolerance) {
            return field_error(
                "behavior.tolerance",
                format!("is {}, allowed 0 <= tolerance < 1", self.tolerance),
            );
        }
        for (name, window) in [
            ("scale_up_window", self.scale_up_window),
            ("scale_down_window", self.scale_down_window),
        ] {
            duration_within(
                &format!("behavior.{name}"),
                window,
                Duration::ZERO,
                MAX_WINDOW,
            )?;
        }
        for (name, r) in [("scale_up", self.scale_up), ("scale_down", self.scale_down)] {
            r.validate(name)?;
        }
        if self.scale_up.pods == 0 && self.scale_up.percent == 0.0 {
            return field_error(
                "behavior.scale_up",
                "pods and percent are both 0: the count could never grow",
            );
        }
        if let Some(p) = self.panic {
            if !(p.threshold.is_finite() && p.threshold > 1.0 && p.threshold <= MAX_AMOUNT) {
                return field_error(
                    "behavior.panic.threshold",
                    format!(
                        "is {}, must be above 1 and at most {MAX_AMOUNT}",
                        p.threshold
                    ),
                );
            }
            duration_within(
                "behavior.panic.window",
                p.window,
                Duration::ZERO,
                MAX_WINDOW,
            )?;
        }
        Ok(())
    }

    pub(crate) fn longest_window(&self) -> Duration {
        self.scale_up_window
            .max(self.scale_down_window)
            .max(self.scale_up.period)
            .max(self.scale_down.period)
    }
}

/// A step function of time kept as its change points (bounded).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct History(VecDeque<(Timestamp, u32)>);

/// Most change points kept: one per history slot over the longest replay
/// (the 15 minutes kept), so no point inside a window is ever dropped.
const HISTORY_LIMIT: usize =
    (crate::signal::RETENTION.as_secs() / crate::signal::SLOT.as_secs()) as usize + 1;

impl History {
    /// Records `value` from `at` on (no-op if unchanged).
    pub fn push(&mut self, at: Timestamp, value: u32) {
        if self.0.back().is_some_and(|&(_, v)| v == value) {
            return;
        }
        self.0.push_back((at, value));
        if self.0.len() > HISTORY_LIMIT {
            self.0.pop_front();
        }
    }

    /// Drops points no longer needed to answer for times after `cutoff`.
    pub fn prune(&mut self, cutoff: Timestamp) {
        while self.0.len() > 1 && self.0[1].0 <= cutoff {
            self.0.pop_front();
        }
    }

    /// The value in force at `at`.
    pub fn value_at(&self, at: Timestamp) -> Option<u32> {
        self.0
            .iter()
            .take_while(|(t, _)| *t <= at)
            .last()
            .map(|&(_, v)| v)
    }

    /// Values in force at any time in `[since, ∞)`.
    fn since(&self, since: Timestamp) -> impl Iterator<Item = u32> + '_ {
        self.value_at(since).into_iter().chain(
            self.0
                .iter()
                .filter(move |(t, _)| *t > since)
                .map(|&(_, v)| v),
        )
    }
}

/// What stabilisation remembers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Memory {
    /// Raw needs over time.
    pub needs: History,
    /// Decisions over time.
    pub outputs: History,
    /// End of the current panic, if panicking.
    pub panic_until: Option<Timestamp>,
}

/// Why stabilisation changed the need, if it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Inside the tolerance band.
    Tolerance,
    /// Held by the scale-up or scale-down window.
    Window,
    /// Cut by a rate limit.
    Rate,
    /// Panic mode forbids scaling down.
    Panic,
}

/// Turns a raw `need` into a stable count, given the `current` count.
pub fn stabilize(
    need: u32,
    current: u32,
    b: &Behavior,
    mem: &mut Memory,
    now: Timestamp,
) -> (u32, Option<Limit>) {
    mem.needs.push(now, need);
    mem.needs.prune(now - b.longest_window());
    mem.outputs.prune(now - b.longest_window());
    if current == 0 {
        mem.outputs.push(now, need);
        return (need, None);
    }
    let panicking = update_panic(need, current, b, mem, now);
    let mut limit = None;
    let mut want = need;
    if within_tolerance(need, current, b.tolerance) {
        want = current;
        limit = Some(Limit::Tolerance);
    }
    if want > current && !panicking {
        let up = mem
            .needs
            .since(now - b.scale_up_window)
            .min()
            .unwrap_or(need)
            .max(current);
        if up < want {
            (want, limit) = (up, Some(Limit::Window));
        }
    } else if want < current {
        let down = mem
            .needs
            .since(now - b.scale_down_window)
            .max()
            .unwrap_or(need)
            .min(current);
        if down > want {
            (want, limit) = (down, Some(Limit::Window));
        }
        if panicking && want < current {
            (want, limit) = (current, Some(Limit::Panic));
        }
    }
    let limited = rate_limit(want, current, b, &mem.outputs, now);
    if limited != want {
        (want, limit) = (limited, Some(Limit::Rate));
    }
    mem.outputs.push(now, want);
    (want, limit)
}

fn within_tolerance(need: u32, current: u32, tolerance: f64) -> bool {
    need != 0 && (f64::from(need) / f64::from(current) - 1.0).abs() <= tolerance
}

fn update_panic(need: u32, current: u32, b: &Behavior, mem: &mut Memory, now: Timestamp) -> bool {
    if let Some(p) = b.panic
        && f64::from(need) >= p.threshold * f64::from(current)
    {
        mem.panic_until = Some(now + p.window);
    }
    mem.panic_until.is_some_and(|until| now < until)
}

fn rate_limit(want: u32, current: u32, b: &Behavior, outputs: &History, now: Timestamp) -> u32 {
    let step = |r: &RateLimit, base: u32, round: fn(f64) -> f64| {
        let pct = round(f64::from(base) * r.percent / 100.0) as u32;
        r.pods.max(pct)
    };
    if want > current {
        let base = outputs
            .value_at(now - b.scale_up.period)
            .unwrap_or(current)
            .min(current);
        want.min(
            base.saturating_add(step(&b.scale_up, base, f64::ceil))
                .max(current),
        )
    } else if want < current {
        let base = outputs
            .value_at(now - b.scale_down.period)
            .unwrap_or(current)
            .max(current);
        want.max(
            base.saturating_sub(step(&b.scale_down, base, f64::floor))
                .min(current),
        )
    } else {
        want
    }
}

#[cfg(test)]
#[path = "stabilize_tests.rs"]
mod tests;
