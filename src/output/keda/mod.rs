//! The KEDA `ExternalScaler` gRPC service.
//!
//! Every handler resolves the ScaledObject's metadata, asks the store for a
//! decision (the pure engine over the stored signals, no I/O) and answers.
//! `GetMetricSpec` answers from config and metadata alone, whatever the data
//! sources are doing (KEDA skips `fallback` when it fails); `IsActive` and
//! `GetMetrics` fail with `UNAVAILABLE` when the data cannot be trusted. `StreamIsActive`
//! sends the current state when it opens, then `true` only on an
//! inactive→active transition, woken by the store's per-server notifier.
//! The two streaming RPCs share `server.max_streams` slots: one more stream
//! is refused with `RESOURCE_EXHAUSTED`; unary calls are never limited.

mod stream;
pub mod targets;

use crate::config::Config;
use crate::engine::{DataQuality, Decision, Metric, MetricMode};
use crate::metadata::Target;
use crate::output::metrics::Metrics;
use crate::proto::external_scaler_server::ExternalScaler;
use crate::proto::{
    GetMetricSpecResponse, GetMetricsRequest, GetMetricsResponse, IsActiveResponse, MetricSpec,
    MetricValue, ScaledObjectRef,
};
use crate::source::Store;
use crate::time::Clock;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

/// Metric name in "desired" mode: its value is the desired replica count.
pub const DESIRED_METRIC: &str = "mcp-desired-replicas";

/// Metric name of one signal in "native" mode.
pub fn native_metric_name(metric: Metric) -> &'static str {
    metric.spec().keda_name
}

/// What every handler needs, shared.
#[derive(Clone)]
pub struct Scaler {
    pub(crate) store: Arc<Store>,
    pub(crate) config: Arc<Config>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) shutdown: CancellationToken,
    /// One permit per stream that may still open (`server.max_streams`).
    streams: Arc<Semaphore>,
    /// Resolved ScaledObjects.
    targets: Arc<targets::Targets>,
}

/// A stream's share of `server.max_streams`, held for as long as the stream
/// is open.
pub(crate) type StreamSlot = OwnedSemaphorePermit;

impl Scaler {
    /// A service over `store`, answering with `config`'s policies and
    /// holding at most `config.server.max_streams` streams open.
    pub fn new(
        store: Arc<Store>,
        config: Arc<Config>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> Self {
        let streams = Arc::new(Semaphore::new(config.server.max_streams));
        // Every stream's ScaledObject, and as many again polled only.
        let targets = Arc::new(targets::Targets::new(config.server.max_streams * 2));
        Self {
            store,
            config,
            clock,
            metrics,
            shutdown,
            streams,
            targets,
        }
    }

    /// The ScaledObjects this service has resolved (shared with the fleet
    /// listing, which shows the servers KEDA asks about).
    pub fn targets(&self) -> Arc<targets::Targets> {
        self.targets.clone()
    }

    /// A slot for one more open stream, or `RESOURCE_EXHAUSTED` when all
    /// `server.max_streams` are taken.
    fn stream_slot(&self) -> Result<StreamSlot, Status> {
        self.streams.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "all {} stream slots are taken: that many StreamIsActive and StreamMetricSpec streams are open (the limit is server.max_streams); close some or raise server.max_streams",
                self.config.server.max_streams
            ))
        })
    }

    fn target(&self, so: Option<&ScaledObjectRef>) -> Result<Arc<Target>, Status> {
        let so = so.ok_or_else(|| Status::invalid_argument("scaledObjectRef is missing"))?;
        self.targets
            .resolve(so, &self.config, self.clock.now())
            .map_err(|e| Status::invalid_argument(e.to_string()))
    }

    fn decide(&self, target: &Target) -> Decision {
        self.store
            .decide(&target.server, &target.policy, self.clock.now())
    }

    fn finish<T>(
        &self,
        method: &'static str,
        result: Result<T, Status>,
    ) -> Result<Response<T>, Status> {
        let code = result
            .as_ref()
            .map_or_else(Status::code, |_| tonic::Code::Ok);
        self.metrics.count_call(method, code);
        if let Err(status) = &result {
            tracing::debug!(method, code = ?status.code(), message = status.message(), "call refused");
        }
        result.map(Response::new)
    }
}

/// One spec per metric the target's mode serves.
#[allow(deprecated)] // KEDA reads the int64 field when the float is 0: fill both.
fn metric_specs(target: &Target) -> Vec<MetricSpec> {
    let spec = |name: String, target: f64| MetricSpec {
        metric_name: name,
        target_size: whole(target).max(1),
        target_size_float: target,
    };
    match target.policy.metric_mode {
        MetricMode::Desired => vec![spec(DESIRED_METRIC.to_owned(), 1.0)],
        MetricMode::Native => Metric::ALL
            .iter()
            .filter_map(|&m| {
                let t = target.policy.targets.get(m)?;
                Some(spec(native_metric_name(m).to_owned(), t))
            })
            .collect(),
    }
}

