//! Data quality: how far a server's data can be trusted at `now`.
//!
//! Rule 3 of the design: unknown is never idle. Missing data (no poll yet,
//! polls failing, a busy server's series vanished, the event stream not yet
//! replayed or disconnected) holds the last good answer, and past
//! `unavailable_after` becomes an error KEDA's fallback handles.

use super::policy::Policy;
use super::{DataQuality, Gap};
use crate::signal::{Feed, Held};
use crate::time::Timestamp;

/// Where a server's data stands.
enum Standing {
    /// Live: nothing is missing.
    Live,
    /// Last good at this time; since then, this is what is missing.
    Since(Timestamp, Gap),
    /// There never was good data.
    Never(Gap),
}

fn standing(feed: &Feed, held: &Held) -> Standing {
    if feed.untracked {
        return Standing::Never(Gap::NotTracked);
    }
    if feed.poller_configured {
        let Some(polled) = feed.polled_at else {
            return Standing::Never(Gap::PollFailing);
        };
        return match held.good_at {
            Some(at) if held.kinds != 0 => Standing::Since(at.min(polled), Gap::SeriesMissing),
            None if held.kinds != 0 => Standing::Never(Gap::SeriesMissing),
            _ => Standing::Since(polled, Gap::PollFailing),
        };
    }
    if !feed.events_configured {
        return Standing::Live;
    }
    if !feed.events_ready {
        return Standing::Never(Gap::EventsNotReady);
    }
    match feed.events_down_since {
        None => Standing::Live,
        Some(at) => Standing::Since(at, Gap::EventsDown),
    }
}

/// The quality of a server's data at `now`, and when it was last good if
/// it is not trusted now (`None` when it is, or when it never was good): a
/// replay stops there, so the last good answer is what holds.
pub fn assess(
    feed: &Feed,
    held: &Held,
    policy: &Policy,
    now: Timestamp,
) -> (DataQuality, Option<Timestamp>) {
    let (good_at, cause) = match standing(feed, held) {
        Standing::Live => return (DataQuality::EventsOnly, None),
        Standing::Never(cause) => {
            let data = DataQuality::Unavailable {
                age_ms: None,
                cause,
            };
            return (data, None);
        }
        Standing::Since(at, cause) => (at, cause),
    };
    let age = now.since(good_at);
    let age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
    let data = if age >= policy.unavailable_after {
        DataQuality::Unavailable {
            age_ms: Some(age_ms),
            cause,
        }
    } else if age >= policy.stale_after || cause != Gap::PollFailing {
        // A vanished series or a lost event stream is missing data at once;
        // a poll is only late once it is older than `stale_after`.
        DataQuality::Stale { age_ms, cause }
    } else {
        return (DataQuality::Fresh, None);
    };
    (data, Some(good_at))
}
