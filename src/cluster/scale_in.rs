//! The deletion-cost loop: every [`TICK`], for each discovered Deployment-
//! hosted server, compare its decision with the replicas it runs and bring
//! its pods' `pod-deletion-cost` annotations in line ([`super::deletion_cost`]).

use super::Inventory;
use super::deletion_cost::{has_stateful_set, patch_body, plan};
use super::pods::Pods;
use super::telemetry::ActuatorTelemetry;
use crate::config::Config;
use crate::engine::DataQuality;
use crate::id::ServerKey;
use crate::source::Store;
use crate::source::prometheus::{KeyLabels, Querier};
use crate::time::{Clock, Timestamp};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often decisions are compared with running replicas.
pub const TICK: Duration = Duration::from_secs(5);

/// Most pod patches one tick sends (the rest wait for the next tick):
/// bounds what one scaler replica asks of the API server, 20 a second.
pub const MAX_PATCHES_PER_TICK: usize = 100;

/// Longest one patch may take before it counts as failed.
pub const PATCH_TIMEOUT: Duration = Duration::from_secs(4);

/// A patch is not started with less of the tick left than this.
const MIN_PATCH_TIME: Duration = Duration::from_secs(1);

/// The per-pod live-work query.
pub struct LiveWorkQuery {
    /// Runs it.
    pub querier: Arc<dyn Querier>,
    /// The PromQL (placeholders filled in).
    pub promql: String,
    /// The labels naming namespace and server.
    pub labels: KeyLabels,
}

/// What one tick did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TickOutcome {
    /// Annotations set.
    pub set: usize,
    /// Annotations removed.
    pub cleared: usize,
    /// Patches that failed.
    pub failed: usize,
    /// Patches held back by the per-pod interval or the per-tick bound.
    pub deferred: usize,
}

/// The loop's state.
pub struct ScaleIn {
    /// Where patches go.
    pub client: kube::Client,
    /// Discovered workloads.
    pub inventory: Arc<Inventory>,
    /// Their pods and live work.
    pub pods: Arc<Pods>,
    /// Signals, for decisions.
    pub store: Arc<Store>,
    /// Policies.
    pub config: Arc<Config>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Where it reports what it did.
    pub telemetry: ActuatorTelemetry,
    /// Per-pod live work from Prometheus, if configured.
    pub live_work: Option<LiveWorkQuery>,
    /// When each pod was last patched.
    last_patch: HashMap<(ServerKey, String), Timestamp>,
    /// Servers last given a live-work floor above zero.
    floors: HashSet<ServerKey>,
    /// Most patches one tick sends ([`MAX_PATCHES_PER_TICK`]).
    max_patches: usize,
}

