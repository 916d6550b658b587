//! A simulated server's pods: which are starting, which are ready, and
//! which live sessions each ready pod holds.
//!
//! Sessions are pinned to the pod that accepted them (new ones go round
//! robin over the ready pods). On scale-in, pods still starting leave
//! first (the ReplicaSet controller deletes unready pods first); then
//! either the newest ready pods leave (Kubernetes' default), or, with
//! `pod-deletion-cost` set from live work as the scaler does, the pods
//! holding the fewest sessions. Sessions on a pod that leaves are cut and
//! their clients reconnect to a pod that stays.

use std::collections::{BTreeMap, VecDeque};

/// Which ready pods a scale-in removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleInOrder {
    /// The newest pods (no deletion cost set).
    Newest,
    /// The pods with the least live work (deletion cost = live work).
    LeastLiveWork,
}

#[derive(Debug, Clone, Copy)]
struct Pod {
    id: u32,
    sessions: u32,
}

/// Pods of one server.
#[derive(Debug)]
pub struct Pods {
    /// Ready pods, oldest first.
    ready: Vec<Pod>,
    /// When each starting pod becomes ready, earliest first.
    starting: VecDeque<f64>,
    /// Session → the id of the pod holding it (sessions opened with no
    /// pod ready wait for the first: `None`). Ordered, so that waiting and
    /// cut sessions are placed in the same order on every run.
    sessions: BTreeMap<u32, Option<u32>>,
    next_id: u32,
    round_robin: usize,
    order: ScaleInOrder,
}

impl Pods {
    /// `ready` pods ready at once.
    pub fn new(ready: u32, order: ScaleInOrder) -> Self {
        let mut pods = Self {
            ready: Vec::new(),
            starting: VecDeque::new(),
            sessions: BTreeMap::new(),
            next_id: 0,
            round_robin: 0,
            order,
        };
        for _ in 0..ready {
            pods.add_ready();
        }
        pods
    }

    /// Ready pods.
    pub fn ready(&self) -> u32 {
        u32::try_from(self.ready.len()).unwrap_or(u32::MAX)
    }

    /// Ready and starting pods (what the Deployment asks for).
    pub fn spec(&self) -> u32 {
        self.ready()
            .saturating_add(u32::try_from(self.starting.len()).unwrap_or(u32::MAX))
    }

    /// When the next starting pod becomes ready.
    pub fn next_ready(&self) -> Option<f64> {
        self.starting.front().copied()
    }

