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
    wake_added: Notify,
    routine_added: Notify,
}

impl ScaleQueue {
    /// Queues `request`, replacing one for the same workload (a wake stays
    /// a wake).
    pub fn push(&self, mut request: ScaleRequest) {
        let key = (request.server.namespace.clone(), request.workload.clone());
        let urgency = {
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
            let urgency = request.urgency;
            p.by_workload.insert(key, request);
            urgency
        };
        match urgency {
            Urgency::Wake => self.wake_added.notify_one(),
            Urgency::Routine => self.routine_added.notify_one(),
        }
    }

    /// The next request of `urgency`, waiting for one if none is queued.
    pub async fn next(&self, urgency: Urgency) -> ScaleRequest {
        let added = match urgency {
            Urgency::Wake => &self.wake_added,
            Urgency::Routine => &self.routine_added,
        };
        loop {
            let notified = added.notified();
            if let Some(r) = self.take(urgency) {
                return r;
            }
            notified.await;
        }
    }

    /// The next request of `urgency`, if any.
    fn take(&self, urgency: Urgency) -> Option<ScaleRequest> {
        let mut p = self.lock();
        loop {
            let key = match urgency {
                Urgency::Wake => p.wakes.pop_front(),
                Urgency::Routine => p.routine.pop_front(),
            }?;
            match p.by_workload.get(&key) {
                Some(r) if r.urgency == urgency => return p.by_workload.remove(&key),
                // Became a wake: it is in the other queue.
                _ => {}
            }
        }
    }

    /// The next request, wakes first, if any.
    pub fn try_next(&self) -> Option<ScaleRequest> {
        self.take(Urgency::Wake)
            .or_else(|| self.take(Urgency::Routine))
    }

    /// Drops the request queued for `workload`, if any (its server no
    /// longer needs it).
    pub fn cancel(&self, namespace: &Namespace, workload: &WorkloadRef) {
        let key = (namespace.clone(), workload.clone());
        let mut p = self.lock();
        // Its place in line goes too, so a later request queues afresh.
        if p.by_workload.remove(&key).is_some() {
            p.wakes.retain(|k| *k != key);
            p.routine.retain(|k| *k != key);
        }
    }

    /// Whether a wake for `workload` waits in the queue.
    pub fn has_wake(&self, namespace: &Namespace, workload: &WorkloadRef) -> bool {
        let key = (namespace.clone(), workload.clone());
        self.lock()
            .by_workload
            .get(&key)
            .is_some_and(|r| r.urgency == Urgency::Wake)
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

/// `qps` requests per second sustained, `burst` at once; routine requests
/// leave a fifth of the burst to wakes, so a wake does not wait behind a
/// backlog of scale-downs.
#[derive(Debug)]
pub struct TokenBucket {
    per_second: f64,
    burst: f64,
    reserve: f64,
    state: Mutex<(f64, Instant)>,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(qps: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            per_second: qps.max(0.001),
            burst,
            reserve: (burst / 5.0).floor(),
            state: Mutex::new((burst, Instant::now())),
        }
    }

    /// Waits for a token for a request of `urgency` and takes it.
    pub async fn take(&self, urgency: Urgency) {
        let keep = match urgency {
            Urgency::Wake => 0.0,
            Urgency::Routine => self.reserve,
        };
        loop {
            let wait = {
                let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                let (tokens, at) = &mut *state;
                let now = Instant::now();
                let earned = now.duration_since(*at).as_secs_f64() * self.per_second;
                *tokens = (*tokens + earned).min(self.burst);
                *at = now;
                if *tokens >= 1.0 + keep {
                    *tokens -= 1.0;
                    return;
                }
                (1.0 + keep - *tokens) / self.per_second
            };
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
        let ns = Namespace::parse("tenant-a").expect("ns");
        assert!(q.has_wake(&ns, &request("d", 1, Urgency::Wake).workload));
        q.push(request("d", 0, Urgency::Routine));
        let r = q.try_next().expect("d");
        assert_eq!((r.to, r.urgency), (0, Urgency::Wake), "a wake stays a wake");
    }

    #[test]
    fn a_cancelled_request_loses_its_place_in_line() {
        let q = ScaleQueue::default();
        q.push(request("a", 0, Urgency::Routine));
        q.push(request("b", 0, Urgency::Routine));
        q.cancel(
            &Namespace::parse("tenant-a").expect("ns"),
            &request("a", 0, Urgency::Routine).workload,
        );
        q.push(request("a", 1, Urgency::Routine));
        let order: Vec<String> = std::iter::from_fn(|| q.try_next())
            .map(|r| r.workload.name)
            .collect();
        assert_eq!(order, ["b", "a"]);
        assert!(q.lock().routine.is_empty(), "no stale keys left behind");
    }

    #[tokio::test(start_paused = true)]
    async fn the_bucket_allows_its_burst_then_its_rate() {
        let bucket = TokenBucket::new(10.0, 5);
        let start = Instant::now();
        for _ in 0..5 {
            bucket.take(Urgency::Wake).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst goes at once");
        for _ in 0..20 {
            bucket.take(Urgency::Wake).await;
        }
        let took = start.elapsed();
        assert!(
            (Duration::from_millis(1990)..=Duration::from_millis(2010)).contains(&took),
            "20 more at 10/s take 2 s, took {took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn routine_requests_leave_a_reserve_so_a_wake_does_not_wait() {
        let bucket = TokenBucket::new(10.0, 50);
        let start = Instant::now();
        // A backlog of scale-downs drains the bucket down to its reserve...
        for _ in 0..40 {
            bucket.take(Urgency::Routine).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        let t = Instant::now();
        bucket.take(Urgency::Routine).await;
        assert!(
            t.elapsed() >= Duration::from_millis(99),
            "routine waits at the reserve"
        );
        // ...and a wake still goes at once.
        let t = Instant::now();
        bucket.take(Urgency::Wake).await;
        assert_eq!(t.elapsed(), Duration::ZERO, "a wake takes a reserved token");
    }
}
