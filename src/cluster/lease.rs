//! Leader election through a `coordination.k8s.io/v1` Lease: exactly one
//! scaler replica acts in apply mode.
//!
//! Every `retry_every`, a replica reads the Lease and takes it (it does not
//! exist, it is released, or its holder has not renewed it for its
//! `leaseDurationSeconds` as this replica has watched it) or renews it (it
//! holds it). A write carries the resourceVersion it read, so of two
//! replicas racing for it one gets a conflict.
//!
//! **Acting is bounded by time, not by belief.** A successful write lets
//! the replica act until the write's start plus `renew_deadline`, which is
//! shorter than the lease duration. Another replica can take the Lease only
//! once it has seen it unchanged for the whole duration, and it began
//! watching no earlier than that write; so a replica that cannot renew
//! (API down, partitioned, paused) stops acting at least
//! `duration - renew_deadline` before anyone else may start. Expiry is
//! judged on each replica's own monotonic clock, never by comparing wall
//! clocks across machines.
//!
//! On shutdown the holder stops acting first, then releases the Lease
//! (holder cleared), so a rolling update hands over at once instead of
//! after a lease duration.

use crate::config::LeaseConfig;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Whether this replica may act now.
#[derive(Debug, Clone, Default)]
pub struct Leadership {
    until: Arc<Mutex<Option<Instant>>>,
}

impl Leadership {
    /// True while the last successful write is younger than the renew
    /// deadline.
    pub fn is_leader(&self) -> bool {
        self.lock().is_some_and(|until| Instant::now() < until)
    }

    /// How long this replica may still act; `None` when it may not.
    pub fn remaining(&self) -> Option<Duration> {
        let until = (*self.lock())?;
        until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    /// Lets this replica act for `d` from now, with no election (tests).
    pub fn grant_for(&self, d: Duration) {
        self.act_until(Some(Instant::now() + d));
    }

    fn act_until(&self, until: Option<Instant>) {
        *self.lock() = until;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.until.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What one round of the election did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// Created, took over or renewed the Lease.
    Holding,
    /// Another replica holds it.
    Standby,
}

/// The Lease as last read, and when this replica saw it change.
#[derive(Debug, Clone, PartialEq)]
struct Observed {
    holder: Option<String>,
    renew_time: Option<MicroTime>,
    resource_version: Option<String>,
    at: Instant,
}

/// One replica's side of the election.
pub struct Elector {
    api: Api<Lease>,
    namespace: String,
    config: LeaseConfig,
    identity: String,
    leadership: Leadership,
    observed: Option<Observed>,
}

impl Elector {
    /// An elector for the Lease `config` names in `namespace`, as
    /// `identity`.
    pub fn new(client: Client, config: LeaseConfig, namespace: &str, identity: String) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            config,
            identity,
            leadership: Leadership::default(),
            observed: None,
        }
    }

    /// Whether this replica may act (shared with whoever acts).
    pub fn leadership(&self) -> Leadership {
        self.leadership.clone()
    }

    /// Runs rounds every `retry_every` until `shutdown`, then waits for
    /// `stopped` (whatever acts under the Lease has finished) and releases
    /// the Lease if it holds it.
    pub async fn run(
        mut self,
        shutdown: CancellationToken,
        stopped: impl std::future::Future<Output = ()>,
    ) {
        loop {
            let started = Instant::now();
            match self.round().await {
                Ok(Round::Holding) => {
                    if !self.leadership.is_leader() {
                        tracing::info!(identity = %self.identity, lease = %self.config.name, "acting: this replica holds the lease");
                    }
                    self.leadership
                        .act_until(Some(started + self.config.renew_deadline));
                }
                Ok(Round::Standby) => {
                    if self.leadership.is_leader() {
                        tracing::warn!(identity = %self.identity, "another replica holds the lease: standing by");
                    }
                    self.leadership.act_until(None);
                }
                // Acting ends on its own when the deadline passes.
                Err(e) => {
                    tracing::warn!(error = %e, lease = %self.config.name, "lease round failed")
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.config.retry_every) => {}
            }
        }
        // Acting ends now; requests in flight end within their deadline.
        let held = self.leadership.is_leader();
        self.leadership.act_until(None);
        stopped.await;
        if held {
            self.release().await;
        }
    }

