//! Bounds of every duration and number a policy takes from outside.
//!
//! Config files and `scalerMetadata` are written by people and tools. A value
//! that parses but is absurd (`idle_window: 18446744073709551615s`, a target
//! of `1e300`) is refused here with its field named, instead of overflowing
//! somewhere later in keep-alive planning or stabilisation. Each bound is
//! generous for production use and finite; the config module has its own
//! (intervals, metadata size) next to the fields they guard. The error type
//! lives here too, so that every part of a policy (keep-alive, step rule,
//! stabilisation) validates against this module, not against the policy
//! that contains it.

use std::time::Duration;

/// Largest replica count a policy may ask for.
pub const REPLICA_LIMIT: u32 = 10_000;

/// A policy setting that is out of range: which field, and what is allowed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PolicyError {
    /// The field's path relative to the policy (`max_replicas`, `targets.sessions`).
    pub field: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

pub(crate) fn field_error<T>(field: &str, message: impl Into<String>) -> Result<T, PolicyError> {
    Err(PolicyError {
        field: field.to_owned(),
        message: message.into(),
    })
}

const HOUR: u64 = 3600;

/// Longest keep-warm time: `idle_window`, `event_count_ttl` and predictive
/// `max_keep_alive` (7 days).
pub const MAX_KEEP_WARM: Duration = Duration::from_secs(7 * 24 * HOUR);

/// Longest window or period: `stale_after`, `unavailable_after`,
/// `behavior.scale_up_window` / `scale_down_window`, rate-limit `period`,
/// `panic.window` (24 hours).
pub const MAX_WINDOW: Duration = Duration::from_secs(24 * HOUR);

/// Largest per-replica target, step-rule queue threshold, panic threshold or
/// activation level (1e9).
pub const MAX_AMOUNT: f64 = 1e9;

/// Largest latency objective or threshold, in seconds (86400: one day).
pub const MAX_LATENCY_S: f64 = 86_400.0;

/// Largest rate-limit `percent` per period (1e6, i.e. 10,000 times the count).
pub const MAX_PERCENT: f64 = 1e6;

/// Most samples keep-alive may ask for before it trusts a server's
/// histogram (8,640): the histogram holds the gaps of 7 UTC days, today
/// included, so just after midnight six days of at most 1,440 gaps of a
/// minute.
pub const MAX_MIN_SAMPLES: u32 = 8_640;

/// `value` must lie in `min..=max`.
pub(crate) fn duration_within(
    field: &str,
    value: Duration,
    min: Duration,
    max: Duration,
) -> Result<(), PolicyError> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    field_error(
        field,
        format!(
            "is {}, allowed {}..={}",
            humantime::format_duration(value),
            humantime::format_duration(min),
            humantime::format_duration(max)
        ),
    )
}

/// `value` must be a finite number in `min..=max`.
pub(crate) fn number_within(
    field: &str,
    value: f64,
    min: f64,
    max: f64,
) -> Result<(), PolicyError> {
    if value.is_finite() && (min..=max).contains(&value) {
        return Ok(());
    }
    field_error(field, format!("is {value}, allowed {min}..={max}"))
}

/// An optional setting: absent, or a number above 0 and at most `max`.
pub(crate) fn positive_at_most(
    field: &str,
    value: Option<f64>,
    max: f64,
) -> Result<(), PolicyError> {
    match value {
        Some(v) if !(v.is_finite() && v > 0.0 && v <= max) => field_error(
            field,
            format!("is {v}, must be above 0 and at most {max} (or null to disable)"),
        ),
        _ => Ok(()),
    }
}

/// A whole number in `min..=max`.
pub(crate) fn count_within(field: &str, value: u32, min: u32, max: u32) -> Result<(), PolicyError> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    field_error(field, format!("is {value}, allowed {min}..={max}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_value_and_the_allowed_range() {
        let e = duration_within(
            "idle_window",
            Duration::from_secs(u64::MAX),
            Duration::from_secs(1),
            MAX_KEEP_WARM,
        )
        .expect_err("too long");
        assert_eq!(e.field, "idle_window");
        assert!(e.message.ends_with("allowed 1s..=7days"), "{e}");
        let e = number_within("x", f64::NAN, 0.0, 1.0).expect_err("nan");
        assert_eq!(e.message, "is NaN, allowed 0..=1");
        let e = positive_at_most("t", Some(2e9), MAX_AMOUNT).expect_err("big");
        assert!(e.message.contains("at most 1000000000"), "{e}");
        assert_eq!(positive_at_most("t", None, 1.0), Ok(()));
        assert!(count_within("n", 7, 0, 6).is_err());
    }

    #[test]
    fn infinities_are_never_within_any_range() {
        for v in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
            assert!(number_within("x", v, f64::MIN, f64::MAX).is_err());
            assert!(positive_at_most("x", Some(v), f64::MAX).is_err());
        }
    }
}
