//! The values a decision is made of: metrics, reasons, data quality, the
//! decision itself, and the stabilisation state a replay carries forward.

use super::stabilize::Memory;
use crate::time::Timestamp;
use serde::Serialize;

pub use crate::signal::Metric;

/// Why the decision came out as it did (machine-readable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// No activity within the keep-alive window: scale to `min_replicas`.
    Idle,
    /// Idle, but the server's next request is predicted soon: warm it now.
    Prewarm,
    /// Active, and the load needs no more than the floor.
    KeepWarm,
    /// A metric's need set the count; see `driver`.
    Load,
    /// Capped at `max_replicas`.
    MaxReplicas,
    /// Pods holding live work are kept until it ends (the load alone
    /// would scale in further).
    LiveWork,
    /// The need is within the tolerance band of the current count.
    WithinTolerance,
    /// A stabilisation window holds the count.
    Stabilizing,
    /// A rate limit slows the change.
    RateLimited,
    /// Panic mode (a burst) forbids scaling down.
    Panic,
    /// Polled data is stale: holding the last good answer.
    StaleHold,
    /// Polled data is missing or too old to trust at all.
    DataUnavailable,
    /// A source came back after a blind stretch: for an idle window the
    /// answer is no lower than the last good one from before it (what
    /// happened meanwhile may not have been seen).
    Resuming,
}

impl Reason {
    /// The snake_case name the API uses.
    pub const fn name(self) -> &'static str {
        match self {
            Reason::Idle => "idle",
            Reason::Prewarm => "prewarm",
            Reason::KeepWarm => "keep_warm",
            Reason::Load => "load",
            Reason::MaxReplicas => "max_replicas",
            Reason::LiveWork => "live_work",
            Reason::WithinTolerance => "within_tolerance",
            Reason::Stabilizing => "stabilizing",
            Reason::RateLimited => "rate_limited",
            Reason::Panic => "panic",
            Reason::StaleHold => "stale_hold",
            Reason::DataUnavailable => "data_unavailable",
            Reason::Resuming => "resuming",
        }
    }
}

#[cfg(test)]
#[test]
fn reason_names_are_their_json_names() {
    for r in [
        Reason::Idle,
        Reason::Prewarm,
        Reason::KeepWarm,
        Reason::Load,
        Reason::MaxReplicas,
        Reason::LiveWork,
        Reason::WithinTolerance,
        Reason::Stabilizing,
        Reason::RateLimited,
        Reason::Panic,
        Reason::StaleHold,
        Reason::Resuming,
        Reason::DataUnavailable,
    ] {
        assert_eq!(serde_json::to_value(r).ok(), Some(r.name().into()));
    }
}

/// How trustworthy the data behind a decision is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum DataQuality {
    /// Fresh poll.
    Fresh,
    /// No poller configured: decisions rest on events alone, and the event
    /// stream is live (or none is configured either).
    EventsOnly,
    /// Older than `stale_after`: the last good answer holds.
    Stale {
        /// Age of the last good data, in milliseconds.
        age_ms: u64,
        /// Why the data is old.
        cause: Gap,
    },
    /// Older than `unavailable_after`, or there never was good data.
    Unavailable {
        /// Age of the last good data, if there ever was any.
        age_ms: Option<u64>,
        /// Why the data is missing.
        cause: Gap,
    },
}

/// Why a server's data is not fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Gap {
    /// Prometheus polls fail (or none has succeeded yet).
    PollFailing,
    /// Polls succeed, but this server's series vanished while it was busy.
    SeriesMissing,
    /// The event stream has not delivered its first data (or replay) yet.
    EventsNotReady,
    /// The event stream is disconnected.
    EventsDown,
    /// The scaler refused this server's data: it tracks `server.max_servers`
    /// servers and none was quiet enough to forget.
    NotTracked,
}

impl Gap {
    /// What a user reads in an `UNAVAILABLE` answer.
    pub fn describe(self) -> &'static str {
        match self {
            Gap::PollFailing => "Prometheus polls are failing or none has succeeded yet",
            Gap::SeriesMissing => {
                "this server's series are missing from Prometheus: they vanished while it was busy, or its workload runs replicas and has none (scrape failing, a relabel dropped its labels, or new pods not scraped yet)"
            }
            Gap::EventsNotReady => "the NATS event stream has not delivered its first data yet",
            Gap::EventsDown => "the NATS event stream is disconnected",
            Gap::NotTracked => {
                "the scaler refused this server's data: it tracks server.max_servers servers and none was quiet enough to forget (raise server.max_servers)"
            }
        }
    }
}

