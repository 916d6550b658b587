//! Apply mode: the scaler sets the replicas of the workloads it discovers
//! through their `scale` subresource, with no KEDA in between.
//!
//! - **Only the elected replica acts** ([`super::lease`]): every request is
//!   checked against the leadership right before it is sent.
//! - **A sweep** every `kubernetes.apply.interval` compares each server's
//!   decision with its workload's `spec.replicas`; **a wake** (an activity
//!   event for a server at 0) is planned the moment the event arrives.
//! - **Never fight another autoscaler**: a workload that a ScaledObject or
//!   an HPA targets is left alone ([`super::elsewhere`]).
//! - **Never act on missing data** (rule 3): a server whose data is stale
//!   or unavailable keeps its replicas; so does every server while the
//!   workload or claim watches are not live.
//! - Requests go through [`ScaleQueue`] and a [`TokenBucket`]; each one is
//!   logged with the server's identity, the change and the reason, and the
//!   last action per server shows in the API ([`Actions`]).

use super::actions::{Action, Actions, Outcome};
use super::apply_queue::{ScaleQueue, ScaleRequest, TokenBucket, Urgency};
use super::elsewhere::Elsewhere;
use super::inventory::Inventory;
use super::lease::Leadership;
use super::telemetry::ActuatorTelemetry;
use super::workload::WorkloadKind;
use crate::config::{ApplyConfig, Config};
use crate::id::ServerKey;
use crate::source::Store;
use crate::time::{Clock, Timestamp};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The parts apply mode works on.
pub struct ApplyParts {
    /// The API server.
    pub client: Client,
    /// Discovered workloads.
    pub inventory: Arc<Inventory>,
    /// Signals.
    pub store: Arc<Store>,
    /// The config.
    pub config: Arc<Config>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Where it reports what it did.
    pub telemetry: ActuatorTelemetry,
    /// The pods and their deletion costs, with session-aware scale-in on:
    /// a scale-down that keeps some pods waits until they carry their
    /// costs, so the ReplicaSet removes the idle ones.
    pub pods: Option<Arc<super::pods::Pods>>,
}

/// The acting side of apply mode.
pub struct Actuator {
    /// What it works on.
    pub parts: ApplyParts,
    /// Whether this replica may act.
    pub leadership: Leadership,
    /// Workloads other autoscalers claim.
    pub elsewhere: Arc<Elsewhere>,
    /// Requests waiting.
    pub queue: Arc<ScaleQueue>,
    /// The last action per server (for the API).
    pub actions: Arc<Actions>,
    /// Values sent lately, per workload.
    pub(super) sent: Mutex<HashMap<(ServerKey, String), (u32, Instant)>>,
    /// When this actuator started: it scales nothing down before it has
    /// watched the signals for a server's idle window (since then, and
    /// since they last turned trusted: [`crate::signal::Feed::trusted_since`]).
    pub(super) started: Timestamp,
    /// Since when each server's scale-down has waited for its pods'
    /// deletion costs.
    pub(super) awaiting_costs: Mutex<HashMap<ServerKey, Timestamp>>,
}

impl Actuator {
    /// An actuator over `parts`, acting while `leadership` says so and
    /// leaving alone what `elsewhere` claims.
    pub fn new(parts: ApplyParts, leadership: Leadership, elsewhere: Arc<Elsewhere>) -> Self {
        let started = parts.clock.now();
        Self {
            parts,
            leadership,
            elsewhere,
            queue: Arc::default(),
            actions: Arc::default(),
            sent: Mutex::default(),
            started,
            awaiting_costs: Mutex::default(),
        }
    }

    pub(super) fn apply_config(&self) -> &ApplyConfig {
        &self.parts.config.kubernetes.apply
    }

