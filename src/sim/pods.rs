//! A simulated server's pods: which are starting, which are ready, and
//! which units of live work (sessions, streams) each ready pod holds.
//!
//! Live work is pinned to the pod that accepted it (new units go round
//! robin over the ready pods). On scale-in, pods still starting leave
//! first (the ReplicaSet controller deletes unready pods first); then
//! either the newest ready pods leave (Kubernetes' default), or, with
//! `pod-deletion-cost` set from live work as the scaler does, the pods
//! holding the least. Live work on a pod that leaves is cut and its
//! clients reconnect to a pod that stays.

use crate::signal::{EventKind, SignalKind};
use std::collections::{BTreeMap, VecDeque};

/// Which ready pods a scale-in removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleInOrder {
    /// The newest pods (no deletion cost set).
    Newest,
    /// The pods with the least live work (deletion cost = live work).
    LeastLiveWork,
}

/// A kind of live work: open until its close event, pinned to one pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Live {
    /// An MCP session (`session_open` … `session_close`).
    Session,
    /// A stream: a connection the client holds open, such as MCP's
    /// `subscriptions/listen` (`connection_open` … `connection_close`).
    Stream,
}

impl Live {
    /// The unit an event opens (`true`) or closes (`false`), if any: the
    /// signal the event stream counts it in (the catalog's pairing) names
    /// the kind of live work.
    pub fn of(kind: EventKind) -> Option<(Live, bool)> {
        let (signal, opens) = kind.counts()?;
        let live = match signal {
            SignalKind::Sessions => Live::Session,
            SignalKind::Connections => Live::Stream,
            _ => return None,
        };
        Some((live, opens))
    }

    /// Its place in a per-kind array.
    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// A count per kind of live work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerLive {
    /// Sessions.
    pub sessions: u64,
    /// Streams.
    pub streams: u64,
}

impl PerLive {
    fn add(&mut self, kind: Live, n: u64) {
        match kind {
            Live::Session => self.sessions += n,
            Live::Stream => self.streams += n,
        }
    }
}

/// One unit of live work: its kind and its id (unique within the kind).
pub type Unit = (Live, u32);

#[derive(Debug, Clone, Copy)]
struct Pod {
    id: u32,
    /// Units of live work it holds.
    live: u32,
}

/// Pods of one server.
#[derive(Debug)]
pub struct Pods {
    /// Ready pods, oldest first.
    ready: Vec<Pod>,
    /// When each starting pod becomes ready, earliest first.
    starting: VecDeque<f64>,
    /// Unit of live work → the id of the pod holding it (units opened with
    /// no pod ready wait for the first: `None`). Ordered, so that waiting
    /// and cut units are placed in the same order on every run.
    units: BTreeMap<Unit, Option<u32>>,
    /// Open units of each kind, by [`Live::index`].
    open: [usize; 2],
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
            units: BTreeMap::new(),
            open: [0; 2],
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

    /// Ready pods holding live work.
    pub fn busy(&self) -> u32 {
        let n = self.ready.iter().filter(|p| p.live > 0).count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Open units of `kind`.
    pub fn open(&self, kind: Live) -> usize {
        self.open[kind.index()]
    }

    /// Open units of live work of every kind.
    pub fn live(&self) -> usize {
        self.units.len()
    }

    /// Starts pods until `n` exist, each ready at `ready_at`.
    pub fn start(&mut self, n: u32, ready_at: f64) {
        let more = n.saturating_sub(self.spec());
        self.starting.extend((0..more).map(|_| ready_at));
    }

    /// Moves pods whose start ends by `now` to ready; returns how many.
    /// Live work waiting for a pod goes to the first one.
    pub fn become_ready(&mut self, now: f64) -> u32 {
        // Live work waits only while no pod is ready.
        let none_ready = self.ready.is_empty();
        let mut n = 0;
        while self.starting.front().is_some_and(|&at| at <= now) {
            self.starting.pop_front();
            self.add_ready();
            n += 1;
        }
        if n > 0 && none_ready {
            self.place_waiting();
        }
        n
    }

    fn add_ready(&mut self) {
        self.ready.push(Pod {
            id: self.next_id,
            live: 0,
        });
        self.next_id = self.next_id.wrapping_add(1);
    }

    fn place_waiting(&mut self) {
        let waiting: Vec<Unit> = self
            .units
            .iter()
            .filter(|(_, pod)| pod.is_none())
            .map(|(&u, _)| u)
            .collect();
        for u in waiting {
            let pod = self.pick();
            self.units.insert(u, pod);
        }
    }

    /// The next pod round robin, counting the unit onto it.
    fn pick(&mut self) -> Option<u32> {
        if self.ready.is_empty() {
            return None;
        }
        let i = self.round_robin % self.ready.len();
        self.round_robin = self.round_robin.wrapping_add(1);
        let pod = &mut self.ready[i];
        pod.live += 1;
        Some(pod.id)
    }

    /// A unit of live work opens; returns whether it is new (a second
    /// open of one already open changes nothing, as in the scaler's
    /// session table).
    pub fn begin(&mut self, unit: Unit) -> bool {
        if self.units.contains_key(&unit) {
            return false;
        }
        let pod = self.pick();
        self.units.insert(unit, pod);
        self.open[unit.0.index()] += 1;
        true
    }

    /// A unit of live work closes; returns whether it was open (a close
    /// of one never seen open changes nothing).
    pub fn end(&mut self, unit: Unit) -> bool {
        let Some(held) = self.units.remove(&unit) else {
            return false;
        };
        self.open[unit.0.index()] = self.open[unit.0.index()].saturating_sub(1);
        if let Some(id) = held
            && let Some(pod) = self.ready.iter_mut().find(|p| p.id == id)
        {
            pod.live = pod.live.saturating_sub(1);
        }
        true
    }

    /// Scales in to `n` pods; returns the ready pods removed and the live
    /// work cut, of each kind.
    pub fn scale_in(&mut self, n: u32) -> (u32, PerLive) {
        let mut remove = self.spec().saturating_sub(n);
        while remove > 0 && self.starting.pop_back().is_some() {
            remove -= 1;
        }
        if remove == 0 {
            return (0, PerLive::default());
        }
        if self.order == ScaleInOrder::LeastLiveWork {
            // Stable: among equals, the newest leave first, as without a cost.
            self.ready.sort_by_key(|p| std::cmp::Reverse(p.live));
        }
        let keep = self.ready.len().saturating_sub(remove as usize);
        let gone: Vec<Pod> = self.ready.drain(keep..).collect();
        let cut = self.reconnect(&gone);
        if self.order == ScaleInOrder::LeastLiveWork {
            self.ready.sort_by_key(|p| p.id);
        }
        (remove, cut)
    }

    /// Live work of pods that left reconnects to a pod that stays; returns
    /// how much of each kind was cut.
    fn reconnect(&mut self, gone: &[Pod]) -> PerLive {
        let cut: Vec<Unit> = self
            .units
            .iter()
            .filter(|(_, pod)| pod.is_some_and(|id| gone.iter().any(|g| g.id == id)))
            .map(|(&u, _)| u)
            .collect();
        let mut counts = PerLive::default();
        for u in &cut {
            let pod = self.pick();
            self.units.insert(*u, pod);
            counts.add(u.0, 1);
        }
        counts
    }
}

#[cfg(test)]
#[path = "pods_tests.rs"]
mod tests;
