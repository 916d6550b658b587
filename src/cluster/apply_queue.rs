//! Scale requests on their way to the API server: one per workload (the
//! latest decision wins), wakes before routine changes, and a token bucket
//! (`qps` sustained, `burst` at once) so a mass wake or a flapping fleet
//! cannot flood the API server.

use super::workload::WorkloadRef;
use crate::id::{Namespace, ServerKey};
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use tokio::sync::Notify;
use tokio::time::{Duration, Instant};

/// How soon a request should go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Urgency {
    /// A routine change (scale down, scale out): after every wake.
    Routine,
    /// 0 → N: a request is waiting for the server.
    Wake,
}

/// One scale request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleRequest {
    /// The server.
    pub server: ServerKey,
    /// Its workload.
    pub workload: WorkloadRef,
    /// Replicas it runs now (`spec.replicas`).
    pub from: u32,
    /// Replicas to set.
    pub to: u32,
    /// Why (the decision's reason).
    pub reason: &'static str,
    /// How soon.
    pub urgency: Urgency,
    /// When it was queued (for latency).
    pub queued_at: Instant,
}

type Key = (Namespace, WorkloadRef);

#[derive(Debug, Default)]
struct Pending {
    by_workload: HashMap<Key, ScaleRequest>,
    wakes: VecDeque<Key>,
    routine: VecDeque<Key>,
}

/// Requests waiting to be sent.
#[derive(Debug, Default)]
pub struct ScaleQueue {
    pending: Mutex<Pending>,
    added: Notify,
}

impl ScaleQueue {
    /// Queues `request`, replacing one for the same workload (a wake stays
    /// a wake).
    pub fn push(&self, mut request: ScaleRequest) {
        let key = (request.server.namespace.clone(), request.workload.clone());
        {
            let mut p = self.lock();
            let was = p.by_workload.get(&key).map(|r| r.urgency);
            if let Some(was) = was {
                request.urgency = request.urgency.max(was);
            }
            if was != Some(request.urgency) {
                match request.urgency {
                    Urgency::Wake => p.wakes.push_back(key.clone()),
                    Urgency::Routine => p.routine.push_back(key.clone()),
                }
            }
            p.by_workload.insert(key, request);
        }
        self.added.notify_one();
    }

    /// The next request, wakes first, waiting for one if none is queued.
    pub async fn next(&self) -> ScaleRequest {
        loop {
            let added = self.added.notified();
            if let Some(r) = self.try_next() {
                return r;
            }
            added.await;
        }
    }

    /// The next request, wakes first, if any.
    pub fn try_next(&self) -> Option<ScaleRequest> {
        let mut p = self.lock();
        loop {
            let key = p.wakes.pop_front().or_else(|| p.routine.pop_front())?;
            if let Some(r) = p.by_workload.remove(&key) {
                return Some(r);
            }
            // Already taken through its other queue (it became a wake).
        }
    }

    /// Drops everything (this replica stopped acting).
    pub fn clear(&self) {
        *self.lock() = Pending::default();
    }

    /// Requests waiting.
    pub fn len(&self) -> usize {
        self.lock().by_workload.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `qps` requests per second sustained, `burst` at once.
#[derive(Debug)]
pub struct TokenBucket {
    per_second: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(qps: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            per_second: qps.max(0.001),
            burst,
            tokens: burst,
            at: Instant::now(),
        }
    }

    /// Waits for a token and takes it.
    pub async fn take(&mut self) {
        loop {
            let now = Instant::now();
            let earned = now.duration_since(self.at).as_secs_f64() * self.per_second;
            self.tokens = (self.tokens + earned).min(self.burst);
            self.at = now;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                return;
            }
            let wait = (1.0 - self.tokens) / self.per_second;
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::WorkloadKind;

    fn request(server: &str, to: u32, urgency: Urgency) -> ScaleRequest {
        ScaleRequest {
            server: ServerKey::parse("tenant-a", server).expect("id"),
            workload: WorkloadRef {
                kind: WorkloadKind::Deployment,
                name: server.into(),
            },
            from: 0,
            to,
            reason: "load",
            urgency,
            queued_at: Instant::now(),
        }
    }

    #[tokio::test]
    async fn wakes_go_first_and_the_latest_request_per_workload_wins() {
        let q = ScaleQueue::default();
        q.push(request("a", 0, Urgency::Routine));
        q.push(request("b", 0, Urgency::Routine));
        q.push(request("c", 1, Urgency::Wake));
        q.push(request("b", 3, Urgency::Routine));
        // `a` becomes a wake: it jumps the routine queue, once.
        q.push(request("a", 2, Urgency::Wake));
        let order: Vec<(String, u32)> = std::iter::from_fn(|| q.try_next())
            .map(|r| (r.workload.name, r.to))
            .collect();
        assert_eq!(
            order,
            [("c".into(), 1), ("a".into(), 2), ("b".into(), 3)],
            "wakes in arrival order, then routine, each workload once with its latest value"
        );
        assert!(q.is_empty());
        q.push(request("d", 1, Urgency::Wake));
        q.push(request("d", 0, Urgency::Routine));
        let r = q.try_next().expect("d");
        assert_eq!((r.to, r.urgency), (0, Urgency::Wake), "a wake stays a wake");
    }

    #[tokio::test(start_paused = true)]
    async fn the_bucket_allows_its_burst_then_its_rate() {
        let mut bucket = TokenBucket::new(10.0, 5);
        let start = Instant::now();
        for _ in 0..5 {
            bucket.take().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst goes at once");
        for _ in 0..20 {
            bucket.take().await;
        }
        let took = start.elapsed();
        assert!(
            (Duration::from_millis(1990)..=Duration::from_millis(2010)).contains(&took),
            "20 more at 10/s take 2 s, took {took:?}"
        );
    }
}
