//! `vigil::export::prometheus`: the text parsed back by a grammar (served over HTTP:
//! `export_http.rs`; checked by Prometheus' `promtool`: `export_promtool.rs`).

mod export_fixture;

use std::sync::Arc;
use std::time::Duration;

use vigil::export::prometheus::{encode, encode_with, Format, RegistryCollector};
use vigil::export::Granularity;
use vigil::monitor::{MockClock, PollHistogram, HISTOGRAM_BUCKETS};
use vigil::{Registry, ServiceObj};

use export_fixture::exposition::{openmetrics_samples_match, parse, Parsed};
use export_fixture::{expected, expected_groups, Fixture, SLOW_POLL_THRESHOLD, SNAPSHOT_AT};

/// Per-name samples per name: starts, restarts, 4 endings, polls, busy, instances, in poll,
/// utilization max and mean, longest poll in flight; slow-poll share and threshold; the
/// max; 7 lifetime scheduling figures; the lifetime histogram (24 buckets, sum, count);
/// lifetime slow and fast polls.
const SAMPLES_PER_NAME: usize = 13 + 2 + 1 + 7 + HISTOGRAM_BUCKETS + 2 + 2;

/// Per-instance samples per instance: 5 default + 4 slow-poll + 7 scheduling + 24 buckets,
/// sum, count and max.
const SAMPLES_PER_INSTANCE: usize = 5 + 4 + 7 + HISTOGRAM_BUCKETS + 3;

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

/// The `(le, cumulative count)` buckets of one instance's histogram, by `le`.
fn buckets(parsed: &Parsed, name: &str, service: &str, instance: &str) -> Vec<(f64, f64)> {
    let mut buckets: Vec<(f64, f64)> = parsed
        .samples
        .iter()
        .filter(|((sample, labels), _)| {
            sample == name
                && labels.get("service").map(String::as_str) == Some(service)
                && labels.get("instance_id").map(String::as_str) == Some(instance)
        })
        .map(|((_, labels), value)| (labels["le"].parse().expect("le is a number"), *value))
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    buckets
}

/// No label Prometheus attaches to scraped targets, whatever the granularity.
#[track_caller]
fn assert_no_target_labels(parsed: &Parsed) {
    let names = parsed.label_names();
    assert!(!names.contains("instance"), "{names:?}");
    assert!(!names.contains("job"), "{names:?}");
    for name in names {
        assert!(
            [
                "service",
                "outcome",
                "instance_id",
                "le",
                "runtime",
                "worker"
            ]
            .contains(&name),
            "unexpected label {name}"
        );
    }
}

/// Checks the per-name figures of the fixture in `parsed`.
#[track_caller]
fn assert_per_name_figures(parsed: &Parsed) {
    for group in expected_groups() {
        let labels = [("service", group.name)];
        let value = |name: &str| parsed.value(name, &labels);
        let name = group.name;
        assert_eq!(
            value("vigil_service_starts_total"),
            group.instances as f64,
            "{name}"
        );
        assert_eq!(value("vigil_service_restarts_total"), 0.0, "{name}");
        for outcome in ["completed", "failed", "panicked", "cancelled"] {
            let labels = [("service", name), ("outcome", outcome)];
            assert_eq!(parsed.value("vigil_service_endings_total", &labels), 0.0);
        }
        assert_eq!(
            value("vigil_service_polls_total"),
            group.polls as f64,
            "{name}"
        );
        assert_eq!(
            value("vigil_service_busy_seconds_total"),
            seconds(group.busy),
            "{name}"
        );
        assert_eq!(
            value("vigil_service_instances"),
            group.instances as f64,
            "{name}"
        );
        assert_eq!(
            value("vigil_service_instances_in_poll"),
            group.in_poll as f64,
            "{name}"
        );
        assert_eq!(
            value("vigil_service_utilization_max_ratio"),
            f64::from(group.max_utilization) / 100.0,
            "{name}"
        );
        assert_eq!(
            value("vigil_service_utilization_mean_ratio"),
            group.mean_utilization / 100.0,
            "{name}"
        );
        assert_eq!(
            value("vigil_service_longest_poll_in_flight_seconds"),
            seconds(group.longest_in_poll),
            "{name}"
        );
        assert_eq!(
            value("vigil_service_slow_polls_ratio"),
            group.slow_poll_share,
            "{name}"
        );
        assert_eq!(
            value("vigil_service_slow_poll_threshold_seconds"),
            seconds(SLOW_POLL_THRESHOLD)
        );
        assert_eq!(
            value("vigil_service_poll_duration_max_seconds"),
            seconds(group.poll_duration_max),
            "{name}"
        );
        assert_lifetime_figures(parsed, &group);
    }
    assert_no_target_labels(parsed);
}

