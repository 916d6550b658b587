//! Activity events as published on NATS: subject
//! `<prefix>.<namespace>.<server>`,
//! payload JSON `{"kind": ..., "ts": RFC 3339?, "session": ?, "pod": ?}`;
//! an empty payload is one `request`. Parsing is pure and strict about the
//! subject and id, lenient about extra payload fields (gateways evolve).

use super::sessions::SessionId;
use crate::id::{InvalidId, ServerKey};
use crate::signal::EventKind;
use crate::time::Timestamp;
use serde::Deserialize;

/// An event that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The subject is not `<prefix>.<namespace>.<server>`.
    #[error("subject {0:?} is not <prefix>.<namespace>.<server>")]
    Subject(String),
    /// The namespace or server token is not a valid id.
    #[error(transparent)]
    Id(#[from] InvalidId),
    /// The payload is not the event JSON.
    #[error("payload: {0}")]
    Payload(String),
    /// `ts` is not RFC 3339.
    #[error("ts {0:?} is not an RFC 3339 time")]
    Time(String),
    /// `ts` is not a string.
    #[error("ts is not a string (an RFC 3339 time)")]
    TimeType,
}

/// The payload. `ts`, `pod` and `session` are read as any JSON value: a
/// pod or session of another type is ignored like an unusable one (a
/// session id given as a number is its digits), never the whole event.
#[derive(Deserialize)]
struct Payload {
    kind: EventKind,
    #[serde(default)]
    ts: Option<serde_json::Value>,
    #[serde(default)]
    pod: Option<serde_json::Value>,
    #[serde(default)]
    session: Option<serde_json::Value>,
}

/// A session id's text: a string, or a whole number's digits.
fn id_text(v: &serde_json::Value) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        serde_json::Value::String(s) => Some(s.as_str().into()),
        serde_json::Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string().into()),
        _ => None,
    }
}

/// What is wrong with a payload that is not the event JSON: the parser's
/// words for bad JSON, else what the event must be (the parser says only
/// "expected value" for a `kind` that is not a string).
fn payload_error(payload: &[u8], e: &serde_json::Error) -> EventError {
    const SHAPE: &str = "expected a JSON object such as {\"kind\":\"request\"}, kind one of \
                         request, session_open, session_close, connection_open, connection_close";
    let message = match serde_json::from_slice::<serde_json::Value>(payload) {
        Err(_) => e.to_string(),
        Ok(serde_json::Value::Object(o)) => match o.get("kind") {
            Some(serde_json::Value::String(_)) | None => e.to_string(),
            Some(other) => format!("kind is {}, not a string: {SHAPE}", json_type(other)),
        },
        Ok(other) => format!("{} is not an object: {SHAPE}", json_type(&other)),
    };
    EventError::Payload(message)
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A parsed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityEvent {
    /// Which server.
    pub server: ServerKey,
    /// What happened.
    pub kind: EventKind,
    /// When: `ts` if given, else `fallback` (the stream's publish time, or
    /// arrival); never later than `fallback` nor `now`, so a skewed
    /// publisher cannot keep a server awake, and replicas that read the
    /// same stream agree whatever their clocks.
    pub at: Timestamp,
    /// The pod that served it, when the payload names a valid pod name
    /// (per-pod live work for session-aware scale-in).
    pub pod: Option<String>,
    /// The session or connection it is about, when the payload names a
    /// usable id ([`SessionId::parse`]; others are ignored).
    pub session: Option<SessionId>,
}

/// Parses one message.
pub fn parse(
    prefix: &str,
    subject: &str,
    payload: &[u8],
    fallback: Timestamp,
    now: Timestamp,
) -> Result<ActivityEvent, EventError> {
    let bad_subject = || EventError::Subject(subject.chars().take(200).collect());
    let (namespace, name) = subject
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.split_once('.'))
        .ok_or_else(bad_subject)?;
    let server = ServerKey::parse(namespace, name)?;
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Ok(ActivityEvent {
            server,
            kind: EventKind::Request,
            at: fallback.min(now),
            pod: None,
            session: None,
        });
    }
    let p: Payload = serde_json::from_slice(payload).map_err(|e| payload_error(payload, &e))?;
    let at = match p.ts {
        None | Some(serde_json::Value::Null) => fallback,
        // Never after its publication: a publisher's clock ahead of the
        // NATS server's would otherwise be capped by each replica's own
        // clock, differently (rule 2).
        Some(serde_json::Value::String(ts)) => rfc3339_to_timestamp(&ts)
            .ok_or(EventError::Time(ts))?
            .min(fallback),
        Some(_) => return Err(EventError::TimeType),
    };
    Ok(ActivityEvent {
        server,
        kind: p.kind,
        at: at.min(now),
        pod: p
            .pod
            .as_ref()
            .and_then(serde_json::Value::as_str)
            .filter(|pod| crate::cluster::pods::valid_pod_name(pod))
            .map(str::to_owned),
        session: p
            .session
            .as_ref()
            .and_then(id_text)
            .and_then(|id| SessionId::parse(&id)),
    })
}

