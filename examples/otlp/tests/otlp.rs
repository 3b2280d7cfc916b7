//! vigil's series through the bridge and the OpenTelemetry SDK, read back from its in-memory exporter.
//!
//! The exporter receives the very `ResourceMetrics` an OTLP exporter would encode, so this
//! checks everything on the path but the protobuf encoding and the transport: names,
//! kinds, values, attributes, units, the scope and the resource.
//!
//! One test in this file on purpose: it installs the process's global `metrics` recorder,
//! as `main` does, which can be done once per process.

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use opentelemetry::{Key, KeyValue, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, Temporality};
use opentelemetry_sdk::Resource;
use vigil::monitor::MockClock;
use vigil::registry::PollHistograms;
use vigil::{Registry, ServiceObj};
use vigil_otlp_example::{install, meter_provider, METER_NAME};

/// The `service.name` of the test's resource.
const PROCESS: &str = "vigil-otlp-test";

/// How long each scripted poll of `worker` lasts on the mock clock, one per instance:
/// `worker#0` completes in its only poll, the others stay pending after theirs.
const POLLS: [Duration; 3] = [
    Duration::from_millis(2),
    Duration::from_millis(3),
    Duration::from_millis(1),
];

/// A registry on a mock clock with the poll-duration histogram attached, and the
/// current-thread runtime its services run on (only inside `block_on`).
struct Script {
    runtime: tokio::runtime::Runtime,
    clock: MockClock,
    registry: Arc<Registry<PollHistograms, MockClock>>,
}

impl Script {
    fn new() -> Self {
        let clock = MockClock::new();
        let registry = Arc::new(
            Registry::builder()
                .clock(clock.clone())
                .monitor(PollHistograms)
                .build(),
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime");
        Self {
            runtime,
            clock,
            registry,
        }
    }

    /// Starts `worker#instance`, lets it run its one poll of `POLLS[instance]`, and, for
    /// `worker#0`, waits for it to complete.
    fn run_worker(&self, instance: usize) {
        let (polled_tx, mut polled_rx) = tokio::sync::mpsc::unbounded_channel();
        let clock = self.clock.clone();
        let handle = self.registry.start_in(
            self.runtime.handle(),
            ServiceObj::new(
                "worker",
                std::future::poll_fn(move |_cx| {
                    clock.advance(POLLS[instance]);
                    polled_tx.send(()).expect("the test waits for this poll");
                    if instance == 0 {
                        Poll::Ready(())
                    } else {
                        // Never woken again: pending for the rest of the test.
                        Poll::Pending
                    }
                }),
            ),
        );
        self.runtime.block_on(async {
            polled_rx.recv().await.expect("the worker is polled");
        });
        if instance == 0 {
            self.runtime
                .block_on(handle)
                .expect("worker#0 completes in its first poll");
        }
    }
}

/// What one export carried: the metrics of the meter `vigil`.
struct Exported<'a>(Vec<&'a Metric>);

impl<'a> Exported<'a> {
    /// The metrics of the scope `vigil` in `resource_metrics`, checking the resource.
    fn of(resource_metrics: &'a ResourceMetrics) -> Self {
        assert_eq!(
            resource_metrics
                .resource()
                .get(&Key::new("service.name"))
                .map(|value| value.to_string()),
            Some(PROCESS.to_owned()),
            "the resource names the process"
        );
        let metrics: Vec<&Metric> = resource_metrics
            .scope_metrics()
            .filter(|scope| scope.scope().name() == METER_NAME)
            .flat_map(|scope| scope.metrics())
            .collect();
        assert!(
            !metrics.is_empty(),
            "the meter `{METER_NAME}` exported nothing"
        );
        Self(metrics)
    }

    #[track_caller]
    fn metric(&self, name: &str) -> &'a Metric {
        let found: Vec<&&Metric> = self.0.iter().filter(|m| m.name() == name).collect();
        match found[..] {
            [metric] => metric,
            [] => panic!(
                "{name}: not exported; exported: {:?}",
                self.0.iter().map(|m| m.name()).collect::<Vec<_>>()
            ),
            _ => panic!("{name}: exported {} times", found.len()),
        }
    }

    /// The value of the monotonic, cumulative `u64` sum `name` at exactly `attributes`.
    #[track_caller]
    fn sum(&self, name: &str, attributes: &[(&str, &str)]) -> u64 {
        let metric = self.metric(name);
        let AggregatedMetrics::U64(MetricData::Sum(sum)) = metric.data() else {
            panic!("{name}: expected a u64 sum, found {:?}", metric.data());
        };
        assert!(sum.is_monotonic(), "{name}: a counter is a monotonic sum");
        assert_eq!(sum.temporality(), Temporality::Cumulative, "{name}");
        let values: Vec<u64> = sum
            .data_points()
            .filter(|point| same_attributes(point.attributes(), attributes))
            .map(|point| point.value())
            .collect();
        match values[..] {
            [value] => value,
            _ => panic!("{name}{attributes:?}: {} data points", values.len()),
        }
    }

    /// The value of the `f64` gauge `name` at exactly `attributes`.
    #[track_caller]
    fn gauge(&self, name: &str, attributes: &[(&str, &str)]) -> f64 {
        let metric = self.metric(name);
        let AggregatedMetrics::F64(MetricData::Gauge(gauge)) = metric.data() else {
            panic!("{name}: expected an f64 gauge, found {:?}", metric.data());
        };
        let values: Vec<f64> = gauge
            .data_points()
            .filter(|point| same_attributes(point.attributes(), attributes))
            .map(|point| point.value())
            .collect();
        match values[..] {
            [value] => value,
            _ => panic!("{name}{attributes:?}: {} data points", values.len()),
        }
    }
}

