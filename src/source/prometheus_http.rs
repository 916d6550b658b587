//! The real [`Querier`]: Prometheus' HTTP API through prometheus-http-query,
//! with credentials read fresh on every query and never shown.

use super::{PrometheusError, Querier, Series};
use crate::config::{PrometheusAuth, PrometheusConfig};
use crate::time::Timestamp;
use futures::future::BoxFuture;
use std::time::Duration;

/// The real [`Querier`]: Prometheus' HTTP API through prometheus-http-query.
pub struct HttpQuerier {
    client: prometheus_http_query::Client,
    timeout: Duration,
    auth: Option<PrometheusAuth>,
}

impl HttpQuerier {
    /// Builds the HTTP client (headers, CA, TLS verification) for `config`.
    pub fn new(config: &PrometheusConfig) -> Result<Self, PrometheusError> {
        let setup = |e: &dyn std::fmt::Display| PrometheusError::Setup(e.to_string());
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &config.headers {
            let name =
                reqwest::header::HeaderName::try_from(name.as_str()).map_err(|e| setup(&e))?;
            let mut value =
                reqwest::header::HeaderValue::try_from(value.as_str()).map_err(|e| setup(&e))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(config.timeout);
        if let Some(ca) = &config.tls.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| setup(&format!("prometheus.tls.ca_file {}: {e}", ca.display())))?;
            builder = builder
                .add_root_certificate(reqwest::Certificate::from_pem(&pem).map_err(|e| setup(&e))?);
        }
        if config.tls.insecure_skip_verify {
            tracing::warn!(
                "prometheus.tls.insecure_skip_verify is on: the server certificate is not checked"
            );
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder.build().map_err(|e| setup(&e))?;
        let client =
            prometheus_http_query::Client::from(http, &config.url).map_err(|e| setup(&e))?;
        let querier = Self {
            client,
            timeout: config.timeout,
            auth: config.auth.clone(),
        };
        querier.authorization()?;
        Ok(querier)
    }

    /// The Authorization header, read fresh each time so rotated tokens work.
    pub(super) fn authorization(
        &self,
    ) -> Result<Option<reqwest::header::HeaderValue>, PrometheusError> {
        use base64::Engine;
        let text = match &self.auth {
            None => return Ok(None),
            Some(PrometheusAuth::Bearer {
                token_file,
                token_env,
            }) => {
                format!(
                    "Bearer {}",
                    read_secret(token_file.as_deref(), token_env.as_deref())?
                )
            }
            Some(PrometheusAuth::Basic {
                username,
                password_file,
                password_env,
            }) => {
                let password = read_secret(password_file.as_deref(), password_env.as_deref())?;
                let encoded = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                format!("Basic {encoded}")
            }
        };
        let mut value = reqwest::header::HeaderValue::try_from(text).map_err(|_| {
            PrometheusError::Credentials("the secret is not a valid header value".into())
        })?;
        value.set_sensitive(true);
        Ok(Some(value))
    }
}

/// Reads a secret from a file or an environment variable, trimmed. The
/// error names where it looked, never the secret.
pub(super) fn read_secret(
    file: Option<&std::path::Path>,
    env: Option<&str>,
) -> Result<String, PrometheusError> {
    let secret = match (file, env) {
        (Some(path), _) => std::fs::read_to_string(path).map_err(|e| {
            PrometheusError::Credentials(format!("cannot read {}: {e}", path.display()))
        })?,
        (None, Some(var)) => std::env::var(var).map_err(|_| {
            PrometheusError::Credentials(format!("environment variable {var} is not set"))
        })?,
        (None, None) => {
            return Err(PrometheusError::Credentials(
                "no secret source configured".into(),
            ));
        }
    };
    Ok(secret.trim().to_owned())
}

impl Querier for HttpQuerier {
    fn instant(
        &self,
        promql: String,
        at: Option<Timestamp>,
    ) -> BoxFuture<'_, Result<Vec<Series>, PrometheusError>> {
        Box::pin(self.query(promql, at))
    }
}

impl HttpQuerier {
    /// An instant query, now or as of `at` (whole seconds).
    async fn query(
        &self,
        promql: String,
        at: Option<Timestamp>,
    ) -> Result<Vec<Series>, PrometheusError> {
        let millis = i64::try_from(self.timeout.as_millis()).unwrap_or(i64::MAX);
        let mut query = self.client.query(promql).timeout(millis);
        if let Some(at) = at {
            query = query.at(i64::try_from(at.as_millis() / 1_000).unwrap_or(i64::MAX));
        }
        if let Some(auth) = self.authorization()? {
            query = query.header(reqwest::header::AUTHORIZATION, auth);
        }
        let result = query.get().await.map_err(|e| {
            PrometheusError::Query(crate::redact::redact_url(&crate::errors::with_causes(&e)))
        })?;
        match result.into_inner().0 {
            prometheus_http_query::response::Data::Vector(v) => Ok(v
                .into_iter()
                .map(|iv| {
                    let (labels, sample) = iv.into_inner();
                    Series {
                        labels,
                        value: sample.value(),
                        at: seconds_to_timestamp(sample.timestamp()),
                    }
                })
                .collect()),
            prometheus_http_query::response::Data::Matrix(_) => {
                Err(PrometheusError::NotAVector("a range vector"))
            }
            prometheus_http_query::response::Data::Scalar(_) => {
                Err(PrometheusError::NotAVector("a scalar"))
            }
        }
    }
}

fn seconds_to_timestamp(secs: f64) -> Timestamp {
    if secs.is_finite() && secs > 0.0 {
        Timestamp::from_millis((secs * 1000.0) as u64)
    } else {
        Timestamp::default()
    }
}
