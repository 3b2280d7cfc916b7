//! `vigil::export::prometheus`: the text parsed back, and `/metrics` scraped over real HTTP.

mod export_fixture;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vigil::export::prometheus::{encode, serve, Format, RegistryCollector};
use vigil::monitor::{MockClock, PollHistogram, HISTOGRAM_BUCKETS};
use vigil::{Registry, ServiceObj};

use export_fixture::{expected, Fixture, SLOW_POLL_THRESHOLD, SNAPSHOT_AT};

/// Bound on every network exchange of these tests.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// An HTTP response, split.
#[derive(Debug)]
struct HttpResponse {
    status_line: String,
    headers: BTreeMap<String, String>,
    body: String,
}

/// Sends `request` on a new connection and reads the response until the server closes.
async fn exchange(address: SocketAddr, request: &[u8]) -> HttpResponse {
    let raw = tokio::time::timeout(EXCHANGE_TIMEOUT, async {
        let mut stream = TcpStream::connect(address).await.expect("connect");
        stream.write_all(request).await.expect("send the request");
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .await
            .expect("read the response");
        raw
    })
    .await
    .expect("the server answers in time");
    let raw = String::from_utf8(raw).expect("a UTF-8 response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head and a body");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap().to_owned();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(": ").expect("name: value");
            (name.to_ascii_lowercase(), value.to_owned())
        })
        .collect();
    HttpResponse {
        status_line,
        headers,
        body: body.to_owned(),
    }
}

/// Binds a loopback listener, serves the fixture's registry on the fixture's runtime, runs
/// `scrapes` against it, and stops the server.
fn with_server<T>(fixture: &Fixture, scrapes: impl AsyncFnOnce(SocketAddr) -> T) -> T {
    fixture.runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, Arc::clone(&fixture.registry)));
        let result = scrapes(address).await;
        server.abort();
        result
    })
}

#[test]
fn serve_answers_a_scrape_over_http() {
    let fixture = Fixture::new();
    let response = with_server(&fixture, async |address| {
        exchange(address, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await
    });
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(
        response.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(
        response.headers["content-length"],
        response.body.len().to_string()
    );
    assert_eq!(response.headers["connection"], "close");
    let parsed = parse(&response.body);
    let worker = [("service", "worker"), ("instance", "0")];
    assert_eq!(parsed.value("vigil_service_polls_total", &worker), 3.0);
    assert_fixture_figures(&parsed);
}

#[test]
fn serve_negotiates_openmetrics_with_a_prometheus_server() {
    let fixture = Fixture::new();
    let request = b"GET /metrics?debug=1 HTTP/1.1\r\nHost: x\r\n\
        Accept: application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2\r\n\
        User-Agent: Prometheus/3.0\r\n\r\n";
    let response = with_server(&fixture, async |address| exchange(address, request).await);
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(
        response.headers["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(response.body.ends_with("# EOF\n"));
    let parsed = parse(&response.body);
    let stuck = [("service", "stuck"), ("instance", "0")];
    assert_eq!(parsed.value("vigil_service_in_poll_seconds", &stuck), 0.02);
}

#[test]
fn serve_answers_errors_and_keeps_serving() {
    let fixture = Fixture::new();
    // Exactly one byte over the limit, and no end of head: the server reads all of it.
    let mut oversized = b"GET /metrics HTTP/1.1\r\nX-Filler: ".to_vec();
    oversized.resize(8 * 1024 + 1, b'a');
    let responses = with_server(&fixture, async |address| {
        let not_found = exchange(address, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let wrong_method = exchange(
            address,
            b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
        let malformed = exchange(address, b"hello\r\n\r\n").await;
        let too_large = exchange(address, &oversized).await;
        // A client that connects and leaves without a word does not disturb the server.
        drop(TcpStream::connect(address).await.expect("connect"));
        let head = exchange(address, b"HEAD /metrics HTTP/1.0\r\n\r\n").await;
        let fine = exchange(address, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        [not_found, wrong_method, malformed, too_large, head, fine]
    });
    let [not_found, wrong_method, malformed, too_large, head, fine] = responses;
    assert_eq!(not_found.status_line, "HTTP/1.1 404 Not Found");
    assert_eq!(wrong_method.status_line, "HTTP/1.1 405 Method Not Allowed");
    assert_eq!(wrong_method.headers["allow"], "GET, HEAD");
    assert_eq!(malformed.status_line, "HTTP/1.1 400 Bad Request");
    assert_eq!(
        too_large.status_line,
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    assert_eq!(head.status_line, "HTTP/1.1 200 OK");
    assert_eq!(head.body, "");
    assert_eq!(head.headers["content-length"], fine.body.len().to_string());
    assert_eq!(fine.status_line, "HTTP/1.1 200 OK");
    assert_fixture_figures(&parse(&fine.body));
}

#[test]
fn serve_answers_concurrent_scrapes() {
    let fixture = Fixture::new();
    let bodies = with_server(&fixture, async |address| {
        let mut scrapes = tokio::task::JoinSet::new();
        for _ in 0..16 {
            scrapes.spawn(async move {
                exchange(address, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await
            });
        }
        scrapes.join_all().await
    });
    assert_eq!(bodies.len(), 16);
    for response in bodies {
        assert_eq!(response.status_line, "HTTP/1.1 200 OK");
        assert_fixture_figures(&parse(&response.body));
    }
}
