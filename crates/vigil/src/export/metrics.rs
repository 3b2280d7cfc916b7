//! Publish registry snapshots through the `metrics` facade crate (feature `metrics`).
//!
//! [`publish`] writes a [`ServicesMetrics`] snapshot to the [`metrics`] recorder in scope
//! (the global one, or a local one set with [`metrics::with_local_recorder`]), one set of
//! series per service name; [`publish_with`] adds capped per-instance series
//! ([`Granularity`]). [`describe`] registers the units and descriptions once. Any recorder
//! works: `metrics-exporter-prometheus`, StatsD, OpenTelemetry bridges, or `metrics-util`'s
//! debugging recorder in tests.
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
//! registry's cumulative value, never incremented: publishing the same snapshot twice
//! changes nothing, and no interval is lost or counted twice however irregularly `publish`
//! runs. The per-name counters are lifetime counters that include ended instances, so they
//! never go backwards when instances end.
//!
//! # Cardinality
//!
//! Per-name series: one set per service name the registry has ever started (a name stays
//! after its last instance ends, with `vigil_service_instances` at 0). Per-instance series
//! (opt-in): at most `max_per_name` instances per name, the lowest live instance ids. The
//! `metrics` facade cannot remove a series, so the series of an instance that ended (or
//! fell out of the cap) keep their last values and **stop updating**; recorders that can
//! expire idle series do it themselves (for example `metrics-exporter-prometheus`'s
//! `PrometheusBuilder::idle_timeout`). Instance ids are never reused, so an ended
//! instance's series are never confused with a new instance's.
//!
//! # Series
//!
//! Counters are integers in the `metrics` facade, so counters of time are in
//! **nanoseconds**; gauges are floats, so gauges of time are in **seconds** and shares are
//! ratios 0..=1. Every name states its unit.
//!
//! Per service name, label `service` (and `outcome` for endings), always:
//!
//! | name | kind | unit | value |
//! |---|---|---|---|
//! | `vigil_service_starts_total` | counter | instances | instances ever started |
//! | `vigil_service_restarts_total` | counter | restarts | restarts counted by a supervisor |
//! | `vigil_service_endings_total{outcome}` | counter | instances | ended instances by outcome: `completed`, `failed`, `panicked`, `cancelled` |
//! | `vigil_service_polls_total` | counter | polls | completed polls of every instance ever started |
//! | `vigil_service_busy_nanoseconds_total` | counter | ns | time inside `poll` of every instance ever started, polls in flight included |
//! | `vigil_service_instances` | gauge | instances | live instances |
//! | `vigil_service_instances_in_poll` | gauge | instances | live instances inside a poll now |
//! | `vigil_service_utilization_max_ratio` | gauge | 0..=1 | highest utilization of a live instance |
//! | `vigil_service_utilization_mean_ratio` | gauge | 0..=1 | mean utilization of the live instances |
//! | `vigil_service_longest_poll_in_flight_seconds` | gauge | s | the longest poll in progress; `0` if none (stuck services show here) |
//!
//! Per service name, with [`SlowPolls`](crate::registry::SlowPolls) attached (gauges over
//! the live instances, which drop when an instance ends, hence not counters):
//!
//! | name | kind | unit | value |
//! |---|---|---|---|
//! | `vigil_service_slow_polls_ratio` | gauge | 0..=1 | share of the live instances' polls that were slow |
//! | `vigil_service_slow_poll_threshold_seconds` | gauge | s | the threshold |
//!
//! Per service name, with [`PollHistograms`](crate::registry::PollHistograms) attached
//! (over the live instances' merged histogram):
//!
//! | name | kind | unit | value |
//! |---|---|---|---|
//! | `vigil_service_poll_duration_max_seconds` | gauge | s | the longest poll of a live instance |
//!
//! Per service name, lifetime figures of the attached monitors (every instance ever
//! started under the name, ended ones folded in, so the counters never decrease):
//!
//! | name | kind | unit | value |
//! |---|---|---|---|
//! | `vigil_service_scheduled_polls_total` | counter | polls | with [`Scheduling`](crate::registry::Scheduling): polls that followed a wake |
//! | `vigil_service_scheduling_delay_nanoseconds_total` | counter | ns | with `Scheduling`: their wake-to-poll delays, summed |
//! | `vigil_service_scheduling_delay_max_seconds` | gauge | s | with `Scheduling`: the longest wake-to-poll delay of any instance ever started |
//! | `vigil_service_first_polls_total` | counter | instances | with `Scheduling`: instances polled at least once |
//! | `vigil_service_first_poll_delay_nanoseconds_total` | counter | ns | with `Scheduling`: their start-to-first-poll delays, summed |
//! | `vigil_service_idle_periods_total` | counter | periods | with `Scheduling`: idle periods ended by a wake |
//! | `vigil_service_idle_nanoseconds_total` | counter | ns | with `Scheduling`: those idle periods, summed |
//! | `vigil_service_poll_duration_nanoseconds_bucket{le}`, `_count`, `_sum` | counter | polls, ns | with `PollHistograms`: the name's lifetime histogram (below) |
//! | `vigil_service_slow_polls_total`, `vigil_service_fast_polls_total` | counter | polls | with `SlowPolls`: polls slower than the threshold, and the others |
//!
//! Per service name with a mailbox (registered by a supervisor), label `service`:
//!
//! | name | kind | unit | value |
//! |---|---|---|---|
//! | `vigil_mailbox_capacity` | gauge | messages | messages it holds at most |
//! | `vigil_mailbox_depth` | gauge | messages | messages waiting now |
//! | `vigil_mailbox_oldest_wait_seconds` | gauge | s | how long the oldest waiting message has waited; `0` when none waits |
//! | `vigil_mailbox_sent_total` | counter | messages | messages ever accepted |
//! | `vigil_mailbox_received_total` | counter | messages | messages the service ever took out |
//! | `vigil_mailbox_rejected_total` | counter | sends | `try_send` calls refused because it was full |
//!
//! Per watched runtime ([`Registry::watch_runtime`](crate::Registry::watch_runtime)), label
//! `runtime`, and `worker` (its index, from `"0"`) for the per-worker series:
//!
//! | name | kind | unit | value |
//! |---|---|---|---|
//! | `vigil_runtime_workers` | gauge | threads | worker threads |
//! | `vigil_runtime_alive_tasks` | gauge | tasks | tasks spawned and not finished |
//! | `vigil_runtime_global_queue_depth` | gauge | tasks | tasks waiting in the global queue |
//! | `vigil_runtime_worker_busy_nanoseconds_total{worker}` | counter | ns | time the worker ran tasks |
//! | `vigil_runtime_worker_parks_total{worker}` | counter | parks | times the worker went to sleep for lack of work |
//! | `vigil_runtime_worker_park_unparks_total{worker}` | counter | transitions | parks and unparks: odd while parked |
//!
//! Per instance (opt-in, [`Granularity::PerInstance`]), labels `service` and `instance_id`:
//!
//! | name | kind | unit | value |
//! |---|---|---|---|
//! | `vigil_service_instance_polls_total` | counter | polls | `poll_count` |
//! | `vigil_service_instance_busy_nanoseconds_total` | counter | ns | `total_busy_duration` |
//! | `vigil_service_instance_utilization_ratio` | gauge | 0..=1 | `utilization` |
//! | `vigil_service_instance_in_poll_seconds` | gauge | s | `current_poll_duration`; `0` between polls |
//! | `vigil_service_instance_age_seconds` | gauge | s | `age` |
//! | `vigil_service_instance_slow_polls_total`, `_fast_polls_total` | counter | polls | with `SlowPolls` |
//! | `vigil_service_instance_slow_poll_nanoseconds_total`, `_fast_poll_nanoseconds_total` | counter | ns | with `SlowPolls` |
//! | `vigil_service_instance_scheduled_polls_total`, `_idle_periods_total` | counter | count | with `Scheduling` |
//! | `vigil_service_instance_scheduling_delay_nanoseconds_total`, `_idle_nanoseconds_total` | counter | ns | with `Scheduling` |
//! | `vigil_service_instance_scheduling_delay_max_seconds`, `_idle_max_seconds`, `_first_poll_delay_seconds` | gauge | s | with `Scheduling` (the last absent until the first poll) |
//! | `vigil_service_instance_poll_duration_nanoseconds_bucket{le}`, `_count`, `_sum` | counter | polls, ns | with `PollHistograms`: the histogram (below) |
//! | `vigil_service_instance_poll_duration_max_seconds` | gauge | s | with `PollHistograms` |
//!
//! # The histograms
//!
//! A `metrics` histogram takes individual samples, and a snapshot has none: it holds
//! [`PollHistogram`]'s fixed bucket counts. Re-recording fake samples would cost a call per
//! poll ever made. Instead the histograms (per name, and per instance when opted in) are
//! published in the layout of a Prometheus histogram: one counter per bucket with the
//! label `le` = the bucket's upper bound in nanoseconds (`"256"`, ... , `"1073741824"`,
//! `"+Inf"`), cumulative; `_count` and `_sum`. `_sum` is exact, not estimated from the
//! buckets: the busy time of the completed polls (the default monitor's busy time minus
//! the polls in progress; per name, of every instance ever started), read just before or
//! after the histogram, so under load it may disagree with `_count` by the polls that ended
//! in between. vigil's buckets are `[lower, upper)`: a poll of exactly `upper` ns is
//! counted in the next bucket.

