//! `vigil::export::metrics`: names, labels, units and values through a real `metrics` recorder.

mod export_fixture;

use std::collections::BTreeMap;
use std::time::Duration;

use metrics::Unit;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;
use vigil::export::metrics::{describe, publish, publish_with};
use vigil::export::Granularity;
use vigil::monitor::{MockClock, PollHistogram, HISTOGRAM_BUCKETS};
use vigil::{Registry, ServiceObj, ServicesMetrics};

use export_fixture::{expected, expected_groups, Fixture, SLOW_POLL_THRESHOLD, SNAPSHOT_AT};

/// One recorded series: name and sorted labels.
type SeriesKey = export_fixture::SeriesKey;

/// What a recorder saw: value, unit and description of every series.
struct Recorded {
    values: BTreeMap<SeriesKey, (MetricKind, DebugValue)>,
    units: BTreeMap<String, Option<Unit>>,
}

impl Recorded {
    /// Runs `f` with a fresh debugging recorder as the thread's recorder.
    fn capture(f: impl FnOnce()) -> Self {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, f);
        let mut values = BTreeMap::new();
        let mut units = BTreeMap::new();
        for (key, unit, _description, value) in snapshotter.snapshot().into_vec() {
            let (kind, key) = key.into_parts();
            let name = key.name().to_owned();
            let labels = key
                .labels()
                .map(|label| (label.key().to_owned(), label.value().to_owned()))
                .collect();
            units.insert(name.clone(), unit);
            let previous = values.insert((name, labels), (kind, value));
            assert!(previous.is_none(), "one series per name and labels");
        }
        Self { values, units }
    }

    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<&(MetricKind, DebugValue)> {
        let labels = labels
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        self.values.get(&(name.to_owned(), labels))
    }

    #[track_caller]
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        match self.get(name, labels) {
            Some((MetricKind::Counter, DebugValue::Counter(value))) => *value,
            other => panic!("{name} {labels:?}: expected a counter, found {other:?}"),
        }
    }

    #[track_caller]
    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.get(name, labels) {
            Some((MetricKind::Gauge, DebugValue::Gauge(value))) => value.into_inner(),
            other => panic!("{name} {labels:?}: expected a gauge, found {other:?}"),
        }
    }

    /// Names recorded for the instance `service#instance`.
    fn names_of(&self, service: &str, instance: &str) -> Vec<&str> {
        export_fixture::names_of(&self.values, service, instance)
    }

    /// Names recorded for the service name alone.
    fn names_of_service(&self, service: &str) -> Vec<&str> {
        export_fixture::names_of_service(&self.values, service)
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap()
}

/// Per-name series per name: starts, restarts, 4 endings, polls, busy, instances, in poll,
/// utilization max and mean, longest poll in flight; slow-poll share and threshold; the
/// max; 7 lifetime scheduling figures; the lifetime histogram (24 buckets, count, sum);
/// lifetime slow and fast polls.
const SERIES_PER_NAME: usize = 13 + 2 + 1 + 7 + HISTOGRAM_BUCKETS + 2 + 2;

/// Per-instance series per instance: 5 default + 4 slow-poll + 7 scheduling + 24 buckets,
/// count, sum and max.
const SERIES_PER_INSTANCE: usize = 5 + 4 + 7 + HISTOGRAM_BUCKETS + 3;

#[test]
fn the_fixture_reads_the_scripted_figures() {
    export_fixture::assert_snapshot_reads_the_scripted_figures(&Fixture::new());
}