/// An RFC 3339 time with any offset (`Z`, `z`, `-05:00`), or the forms
/// without one that were always accepted (read as UTC).
fn rfc3339_to_timestamp(ts: &str) -> Option<Timestamp> {
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    let ms = match time::OffsetDateTime::parse(ts, rfc3339) {
        Ok(t) => u64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()?,
        Err(_) => {
            let t = humantime::parse_rfc3339_weak(ts).ok()?;
            u64::try_from(t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis()).ok()?
        }
    };
    Some(Timestamp::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

    fn ok(subject: &str, payload: &str) -> ActivityEvent {
        parse("mcp.activity", subject, payload.as_bytes(), NOW, NOW).expect(payload)
    }

    #[test]
    fn a_usable_session_id_is_kept_and_others_are_ignored() {
        let e = ok(
            "mcp.activity.tenant-a.weather",
            r#"{"kind":"session_open","session":"abc"}"#,
        );
        assert_eq!(e.session, SessionId::parse("abc"));
        assert!(e.session.is_some());
        let long = "x".repeat(super::super::sessions::MAX_ID_LEN + 1);
        let e = ok(
            "mcp.activity.tenant-a.weather",
            &format!(r#"{{"kind":"session_open","session":"{long}"}}"#),
        );
        assert_eq!(e.session, None, "too long: counted without an id");
        assert_eq!(ok("mcp.activity.tenant-a.weather", "").session, None);
    }

    #[test]
    fn an_empty_payload_is_one_request() {
        let e = ok("mcp.activity.tenant-a.weather", "");
        assert_eq!(
            (e.server.to_string().as_str(), e.kind, e.at),
            ("tenant-a/weather", EventKind::Request, NOW)
        );
    }

    #[test]
    fn every_kind_parses_and_extra_fields_are_allowed() {
        for (text, kind) in [
            ("request", EventKind::Request),
            ("session_open", EventKind::SessionOpen),
            ("session_close", EventKind::SessionClose),
            ("connection_open", EventKind::ConnectionOpen),
            ("connection_close", EventKind::ConnectionClose),
        ] {
            let e = ok(
                "mcp.activity.ns.s1",
                &format!(r#"{{"kind":"{text}","session":"abc","pod":"p-1","extra":1}}"#),
            );
            assert_eq!(e.kind, kind);
            assert_eq!(e.pod.as_deref(), Some("p-1"));
        }
        let bad_pod = ok("mcp.activity.ns.s1", r#"{"kind":"request","pod":"P 1"}"#);
        assert_eq!(
            bad_pod.pod, None,
            "an invalid pod name is dropped, the event kept"
        );
    }

    #[test]
    fn ts_is_used_but_never_later_than_now() {
        let e = ok(
            "mcp.activity.ns.s1",
            r#"{"kind":"request","ts":"2023-11-14T22:13:10Z"}"#,
        );
        assert_eq!(e.at, Timestamp::from_millis(1_699_999_990_000));
        let future = ok(
            "mcp.activity.ns.s1",
            r#"{"kind":"request","ts":"2099-01-01T00:00:00Z"}"#,
        );
        assert_eq!(future.at, NOW);
        // Replayed: capped at its publication, not at this replica's clock.
        let published = Timestamp::from_millis(1_699_999_995_000);
        let e = parse(
            "mcp.activity",
            "mcp.activity.ns.s1",
            br#"{"kind":"request","ts":"2099-01-01T00:00:00Z"}"#,
            published,
            NOW,
        )
        .expect("parses");
        assert_eq!(e.at, published);
        // Any offset, either case of the separators; no offset reads as UTC.
        for ts in [
            "2023-11-14T17:13:10-05:00",
            "2023-11-14t22:13:10z",
            "2023-11-14T23:13:10.000+01:00",
            "2023-11-14T22:13:10",
        ] {
            let e = ok(
                "mcp.activity.ns.s1",
                &format!(r#"{{"kind":"request","ts":"{ts}"}}"#),
            );
            assert_eq!(e.at, Timestamp::from_millis(1_699_999_990_000), "{ts}");
        }
    }

    #[test]
    fn a_pod_or_session_of_another_type_is_ignored_not_the_event() {
        let e = ok(
            "mcp.activity.ns.s1",
            r#"{"kind":"session_open","session":42,"pod":7}"#,
        );
        assert_eq!(e.kind, EventKind::SessionOpen);
        assert_eq!(
            e.session,
            SessionId::parse("42"),
            "a number id is its digits"
        );
        assert_eq!(e.pod, None);
        let e = ok(
            "mcp.activity.ns.s1",
            r#"{"kind":"session_close","session":{"id":1},"ts":null}"#,
        );
        assert_eq!(
            (e.kind, e.session, e.at),
            (EventKind::SessionClose, None, NOW)
        );
    }

    #[test]
    fn malformed_events_are_errors_naming_the_problem() {
        let cases = [
            ("other.subject.ns.s1", "", "subject"),
            ("mcp.activity", "", "subject"),
            ("mcp.activity.s1", "", "subject"),
            ("mcp.activity.ns.a.b", "", "invalid server id"),
            ("mcp.activity.ns.UPPER", "", "invalid server id"),
            ("mcp.activity.NS.s1", "", "invalid namespace"),
            ("mcp.activity..s1", "", "invalid namespace"),
            ("mcp.activity.ns.s1", "{not json", "payload"),
            ("mcp.activity.ns.s1", r#"{"kind":"explode"}"#, "payload"),
            (
                "mcp.activity.ns.s1",
                r#"{"kind":5}"#,
                "kind is a number, not a string",
            ),
            ("mcp.activity.ns.s1", "[1,2]", "an array is not an object"),
            (
                "mcp.activity.ns.s1",
                r#"{"ts":"2023-11-14T22:13:10Z"}"#,
                "payload",
            ),
            (
                "mcp.activity.ns.s1",
                r#"{"kind":"request","ts":"yesterday"}"#,
                "RFC 3339",
            ),
            (
                "mcp.activity.ns.s1",
                r#"{"kind":"request","ts":1700000000}"#,
                "not a string",
            ),
        ];
        for (subject, payload, needle) in cases {
            let err = parse("mcp.activity", subject, payload.as_bytes(), NOW, NOW)
                .expect_err(subject)
                .to_string();
            assert!(err.contains(needle), "{subject} {payload}: {err}");
        }
    }
}
