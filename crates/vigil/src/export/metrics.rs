//! Publish registry snapshots through the `metrics` facade crate (feature `metrics`).
//!
//! [`publish`] writes every live instance of a [`ServicesMetrics`] snapshot to the
//! [`metrics`] recorder in scope (the global one, or a local one set with
//! [`metrics::with_local_recorder`]); [`describe`] registers the units and descriptions
//! once. Any recorder works: `metrics-exporter-prometheus`, StatsD, OpenTelemetry bridges,
//! or `metrics-util`'s debugging recorder in tests.
//!
//! # Calling it
//!
//! A snapshot is a point in time, so publish one periodically, for example every few seconds
//! from a tokio interval (or just before your recorder is scraped):
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use vigil::Registry;
//!
//! async fn publish_forever(registry: Arc<Registry>) {
//!     vigil::export::metrics::describe();
//!     let mut every = tokio::time::interval(Duration::from_secs(5));
//!     loop {
//!         every.tick().await;
//!         vigil::export::metrics::publish(&registry.metrics());
//!     }
//! }
//! # let _ = publish_forever;
//! ```
//!
//! Counters are set with [`Counter::absolute`](::metrics::Counter::absolute) to the
//! instance's cumulative value (vigil's totals never decrease), never incremented: publishing
//! the same snapshot twice changes nothing, and no interval is lost or counted twice
//! however irregularly `publish` runs.
//!
//! # Ended instances
//!
//! Snapshots hold live instances only. Once an instance ends (completes, panics, is
//! cancelled), `publish` no longer touches its series: they keep the last values published
//! and **stop updating** (a gauge such as `vigil_service_in_poll_seconds` keeps its last
//! value). The `metrics` facade has no way to remove a series; recorders that can expire
//! idle series do it themselves (for example `metrics-exporter-prometheus`'s
//! `PrometheusBuilder::idle_timeout`). Set such a timeout to a few publish periods so the
//! series of ended instances disappear. Instance ids are never reused, so an ended
//! instance's series are never confused with a new instance's.
//!
//! # Metrics
//!
//! Every series carries the labels `service` (the service name) and `instance` (the
//! instance id in decimal). Counters are integers in the `metrics` facade, so counters of
//! time are in **nanoseconds**; gauges are floats, so gauges of time are in **seconds**.
//! Every name states its unit.
//!
//! Always (the registry's default monitor):
//!
//! | name | kind | unit | value |
//! |---|---|---|---|
//! | `vigil_service_polls_total` | counter | polls | `poll_count`: completed polls |
//! | `vigil_service_busy_nanoseconds_total` | counter | ns | `total_busy_duration`, including the poll in progress |
//! | `vigil_service_utilization_percent` | gauge | percent, 0..=100 | `utilization` over the registry's window |
//! | `vigil_service_in_poll_seconds` | gauge | s | `current_poll_duration`; `0` between polls |
//! | `vigil_service_age_seconds` | gauge | s | `age`: time since the instance started |
//!
//! With [`SlowPolls`](crate::registry::SlowPolls) attached (`slow_polls`):
//!
//! | name | kind | unit | value |
//! |---|---|---|---|
//! | `vigil_service_slow_polls_total` | counter | polls | polls longer than the threshold |
//! | `vigil_service_slow_poll_nanoseconds_total` | counter | ns | time spent in those |
//! | `vigil_service_fast_polls_total` | counter | polls | the other polls |
//! | `vigil_service_fast_poll_nanoseconds_total` | counter | ns | time spent in those |
//! | `vigil_service_slow_poll_threshold_seconds` | gauge | s | the threshold |
//!
//! With [`Scheduling`](crate::registry::Scheduling) attached (`scheduling`):
//!
//! | name | kind | unit | value |
//! |---|---|---|---|
//! | `vigil_service_scheduled_polls_total` | counter | polls | polls that followed a wake |
//! | `vigil_service_scheduling_delay_nanoseconds_total` | counter | ns | sum of wake-to-poll delays |
//! | `vigil_service_scheduling_delay_max_seconds` | gauge | s | the longest of them |
//! | `vigil_service_idle_periods_total` | counter | periods | idle periods ended by a wake |
//! | `vigil_service_idle_nanoseconds_total` | counter | ns | sum of idle periods |
//! | `vigil_service_idle_max_seconds` | gauge | s | the longest of them |
//! | `vigil_service_first_poll_delay_seconds` | gauge | s | start to first poll; absent until the first poll |
//!
//! With [`PollHistograms`](crate::registry::PollHistograms) attached (`poll_histogram`):
//!
//! | name | kind | unit | value |
//! |---|---|---|---|
//! | `vigil_service_poll_duration_nanoseconds_bucket` | counter, label `le` | polls | polls shorter than `le` ns, cumulative |
//! | `vigil_service_poll_duration_nanoseconds_count` | counter | polls | polls in the histogram |
//! | `vigil_service_poll_duration_nanoseconds_sum` | counter | ns | time spent in those polls |
//! | `vigil_service_poll_duration_max_seconds` | gauge | s | the longest poll |
//! | `vigil_service_poll_duration_quantile_seconds` | gauge, label `quantile` | s | estimates for `0.5`, `0.9`, `0.99` |
//!
//! # The histogram
//!
//! A `metrics` histogram takes individual samples, and a snapshot has none: it holds
//! [`PollHistogram`]'s fixed bucket counts. Re-recording fake samples (one per poll, at a
//! bucket's bound) would cost a call per poll ever made and resend the whole history at
//! every publish. Instead the histogram is published as what it is, in the layout of a
//! Prometheus histogram, so nothing is lost and it aggregates across instances:
//!
//! - one counter per bucket, `vigil_service_poll_duration_nanoseconds_bucket`, with the
//!   label `le` = the bucket's upper bound in nanoseconds (`"256"`, `"512"`, ... ,
//!   `"1073741824"`, then `"+Inf"`), counting every poll in that bucket *and all below*
//!   (cumulative, as Prometheus' `le` buckets); with a Prometheus recorder,
//!   `histogram_quantile(0.99, sum by (le) (rate(..._bucket[5m])))` works as for a native
//!   histogram (the result is in nanoseconds).
//! - `_count` (the `+Inf` bucket) and `_sum`. The sum is the default monitor's busy time of
//!   the completed polls (`total_busy_duration - current_poll_duration`); the two monitors
//!   are read one after the other, so under load `_sum` can lag `_count` by the poll(s)
//!   that ended in between.
//!
//! vigil's buckets are `[lower, upper)`: a poll of exactly `upper` ns is counted in the next
//! bucket, where Prometheus' `le` would include it. With nanosecond resolution this
//! changes nothing but polls of exactly a power of two.
//!
//! For backends without bucket arithmetic, the max and three quantile estimates
//! ([`PollHistogram::quantile`]: never below the true value, at most twice it) are also
//! published as gauges; they are per instance and cannot be averaged across instances.
//! An instance without completed polls publishes `0` for them.

