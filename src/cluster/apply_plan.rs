//! What apply mode should do for one server now: the replica count to set,
//! or why the server is left as it is. Asked when a sweep or a wake plans a
//! request, and again right before the request is sent, so a request that
//! waited in the queue is never sent once the server no longer needs it.

use super::apply::Actuator;
use super::apply_queue::{ScaleRequest, Urgency};
use super::inventory::Hosted;
use super::workload::WorkloadKind;
use crate::engine::{DataQuality, Policy};
use crate::id::ServerKey;
use crate::time::Timestamp;
use std::sync::PoisonError;
use tokio::time::{Duration, Instant};

/// A value sent is not sent again for this long while the watch catches up.
const RESEND_AFTER: Duration = Duration::from_secs(30);

/// Why a server is left as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Another autoscaler targets its workload (`Kind/name`).
    Claimed(String),
    /// Several workloads host it: which one to scale is not ours to guess.
    SeveralWorkloads(usize),
    /// Its data is stale or unavailable: it keeps its replicas.
    MissingData,
    /// The workload or claim watches are not live.
    NotLive,
    /// Its workload's `mcp-autoscaler/policy` annotation names a policy the
    /// config does not define: a typo must not drop it to the default's
    /// floor.
    UnknownPolicy(String),
    /// This replica has watched the signals for less than the server's
    /// idle window: it scales nothing down yet (a server whose sessions
    /// were opened before it started would look idle).
    WarmingUp,
    /// A scale-down that keeps some pods waits until each of them carries
    /// its deletion cost (session-aware scale-in), so that the ReplicaSet
    /// removes the idle ones.
    AwaitingDeletionCost,
}

impl Skip {
    /// What the API and the logs say.
    pub fn describe(&self) -> String {
        match self {
            Skip::Claimed(owner) => format!("left alone: {owner} scales this workload"),
            Skip::SeveralWorkloads(n) => {
                format!("left alone: {n} workloads host this server (apply mode scales one)")
            }
            Skip::MissingData => {
                "held: data is stale or unavailable (it keeps its replicas)".into()
            }
            Skip::NotLive => "held: the workload or ScaledObject/HPA watches are not live".into(),
            Skip::UnknownPolicy(name) => format!(
                "left alone: its workload names policy {name:?}, which the config does not define"
            ),
            Skip::WarmingUp => {
                "held: this replica has watched the signals for less than the idle window; no scale-down yet".into()
            }
            Skip::AwaitingDeletionCost => {
                "held: the scale-down waits until its pods carry their deletion costs".into()
            }
        }
    }
}

/// A change a server needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Its workload as discovered.
    pub hosted: Hosted,
    /// Replicas to set.
    pub to: u32,
    /// The decision's reason.
    pub reason: &'static str,
}

/// Whether scaling `h` to `to` removes some of its Deployment's pods and
/// keeps others: which ones go is what deletion costs decide.
fn keeps_some_pods(h: &Hosted, to: u32) -> bool {
    (1..h.desired).contains(&to) && h.workload.kind == WorkloadKind::Deployment
}

impl Actuator {
    /// With session-aware scale-in on, whether `server`'s scale-down
    /// should wait: its pods do not all carry the deletion costs it needs
    /// yet (as the cost loop plans them), and it has waited less than the
    /// per-pod patch interval plus two ticks (past that the cost loop is
    /// failing, RBAC or a webhook, and the scale-down goes ahead).
    fn awaiting_costs(&self, server: &ServerKey, policy: &Policy, now: Timestamp) -> bool {
        let Some(pods) = &self.parts.pods else {
            return false;
        };
        let work = pods.work(server, now, policy.event_count_ttl);
        let state = pods.of(server);
        // A pod with no cost, or one that costs less than its work now
        // says (it would go first): a cost above the plan does no harm.
        let pending =
            super::deletion_cost::plan(&state, &work, true)
                .iter()
                .any(|(pod, planned)| {
                    let current = state.get(pod).and_then(|p| p.cost);
                    match (current, planned) {
                        (None, _) => true,
                        (Some(now), Some(planned)) => *planned > now,
                        (Some(_), None) => false,
                    }
                });
        let mut waiting = self
            .awaiting_costs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !pending {
            waiting.remove(server);
            return false;
        }
        let since = *waiting.entry(server.clone()).or_insert(now);
        let most = self.parts.config.kubernetes.deletion_cost.interval + 2 * super::scale_in::TICK;
        if now.since(since) < most {
            return true;
        }
        tracing::warn!(%server, "scale-down goes ahead without its pods' deletion costs: they were not set in time");
        false
    }