/// Whether `attributes` are exactly `expected` (string values), in any order.
fn same_attributes<'a>(
    attributes: impl Iterator<Item = &'a KeyValue>,
    expected: &[(&str, &str)],
) -> bool {
    let mut actual: Vec<(String, String)> = attributes
        .map(|kv| {
            let Value::String(value) = &kv.value else {
                panic!("{}: a label is a string attribute", kv.key);
            };
            (kv.key.to_string(), value.to_string())
        })
        .collect();
    let mut expected: Vec<(String, String)> = expected
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    actual.sort();
    expected.sort();
    actual == expected
}

/// Nanoseconds of `duration`, as vigil's `_nanoseconds_total` counters carry them.
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).expect("a short duration")
}

#[test]
fn vigil_series_reach_opentelemetry_with_their_values_and_attributes() {
    let exporter = InMemoryMetricExporter::default();
    // An hour between periodic exports: only the test's flushes export.
    let provider = meter_provider(
        exporter.clone(),
        Resource::builder_empty().with_service_name(PROCESS).build(),
        Some(Duration::from_secs(3600)),
    );
    install(&provider).expect("the only `metrics` recorder of this process");

    let script = Script::new();
    script.run_worker(0); // 2 ms, completes
    script.run_worker(1); // 3 ms, stays
    let snapshot = script.registry.metrics();
    let worker = snapshot.group("worker").expect("the worker group");
    assert_eq!(
        (worker.starts, worker.endings.completed, worker.instances),
        (2, 1, 1),
        "the script ran"
    );

    // The same snapshot published twice: counters carry vigil's figure, not twice it.
    vigil::export::metrics::publish(&snapshot);
    vigil::export::metrics::publish(&snapshot);
    provider.force_flush().expect("the in-memory export");
    let exports = exporter
        .get_finished_metrics()
        .expect("the exported metrics");
    let exported = Exported::of(exports.last().expect("one export"));

    let service = [("service", "worker")];
    let service = &service[..];
    assert_eq!(exported.sum("vigil_service_starts_total", service), 2);
    assert_eq!(exported.sum("vigil_service_polls_total", service), 2);
    assert_eq!(
        exported.sum("vigil_service_busy_nanoseconds_total", service),
        nanos(POLLS[0] + POLLS[1])
    );
    assert_eq!(exported.sum("vigil_service_restarts_total", service), 0);
    for (outcome, count) in [
        ("completed", 1),
        ("failed", 0),
        ("panicked", 0),
        ("cancelled", 0),
    ] {
        assert_eq!(
            exported.sum(
                "vigil_service_endings_total",
                &[("service", "worker"), ("outcome", outcome)]
            ),
            count,
            "endings {outcome}"
        );
    }
    assert_eq!(exported.gauge("vigil_service_instances", service), 1.0);
    assert_eq!(
        exported.gauge("vigil_service_instances_in_poll", service),
        0.0
    );
    assert_eq!(
        exported.gauge("vigil_service_longest_poll_in_flight_seconds", service),
        0.0
    );
    // The live instance's longest poll: worker#1's 3 ms.
    assert_eq!(
        exported.gauge("vigil_service_poll_duration_max_seconds", service),
        POLLS[1].as_secs_f64()
    );

    // The lifetime histogram, in Prometheus' layout: cumulative buckets by `le` (upper
    // bounds in ns, powers of two), `_count`, `_sum`. 2 ms < 2^21 ns <= 3 ms < 2^22 ns.
    assert_eq!(bucket_of(&exported, "1048576"), 0);
    assert_eq!(bucket_of(&exported, "2097152"), 1);
    assert_eq!(bucket_of(&exported, "4194304"), 2);
    assert_eq!(bucket_of(&exported, "+Inf"), 2);
    assert_eq!(
        exported.sum("vigil_service_poll_duration_nanoseconds_count", service),
        2
    );
    assert_eq!(
        exported.sum("vigil_service_poll_duration_nanoseconds_sum", service),
        nanos(POLLS[0] + POLLS[1])
    );

    // `describe` reached the instruments: units (UCUM) and descriptions.
    let busy = exported.metric("vigil_service_busy_nanoseconds_total");
    assert_eq!(busy.unit(), "ns");
    assert!(
        busy.description().contains("poll"),
        "{}",
        busy.description()
    );
    assert_eq!(exported.metric("vigil_service_starts_total").unit(), "1");
    assert_eq!(
        exported
            .metric("vigil_service_longest_poll_in_flight_seconds")
            .unit(),
        "s"
    );

    // A later snapshot: the sums follow vigil's lifetime figures, the gauges its live ones.
    script.run_worker(2); // 1 ms, stays
    vigil::export::metrics::publish(&script.registry.metrics());
    provider.force_flush().expect("the in-memory export");
    let exports = exporter
        .get_finished_metrics()
        .expect("the exported metrics");
    let exported = Exported::of(exports.last().expect("a second export"));
    assert_eq!(exported.sum("vigil_service_starts_total", service), 3);
    assert_eq!(exported.sum("vigil_service_polls_total", service), 3);
    assert_eq!(
        exported.sum("vigil_service_busy_nanoseconds_total", service),
        nanos(POLLS.iter().sum())
    );
    assert_eq!(exported.gauge("vigil_service_instances", service), 2.0);
    assert_eq!(bucket_of(&exported, "1048576"), 1);
    assert_eq!(bucket_of(&exported, "+Inf"), 3);

    provider.shutdown().expect("the provider shuts down");
}

/// `vigil_service_poll_duration_nanoseconds_bucket{service="worker", le}`.
#[track_caller]
fn bucket_of(exported: &Exported<'_>, le: &str) -> u64 {
    exported.sum(
        "vigil_service_poll_duration_nanoseconds_bucket",
        &[("service", "worker"), ("le", le)],
    )
}