/// Checks one name's lifetime figures of the attached monitors in `parsed`: scheduling
/// counters, the histogram, slow and fast polls.
#[track_caller]
fn assert_lifetime_figures(parsed: &Parsed, group: &export_fixture::ExpectedGroup) {
    let name = group.name;
    let labels = [("service", name)];
    let value = |sample: &str| parsed.value(sample, &labels);
    let figures = [
        (
            "vigil_service_scheduled_polls_total",
            group.scheduled_polls as f64,
        ),
        (
            "vigil_service_scheduling_delay_seconds_total",
            seconds(group.scheduling_delay),
        ),
        (
            "vigil_service_scheduling_delay_max_seconds",
            seconds(group.scheduling_delay_max),
        ),
        ("vigil_service_first_polls_total", group.first_polls as f64),
        (
            "vigil_service_first_poll_delay_seconds_total",
            seconds(group.first_poll_delay),
        ),
        (
            "vigil_service_idle_periods_total",
            group.idle_periods as f64,
        ),
        ("vigil_service_idle_seconds_total", seconds(group.idle_time)),
        ("vigil_service_slow_polls_total", group.slow_polls as f64),
        ("vigil_service_fast_polls_total", group.fast_polls as f64),
        (
            "vigil_service_poll_duration_seconds_count",
            group.polls as f64,
        ),
        (
            "vigil_service_poll_duration_seconds_sum",
            seconds(group.completed_busy),
        ),
    ];
    for (sample, expected) in figures {
        assert_eq!(value(sample), expected, "{name} {sample}");
    }
    // The buckets: cumulative, at the bounds in seconds, the last `+Inf` = `_count` = the
    // name's polls.
    let expected_buckets: Vec<(f64, f64)> = group
        .cumulative_buckets()
        .into_iter()
        .map(|(upper, count)| {
            let le = if upper == Duration::MAX {
                f64::INFINITY
            } else {
                seconds(upper)
            };
            (le, count as f64)
        })
        .collect();
    let written = name_buckets(parsed, name);
    assert_eq!(written, expected_buckets, "{name}");
    assert!(written.windows(2).all(|pair| pair[0].1 <= pair[1].1));
    assert_eq!(written.last().map(|last| last.1), Some(group.polls as f64));
    assert_eq!(
        parsed.types["vigil_service_poll_duration_seconds"],
        "histogram"
    );
}

/// The `(le, cumulative count)` buckets of one name's lifetime histogram, by `le`.
fn name_buckets(parsed: &Parsed, service: &str) -> Vec<(f64, f64)> {
    let mut buckets: Vec<(f64, f64)> = parsed
        .samples
        .iter()
        .filter(|((sample, labels), _)| {
            sample == "vigil_service_poll_duration_seconds_bucket"
                && labels.get("service").map(String::as_str) == Some(service)
        })
        .map(|((_, labels), value)| (labels["le"].parse().expect("le is a number"), *value))
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    buckets
}

