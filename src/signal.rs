//! What is known about one hosted MCP server: samples of each signal with the
//! time they were observed, and activity seen on the event stream.

use crate::engine::IdleGaps;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Kinds of load signal the engine understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// Open client connections (gauge).
    Connections,
    /// Live MCP sessions (gauge); stateful and pinned to a replica.
    Sessions,
    /// Tool calls waiting in the server's queue (gauge).
    QueueLength,
    /// Tool requests per second.
    RequestRate,
    /// Failed tool requests as a fraction of all requests (0..1).
    ErrorRate,
    /// 95th percentile tool call latency in seconds.
    LatencyP95,
}

impl SignalKind {
    /// Every kind, in a fixed order (used for arrays and stable output).
    pub const ALL: [SignalKind; 6] = [
        SignalKind::Connections,
        SignalKind::Sessions,
        SignalKind::QueueLength,
        SignalKind::RequestRate,
        SignalKind::ErrorRate,
        SignalKind::LatencyP95,
    ];

    /// Position in [`SignalKind::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The snake_case name used in config, logs and the API.
    pub const fn name(self) -> &'static str {
        match self {
            SignalKind::Connections => "connections",
            SignalKind::Sessions => "sessions",
            SignalKind::QueueLength => "queue_length",
            SignalKind::RequestRate => "request_rate",
            SignalKind::ErrorRate => "error_rate",
            SignalKind::LatencyP95 => "latency_p95",
        }
    }

    /// True for signals whose non-zero value means the server is in use.
    pub const fn shows_activity(self) -> bool {
        matches!(
            self,
            SignalKind::Connections
                | SignalKind::Sessions
                | SignalKind::QueueLength
                | SignalKind::RequestRate
        )
    }
}

/// What an activity event on the event stream reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A request (tool call) arrived.
    Request,
    /// An MCP session was opened.
    SessionOpen,
    /// An MCP session was closed.
    SessionClose,
    /// A client connection was opened.
    ConnectionOpen,
    /// A client connection was closed.
    ConnectionClose,
}

/// One observed value and when it was observed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The value (always finite and non-negative once in the store).
    pub value: f64,
    /// When the source observed it (Prometheus sample time, event time).
    pub at: Timestamp,
}

/// Everything the store knows about one server, handed to the engine by value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    /// Latest sample of each polled signal, indexed by [`SignalKind::index`].
    pub polled: [Option<Sample>; 6],
    /// Last time the poller succeeded for the whole fleet; `None` while no
    /// poll has succeeded. Absent samples are "zero" only if this is fresh.
    pub polled_at: Option<Timestamp>,
    /// Whether a poller is configured at all. Without one, no data is not a
    /// fault: every server is simply idle unless events say otherwise.
    pub poller_configured: bool,
    /// Last poll in which any activity signal was above zero.
    pub last_poll_activity: Option<Timestamp>,
    /// Last request or session/connection event seen on the event stream.
    pub last_event: Option<Timestamp>,
    /// Live sessions counted from open/close events.
    pub event_sessions: u32,
    /// Open connections counted from open/close events.
    pub event_connections: u32,
    /// Idle gaps between activity, learned for predictive keep-alive.
    pub gaps: IdleGaps,
}

impl Signals {
    /// The latest sample of `kind`, if any.
    pub fn get(&self, kind: SignalKind) -> Option<Sample> {
        self.polled[kind.index()]
    }

    /// Applies an activity event observed at `at`.
    pub fn record_event(&mut self, kind: EventKind, at: Timestamp) {
        self.note_activity(at);
        self.last_event = Some(self.last_event.map_or(at, |t| t.max(at)));
        match kind {
            EventKind::Request => {}
            EventKind::SessionOpen => self.event_sessions = self.event_sessions.saturating_add(1),
            EventKind::SessionClose => self.event_sessions = self.event_sessions.saturating_sub(1),
            EventKind::ConnectionOpen => {
                self.event_connections = self.event_connections.saturating_add(1);
            }
            EventKind::ConnectionClose => {
                self.event_connections = self.event_connections.saturating_sub(1);
            }
        }
    }

    /// Learns the idle gap that ends with activity at `at`.
    pub fn note_activity(&mut self, at: Timestamp) {
        if let Some(prev) = self.last_event.max(self.last_poll_activity)
            && at > prev
        {
            self.gaps.record(at.since(prev));
        }
    }

    /// Ends a complete successful poll at `at`: if any polled signal that
    /// shows activity is above zero, the poll counts as activity. Returns
    /// whether it did.
    pub fn finish_poll(&mut self, at: Timestamp) -> bool {
        let busy = SignalKind::ALL
            .iter()
            .filter(|k| k.shows_activity())
            .any(|k| self.get(*k).is_some_and(|s| s.value > 0.0));
        if busy {
            self.note_activity(at);
            self.last_poll_activity = Some(at);
        }
        busy
    }

    /// Records a polled sample, dropping values that are not finite or are
    /// negative (a broken exporter must not steer the engine).
    pub fn set(&mut self, kind: SignalKind, sample: Sample) {
        if sample.value.is_finite() && sample.value >= 0.0 {
            self.polled[kind.index()] = Some(sample);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_index_their_own_slot() {
        for (i, kind) in SignalKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
    }

    #[test]
    fn non_finite_or_negative_samples_are_ignored() {
        let mut s = Signals::default();
        let at = Timestamp::from_millis(1);
        for bad in [f64::NAN, f64::INFINITY, -1.0] {
            s.set(SignalKind::Connections, Sample { value: bad, at });
            assert_eq!(s.get(SignalKind::Connections), None);
        }
        s.set(SignalKind::Connections, Sample { value: 3.0, at });
        assert_eq!(s.get(SignalKind::Connections).map(|x| x.value), Some(3.0));
    }
}