    /// Reads the Lease once, then takes, renews or leaves it.
    pub async fn round(&mut self) -> Result<Round, kube::Error> {
        let Some(lease) = self.api.get_opt(&self.config.name).await? else {
            return self.create().await;
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let changed_at = self.observe(&lease, &spec);
        let mine = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        if !mine && held(&spec) && !Self::expired(&spec, changed_at) {
            return Ok(Round::Standby);
        }
        self.write(lease, spec, mine).await
    }

    /// When this replica saw the Lease last change.
    fn observe(&mut self, lease: &Lease, spec: &LeaseSpec) -> Instant {
        let seen = Observed {
            holder: spec.holder_identity.clone(),
            renew_time: spec.renew_time.clone(),
            resource_version: lease.metadata.resource_version.clone(),
            at: Instant::now(),
        };
        match &self.observed {
            Some(o) if o.same_record(&seen) => o.at,
            _ => {
                let at = seen.at;
                self.observed = Some(seen);
                at
            }
        }
    }

    /// Whether the holder has let the Lease lapse: unchanged for its whole
    /// duration on this replica's clock.
    fn expired(spec: &LeaseSpec, changed_at: Instant) -> bool {
        let seconds = spec.lease_duration_seconds.unwrap_or(0).max(0);
        let duration = Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
        Instant::now() >= changed_at + duration
    }

    async fn create(&mut self) -> Result<Round, kube::Error> {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.config.name.clone()),
                namespace: Some(self.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(self.spec(None, true)),
        };
        match self.api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(Round::Holding),
            Err(e) if is_conflict(&e) => Ok(Round::Standby),
            Err(e) => Err(e),
        }
    }

    async fn write(
        &mut self,
        mut lease: Lease,
        old: LeaseSpec,
        mine: bool,
    ) -> Result<Round, kube::Error> {
        let mut spec = self.spec(Some(&old), !mine);
        if mine {
            spec.acquire_time = old.acquire_time.or(spec.acquire_time);
        }
        lease.spec = Some(spec);
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(Round::Holding),
            Err(e) if is_conflict(&e) => Ok(Round::Standby),
            Err(e) => Err(e),
        }
    }

    /// The spec this replica writes: held by it, renewed now.
    fn spec(&self, old: Option<&LeaseSpec>, taking: bool) -> LeaseSpec {
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let transitions = old.and_then(|o| o.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(seconds(self.config.duration)),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_transitions: Some(if taking && old.is_some() {
                transitions.saturating_add(1)
            } else {
                transitions
            }),
            ..LeaseSpec::default()
        }
    }

    /// Clears the holder (if it is still this replica) so another replica
    /// takes over at its next round.
    async fn release(&mut self) {
        let result = async {
            let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
                return Ok(());
            };
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
                return Ok(());
            }
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.renew_time = Some(MicroTime(k8s_openapi::jiff::Timestamp::now()));
            self.api
                .replace(&self.config.name, &PostParams::default(), &lease)
                .await
                .map(|_| ())
        }
        .await;
        match result {
            Ok(()) => tracing::info!(identity = %self.identity, "lease released"),
            Err(e) => {
                tracing::warn!(error = %e, "lease not released; it expires after its duration")
            }
        }
    }
}

impl Observed {
    fn same_record(&self, other: &Observed) -> bool {
        self.holder == other.holder
            && self.renew_time == other.renew_time
            && self.resource_version == other.resource_version
    }
}

/// Whether someone holds the Lease.
fn held(spec: &LeaseSpec) -> bool {
    spec.holder_identity
        .as_deref()
        .is_some_and(|h| !h.is_empty())
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX).max(1)
}

/// This replica's identity: the pod's name (`POD_NAME`, else `HOSTNAME`)
/// and a random suffix, so a restarted pod with the same name is a new
/// holder.
pub fn identity() -> String {
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "mcp-autoscaler".to_owned());
    let host: String = host.chars().take(200).collect();
    format!("{host}_{:016x}", rand::random::<u64>())
}

#[cfg(test)]
#[path = "lease_tests.rs"]
mod tests;