    /// Plans a wake for each server `wakes` names and sends what is queued,
    /// until `shutdown`. Sweeps run apart ([`Actuator::sweep_loop`]).
    pub async fn run(
        self: Arc<Self>,
        mut wakes: mpsc::Receiver<ServerKey>,
        shutdown: CancellationToken,
    ) {
        let sender = tokio::spawn(self.clone().send_loop(shutdown.clone()));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(server) = wakes.recv() => self.wake(&server),
            }
        }
        let _ = sender.await;
    }

    /// Sweeps every `interval` until `shutdown`. A sweep is CPU work (a
    /// decision per server): run this on a thread of its own
    /// ([`crate::threads`]), so a wake never waits for one.
    pub async fn sweep_loop(self: Arc<Self>, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(self.apply_config().interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            self.sweep();
        }
    }

    /// Compares every discovered server with its decision and queues what
    /// differs. Returns how many requests it queued.
    pub fn sweep(&self) -> usize {
        let leading = self.leadership.is_leader();
        self.parts.telemetry.leading(leading);
        if !leading {
            self.queue.clear();
            return 0;
        }
        let started = std::time::Instant::now();
        self.forget_old_sends();
        // Keys first, then each server's workloads one at a time: the
        // inventory's lock is never held for the whole fleet, so a wake
        // looking up its server does not wait for the sweep.
        let servers = self.parts.inventory.server_keys();
        self.actions.keep_only(servers.iter());
        let mut waiting = self
            .awaiting_costs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !waiting.is_empty() {
            // Usually empty: no set of the whole fleet on every sweep.
            let known: std::collections::HashSet<&ServerKey> = servers.iter().collect();
            waiting.retain(|server, _| known.contains(server));
        }
        drop(waiting);
        if !(self.parts.store.feed().workloads_live && self.elsewhere.is_live()) {
            tracing::warn!(
                "apply mode holds every server: the workload or ScaledObject/HPA watches are not live"
            );
        }
        let queued = servers
            .iter()
            .filter(|server| self.plan(server, &self.parts.inventory.hosted(server), false))
            .count();
        let took = started.elapsed();
        self.parts.telemetry.apply_sweep_took(took);
        tracing::debug!(servers = servers.len(), queued, ?took, "apply sweep");
        queued
    }

    /// An activity event for `server`: if it runs no replicas, plan its
    /// wake now instead of at the next sweep.
    pub fn wake(&self, server: &ServerKey) {
        if !self.leadership.is_leader() {
            return;
        }
        let hosted = self.parts.inventory.hosted(server);
        // Events keep coming while a wake waits in the queue: no decision
        // per event for it.
        let waiting = hosted
            .iter()
            .any(|h| self.queue.has_wake(&server.namespace, &h.workload));
        if !waiting && hosted.iter().any(|h| h.desired == 0) {
            self.plan(server, &hosted, true);
        }
    }

    /// Sends queued requests within the rate limit: one sender for wakes
    /// and one for routine changes, sharing the bucket (routine ones leave
    /// a reserve), so a wake never queues behind a backlog of scale-downs.
    async fn send_loop(self: Arc<Self>, shutdown: CancellationToken) {
        let c = self.apply_config();
        let bucket = Arc::new(TokenBucket::new(c.qps, c.burst));
        let wakes = tokio::spawn(self.clone().send_each(
            Urgency::Wake,
            bucket.clone(),
            shutdown.clone(),
        ));
        self.send_each(Urgency::Routine, bucket, shutdown).await;
        let _ = wakes.await;
    }

    async fn send_each(
        self: Arc<Self>,
        urgency: Urgency,
        bucket: Arc<TokenBucket>,
        shutdown: CancellationToken,
    ) {
        loop {
            let request = tokio::select! {
                () = shutdown.cancelled() => return,
                r = self.queue.next(urgency) => r,
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = bucket.take(urgency) => {}
            }
            self.send(request).await;
        }
    }

    /// Sends one request (or, in dry run, only says what it would send).
    pub async fn send(&self, r: ScaleRequest) {
        let now = self.parts.clock.now();
        let Some(left) = self.leadership.remaining() else {
            return;
        };
        if !self.still_wanted(&r) {
            tracing::debug!(namespace = %r.server.namespace, server = %r.server.server, to = r.to, "queued request no longer wanted: dropped");
            return;
        }
        let dry_run = self.apply_config().dry_run;
        let outcome = if dry_run {
            Outcome::DryRun
        } else {
            // Never land after this replica stops leading.
            match tokio::time::timeout(left, self.patch(&r)).await {
                Ok(Ok(())) => Outcome::Scaled,
                Ok(Err(e)) => Outcome::Failed(crate::redact::redact_url(&e.to_string())),
                Err(_) => Outcome::Failed(
                    "this replica's leadership ended before the API server answered".into(),
                ),
            }
        };
        let urgency = if r.urgency == Urgency::Wake {
            "wake"
        } else {
            "routine"
        };
        let label = match &outcome {
            Outcome::Scaled => "scaled",
            Outcome::DryRun => "dry_run",
            Outcome::Failed(_) => "failed",
        };
        self.parts.telemetry.scale_request(urgency, label);
        match &outcome {
            Outcome::Failed(e) => {
                tracing::warn!(namespace = %r.server.namespace, server = %r.server.server, workload = %r.workload.name, kind = %r.workload.kind, from = r.from, to = r.to, reason = r.reason, error = %e, "scale request failed")
            }
            _ => {
                tracing::info!(namespace = %r.server.namespace, server = %r.server.server, workload = %r.workload.name, kind = %r.workload.kind, from = r.from, to = r.to, reason = r.reason, urgency, dry_run, queued_for = ?r.queued_at.elapsed(), "scale")
            }
        }
        if outcome == Outcome::Scaled {
            let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
            sent.insert(
                (r.server.clone(), r.workload.name.clone()),
                (r.to, Instant::now()),
            );
        }
        self.actions.record(
            Action {
                at: now,
                workload: r.workload.clone(),
                from: r.from,
                to: r.to,
                reason: r.reason,
                outcome,
            },
            &r.server,
        );
    }

    async fn patch(&self, r: &ScaleRequest) -> Result<(), kube::Error> {
        let patch = Patch::Merge(serde_json::json!({ "spec": { "replicas": r.to } }));
        let params = PatchParams::default();
        let ns = r.server.namespace.as_str();
        let name = r.workload.name.as_str();
        match r.workload.kind {
            WorkloadKind::Deployment => {
                Api::<Deployment>::namespaced(self.parts.client.clone(), ns)
                    .patch_scale(name, &params, &patch)
                    .await
                    .map(|_| ())
            }
            WorkloadKind::StatefulSet => {
                Api::<StatefulSet>::namespaced(self.parts.client.clone(), ns)
                    .patch_scale(name, &params, &patch)
                    .await
                    .map(|_| ())
            }
        }
    }
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