    /// The change `server` needs now: `None` when it runs what it should.
    pub fn change_for(
        &self,
        server: &ServerKey,
        hosted: &[Hosted],
        now: Timestamp,
    ) -> Result<Option<Change>, Skip> {
        let change = self.change_now(server, hosted, now);
        // A wait for deletion costs lasts while the scale-down it is for
        // does: anything else starts the next one's wait afresh.
        let waits = match &change {
            Err(Skip::AwaitingDeletionCost) => true,
            Ok(Some(c)) => keeps_some_pods(&c.hosted, c.to),
            _ => false,
        };
        if !waits {
            self.awaiting_costs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(server);
        }
        change
    }

    fn change_now(
        &self,
        server: &ServerKey,
        hosted: &[Hosted],
        now: Timestamp,
    ) -> Result<Option<Change>, Skip> {
        let [h] = hosted else {
            return Err(Skip::SeveralWorkloads(hosted.len()));
        };
        if !(self.parts.store.feed().workloads_live && self.elsewhere.is_live()) {
            return Err(Skip::NotLive);
        }
        if let Some(owner) = self.elsewhere.claimed_by(&server.namespace, &h.workload) {
            return Err(Skip::Claimed(owner));
        }
        // The annotation's policy, else the default (no ScaledObject targets
        // a workload apply mode scales). A name the config lacks is a typo,
        // not a request for the default.
        let config = &self.parts.config;
        if let Some(name) = h
            .policy
            .as_deref()
            .filter(|n| !config.policies.contains_key(*n))
        {
            return Err(Skip::UnknownPolicy(name.chars().take(63).collect()));
        }
        let Some(policy) = config.policy_named_by(h.policy.as_deref()).1 else {
            return Err(Skip::UnknownPolicy(config.default_policy.clone()));
        };
        // A server the store does not hold (it was full) has no signals at
        // all: unknown, never idle.
        let Some((decision, feed)) = self.parts.store.decide_held(server, policy, now) else {
            return Err(Skip::MissingData);
        };
        if matches!(
            decision.data,
            DataQuality::Stale { .. } | DataQuality::Unavailable { .. }
        ) {
            return Err(Skip::MissingData);
        }
        if decision.desired == h.desired {
            return Ok(None);
        }
        // Watched for an idle window since start-up and since the sources
        // last turned trusted (what came before may not have been seen).
        let watching_since = feed
            .trusted_since
            .map_or(self.started, |t| t.max(self.started));
        if decision.desired < h.desired && now.since(watching_since) < policy.idle_window {
            return Err(Skip::WarmingUp);
        }
        if keeps_some_pods(h, decision.desired) && self.awaiting_costs(server, policy, now) {
            return Err(Skip::AwaitingDeletionCost);
        }
        Ok(Some(Change {
            hosted: h.clone(),
            to: decision.desired,
            reason: decision.reason.name(),
        }))
    }

    /// Queues `server`'s change if it has one (only a wake when `waking`);
    /// returns whether it did. A server that needs nothing, or is left
    /// alone, loses any request still queued for it.
    pub(super) fn plan(&self, server: &ServerKey, hosted: &[Hosted], waking: bool) -> bool {
        let now = self.parts.clock.now();
        let change = match self.change_for(server, hosted, now) {
            Ok(Some(change)) => change,
            Ok(None) => {
                self.actions.clear_skip(server);
                self.cancel_queued(server, hosted);
                return false;
            }
            Err(why) => {
                self.actions.skipped(server, why);
                self.cancel_queued(server, hosted);
                return false;
            }
        };
        self.actions.clear_skip(server);
        let h = &change.hosted;
        let urgency = if h.desired == 0 && change.to > 0 {
            Urgency::Wake
        } else {
            Urgency::Routine
        };
        if (waking && urgency != Urgency::Wake)
            || self.sent_lately(server, &h.workload.name, change.to)
        {
            return false;
        }
        self.queue.push(ScaleRequest {
            server: server.clone(),
            workload: h.workload.clone(),
            from: h.desired,
            to: change.to,
            reason: change.reason,
            urgency,
            queued_at: Instant::now(),
        });
        true
    }

    /// Whether `r` is still exactly what its server needs.
    pub(super) fn still_wanted(&self, r: &ScaleRequest) -> bool {
        let hosted = self.parts.inventory.hosted(&r.server);
        matches!(
            self.change_for(&r.server, &hosted, self.parts.clock.now()),
            Ok(Some(c)) if c.to == r.to && c.hosted.desired == r.from && c.hosted.workload == r.workload
        )
    }

    fn cancel_queued(&self, server: &ServerKey, hosted: &[Hosted]) {
        for h in hosted {
            self.queue.cancel(&server.namespace, &h.workload);
        }
    }

    fn sent_lately(&self, server: &ServerKey, workload: &str, to: u32) -> bool {
        let sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        sent.get(&(server.clone(), workload.to_owned()))
            .is_some_and(|&(value, at)| value == to && at.elapsed() < RESEND_AFTER)
    }

    /// Forgets values sent long enough ago.
    pub(super) fn forget_old_sends(&self) {
        let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        sent.retain(|_, (_, at)| at.elapsed() < RESEND_AFTER);
    }
}
