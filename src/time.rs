//! Time as the engine sees it: a plain timestamp passed in by the caller.
//!
//! The engine never reads a clock. Production passes wall-clock time
//! ([`SystemClock`]); the simulator passes virtual time starting at zero; tests
//! pass whatever they like. Keeping time a value makes every decision
//! reproducible.

use std::ops::{Add, Sub};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time, in milliseconds since an epoch chosen by the clock
/// (the Unix epoch in production, the scenario start in the simulator).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The timestamp `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// How long ago `earlier` was, or zero if it lies in the future
    /// (clocks of different hosts disagree a little; never panic on that).
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

/// Adding rounds up to the next millisecond, so `t + d` is never earlier
/// than the exact end: a window computed this way has really ended at its
/// end timestamp (watchers sleeping until it never wake a moment too soon).
impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, rhs: Duration) -> Timestamp {
        let ms = u64::try_from(rhs.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }
}

impl Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, rhs: Duration) -> Timestamp {
        let ms = u64::try_from(rhs.as_millis()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_sub(ms))
    }
}

/// A source of "now", so that servers and sources can be driven by a fake
/// clock in tests.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// Wall-clock time since the Unix epoch.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A clock that moves only when told to (tests, benches, simulations).
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicU64);

impl ManualClock {
    /// A clock standing at `at`.
    pub fn new(at: Timestamp) -> Self {
        Self(std::sync::atomic::AtomicU64::new(at.0))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// Retry waits that double per failure from `first` up to `max`, and start
/// over only after a run that stayed up `stayed_up`: a failure that comes
/// back at once keeps them growing.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The first wait.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
    /// A run this long is a new start.
    pub stayed_up: Duration,
}

impl Backoff {
    /// What to start a retry loop's wait at (its first failure waits `first`).
    pub fn initial(self) -> Duration {
        self.first / 2
    }

    /// The wait after a failure, given the last wait and how long the run
    /// stayed up (`None`: it never got going).
    pub fn next(self, last: Duration, up_for: Option<Duration>) -> Duration {
        if up_for.is_some_and(|up| up >= self.stayed_up) {
            self.first
        } else {
            (last * 2).clamp(self.first, self.max)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_a_future_timestamp_is_zero_not_a_panic() {
        let now = Timestamp::from_millis(1_000);
        assert_eq!(now.since(Timestamp::from_millis(5_000)), Duration::ZERO);
        assert_eq!(
            now.since(Timestamp::from_millis(400)),
            Duration::from_millis(600)
        );
    }

    #[test]
    fn adding_rounds_up_so_a_window_end_is_never_early() {
        let start = Timestamp::from_millis(1_000);
        let window = Duration::from_micros(4_500);
        let end = start + window;
        assert_eq!(end.as_millis(), 1_005);
        assert!(end.since(start) >= window);
        assert_eq!(
            (start + Duration::from_millis(3)).as_millis(),
            1_003,
            "whole milliseconds stay exact"
        );
    }

    #[test]
    fn arithmetic_saturates_instead_of_overflowing() {
        let t = Timestamp::from_millis(u64::MAX - 1);
        assert_eq!((t + Duration::from_secs(10)).as_millis(), u64::MAX);
        assert_eq!(
            (Timestamp::from_millis(5) - Duration::from_secs(1)).as_millis(),
            0
        );
    }
}