    /// Ready pods holding at least one session.
    pub fn busy(&self) -> u32 {
        let n = self.ready.iter().filter(|p| p.sessions > 0).count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Open sessions.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Starts pods until `n` exist, each ready at `ready_at`.
    pub fn start(&mut self, n: u32, ready_at: f64) {
        let more = n.saturating_sub(self.spec());
        self.starting.extend((0..more).map(|_| ready_at));
    }

    /// Moves pods whose start ends by `now` to ready; returns how many.
    /// Sessions waiting for a pod go to the first one.
    pub fn become_ready(&mut self, now: f64) -> u32 {
        let mut n = 0;
        while self.starting.front().is_some_and(|&at| at <= now) {
            self.starting.pop_front();
            self.add_ready();
            n += 1;
        }
        if n > 0 {
            self.place_waiting();
        }
        n
    }

    fn add_ready(&mut self) {
        self.ready.push(Pod {
            id: self.next_id,
            sessions: 0,
        });
        self.next_id = self.next_id.wrapping_add(1);
    }

    fn place_waiting(&mut self) {
        let waiting: Vec<u32> = self
            .sessions
            .iter()
            .filter(|(_, pod)| pod.is_none())
            .map(|(&s, _)| s)
            .collect();
        for s in waiting {
            let pod = self.pick();
            self.sessions.insert(s, pod);
        }
    }

    /// The next pod round robin, counting the session onto it.
    fn pick(&mut self) -> Option<u32> {
        if self.ready.is_empty() {
            return None;
        }
        let i = self.round_robin % self.ready.len();
        self.round_robin = self.round_robin.wrapping_add(1);
        let pod = &mut self.ready[i];
        pod.sessions += 1;
        Some(pod.id)
    }

    /// A session opens.
    pub fn open(&mut self, session: u32) {
        self.close(session);
        let pod = self.pick();
        self.sessions.insert(session, pod);
    }

    /// A session closes.
    pub fn close(&mut self, session: u32) {
        if let Some(Some(id)) = self.sessions.remove(&session)
            && let Some(pod) = self.ready.iter_mut().find(|p| p.id == id)
        {
            pod.sessions = pod.sessions.saturating_sub(1);
        }
    }

    /// Scales in to `n` pods; returns (ready pods removed, sessions cut).
    pub fn scale_in(&mut self, n: u32) -> (u32, u64) {
        let mut remove = self.spec().saturating_sub(n);
        while remove > 0 && self.starting.pop_back().is_some() {
            remove -= 1;
        }
        if remove == 0 {
            return (0, 0);
        }
        if self.order == ScaleInOrder::LeastLiveWork {
            // Stable: among equals, the newest leave first, as without a cost.
            self.ready.sort_by_key(|p| std::cmp::Reverse(p.sessions));
        }
        let keep = self.ready.len().saturating_sub(remove as usize);
        let gone: Vec<Pod> = self.ready.drain(keep..).collect();
        let cut = self.reconnect(&gone);
        if self.order == ScaleInOrder::LeastLiveWork {
            self.ready.sort_by_key(|p| p.id);
        }
        (remove, cut)
    }

    /// Sessions of pods that left reconnect to a pod that stays; returns
    /// how many were cut.
    fn reconnect(&mut self, gone: &[Pod]) -> u64 {
        let cut: Vec<u32> = self
            .sessions
            .iter()
            .filter(|(_, pod)| pod.is_some_and(|id| gone.iter().any(|g| g.id == id)))
            .map(|(&s, _)| s)
            .collect();
        for s in &cut {
            let pod = self.pick();
            self.sessions.insert(*s, pod);
        }
        cut.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn four_pods_with(order: ScaleInOrder, sessions: &[u32]) -> Pods {
        let mut pods = Pods::new(4, order);
        let mut id = 0;
        // Round robin: session k lands on pod k % 4; close some so that
        // pod i keeps `sessions[i]`.
        let most = sessions.iter().copied().max().unwrap_or(0);
        for round in 0..most {
            for &keep in sessions {
                pods.open(id);
                if round >= keep {
                    pods.close(id);
                }
                id += 1;
            }
        }
        pods
    }

    #[test]
    fn least_live_work_leaves_first_and_cuts_nothing_when_idle_pods_suffice() {
        let mut pods = four_pods_with(ScaleInOrder::LeastLiveWork, &[3, 0, 2, 0]);
        assert_eq!(pods.sessions(), 5);
        assert_eq!(pods.scale_in(2), (2, 0));
        assert_eq!(pods.ready(), 2);
        // Now the pod with 2 sessions goes.
        assert_eq!(pods.scale_in(1), (1, 2));
        assert_eq!(pods.sessions(), 5);
    }

    #[test]
    fn newest_first_cuts_the_sessions_of_the_newest_pods() {
        let mut pods = four_pods_with(ScaleInOrder::Newest, &[3, 0, 2, 0]);
        assert_eq!(pods.scale_in(2), (2, 2));
        assert_eq!(pods.scale_in(0), (2, 5));
        assert_eq!(pods.sessions(), 5);
    }

    #[test]
    fn starting_pods_leave_before_ready_ones_and_waiting_sessions_get_the_first_pod() {
        let mut pods = Pods::new(0, ScaleInOrder::LeastLiveWork);
        pods.open(7);
        pods.start(3, 10.0);
        assert_eq!((pods.ready(), pods.spec()), (0, 3));
        assert_eq!(pods.become_ready(9.0), 0);
        assert_eq!(pods.become_ready(10.0), 3);
        assert_eq!(pods.scale_in(1), (2, 0));
        pods.close(7);
        assert_eq!(pods.sessions(), 0);
        pods.start(2, 20.0);
        assert_eq!(pods.scale_in(1), (0, 0));
        assert_eq!(pods.spec(), 1);
    }
}
