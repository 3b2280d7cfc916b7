//! `vigil::export::prometheus`: the text parsed back (served over HTTP: `export_http.rs`).

mod export_fixture;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use vigil::export::prometheus::{encode, Format, RegistryCollector};
use vigil::monitor::{MockClock, PollHistogram, HISTOGRAM_BUCKETS};
use vigil::{Registry, ServiceObj};

use export_fixture::{expected, Fixture, SLOW_POLL_THRESHOLD, SNAPSHOT_AT};

/// A sample: name and sorted labels.
type SampleKey = export_fixture::SeriesKey;

/// Exposition text, parsed back: samples, and the `# TYPE` of every family.
#[derive(Debug)]
struct Parsed {
    samples: BTreeMap<SampleKey, f64>,
    types: BTreeMap<String, String>,
}

/// A test-only parser for `name{label="value",...} value` lines; `#` lines are comments
/// except `# TYPE`. Panics on anything else, so malformed text fails the test.
fn parse(text: &str) -> Parsed {
    let mut samples = BTreeMap::new();
    let mut types = BTreeMap::new();
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix('#') {
            if let Some(declaration) = comment.strip_prefix(" TYPE ") {
                let (name, kind) = declaration.split_once(' ').expect("# TYPE name type");
                types.insert(name.to_owned(), kind.to_owned());
            }
            continue;
        }
        let (name, labels, rest) = match line.find('{') {
            Some(open) => {
                let (labels, rest) = parse_labels(&line[open + 1..]);
                (&line[..open], labels, rest)
            }
            None => {
                let (name, rest) = line.split_once(' ').expect("name value");
                (name, BTreeMap::new(), rest)
            }
        };
        let value: f64 = rest
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("a value in {line:?}"));
        let previous = samples.insert((name.to_owned(), labels), value);
        assert!(previous.is_none(), "duplicate sample {line:?}");
    }
    Parsed { samples, types }
}