use std::sync::OnceLock;
use std::time::Duration;

use ::metrics::{counter, describe_counter, describe_gauge, gauge, Label, Unit};
use vigil_monitor::{PollHistogram, SchedulingSnapshot, SlowPollSnapshot, HISTOGRAM_BUCKETS};

use crate::{ServiceId, ServiceMetrics, ServicesMetrics};

const POLLS: &str = "vigil_service_polls_total";
const BUSY: &str = "vigil_service_busy_nanoseconds_total";
const UTILIZATION: &str = "vigil_service_utilization_percent";
const IN_POLL: &str = "vigil_service_in_poll_seconds";
const AGE: &str = "vigil_service_age_seconds";

const SLOW_POLLS: &str = "vigil_service_slow_polls_total";
const SLOW_POLL_BUSY: &str = "vigil_service_slow_poll_nanoseconds_total";
const FAST_POLLS: &str = "vigil_service_fast_polls_total";
const FAST_POLL_BUSY: &str = "vigil_service_fast_poll_nanoseconds_total";
const SLOW_POLL_THRESHOLD: &str = "vigil_service_slow_poll_threshold_seconds";

const SCHEDULED_POLLS: &str = "vigil_service_scheduled_polls_total";
const SCHEDULING_DELAY: &str = "vigil_service_scheduling_delay_nanoseconds_total";
const SCHEDULING_DELAY_MAX: &str = "vigil_service_scheduling_delay_max_seconds";
const IDLE_PERIODS: &str = "vigil_service_idle_periods_total";
const IDLE: &str = "vigil_service_idle_nanoseconds_total";
const IDLE_MAX: &str = "vigil_service_idle_max_seconds";
const FIRST_POLL_DELAY: &str = "vigil_service_first_poll_delay_seconds";

const POLL_DURATION_BUCKET: &str = "vigil_service_poll_duration_nanoseconds_bucket";
const POLL_DURATION_COUNT: &str = "vigil_service_poll_duration_nanoseconds_count";
const POLL_DURATION_SUM: &str = "vigil_service_poll_duration_nanoseconds_sum";
const POLL_DURATION_MAX: &str = "vigil_service_poll_duration_max_seconds";
const POLL_DURATION_QUANTILE: &str = "vigil_service_poll_duration_quantile_seconds";

