//! `mcp-autoscaler manifests`: one KEDA ScaledObject per hosted server,
//! from a servers file or from the cluster, for a GitOps repository.

use super::scaled_object::{
    API_VERSION, Advanced, AuthenticationRef, Fallback, HpaConfig, Metadata, ScaleTargetRef,
    ScaledObject, ScaledObjectSpec, Trigger,
};
use super::workload::{WorkloadKind, WorkloadRef};
use crate::config::Config;
use crate::engine::RateLimit;
use crate::id::ServerKey;
use k8s_openapi::api::autoscaling::v2::{
    HPAScalingPolicy, HPAScalingRules, HorizontalPodAutoscalerBehavior,
};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, HashMap};

/// Largest servers file read (64 MiB: about a million short entries).
pub const MAX_SERVERS_FILE_BYTES: u64 = 64 << 20;

/// Most entries in a servers file.
pub const MAX_SERVERS: usize = 200_000;

/// A servers file that cannot be used: where and why.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file is not YAML of the expected shape (the parser's message
    /// carries line and column).
    #[error("{origin}: {message}")]
    Parse {
        /// The file.
        origin: String,
        /// What the parser said.
        message: String,
    },
    /// One entry is wrong.
    #[error("{origin} line {line}: {field}: {message}")]
    Entry {
        /// The file.
        origin: String,
        /// Line of the entry (1-based).
        line: u64,
        /// The field at fault.
        field: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// An option is wrong.
    #[error("{option}: {message}")]
    Option {
        /// The flag.
        option: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// One server to cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEntry {
    /// Namespace and name.
    pub server: ServerKey,
    /// The workload KEDA scales.
    pub workload: WorkloadRef,
    /// A named policy from the config, if not the default.
    pub policy: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    namespace: Spanned<String>,
    server: Spanned<String>,
    #[serde(default)]
    workload: Option<Spanned<RawWorkload>>,
    #[serde(default)]
    policy: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// Parses a servers file: a YAML list of `{namespace, server, workload?:
/// {kind, name}, policy?}`. The workload defaults to a Deployment named like
/// the server; a policy must be defined in `config`.
pub fn parse_servers(
    text: &str,
    origin: &str,
    config: &Config,
) -> Result<Vec<ServerEntry>, ManifestError> {
    let raw: Vec<Spanned<RawEntry>> =
        crate::yaml::parse(text).map_err(|message| ManifestError::Parse {
            origin: origin.to_owned(),
            message,
        })?;
    if raw.len() > MAX_SERVERS {
        return Err(ManifestError::Parse {
            origin: origin.to_owned(),
            message: format!("{} entries, at most {MAX_SERVERS} allowed", raw.len()),
        });
    }
    let mut seen: HashMap<ServerKey, u64> = HashMap::new();
    let mut out = Vec::with_capacity(raw.len());
    for entry in raw {
        let line = entry.referenced.line();
        let fail = |field, line, message: String| ManifestError::Entry {
            origin: origin.to_owned(),
            line,
            field,
            message,
        };
        let e = entry.value;
        let server = ServerKey::parse(&e.namespace.value, &e.server.value).map_err(|err| {
            let field = if crate::id::Namespace::parse(&e.namespace.value).is_err() {
                "namespace"
            } else {
                "server"
            };
            fail(field, line, err.to_string())
        })?;
        if let Some(first) = seen.insert(server.clone(), line) {
            return Err(fail(
                "server",
                line,
                format!("{server} is listed twice (first on line {first})"),
            ));
        }
        let workload = workload_of(&server, e.workload.as_ref().map(|w| &w.value))
            .map_err(|(field, message)| fail(field, line, message))?;
        if let Some(policy) = &e.policy
            && !config.policies.contains_key(&policy.value)
        {
            let known: Vec<&str> = config.policies.keys().map(String::as_str).collect();
            return Err(fail(
                "policy",
                policy.referenced.line(),
                format!(
                    "{:?} is not a policy of the config (defined: {})",
                    policy.value,
                    known.join(", ")
                ),
            ));
        }
        out.push(ServerEntry {
            server,
            workload,
            policy: e.policy.map(|p| p.value),
        });
    }
    Ok(out)
}

fn workload_of(
    server: &ServerKey,
    raw: Option<&RawWorkload>,
) -> Result<WorkloadRef, (&'static str, String)> {
    let kind = match raw.and_then(|w| w.kind.as_deref()) {
        None | Some("Deployment") => WorkloadKind::Deployment,
        Some("StatefulSet") => WorkloadKind::StatefulSet,
        Some(other) => {
            return Err((
                "workload.kind",
                format!("{other:?} is not Deployment or StatefulSet"),
            ));
        }
    };
    let name = raw
        .and_then(|w| w.name.clone())
        .unwrap_or_else(|| server.server.to_string());
    if !crate::id::is_object_name(&name) {
        return Err(("workload.name", not_an_object_name(&name)));
    }
    Ok(WorkloadRef { kind, name })
}

/// How the ScaledObjects reach the scaler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `host:port` of the scaler's gRPC Service.
    pub scaler_address: String,
    /// Poll (`external`) instead of push (`external-push`).
    pub poll_only: bool,
    /// `enableTLS: "true"` on the trigger.
    pub tls: bool,
    /// A TriggerAuthentication holding the CA and client certificate.
    pub trigger_authentication: Option<String>,
}

impl Options {
    /// Checks the address (`host:port`) and the TriggerAuthentication name.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let ok = self
            .scaler_address
            .rsplit_once(':')
            .is_some_and(|(host, port)| is_host(host) && port.parse::<u16>().is_ok_and(|p| p > 0));
        if !ok {
            return Err(ManifestError::Option {
                option: "--scaler-address",
                message: format!(
                    "{:?} is not host:port (e.g. mcp-autoscaler.mcp-system.svc.cluster.local:9090)",
                    self.scaler_address
                ),
            });
        }
        if let Some(name) = self
            .trigger_authentication
            .as_deref()
            .filter(|n| !crate::id::is_object_name(n))
        {
            return Err(ManifestError::Option {
                option: "--trigger-authentication",
                message: not_an_object_name(name),
            });
        }
        Ok(())
    }
}