/// Checks the fixture's per-name series.
#[track_caller]
fn assert_per_name_series(recorded: &Recorded) {
    for group in expected_groups() {
        let name = group.name;
        let labels = [("service", name)];
        let labels = &labels[..];
        assert_eq!(
            recorded.counter("vigil_service_starts_total", labels),
            group.instances
        );
        assert_eq!(recorded.counter("vigil_service_restarts_total", labels), 0);
        for outcome in ["completed", "failed", "panicked", "cancelled"] {
            let labels = [("service", name), ("outcome", outcome)];
            assert_eq!(recorded.counter("vigil_service_endings_total", &labels), 0);
        }
        assert_eq!(
            recorded.counter("vigil_service_polls_total", labels),
            group.polls,
            "{name}"
        );
        assert_eq!(
            recorded.counter("vigil_service_busy_nanoseconds_total", labels),
            nanos(group.busy),
            "{name}"
        );
        assert_eq!(
            recorded.gauge("vigil_service_instances", labels),
            group.instances as f64
        );
        assert_eq!(
            recorded.gauge("vigil_service_instances_in_poll", labels),
            group.in_poll as f64
        );
        assert_eq!(
            recorded.gauge("vigil_service_utilization_max_ratio", labels),
            f64::from(group.max_utilization) / 100.0
        );
        assert_eq!(
            recorded.gauge("vigil_service_utilization_mean_ratio", labels),
            group.mean_utilization / 100.0
        );
        assert_eq!(
            recorded.gauge("vigil_service_longest_poll_in_flight_seconds", labels),
            group.longest_in_poll.as_secs_f64(),
            "{name}"
        );
        assert_eq!(
            recorded.gauge("vigil_service_slow_polls_ratio", labels),
            group.slow_poll_share,
            "{name}"
        );
        assert_eq!(
            recorded.gauge("vigil_service_slow_poll_threshold_seconds", labels),
            SLOW_POLL_THRESHOLD.as_secs_f64()
        );
        assert_eq!(
            recorded.gauge("vigil_service_poll_duration_max_seconds", labels),
            group.poll_duration_max.as_secs_f64()
        );
        let counters = [
            ("vigil_service_scheduled_polls_total", group.scheduled_polls),
            (
                "vigil_service_scheduling_delay_nanoseconds_total",
                nanos(group.scheduling_delay),
            ),
            ("vigil_service_first_polls_total", group.first_polls),
            (
                "vigil_service_first_poll_delay_nanoseconds_total",
                nanos(group.first_poll_delay),
            ),
            ("vigil_service_idle_periods_total", group.idle_periods),
            (
                "vigil_service_idle_nanoseconds_total",
                nanos(group.idle_time),
            ),
            ("vigil_service_slow_polls_total", group.slow_polls),
            ("vigil_service_fast_polls_total", group.fast_polls),
            ("vigil_service_poll_duration_nanoseconds_count", group.polls),
            (
                "vigil_service_poll_duration_nanoseconds_sum",
                nanos(group.completed_busy),
            ),
        ];
        for (series, expected) in counters {
            assert_eq!(
                recorded.counter(series, labels),
                expected,
                "{name} {series}"
            );
        }
        assert_eq!(
            recorded.gauge("vigil_service_scheduling_delay_max_seconds", labels),
            group.scheduling_delay_max.as_secs_f64(),
            "{name}"
        );
        for (upper, cumulative) in group.cumulative_buckets() {
            let le = if upper == Duration::MAX {
                "+Inf".to_owned()
            } else {
                upper.as_nanos().to_string()
            };
            let labels = [("service", name), ("le", le.as_str())];
            assert_eq!(
                recorded.counter("vigil_service_poll_duration_nanoseconds_bucket", &labels),
                cumulative,
                "{name} le={le}"
            );
        }
    }
    for (_, labels) in recorded.values.keys() {
        assert!(!labels.contains_key("instance") && !labels.contains_key("job"));
    }
}

#[test]
fn publish_writes_one_set_of_series_per_name() {
    let fixture = Fixture::new();
    let snapshot = fixture.registry.metrics();
    let recorded = Recorded::capture(|| publish(&snapshot));
    assert_per_name_series(&recorded);
    assert_eq!(recorded.values.len(), 3 * SERIES_PER_NAME);
}