use std::sync::OnceLock;
use std::time::Duration;

use ::metrics::{counter, describe_counter, describe_gauge, gauge, Label, Unit};
use vigil_monitor::{PollHistogram, SchedulingSnapshot, SlowPollSnapshot, HISTOGRAM_BUCKETS};

mod watched;

use crate::export::Granularity;
use crate::{ServiceGroupMetrics, ServiceId, ServiceMetrics, ServicesMetrics};

const STARTS: &str = "vigil_service_starts_total";
const RESTARTS: &str = "vigil_service_restarts_total";
const ENDINGS: &str = "vigil_service_endings_total";
const POLLS: &str = "vigil_service_polls_total";
const BUSY: &str = "vigil_service_busy_nanoseconds_total";
const INSTANCES: &str = "vigil_service_instances";
const IN_POLL: &str = "vigil_service_instances_in_poll";
const UTILIZATION_MAX: &str = "vigil_service_utilization_max_ratio";
const UTILIZATION_MEAN: &str = "vigil_service_utilization_mean_ratio";
const LONGEST_IN_POLL: &str = "vigil_service_longest_poll_in_flight_seconds";
const SLOW_POLL_SHARE: &str = "vigil_service_slow_polls_ratio";
const SLOW_POLL_THRESHOLD: &str = "vigil_service_slow_poll_threshold_seconds";
const POLL_DURATION_MAX: &str = "vigil_service_poll_duration_max_seconds";

