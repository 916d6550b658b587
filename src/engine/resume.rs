//! After a blind stretch: a source (the event stream, or polls after a
//! gap longer than a rate window) turned trusted again, but what happened
//! while it was down may not have been seen (core NATS drops events
//! meanwhile; a rate does not reach back past its window). Rule 3 (unknown
//! is never idle) holds for an idle window after it: the answer is no lower
//! than the last good one from before the stretch. Apply mode holds its
//! scale-downs the same way; this brings the hold to KEDA's path.

use super::decide::LazyPlan;
use super::policy::Policy;
use super::replay::answer_at;
use super::{Decision, Reason};
use crate::signal::Signals;
use crate::time::Timestamp;

/// Raises `d` (decided on trusted data at `now`) to the last good answer
/// from before the blind stretch that ended at the feed's `trusted_since`,
/// while that is less than the policy's idle window ago, and asks to be
/// decided again when the hold ends.
pub(crate) fn hold_after_blind_stretch(
    signals: &Signals,
    policy: &Policy,
    plan: &LazyPlan<'_>,
    now: Timestamp,
    d: &mut Decision,
) {
    let feed = &signals.feed;
    let (Some(back), Some(from)) = (feed.trusted_since, feed.blind_from) else {
        return;
    };
    let ends = back + policy.idle_window;
    if from >= back || now < back || now >= ends {
        return;
    }
    let before = answer_at(signals, policy, from, plan);
    let desired = d.desired.max(before.last_desired).min(policy.max_replicas);
    let active = d.active || before.last_active;
    if (desired, active) == (d.desired, d.active) {
        return;
    }
    d.desired = desired;
    d.active = active;
    d.reason = Reason::Resuming;
    d.driver = None;
    d.reevaluate_at = Some(d.reevaluate_at.map_or(ends, |t| t.min(ends)));
}

#[cfg(test)]
mod tests {
    use crate::engine::{KeepAlive, Policy, Reason, decide};
    use crate::signal::{EventKind, Feed, SignalKind, Signals};
    use crate::time::Timestamp;

    const T0: u64 = 1_700_000_000_000;

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_millis(T0 + secs * 1000)
    }

    fn fixed_window() -> Policy {
        Policy {
            keep_alive: KeepAlive::Fixed,
            ..Policy::default()
        }
    }

    /// An events-only server with a request every 30 s until `last`, whose
    /// event stream was down from 610 s to `back`.
    fn blind(last: u64, back: u64, blind_from: Option<u64>) -> Signals {
        let mut s = Signals {
            feed: Feed {
                events_configured: true,
                events_ready: true,
                trusted_since: Some(at(back)),
                blind_from: blind_from.map(at),
                ..Feed::default()
            },
            ..Signals::default()
        };
        for k in (0..=last).step_by(30) {
            s.record_event(EventKind::Request, at(k));
        }
        s
    }

    #[test]
    fn a_server_busy_before_the_blind_stretch_stays_up_for_an_idle_window() {
        // Busy until 600 s, blind from 610 s to 1,090 s (8 minutes).
        let s = blind(600, 1090, Some(610));
        let d = decide(&s, &fixed_window(), at(1091));
        assert_eq!((d.active, d.reason), (true, Reason::Resuming), "{d:?}");
        assert!(d.desired >= 1);
        assert_eq!(
            d.reevaluate_at,
            Some(at(1090 + 300)),
            "decide again when it ends"
        );
        let after = decide(&s, &fixed_window(), at(1390));
        assert_eq!((after.active, after.reason), (false, Reason::Idle));
        // The default (cost-aware) keep-alive is held the same way.
        assert!(decide(&s, &Policy::default(), at(1091)).active);
    }

    #[test]
    fn no_hold_without_a_blind_stretch_or_for_a_server_idle_before_it() {
        // The stream turned trusted for the first time: nothing to hold.
        let first = blind(600, 1090, None);
        assert!(!decide(&first, &fixed_window(), at(1091)).active);
        // Idle (300 s without a request) well before the stream went down.
        let idle = blind(200, 1090, Some(610));
        let d = decide(&idle, &fixed_window(), at(1091));
        assert_eq!((d.active, d.reason), (false, Reason::Idle), "never a wake");
    }

    #[test]
    fn the_hold_is_a_floor_not_a_cap() {
        let mut s = blind(600, 1090, Some(610));
        s.record_event(EventKind::Request, at(1095));
        let d = decide(&s, &fixed_window(), at(1096));
        assert!(d.active);
        assert_ne!(d.reason, Reason::Resuming, "seen anew: the live answer");
    }

    /// A server polled every 15 s with a queue of `queue` until 600 s,
    /// then, after polls failed for eight minutes, an empty queue at 1,090 s.
    fn polled_then_blind(queue: f64, resumed: bool) -> Signals {
        let mut s = Signals::default();
        s.feed.poller_configured = true;
        for k in (0..=600).step_by(15) {
            s.set(SignalKind::QueueLength, queue);
            s.feed.polled_at = Some(at(k));
            s.finish_poll(at(k));
        }
        if resumed {
            s.set(SignalKind::QueueLength, 0.0);
            s.feed.polled_at = Some(at(1090));
            s.feed.trusted_since = Some(at(1090));
            s.feed.blind_from = Some(at(600));
            s.finish_poll(at(1090));
        }
        s
    }

    #[test]
    fn polls_back_after_a_gap_hold_the_count_from_before_it() {
        let policy = fixed_window();
        let then = decide(&polled_then_blind(40.0, false), &policy, at(600));
        assert!(then.desired >= 2, "a count worth holding: {then:?}");
        let s = polled_then_blind(40.0, true);
        let d = decide(&s, &policy, at(1091));
        assert_eq!(
            (d.desired, d.active, d.reason),
            (then.desired, true, Reason::Resuming)
        );
        assert!(
            !decide(&s, &policy, at(1090 + 300)).active,
            "an idle window later"
        );
    }
}
