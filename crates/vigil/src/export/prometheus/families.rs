//! The metric families: per service name (always) and per instance (opt-in), written with
//! `prometheus_client`'s encoder, including the bucket-count histogram.

use std::fmt;
use std::time::Duration;

use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, LabelSetEncoder, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;
use vigil_monitor::{PollHistogram, HISTOGRAM_BUCKETS};

use crate::{ServiceGroupMetrics, ServiceId, ServiceMetrics};

pub(super) fn seconds() -> Option<Unit> {
    Some(Unit::Seconds)
}

pub(super) fn ratio() -> Option<Unit> {
    Some(Unit::Other("ratio".to_owned()))
}

pub(super) fn counter(value: u64) -> ConstCounter<u64> {
    ConstCounter::new(value)
}

pub(super) fn counter_seconds(value: Duration) -> ConstCounter<f64> {
    ConstCounter::new(value.as_secs_f64())
}

pub(super) fn gauge_seconds(value: Duration) -> ConstGauge<f64> {
    ConstGauge::new(value.as_secs_f64())
}

pub(super) fn gauge_count(value: usize) -> ConstGauge<i64> {
    ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX))
}

/// A percentage (0..=100) as a ratio (0..=1), Prometheus' base unit.
fn gauge_ratio(percent: f64) -> ConstGauge<f64> {
    ConstGauge::new(percent / 100.0)
}

/// Writes the per-name families: one sample per name (per name and outcome for endings).
pub(super) fn encode_name_families(
    groups: &[ServiceGroupMetrics],
    encoder: &mut DescriptorEncoder<'_>,
) -> fmt::Result {
    let per_name = |encoder: &mut DescriptorEncoder<'_>,
                    name: &str,
                    help: &str,
                    unit: Option<Unit>,
                    sample: &dyn Fn(&ServiceGroupMetrics) -> Option<Sample>| {
        family(
            encoder,
            name,
            help,
            unit,
            groups,
            |g| [("service", g.name)],
            sample,
        )
    };

    // Lifetime counters: every instance that ever ran under the name.
    per_name(
        encoder,
        "vigil_service_starts",
        "Instances of the service ever started.",
        None,
        &|g| Some(Sample::Counter(counter(g.starts))),
    )?;
    per_name(
        encoder,
        "vigil_service_restarts",
        "Restarts of the service counted by a supervisor.",
        None,
        &|g| Some(Sample::Counter(counter(g.restarts))),
    )?;
    encode_endings(groups, encoder)?;
    per_name(
        encoder,
        "vigil_service_polls",
        "Completed polls of every instance of the service, ended ones included.",
        None,
        &|g| Some(Sample::Counter(counter(g.poll_count))),
    )?;
    per_name(
        encoder,
        "vigil_service_busy",
        "Time spent inside poll by every instance of the service, ended ones and polls in flight included.",
        seconds(),
        &|g| Some(Sample::CounterF64(counter_seconds(g.total_busy_duration))),
    )?;

    // Gauges over the live instances.
    per_name(
        encoder,
        "vigil_service_instances",
        "Live instances of the service.",
        None,
        &|g| Some(Sample::Gauge(gauge_count(g.instances))),
    )?;
    per_name(
        encoder,
        "vigil_service_instances_in_poll",
        "Live instances of the service inside a poll now.",
        None,
        &|g| Some(Sample::Gauge(gauge_count(g.in_poll))),
    )?;
    per_name(
        encoder,
        "vigil_service_utilization_max",
        "Highest utilization of a live instance over the registry's window, 0 to 1.",
        ratio(),
        &|g| Some(Sample::GaugeF64(gauge_ratio(f64::from(g.max_utilization)))),
    )?;
    per_name(
        encoder,
        "vigil_service_utilization_mean",
        "Mean utilization of the live instances over the registry's window, 0 to 1.",
        ratio(),
        &|g| Some(Sample::GaugeF64(gauge_ratio(g.mean_utilization))),
    )?;
    per_name(
        encoder,
        "vigil_service_longest_poll_in_flight",
        "How long the longest poll in progress has been running; 0 if no instance is inside a poll. A stuck service shows here.",
        seconds(),
        &|g| {
            Some(Sample::GaugeF64(gauge_seconds(
                g.longest_in_poll.unwrap_or_default(),
            )))
        },
    )?;

    // With monitors attached: gauges over the live instances (they drop when an instance
    // ends, so they are not exported as counters).
    per_name(
        encoder,
        "vigil_service_slow_polls",
        "Share of the live instances' completed polls that were slower than the threshold, 0 to 1.",
        ratio(),
        &|g| {
            let slow = g.slow_polls?;
            let all = slow.slow_poll_count.saturating_add(slow.fast_poll_count);
            let share = if all == 0 {
                0.0
            } else {
                slow.slow_poll_count as f64 / all as f64
            };
            Some(Sample::GaugeF64(ConstGauge::new(share)))
        },
    )?;
    per_name(
        encoder,
        "vigil_service_slow_poll_threshold",
        "A poll is slow if it lasts strictly longer than this.",
        seconds(),
        &|g| Some(Sample::GaugeF64(gauge_seconds(g.slow_polls?.threshold))),
    )?;
    per_name(
        encoder,
        "vigil_service_poll_duration_max",
        "The longest poll of a live instance.",
        seconds(),
        &|g| Some(Sample::GaugeF64(gauge_seconds(g.poll_histogram?.max))),
    )?;
    Ok(())
}

