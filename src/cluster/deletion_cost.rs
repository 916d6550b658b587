//! Session-aware scale-in: when a server's decision is below the replicas
//! its Deployment runs, its pods get `controller.kubernetes.io/pod-deletion-cost`
//! equal to their live work, so the ReplicaSet controller removes the idle
//! ones first (the HPA that KEDA drives decides how many go; we decide
//! which). Once no scale-in is pending the annotations are removed.
//!
//! - A pod no source reports work for is **unknown**, never idle: it gets
//!   [`UNKNOWN_COST`], above any measured work.
//! - A pod is patched at most once per `kubernetes.deletion_cost.interval`.
//! - Nothing is done on a decision without trustworthy data.
//! - StatefulSets remove the highest ordinal whatever the annotation says:
//!   their pods are left alone.

use super::inventory::Hosted;
use super::pods::{DELETION_COST, PodState};
use super::workload::WorkloadKind;
use std::collections::{BTreeMap, HashMap};

/// The cost of a pod whose live work is unknown: higher than any measured
/// work, so it goes last.
pub const UNKNOWN_COST: i32 = 1_000_000_000;

/// Highest cost measured work maps to.
pub const MAX_WORK_COST: i32 = 1_000_000;

/// One annotation change: the pod and its new value (`None`: remove).
pub type Patch = (String, Option<i32>);

/// The cost that ranks `work` (rounded, clamped); unknown work last.
pub fn cost_of(work: Option<f64>) -> i32 {
    match work {
        Some(w) if w.is_finite() && w >= 0.0 => {
            // Clamped below MAX_WORK_COST, so the cast cannot overflow.
            w.round().min(f64::from(MAX_WORK_COST)) as i32
        }
        _ => UNKNOWN_COST,
    }
}

/// The annotation changes one server needs. With a scale-in pending every
/// pod carries its cost; without one, none carries any.
pub fn plan(
    pods: &BTreeMap<String, PodState>,
    work: &HashMap<String, f64>,
    scale_in: bool,
) -> Vec<Patch> {
    pods.iter()
        .filter(|(_, p)| !p.stateful)
        .filter_map(|(name, p)| {
            let want = scale_in.then(|| cost_of(work.get(name).copied()));
            (p.cost != want).then(|| (name.clone(), want))
        })
        .collect()
}

/// Whether any of a server's workloads is a StatefulSet (deletion cost has
/// no effect there).
pub fn has_stateful_set(hosted: &[Hosted]) -> bool {
    hosted
        .iter()
        .any(|h| h.workload.kind == WorkloadKind::StatefulSet)
}

/// The merge patch that sets (or, for `None`, removes) the annotation.
pub fn patch_body(cost: Option<i32>) -> serde_json::Value {
    serde_json::json!({
        "metadata": { "annotations": { DELETION_COST: cost.map(|c| c.to_string()) } }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods(costs: &[(&str, Option<i32>)]) -> BTreeMap<String, PodState> {
        costs
            .iter()
            .map(|(n, c)| {
                let state = PodState {
                    cost: *c,
                    stateful: false,
                };
                ((*n).to_owned(), state)
            })
            .collect()
    }

    #[test]
    fn on_scale_in_idle_pods_cost_least_and_unknown_pods_most() {
        let p = pods(&[("a", None), ("b", None), ("c", None)]);
        let work = HashMap::from([("a".to_owned(), 7.0), ("b".to_owned(), 0.0)]);
        let patches = plan(&p, &work, true);
        assert_eq!(
            patches,
            vec![
                ("a".into(), Some(7)),
                ("b".into(), Some(0)),
                ("c".into(), Some(UNKNOWN_COST))
            ]
        );
    }

    #[test]
    fn only_changes_are_patched_and_annotations_go_when_no_scale_in_is_pending() {
        let p = pods(&[("a", Some(7)), ("b", Some(0)), ("c", None)]);
        let work = HashMap::from([("a".to_owned(), 7.0), ("b".to_owned(), 2.0)]);
        assert_eq!(
            plan(&p, &work, true),
            vec![("b".into(), Some(2)), ("c".into(), Some(UNKNOWN_COST))]
        );
        assert_eq!(
            plan(&p, &work, false),
            vec![("a".into(), None), ("b".into(), None)]
        );
    }

    #[test]
    fn stateful_set_pods_and_bad_work_values() {
        let mut p = pods(&[("web-0", None)]);
        if let Some(s) = p.get_mut("web-0") {
            s.stateful = true;
        }
        assert!(plan(&p, &HashMap::new(), true).is_empty());
        assert_eq!(cost_of(Some(f64::NAN)), UNKNOWN_COST);
        assert_eq!(cost_of(Some(-1.0)), UNKNOWN_COST);
        assert_eq!(cost_of(Some(1e12)), MAX_WORK_COST);
        assert_eq!(cost_of(Some(2.4)), 2);
    }

    #[test]
    fn the_patch_sets_or_removes_the_annotation() {
        assert_eq!(
            patch_body(Some(3)).to_string(),
            r#"{"metadata":{"annotations":{"controller.kubernetes.io/pod-deletion-cost":"3"}}}"#
        );
        assert_eq!(
            patch_body(None).to_string(),
            r#"{"metadata":{"annotations":{"controller.kubernetes.io/pod-deletion-cost":null}}}"#
        );
    }
}