/// Every metric's part in a decision, held inline (a decision allocates
/// nothing for them: a replay makes one per grid time).
pub type Contributions = smallvec::SmallVec<[Contribution; 7]>;

/// One metric's part in a decision.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Contribution {
    /// Which metric.
    pub metric: Metric,
    /// Its current value for the whole server.
    pub value: f64,
    /// The per-replica target (or the objective).
    pub target: f64,
    /// Replicas it needs.
    pub replicas: u32,
}

/// What stabilisation carries from one grid time to the next while a
/// decision is replayed from the signal history. Never stored between calls.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct State {
    /// The last decision made on trustworthy data (the engine's "current").
    pub last_desired: u32,
    /// Whether that decision was active.
    pub last_active: bool,
    /// Stabilisation memory.
    #[serde(skip)]
    pub memory: Memory,
}

/// The outcome for one server at one instant. In JSON, `desired` and
/// `active` are as [`Decision::shown`] says: `null` when the data is
/// unavailable (`active` stays when it is `true`): unknown is never idle
/// (KEDA gets an error, `/metrics` drops the series), so no reader may
/// take a 0 from it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(into = "DecisionJson")]
pub struct Decision {
    /// Replicas wanted; `null` when the data is unavailable.
    #[schema(value_type = Option<u32>)]
    pub desired: u32,
    /// Whether the server should have at least one replica; `null` when
    /// the data is unavailable.
    #[schema(value_type = Option<bool>)]
    pub active: bool,
    /// Why.
    pub reason: Reason,
    /// The metric that set the count, when one did.
    pub driver: Option<Metric>,
    /// Every metric with a target, and what it needs.
    #[schema(value_type = Vec<Contribution>)]
    pub contributions: Contributions,
    /// How trustworthy the polled data was.
    pub data: DataQuality,
    /// When the decision may change with no new data (a keep-alive window
    /// ends, a pre-warm begins, event-counted work stops counting, a hold
    /// after a blind stretch ends, the step rule steps); watchers sleep
    /// until then. None for a server that never idles (`min_replicas` > 0).
    #[schema(value_type = Option<u64>)]
    pub reevaluate_at: Option<Timestamp>,
    /// The state carried to the next grid time of a replay.
    #[serde(skip)]
    pub(crate) next: State,
}

impl Decision {
    /// What may be shown of it (the API, the live view, `StreamIsActive`):
    /// the count only on known data; activity on known data, or when it
    /// is evidence of activity. Never an idle answer from unknown data.
    pub fn shown(&self) -> (Option<u32>, Option<bool>) {
        let known = !matches!(self.data, DataQuality::Unavailable { .. });
        (
            known.then_some(self.desired),
            (known || self.active).then_some(self.active),
        )
    }

    /// Whether `desired` holds an earlier answer instead of reading the
    /// signals now (stale data, or the hold after a blind stretch): the
    /// signals then must not be reported as what sized the server.
    pub fn is_held(&self) -> bool {
        matches!(self.reason, Reason::StaleHold | Reason::Resuming)
    }
}

/// A [`Decision`] as the API shows it.
#[derive(Serialize)]
struct DecisionJson {
    desired: Option<u32>,
    active: Option<bool>,
    reason: Reason,
    driver: Option<Metric>,
    contributions: Contributions,
    data: DataQuality,
    reevaluate_at: Option<Timestamp>,
}

impl From<Decision> for DecisionJson {
    fn from(d: Decision) -> Self {
        let (desired, active) = d.shown();
        Self {
            desired,
            active,
            reason: d.reason,
            driver: d.driver,
            contributions: d.contributions,
            data: d.data,
            reevaluate_at: d.reevaluate_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_has_every_field_the_schema_names_and_no_other() {
        let json = serde_json::to_value(Decision {
            desired: 1,
            active: true,
            reason: Reason::Load,
            driver: None,
            contributions: Contributions::default(),
            data: DataQuality::Fresh,
            reevaluate_at: None,
            next: State::default(),
        })
        .expect("json");
        let keys: Vec<&String> = json.as_object().expect("object").keys().collect();
        let schema = <Decision as utoipa::PartialSchema>::schema();
        let utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(object)) = schema
        else {
            panic!("an object schema");
        };
        let named: Vec<&String> = object.properties.keys().collect();
        assert_eq!(keys, named);
    }
}