#[test]
fn publish_with_per_instance_adds_every_instance_with_exact_values() {
    let fixture = Fixture::new();
    let snapshot = fixture.registry.metrics();
    let recorded = Recorded::capture(|| publish_with(&snapshot, Granularity::per_instance(10)));
    assert_per_name_series(&recorded);

    let bounds = PollHistogram::bucket_bounds();
    for (service, instance, expected) in expected() {
        let instance = instance.to_string();
        let labels = [("service", service), ("instance_id", instance.as_str())];
        let labels = &labels[..];
        let id = format!("{service}#{instance}");

        assert_eq!(
            recorded.counter("vigil_service_instance_polls_total", labels),
            expected.polls,
            "{id}"
        );
        assert_eq!(
            recorded.counter("vigil_service_instance_busy_nanoseconds_total", labels),
            nanos(expected.busy),
            "{id}"
        );
        assert_eq!(
            recorded.gauge("vigil_service_instance_utilization_ratio", labels),
            f64::from(expected.utilization) / 100.0,
            "{id}"
        );
        assert_eq!(
            recorded.gauge("vigil_service_instance_in_poll_seconds", labels),
            expected.in_poll.as_secs_f64(),
            "{id}"
        );
        assert_eq!(
            recorded.gauge("vigil_service_instance_age_seconds", labels),
            SNAPSHOT_AT.as_secs_f64(),
            "{id}"
        );

        assert_eq!(
            recorded.counter("vigil_service_instance_slow_polls_total", labels),
            expected.slow_polls
        );
        assert_eq!(
            recorded.counter("vigil_service_instance_slow_poll_nanoseconds_total", labels),
            nanos(expected.slow_poll_time)
        );
        assert_eq!(
            recorded.counter("vigil_service_instance_fast_polls_total", labels),
            expected.fast_polls
        );
        assert_eq!(
            recorded.counter("vigil_service_instance_fast_poll_nanoseconds_total", labels),
            nanos(expected.fast_poll_time)
        );

        assert_eq!(
            recorded.counter("vigil_service_instance_scheduled_polls_total", labels),
            expected.scheduled_polls,
            "{id}"
        );
        assert_eq!(
            recorded.counter(
                "vigil_service_instance_scheduling_delay_nanoseconds_total",
                labels
            ),
            nanos(expected.scheduling_delay),
            "{id}"
        );
        assert_eq!(
            recorded.gauge(
                "vigil_service_instance_scheduling_delay_max_seconds",
                labels
            ),
            expected.scheduling_delay_max.as_secs_f64(),
            "{id}"
        );
        assert_eq!(
            recorded.counter("vigil_service_instance_idle_periods_total", labels),
            expected.idle_periods,
            "{id}"
        );
        assert_eq!(
            recorded.counter("vigil_service_instance_idle_nanoseconds_total", labels),
            nanos(expected.idle_time),
            "{id}"
        );
        assert_eq!(
            recorded.gauge("vigil_service_instance_idle_max_seconds", labels),
            expected.idle_max.as_secs_f64(),
            "{id}"
        );
        assert_eq!(
            recorded.gauge("vigil_service_instance_first_poll_delay_seconds", labels),
            expected.first_poll_delay.as_secs_f64(),
            "{id}"
        );

        // Buckets: cumulative, `le` = the upper bound in nanoseconds.
        let mut per_bucket = [0_u64; HISTOGRAM_BUCKETS];
        for &(index, count) in expected.buckets {
            per_bucket[index] = count;
        }
        let mut cumulative = 0;
        for (index, (_, upper)) in bounds.iter().enumerate() {
            cumulative += per_bucket[index];
            let le = if *upper == Duration::MAX {
                "+Inf".to_owned()
            } else {
                upper.as_nanos().to_string()
            };
            let mut bucket_labels = labels.to_vec();
            bucket_labels.push(("le", &le));
            assert_eq!(
                recorded.counter(
                    "vigil_service_instance_poll_duration_nanoseconds_bucket",
                    &bucket_labels
                ),
                cumulative,
                "{id} le={le}"
            );
        }
        assert_eq!(
            recorded.counter(
                "vigil_service_instance_poll_duration_nanoseconds_count",
                labels
            ),
            expected.polls
        );
        // The sum covers completed polls: the stuck poll in progress is not in it.
        assert_eq!(
            recorded.counter(
                "vigil_service_instance_poll_duration_nanoseconds_sum",
                labels
            ),
            nanos(expected.busy - expected.in_poll),
            "{id}"
        );
        assert_eq!(
            recorded.gauge("vigil_service_instance_poll_duration_max_seconds", labels),
            expected.poll_duration_max.as_secs_f64(),
            "{id}"
        );
    }
    assert_eq!(
        recorded.values.len(),
        3 * SERIES_PER_NAME + 4 * SERIES_PER_INSTANCE
    );

    // Capped: one instance per name.
    let capped = Recorded::capture(|| publish_with(&snapshot, Granularity::per_instance(1)));
    assert_eq!(
        capped.values.len(),
        3 * SERIES_PER_NAME + 3 * SERIES_PER_INSTANCE
    );
    assert!(capped.names_of("idle", "1").is_empty());
    assert!(!capped.names_of("idle", "0").is_empty());
}

