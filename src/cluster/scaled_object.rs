//! A typed KEDA `ScaledObject` (`keda.sh/v1alpha1`): the fields we write
//! and read, checked by the compiler when written and by `deny_unknown_fields`
//! when read back (a typo in a shipped example fails a test).

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscalerBehavior;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The API version KEDA serves ScaledObjects under.
pub const API_VERSION: &str = "keda.sh/v1alpha1";

/// A KEDA ScaledObject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScaledObject {
    /// Always [`API_VERSION`].
    pub api_version: String,
    /// Always `ScaledObject`.
    pub kind: String,
    /// Name, namespace, labels, annotations.
    pub metadata: Metadata,
    /// What KEDA scales and how.
    pub spec: ScaledObjectSpec,
}

/// The metadata we set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// Object name.
    pub name: String,
    /// Namespace (the server's).
    pub namespace: String,
    /// Labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `spec` of a ScaledObject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScaledObjectSpec {
    /// The workload.
    pub scale_target_ref: ScaleTargetRef,
    /// Seconds between KEDA's `IsActive` polls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polling_interval: Option<u32>,
    /// Seconds KEDA waits after the last active answer before scaling to 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_period: Option<u32>,
    /// Replicas when idle (0: scale to zero).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_replica_count: Option<u32>,
    /// Most replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replica_count: Option<u32>,
    /// Replicas KEDA sets when the scaler keeps failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
    /// HPA settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advanced: Option<Advanced>,
    /// The triggers (ours: one `external-push` or `external`).
    pub triggers: Vec<Trigger>,
}

/// `spec.scaleTargetRef`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScaleTargetRef {
    /// `apps/v1` (KEDA's default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Deployment` (KEDA's default when absent) or `StatefulSet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The workload's name.
    pub name: String,
}

/// `spec.fallback`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fallback {
    /// Failed polls before the fallback applies.
    pub failure_threshold: u32,
    /// Replicas meanwhile.
    pub replicas: u32,
}

/// `spec.advanced`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Advanced {
    /// The HPA KEDA creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizontal_pod_autoscaler_config: Option<HpaConfig>,
}

/// `spec.advanced.horizontalPodAutoscalerConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HpaConfig {
    /// The HPA's scaling behaviour (autoscaling/v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<HorizontalPodAutoscalerBehavior>,
}

/// One trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Trigger {
    /// `external-push` or `external` for this scaler.
    #[serde(rename = "type")]
    pub kind: String,
    /// `AverageValue` (our metric is a replica count) or `Value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_type: Option<String>,
    /// Trigger metadata (`scalerAddress`, `serverId`, `policy`, ...).
    pub metadata: BTreeMap<String, String>,
    /// A TriggerAuthentication (TLS material for the scaler connection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_ref: Option<AuthenticationRef>,
}

/// `triggers[].authenticationRef`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthenticationRef {
    /// Its name.
    pub name: String,
    /// `TriggerAuthentication` (default) or `ClusterTriggerAuthentication`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl ScaledObject {
    /// Checks the fixed parts: API version, kind, one of our trigger types.
    pub fn check(&self) -> Result<(), String> {
        if self.api_version != API_VERSION || self.kind != "ScaledObject" {
            return Err(format!(
                "apiVersion/kind is {}/{}, expected {API_VERSION}/ScaledObject",
                self.api_version, self.kind
            ));
        }
        if let (Some(min), Some(max)) = (self.spec.min_replica_count, self.spec.max_replica_count)
            && min > max
        {
            return Err(format!(
                "minReplicaCount {min} exceeds maxReplicaCount {max}"
            ));
        }
        for (i, t) in self.spec.triggers.iter().enumerate() {
            if !matches!(t.kind.as_str(), "external" | "external-push") {
                continue;
            }
            if !t.metadata.contains_key("scalerAddress") {
                return Err(format!("triggers[{i}].metadata.scalerAddress is missing"));
            }
        }
        Ok(())
    }
}
