//! One server in full (`GET /v1/servers/{namespace}/{server}` and its
//! page): the decision with its reason and per-metric contributions, every
//! signal with its value and age, the keep-alive plan, the replicas, and
//! the recent decision changes.

use super::fleet::rfc3339;
use super::http::HttpState;
use super::recent::Change;
use crate::cluster::WorkloadRef;
use crate::cluster::actions::Outcome;
use crate::cluster::apply_run::ApplyView;
use crate::engine::keepalive;
use crate::engine::{Decision, Policy, Reason};
use crate::id::ServerKey;
use crate::signal::{SIGNALS, SignalKind, Signals};
use crate::time::Timestamp;
use serde::Serialize;

/// One server's decision and everything behind it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ServerDetail {
    /// The server's namespace.
    pub namespace: String,
    /// The server's name.
    pub server: String,
    /// The policy it is decided under.
    pub policy: String,
    /// The workload's replicas, when discovery knows the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<ReplicasView>,
    /// The decision now.
    #[serde(flatten)]
    pub decision: Decision,
    /// Every signal with its value and age.
    pub signals: Vec<SignalView>,
    /// When the server stays warm without new activity.
    pub keep_alive: KeepAliveView,
    /// The last decision changes, oldest first (sampled every 15 s).
    pub recent_changes: Vec<ChangeView>,
    /// What apply mode does with this server, when apply mode is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply: Option<ApplyDetail>,
}

/// Apply mode's part for one server.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApplyDetail {
    /// `acting` (this replica holds the Lease), `dry_run` (it would act,
    /// and only logs) or `standby` (another replica acts).
    pub mode: &'static str,
    /// Why the server is left alone, if it is (claimed by another
    /// autoscaler, missing data, ...).
    pub skipped: Option<String>,
    /// The last scale request for it.
    pub last: Option<ActionView>,
}

/// One scale request and how it ended.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ActionView {
    /// When (RFC 3339).
    pub at: String,
    /// The workload (`Deployment/name`).
    pub workload: String,
    /// Replicas before.
    pub from: u32,
    /// Replicas asked for.
    pub to: u32,
    /// The decision's reason.
    pub reason: &'static str,
    /// `scaled`, `dry_run`, or `failed: <why>`.
    pub outcome: String,
}

/// A server's workloads and their replica counts.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReplicasView {
    /// `spec.replicas`, summed over the server's workloads.
    pub current: u32,
    /// `status.readyReplicas`, summed likewise.
    pub ready: u32,
    /// Whether the watch behind these counts is live.
    pub live: bool,
    /// The workloads hosting the server.
    pub workloads: Vec<WorkloadRef>,
}

/// One signal as the store holds it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SignalView {
    /// Its name (`sessions`, `event_sessions`, ...).
    pub signal: &'static str,
    /// Where it comes from: `prometheus` or `nats`.
    pub source: &'static str,
    /// Its value, if any was seen.
    pub value: Option<f64>,
    /// Seconds since it was last known good.
    pub age_s: Option<f64>,
    /// Held at its last value because its series vanished while busy.
    pub held: bool,
}

/// The keep-alive plan from the last activity.
#[derive(Serialize, utoipa::ToSchema)]
pub struct KeepAliveView {
    /// `fixed` (the policy's idle window), `learned` (kept warm through the
    /// learned idle gaps) or `prewarm` (released, then warmed again before
    /// the next expected request).
    pub plan: &'static str,
    /// Why this plan: the keep-alive mode, how many idle gaps it learned
    /// from, and (cost-aware) its expected cost against the fixed window.
    pub why: String,
    /// The last activity from any source (RFC 3339).
    pub last_activity: Option<String>,
    /// Warm until then without new activity (RFC 3339).
    pub warm_until: Option<String>,
    /// Warmed again from then (RFC 3339), for a pre-warm plan.
    pub prewarm_from: Option<String>,
    /// Until then (RFC 3339), for a pre-warm plan.
    pub prewarm_until: Option<String>,
}

/// A change of the decision.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ChangeView {
    /// When it was seen (RFC 3339, to within the sampling period).
    pub at: String,
    /// Replicas wanted from then on; `null` while the data was unavailable.
    pub desired: Option<u32>,
    /// Active from then on; `null` while the data was unavailable (unless
    /// active).
    pub active: Option<bool>,
    /// Why.
    pub reason: Reason,
}