/// The quantiles published as gauges, with their `quantile` label values.
const QUANTILES: [(f64, &str); 3] = [(0.5, "0.5"), (0.9, "0.9"), (0.99, "0.99")];

/// Registers the unit and description of every metric [`publish`] writes with the recorder
/// in scope.
///
/// Call it once after installing the recorder (recorders keep descriptions by name, so
/// calling it again is harmless). Publishing works without it; exporters then show no help
/// text or unit.
pub fn describe() {
    describe_counter!(
        POLLS,
        Unit::Count,
        "Completed polls of the service instance."
    );
    describe_counter!(
        BUSY,
        Unit::Nanoseconds,
        "Time spent inside poll since the instance started, including a poll in progress."
    );
    describe_gauge!(
        UTILIZATION,
        Unit::Percent,
        "Share of the registry's utilization window spent inside poll, 0 to 100."
    );
    describe_gauge!(
        IN_POLL,
        Unit::Seconds,
        "How long the poll in progress has been running; 0 between polls."
    );
    describe_gauge!(AGE, Unit::Seconds, "Time since the instance started.");

    describe_counter!(
        SLOW_POLLS,
        Unit::Count,
        "Polls longer than the slow-poll threshold."
    );
    describe_counter!(
        SLOW_POLL_BUSY,
        Unit::Nanoseconds,
        "Time spent in slow polls."
    );
    describe_counter!(
        FAST_POLLS,
        Unit::Count,
        "Polls not longer than the slow-poll threshold."
    );
    describe_counter!(
        FAST_POLL_BUSY,
        Unit::Nanoseconds,
        "Time spent in fast polls."
    );
    describe_gauge!(
        SLOW_POLL_THRESHOLD,
        Unit::Seconds,
        "A poll is slow if it lasts strictly longer than this."
    );

    describe_counter!(SCHEDULED_POLLS, Unit::Count, "Polls that followed a wake.");
    describe_counter!(
        SCHEDULING_DELAY,
        Unit::Nanoseconds,
        "Sum of scheduling delays: from a wake to the start of the poll it led to."
    );
    describe_gauge!(
        SCHEDULING_DELAY_MAX,
        Unit::Seconds,
        "The longest scheduling delay."
    );
    describe_counter!(IDLE_PERIODS, Unit::Count, "Idle periods ended by a wake.");
    describe_counter!(
        IDLE,
        Unit::Nanoseconds,
        "Sum of idle periods: from a poll's end to the first wake after it."
    );
    describe_gauge!(IDLE_MAX, Unit::Seconds, "The longest idle period.");
    describe_gauge!(
        FIRST_POLL_DELAY,
        Unit::Seconds,
        "From the instance's start to the start of its first poll."
    );

    describe_counter!(
        POLL_DURATION_BUCKET,
        Unit::Count,
        "Polls shorter than the bucket's upper bound `le` (nanoseconds), cumulative."
    );
    describe_counter!(
        POLL_DURATION_COUNT,
        Unit::Count,
        "Polls in the poll-duration histogram."
    );
    describe_counter!(
        POLL_DURATION_SUM,
        Unit::Nanoseconds,
        "Time spent in the completed polls."
    );
    describe_gauge!(POLL_DURATION_MAX, Unit::Seconds, "The longest poll.");
    describe_gauge!(
        POLL_DURATION_QUANTILE,
        Unit::Seconds,
        "Poll-duration quantile estimate: the upper bound of the quantile's bucket, at most twice the true value."
    );
}

/// Publishes every live instance of `snapshot` to the recorder in scope.
///
/// Counters are set to the instances' cumulative values with
/// [`absolute`](::metrics::Counter::absolute), gauges are set; see the
/// [module docs](self) for the names, and for what happens to instances that ended since
/// the previous call (their series stop updating). Call it periodically.
///
/// Without a recorder installed this does nothing (the facade's no-op recorder), at the
/// cost of building the labels.
///
/// # Examples
///
/// ```
/// use metrics_util::debugging::{DebugValue, DebuggingRecorder};
/// use vigil::prelude::*;
///
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let registry = Registry::new();
/// let _consumer = registry.start_in(runtime.handle(), ServiceObj::new("consumer", async {}));
///
/// let recorder = DebuggingRecorder::new();
/// let snapshotter = recorder.snapshotter();
/// metrics::with_local_recorder(&recorder, || vigil::export::metrics::publish(&registry.metrics()));
///
/// let polls = snapshotter.snapshot().into_vec().into_iter().find_map(|(key, _, _, value)| {
///     (key.key().name() == "vigil_service_polls_total").then_some(value)
/// });
/// // Not polled yet: the runtime has not run.
/// assert_eq!(polls, Some(DebugValue::Counter(0)));
/// ```
pub fn publish(snapshot: &ServicesMetrics) {
    for (id, metrics) in snapshot {
        publish_instance(id, &metrics);
    }
}

