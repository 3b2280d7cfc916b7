//! Encoding snapshots with `prometheus_client`: families, labels, the bucket-count histogram.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabel, EncodeLabelSet, EncodeMetric, LabelSetEncoder, MetricEncoder,
    NoLabelSet,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;
use vigil_monitor::{Clock, DefaultClock, PollHistogram, HISTOGRAM_BUCKETS};

use super::Format;
use crate::{MonitorFactory, Registry, ServiceId, ServiceMetrics, ServicesMetrics};

/// Encodes every live instance of `snapshot` as `format` text.
///
/// See the [module docs](super) for the metrics. The text is complete: in
/// [`Format::OpenMetrics`] it ends with `# EOF`.
pub fn encode(snapshot: &ServicesMetrics, format: Format) -> String {
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(snapshot.clone())));
    let mut text = String::new();
    let result = match format {
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut text, &registry),
        Format::Prometheus => {
            prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
        }
    };
    // Writing to a `String` cannot fail, and the families only fail when the writer does.
    result.expect("encoding into a String cannot fail");
    text
}

/// A [`Collector`] that snapshots a vigil [`Registry`] at every scrape: adds vigil's metrics
/// to a `prometheus_client` registry that you already serve.
///
/// ```
/// use std::sync::Arc;
/// use vigil::export::prometheus::RegistryCollector;
/// use vigil::prelude::*;
///
/// let services = Arc::new(Registry::new());
/// let mut metrics = prometheus_client::registry::Registry::default();
/// metrics.register_collector(Box::new(RegistryCollector::new(Arc::clone(&services))));
///
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let _consumer = services.start_in(runtime.handle(), ServiceObj::new("consumer", async {}));
///
/// let mut text = String::new();
/// prometheus_client::encoding::text::encode(&mut text, &metrics).unwrap();
/// assert!(text.contains("vigil_service_instances{service=\"consumer\"} 1\n"));
/// ```
pub struct RegistryCollector<F = (), C = DefaultClock>
where
    F: MonitorFactory<C>,
    C: Clock,
{
    registry: Arc<Registry<F, C>>,
}

impl<F: MonitorFactory<C>, C: Clock> RegistryCollector<F, C> {
    /// A collector reading `registry`.
    pub fn new(registry: Arc<Registry<F, C>>) -> Self {
        Self { registry }
    }
}

impl<F: MonitorFactory<C>, C: Clock> fmt::Debug for RegistryCollector<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryCollector")
            .field("registry", &self.registry)
            .finish()
    }
}

impl<F: MonitorFactory<C>, C: Clock> Collector for RegistryCollector<F, C> {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        encode_families(&self.registry.metrics(), &mut encoder)
    }
}

/// A [`Collector`] for one snapshot: what [`encode`] registers.
#[derive(Debug)]
struct SnapshotCollector(ServicesMetrics);

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        encode_families(&self.0, &mut encoder)
    }
}

/// Writes every metric family of `snapshot`, family by family.
fn encode_families(snapshot: &ServicesMetrics, encoder: &mut DescriptorEncoder<'_>) -> fmt::Result {
    encode_instances(snapshot, encoder)?;

    let seconds = || Some(Unit::Seconds);
    let counter = |value: u64| ConstCounter::new(value);
    let counter_seconds = |value: Duration| ConstCounter::new(value.as_secs_f64());
    let gauge_seconds = |value: Duration| ConstGauge::new(value.as_secs_f64());

    // The default monitor: always present.
    family(
        snapshot,
        encoder,
        "vigil_service_polls",
        "Completed polls of the service instance.",
        None,
        |m| Some(counter(m.poll_count)),
    )?;
    family(
        snapshot,
        encoder,
        "vigil_service_busy",
        "Time spent inside poll since the instance started, including a poll in progress.",
        seconds(),
        |m| Some(counter_seconds(m.total_busy_duration)),
    )?;
    family(
        snapshot,
        encoder,
        "vigil_service_utilization",
        "Share of the registry's utilization window spent inside poll, 0 to 100.",
        Some(Unit::Other("percent".to_owned())),
        |m| Some(ConstGauge::new(u64::from(m.utilization))),
    )?;
    family(
        snapshot,
        encoder,
        "vigil_service_in_poll",
        "How long the poll in progress has been running; 0 between polls.",
        seconds(),
        |m| Some(gauge_seconds(m.current_poll_duration.unwrap_or_default())),
    )?;
    family(
        snapshot,
        encoder,
        "vigil_service_age",
        "Time since the instance started.",
        seconds(),
        |m| Some(gauge_seconds(m.age)),
    )?;

    // Slow polls.
    family(
        snapshot,
        encoder,
        "vigil_service_slow_polls",
        "Polls longer than the slow-poll threshold.",
        None,
        |m| Some(counter(m.slow_polls?.slow_poll_count)),
    )?;
    family(
        snapshot,
        encoder,
        "vigil_service_slow_poll",
        "Time spent in slow polls.",
        seconds(),
        |m| Some(counter_seconds(m.slow_polls?.total_slow_poll_duration)),
    )?;
    family(
        snapshot,
        encoder,
        "vigil_service_fast_polls",
        "Polls not longer than the slow-poll threshold.",
        None,
        |m| Some(counter(m.slow_polls?.fast_poll_count)),
    )?;
    family(
        snapshot,
        encoder,
        "vigil_service_fast_poll",
        "Time spent in fast polls.",
        seconds(),
        |m| Some(counter_seconds(m.slow_polls?.total_fast_poll_duration)),
    )?;
    family(
        snapshot,
        encoder,
        "vigil_service_slow_poll_threshold",
        "A poll is slow if it lasts strictly longer than this.",
        seconds(),
        |m| Some(gauge_seconds(m.slow_polls?.threshold)),
    )?;

    // Scheduling.
    family(
        snapshot,
        encoder,
        "vigil_service_scheduled_polls",
        "Polls that followed a wake.",
        None,
        |m| Some(counter(m.scheduling?.scheduled_count)),
    )?;
    family(
        snapshot,
        encoder,
        "vigil_service_scheduling_delay",
        "Sum of scheduling delays: from a wake to the start of the poll it led to.",
        seconds(),
        |m| Some(counter_seconds(m.scheduling?.total_scheduling_delay)),
    )?;
    family(
        snapshot,
        encoder,
        "vigil_service_scheduling_delay_max",
        "The longest scheduling delay.",
        seconds(),
        |m| Some(gauge_seconds(m.scheduling?.max_scheduling_delay)),
    )?;
    family(
        snapshot,
        encoder,
        "vigil_service_idle_periods",
        "Idle periods ended by a wake.",
        None,
        |m| Some(counter(m.scheduling?.idle_count)),
    )?;
    family(
        snapshot,
        encoder,
        "vigil_service_idle",
        "Sum of idle periods: from a poll's end to the first wake after it.",
        seconds(),
        |m| Some(counter_seconds(m.scheduling?.total_idle_duration)),
    )?;
    family(
        snapshot,
        encoder,
        "vigil_service_idle_max",
        "The longest idle period.",
        seconds(),
        |m| Some(gauge_seconds(m.scheduling?.max_idle_duration)),
    )?;
    family(
        snapshot,
        encoder,
        "vigil_service_first_poll_delay",
        "From the instance's start to the start of its first poll.",
        seconds(),
        |m| Some(gauge_seconds(m.scheduling?.first_poll_delay?)),
    )?;

    // Poll-duration histogram.
    let bounds = bucket_bounds_seconds();
    family(
        snapshot,
        encoder,
        "vigil_service_poll_duration",
        "Poll durations; buckets are powers of two from 256 ns to 2^30 ns.",
        seconds(),
        |m| {
            let histogram = m.poll_histogram?;
            Some(BucketHistogram::new(
                &histogram,
                &bounds,
                crate::export::completed_busy_duration(m),
            ))
        },
    )?;
    family(
        snapshot,
        encoder,
        "vigil_service_poll_duration_max",
        "The longest poll.",
        seconds(),
        |m| Some(gauge_seconds(m.poll_histogram?.max)),
    )?;
    Ok(())
}