const SCHEDULED_POLLS: &str = "vigil_service_scheduled_polls_total";
const SCHEDULING_DELAY: &str = "vigil_service_scheduling_delay_nanoseconds_total";
const SCHEDULING_DELAY_MAX: &str = "vigil_service_scheduling_delay_max_seconds";
const FIRST_POLLS: &str = "vigil_service_first_polls_total";
const FIRST_POLL_DELAY: &str = "vigil_service_first_poll_delay_nanoseconds_total";
const IDLE_PERIODS: &str = "vigil_service_idle_periods_total";
const IDLE: &str = "vigil_service_idle_nanoseconds_total";
const SLOW_POLLS: &str = "vigil_service_slow_polls_total";
const FAST_POLLS: &str = "vigil_service_fast_polls_total";
const POLL_DURATION: HistogramNames = HistogramNames {
    bucket: "vigil_service_poll_duration_nanoseconds_bucket",
    count: "vigil_service_poll_duration_nanoseconds_count",
    sum: "vigil_service_poll_duration_nanoseconds_sum",
};

const INSTANCE_POLLS: &str = "vigil_service_instance_polls_total";
const INSTANCE_BUSY: &str = "vigil_service_instance_busy_nanoseconds_total";
const INSTANCE_UTILIZATION: &str = "vigil_service_instance_utilization_ratio";
const INSTANCE_IN_POLL: &str = "vigil_service_instance_in_poll_seconds";
const INSTANCE_AGE: &str = "vigil_service_instance_age_seconds";

const INSTANCE_SLOW_POLLS: &str = "vigil_service_instance_slow_polls_total";
const INSTANCE_SLOW_POLL_BUSY: &str = "vigil_service_instance_slow_poll_nanoseconds_total";
const INSTANCE_FAST_POLLS: &str = "vigil_service_instance_fast_polls_total";
const INSTANCE_FAST_POLL_BUSY: &str = "vigil_service_instance_fast_poll_nanoseconds_total";

