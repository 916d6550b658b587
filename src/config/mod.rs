//! The config file: one YAML document, parsed and validated once at start-up.
//!
//! Every struct denies unknown fields and every duration is humantime
//! (`30s`, `5m`). [`Config::load`] returns one error naming the file and the
//! field at fault; [`Config::validate`] checks ranges and cross-field rules.

mod apply;
mod auth;
mod kubernetes;
mod queries;
mod server;
mod sources;

pub use apply::{ApplyConfig, LeaseConfig};
pub use auth::{HttpAuth, MAX_TOKEN_LEN, MIN_TOKEN_LEN};
pub use kubernetes::{
    DEFAULT_SERVER_LABEL, DeletionCostConfig, DiscoveryConfig, KubernetesConfig, validate_label_key,
};

pub use queries::Queries;
pub use server::{
    MAX_METADATA_BYTES, MAX_SERVERS, MAX_STREAMS, MIN_METADATA_BYTES, MIN_SERVERS, MIN_STREAMS,
    MIN_STREAMS_PER_CONNECTION, ServerConfig, TlsConfig,
};
pub use sources::{
    JetStreamConfig, MAX_POLL_INTERVAL, MAX_STREAM_AGE, NatsAuth, NatsConfig, PrometheusAuth,
    PrometheusConfig, PrometheusTls,
};

use crate::engine::{Policy, PolicyError};
use crate::redact::{redact_headers, redact_url};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Name of the policy used when a ScaledObject names none.
pub const DEFAULT_POLICY: &str = "default";

/// A config that could not be read, parsed or accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed or has an unknown or mistyped field.
    #[error("{origin}: {message}")]
    Parse {
        /// The file (or `<built-in>`).
        origin: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value is out of range; `field` is its full path.
    #[error("{field}: {message}")]
    Invalid {
        /// Full path of the field, e.g. `policies.default.max_replicas`.
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Checks that `name` can name an environment variable as Kubernetes
/// sets them (1 to 255 of `A-Z a-z 0-9 _ - .`, not starting with a digit;
/// `envFrom` a Secret may give `api-token`): the secret is read from it at
/// start-up, and an empty or odd name is a typo best caught here.
pub(crate) fn check_env_name(field: &str, name: &str) -> Result<(), ConfigError> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
    let ok = name.len() <= 255
        && name.bytes().next().is_some_and(|b| !b.is_ascii_digit())
        && name.bytes().all(allowed);
    if ok {
        return Ok(());
    }
    Err(ConfigError::invalid(
        field,
        format!(
            "{:?} is not an environment variable name (1 to 255 of A-Z, a-z, 0-9, _, - \
             and ., not starting with a digit)",
            name.chars().take(60).collect::<String>()
        ),
    ))
}

/// The whole config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Listen addresses, TLS and request limits.
    pub server: ServerConfig,
    /// Log level and format.
    pub log: LogConfig,
    /// The policy used when a ScaledObject names none.
    pub default_policy: String,
    /// Named policies; `default` is always there.
    pub policies: BTreeMap<String, Policy>,
    /// Where polled signals come from (none: every server idle unless events say otherwise).
    pub prometheus: Option<PrometheusConfig>,
    /// Where activity events come from.
    pub nats: Option<NatsConfig>,
    /// Workload discovery and session-aware scale-in (off by default).
    pub kubernetes: KubernetesConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            log: LogConfig::default(),
            default_policy: DEFAULT_POLICY.to_owned(),
            policies: with_baselines(BTreeMap::from([(
                DEFAULT_POLICY.to_owned(),
                Policy::default(),
            )])),
            prometheus: None,
            nats: None,
            kubernetes: KubernetesConfig::default(),
        }
    }
}

