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
    Payload(#[from] serde_json::Error),
    /// `ts` is not RFC 3339.
    #[error("ts {0:?} is not an RFC 3339 time")]
    Time(String),
}

#[derive(Deserialize)]
struct Payload {
    kind: EventKind,
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    pod: Option<String>,
    #[serde(default)]
    session: Option<String>,
}

/// A parsed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityEvent {
    /// Which server.
    pub server: ServerKey,
    /// What happened.
    pub kind: EventKind,
    /// When: `ts` if given, else `fallback` (the stream's publish time, or
    /// arrival); never later than `now`, so a skewed publisher cannot keep a
    /// server awake.
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
    let p: Payload = serde_json::from_slice(payload)?;
    let at = match p.ts {
        None => fallback,
        Some(ts) => rfc3339_to_timestamp(&ts).ok_or(EventError::Time(ts))?,
    };
    Ok(ActivityEvent {
        server,
        kind: p.kind,
        at: at.min(now),
        pod: p
            .pod
            .filter(|pod| crate::cluster::pods::valid_pod_name(pod)),
        session: p.session.as_deref().and_then(SessionId::parse),
    })
}

fn rfc3339_to_timestamp(ts: &str) -> Option<Timestamp> {
    let t = humantime::parse_rfc3339_weak(ts).ok()?;
    let ms = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis();
    Some(Timestamp::from_millis(u64::try_from(ms).ok()?))
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
                r#"{"ts":"2023-11-14T22:13:10Z"}"#,
                "payload",
            ),
            (
                "mcp.activity.ns.s1",
                r#"{"kind":"request","ts":"yesterday"}"#,
                "RFC 3339",
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