/// `vigil_service_instances{service}`: live instances per name.
fn encode_instances(
    snapshot: &ServicesMetrics,
    encoder: &mut DescriptorEncoder<'_>,
) -> fmt::Result {
    let mut groups = snapshot.groups().peekable();
    if groups.peek().is_none() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(
        "vigil_service_instances",
        "Live instances of the service.",
        None,
        MetricType::Gauge,
    )?;
    for group in groups {
        let labels = [("service", group.name)];
        let instances = u64::try_from(group.instances).unwrap_or(u64::MAX);
        ConstGauge::new(instances).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Writes one family: a descriptor, then one sample per instance for which `sample` gives a
/// value, in id order. Writes nothing, not even the descriptor, if no instance has one.
fn family<M: EncodeMetric>(
    snapshot: &ServicesMetrics,
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    sample: impl Fn(&ServiceMetrics) -> Option<M>,
) -> fmt::Result {
    let mut samples = snapshot
        .iter()
        .filter_map(|(id, metrics)| Some((id, sample(&metrics)?)))
        .peekable();
    let Some((_, first)) = samples.peek() else {
        return Ok(());
    };
    let metric_type = first.metric_type();
    let mut metric = encoder.encode_descriptor(name, help, unit.as_ref(), metric_type)?;
    for (id, value) in samples {
        value.encode(metric.encode_family(&InstanceLabels(id))?)?;
    }
    Ok(())
}

/// The labels of an instance's series: `service` and `instance`.
struct InstanceLabels(ServiceId);

impl EncodeLabelSet for InstanceLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> fmt::Result {
        ("service", self.0.name()).encode(encoder.encode_label())?;
        ("instance", self.0.instance_id()).encode(encoder.encode_label())
    }
}

/// Upper bounds of the histogram buckets in seconds; `+Inf` for the overflow bucket.
fn bucket_bounds_seconds() -> [f64; HISTOGRAM_BUCKETS] {
    PollHistogram::bucket_bounds().map(|(_, upper)| {
        if upper == Duration::MAX {
            f64::INFINITY
        } else {
            upper.as_secs_f64()
        }
    })
}

/// A histogram whose bucket counts are already known: `prometheus_client`'s `Histogram`
/// only takes observations, so this encodes a [`PollHistogram`] through the encoder's
/// histogram API directly.
struct BucketHistogram {
    /// `(upper bound in seconds, count in this bucket alone)`; the encoder accumulates.
    buckets: [(f64, u64); HISTOGRAM_BUCKETS],
    count: u64,
    sum_seconds: f64,
}

impl BucketHistogram {
    fn new(histogram: &PollHistogram, bounds: &[f64; HISTOGRAM_BUCKETS], sum: Duration) -> Self {
        Self {
            buckets: std::array::from_fn(|index| (bounds[index], histogram.buckets[index])),
            count: histogram.count(),
            sum_seconds: sum.as_secs_f64(),
        }
    }
}

impl EncodeMetric for BucketHistogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> fmt::Result {
        encoder.encode_histogram::<NoLabelSet>(self.sum_seconds, self.count, &self.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}
