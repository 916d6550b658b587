//! `GET /v1/servers`: every known server, sorted by namespace then name,
//! filtered and paged with an opaque cursor.
//!
//! Known servers come from the store (signals and discovered workloads) and
//! from the ScaledObjects KEDA has asked about. Paging is by key (the
//! cursor is the last server of the page), so a page never repeats or skips
//! a server that stays while others come and go.

use crate::cluster::Inventory;
use crate::config::Config;
use crate::engine::{DataQuality, Decision, Policy, Reason};
use crate::id::{Namespace, ServerKey};
use crate::metadata::Target;
use crate::output::metrics::{Metrics, ServerLabels};
use crate::signal::Signals;
use crate::source::Store;
use crate::time::Timestamp;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Rows per page when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;

/// Most rows per page.
pub const MAX_LIMIT: usize = 1000;

/// A parsed `GET /v1/servers` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetQuery {
    /// Only this namespace.
    pub namespace: Option<Namespace>,
    /// Only active (or only idle) servers.
    pub active: Option<bool>,
    /// Only servers under this policy.
    pub policy: Option<String>,
    /// Rows per page.
    pub limit: usize,
    /// Start after this server.
    pub after: Option<ServerKey>,
}

impl FleetQuery {
    /// The parameters a fleet query takes.
    pub const PARAMETERS: [&'static str; 5] = ["namespace", "active", "policy", "limit", "cursor"];

    /// Parses the query parameters (each one of [`Self::PARAMETERS`], as
    /// the request's reading of its query has checked); the error names
    /// the parameter and what is allowed.
    pub fn parse(params: &HashMap<String, String>) -> Result<Self, String> {
        let namespace = params
            .get("namespace")
            .map(|n| Namespace::parse(n).map_err(|e| format!("namespace: {e}")))
            .transpose()?;
        let active = match params.get("active").map(String::as_str) {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                let shown: String = other.chars().take(40).collect();
                return Err(format!("active: {shown:?} is not true or false"));
            }
        };
        let limit = match params.get("limit") {
            None => DEFAULT_LIMIT,
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    let shown: String = raw.chars().take(40).collect();
                    format!("limit: {shown:?} is not a whole number from 1 to {MAX_LIMIT}")
                })?,
        };
        let after = params.get("cursor").map(|c| decode_cursor(c)).transpose()?;
        let policy = params.get("policy").map(|p| p.chars().take(64).collect());
        Ok(Self {
            namespace,
            active,
            policy,
            limit,
            after,
        })
    }
}

impl FleetQuery {
    /// This query, its `policy` checked against `config`'s policies (an
    /// unknown one would only give an empty page, after deciding every
    /// server).
    pub fn checked(self, config: &Config) -> Result<Self, String> {
        match &self.policy {
            Some(p) if !config.policies.contains_key(p) => {
                let known: Vec<&str> = config.policies.keys().map(String::as_str).collect();
                Err(format!(
                    "policy: {p:?} is not a configured policy (configured: {})",
                    known.join(", ")
                ))
            }
            _ => Ok(self),
        }
    }
}

/// The cursor after `server`: opaque to clients.
pub fn encode_cursor(server: &ServerKey) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}/{}", server.namespace, server.server))
}

fn decode_cursor(raw: &str) -> Result<ServerKey, String> {
    let bad = || "cursor: not a cursor this API returned (use next_cursor as given)".to_owned();
    let bytes = URL_SAFE_NO_PAD.decode(raw.as_bytes()).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (ns, name) = text.split_once('/').ok_or_else(bad)?;
    ServerKey::parse(ns, name).map_err(|_| bad())
}

/// One row of the fleet.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Row {
    /// Namespace.
    pub namespace: String,
    /// Server name.
    pub server: String,
    /// The policy its decision is made under.
    pub policy: String,
    /// Whether it should run; `null` when its data is unavailable
    /// (unknown is never idle) unless it shows activity.
    pub active: Option<bool>,
    /// Replicas it should run; `null` when its data is unavailable.
    pub desired: Option<u32>,
    /// Replicas its workload runs (discovery), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u32>,
    /// Ready replicas (discovery), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<u32>,
    /// Why.
    pub reason: Reason,
    /// The last activity seen, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_activity: Option<String>,
    /// How old its data is, in seconds (absent when events alone decide).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_age_s: Option<f64>,
    /// Whether its data is trusted now: `fresh`, `events_only`, `stale` or
    /// `unavailable`.
    #[schema(value_type = String, pattern = "^(fresh|events_only|stale|unavailable)$")]
    pub data: &'static str,
}