/// Parses `key="value",...}` (after the `{`), unescaping values; returns the labels and
/// what follows the `}`.
fn parse_labels(text: &str) -> (BTreeMap<String, String>, &str) {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return (labels, after);
        }
        let (key, after_key) = rest.split_once("=\"").expect("key=\"value\"");
        let mut value = String::new();
        let mut chars = after_key.char_indices();
        let end = loop {
            match chars.next().expect("a closing quote") {
                (index, '"') => break index,
                (_, '\\') => match chars.next().expect("an escaped character").1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, other) => value.push(other),
            }
        };
        labels.insert(key.to_owned(), value);
        rest = &after_key[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

impl Parsed {
    #[track_caller]
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let labels = labels
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        *self
            .samples
            .get(&(name.to_owned(), labels))
            .unwrap_or_else(|| panic!("no sample {name} in {:#?}", self.samples.keys()))
    }

    /// The `(le, cumulative count)` buckets of one instance's histogram, by `le`.
    fn buckets(&self, name: &str, service: &str, instance: &str) -> Vec<(f64, f64)> {
        let mut buckets: Vec<(f64, f64)> = self
            .samples
            .iter()
            .filter(|((sample, labels), _)| {
                sample == name
                    && labels.get("service").map(String::as_str) == Some(service)
                    && labels.get("instance").map(String::as_str) == Some(instance)
            })
            .map(|((_, labels), value)| (labels["le"].parse().expect("le is a number"), *value))
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        buckets
    }

    /// Sample names of `service#instance`.
    fn names_of(&self, service: &str, instance: &str) -> Vec<&str> {
        export_fixture::names_of(&self.samples, service, instance)
    }
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

/// Checks every figure of the fixture in `parsed`.
fn assert_fixture_figures(parsed: &Parsed) {
    for (service, count) in [("idle", 2.0), ("stuck", 1.0), ("worker", 1.0)] {
        assert_eq!(
            parsed.value("vigil_service_instances", &[("service", service)]),
            count
        );
    }
    let bounds = PollHistogram::bucket_bounds();
    for (service, instance, expected) in expected() {
        let instance = instance.to_string();
        let labels = [("service", service), ("instance", instance.as_str())];
        let labels = &labels[..];
        let id = format!("{service}#{instance}");
        let value = |name: &str| parsed.value(name, labels);

        assert_eq!(
            value("vigil_service_polls_total"),
            expected.polls as f64,
            "{id}"
        );
        assert_eq!(
            value("vigil_service_busy_seconds_total"),
            seconds(expected.busy),
            "{id}"
        );
        assert_eq!(
            value("vigil_service_utilization_percent"),
            f64::from(expected.utilization),
            "{id}"
        );
        assert_eq!(
            value("vigil_service_in_poll_seconds"),
            seconds(expected.in_poll),
            "{id}"
        );
        assert_eq!(
            value("vigil_service_age_seconds"),
            seconds(SNAPSHOT_AT),
            "{id}"
        );

        assert_eq!(
            value("vigil_service_slow_polls_total"),
            expected.slow_polls as f64
        );
        assert_eq!(
            value("vigil_service_slow_poll_seconds_total"),
            seconds(expected.slow_poll_time)
        );
        assert_eq!(
            value("vigil_service_fast_polls_total"),
            expected.fast_polls as f64
        );
        assert_eq!(
            value("vigil_service_fast_poll_seconds_total"),
            seconds(expected.fast_poll_time)
        );
        assert_eq!(
            value("vigil_service_slow_poll_threshold_seconds"),
            seconds(SLOW_POLL_THRESHOLD)
        );

        assert_eq!(
            value("vigil_service_scheduled_polls_total"),
            expected.scheduled_polls as f64,
            "{id}"
        );
        assert_eq!(
            value("vigil_service_scheduling_delay_seconds_total"),
            seconds(expected.scheduling_delay),
            "{id}"
        );
        assert_eq!(
            value("vigil_service_scheduling_delay_max_seconds"),
            seconds(expected.scheduling_delay_max),
            "{id}"
        );
        assert_eq!(
            value("vigil_service_idle_periods_total"),
            expected.idle_periods as f64,
            "{id}"
        );
        assert_eq!(
            value("vigil_service_idle_seconds_total"),
            seconds(expected.idle_time)
        );
        assert_eq!(
            value("vigil_service_idle_max_seconds"),
            seconds(expected.idle_max)
        );
        assert_eq!(
            value("vigil_service_first_poll_delay_seconds"),
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
            parsed.buckets(
                "vigil_service_poll_duration_seconds_bucket",
                service,
                &instance
            ),
            expected_buckets,
            "{id}"
        );
        assert_eq!(
            value("vigil_service_poll_duration_seconds_count"),
            expected.polls as f64,
            "{id}"
        );
        // The sum covers completed polls: the stuck poll in progress is not in it.
        assert_eq!(
            value("vigil_service_poll_duration_seconds_sum"),
            seconds(expected.busy - expected.in_poll),
            "{id}"
        );
        assert_eq!(
            value("vigil_service_poll_duration_max_seconds"),
            seconds(expected.poll_duration_max),
            "{id}"
        );
    }
    // Per instance: 5 default + 5 slow-poll + 7 scheduling + 24 buckets, sum, count and max;
    // plus one `instances` sample per name.
    assert_eq!(
        parsed.samples.len(),
        4 * (5 + 5 + 7 + HISTOGRAM_BUCKETS + 3) + 3
    );
}

#[test]
fn prometheus_text_has_every_figure() {
    let fixture = Fixture::new();
    let text = encode(&fixture.registry.metrics(), Format::Prometheus);
    let parsed = parse(&text);
    assert_fixture_figures(&parsed);
    assert_eq!(parsed.types["vigil_service_polls_total"], "counter");
    assert_eq!(parsed.types["vigil_service_busy_seconds_total"], "counter");
    assert_eq!(parsed.types["vigil_service_utilization_percent"], "gauge");
    assert_eq!(
        parsed.types["vigil_service_poll_duration_seconds"],
        "histogram"
    );
    assert!(!text.contains("# EOF"));
}

#[test]
fn openmetrics_text_has_every_figure() {
    let fixture = Fixture::new();
    let text = encode(&fixture.registry.metrics(), Format::OpenMetrics);
    let parsed = parse(&text);
    assert_fixture_figures(&parsed);
    // OpenMetrics declares counters by family name, and units.
    assert_eq!(parsed.types["vigil_service_polls"], "counter");
    assert_eq!(parsed.types["vigil_service_busy_seconds"], "counter");
    assert_eq!(
        parsed.types["vigil_service_poll_duration_seconds"],
        "histogram"
    );
    assert!(text.contains("\n# UNIT vigil_service_busy_seconds seconds\n"));
    assert!(text.ends_with("\n# EOF\n"));
}

#[test]
fn the_collector_reads_the_registry_at_every_scrape() {
    let fixture = Fixture::new();
    let mut registry = prometheus_client::registry::Registry::default();
    let collector = RegistryCollector::new(Arc::clone(&fixture.registry));
    registry.register_collector(Box::new(collector));

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert_fixture_figures(&parse(&text));

    fixture.clock.advance(Duration::from_millis(5));
    text.clear();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    let parsed = parse(&text);
    let stuck = [("service", "stuck"), ("instance", "0")];
    assert_eq!(parsed.value("vigil_service_in_poll_seconds", &stuck), 0.025);
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
            "vigil_service_age_seconds",
            "vigil_service_busy_seconds_total",
            "vigil_service_in_poll_seconds",
            "vigil_service_instances",
            "vigil_service_polls_total",
            "vigil_service_utilization_percent",
        ]
    );
    let labels = [("service", "plain"), ("instance", "0")];
    assert_eq!(parsed.value("vigil_service_age_seconds", &labels), 0.002);

    let empty = Registry::builder().clock(MockClock::new()).build();
    assert_eq!(encode(&empty.metrics(), Format::Prometheus), "");
    assert_eq!(encode(&empty.metrics(), Format::OpenMetrics), "# EOF\n");
}

#[test]
fn ended_instances_disappear_from_the_text() {
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
    let before = parse(&encode(&registry.metrics(), Format::Prometheus));
    assert!(!before.names_of("ending", "0").is_empty());

    stop.send(()).unwrap();
    runtime.block_on(ending).unwrap();
    let text = encode(&registry.metrics(), Format::Prometheus);
    // The ended instance's series are gone; its name stays, with no live instance.
    assert!(parse(&text).names_of("ending", "0").is_empty(), "{text}");
    assert!(
        text.contains("vigil_service_instances{service=\"ending\"} 0"),
        "{text}"
    );
    assert!(!parse(&text).names_of("staying", "0").is_empty());
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
    for format in [Format::Prometheus, Format::OpenMetrics] {
        let parsed = parse(&encode(&registry.metrics(), format));
        let labels = [("service", NAME), ("instance", "0")];
        assert_eq!(parsed.value("vigil_service_polls_total", &labels), 0.0);
        assert_eq!(
            parsed.value("vigil_service_instances", &[("service", NAME)]),
            1.0
        );
    }
}