/// The value of `name` in `decision`, if this target serves it. In native
/// mode on stale data the signals read nothing (they are not trusted), so
/// each metric answers the held decision instead: `desired` times its
/// per-replica target, which the HPA turns back into `desired` (never
/// below the last good answer, as in desired mode).
fn metric_value(target: &Target, decision: &Decision, name: &str) -> Option<f64> {
    match target.policy.metric_mode {
        MetricMode::Desired => (name == DESIRED_METRIC).then_some(f64::from(decision.desired)),
        // A held answer (stale data, or the hold after a blind stretch)
        // answers the held count in each metric, never the untrusted
        // signals.
        MetricMode::Native if decision.is_held() => {
            let metric = Metric::ALL
                .iter()
                .find(|&&m| native_metric_name(m) == name)?;
            let per_replica = target.policy.targets.get(*metric)?;
            Some(f64::from(decision.desired) * per_replica)
        }
        MetricMode::Native => decision
            .contributions
            .iter()
            .find(|c| native_metric_name(c.metric) == name)
            .map(|c| c.value),
    }
}

/// The deprecated int64 field: rounded up, so it never under-asks.
fn whole(v: f64) -> i64 {
    if v.is_finite() && v > 0.0 {
        v.ceil().min(i64::MAX as f64) as i64
    } else {
        0
    }
}

/// `UNAVAILABLE` when the data behind `decision` cannot be trusted at all:
/// KEDA's `fallback` then applies, instead of a guess.
fn unavailable(target: &Target, decision: &Decision) -> Result<(), Status> {
    let DataQuality::Unavailable { age_ms, cause } = decision.data else {
        return Ok(());
    };
    let age = match age_ms {
        None => "there has been no good data yet".to_owned(),
        Some(ms) => format!("the last good data is {}s old", ms / 1000),
    };
    Err(Status::unavailable(format!(
        "no trustworthy data for server {}: {}; {age}. KEDA's fallback applies (unavailableAfter sets how long the last good answer holds)",
        target.server,
        cause.describe()
    )))
}

#[tonic::async_trait]
impl ExternalScaler for Scaler {
    async fn is_active(
        &self,
        req: Request<ScaledObjectRef>,
    ) -> Result<Response<IsActiveResponse>, Status> {
        let result = self.target(Some(req.get_ref())).and_then(|t| {
            let decision = self.decide(&t);
            unavailable(&t, &decision)?;
            Ok(IsActiveResponse {
                result: decision.active,
            })
        });
        self.finish("IsActive", result)
    }

    type StreamIsActiveStream = stream::ActivityStream;

    async fn stream_is_active(
        &self,
        req: Request<ScaledObjectRef>,
    ) -> Result<Response<Self::StreamIsActiveStream>, Status> {
        let result = self
            .target(Some(req.get_ref()))
            .and_then(|t| stream::open(self.clone(), t, self.stream_slot()?));
        self.finish("StreamIsActive", result)
    }

    async fn get_metric_spec(
        &self,
        req: Request<ScaledObjectRef>,
    ) -> Result<Response<GetMetricSpecResponse>, Status> {
        let result = self
            .target(Some(req.get_ref()))
            .map(|t| GetMetricSpecResponse {
                metric_specs: metric_specs(&t),
            });
        self.finish("GetMetricSpec", result)
    }

    async fn get_metrics(
        &self,
        req: Request<GetMetricsRequest>,
    ) -> Result<Response<GetMetricsResponse>, Status> {
        let req = req.get_ref();
        let result = self.target(req.scaled_object_ref.as_ref()).and_then(|t| {
            let decision = self.decide(&t);
            unavailable(&t, &decision)?;
            let value = metric_value(&t, &decision, &req.metric_name).ok_or_else(|| {
                let names: Vec<String> = metric_specs(&t).into_iter().map(|s| s.metric_name).collect();
                Status::invalid_argument(format!(
                    "unknown metricName {:?}; this ScaledObject serves: {}",
                    req.metric_name.chars().take(100).collect::<String>(),
                    names.join(", ")
                ))
            })?;
            #[allow(deprecated)] // fill both fields, as KEDA.md asks
            let value = MetricValue {
                metric_name: req.metric_name.clone(),
                metric_value: whole(value),
                metric_value_float: value,
            };
            tracing::trace!(server = %t.server, desired = decision.desired, reason = ?decision.reason, "GetMetrics");
            Ok(GetMetricsResponse { metric_values: vec![value] })
        });
        self.finish("GetMetrics", result)
    }

    type StreamMetricSpecStream = stream::SpecStream;

    async fn stream_metric_spec(
        &self,
        req: Request<ScaledObjectRef>,
    ) -> Result<Response<Self::StreamMetricSpecStream>, Status> {
        let result = self.target(Some(req.get_ref())).and_then(|t| {
            Ok(stream::specs(
                GetMetricSpecResponse {
                    metric_specs: metric_specs(&t),
                },
                self.shutdown.clone(),
                self.stream_slot()?,
            ))
        });
        self.finish("StreamMetricSpec", result)
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