/// Whether `host` is a DNS name (labels of at most 63, a trailing `.`
/// allowed), an IPv4 address or a bracketed IPv6 one.
fn is_host(host: &str) -> bool {
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
            host.parse::<std::net::Ipv4Addr>().is_ok() || crate::id::is_dns_name(&name)
        }
    }
}

fn not_an_object_name(name: &str) -> String {
    format!(
        "{:?} is not a Kubernetes object name: {}",
        name.chars().take(100).collect::<String>(),
        crate::id::OBJECT_NAME_RULE
    )
}

/// The HPA's scale-up policy that lets through what the scaler's policy
/// allows (its `behavior.scale_up`, as [`crate::engine::hpa::hpa_scale_up`]
/// carries it over): the HPA applies its own limit after ours, and
/// Kubernetes' default (max(4 pods, 100%) per 15 s) would hold a burst
/// back. `None` (the HPA's default) when neither amount reaches one unit.
pub fn hpa_scale_up(limit: &RateLimit) -> Option<HPAScalingRules> {
    let limit = crate::engine::hpa::hpa_scale_up(limit)?;
    let period = i32::try_from(limit.period.as_secs()).unwrap_or(1800);
    let rule = |kind: &str, value: f64| {
        (value >= 1.0).then(|| HPAScalingPolicy {
            type_: kind.to_owned(),
            value: value.min(f64::from(i32::MAX)) as i32,
            period_seconds: period,
        })
    };
    let policies: Vec<HPAScalingPolicy> = [
        rule("Percent", limit.percent),
        rule("Pods", f64::from(limit.pods)),
    ]
    .into_iter()
    .flatten()
    .collect();
    Some(HPAScalingRules {
        select_policy: Some("Max".to_owned()),
        policies: Some(policies),
        ..HPAScalingRules::default()
    })
}