/// Checks the per-instance figures of the fixture in `parsed`.
#[track_caller]
fn assert_instance_figures(parsed: &Parsed) {
    let bounds = PollHistogram::bucket_bounds();
    for (service, instance, expected) in expected() {
        let instance = instance.to_string();
        let labels = [("service", service), ("instance_id", instance.as_str())];
        let labels = &labels[..];
        let id = format!("{service}#{instance}");
        let value = |name: &str| parsed.value(name, labels);

        assert_eq!(
            value("vigil_service_instance_polls_total"),
            expected.polls as f64,
            "{id}"
        );
        assert_eq!(
            value("vigil_service_instance_busy_seconds_total"),
            seconds(expected.busy),
            "{id}"
        );
        assert_eq!(
            value("vigil_service_instance_utilization_ratio"),
            f64::from(expected.utilization) / 100.0,
            "{id}"
        );
        assert_eq!(
            value("vigil_service_instance_in_poll_seconds"),
            seconds(expected.in_poll),
            "{id}"
        );
        assert_eq!(
            value("vigil_service_instance_age_seconds"),
            seconds(SNAPSHOT_AT),
            "{id}"
        );

        assert_eq!(
            value("vigil_service_instance_slow_polls_total"),
            expected.slow_polls as f64
        );
        assert_eq!(
            value("vigil_service_instance_slow_poll_seconds_total"),
            seconds(expected.slow_poll_time)
        );
        assert_eq!(
            value("vigil_service_instance_fast_polls_total"),
            expected.fast_polls as f64
        );
        assert_eq!(
            value("vigil_service_instance_fast_poll_seconds_total"),
            seconds(expected.fast_poll_time)
        );

        assert_eq!(
            value("vigil_service_instance_scheduled_polls_total"),
            expected.scheduled_polls as f64,
            "{id}"
        );
        assert_eq!(
            value("vigil_service_instance_scheduling_delay_seconds_total"),
            seconds(expected.scheduling_delay),
            "{id}"
        );
        assert_eq!(
            value("vigil_service_instance_scheduling_delay_max_seconds"),
            seconds(expected.scheduling_delay_max),
            "{id}"
        );
        assert_eq!(
            value("vigil_service_instance_idle_periods_total"),
            expected.idle_periods as f64,
            "{id}"
        );
        assert_eq!(
            value("vigil_service_instance_idle_seconds_total"),
            seconds(expected.idle_time)
        );
        assert_eq!(
            value("vigil_service_instance_idle_max_seconds"),
            seconds(expected.idle_max)
        );
        assert_eq!(
            value("vigil_service_instance_first_poll_delay_seconds"),
            seconds(expected.first_poll_delay),
            "{id}"
        );

        // The histogram: cumulative buckets at the bounds in seconds, then +Inf.
        let mut per_bucket = [0_u64; HISTOGRAM_BUCKETS];
        for &(index, count) in expected.buckets {
            per_bucket[index] = count;
        }
        let mut cumulative = 0;
        let expected_buckets: Vec<(f64, f64)> = bounds
            .iter()
            .zip(per_bucket)
            .map(|((_, upper), count)| {
                cumulative += count;
                let le = if *upper == Duration::MAX {
                    f64::INFINITY
                } else {
                    seconds(*upper)
                };
                (le, cumulative as f64)
            })
            .collect();
        assert_eq!(
            buckets(
                parsed,
                "vigil_service_instance_poll_duration_seconds_bucket",
                service,
                &instance
            ),
            expected_buckets,
            "{id}"
        );
        assert_eq!(
            value("vigil_service_instance_poll_duration_seconds_count"),
            expected.polls as f64,
            "{id}"
        );
        // The sum covers completed polls: the stuck poll in progress is not in it.
        assert_eq!(
            value("vigil_service_instance_poll_duration_seconds_sum"),
            seconds(expected.busy - expected.in_poll),
            "{id}"
        );
        assert_eq!(
            value("vigil_service_instance_poll_duration_max_seconds"),
            seconds(expected.poll_duration_max),
            "{id}"
        );
    }
    assert_no_target_labels(parsed);
}

#[test]
fn the_fixture_reads_the_scripted_figures() {
    export_fixture::assert_snapshot_reads_the_scripted_figures(&Fixture::new());
}

#[test]
fn prometheus_text_has_every_figure_per_name_by_default() {
    let fixture = Fixture::new();
    let text = encode(&fixture.registry.metrics(), Format::Prometheus);
    let parsed = parse(&text);
    assert_per_name_figures(&parsed);
    assert_eq!(parsed.samples.len(), 3 * SAMPLES_PER_NAME, "{text}");
    assert_eq!(parsed.types["vigil_service_polls_total"], "counter");
    assert_eq!(parsed.types["vigil_service_busy_seconds_total"], "counter");
    assert_eq!(parsed.types["vigil_service_endings_total"], "counter");
    assert_eq!(parsed.types["vigil_service_instances"], "gauge");
    assert_eq!(parsed.types["vigil_service_utilization_max_ratio"], "gauge");
    assert!(!text.contains("# EOF"));
}

