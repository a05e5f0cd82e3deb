//! Backfill's telemetry: logs, traces and metrics set up once per process (B5).
//!
//! - [`init`] installs the `tracing` subscriber: a text or JSON log layer on stdout and
//!   an OpenTelemetry layer, plus OTLP trace and metric exporters (gRPC or HTTP) when
//!   an endpoint is configured. The returned [`TelemetryGuard`] flushes them on drop.
//! - [`current_traceparent`] and [`set_parent_from`] carry the W3C trace context
//!   across the queue: the producer writes the `traceparent` into a step's payload,
//!   the worker makes it the parent of the step's span, and one trace shows the
//!   request and every step it caused.
//! - [`metrics`](mod@metrics) defines every instrument (name, unit, attributes) and the typed
//!   methods to record them; [`spans`] names the spans and builds the `step` span.
//!
//! Tokens stay out (B4): metric attribute values come from closed sets by the types of
//! the recording methods, span fields are identifiers, and as a last line of defence
//! every exported span has attributes whose key names a secret redacted ([`REDACTED`]).
//!
//! Without an endpoint, spans are still created with real trace ids (so a trace
//! context still travels producer → worker), nothing is exported, and the global
//! meter is a no-op that costs next to nothing. The pod's identity comes in through
//! the standard `OTEL_RESOURCE_ATTRIBUTES`, the export interval through
//! `OTEL_METRIC_EXPORT_INTERVAL`.

