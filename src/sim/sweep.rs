//! Parameter sweeps: one base policy, a list of values for each of a few
//! fields, one simulated policy per combination.
//!
//! ```yaml
//! sweeps:
//!   - policy: default
//!     vary:
//!       idle_window: [1m, 5m, 15m]
//!       targets.concurrency: [4, 8]
//! ```
//! gives six policies named like `default{idle_window=1m,targets.concurrency=4}`.
//! Fields are paths into the policy schema (the config's `policies.NAME`);
//! each value goes through the same parsing and validation as a config file.

use crate::engine::Policy;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Most policies one sweep may add.
pub const MAX_COMBINATIONS: usize = 64;

/// One sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    /// The policy whose fields are varied.
    pub policy: String,
    /// Field path → values to try.
    pub vary: BTreeMap<String, Vec<Value>>,
}

/// (field path, message) of a bad sweep.
pub type SweepError = (String, String);

impl Sweep {
    /// Every combination, named and validated, in a fixed order.
    pub fn expand(&self, base: &Policy) -> Result<Vec<(String, Policy)>, SweepError> {
        let combos = self.combinations()?;
        let base_json =
            serde_json::to_value(base).map_err(|e| ("policy".to_owned(), e.to_string()))?;
        combos
            .into_iter()
            .map(|combo| self.apply(&base_json, &combo))
            .collect()
    }

    fn combinations(&self) -> Result<Vec<Vec<(&str, &Value)>>, SweepError> {
        if self.vary.is_empty() {
            return Err(("vary".into(), "name at least one field to vary".into()));
        }
        let mut out: Vec<Vec<(&str, &Value)>> = vec![Vec::new()];
        for (field, values) in &self.vary {
            if values.is_empty() {
                return Err((format!("vary.{field}"), "give at least one value".into()));
            }
            out = out
                .iter()
                .flat_map(|prefix| {
                    values.iter().map(move |v| {
                        let mut c = prefix.clone();
                        c.push((field.as_str(), v));
                        c
                    })
                })
                .collect();
            if out.len() > MAX_COMBINATIONS {
                return Err((
                    "vary".into(),
                    format!("more than {MAX_COMBINATIONS} combinations; split the sweep"),
                ));
            }
        }
        Ok(out)
    }

    fn apply(
        &self,
        base: &Value,
        combo: &[(&str, &Value)],
    ) -> Result<(String, Policy), SweepError> {
        let mut json = base.clone();
        let mut label = Vec::new();
        for (field, value) in combo {
            let slot = slot(&mut json, field).ok_or_else(|| {
                (
                    format!("vary.{field}"),
                    format!("no such policy field; top-level fields: {}", fields(base)),
                )
            })?;
            *slot = (*value).clone();
            label.push(format!("{field}={}", show(value)));
        }
        let policy: Policy = serde_json::from_value(json)
            .map_err(|e| (format!("vary.{}", combo_fields(combo)), e.to_string()))?;
        policy
            .validate()
            .map_err(|e| (format!("vary ({})", e.field), e.message))?;
        Ok((format!("{}{{{}}}", self.policy, label.join(",")), policy))
    }

    /// Whether `run` names one of this sweep's policies
    /// (`POLICY{field=value,...}`, as [`Sweep::expand`] names them).
    pub fn made(&self, run: &str) -> bool {
        run.strip_prefix(self.policy.as_str())
            .is_some_and(|rest| rest.starts_with('{') && rest.ends_with('}'))
    }
}

/// The value at a dotted path, if every step exists (a `null` leaf counts).
fn slot<'a>(json: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    path.split('.')
        .try_fold(json, |v, key| v.as_object_mut()?.get_mut(key))
}

fn fields(base: &Value) -> String {
    base.as_object()
        .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

fn combo_fields(combo: &[(&str, &Value)]) -> String {
    combo.iter().map(|(f, _)| *f).collect::<Vec<_>>().join("|")
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sweep(yaml: &str) -> Sweep {
        serde_saphyr::from_str(yaml).expect("sweep yaml")
    }

    #[test]
    fn a_two_by_three_sweep_gives_six_named_validated_policies() {
        let s = sweep(
            "policy: default\nvary:\n  idle_window: [1m, 5m, 15m]\n  targets.concurrency: [4, 8]\n",
        );
        let out = s.expand(&Policy::default()).expect("expands");
        assert_eq!(out.len(), 6);
        assert_eq!(out[0].0, "default{idle_window=1m,targets.concurrency=4}");
        assert_eq!(out[0].1.idle_window, Duration::from_secs(60));
        assert_eq!(
            out[0].1.targets.get(crate::signal::Metric::Concurrency),
            Some(4.0)
        );
        assert!(out.iter().all(|(name, _)| s.made(name)));
        assert!(!s.made("default") && !s.made("default-apply") && !s.made("defaults{x=1}"));
        assert_eq!(out[5].1.idle_window, Duration::from_secs(900));
        assert_eq!(
            out[5].1.targets.get(crate::signal::Metric::Concurrency),
            Some(8.0)
        );
    }

    #[test]
    fn an_unknown_field_or_a_bad_value_names_the_field() {
        let e = sweep("policy: default\nvary: { idle_windw: [1m] }")
            .expand(&Policy::default())
            .expect_err("unknown");
        assert_eq!(e.0, "vary.idle_windw", "{e:?}");
        let e = sweep("policy: default\nvary: { max_replicas: [0] }")
            .expand(&Policy::default())
            .expect_err("range");
        assert!(e.0.contains("max_replicas"), "{e:?}");
        let e = sweep("policy: default\nvary: { idle_window: [soon] }")
            .expand(&Policy::default())
            .expect_err("type");
        assert!(e.0.contains("idle_window"), "{e:?}");
    }

    #[test]
    fn too_many_combinations_are_refused() {
        let values: Vec<String> = (1..=9).map(|i| format!("{i}m")).collect();
        let list = values.join(", ");
        let s = sweep(&format!(
            "policy: default\nvary:\n  idle_window: [{list}]\n  targets.concurrency: [1,2,3,4,5,6,7,8]\n"
        ));
        assert!(s.expand(&Policy::default()).is_err());
    }
}