const INSTANCE_SCHEDULED_POLLS: &str = "vigil_service_instance_scheduled_polls_total";
const INSTANCE_SCHEDULING_DELAY: &str = "vigil_service_instance_scheduling_delay_nanoseconds_total";
const INSTANCE_SCHEDULING_DELAY_MAX: &str = "vigil_service_instance_scheduling_delay_max_seconds";
const INSTANCE_IDLE_PERIODS: &str = "vigil_service_instance_idle_periods_total";
const INSTANCE_IDLE: &str = "vigil_service_instance_idle_nanoseconds_total";
const INSTANCE_IDLE_MAX: &str = "vigil_service_instance_idle_max_seconds";
const INSTANCE_FIRST_POLL_DELAY: &str = "vigil_service_instance_first_poll_delay_seconds";

const INSTANCE_POLL_DURATION: HistogramNames = HistogramNames {
    bucket: "vigil_service_instance_poll_duration_nanoseconds_bucket",
    count: "vigil_service_instance_poll_duration_nanoseconds_count",
    sum: "vigil_service_instance_poll_duration_nanoseconds_sum",
};
const INSTANCE_POLL_DURATION_MAX: &str = "vigil_service_instance_poll_duration_max_seconds";

/// The names of the three counter families a histogram is published as.
struct HistogramNames {
    bucket: &'static str,
    count: &'static str,
    sum: &'static str,
}