impl From<Change> for ChangeView {
    fn from(c: Change) -> Self {
        Self {
            at: rfc3339(c.at),
            desired: c.desired,
            active: c.active,
            reason: c.reason,
        }
    }
}

/// `server` in full under the policy `name`.
pub fn detail(s: &HttpState, server: &ServerKey, name: String, policy: &Policy) -> ServerDetail {
    let now = s.clock.now();
    let signals = s.store.signals(server);
    let decision = crate::engine::decide(&signals, policy, now);
    let replicas = signals.replicas.map(|r| ReplicasView {
        current: r.desired,
        ready: r.ready,
        live: signals.feed.workloads_live,
        workloads: s
            .inventory
            .hosted(server)
            .into_iter()
            .map(|h| h.workload)
            .collect(),
    });
    ServerDetail {
        namespace: server.namespace.to_string(),
        server: server.server.to_string(),
        policy: name,
        replicas,
        decision,
        signals: signal_views(&signals, now),
        keep_alive: keep_alive_view(&signals, policy),
        recent_changes: s
            .recent
            .of(server)
            .changes
            .into_iter()
            .map(ChangeView::from)
            .collect(),
        apply: s.apply.as_ref().map(|a| apply_detail(a, server)),
    }
}

fn apply_detail(a: &ApplyView, server: &ServerKey) -> ApplyDetail {
    let state = a.actions.of(server);
    let mode = match (a.leadership.is_leader(), a.dry_run) {
        (false, _) => "standby",
        (true, true) => "dry_run",
        (true, false) => "acting",
    };
    ApplyDetail {
        mode,
        skipped: state.skipped.map(|why| why.describe()),
        last: state.last.map(|action| ActionView {
            at: rfc3339(action.at),
            workload: format!("{}/{}", action.workload.kind, action.workload.name),
            from: action.from,
            to: action.to,
            reason: action.reason,
            outcome: match action.outcome {
                Outcome::Scaled => "scaled".into(),
                Outcome::DryRun => "dry_run".into(),
                Outcome::Failed(why) => format!("failed: {why}"),
            },
        }),
    }
}

/// Every polled signal, then the event counts.
pub fn signal_views(signals: &Signals, now: Timestamp) -> Vec<SignalView> {
    let age = |t: Option<Timestamp>| t.map(|t| now.since(t).as_secs_f64());
    let mut views: Vec<SignalView> = SignalKind::ALL
        .iter()
        .map(|&kind| {
            let held = signals.held.kinds & (1 << kind.index()) != 0;
            let value = signals.get(kind);
            let good_at = if held {
                signals.held.good_at
            } else {
                value.and(signals.feed.polled_at)
            };
            SignalView {
                signal: kind.name(),
                source: "prometheus",
                value,
                age_s: age(good_at),
                held,
            }
        })
        .collect();
    let load = &signals.load;
    let counted = SIGNALS
        .iter()
        .filter_map(|s| Some((s.counted_by?.name, load.event_count(s.kind))));
    for (name, count) in counted {
        views.push(SignalView {
            signal: name,
            source: "nats",
            value: signals.last_event.map(|_| f64::from(count)),
            age_s: age(signals.last_event),
            held: false,
        });
    }
    views
}

/// The keep-alive plan `policy` makes from the server's learned idle gaps.
pub fn keep_alive_view(signals: &Signals, policy: &Policy) -> KeepAliveView {
    let plan = keepalive::plan(&policy.keep_alive, policy.idle_window, &signals.gaps);
    let last = signals.last_activity();
    let at = |d| last.map(|t| rfc3339(t + d));
    KeepAliveView {
        plan: plan.kind(),
        why: plan.why(),
        last_activity: last.map(rfc3339),
        warm_until: at(plan.warm_until),
        prewarm_from: plan.prewarm.and_then(|(from, _)| at(from)),
        prewarm_until: plan.prewarm.and_then(|(_, until)| at(until)),
    }
}

#[cfg(test)]
#[path = "detail_tests.rs"]
mod tests;