impl ScaleIn {
    /// A loop over the given parts.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: kube::Client,
        inventory: Arc<Inventory>,
        pods: Arc<Pods>,
        store: Arc<Store>,
        config: Arc<Config>,
        clock: Arc<dyn Clock>,
        telemetry: ActuatorTelemetry,
        live_work: Option<LiveWorkQuery>,
    ) -> Self {
        Self {
            client,
            inventory,
            pods,
            store,
            config,
            clock,
            telemetry,
            live_work,
            last_patch: HashMap::new(),
            floors: HashSet::new(),
            max_patches: MAX_PATCHES_PER_TICK,
        }
    }

    /// Ticks until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let outcome = self.tick().await;
            tracing::debug!(?outcome, "deletion cost");
        }
    }

    /// This loop, sending at most `n` patches a tick (tests).
    #[cfg(test)]
    pub fn with_max_patches(self, n: usize) -> Self {
        Self {
            max_patches: n,
            ..self
        }
    }

    /// One pass over every server: every live-work floor first, then the
    /// patches (annotations set before those cleared), at most
    /// `max_patches` of them, each within [`PATCH_TIMEOUT`], all within
    /// one [`TICK`] (the rest wait for the next).
    pub async fn tick(&mut self) -> TickOutcome {
        let now = self.clock.now();
        self.refresh_live_work().await;
        let interval = self.config.kubernetes.deletion_cost.interval;
        self.last_patch.retain(|_, at| now.since(*at) < interval);
        let mut outcome = TickOutcome::default();
        let mut floors = HashSet::new();
        let mut patches = Vec::new();
        for (server, hosted) in self.inventory.servers() {
            if has_stateful_set(&hosted) {
                // StatefulSets ignore deletion cost: no live-work floor either.
                self.store.set_busy_pods(&server, 0, now);
                continue;
            }
            let annotation = hosted.iter().find_map(|h| h.policy.as_deref());
            // A validated config always has its default policy.
            let Some(policy) = self.config.policy_named_by(annotation).1 else {
                continue;
            };
            let pods = self.pods.of(&server);
            let work = self.pods.work(&server, now, policy.event_count_ttl);
            // The engine keeps pods holding live work (its scale-in floor).
            let busy = pods
                .keys()
                .filter(|p| work.get(*p).is_some_and(|&w| w > 0.0))
                .count();
            self.store
                .set_busy_pods(&server, u32::try_from(busy).unwrap_or(u32::MAX), now);
            if busy > 0 {
                floors.insert(server.clone());
            }
            let current: u32 = hosted.iter().map(|h| h.desired).sum();
            if current < 2 && pods.values().all(|p| p.cost.is_none()) {
                continue;
            }
            let decision = self.store.decide(&server, policy, now);
            if matches!(decision.data, DataQuality::Unavailable { .. }) {
                continue;
            }
            let scale_in = decision.desired < current;
            for (pod, cost) in plan(&pods, &work, scale_in) {
                let key = (server.clone(), pod);
                if self.last_patch.contains_key(&key) {
                    outcome.deferred += 1;
                    continue;
                }
                patches.push((key, cost));
            }
        }
        // A server that left the inventory keeps no floor.
        for gone in self.floors.difference(&floors) {
            self.store.set_busy_pods(gone, 0, now);
        }
        self.floors = floors;
        // A pending scale-in's annotations first; clean-up can wait.
        patches.sort_by_key(|(_, cost)| cost.is_none());
        outcome.deferred += patches.len().saturating_sub(self.max_patches);
        patches.truncate(self.max_patches);
        // The floors are set again next tick: patches never hold them up
        // for longer than one.
        let stop_at = tokio::time::Instant::now() + TICK;
        let mut patches = patches.into_iter();
        while let Some((key, cost)) = patches.next() {
            let left = stop_at.saturating_duration_since(tokio::time::Instant::now());
            if left < MIN_PATCH_TIME {
                outcome.deferred += 1 + patches.len();
                break;
            }
            self.patch(&key, cost, now, left.min(PATCH_TIMEOUT), &mut outcome)
                .await;
        }
        outcome
    }

    async fn patch(
        &mut self,
        key: &(ServerKey, String),
        cost: Option<i32>,
        now: Timestamp,
        within: Duration,
        outcome: &mut TickOutcome,
    ) {
        let (server, pod) = key;
        let api: Api<Pod> = Api::namespaced(self.client.clone(), server.namespace.as_str());
        let body = patch_body(cost);
        let (params, merge) = (PatchParams::default(), Patch::Merge(&body));
        let sent = api.patch(pod, &params, &merge);
        let Ok(answer) = tokio::time::timeout(within, sent).await else {
            if within < PATCH_TIMEOUT {
                // Cut by the tick's end, not failed: the next tick tries
                // again (no interval to wait).
                outcome.deferred += 1;
            } else {
                self.failed(key, now, "no answer in time", outcome);
            }
            return;
        };
        match answer {
            Ok(_) => {
                self.pods.set_cost(server, pod, cost);
                self.last_patch.insert(key.clone(), now);
                let what = if cost.is_some() { "set" } else { "cleared" };
                *if cost.is_some() {
                    &mut outcome.set
                } else {
                    &mut outcome.cleared
                } += 1;
                self.telemetry.deletion_cost_patch(what);
                tracing::debug!(%server, pod, ?cost, "pod deletion cost {what}");
            }
            Err(kube::Error::Api(e)) if e.code == 404 => self.pods.delete(&server.namespace, pod),
            Err(e) => self.failed(key, now, &e.to_string(), outcome),
        }
    }

    /// A patch failed: counted, and the pod waits an interval.
    fn failed(
        &mut self,
        key: &(ServerKey, String),
        now: Timestamp,
        error: &str,
        outcome: &mut TickOutcome,
    ) {
        outcome.failed += 1;
        self.last_patch.insert(key.clone(), now);
        self.telemetry.deletion_cost_patch("failed");
        let (server, pod) = key;
        tracing::warn!(%server, pod, error, "patching pod deletion cost failed");
    }

    /// Runs the per-pod query; on failure the last values stay.
    async fn refresh_live_work(&self) {
        let Some(q) = &self.live_work else { return };
        match q.querier.instant(q.promql.clone(), None).await {
            Ok(series) => {
                let values = series
                    .iter()
                    .filter(|s| s.value.is_finite() && s.value >= 0.0)
                    .filter_map(|s| {
                        let server = q.labels.key(&s.labels)?;
                        let pod = s
                            .labels
                            .get("pod")
                            .filter(|p| super::pods::valid_pod_name(p))?;
                        Some(((server, pod.clone()), s.value))
                    })
                    .collect();
                self.pods.set_polled_work(values);
            }
            Err(e) => {
                self.telemetry.live_work_query_failed();
                tracing::warn!(error = %e, "per-pod live work query failed; keeping the last values");
            }
        }
    }
}

#[cfg(test)]
#[path = "scale_in_tests.rs"]
mod tests;