/// `vigil_service_endings_total{service, outcome}`: four samples per name.
fn encode_endings(
    groups: &[ServiceGroupMetrics],
    encoder: &mut DescriptorEncoder<'_>,
) -> fmt::Result {
    if groups.is_empty() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(
        "vigil_service_endings",
        "Instances of the service that ended, by outcome: completed, failed, panicked, cancelled.",
        None,
        MetricType::Counter,
    )?;
    for group in groups {
        for (outcome, count) in group.endings.by_outcome() {
            let labels = [("service", group.name), ("outcome", outcome)];
            counter(count).encode(metric.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

/// Writes the per-instance families (`vigil_service_instance_*`) of `instances`.
pub(super) fn encode_instance_families(
    instances: &[(ServiceId, ServiceMetrics)],
    encoder: &mut DescriptorEncoder<'_>,
) -> fmt::Result {
    let per_instance =
        |encoder: &mut DescriptorEncoder<'_>,
         name: &str,
         help: &str,
         unit: Option<Unit>,
         sample: &dyn Fn(&(ServiceId, ServiceMetrics)) -> Option<Sample>| {
            family(
                encoder,
                name,
                help,
                unit,
                instances,
                |(id, _)| InstanceLabels(*id),
                sample,
            )
        };
    let c = |value: u64| Some(Sample::Counter(counter(value)));
    let cs = |value: Duration| Some(Sample::CounterF64(counter_seconds(value)));
    let gs = |value: Duration| Some(Sample::GaugeF64(gauge_seconds(value)));

    // The default monitor: always present.
    per_instance(
        encoder,
        "vigil_service_instance_polls",
        "Completed polls of the instance.",
        None,
        &|(_, m)| c(m.poll_count),
    )?;
    per_instance(
        encoder,
        "vigil_service_instance_busy",
        "Time spent inside poll since the instance started, including a poll in progress.",
        seconds(),
        &|(_, m)| cs(m.total_busy_duration),
    )?;
    per_instance(
        encoder,
        "vigil_service_instance_utilization",
        "Share of the registry's utilization window the instance spent inside poll, 0 to 1.",
        ratio(),
        &|(_, m)| Some(Sample::GaugeF64(gauge_ratio(f64::from(m.utilization)))),
    )?;
    per_instance(
        encoder,
        "vigil_service_instance_in_poll",
        "How long the instance's poll in progress has been running; 0 between polls.",
        seconds(),
        &|(_, m)| gs(m.current_poll_duration.unwrap_or_default()),
    )?;
    per_instance(
        encoder,
        "vigil_service_instance_age",
        "Time since the instance started.",
        seconds(),
        &|(_, m)| gs(m.age),
    )?;

    // Slow polls.
    per_instance(
        encoder,
        "vigil_service_instance_slow_polls",
        "Polls of the instance longer than the slow-poll threshold.",
        None,
        &|(_, m)| c(m.slow_polls?.slow_poll_count),
    )?;
    per_instance(
        encoder,
        "vigil_service_instance_slow_poll",
        "Time the instance spent in slow polls.",
        seconds(),
        &|(_, m)| cs(m.slow_polls?.total_slow_poll_duration),
    )?;
    per_instance(
        encoder,
        "vigil_service_instance_fast_polls",
        "Polls of the instance not longer than the slow-poll threshold.",
        None,
        &|(_, m)| c(m.slow_polls?.fast_poll_count),
    )?;
    per_instance(
        encoder,
        "vigil_service_instance_fast_poll",
        "Time the instance spent in fast polls.",
        seconds(),
        &|(_, m)| cs(m.slow_polls?.total_fast_poll_duration),
    )?;

    // Scheduling.
    per_instance(
        encoder,
        "vigil_service_instance_scheduled_polls",
        "Polls of the instance that followed a wake.",
        None,
        &|(_, m)| c(m.scheduling?.scheduled_count),
    )?;
    per_instance(
        encoder,
        "vigil_service_instance_scheduling_delay",
        "Sum of the instance's scheduling delays: from a wake to the start of the poll it led to.",
        seconds(),
        &|(_, m)| cs(m.scheduling?.total_scheduling_delay),
    )?;
    per_instance(
        encoder,
        "vigil_service_instance_scheduling_delay_max",
        "The instance's longest scheduling delay.",
        seconds(),
        &|(_, m)| gs(m.scheduling?.max_scheduling_delay),
    )?;
    per_instance(
        encoder,
        "vigil_service_instance_idle_periods",
        "Idle periods of the instance ended by a wake.",
        None,
        &|(_, m)| c(m.scheduling?.idle_count),
    )?;
    per_instance(
        encoder,
        "vigil_service_instance_idle",
        "Sum of the instance's idle periods: from a poll's end to the first wake after it.",
        seconds(),
        &|(_, m)| cs(m.scheduling?.total_idle_duration),
    )?;
    per_instance(
        encoder,
        "vigil_service_instance_idle_max",
        "The instance's longest idle period.",
        seconds(),
        &|(_, m)| gs(m.scheduling?.max_idle_duration),
    )?;
    per_instance(
        encoder,
        "vigil_service_instance_first_poll_delay",
        "From the instance's start to the start of its first poll.",
        seconds(),
        &|(_, m)| gs(m.scheduling?.first_poll_delay?),
    )?;

    // Poll-duration histogram.
    let bounds = bucket_bounds_seconds();
    per_instance(
        encoder,
        "vigil_service_instance_poll_duration",
        "Poll durations of the instance; buckets are powers of two from 256 ns to 2^30 ns.",
        seconds(),
        &|(_, m)| {
            let histogram = m.poll_histogram?;
            Some(Sample::Histogram(Box::new(BucketHistogram::new(
                &histogram,
                &bounds,
                crate::export::completed_busy_duration(m),
            ))))
        },
    )?;
    per_instance(
        encoder,
        "vigil_service_instance_poll_duration_max",
        "The instance's longest poll.",
        seconds(),
        &|(_, m)| gs(m.poll_histogram?.max),
    )?;
    Ok(())
}

/// One sample of any of the kinds the families use, so that one [`family`] helper writes
/// them all.
pub(super) enum Sample {
    Counter(ConstCounter<u64>),
    CounterF64(ConstCounter<f64>),
    Gauge(ConstGauge<i64>),
    GaugeF64(ConstGauge<f64>),
    /// Boxed: 400 bytes of buckets, against 8 for the others.
    Histogram(Box<BucketHistogram>),
}

impl EncodeMetric for Sample {
    fn encode(&self, encoder: MetricEncoder<'_>) -> fmt::Result {
        match self {
            Self::Counter(metric) => metric.encode(encoder),
            Self::CounterF64(metric) => metric.encode(encoder),
            Self::Gauge(metric) => metric.encode(encoder),
            Self::GaugeF64(metric) => metric.encode(encoder),
            Self::Histogram(metric) => metric.encode(encoder),
        }
    }

    fn metric_type(&self) -> MetricType {
        match self {
            Self::Counter(_) | Self::CounterF64(_) => MetricType::Counter,
            Self::Gauge(_) | Self::GaugeF64(_) => MetricType::Gauge,
            Self::Histogram(_) => MetricType::Histogram,
        }
    }
}

/// Writes one family: a descriptor, then one sample per item for which `sample` gives a
/// value, in order. Writes nothing, not even the descriptor, if no item has one.
pub(super) fn family<T, L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    items: &[T],
    labels: impl Fn(&T) -> L,
    sample: &dyn Fn(&T) -> Option<Sample>,
) -> fmt::Result {
    let mut samples = items
        .iter()
        .filter_map(|item| Some((item, sample(item)?)))
        .peekable();
    let Some((_, first)) = samples.peek() else {
        return Ok(());
    };
    let metric_type = first.metric_type();
    let mut metric = encoder.encode_descriptor(name, help, unit.as_ref(), metric_type)?;
    for (item, value) in samples {
        value.encode(metric.encode_family(&labels(item))?)?;
    }
    Ok(())
}

/// The labels of an instance's series: `service` and `instance_id` (never `instance`, which
/// Prometheus attaches to every scraped target).
struct InstanceLabels(ServiceId);

impl EncodeLabelSet for InstanceLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> fmt::Result {
        use prometheus_client::encoding::EncodeLabel;
        ("service", self.0.name()).encode(encoder.encode_label())?;
        ("instance_id", self.0.instance_id()).encode(encoder.encode_label())
    }
}

/// Upper bounds of the histogram buckets in seconds; `+Inf` for the overflow bucket.
pub(super) fn bucket_bounds_seconds() -> [f64; HISTOGRAM_BUCKETS] {
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
pub(super) struct BucketHistogram {
    /// `(upper bound in seconds, count in this bucket alone)`; the encoder accumulates.
    buckets: [(f64, u64); HISTOGRAM_BUCKETS],
    count: u64,
    sum_seconds: f64,
}

impl BucketHistogram {
    pub(super) fn new(
        histogram: &PollHistogram,
        bounds: &[f64; HISTOGRAM_BUCKETS],
        sum: Duration,
    ) -> Self {
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