/// Registers the unit and description of every series [`publish`] and [`publish_with`]
/// write with the recorder in scope.
///
/// Call it once after installing the recorder (recorders keep descriptions by name, so
/// calling it again is harmless). Publishing works without it; exporters then show no help
/// text or unit.
pub fn describe() {
    let counters = [
        (STARTS, Unit::Count, "Instances of the service ever started."),
        (RESTARTS, Unit::Count, "Restarts of the service counted by a supervisor."),
        (
            ENDINGS,
            Unit::Count,
            "Instances of the service that ended, by outcome: completed, failed, panicked, cancelled.",
        ),
        (
            POLLS,
            Unit::Count,
            "Completed polls of every instance of the service, ended ones included.",
        ),
        (
            BUSY,
            Unit::Nanoseconds,
            "Time spent inside poll by every instance of the service, ended ones and polls in flight included.",
        ),
        (INSTANCE_POLLS, Unit::Count, "Completed polls of the instance."),
        (
            INSTANCE_BUSY,
            Unit::Nanoseconds,
            "Time spent inside poll since the instance started, including a poll in progress.",
        ),
        (
            INSTANCE_SLOW_POLLS,
            Unit::Count,
            "Polls of the instance longer than the slow-poll threshold.",
        ),
        (
            INSTANCE_SLOW_POLL_BUSY,
            Unit::Nanoseconds,
            "Time the instance spent in slow polls.",
        ),
        (
            INSTANCE_FAST_POLLS,
            Unit::Count,
            "Polls of the instance not longer than the slow-poll threshold.",
        ),
        (
            INSTANCE_FAST_POLL_BUSY,
            Unit::Nanoseconds,
            "Time the instance spent in fast polls.",
        ),
        (
            INSTANCE_SCHEDULED_POLLS,
            Unit::Count,
            "Polls of the instance that followed a wake.",
        ),
        (
            INSTANCE_SCHEDULING_DELAY,
            Unit::Nanoseconds,
            "Sum of the instance's scheduling delays: from a wake to the start of the poll it led to.",
        ),
        (
            INSTANCE_IDLE_PERIODS,
            Unit::Count,
            "Idle periods of the instance ended by a wake.",
        ),
        (
            INSTANCE_IDLE,
            Unit::Nanoseconds,
            "Sum of the instance's idle periods: from a poll's end to the first wake after it.",
        ),
        (
            INSTANCE_POLL_DURATION.bucket,
            Unit::Count,
            "Polls of the instance shorter than the bucket's upper bound `le` (nanoseconds), cumulative.",
        ),
        (
            INSTANCE_POLL_DURATION.count,
            Unit::Count,
            "Polls in the instance's poll-duration histogram.",
        ),
        (
            INSTANCE_POLL_DURATION.sum,
            Unit::Nanoseconds,
            "Time the instance spent in its completed polls.",
        ),
        (
            SCHEDULED_POLLS,
            Unit::Count,
            "Polls that followed a wake, of every instance of the service, ended ones included.",
        ),
        (
            SCHEDULING_DELAY,
            Unit::Nanoseconds,
            "Sum of the scheduling delays (from a wake to the start of the poll it led to) of every instance of the service.",
        ),
        (
            FIRST_POLLS,
            Unit::Count,
            "Instances of the service that have been polled at least once.",
        ),
        (
            FIRST_POLL_DELAY,
            Unit::Nanoseconds,
            "Sum of the delays from an instance's start to its first poll, over every instance of the service polled at least once.",
        ),
        (
            IDLE_PERIODS,
            Unit::Count,
            "Idle periods ended by a wake, of every instance of the service.",
        ),
        (
            IDLE,
            Unit::Nanoseconds,
            "Sum of the idle periods (from a poll's end to the first wake after it) of every instance of the service.",
        ),
        (
            POLL_DURATION.bucket,
            Unit::Count,
            "Polls of every instance of the service shorter than the bucket's upper bound `le` (nanoseconds), cumulative, ended instances included.",
        ),
        (
            POLL_DURATION.count,
            Unit::Count,
            "Polls in the service's lifetime poll-duration histogram.",
        ),
        (
            POLL_DURATION.sum,
            Unit::Nanoseconds,
            "Time every instance of the service spent in its completed polls.",
        ),
        (
            SLOW_POLLS,
            Unit::Count,
            "Polls longer than the slow-poll threshold, of every instance of the service, ended ones included.",
        ),
        (
            FAST_POLLS,
            Unit::Count,
            "Polls not longer than the slow-poll threshold, of every instance of the service, ended ones included.",
        ),
    ];
    for (name, unit, help) in counters {
        describe_counter!(name, unit, help);
    }
    let gauges = [
        (INSTANCES, Some(Unit::Count), "Live instances of the service."),
        (
            IN_POLL,
            Some(Unit::Count),
            "Live instances of the service inside a poll now.",
        ),
        (
            UTILIZATION_MAX,
            None,
            "Highest utilization of a live instance over the registry's window, 0 to 1.",
        ),
        (
            UTILIZATION_MEAN,
            None,
            "Mean utilization of the live instances over the registry's window, 0 to 1.",
        ),
        (
            LONGEST_IN_POLL,
            Some(Unit::Seconds),
            "How long the longest poll in progress has been running; 0 if no instance is inside a poll.",
        ),
        (
            SLOW_POLL_SHARE,
            None,
            "Share of the live instances' completed polls that were slower than the threshold, 0 to 1.",
        ),
        (
            SLOW_POLL_THRESHOLD,
            Some(Unit::Seconds),
            "A poll is slow if it lasts strictly longer than this.",
        ),
        (
            SCHEDULING_DELAY_MAX,
            Some(Unit::Seconds),
            "The longest scheduling delay of any instance of the service, ended ones included.",
        ),
        (
            POLL_DURATION_MAX,
            Some(Unit::Seconds),
            "The longest poll of a live instance.",
        ),
        (
            INSTANCE_UTILIZATION,
            None,
            "Share of the registry's utilization window the instance spent inside poll, 0 to 1.",
        ),
        (
            INSTANCE_IN_POLL,
            Some(Unit::Seconds),
            "How long the instance's poll in progress has been running; 0 between polls.",
        ),
        (INSTANCE_AGE, Some(Unit::Seconds), "Time since the instance started."),
        (
            INSTANCE_SCHEDULING_DELAY_MAX,
            Some(Unit::Seconds),
            "The instance's longest scheduling delay.",
        ),
        (
            INSTANCE_IDLE_MAX,
            Some(Unit::Seconds),
            "The instance's longest idle period.",
        ),
        (
            INSTANCE_FIRST_POLL_DELAY,
            Some(Unit::Seconds),
            "From the instance's start to the start of its first poll.",
        ),
        (
            INSTANCE_POLL_DURATION_MAX,
            Some(Unit::Seconds),
            "The instance's longest poll.",
        ),
    ];
    // Ratios have no `metrics::Unit`: their names end in `_ratio`.
    for (name, unit, help) in gauges {
        match unit {
            Some(unit) => describe_gauge!(name, unit, help),
            None => describe_gauge!(name, help),
        }
    }
    watched::describe();
}

