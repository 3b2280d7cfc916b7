//! The wiring from vigil's `metrics` exporter to OpenTelemetry, shared by the example and its test.
//!
//! ```text
//! Registry::metrics() ──vigil::export::metrics::publish──> `metrics` facade
//!   ──> metrics_opentelemetry::OpenTelemetryRecorder ──> OpenTelemetry meter "vigil"
//!   ──> SdkMeterProvider ──PeriodicReader──> OTLP/HTTP exporter (or the SDK's in-memory one)
//! ```
//!
//! [`meter_provider`] builds the SDK side around any push exporter, [`install`] makes the
//! bridge the process's `metrics` recorder, [`publish_every`] feeds it vigil's snapshots.
//! `main` adds the OTLP exporter ([`otlp_exporter`]); the test (`tests/otlp.rs`) the SDK's
//! `InMemoryMetricExporter`, so what it reads back is what OTLP would carry.
//!
//! # What maps to what
//!
//! - vigil's counters (set with `Counter::absolute` to the registry's lifetime value) become
//!   OpenTelemetry monotonic **sums** (`u64`): the bridge keeps one handle per series and
//!   adds the difference from the last value it saw, so with cumulative temporality (OTLP's
//!   default) the exported value *is* vigil's figure, however often it is published.
//! - vigil's gauges become OpenTelemetry **gauges** (`f64`), last value wins.
//! - vigil's poll-duration histograms are published as counters in Prometheus' layout, and
//!   stay so: one sum per bucket with the attribute `le`, plus `_count` and `_sum` sums
//!   (not an OpenTelemetry histogram: vigil holds bucket counts, not samples).
//! - `metrics` labels become data point attributes (`service`, `outcome`, `le`,
//!   `instance_id`, `runtime`, `worker`); [`vigil::export::metrics::describe`]'s units and
//!   descriptions become the instruments' (`ns`, `s`, `1`).
//!
//! See docs/otel.md for the commands and the caveats.

use std::sync::Arc;
use std::time::Duration;

use metrics_opentelemetry::{OpenTelemetryMetrics, OpenTelemetryRecorder};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_otlp::{ExporterBuildError, MetricExporter};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::Resource;
use vigil::{Clock, MonitorFactory, Registry};

/// The name of the OpenTelemetry meter (the instrumentation scope) vigil's series come from.
pub const METER_NAME: &str = "vigil";

/// A meter provider that hands whatever is recorded to `exporter` every `export_interval`,
/// and at [`SdkMeterProvider::force_flush`] and [`SdkMeterProvider::shutdown`].
///
/// `resource` describes the process (`Resource::builder().build()` reads `OTEL_SERVICE_NAME`
/// and `OTEL_RESOURCE_ATTRIBUTES`). With `export_interval` `None` the SDK decides:
/// `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds), else 60 s.
pub fn meter_provider<E: PushMetricExporter>(
    exporter: E,
    resource: Resource,
    export_interval: Option<Duration>,
) -> SdkMeterProvider {
    let mut reader = PeriodicReader::builder(exporter);
    if let Some(interval) = export_interval {
        reader = reader.with_interval(interval);
    }
    SdkMeterProvider::builder()
        .with_resource(resource)
        .with_reader(reader.build())
        .build()
}

/// The bridge: a `metrics` recorder writing into the meter [`METER_NAME`] of `provider`.
///
/// It keeps one instrument per name and one handle per series (name and labels), which
/// `Counter::absolute` needs to turn vigil's lifetime values into increments.
pub fn recorder(provider: &SdkMeterProvider) -> OpenTelemetryRecorder {
    OpenTelemetryRecorder::new(OpenTelemetryMetrics::new(provider.meter(METER_NAME)))
}

/// Makes [`recorder`]`(provider)` the process's `metrics` recorder, then registers vigil's
/// units and descriptions with it ([`vigil::export::metrics::describe`]).
///
/// Describing comes before the first publish on purpose: the bridge reads a series'
/// description and unit when it creates the OpenTelemetry instrument, at the first
/// `counter!`/`gauge!` of that name, and never again.
///
/// # Errors
///
/// If a `metrics` recorder is already installed in this process (the error, boxed for its
/// size, holds the recorder that was not installed).
pub fn install(
    provider: &SdkMeterProvider,
) -> Result<(), Box<metrics::SetRecorderError<OpenTelemetryRecorder>>> {
    metrics::set_global_recorder(recorder(provider))?;
    vigil::export::metrics::describe();
    Ok(())
}

/// The OTLP exporter `main` uses: HTTP with protobuf bodies, configured by the standard
/// environment variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, default `http://localhost:4318`,
/// to which `/v1/metrics` is appended; `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`, used as is;
/// `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`). Cumulative temporality.
///
/// # Errors
///
/// If the configuration is invalid (an endpoint that is not a URL, for example).
pub fn otlp_exporter() -> Result<MetricExporter, ExporterBuildError> {
    MetricExporter::builder().with_http().build()
}

/// Publishes a snapshot of `registry` through the `metrics` recorder in scope every
/// `period`, the first one at once; never returns.
///
/// # Cancel safety
///
/// Cancel safe: dropping it between two publishes loses nothing (each snapshot carries the
/// lifetime figures).
pub async fn publish_every<F: MonitorFactory<C>, C: Clock>(
    registry: Arc<Registry<F, C>>,
    period: Duration,
) {
    let mut every = tokio::time::interval(period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        vigil::export::metrics::publish(&registry.metrics());
    }
}