/// Publishes one instance.
fn publish_instance(id: ServiceId, metrics: &ServiceMetrics) {
    let labels = [
        Label::new("service", id.name()),
        Label::new("instance", id.instance_id().to_string()),
    ];
    counter!(POLLS, labels.iter()).absolute(metrics.poll_count);
    counter!(BUSY, labels.iter()).absolute(nanos(metrics.total_busy_duration));
    gauge!(UTILIZATION, labels.iter()).set(f64::from(metrics.utilization));
    gauge!(IN_POLL, labels.iter()).set(
        metrics
            .current_poll_duration
            .unwrap_or_default()
            .as_secs_f64(),
    );
    gauge!(AGE, labels.iter()).set(metrics.age.as_secs_f64());

    if let Some(slow_polls) = &metrics.slow_polls {
        publish_slow_polls(&labels, slow_polls);
    }
    if let Some(scheduling) = &metrics.scheduling {
        publish_scheduling(&labels, scheduling);
    }
    if let Some(histogram) = &metrics.poll_histogram {
        let sum = crate::export::completed_busy_duration(metrics);
        publish_histogram(&labels, histogram, sum);
    }
}

fn publish_slow_polls(labels: &[Label], slow_polls: &SlowPollSnapshot) {
    counter!(SLOW_POLLS, labels.iter()).absolute(slow_polls.slow_poll_count);
    counter!(SLOW_POLL_BUSY, labels.iter()).absolute(nanos(slow_polls.total_slow_poll_duration));
    counter!(FAST_POLLS, labels.iter()).absolute(slow_polls.fast_poll_count);
    counter!(FAST_POLL_BUSY, labels.iter()).absolute(nanos(slow_polls.total_fast_poll_duration));
    gauge!(SLOW_POLL_THRESHOLD, labels.iter()).set(slow_polls.threshold.as_secs_f64());
}

fn publish_scheduling(labels: &[Label], scheduling: &SchedulingSnapshot) {
    counter!(SCHEDULED_POLLS, labels.iter()).absolute(scheduling.scheduled_count);
    counter!(SCHEDULING_DELAY, labels.iter()).absolute(nanos(scheduling.total_scheduling_delay));
    gauge!(SCHEDULING_DELAY_MAX, labels.iter()).set(scheduling.max_scheduling_delay.as_secs_f64());
    counter!(IDLE_PERIODS, labels.iter()).absolute(scheduling.idle_count);
    counter!(IDLE, labels.iter()).absolute(nanos(scheduling.total_idle_duration));
    gauge!(IDLE_MAX, labels.iter()).set(scheduling.max_idle_duration.as_secs_f64());
    if let Some(first_poll_delay) = scheduling.first_poll_delay {
        gauge!(FIRST_POLL_DELAY, labels.iter()).set(first_poll_delay.as_secs_f64());
    }
}

fn publish_histogram(labels: &[Label], histogram: &PollHistogram, sum: Duration) {
    let mut cumulative = 0_u64;
    for (count, le) in histogram.buckets.iter().zip(bucket_labels()) {
        cumulative = cumulative.saturating_add(*count);
        let mut bucket_labels = labels.to_vec();
        bucket_labels.push(Label::new("le", le.as_str()));
        counter!(POLL_DURATION_BUCKET, bucket_labels).absolute(cumulative);
    }
    counter!(POLL_DURATION_COUNT, labels.iter()).absolute(histogram.count());
    counter!(POLL_DURATION_SUM, labels.iter()).absolute(nanos(sum));
    gauge!(POLL_DURATION_MAX, labels.iter()).set(histogram.max.as_secs_f64());
    for (q, label) in QUANTILES {
        let mut quantile_labels = labels.to_vec();
        quantile_labels.push(Label::new("quantile", label));
        gauge!(POLL_DURATION_QUANTILE, quantile_labels).set(histogram.quantile(q).as_secs_f64());
    }
}

/// The `le` label of every bucket: its exclusive upper bound in nanoseconds, `+Inf` for the
/// overflow bucket. Built once per process.
fn bucket_labels() -> &'static [String; HISTOGRAM_BUCKETS] {
    static LABELS: OnceLock<[String; HISTOGRAM_BUCKETS]> = OnceLock::new();
    LABELS.get_or_init(|| {
        PollHistogram::bucket_bounds().map(|(_, upper)| {
            if upper == Duration::MAX {
                "+Inf".to_owned()
            } else {
                upper.as_nanos().to_string()
            }
        })
    })
}

/// A duration in whole nanoseconds, saturating (at 584 years).
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
