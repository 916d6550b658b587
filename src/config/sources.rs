//! Config of the signal sources: Prometheus (polled) and NATS (pushed).

use super::queries::Queries;
use super::{ConfigError, duration_within, show_duration};
use crate::engine::Policy;
use crate::signal::RETENTION;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Longest `prometheus.interval` (1 hour); `timeout` is at most the interval.
pub const MAX_POLL_INTERVAL: Duration = Duration::from_secs(3600);

/// Longest `nats.jetstream.max_age` (7 days); `replay_window` is at most
/// `max_age`.
pub const MAX_STREAM_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Where and how to poll Prometheus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusConfig {
    /// Base URL of the Prometheus HTTP API, e.g. `http://prometheus:9090`.
    pub url: String,
    /// How often the whole fleet is polled (1s..=[`MAX_POLL_INTERVAL`]).
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Timeout of each query (above 0, at most `interval`).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// On start-up, the polls of this much recent history are re-run as of
    /// their times (0 to [`RETENTION`]; `0s` turns it off), so a scaler
    /// that just started decides from the history an older one holds.
    #[serde(with = "humantime_serde")]
    pub backfill: Duration,
    /// The label that names the MCP server in every series.
    pub server_label: String,
    /// The label that names the server's namespace in every series
    /// (`namespace`, which Prometheus' Kubernetes discovery sets).
    pub namespace_label: String,
    /// One grouped PromQL query per signal.
    pub queries: Queries,
    /// Bearer or basic auth.
    pub auth: Option<PrometheusAuth>,
    /// TLS options for an `https://` URL.
    pub tls: PrometheusTls,
    /// Extra HTTP headers on every query (e.g. `X-Scope-OrgID`).
    pub headers: BTreeMap<String, String>,
}

impl Default for PrometheusConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:9090".to_owned(),
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(5),
            backfill: RETENTION,
            server_label: "server".to_owned(),
            namespace_label: "namespace".to_owned(),
            queries: Queries::default(),
            auth: None,
            tls: PrometheusTls::default(),
            headers: BTreeMap::new(),
        }
    }
}

/// Prometheus credentials. Secrets come from files or environment
/// variables, never inline, and are never logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum PrometheusAuth {
    /// `Authorization: Bearer …` read from a file or an environment variable.
    Bearer {
        /// File holding the token (e.g. a projected service-account token).
        #[serde(default)]
        token_file: Option<PathBuf>,
        /// Environment variable holding the token.
        #[serde(default)]
        token_env: Option<String>,
    },
    /// HTTP basic auth.
    Basic {
        /// User name.
        username: String,
        /// File holding the password.
        #[serde(default)]
        password_file: Option<PathBuf>,
        /// Environment variable holding the password.
        #[serde(default)]
        password_env: Option<String>,
    },
}

/// TLS for Prometheus.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusTls {
    /// Extra PEM CA bundle to trust.
    pub ca_file: Option<PathBuf>,
    /// Skip certificate verification (test clusters only).
    pub insecure_skip_verify: bool,
}

impl PrometheusConfig {
    /// `template` with `{by}`, `{label}` and `{namespace_label}` filled in
    /// with this config's labels.
    pub fn fill(&self, template: &str) -> String {
        super::queries::fill(template, &self.namespace_label, &self.server_label)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(ConfigError::invalid(
                "prometheus.url",
                format!(
                    "{:?} must start with http:// or https://",
                    crate::redact::redact_url(&self.url)
                ),
            ));
        }
        check_url("prometheus.url", &self.url, reqwest::Url::parse(&self.url))?;
        duration_within(
            "prometheus.interval",
            self.interval,
            (Duration::from_secs(1), MAX_POLL_INTERVAL),
        )?;
        if self.timeout.is_zero() || self.timeout > self.interval {
            return Err(ConfigError::invalid(
                "prometheus.timeout",
                "must be above 0 and at most prometheus.interval",
            ));
        }
        // At most the history kept.
        duration_within(
            "prometheus.backfill",
            self.backfill,
            (Duration::ZERO, RETENTION),
        )?;
        for (field, label) in [
            ("prometheus.server_label", &self.server_label),
            ("prometheus.namespace_label", &self.namespace_label),
        ] {
            if !is_label_name(label) {
                return Err(ConfigError::invalid(
                    field,
                    format!("{label:?} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)"),
                ));
            }
        }
        if self.server_label == self.namespace_label {
            return Err(ConfigError::invalid(
                "prometheus.namespace_label",
                "must differ from prometheus.server_label",
            ));
        }
        self.queries.validate()?;
        for (name, value) in &self.headers {
            if http::HeaderName::try_from(name.as_str()).is_err()
                || http::HeaderValue::try_from(value.as_str()).is_err()
            {
                return Err(ConfigError::invalid(
                    format!("prometheus.headers.{name}"),
                    "is not a valid HTTP header",
                ));
            }
        }
        self.validate_auth()
    }

    fn validate_auth(&self) -> Result<(), ConfigError> {
        let (file, env, field, env_field) = match &self.auth {
            None => return Ok(()),
            Some(PrometheusAuth::Bearer {
                token_file,
                token_env,
            }) => (
                token_file,
                token_env,
                "prometheus.auth.bearer",
                "prometheus.auth.bearer.token_env",
            ),
            Some(PrometheusAuth::Basic {
                password_file,
                password_env,
                ..
            }) => (
                password_file,
                password_env,
                "prometheus.auth.basic",
                "prometheus.auth.basic.password_env",
            ),
        };
        if file.is_some() == env.is_some() {
            return Err(ConfigError::invalid(
                field,
                "set exactly one of the *_file and *_env fields",
            ));
        }
        env.as_deref()
            .map_or(Ok(()), |var| super::check_env_name(env_field, var))
    }
}