#[test]
fn counters_are_set_to_cumulative_values_not_incremented() {
    let fixture = Fixture::new();
    let snapshot = fixture.registry.metrics();
    let recorded = Recorded::capture(|| {
        publish(&snapshot);
        publish(&snapshot);
        publish(&fixture.registry.metrics());
    });
    let worker = [("service", "worker")];
    assert_eq!(recorded.counter("vigil_service_polls_total", &worker), 3);
    assert_eq!(
        recorded.counter("vigil_service_busy_nanoseconds_total", &worker),
        nanos(Duration::from_millis(8))
    );
}

#[test]
fn describe_registers_units() {
    let fixture = Fixture::new();
    let recorded = Recorded::capture(|| {
        describe();
        publish_with(&fixture.registry.metrics(), Granularity::per_instance(1));
    });
    let expectations = [
        ("vigil_service_starts_total", Some(Unit::Count)),
        ("vigil_service_polls_total", Some(Unit::Count)),
        (
            "vigil_service_busy_nanoseconds_total",
            Some(Unit::Nanoseconds),
        ),
        (
            "vigil_service_longest_poll_in_flight_seconds",
            Some(Unit::Seconds),
        ),
        ("vigil_service_utilization_max_ratio", None),
        (
            "vigil_service_instance_in_poll_seconds",
            Some(Unit::Seconds),
        ),
        (
            "vigil_service_instance_scheduling_delay_nanoseconds_total",
            Some(Unit::Nanoseconds),
        ),
        (
            "vigil_service_instance_poll_duration_nanoseconds_bucket",
            Some(Unit::Count),
        ),
        (
            "vigil_service_instance_poll_duration_nanoseconds_sum",
            Some(Unit::Nanoseconds),
        ),
    ];
    for (name, unit) in expectations {
        assert_eq!(recorded.units[name], unit, "{name}");
    }
    // Every series published is described: a unit, or a name ending in `_ratio`.
    for (name, unit) in &recorded.units {
        assert!(
            unit.is_some() || name.ends_with("_ratio"),
            "{name} is not described"
        );
    }
}

#[test]
fn without_monitors_only_the_default_series_are_published() {
    let clock = MockClock::new();
    let registry = Registry::builder().clock(clock.clone()).build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _pending = registry.start_in(
        runtime.handle(),
        ServiceObj::new("plain", std::future::pending()),
    );
    clock.advance(Duration::from_millis(2));
    let recorded =
        Recorded::capture(|| publish_with(&registry.metrics(), Granularity::per_instance(1)));
    assert_eq!(
        recorded.names_of_service("plain"),
        [
            "vigil_service_busy_nanoseconds_total",
            "vigil_service_endings_total",
            "vigil_service_instances",
            "vigil_service_instances_in_poll",
            "vigil_service_longest_poll_in_flight_seconds",
            "vigil_service_polls_total",
            "vigil_service_restarts_total",
            "vigil_service_starts_total",
            "vigil_service_utilization_max_ratio",
            "vigil_service_utilization_mean_ratio",
        ]
    );
    assert_eq!(
        recorded.names_of("plain", "0"),
        [
            "vigil_service_instance_age_seconds",
            "vigil_service_instance_busy_nanoseconds_total",
            "vigil_service_instance_in_poll_seconds",
            "vigil_service_instance_polls_total",
            "vigil_service_instance_utilization_ratio",
        ]
    );
    let labels = [("service", "plain"), ("instance_id", "0")];
    assert_eq!(
        recorded.gauge("vigil_service_instance_age_seconds", &labels),
        0.002
    );
}

