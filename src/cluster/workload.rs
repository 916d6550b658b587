//! What discovery keeps of a workload or a pod: a few fields, never the
//! whole object (100,000 workloads fit in a few tens of MiB).

use crate::id::{Namespace, ServerId, ServerKey};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kinds of workload that host MCP servers.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum WorkloadKind {
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` StatefulSet.
    StatefulSet,
}

impl WorkloadKind {
    /// The Kubernetes kind.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
        }
    }
}

impl fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which workload: kind and name (its namespace is the server's).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
pub struct WorkloadRef {
    /// Deployment or StatefulSet.
    pub kind: WorkloadKind,
    /// The object's name.
    pub name: String,
}

/// One discovered workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// The server it hosts.
    pub server: ServerKey,
    /// Kind and name.
    pub workload: WorkloadRef,
    /// `spec.replicas` (Kubernetes defaults it to 1).
    pub desired: u32,
    /// `status.readyReplicas`.
    pub ready: u32,
    /// The policy its [`POLICY_ANNOTATION`] names, if any.
    pub policy: Option<String>,
}

/// The workload annotation that names the server's policy for what the
/// scaler does on its own (deletion cost, `manifests --discover`).
pub const POLICY_ANNOTATION: &str = "mcp-autoscaler/policy";

/// Longest policy name taken from an annotation.
const MAX_POLICY_NAME: usize = 63;

/// A Deployment or StatefulSet seen through the fields discovery uses.
pub trait ScalableWorkload {
    /// Its kind.
    const KIND: WorkloadKind;
    /// Its metadata.
    fn meta(&self) -> &ObjectMeta;
    /// `spec.replicas`, defaulted to 1 like the API server does.
    fn desired(&self) -> u32;
    /// `status.readyReplicas`.
    fn ready(&self) -> u32;
}

fn count(value: Option<i32>) -> u32 {
    value.map_or(0, |v| u32::try_from(v).unwrap_or(0))
}

/// Deployments and StatefulSets read the same fields.
macro_rules! scalable {
    ($kind:ident) => {
        impl ScalableWorkload for $kind {
            const KIND: WorkloadKind = WorkloadKind::$kind;
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn desired(&self) -> u32 {
                count(Some(
                    self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                ))
            }
            fn ready(&self) -> u32 {
                count(self.status.as_ref().and_then(|s| s.ready_replicas))
            }
        }
    };
}

scalable!(Deployment);
scalable!(StatefulSet);

/// Why an object was not taken as an MCP server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skipped {
    /// No namespace or name (a malformed object).
    #[error("object without namespace or name")]
    Unnamed,
    /// The label (or the name it falls back to) is not a valid server id.
    #[error("{0}")]
    BadId(#[from] crate::id::InvalidId),
}

/// The server an object belongs to: `label`'s value, or the object's own
/// name when the value is empty. Both must be valid ids.
pub fn server_of(meta: &ObjectMeta, label: &str) -> Result<ServerKey, Skipped> {
    let (Some(namespace), Some(name)) = (&meta.namespace, &meta.name) else {
        return Err(Skipped::Unnamed);
    };
    let value = meta
        .labels
        .as_ref()
        .and_then(|l| l.get(label))
        .map_or("", String::as_str);
    let server = if value.is_empty() { name } else { value };
    Ok(ServerKey::new(
        Namespace::parse(namespace)?,
        ServerId::parse(server)?,
    ))
}

/// The workload an object describes, if it names a valid server.
pub fn observe<K: ScalableWorkload>(object: &K, label: &str) -> Result<Workload, Skipped> {
    let meta = object.meta();
    let server = server_of(meta, label)?;
    let name = meta.name.clone().ok_or(Skipped::Unnamed)?;
    Ok(Workload {
        server,
        workload: WorkloadRef {
            kind: K::KIND,
            name,
        },
        desired: object.desired(),
        ready: object.ready(),
        policy: meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(POLICY_ANNOTATION))
            .filter(|p| !p.is_empty() && p.len() <= MAX_POLICY_NAME)
            .cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn deployment(ns: &str, name: &str, label: Option<&str>, replicas: Option<i32>) -> Deployment {
        let mut d = Deployment::default();
        d.metadata.namespace = Some(ns.into());
        d.metadata.name = Some(name.into());
        d.metadata.labels =
            label.map(|v| BTreeMap::from([("mcp-autoscaler/server".to_owned(), v.to_owned())]));
        d.spec = Some(k8s_openapi::api::apps::v1::DeploymentSpec {
            replicas,
            ..Default::default()
        });
        d
    }

    #[test]
    fn the_label_names_the_server_and_an_empty_value_falls_back_to_the_name() {
        let w = observe(
            &deployment("t-a", "web", Some("github"), Some(3)),
            "mcp-autoscaler/server",
        )
        .expect("valid");
        assert_eq!(w.server.to_string(), "t-a/github");
        assert_eq!((w.desired, w.ready), (3, 0));
        assert_eq!(w.workload.kind, WorkloadKind::Deployment);
        let w = observe(
            &deployment("t-a", "web", Some(""), None),
            "mcp-autoscaler/server",
        )
        .expect("valid");
        assert_eq!(w.server.to_string(), "t-a/web");
        assert_eq!(w.desired, 1, "spec.replicas defaults to 1");
    }

    #[test]
    fn invalid_ids_and_negative_counts_are_not_taken_at_face_value() {
        let bad = observe(
            &deployment("t-a", "web", Some("Bad.Name"), Some(1)),
            "mcp-autoscaler/server",
        );
        assert!(matches!(bad, Err(Skipped::BadId(_))));
        let w = observe(
            &deployment("t-a", "web", None, Some(-4)),
            "mcp-autoscaler/server",
        )
        .expect("valid");
        assert_eq!(w.desired, 0);
        let mut unnamed = deployment("t-a", "web", None, None);
        unnamed.metadata.namespace = None;
        assert_eq!(observe(&unnamed, "x"), Err(Skipped::Unnamed));
    }
}