/// A Prometheus label name.
pub(crate) fn is_label_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Where and how to receive activity events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    /// Server URL(s), comma separated: `nats://nats:4222`.
    pub url: String,
    /// Subjects are `<prefix>.<namespace>.<server>`.
    pub subject_prefix: String,
    /// Read from a JetStream stream instead of core NATS (replay on restart).
    pub jetstream: Option<JetStreamConfig>,
    /// Credentials.
    pub auth: Option<NatsAuth>,
    /// PEM CA bundle to trust (turns on TLS).
    pub tls_ca_file: Option<PathBuf>,
    /// Client certificate and key for mutual TLS.
    pub tls_cert_file: Option<PathBuf>,
    /// Key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// A session or connection no event has named for this long is
    /// forgotten (its close was lost); 1 minute to 7 days.
    #[serde(with = "humantime_serde")]
    pub session_forget_after: Duration,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".to_owned(),
            subject_prefix: "mcp.activity".to_owned(),
            jetstream: None,
            auth: None,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            session_forget_after: crate::source::sessions::FORGET_AFTER,
        }
    }
}

/// JetStream consumption.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JetStreamConfig {
    /// Stream name.
    pub stream: String,
    /// Create the stream (subjects `<prefix>.>`) if it does not exist.
    pub create: bool,
    /// How far back to replay on start-up (at most `max_age`).
    #[serde(with = "humantime_serde")]
    pub replay_window: Duration,
    /// How long the stream keeps events when we create it
    /// (1m..=[`MAX_STREAM_AGE`]).
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
}

impl Default for JetStreamConfig {
    fn default() -> Self {
        Self {
            stream: "MCP_ACTIVITY".to_owned(),
            create: true,
            replay_window: Duration::from_secs(600),
            max_age: Duration::from_secs(3600),
        }
    }
}

/// NATS credentials; secrets from files or environment variables only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum NatsAuth {
    /// A `.creds` file (JWT + nkey seed).
    CredentialsFile(PathBuf),
    /// A file holding an nkey seed.
    NkeySeedFile(PathBuf),
    /// User and password (password from an environment variable).
    UserPassword {
        /// User name.
        user: String,
        /// Environment variable holding the password.
        password_env: String,
    },
    /// Environment variable holding a token.
    TokenEnv(String),
}

impl NatsConfig {
    /// The servers of `url`, a comma-separated list (a cluster's members:
    /// the client connects to one and fails over to the others). Every
    /// comma separates: one in a password must be percent-encoded (`%2C`).
    pub fn urls(&self) -> Vec<&str> {
        self.url.split(',').map(str::trim).collect()
    }

