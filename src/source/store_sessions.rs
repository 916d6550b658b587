//! The store's side of session events: each server's table of open
//! sessions and connections by id (see [`crate::source::sessions`]), and
//! the store-wide budget of ids.

use super::Store;
use crate::id::ServerKey;
use crate::signal::EventKind;
use crate::source::sessions::{Counted, SWEEP_EVERY, SessionId};
use crate::time::Timestamp;
use std::sync::PoisonError;

impl Store {
    /// Applies an activity event, naming the session or connection it is
    /// about if it does (see [`super::sessions`]), and wakes the server's
    /// watchers at once. Returns what it moved: an open or close moves the
    /// server's count unless it is a second open or a close of a session
    /// never seen open (which moves it only when it cancels one counted
    /// beyond the caps, and then moves no pod); `None` when the store is
    /// full and the event was dropped.
    pub fn record_session_event(
        &self,
        server: &ServerKey,
        (kind, session): (EventKind, Option<SessionId>),
        at: Timestamp,
    ) -> Option<Counted> {
        if session.is_some() && self.sessions.is_full() {
            self.forget_silent_sessions(at);
        }
        let room = self.room(at);
        let mut servers = self.write(server);
        let entry = room.entry(&mut servers, server)?;
        let counted =
            entry
                .sessions
                .record(&mut entry.signals, (kind, session, at), &self.sessions);
        entry.notify();
        Some(counted)
    }

    /// Sessions and connections tracked by id over the whole store.
    pub fn tracked_sessions(&self) -> usize {
        self.sessions.used()
    }

    /// This store, tracking at most `limit` sessions and connections by id
    /// (tests: the budget, filled).
    #[cfg(test)]
    pub(crate) fn with_tracked_sessions(mut self, limit: usize) -> Self {
        let forget_after = self.sessions.forget_after();
        self.sessions = crate::source::sessions::SessionLimits::with_limit(limit)
            .forgetting_after(forget_after);
        self
    }

    /// This store, forgetting a session or connection no event has named
    /// for `forget_after` (`nats.session_forget_after`).
    pub fn with_session_forget_after(mut self, forget_after: std::time::Duration) -> Self {
        self.sessions = std::mem::take(&mut self.sessions).forgetting_after(forget_after);
        self
    }

    /// With every id's place taken, forgets the silent ones of every
    /// server, not only of servers that still send events (at most once a
    /// minute of event time, and per server as its own sweep allows).
    fn forget_silent_sessions(&self, at: Timestamp) {
        {
            let mut due = self
                .full_sweep_due
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if due.is_some_and(|t| at < t) {
                return;
            }
            *due = Some(at + SWEEP_EVERY);
        }
        for shard in &self.shards {
            let mut servers = shard.write().unwrap_or_else(PoisonError::into_inner);
            for entry in servers.values_mut() {
                if let Some(forgotten) = entry.sessions.sweep(at, &self.sessions) {
                    entry.signals.forget_units(forgotten, at);
                    entry.notify();
                }
            }
        }
    }
}