#[test]
fn openmetrics_text_has_the_series_of_the_prometheus_text() {
    let fixture = Fixture::new();
    let snapshot = fixture.registry.metrics();
    let text = encode(&snapshot, Format::OpenMetrics);
    // The samples are those of the Prometheus text, whose figures the test above checks.
    openmetrics_samples_match(&text, &encode(&snapshot, Format::Prometheus));
    // OpenMetrics declares counters by family name, and units.
    assert!(text.contains("\n# TYPE vigil_service_polls counter\n"));
    assert!(text.contains("\n# TYPE vigil_service_busy_seconds counter\n"));
    assert!(!text.contains("# TYPE vigil_service_polls_total"));
    assert!(text.contains("\n# UNIT vigil_service_busy_seconds seconds\n"));
    assert!(text.contains("\n# UNIT vigil_service_utilization_max_ratio ratio\n"));
    assert!(text.ends_with("\n# EOF\n"));
}

#[test]
fn per_instance_series_are_opt_in_and_carry_every_figure() {
    let fixture = Fixture::new();
    let snapshot = fixture.registry.metrics();
    let per_instance = Granularity::per_instance(10);
    let text = encode_with(&snapshot, Format::Prometheus, per_instance);
    let parsed = parse(&text);
    assert_per_name_figures(&parsed);
    assert_instance_figures(&parsed);
    assert_eq!(
        parsed.samples.len(),
        3 * SAMPLES_PER_NAME + 4 * SAMPLES_PER_INSTANCE
    );
    assert_eq!(
        parsed.types["vigil_service_instance_poll_duration_seconds"],
        "histogram"
    );
    let openmetrics = encode_with(&snapshot, Format::OpenMetrics, per_instance);
    openmetrics_samples_match(&openmetrics, &text);
    assert!(
        openmetrics.contains("\n# TYPE vigil_service_instance_poll_duration_seconds histogram\n")
    );
}

#[test]
fn per_instance_series_are_capped_per_name_at_the_lowest_ids() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let registry = Registry::builder().clock(MockClock::new()).build();
    for _ in 0..5 {
        registry.start_in(
            runtime.handle(),
            ServiceObj::new("many", std::future::pending()),
        );
    }
    registry.start_in(
        runtime.handle(),
        ServiceObj::new("one", std::future::pending()),
    );
    let snapshot = registry.metrics();

    let exported = |granularity| {
        let parsed = parse(&encode_with(&snapshot, Format::Prometheus, granularity));
        let mut ids: Vec<(String, String)> = parsed
            .samples
            .keys()
            .filter(|(name, _)| name == "vigil_service_instance_polls_total")
            .map(|(_, labels)| (labels["service"].clone(), labels["instance_id"].clone()))
            .collect();
        ids.sort();
        // Past the cap, instances are still counted per name.
        assert_eq!(
            parsed.value("vigil_service_instances", &[("service", "many")]),
            5.0
        );
        ids
    };
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    };
    assert_eq!(
        exported(Granularity::per_instance(2)),
        pairs(&[("many", "0"), ("many", "1"), ("one", "0")])
    );
    assert_eq!(exported(Granularity::per_instance(0)), pairs(&[]));
    assert_eq!(exported(Granularity::PerName), pairs(&[]));
    assert_eq!(exported(Granularity::per_instance(100)).len(), 6);
}

#[test]
fn the_collector_reads_the_registry_at_every_scrape() {
    let fixture = Fixture::new();
    let mut registry = prometheus_client::registry::Registry::default();
    let collector = RegistryCollector::new(Arc::clone(&fixture.registry));
    registry.register_collector(Box::new(collector));

    // The Prometheus text, which the test parser reads; the collector writes the same
    // families whichever format the user's registry is served in.
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
    assert_per_name_figures(&parse(&text));

    fixture.clock.advance(Duration::from_millis(5));
    text.clear();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
    let parsed = parse(&text);
    let stuck = [("service", "stuck")];
    assert_eq!(
        parsed.value("vigil_service_longest_poll_in_flight_seconds", &stuck),
        0.025
    );
    assert!(parsed
        .label_names()
        .iter()
        .all(|name| *name != "instance_id"));
}