/// The ScaledObject that covers `entry`: scale to zero, the policy's
/// maximum, no KEDA cooldown or HPA scale-down window on top of the
/// scaler's own, the HPA's scale-up limit as the policy's, a fallback of
/// one replica when the scaler cannot answer.
pub fn scaled_object(entry: &ServerEntry, config: &Config, options: &Options) -> ScaledObject {
    let policy_name = entry.policy.as_deref().unwrap_or(&config.default_policy);
    let policy = config.policies.get(policy_name);
    let max = policy.map_or(1, |p| p.max_replicas.max(1));
    let mut metadata = BTreeMap::from([
        ("scalerAddress".to_owned(), options.scaler_address.clone()),
        ("serverId".to_owned(), entry.server.server.to_string()),
    ]);
    if let Some(policy) = &entry.policy {
        metadata.insert("policy".into(), policy.clone());
    }
    if options.tls {
        metadata.insert("enableTLS".into(), "true".into());
    }
    let no_second_window = HorizontalPodAutoscalerBehavior {
        scale_down: Some(HPAScalingRules {
            stabilization_window_seconds: Some(0),
            ..HPAScalingRules::default()
        }),
        scale_up: policy.and_then(|p| hpa_scale_up(&p.behavior.scale_up)),
    };
    ScaledObject {
        api_version: API_VERSION.to_owned(),
        kind: "ScaledObject".to_owned(),
        metadata: Metadata {
            name: entry.server.server.to_string(),
            namespace: entry.server.namespace.to_string(),
            labels: BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_owned(),
                "mcp-autoscaler-manifests".to_owned(),
            )]),
            annotations: BTreeMap::new(),
        },
        spec: ScaledObjectSpec {
            scale_target_ref: ScaleTargetRef {
                api_version: Some("apps/v1".into()),
                kind: Some(entry.workload.kind.as_str().into()),
                name: entry.workload.name.clone(),
            },
            polling_interval: Some(30),
            cooldown_period: Some(0),
            min_replica_count: Some(0),
            max_replica_count: Some(max),
            fallback: Some(Fallback {
                failure_threshold: 3,
                replicas: 1,
            }),
            advanced: Some(Advanced {
                horizontal_pod_autoscaler_config: Some(HpaConfig {
                    behavior: Some(no_second_window),
                }),
            }),
            triggers: vec![Trigger {
                kind: if options.poll_only {
                    "external"
                } else {
                    "external-push"
                }
                .into(),
                metric_type: Some("AverageValue".into()),
                metadata,
                authentication_ref: options.trigger_authentication.as_ref().map(|name| {
                    AuthenticationRef {
                        name: name.clone(),
                        kind: None,
                    }
                }),
            }],
        },
    }
}

/// Serialises `objects` as one multi-document YAML stream.
pub fn to_yaml(objects: &[ScaledObject]) -> Result<String, serde_saphyr::ser::Error> {
    let mut out = String::new();
    for object in objects {
        out.push_str("---\n");
        out.push_str(&document(object)?);
    }
    Ok(out)
}

/// One object as a YAML document ending in a newline.
fn document(object: &ScaledObject) -> Result<String, serde_saphyr::ser::Error> {
    let mut yaml = serde_saphyr::to_string(object)?;
    if !yaml.ends_with('\n') {
        yaml.push('\n');
    }
    Ok(yaml)
}

/// Writes one file per object under `dir`: `<namespace>/<server>.yaml`
/// (a layout a GitOps repository can hold). Returns the files written.
pub fn write_dir(
    dir: &std::path::Path,
    objects: &[ScaledObject],
) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::with_capacity(objects.len());
    for object in objects {
        let folder = dir.join(&object.metadata.namespace);
        std::fs::create_dir_all(&folder)?;
        let file = folder.join(format!("{}.yaml", object.metadata.name));
        let yaml = document(object).map_err(std::io::Error::other)?;
        std::fs::write(&file, yaml)?;
        files.push(file);
    }
    Ok(files)
}

#[cfg(test)]
#[path = "manifests_tests.rs"]
mod tests;