/// Log output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter: `info`, `debug`, `mcp_autoscaler=debug,info`.
    pub level: String,
    /// `pretty` for people, `json` for log pipelines.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Pretty,
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Settings taken from flags or the environment, applied over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--grpc-addr` / `MCP_AUTOSCALER_GRPC_ADDR`.
    pub grpc_addr: Option<SocketAddr>,
    /// `--http-addr` / `MCP_AUTOSCALER_HTTP_ADDR`.
    pub http_addr: Option<SocketAddr>,
    /// `--log-level` / `MCP_AUTOSCALER_LOG_LEVEL`.
    pub log_level: Option<String>,
    /// `--log-format` / `MCP_AUTOSCALER_LOG_FORMAT`.
    pub log_format: Option<LogFormat>,
    /// `--prometheus-url` / `MCP_AUTOSCALER_PROMETHEUS_URL`.
    pub prometheus_url: Option<String>,
    /// `--nats-url` / `MCP_AUTOSCALER_NATS_URL`.
    pub nats_url: Option<String>,
    /// `--apply`: turns on `kubernetes.apply`.
    pub apply: bool,
    /// `--dry-run`: apply mode that only logs and shows what it would do.
    pub dry_run: bool,
}

impl Config {
    /// The policy a workload annotation names when the config defines it,
    /// else the default policy: (name, policy).
    pub fn policy_named_by(&self, annotation: Option<&str>) -> (&str, Option<&Policy>) {
        let (name, policy) = annotation
            .and_then(|a| self.policies.get_key_value(a))
            .map_or_else(
                || {
                    (
                        self.default_policy.as_str(),
                        self.policies.get(&self.default_policy),
                    )
                },
                |(name, policy)| (name.as_str(), Some(policy)),
            );
        (name, policy)
    }

    /// Reads, parses and validates a config file; built-in defaults when `path` is `None`.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut config = match path {
            None => Config::default(),
            Some(path) => {
                let text = crate::yaml::read_file(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                Config::from_yaml(&text, &path.display().to_string())?
            }
        };
        config.apply(overrides);
        config.validate()?;
        Ok(config)
    }

    /// Parses YAML text (not yet validated); `origin` names it in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let mut config: Config =
            crate::yaml::parse(text).map_err(|message| ConfigError::Parse {
                origin: origin.to_owned(),
                message,
            })?;
        config
            .policies
            .entry(DEFAULT_POLICY.to_owned())
            .or_default();
        config.policies = with_baselines(std::mem::take(&mut config.policies));
        Ok(config)
    }

    /// Applies flag and environment overrides.
    pub fn apply(&mut self, o: &Overrides) {
        if let Some(a) = o.grpc_addr {
            self.server.grpc_addr = a;
        }
        if let Some(a) = o.http_addr {
            self.server.http_addr = a;
        }
        if let Some(l) = &o.log_level {
            self.log.level.clone_from(l);
        }
        if let Some(f) = o.log_format {
            self.log.format = f;
        }
        if let Some(url) = &o.prometheus_url {
            self.prometheus
                .get_or_insert_with(Default::default)
                .url
                .clone_from(url);
        }
        if let Some(url) = &o.nats_url {
            self.nats
                .get_or_insert_with(Default::default)
                .url
                .clone_from(url);
        }
        let apply = &mut self.kubernetes.apply;
        apply.enabled |= o.apply || o.dry_run;
        apply.dry_run |= o.dry_run;
    }

    /// Valid settings that are probably not meant, one sentence each
    /// naming the fields (logged at start-up, printed by `check-config`).
    pub fn warnings(&self) -> Vec<String> {
        self.nats
            .as_ref()
            .map_or_else(Vec::new, |n| n.warnings(&self.policies))
    }

    /// Checks `policy` alone ([`Policy::validate`]) and against the
    /// sources: data read stale between two good polls is no policy.
    pub fn validate_policy(&self, policy: &Policy) -> Result<(), PolicyError> {
        policy.validate()?;
        self.fits_the_sources(policy)
    }

    /// `policy` against the sources (each checked alone first).
    fn fits_the_sources(&self, policy: &Policy) -> Result<(), PolicyError> {
        match &self.prometheus {
            Some(p) if policy.stale_after <= p.interval => Err(PolicyError {
                field: "stale_after".to_owned(),
                message: format!(
                    "is {}, must be longer than prometheus.interval ({}): between two good polls the data would read stale",
                    show_duration(policy.stale_after),
                    show_duration(p.interval)
                ),
            }),
            _ => Ok(()),
        }
    }

    /// Checks every value; the error names the full path of the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.policies.contains_key(&self.default_policy) {
            let known: Vec<&str> = self.policies.keys().map(String::as_str).collect();
            return Err(ConfigError::invalid(
                "default_policy",
                format!(
                    "names policy {:?}, which is not defined (defined: {})",
                    self.default_policy,
                    known.join(", ")
                ),
            ));
        }
        for (name, policy) in &self.policies {
            validate_policy_name(name)?;
            policy.validate().map_err(policy_error(name))?;
        }
        self.server.validate()?;
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(ConfigError::invalid(
                "log.level",
                format!(
                    "{:?} is not a log filter (try info, debug or mcp_autoscaler=debug)",
                    self.log.level
                ),
            ));
        }
        if let Some(p) = &self.prometheus {
            p.validate()?;
        }
        for (name, policy) in &self.policies {
            self.fits_the_sources(policy).map_err(policy_error(name))?;
        }
        if let Some(n) = &self.nats {
            n.validate()?;
        }
        self.kubernetes.validate()?;
        if self.kubernetes.apply.enabled && self.prometheus.is_none() && self.nats.is_none() {
            return Err(ConfigError::invalid(
                "kubernetes.apply.enabled",
                "needs a signal source (prometheus or nats): with none, every server would read as idle and be scaled to zero",
            ));
        }
        Ok(())
    }

    /// This config with URL credentials and header values hidden
    /// ([`crate::redact`]): what `check-config` prints.
    pub fn redacted(&self) -> Config {
        let mut config = self.clone();
        if let Some(p) = &mut config.prometheus {
            p.url = redact_url(&p.url);
            p.headers = redact_headers(&p.headers);
        }
        if let Some(n) = &mut config.nats {
            n.url = redact_url(&n.url);
        }
        config
    }

    /// The config as YAML; print [`Config::redacted`]'s, never this one's.
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

/// Adds the built-in baseline policies that the config does not define itself.
fn with_baselines(mut policies: BTreeMap<String, Policy>) -> BTreeMap<String, Policy> {
    for name in crate::engine::presets::BASELINES {
        if let Some(p) = crate::engine::presets::baseline(name) {
            policies.entry(name.to_owned()).or_insert(p);
        }
    }
    policies
}

/// Policy names appear in metadata and metrics: keep them simple.
/// Checks that `value` lies in `lo..=hi`; the error names `field` and the
/// range.
pub(crate) fn duration_within(
    field: &str,
    value: std::time::Duration,
    (lo, hi): (std::time::Duration, std::time::Duration),
) -> Result<(), ConfigError> {
    if (lo..=hi).contains(&value) {
        return Ok(());
    }
    Err(ConfigError::invalid(
        field,
        format!(
            "is {}, allowed {}..={}",
            show_duration(value),
            show_duration(lo),
            show_duration(hi)
        ),
    ))
}

/// `d` as people write it in the config (`1m 30s`).
pub(crate) fn show_duration(d: std::time::Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// A policy's error as the config's, under `policies.<name>`.
fn policy_error(name: &str) -> impl Fn(PolicyError) -> ConfigError + '_ {
    move |PolicyError { field, message }| {
        ConfigError::invalid(format!("policies.{name}.{field}"), message)
    }
}

/// What a policy name may be.
pub const POLICY_NAME_RULE: &str = "policy names are 1-63 characters of a-z, A-Z, 0-9, '-' and '_'";

/// Whether `name` is a valid policy name ([`POLICY_NAME_RULE`]).
pub fn is_policy_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn validate_policy_name(name: &str) -> Result<(), ConfigError> {
    if is_policy_name(name) {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            format!("policies.{name}"),
            POLICY_NAME_RULE,
        ))
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

#[cfg(test)]
mod proptests;