mod config;
pub mod metrics;
mod propagation;
mod redact;
pub mod spans;

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{ExporterBuildError, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};
use tracing_subscriber::filter::{EnvFilter, ParseError, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::{SubscriberInitExt, TryInitError};
use tracing_subscriber::{Layer, Registry};

use crate::redact::RedactingProcessor;

pub use config::{LogFormat, Protocol, TelemetryConfig};
pub use metrics::{Metrics, metrics};
pub use propagation::{current_traceparent, set_parent_from, traceparent_of};
pub use redact::REDACTED;

/// How long an exporter may take to deliver one batch. Short enough that a pod being
/// stopped still flushes within its shutdown grace, long enough for a busy collector.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log filter {filter:?}: {source}")]
    Filter { filter: String, source: ParseError },
    #[error("cannot build the OTLP {signal} exporter for {endpoint}: {source}")]
    Exporter {
        signal: &'static str,
        endpoint: String,
        source: ExporterBuildError,
    },
    #[error("OTLP over gRPC needs a Tokio runtime: call init from inside one")]
    NoRuntime,
    #[error("a global tracing subscriber is already installed: {0}")]
    AlreadyInitialized(#[from] TryInitError),
    #[error("flushing telemetry failed: {0}")]
    Flush(String),
}

/// Keeps the providers alive and flushes them when dropped or shut down.
///
/// Hold it in `main` for the life of the process. With gRPC, drop it (or call
/// [`TelemetryGuard::shutdown`]) while the Tokio runtime still runs, from a
/// multi-threaded runtime: the final export needs the runtime's I/O driver.
#[must_use = "dropping the guard shuts telemetry down at once"]
#[derive(Debug)]
pub struct TelemetryGuard {
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
}

impl TelemetryGuard {
    /// Exports everything buffered now, without shutting down. Tests use it to make
    /// the receiver see what was recorded; services need not call it.
    pub fn flush(&self) -> Result<(), TelemetryError> {
        let traces = self.tracer_provider.as_ref().map(|p| p.force_flush());
        let metrics = self.meter_provider.as_ref().map(|p| p.force_flush());
        for result in [traces, metrics].into_iter().flatten() {
            result.map_err(|error| TelemetryError::Flush(error.to_string()))?;
        }
        Ok(())
    }

    /// Flushes and stops the exporters, reporting the first failure.
    pub fn shutdown(mut self) -> Result<(), TelemetryError> {
        self.shutdown_providers()
    }

    fn shutdown_providers(&mut self) -> Result<(), TelemetryError> {
        // Traces first: their last batch may be what an operator needs to see why the
        // process stopped; metrics are cumulative and lose little.
        let traces = self.tracer_provider.take().map(|p| p.shutdown());
        let metrics = self.meter_provider.take().map(|p| p.shutdown());
        let mut first_error = None;
        for result in [traces, metrics].into_iter().flatten() {
            if let Err(error) = result {
                first_error.get_or_insert(TelemetryError::Flush(error.to_string()));
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(error) = self.shutdown_providers() {
            // The subscriber may be gone by now; stderr is the one place left.
            eprintln!("backfill-telemetry: {error}");
        }
    }
}

/// Installs logging, tracing and metrics for this process. Call once, early in `main`
/// and before the first use of [`metrics()`].
pub fn init(config: &TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    let filter =
        EnvFilter::try_new(&config.log_filter).map_err(|source| TelemetryError::Filter {
            filter: config.log_filter.clone(),
            source,
        })?;

    let resource = Resource::builder()
        .with_service_name(config.service_name.clone())
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();

    let exporters = match config.endpoint() {
        Some(endpoint) => Some(Exporters::build(endpoint, config.protocol)?),
        None => None,
    };

    let mut tracer_builder = SdkTracerProvider::builder().with_resource(resource.clone());
    let mut meter_provider = None;
    if let Some(exporters) = exporters {
        tracer_builder = tracer_builder.with_span_processor(RedactingProcessor::new(
            BatchSpanProcessor::builder(exporters.spans).build(),
        ));
        let provider = SdkMeterProvider::builder()
            .with_resource(resource)
            .with_periodic_exporter(exporters.metrics)
            .build();
        opentelemetry::global::set_meter_provider(provider.clone());
        meter_provider = Some(provider);
    }
    let tracer_provider = tracer_builder.build();
    let tracer = tracer_provider.tracer("backfill");
    opentelemetry::global::set_tracer_provider(tracer_provider.clone());
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    // The exporters' own HTTP/2 and HTTP clients emit spans and events; sending those
    // through the exporter would make every export produce more to export.
    let otel_layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        // A task hops between runtime threads, so a thread id on its span means nothing.
        .with_threads(false)
        .with_filter(filter_fn(|meta| !is_exporter_internal(meta.target())));

    let log_layer = match config.log_format {
        LogFormat::Text => tracing_subscriber::fmt::layer().boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    };

    Registry::default()
        .with(filter)
        .with(log_layer)
        .with(otel_layer)
        .try_init()?;

    if metrics::global_already_created() {
        tracing::warn!(
            "metrics were used before telemetry::init; they stay bound to the no-op meter"
        );
    }

    Ok(TelemetryGuard {
        tracer_provider: Some(tracer_provider),
        meter_provider,
    })
}

fn is_exporter_internal(target: &str) -> bool {
    // Crate prefixes, matched up to `::` or `_` so `opentelemetry_sdk` and `hyper_util`
    // count too. Not `tower`: `tower_http` spans are the API's own.
    const INTERNAL: &[&str] = &["opentelemetry", "tonic", "h2", "hyper", "reqwest"];
    INTERNAL.iter().any(|prefix| {
        target
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::") || rest.starts_with('_'))
    })
}

/// The span and metric exporters for one endpoint and protocol.
struct Exporters {
    spans: opentelemetry_otlp::SpanExporter,
    metrics: opentelemetry_otlp::MetricExporter,
}

impl Exporters {
    fn build(endpoint: &str, protocol: Protocol) -> Result<Self, TelemetryError> {
        let failed = |signal| {
            move |source| TelemetryError::Exporter {
                signal,
                endpoint: endpoint.to_owned(),
                source,
            }
        };
        match protocol {
            Protocol::Grpc => {
                // tonic spawns its connection task on the current runtime; without one
                // it would panic deep inside the exporter instead of failing here.
                if tokio_runtime_missing() {
                    return Err(TelemetryError::NoRuntime);
                }
                Ok(Self {
                    spans: opentelemetry_otlp::SpanExporter::builder()
                        .with_tonic()
                        .with_endpoint(endpoint)
                        .with_timeout(EXPORT_TIMEOUT)
                        .build()
                        .map_err(failed("trace"))?,
                    metrics: opentelemetry_otlp::MetricExporter::builder()
                        .with_tonic()
                        .with_endpoint(endpoint)
                        .with_timeout(EXPORT_TIMEOUT)
                        .build()
                        .map_err(failed("metric"))?,
                })
            }
            Protocol::HttpProtobuf => {
                // A programmatic HTTP endpoint is used verbatim, so the signal paths
                // are ours to add, as OTEL_EXPORTER_OTLP_ENDPOINT would.
                let base = endpoint.trim_end_matches('/');
                Ok(Self {
                    spans: opentelemetry_otlp::SpanExporter::builder()
                        .with_http()
                        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                        .with_endpoint(format!("{base}/v1/traces"))
                        .with_timeout(EXPORT_TIMEOUT)
                        .build()
                        .map_err(failed("trace"))?,
                    metrics: opentelemetry_otlp::MetricExporter::builder()
                        .with_http()
                        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                        .with_endpoint(format!("{base}/v1/metrics"))
                        .with_timeout(EXPORT_TIMEOUT)
                        .build()
                        .map_err(failed("metric"))?,
                })
            }
        }
    }
}

fn tokio_runtime_missing() -> bool {
    tokio::runtime::Handle::try_current().is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exporters_own_clients_are_kept_out_of_traces() {
        for target in [
            "h2::codec",
            "hyper_util::client",
            "tonic",
            "opentelemetry_sdk",
        ] {
            assert!(is_exporter_internal(target), "{target}");
        }
        for target in [
            "backfill_worker::step",
            "tower_http::trace",
            "h2o",
            "hyperloop",
        ] {
            assert!(!is_exporter_internal(target), "{target}");
        }
    }
}
