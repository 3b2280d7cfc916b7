//! `vigil::export::metrics`: names, labels, units and values through a real `metrics` recorder.

mod export_fixture;

use std::collections::BTreeMap;
use std::time::Duration;

use metrics::Unit;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;
use vigil::export::metrics::{describe, publish};
use vigil::monitor::{MockClock, PollHistogram, HISTOGRAM_BUCKETS};
use vigil::{Registry, ServiceObj, ServicesMetrics};

use export_fixture::{expected, Fixture, SLOW_POLL_THRESHOLD, SNAPSHOT_AT};

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
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap()
}

#[test]
fn the_fixture_reads_the_scripted_figures() {
    export_fixture::assert_snapshot_reads_the_scripted_figures(&Fixture::new());
}

#[test]
fn publish_writes_every_instance_with_its_labels_and_exact_values() {
    let fixture = Fixture::new();
    let snapshot = fixture.registry.metrics();
    let recorded = Recorded::capture(|| publish(&snapshot));

    let bounds = PollHistogram::bucket_bounds();
    for (service, instance, expected) in expected() {
        let instance = instance.to_string();
        let labels = [("service", service), ("instance", instance.as_str())];
        let labels = &labels[..];
        let id = format!("{service}#{instance}");

        assert_eq!(
            recorded.counter("vigil_service_polls_total", labels),
            expected.polls,
            "{id}"
        );
        assert_eq!(
            recorded.counter("vigil_service_busy_nanoseconds_total", labels),
            nanos(expected.busy),
            "{id}"
        );
        assert_eq!(
            recorded.gauge("vigil_service_utilization_percent", labels),
            f64::from(expected.utilization),
            "{id}"
        );
        assert_eq!(
            recorded.gauge("vigil_service_in_poll_seconds", labels),
            expected.in_poll.as_secs_f64(),
            "{id}"
        );
        assert_eq!(
            recorded.gauge("vigil_service_age_seconds", labels),
            SNAPSHOT_AT.as_secs_f64(),
            "{id}"
        );

        assert_eq!(
            recorded.counter("vigil_service_slow_polls_total", labels),
            expected.slow_polls
        );
        assert_eq!(
            recorded.counter("vigil_service_slow_poll_nanoseconds_total", labels),
            nanos(expected.slow_poll_time)
        );
        assert_eq!(
            recorded.counter("vigil_service_fast_polls_total", labels),
            expected.fast_polls
        );
        assert_eq!(
            recorded.counter("vigil_service_fast_poll_nanoseconds_total", labels),
            nanos(expected.fast_poll_time)
        );
        assert_eq!(
            recorded.gauge("vigil_service_slow_poll_threshold_seconds", labels),
            SLOW_POLL_THRESHOLD.as_secs_f64()
        );

        assert_eq!(
            recorded.counter("vigil_service_scheduled_polls_total", labels),
            expected.scheduled_polls,
            "{id}"
        );
        assert_eq!(
            recorded.counter("vigil_service_scheduling_delay_nanoseconds_total", labels),
            nanos(expected.scheduling_delay),
            "{id}"
        );
        assert_eq!(
            recorded.gauge("vigil_service_scheduling_delay_max_seconds", labels),
            expected.scheduling_delay_max.as_secs_f64(),
            "{id}"
        );
        assert_eq!(
            recorded.counter("vigil_service_idle_periods_total", labels),
            expected.idle_periods,
            "{id}"
        );
        assert_eq!(
            recorded.counter("vigil_service_idle_nanoseconds_total", labels),
            nanos(expected.idle_time),
            "{id}"
        );
        assert_eq!(
            recorded.gauge("vigil_service_idle_max_seconds", labels),
            expected.idle_max.as_secs_f64(),
            "{id}"
        );
        assert_eq!(
            recorded.gauge("vigil_service_first_poll_delay_seconds", labels),
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
                    "vigil_service_poll_duration_nanoseconds_bucket",
                    &bucket_labels
                ),
                cumulative,
                "{id} le={le}"
            );
        }
        assert_eq!(
            recorded.counter("vigil_service_poll_duration_nanoseconds_count", labels),
            expected.polls
        );
        // The sum covers completed polls: the stuck poll in progress is not in it.
        assert_eq!(
            recorded.counter("vigil_service_poll_duration_nanoseconds_sum", labels),
            nanos(expected.busy - expected.in_poll),
            "{id}"
        );
        assert_eq!(
            recorded.gauge("vigil_service_poll_duration_max_seconds", labels),
            expected.poll_duration_max.as_secs_f64(),
            "{id}"
        );
    }

    // Quantile estimates: the bucket's upper bound, clamped to the max.
    let worker = [("service", "worker"), ("instance", "0")];
    for quantile in ["0.5", "0.9", "0.99"] {
        let mut labels = worker.to_vec();
        labels.push(("quantile", quantile));
        assert_eq!(
            recorded.gauge("vigil_service_poll_duration_quantile_seconds", &labels),
            0.004,
            "worker p{quantile}"
        );
    }
    let mut idle_median = vec![("service", "idle"), ("instance", "1"), ("quantile", "0.5")];
    assert_eq!(
        recorded.gauge("vigil_service_poll_duration_quantile_seconds", &idle_median),
        0.0
    );
    idle_median[2].1 = "0.75";
    assert!(recorded
        .get("vigil_service_poll_duration_quantile_seconds", &idle_median)
        .is_none());

    // Per instance: 5 default + 5 slow-poll + 7 scheduling + 24 buckets, count, sum, max and 3
    // quantiles, no other series.
    assert_eq!(
        recorded.values.len(),
        4 * (5 + 5 + 7 + HISTOGRAM_BUCKETS + 6)
    );
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
    let worker = [("service", "worker"), ("instance", "0")];
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
        publish(&fixture.registry.metrics());
    });
    let expectations = [
        ("vigil_service_polls_total", Unit::Count),
        ("vigil_service_busy_nanoseconds_total", Unit::Nanoseconds),
        ("vigil_service_utilization_percent", Unit::Percent),
        ("vigil_service_in_poll_seconds", Unit::Seconds),
        (
            "vigil_service_scheduling_delay_nanoseconds_total",
            Unit::Nanoseconds,
        ),
        (
            "vigil_service_poll_duration_nanoseconds_bucket",
            Unit::Count,
        ),
        (
            "vigil_service_poll_duration_nanoseconds_sum",
            Unit::Nanoseconds,
        ),
    ];
    for (name, unit) in expectations {
        assert_eq!(recorded.units[name], Some(unit), "{name}");
    }
    // Every series published has a unit: nothing was left undescribed.
    for (name, unit) in &recorded.units {
        assert!(unit.is_some(), "{name} is not described");
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
    let recorded = Recorded::capture(|| publish(&registry.metrics()));
    assert_eq!(
        recorded.names_of("plain", "0"),
        [
            "vigil_service_age_seconds",
            "vigil_service_busy_nanoseconds_total",
            "vigil_service_in_poll_seconds",
            "vigil_service_polls_total",
            "vigil_service_utilization_percent",
        ]
    );
    let labels = [("service", "plain"), ("instance", "0")];
    assert_eq!(recorded.gauge("vigil_service_age_seconds", &labels), 0.002);
    assert_eq!(recorded.counter("vigil_service_polls_total", &labels), 0);
}

#[test]
fn ended_instances_are_no_longer_published() {
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
    let _staying = registry.start_in(
        runtime.handle(),
        ServiceObj::new("staying", std::future::pending()),
    );

    let before = Recorded::capture(|| publish(&registry.metrics()));
    assert!(!before.names_of("ending", "0").is_empty());

    stop.send(()).unwrap();
    runtime.block_on(ending).unwrap();
    let after = Recorded::capture(|| publish(&registry.metrics()));
    assert!(after.names_of("ending", "0").is_empty());
    assert!(!after.names_of("staying", "0").is_empty());
}

#[test]
fn an_empty_snapshot_publishes_nothing() {
    let recorded = Recorded::capture(|| publish(&ServicesMetrics::default()));
    assert!(recorded.values.is_empty());
}