/// Publishes `snapshot` to the recorder in scope, one set of series per service name.
///
/// Same as [`publish_with`] with [`Granularity::PerName`]. Counters are set to the
/// registry's lifetime values with [`absolute`](::metrics::Counter::absolute), gauges are
/// set; see the [module docs](self) for the names. Call it periodically.
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
/// let starts = snapshotter.snapshot().into_vec().into_iter().find_map(|(key, _, _, value)| {
///     (key.key().name() == "vigil_service_starts_total").then_some(value)
/// });
/// assert_eq!(starts, Some(DebugValue::Counter(1)));
/// ```
pub fn publish(snapshot: &ServicesMetrics) {
    publish_with(snapshot, Granularity::PerName);
}

/// Publishes `snapshot` to the recorder in scope, with per-instance series as `granularity`
/// asks (see the [module docs](self) for what happens to the series of ended instances).
pub fn publish_with(snapshot: &ServicesMetrics, granularity: Granularity) {
    let groups: Vec<ServiceGroupMetrics> = snapshot.groups().collect();
    for group in &groups {
        publish_group(group);
        publish_lifetime(snapshot, group);
        if let Some(mailbox) = &group.mailbox {
            watched::publish_mailbox(group.name, mailbox);
        }
    }
    for runtime in snapshot.runtimes() {
        watched::publish_runtime(runtime);
    }
    for (id, metrics) in granularity.exported_instances(snapshot, &groups) {
        publish_instance(id, &metrics);
    }
}

/// Publishes one name's series.
fn publish_group(group: &ServiceGroupMetrics) {
    let labels = [Label::new("service", group.name)];
    counter!(STARTS, labels.iter()).absolute(group.starts);
    counter!(RESTARTS, labels.iter()).absolute(group.restarts);
    for (outcome, count) in group.endings.by_outcome() {
        let outcome_labels = [
            Label::new("service", group.name),
            Label::new("outcome", outcome),
        ];
        counter!(ENDINGS, outcome_labels.iter()).absolute(count);
    }
    counter!(POLLS, labels.iter()).absolute(group.poll_count);
    counter!(BUSY, labels.iter()).absolute(nanos(group.total_busy_duration));
    gauge!(INSTANCES, labels.iter()).set(group.instances as f64);
    gauge!(IN_POLL, labels.iter()).set(group.in_poll as f64);
    gauge!(UTILIZATION_MAX, labels.iter()).set(f64::from(group.max_utilization) / 100.0);
    gauge!(UTILIZATION_MEAN, labels.iter()).set(group.mean_utilization / 100.0);
    gauge!(LONGEST_IN_POLL, labels.iter())
        .set(group.longest_in_poll.unwrap_or_default().as_secs_f64());
    if let Some(slow_polls) = &group.slow_polls {
        let all = slow_polls
            .slow_poll_count
            .saturating_add(slow_polls.fast_poll_count);
        let share = if all == 0 {
            0.0
        } else {
            slow_polls.slow_poll_count as f64 / all as f64
        };
        gauge!(SLOW_POLL_SHARE, labels.iter()).set(share);
        gauge!(SLOW_POLL_THRESHOLD, labels.iter()).set(slow_polls.threshold.as_secs_f64());
    }
    if let Some(histogram) = &group.poll_histogram {
        gauge!(POLL_DURATION_MAX, labels.iter()).set(histogram.max.as_secs_f64());
    }
}

/// Publishes one name's lifetime figures of the attached monitors: scheduling counters,
/// the poll-duration histogram, slow and fast polls.
fn publish_lifetime(snapshot: &ServicesMetrics, group: &ServiceGroupMetrics) {
    let labels = [Label::new("service", group.name)];
    if let Some(scheduling) = &group.scheduling {
        counter!(SCHEDULED_POLLS, labels.iter()).absolute(scheduling.scheduled_count);
        counter!(SCHEDULING_DELAY, labels.iter())
            .absolute(nanos(scheduling.total_scheduling_delay));
        gauge!(SCHEDULING_DELAY_MAX, labels.iter())
            .set(scheduling.max_scheduling_delay.as_secs_f64());
        counter!(FIRST_POLLS, labels.iter()).absolute(scheduling.first_polls);
        counter!(FIRST_POLL_DELAY, labels.iter())
            .absolute(nanos(scheduling.total_first_poll_delay));
        counter!(IDLE_PERIODS, labels.iter()).absolute(scheduling.idle_count);
        counter!(IDLE, labels.iter()).absolute(nanos(scheduling.total_idle_duration));
    }
    if let Some(histogram) = &group.lifetime_poll_histogram {
        let sum = crate::export::completed_busy_of_name(snapshot, group);
        publish_histogram(&POLL_DURATION, &labels, histogram, sum);
    }
    if let Some(slow_polls) = &group.lifetime_slow_polls {
        counter!(SLOW_POLLS, labels.iter()).absolute(slow_polls.slow_poll_count);
        counter!(FAST_POLLS, labels.iter()).absolute(slow_polls.fast_poll_count);
    }
}