    /// Parses each member as the client will: a host, and `nats://` or
    /// `tls://` (this build speaks no websocket).
    fn check_members(&self) -> Result<(), ConfigError> {
        for url in self.urls() {
            let parsed = url.parse::<async_nats::ServerAddr>().and_then(|addr| {
                let bad = |why: &str| Err(std::io::Error::other(why.to_owned()));
                match addr.scheme() {
                    "ws" | "wss" => {
                        bad("ws:// and wss:// are not supported: use nats:// or tls://")
                    }
                    _ if addr.host().is_empty() => bad("no host"),
                    _ => Ok(addr),
                }
            });
            // The whole list redacted: a piece alone may hold part of a secret.
            check_url("nats.url", &self.url, parsed)?;
        }
        Ok(())
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.url.trim().is_empty() {
            return Err(ConfigError::invalid("nats.url", "must not be empty"));
        }
        self.check_members()?;
        match &self.auth {
            Some(NatsAuth::UserPassword { password_env, .. }) => {
                super::check_env_name("nats.auth.user_password.password_env", password_env)?;
            }
            Some(NatsAuth::TokenEnv(var)) => super::check_env_name("nats.auth.token_env", var)?,
            _ => {}
        }
        let prefix_ok = !self.subject_prefix.is_empty()
            && self.subject_prefix.split('.').all(|t| {
                !t.is_empty()
                    && t.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !prefix_ok {
            return Err(ConfigError::invalid(
                "nats.subject_prefix",
                format!(
                    "{:?} must be dot-separated tokens of a-z, A-Z, 0-9, '-' and '_' (no wildcards)",
                    self.subject_prefix
                ),
            ));
        }
        duration_within(
            "nats.session_forget_after",
            self.session_forget_after,
            (Duration::from_secs(60), MAX_STREAM_AGE),
        )?;
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return Err(ConfigError::invalid(
                "nats.tls_cert_file",
                "tls_cert_file and tls_key_file go together",
            ));
        }
        if let Some(js) = &self.jetstream {
            let ok = !js.stream.is_empty()
                && js
                    .stream
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(ConfigError::invalid(
                    "nats.jetstream.stream",
                    "must be 1+ characters of a-z, A-Z, 0-9, '-' and '_'",
                ));
            }
            duration_within(
                "nats.jetstream.max_age",
                js.max_age,
                (Duration::from_secs(60), MAX_STREAM_AGE),
            )?;
            if js.replay_window > js.max_age {
                return Err(ConfigError::invalid(
                    "nats.jetstream.replay_window",
                    "must not exceed nats.jetstream.max_age",
                ));
            }
        }
        Ok(())
    }

    /// Settings that are valid but probably not meant: a session forgotten
    /// sooner than a policy stops trusting event counts (its
    /// `event_count_ttl`) stops counting as live work while that policy
    /// would still hold it, so a quiet live stream may be scaled away. One
    /// sentence naming every such policy.
    pub fn warnings<'a>(
        &self,
        policies: impl IntoIterator<Item = (&'a String, &'a Policy)>,
    ) -> Vec<String> {
        let longer: Vec<(&String, Duration)> = policies
            .into_iter()
            .map(|(name, p)| (name, p.event_count_ttl))
            .filter(|(_, ttl)| *ttl > self.session_forget_after)
            .collect();
        let Some(longest) = longer.iter().map(|(_, ttl)| *ttl).max() else {
            return Vec::new();
        };
        let named: Vec<String> = longer
            .iter()
            .map(|(name, ttl)| format!("{name} ({})", show_duration(*ttl)))
            .collect();
        vec![format!(
            "nats.session_forget_after ({}) is shorter than the event_count_ttl of policies {}: \
             a session or stream silent for longer is forgotten, and stops keeping its server \
             active, while those policies would still count it; set it to at least {}",
            show_duration(self.session_forget_after),
            named.join(", "),
            show_duration(longest),
        )]
    }
}

/// `url` parsed as its client will parse it (`parsed`), or an error naming
/// `field`, the URL with its secrets hidden, and why.
fn check_url<T, E: std::fmt::Display>(
    field: &str,
    url: &str,
    parsed: Result<T, E>,
) -> Result<(), ConfigError> {
    if crate::redact::at_after_query(url) {
        // The parsers take `u:p#x@h` as host `u` and a fragment: a password
        // with an unescaped `?` or `#` would reach the wrong host.
        return Err(ConfigError::invalid(
            field,
            format!(
                "{:?} has an @ after a ? or #: percent-encode any ? or # in a user name \
                 or password (and an @ in a query)",
                crate::redact::redact_url(url)
            ),
        ));
    }
    parsed.map(|_| ()).map_err(|e| {
        ConfigError::invalid(
            field,
            format!(
                "{:?} is not a usable URL: {e} (percent-encode any @ : / ? # , in \
                 a user name or password)",
                crate::redact::redact_url(url)
            ),
        )
    })
}