#[test]
fn the_collector_can_export_per_instance_series() {
    let fixture = Fixture::new();
    let mut registry = prometheus_client::registry::Registry::default();
    let collector = RegistryCollector::new(Arc::clone(&fixture.registry))
        .granularity(Granularity::per_instance(1));
    registry.register_collector(Box::new(collector));
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
    let parsed = parse(&text);
    // One instance per name: idle#0, stuck#0, worker#0.
    assert_eq!(
        parsed.samples.len(),
        3 * SAMPLES_PER_NAME + 3 * SAMPLES_PER_INSTANCE
    );
    assert!(parsed
        .get(
            "vigil_service_instance_polls_total",
            &[("service", "idle"), ("instance_id", "1")]
        )
        .is_none());
}

#[test]
fn families_without_samples_are_left_out() {
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
    let parsed = parse(&encode(&registry.metrics(), Format::Prometheus));
    assert_eq!(
        parsed.types.keys().collect::<Vec<_>>(),
        [
            "vigil_service_busy_seconds_total",
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
    let parsed = parse(&encode_with(
        &registry.metrics(),
        Format::Prometheus,
        Granularity::per_instance(1),
    ));
    let labels = [("service", "plain"), ("instance_id", "0")];
    assert_eq!(
        parsed.value("vigil_service_instance_age_seconds", &labels),
        0.002
    );

    let empty = Registry::builder().clock(MockClock::new()).build();
    assert_eq!(encode(&empty.metrics(), Format::Prometheus), "");
    assert_eq!(encode(&empty.metrics(), Format::OpenMetrics), "# EOF\n");
}

#[test]
fn a_name_stays_with_its_counters_after_its_instances_end() {
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
    let before = parse(&encode_with(
        &registry.metrics(),
        Format::Prometheus,
        granularity,
    ));
    assert!(!export_fixture::names_of(&before.samples, "ending", "0").is_empty());

    stop.send(()).unwrap();
    runtime.block_on(ending).unwrap();
    let after = parse(&encode_with(
        &registry.metrics(),
        Format::Prometheus,
        granularity,
    ));
    // The instance's own series are gone; the name's stay, with its lifetime counters.
    assert!(export_fixture::names_of(&after.samples, "ending", "0").is_empty());
    let name = [("service", "ending")];
    assert_eq!(after.value("vigil_service_instances", &name), 0.0);
    assert_eq!(after.value("vigil_service_starts_total", &name), 1.0);
    let completed = [("service", "ending"), ("outcome", "completed")];
    assert_eq!(after.value("vigil_service_endings_total", &completed), 1.0);
    // Its one poll (the runtime first ran it after the stop was sent) is still counted.
    assert_eq!(after.value("vigil_service_polls_total", &name), 1.0);
}

#[test]
fn label_values_are_escaped() {
    const NAME: &str = "a \"quoted\", back\\slashed\nname";
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let registry = Registry::builder().clock(MockClock::new()).build();
    let _odd = registry.start_in(
        runtime.handle(),
        ServiceObj::new(NAME, std::future::pending()),
    );
    // As the text formats spell it: the parser checks escapes but keeps them.
    const ESCAPED: &str = r#"a \"quoted\", back\\slashed\nname"#;
    let snapshot = registry.metrics();
    let text = encode_with(&snapshot, Format::Prometheus, Granularity::per_instance(1));
    let parsed = parse(&text);
    let labels = [("service", ESCAPED), ("instance_id", "0")];
    assert_eq!(
        parsed.value("vigil_service_instance_polls_total", &labels),
        0.0
    );
    assert_eq!(
        parsed.value("vigil_service_instances", &[("service", ESCAPED)]),
        1.0
    );
    let openmetrics = encode_with(&snapshot, Format::OpenMetrics, Granularity::per_instance(1));
    openmetrics_samples_match(&openmetrics, &text);
}

#[test]
fn runtimes_and_mailboxes_have_their_series() {
    let (runtime, registry, _probe) = export_fixture::watching(
        vigil::registry::MailboxSnapshot::new(1000, 250, 900, 650, 7, Duration::from_millis(1500)),
    );
    let _consumer = registry.start_in(
        runtime.handle(),
        ServiceObj::new("consumer", std::future::pending()),
    );
    // Let both workers run (and park) at least once.
    runtime.block_on(async {
        for _ in 0..4 {
            tokio::task::spawn(async { tokio::task::yield_now().await })
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    });

    let snapshot = registry.metrics();
    let text = encode(&snapshot, Format::Prometheus);
    let parsed = parse(&text);
    let watched = snapshot.runtime("main").expect("watched");

    let main = [("runtime", "main")];
    assert_eq!(parsed.value("vigil_runtime_workers", &main), 2.0);
    assert_eq!(
        parsed.value("vigil_runtime_alive_tasks", &main),
        watched.alive_tasks as f64
    );
    assert!(watched.alive_tasks >= 1, "the consumer is alive");
    assert_eq!(
        parsed.value("vigil_runtime_global_queue_depth", &main),
        watched.global_queue_depth as f64
    );
    for (index, worker) in watched.workers.iter().enumerate() {
        let index = index.to_string();
        let labels = [("runtime", "main"), ("worker", index.as_str())];
        assert_eq!(
            parsed.value("vigil_runtime_worker_busy_seconds_total", &labels),
            worker.busy.as_secs_f64()
        );
        assert_eq!(
            parsed.value("vigil_runtime_worker_parks_total", &labels),
            worker.park_count as f64
        );
        assert_eq!(
            parsed.value("vigil_runtime_worker_park_unparks_total", &labels),
            worker.park_unpark_count as f64
        );
    }
    assert!(parsed
        .get(
            "vigil_runtime_worker_parks_total",
            &[("runtime", "main"), ("worker", "2")]
        )
        .is_none());
    assert_eq!(
        parsed.types["vigil_runtime_worker_busy_seconds_total"],
        "counter"
    );
    assert_eq!(parsed.types["vigil_runtime_alive_tasks"], "gauge");

    let consumer = [("service", "consumer")];
    let mailbox = [
        ("vigil_mailbox_capacity", 1000.0, "gauge"),
        ("vigil_mailbox_depth", 250.0, "gauge"),
        ("vigil_mailbox_oldest_wait_seconds", 1.5, "gauge"),
        ("vigil_mailbox_sent_total", 900.0, "counter"),
        ("vigil_mailbox_received_total", 650.0, "counter"),
        ("vigil_mailbox_rejected_total", 7.0, "counter"),
    ];
    for (name, value, kind) in mailbox {
        assert_eq!(parsed.value(name, &consumer), value, "{name}");
        assert_eq!(parsed.types[name], kind, "{name}");
    }
    assert_no_target_labels(&parsed);
    openmetrics_samples_match(&encode(&snapshot, Format::OpenMetrics), &text);
}

#[test]
fn the_per_name_histogram_counts_every_poll_of_ended_instances_too() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let registry = Registry::builder()
        .monitor(vigil::registry::PollHistograms)
        .build();
    for _ in 0..3 {
        let ended = registry.start_in(
            runtime.handle(),
            ServiceObj::new("short", async {
                tokio::task::yield_now().await;
            }),
        );
        runtime.block_on(ended).unwrap();
    }
    let _live = registry.start_in(
        runtime.handle(),
        ServiceObj::new("short", async {
            std::future::pending::<()>().await;
        }),
    );
    runtime.block_on(tokio::task::yield_now());
    let snapshot = registry.metrics();
    let group = snapshot.group("short").unwrap();
    let parsed = parse(&encode(&snapshot, Format::Prometheus));
    let polls = parsed.value("vigil_service_polls_total", &[("service", "short")]);
    assert_eq!(polls, group.poll_count as f64);
    assert!(
        group.poll_count >= 7,
        "2 polls per ended instance, 1 of the live one"
    );
    assert_eq!(
        parsed.value(
            "vigil_service_poll_duration_seconds_count",
            &[("service", "short")]
        ),
        polls
    );
    let buckets = name_buckets(&parsed, "short");
    assert_eq!(buckets.len(), HISTOGRAM_BUCKETS);
    assert!(
        buckets.windows(2).all(|pair| pair[0].1 <= pair[1].1),
        "cumulative"
    );
    assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, polls));
    // The sum: the name's busy time, every poll completed.
    assert_eq!(
        parsed.value(
            "vigil_service_poll_duration_seconds_sum",
            &[("service", "short")]
        ),
        group.total_busy_duration.as_secs_f64()
    );
}