/// Publishes one instance's series.
fn publish_instance(id: ServiceId, metrics: &ServiceMetrics) {
    let labels = [
        Label::new("service", id.name()),
        Label::new("instance_id", id.instance_id().to_string()),
    ];
    counter!(INSTANCE_POLLS, labels.iter()).absolute(metrics.poll_count);
    counter!(INSTANCE_BUSY, labels.iter()).absolute(nanos(metrics.total_busy_duration));
    gauge!(INSTANCE_UTILIZATION, labels.iter()).set(f64::from(metrics.utilization) / 100.0);
    gauge!(INSTANCE_IN_POLL, labels.iter()).set(
        metrics
            .current_poll_duration
            .unwrap_or_default()
            .as_secs_f64(),
    );
    gauge!(INSTANCE_AGE, labels.iter()).set(metrics.age.as_secs_f64());

    if let Some(slow_polls) = &metrics.slow_polls {
        publish_slow_polls(&labels, slow_polls);
    }
    if let Some(scheduling) = &metrics.scheduling {
        publish_scheduling(&labels, scheduling);
    }
    if let Some(histogram) = &metrics.poll_histogram {
        let sum = crate::export::completed_busy_duration(metrics);
        publish_histogram(&INSTANCE_POLL_DURATION, &labels, histogram, sum);
        gauge!(INSTANCE_POLL_DURATION_MAX, labels.iter()).set(histogram.max.as_secs_f64());
    }
}

fn publish_slow_polls(labels: &[Label], slow_polls: &SlowPollSnapshot) {
    counter!(INSTANCE_SLOW_POLLS, labels.iter()).absolute(slow_polls.slow_poll_count);
    counter!(INSTANCE_SLOW_POLL_BUSY, labels.iter())
        .absolute(nanos(slow_polls.total_slow_poll_duration));
    counter!(INSTANCE_FAST_POLLS, labels.iter()).absolute(slow_polls.fast_poll_count);
    counter!(INSTANCE_FAST_POLL_BUSY, labels.iter())
        .absolute(nanos(slow_polls.total_fast_poll_duration));
}

fn publish_scheduling(labels: &[Label], scheduling: &SchedulingSnapshot) {
    counter!(INSTANCE_SCHEDULED_POLLS, labels.iter()).absolute(scheduling.scheduled_count);
    counter!(INSTANCE_SCHEDULING_DELAY, labels.iter())
        .absolute(nanos(scheduling.total_scheduling_delay));
    gauge!(INSTANCE_SCHEDULING_DELAY_MAX, labels.iter())
        .set(scheduling.max_scheduling_delay.as_secs_f64());
    counter!(INSTANCE_IDLE_PERIODS, labels.iter()).absolute(scheduling.idle_count);
    counter!(INSTANCE_IDLE, labels.iter()).absolute(nanos(scheduling.total_idle_duration));
    gauge!(INSTANCE_IDLE_MAX, labels.iter()).set(scheduling.max_idle_duration.as_secs_f64());
    if let Some(first_poll_delay) = scheduling.first_poll_delay {
        gauge!(INSTANCE_FIRST_POLL_DELAY, labels.iter()).set(first_poll_delay.as_secs_f64());
    }
}

/// Publishes `histogram` in the layout of a Prometheus histogram under `names`: cumulative
/// buckets labelled `le`, its count, and `sum`.
fn publish_histogram(
    names: &HistogramNames,
    labels: &[Label],
    histogram: &PollHistogram,
    sum: Duration,
) {
    let mut cumulative = 0_u64;
    for (count, le) in histogram.buckets.iter().zip(bucket_labels()) {
        cumulative = cumulative.saturating_add(*count);
        let mut bucket_labels = labels.to_vec();
        bucket_labels.push(Label::new("le", le.as_str()));
        counter!(names.bucket, bucket_labels).absolute(cumulative);
    }
    counter!(names.count, labels.iter()).absolute(histogram.count());
    counter!(names.sum, labels.iter()).absolute(nanos(sum));
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