/// One page.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Page {
    /// The rows, sorted by namespace then server.
    pub servers: Vec<Row>,
    /// Pass as `cursor` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One server's policy, signals and decision at one time.
pub struct Evaluated {
    /// The policy's name.
    pub policy: String,
    /// What the store holds.
    pub signals: Signals,
    /// The decision now.
    pub decision: Decision,
    /// How long its event counts stand after its last event (the
    /// policy's `event_count_ttl`).
    pub event_count_ttl: std::time::Duration,
}

/// Where the fleet's rows come from.
#[derive(Clone, Copy)]
pub struct Fleet<'a> {
    /// Signals and discovered servers.
    pub store: &'a Store,
    /// Discovered workloads (for each server's policy annotation).
    pub inventory: &'a Inventory,
    /// ScaledObjects KEDA asked about, by server.
    pub asked: &'a BTreeMap<ServerKey, Arc<Target>>,
    /// Policies.
    pub config: &'a Config,
    /// Now.
    pub now: Timestamp,
}

/// How many keys are read from the store at a time while a page fills.
const BATCH: usize = 512;

impl Fleet<'_> {
    /// The policy `server` is decided under: its ScaledObject's (with its
    /// overrides), else its workload's annotation, else the default.
    pub fn policy_of(&self, server: &ServerKey) -> (String, Policy) {
        if let Some(t) = self.asked.get(server) {
            return (t.policy_name.clone(), t.policy.clone());
        }
        let hosted = self.inventory.hosted(server);
        let annotation = hosted.iter().find_map(|h| h.policy.as_deref());
        let (name, policy) = self.config.policy_named_by(annotation);
        (name.to_owned(), policy.cloned().unwrap_or_default())
    }

    /// `server`'s policy, signals and decision now.
    pub fn evaluate(&self, server: &ServerKey) -> Evaluated {
        let (policy, rules) = self.policy_of(server);
        let signals = self.store.signals(server);
        let decision = crate::engine::decide(&signals, &rules, self.now);
        Evaluated {
            policy,
            signals,
            decision,
            event_count_ttl: rules.event_count_ttl,
        }
    }

    /// The row of `server`.
    pub fn row(&self, server: &ServerKey) -> Row {
        let e = self.evaluate(server);
        let replicas = e.signals.replicas;
        let (desired, active) = e.decision.shown();
        Row {
            namespace: server.namespace.to_string(),
            server: server.server.to_string(),
            active,
            desired,
            current: replicas.map(|r| r.desired),
            ready: replicas.map(|r| r.ready),
            reason: e.decision.reason,
            last_activity: e.signals.last_activity().map(rfc3339),
            data_age_s: data_age(&e.decision, e.signals.feed.polled_at, self.now),
            data: quality_name(&e.decision.data),
            policy: e.policy,
        }
    }

    /// Sets the per-server decision gauges of `m` from the decision now of
    /// every server the store holds; servers no longer held drop out. Each
    /// is decided under its configured policy (its workload's annotation,
    /// else the default), never a ScaledObject's metadata: these series
    /// scale servers through a plain HPA, and a gRPC caller must not steer
    /// another's HPA, nor the answer depend on which replica it called
    /// (rules 2 and 1). A server whose data is unavailable has no
    /// `desired_replicas` or `active` series (only its data age, if it ever
    /// had data): the HPA then holds its replicas, where a held `0` would
    /// scale a server nobody can see down (rule 3).
    pub fn record_decisions(&self, m: &Metrics) {
        m.desired_replicas.clear();
        m.active.clear();
        m.data_age_seconds.clear();
        let configured = Fleet {
            asked: &BTreeMap::new(),
            ..*self
        };
        configured.each_row(|row| {
            let labels = ServerLabels {
                namespace: row.namespace,
                server: row.server,
            };
            if let (Some(desired), Some(active)) = (row.desired, row.active) {
                let gauge = m.desired_replicas.get_or_create(&labels);
                gauge.set(i64::from(desired));
                m.active.get_or_create(&labels).set(i64::from(active));
            }
            if let Some(age) = row.data_age_s {
                m.data_age_seconds.get_or_create(&labels).set(age);
            }
        });
    }

    /// One page of `query`.
    pub fn page(&self, query: &FleetQuery) -> Page {
        let mut rows = Vec::with_capacity(query.limit);
        let mut after = query.after.clone();
        let mut more = false;
        'fill: loop {
            let keys = self.next_keys(after.as_ref(), query.namespace.as_ref());
            let Some(last) = keys.last().cloned() else {
                break;
            };
            for key in keys {
                let row = self.row(&key);
                let keep = query.active.is_none_or(|a| Some(a) == row.active)
                    && query.policy.as_ref().is_none_or(|p| *p == row.policy);
                if !keep {
                    continue;
                }
                if rows.len() == query.limit {
                    more = true;
                    break 'fill;
                }
                rows.push(row);
            }
            after = Some(last);
        }
        let next_cursor = more
            .then(|| rows.last())
            .flatten()
            .and_then(|r| ServerKey::parse(&r.namespace, &r.server).ok())
            .map(|k| encode_cursor(&k));
        Page {
            servers: rows,
            next_cursor,
        }
    }

    /// Visits the row of every known server, in order.
    pub fn each_row(&self, mut visit: impl FnMut(Row)) {
        self.each_server(|key| visit(self.row(key)));
    }

    /// Visits every known server, in order.
    pub fn each_server(&self, mut visit: impl FnMut(&ServerKey)) {
        let mut after: Option<ServerKey> = None;
        loop {
            let keys = self.next_keys(after.as_ref(), None);
            let Some(last) = keys.last().cloned() else {
                return;
            };
            for key in &keys {
                visit(key);
            }
            after = Some(last);
        }
    }

    /// The next known servers after `after`, in order: the store's merged
    /// with the ScaledObjects asked about.
    fn next_keys(
        &self,
        after: Option<&ServerKey>,
        namespace: Option<&Namespace>,
    ) -> Vec<ServerKey> {
        let mut keys = self.store.keys_after(after, namespace, BATCH);
        let bound = keys.last().cloned().filter(|_| keys.len() >= BATCH);
        let asked = self
            .asked
            .keys()
            .filter(|k| after.is_none_or(|a| *k > a))
            .filter(|k| namespace.is_none_or(|ns| k.namespace == *ns))
            .filter(|k| bound.as_ref().is_none_or(|b| *k <= b))
            .take(BATCH)
            .cloned();
        keys.extend(asked);
        keys.sort();
        keys.dedup();
        keys.truncate(BATCH);
        keys
    }
}

/// `t` as RFC 3339 with milliseconds.
pub(crate) fn rfc3339(t: Timestamp) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(t.as_millis());
    humantime::format_rfc3339_millis(at).to_string()
}

fn data_age(d: &Decision, polled_at: Option<Timestamp>, now: Timestamp) -> Option<f64> {
    let ms = match d.data {
        DataQuality::Stale { age_ms, .. } => Some(age_ms),
        DataQuality::Unavailable { age_ms, .. } => age_ms,
        DataQuality::Fresh => {
            polled_at.map(|p| u64::try_from(now.since(p).as_millis()).unwrap_or(u64::MAX))
        }
        DataQuality::EventsOnly => None,
    };
    ms.map(|ms| ms as f64 / 1000.0)
}

/// The `data` of a row whose data is unavailable.
const UNAVAILABLE: &str = "unavailable";

fn quality_name(d: &DataQuality) -> &'static str {
    match d {
        DataQuality::Fresh => "fresh",
        DataQuality::EventsOnly => "events_only",
        DataQuality::Stale { .. } => "stale",
        DataQuality::Unavailable { .. } => UNAVAILABLE,
    }
}

#[cfg(test)]
#[path = "fleet_tests.rs"]
mod tests;
