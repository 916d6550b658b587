//! The Kubernetes side: which workloads host MCP servers and how many
//! replicas they run (discovery), which pods go first on scale-in
//! (deletion cost), the KEDA objects that cover every server
//! (manifests), and scaling without KEDA (apply mode, one replica elected
//! through a Lease).
//!
//! Everything here talks to the API server through a [`kube::Client`]
//! built from the standard kubeconfig or the in-cluster service account.

pub mod actions;
pub mod apply;
pub mod apply_plan;
pub mod apply_queue;
pub mod apply_run;
pub mod deletion_cost;
pub mod discovery;
pub mod elsewhere;
#[cfg(test)]
pub(crate) mod fake_api;
pub mod inventory;
pub mod lease;
pub mod list;
pub mod manifests;
pub mod pods;
pub mod rbac;
pub mod scale_in;
pub mod scaled_object;
pub mod telemetry;
pub mod watch;
pub mod workload;

pub use inventory::{Hosted, Inventory};
pub use workload::{WorkloadKind, WorkloadRef};

/// A client from the standard kubeconfig (`KUBECONFIG`, `~/.kube/config`)
/// or, inside a pod, the service account.
pub async fn client() -> Result<kube::Client, kube::Error> {
    kube::Client::try_default().await
}
