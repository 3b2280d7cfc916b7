//! Both exporters under churn: 10,000 short-lived instances of one name between two
//! scrapes leave the number of series unchanged and every counter exact and monotonic.

mod export_fixture;

use std::collections::BTreeMap;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use vigil::export::prometheus::{encode_with, Format};
use vigil::export::Granularity;
use vigil::monitor::MockClock;
use vigil::ServiceJoinHandle;
use vigil::{Registry, ServiceObj};

use export_fixture::exposition::{parse, Parsed};
use export_fixture::SeriesKey;

/// Short-lived instances started between the two scrapes.
const CHURN: u64 = 10_000;

/// Yields of each short-lived instance: it is polled `YIELDS + 1` times.
const YIELDS: u64 = 3;

/// Per-instance series allowed per name in the capped scrapes.
const CAP: usize = 5;

/// A registry with a long-lived instance of `short` and of `steady`, polled once, on a
/// current-thread runtime (tasks run only inside `block_on`).
fn setup() -> (tokio::runtime::Runtime, Registry<(), MockClock>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let registry = Registry::builder().clock(MockClock::new()).build();
    for name in ["short", "steady"] {
        registry.start_in(
            runtime.handle(),
            ServiceObj::new(name, std::future::pending()),
        );
    }
    // Their one poll happens now, before any scrape.
    runtime.block_on(tokio::task::yield_now());
    assert_eq!(registry.metrics().group("steady").unwrap().poll_count, 1);
    (runtime, registry)
}

/// Starts the short-lived instances; they have not run yet when this returns.
fn start_churn(
    runtime: &tokio::runtime::Runtime,
    registry: &Registry<(), MockClock>,
) -> Vec<ServiceJoinHandle> {
    (0..CHURN)
        .map(|_| {
            registry.start_in(
                runtime.handle(),
                ServiceObj::new("short", async {
                    for _ in 0..YIELDS {
                        tokio::task::yield_now().await;
                    }
                }),
            )
        })
        .collect()
}

/// Runs the short-lived instances to completion.
fn finish_churn(runtime: &tokio::runtime::Runtime, handles: Vec<ServiceJoinHandle>) {
    runtime.block_on(async {
        for handle in handles {
            handle.await.expect("a short-lived instance completes");
        }
    });
}

/// Every counter sample of `before` is in `after` with a value at least as large.
#[track_caller]
fn assert_counters_did_not_decrease(before: &Parsed, after: &Parsed) {
    let mut counters = 0;
    for ((name, labels), value) in &before.samples {
        if !name.ends_with("_total") {
            continue;
        }
        counters += 1;
        let later = after.samples[&(name.clone(), labels.clone())];
        assert!(
            later >= *value,
            "{name} {labels:?} went from {value} to {later}"
        );
    }
    assert!(counters > 0);
}

fn instance_ids(parsed: &Parsed) -> Vec<(String, String)> {
    let mut ids: Vec<(String, String)> = parsed
        .samples
        .keys()
        .filter_map(|(_, labels)| {
            Some((
                labels.get("service")?.clone(),
                labels.get("instance_id")?.clone(),
            ))
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

#[test]
fn prometheus_series_stay_bounded_and_counters_exact_under_churn() {
    let (runtime, registry) = setup();
    let granularities = [Granularity::PerName, Granularity::per_instance(CAP)];
    let scrape = |granularity| {
        parse(&encode_with(
            &registry.metrics(),
            Format::Prometheus,
            granularity,
        ))
    };
    let before = granularities.map(scrape);

    let handles = start_churn(&runtime, &registry);
    // While the 10,001 instances of `short` are live: per name, still one series each, and
    // per instance at most CAP of them, the lowest ids.
    let during = granularities.map(scrape);
    let short = [("service", "short")];
    assert_eq!(
        during[0].value("vigil_service_instances", &short),
        (CHURN + 1) as f64
    );
    assert_eq!(during[0].samples.len(), before[0].samples.len());
    let ids = instance_ids(&during[1]);
    let short_ids: Vec<&str> = ids
        .iter()
        .filter(|(service, _)| service == "short")
        .map(|(_, id)| id.as_str())
        .collect();
    assert_eq!(short_ids, ["0", "1", "2", "3", "4"]);
    assert_eq!(ids.len(), CAP + 1, "{ids:?}");

    finish_churn(&runtime, handles);
    let after = granularities.map(scrape);

    for (before, after) in before.iter().zip(&after) {
        // The same series, whatever the number of instances that came and went.
        let keys = |parsed: &Parsed| parsed.samples.keys().cloned().collect::<Vec<SeriesKey>>();
        assert_eq!(keys(before), keys(after));
        assert_counters_did_not_decrease(before, after);
        assert!(before
            .label_names()
            .iter()
            .all(|label| !["instance", "job"].contains(label)));

        let growth = |name: &str, labels: &[(&str, &str)]| {
            after.value(name, labels) - before.value(name, labels)
        };
        assert_eq!(
            growth("vigil_service_polls_total", &short),
            (CHURN * (YIELDS + 1)) as f64,
            "every poll of the ended instances is counted, exactly once"
        );
        assert_eq!(growth("vigil_service_starts_total", &short), CHURN as f64);
        let completed = [("service", "short"), ("outcome", "completed")];
        assert_eq!(
            growth("vigil_service_endings_total", &completed),
            CHURN as f64
        );
        assert_eq!(after.value("vigil_service_instances", &short), 1.0);
        let steady = [("service", "steady")];
        assert_eq!(growth("vigil_service_polls_total", &steady), 0.0);
    }
}

/// The values a recorder holds now, by series.
fn recorded(snapshotter: &metrics_util::debugging::Snapshotter) -> BTreeMap<SeriesKey, DebugValue> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let labels = key
                .labels()
                .map(|label| (label.key().to_owned(), label.value().to_owned()))
                .collect();
            ((key.name().to_owned(), labels), value)
        })
        .collect()
}

fn counter(values: &BTreeMap<SeriesKey, DebugValue>, name: &str, labels: &[(&str, &str)]) -> u64 {
    let labels = labels
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    match values.get(&(name.to_owned(), labels)) {
        Some(DebugValue::Counter(value)) => *value,
        other => panic!("{name}: expected a counter, found {other:?}"),
    }
}

#[test]
fn metrics_series_stay_bounded_and_counters_exact_under_churn() {
    let (runtime, registry) = setup();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let publish = || {
        metrics::with_local_recorder(&recorder, || {
            vigil::export::metrics::publish(&registry.metrics());
        });
        recorded(&snapshotter)
    };
    let before = publish();
    let handles = start_churn(&runtime, &registry);
    finish_churn(&runtime, handles);
    let after = publish();

    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "the same series"
    );
    for (key, value) in &before {
        if let (DebugValue::Counter(earlier), DebugValue::Counter(later)) = (value, &after[key]) {
            assert!(later >= earlier, "{key:?} went from {earlier} to {later}");
        }
    }
    let short = [("service", "short")];
    assert_eq!(
        counter(&after, "vigil_service_polls_total", &short)
            - counter(&before, "vigil_service_polls_total", &short),
        CHURN * (YIELDS + 1)
    );
    assert_eq!(
        counter(&after, "vigil_service_starts_total", &short),
        CHURN + 1
    );
}