#[test]
fn ended_instances_leave_their_counters_to_their_name() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let registry = Registry::builder().clock(MockClock::new()).build();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let ending = registry.start_in(
        runtime.handle(),
        ServiceObj::new("ending", async move {
            let _ = stopped.await;
        }),
    );
    let granularity = Granularity::per_instance(10);
    let before = Recorded::capture(|| publish_with(&registry.metrics(), granularity));
    assert!(!before.names_of("ending", "0").is_empty());

    stop.send(()).unwrap();
    runtime.block_on(ending).unwrap();
    let after = Recorded::capture(|| publish_with(&registry.metrics(), granularity));
    assert!(after.names_of("ending", "0").is_empty());
    let name = [("service", "ending")];
    assert_eq!(after.gauge("vigil_service_instances", &name), 0.0);
    assert_eq!(after.counter("vigil_service_starts_total", &name), 1);
    assert_eq!(after.counter("vigil_service_polls_total", &name), 1);
    let completed = [("service", "ending"), ("outcome", "completed")];
    assert_eq!(after.counter("vigil_service_endings_total", &completed), 1);
}

#[test]
fn an_empty_snapshot_publishes_nothing() {
    let recorded = Recorded::capture(|| publish(&ServicesMetrics::default()));
    assert!(recorded.values.is_empty());
}

#[test]
fn runtimes_and_mailboxes_are_published() {
    let (runtime, registry, _probe) = export_fixture::watching(
        vigil::registry::MailboxSnapshot::new(64, 64, 1000, 936, 12, Duration::from_millis(2500)),
    );
    runtime.block_on(async {
        tokio::time::sleep(Duration::from_millis(10)).await;
    });
    let snapshot = registry.metrics();
    let recorded = Recorded::capture(|| {
        describe();
        publish(&snapshot);
    });
    let watched = snapshot.runtime("main").expect("watched");
    let main = [("runtime", "main")];
    assert_eq!(recorded.gauge("vigil_runtime_workers", &main), 2.0);
    assert_eq!(
        recorded.gauge("vigil_runtime_alive_tasks", &main),
        watched.alive_tasks as f64
    );
    assert_eq!(
        recorded.gauge("vigil_runtime_global_queue_depth", &main),
        watched.global_queue_depth as f64
    );
    for (index, worker) in watched.workers.iter().enumerate() {
        let index = index.to_string();
        let labels = [("runtime", "main"), ("worker", index.as_str())];
        assert_eq!(
            recorded.counter("vigil_runtime_worker_busy_nanoseconds_total", &labels),
            nanos(worker.busy)
        );
        assert_eq!(
            recorded.counter("vigil_runtime_worker_parks_total", &labels),
            worker.park_count
        );
        assert_eq!(
            recorded.counter("vigil_runtime_worker_park_unparks_total", &labels),
            worker.park_unpark_count
        );
    }
    let consumer = [("service", "consumer")];
    assert_eq!(recorded.gauge("vigil_mailbox_capacity", &consumer), 64.0);
    assert_eq!(recorded.gauge("vigil_mailbox_depth", &consumer), 64.0);
    assert_eq!(
        recorded.gauge("vigil_mailbox_oldest_wait_seconds", &consumer),
        2.5
    );
    assert_eq!(
        recorded.counter("vigil_mailbox_sent_total", &consumer),
        1000
    );
    assert_eq!(
        recorded.counter("vigil_mailbox_received_total", &consumer),
        936
    );
    assert_eq!(
        recorded.counter("vigil_mailbox_rejected_total", &consumer),
        12
    );
    assert_eq!(
        recorded.units["vigil_runtime_worker_busy_nanoseconds_total"],
        Some(Unit::Nanoseconds)
    );
    assert_eq!(
        recorded.units["vigil_mailbox_oldest_wait_seconds"],
        Some(Unit::Seconds)
    );
}
