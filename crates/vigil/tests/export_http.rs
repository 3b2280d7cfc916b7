//! `vigil::http`: the endpoint over real sockets on 127.0.0.1 — routes, errors, limits.

mod export_fixture;
mod http_client;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vigil::export::prometheus::{encode, Format};
use vigil::http::{Endpoint, ServeHandle};
use vigil::registry::{PollHistograms, SlowPolls, SCHEMA_VERSION};
use vigil::{Registry, ServiceObj, ServicesMetrics};
use vigil_supervisor::{Backoff, ChildSpec, Escalation, Restart, ServiceState, Supervisor};

use export_fixture::Fixture;
use http_client::{exchange, get, loopback, multi_thread, HttpResponse, EXCHANGE_TIMEOUT};

/// How a Prometheus server asks for metrics.
const PROMETHEUS_ACCEPT: &str =
    "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// The endpoint's request-head deadline (documented in `vigil::http`).
const HEAD_DEADLINE: Duration = Duration::from_secs(2);

/// A scrape of `/metrics` that must succeed; returns the body.
async fn scrape(address: SocketAddr) -> String {
    let response = get(address, "/metrics", "").await;
    assert_eq!(response.status_line, "HTTP/1.1 200 OK", "{response:?}");
    response.body
}

/// The endpoint of the fixture's registry.
type FixtureEndpoint = Endpoint<export_fixture::Monitors, vigil::monitor::MockClock>;

/// Serves the fixture's registry on the fixture's runtime while `requests` run.
fn with_fixture_server<T>(
    fixture: &Fixture,
    endpoint: impl FnOnce(FixtureEndpoint) -> FixtureEndpoint,
    requests: impl AsyncFnOnce(SocketAddr) -> T,
) -> T {
    let server = endpoint(Endpoint::new(Arc::clone(&fixture.registry)))
        .spawn(fixture.runtime.handle(), loopback())
        .expect("bind loopback");
    fixture.runtime.block_on(requests(server.local_addr()))
}

#[test]
fn metrics_serves_the_encoded_snapshot_in_the_negotiated_format() {
    let fixture = Fixture::new();
    let (plain, openmetrics) = with_fixture_server(
        &fixture,
        |endpoint| endpoint,
        async |address| {
            let plain = get(address, "/metrics?debug=1", "").await;
            let accept = format!("Accept: {PROMETHEUS_ACCEPT}\r\nUser-Agent: Prometheus/3.0\r\n");
            let openmetrics = get(address, "/metrics", &accept).await;
            (plain, openmetrics)
        },
    );
    // The mock clock stands still: the served text is the snapshot's, byte for byte.
    let snapshot = fixture.registry.metrics();
    assert_eq!(plain.status_line, "HTTP/1.1 200 OK");
    assert_eq!(
        plain.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(
        plain.headers["content-length"],
        plain.body.len().to_string()
    );
    assert_eq!(plain.body, encode(&snapshot, Format::Prometheus));
    assert_eq!(openmetrics.status_line, "HTTP/1.1 200 OK");
    assert_eq!(
        openmetrics.headers["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert_eq!(openmetrics.body, encode(&snapshot, Format::OpenMetrics));
    assert!(openmetrics.body.ends_with("# EOF\n"));
}

#[test]
fn snapshot_json_round_trips_into_the_same_snapshot() {
    let fixture = Fixture::new();
    let response = with_fixture_server(
        &fixture,
        |endpoint| endpoint,
        async |address| get(address, "/snapshot.json", "").await,
    );
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(response.headers["content-type"], "application/json");
    // The mock clock stands still: the served document is this snapshot's.
    let snapshot = fixture.registry.metrics();
    let served: ServicesMetrics = serde_json::from_str(&response.body).expect("a snapshot");
    assert_eq!(served, snapshot);
    assert_eq!(served.len(), 4);

    let document: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(document["schema_version"], SCHEMA_VERSION);
    // No supervisor was given to the endpoint.
    assert_eq!(document["supervisor"], serde_json::Value::Null);
    // The rest is the snapshot's own serde form, member for member.
    let mut without_supervisor = document.as_object().unwrap().clone();
    without_supervisor.remove("supervisor");
    // No verdict: the endpoint has no baseline yet.
    assert_eq!(
        without_supervisor.remove("verdicts"),
        Some(serde_json::json!([]))
    );
    assert_eq!(
        serde_json::Value::Object(without_supervisor),
        serde_json::to_value(&snapshot).unwrap()
    );
}

#[test]
fn snapshot_json_over_the_instance_limit_says_how_many_it_left_out() {
    let fixture = Fixture::new();
    let response = with_fixture_server(
        &fixture,
        |endpoint| endpoint.snapshot_instance_limit(2),
        async |address| get(address, "/snapshot.json", "").await,
    );
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    let snapshot = fixture.registry.metrics();
    assert_eq!(snapshot.len(), 4);
    let document: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(
        document["truncated"],
        serde_json::json!({"instance_limit": 2, "instances_left_out": 2})
    );
    // Exactly the registry's limited document, with the supervisor member.
    let mut without_supervisor = document.as_object().unwrap().clone();
    without_supervisor.remove("supervisor");
    without_supervisor.remove("verdicts");
    assert_eq!(
        serde_json::Value::Object(without_supervisor),
        serde_json::to_value(snapshot.limited_document(2)).unwrap()
    );
    assert_eq!(document["instances"].as_array().unwrap().len(), 2);
    // Groups still count every instance.
    let counted: u64 = document["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|group| group["instances"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 4);
    // And it is not mistaken for a whole snapshot.
    let error = serde_json::from_str::<ServicesMetrics>(&response.body).unwrap_err();
    assert!(error.to_string().contains("truncated"), "{error}");
}

#[test]
fn errors_get_their_status_and_the_server_keeps_serving() {
    let fixture = Fixture::new();
    let expected = encode(&fixture.registry.metrics(), Format::Prometheus);
    // A head one byte over 8 KiB, never ended: hyper stops reading at the limit.
    let mut oversized = b"GET /metrics HTTP/1.1\r\nX-Filler: ".to_vec();
    oversized.resize(8 * 1024 + 1, b'a');
    let bad_requests: [(&[u8], &str); 6] = [
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 404 Not Found",
        ),
        (
            b"GET /metrics/extra HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 404 Not Found",
        ),
        (
            b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
            "HTTP/1.1 405 Method Not Allowed",
        ),
        (
            b"DELETE /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 405 Method Not Allowed",
        ),
        (b"hello\r\n\r\n", "HTTP/1.1 400 Bad Request"),
        (&oversized, "HTTP/1.1 431 Request Header Fields Too Large"),
    ];
    let answers = with_fixture_server(
        &fixture,
        |endpoint| endpoint,
        async |address| {
            let mut answers = Vec::new();
            for (request, _) in &bad_requests {
                let answer = exchange(address, request).await;
                // After each, a good scrape is answered in full.
                let after = scrape(address).await;
                answers.push((answer, after));
            }
            // A client that connects and leaves without a word does not disturb the server.
            drop(TcpStream::connect(address).await.expect("connect"));
            let head = exchange(address, b"HEAD /metrics HTTP/1.0\r\n\r\n").await;
            (answers, head, scrape(address).await)
        },
    );
    let (answers, head, last) = answers;
    for ((request, status), (answer, after)) in bad_requests.iter().zip(answers) {
        let request = String::from_utf8_lossy(&request[..request.len().min(40)]);
        assert_eq!(answer.status_line, *status, "{request:?}");
        if status.contains("405") {
            assert_eq!(answer.headers["allow"], "GET, HEAD");
        }
        assert_eq!(after, expected, "scrape after {request:?}");
    }
    // hyper answers an HTTP/1.0 request in HTTP/1.0.
    assert_eq!(head.status_line, "HTTP/1.0 200 OK");
    assert_eq!(head.body, "");
    assert_eq!(head.headers["content-length"], expected.len().to_string());
    assert_eq!(last, expected);
}

#[test]
fn a_kept_alive_connection_serves_several_requests() {
    let fixture = Fixture::new();
    let expected = encode(&fixture.registry.metrics(), Format::Prometheus);
    let raw = with_fixture_server(
        &fixture,
        |endpoint| endpoint,
        async |address| {
            let mut stream = TcpStream::connect(address).await.expect("connect");
            let request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
            let last = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
            stream.write_all(request).await.unwrap();
            stream.write_all(request).await.unwrap();
            stream.write_all(last).await.unwrap();
            let mut raw = Vec::new();
            tokio::time::timeout(EXCHANGE_TIMEOUT, stream.read_to_end(&mut raw))
                .await
                .expect("the server answers in time")
                .unwrap();
            String::from_utf8(raw).unwrap()
        },
    );
    assert_eq!(raw.matches("HTTP/1.1 200 OK\r\n").count(), 3, "{raw}");
    assert_eq!(raw.matches(&expected).count(), 2, "{raw}");
}

#[test]
fn health_reports_instances_stuck_in_one_poll_longer_than_the_threshold() {
    // `stuck#0` has been inside one poll for 20 ms of the fixture's mock clock.
    let fixture = Fixture::new();
    let lenient = with_fixture_server(
        &fixture,
        |endpoint| endpoint,
        async |address| get(address, "/health", "").await,
    );
    assert_eq!(lenient.status_line, "HTTP/1.1 200 OK");
    assert_eq!(lenient.headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(lenient.body, "ok\n");

    let strict = with_fixture_server(
        &fixture,
        |endpoint| endpoint.stuck_after(Duration::from_millis(10)),
        async |address| get(address, "/health", "").await,
    );
    assert_eq!(strict.status_line, "HTTP/1.1 503 Service Unavailable");
    assert_eq!(
        strict.body,
        "stuck: stuck#0 inside one poll for 20.000ms (threshold 10ms)\n"
    );
}

/// Polls `/health` until its status line is `status`, for at most `within`.
async fn wait_for_health(address: SocketAddr, status: &str, within: Duration) -> HttpResponse {
    let start = Instant::now();
    loop {
        let response = get(address, "/health", "").await;
        if response.status_line == status || start.elapsed() > within {
            return response;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn health_turns_503_while_a_service_blocks_inside_a_poll_and_back_after() {
    let runtime = multi_thread();
    let registry = Arc::new(Registry::new());
    let server = Endpoint::new(Arc::clone(&registry))
        .stuck_after(Duration::from_millis(200))
        .spawn(runtime.handle(), loopback())
        .unwrap();
    let address = server.local_addr();
    let (block, blocked) = tokio::sync::oneshot::channel::<()>();
    // Declared after the runtime, so dropped before it if the test fails: the blocker then
    // lets its worker go, and the runtime can shut down.
    let (release, released) = std::sync::mpsc::channel::<()>();
    let _blocker = registry.start_in(
        runtime.handle(),
        ServiceObj::new("blocker", async move {
            let _ = blocked.await;
            // Blocks its worker thread inside one poll until the test has seen the 503:
            // no window for a loaded machine to miss.
            let _ = released.recv();
            std::future::pending::<()>().await;
        }),
    );
    runtime.block_on(async {
        let healthy = get(address, "/health", "").await;
        assert_eq!(healthy.status_line, "HTTP/1.1 200 OK");
        assert_eq!(healthy.body, "ok\n");

        block.send(()).unwrap();
        let stuck = wait_for_health(
            address,
            "HTTP/1.1 503 Service Unavailable",
            EXCHANGE_TIMEOUT,
        )
        .await;
        assert_eq!(
            stuck.status_line, "HTTP/1.1 503 Service Unavailable",
            "{stuck:?}"
        );
        assert!(
            stuck
                .body
                .starts_with("stuck: blocker#0 inside one poll for "),
            "{stuck:?}"
        );

        release.send(()).unwrap();
        let recovered = wait_for_health(address, "HTTP/1.1 200 OK", EXCHANGE_TIMEOUT).await;
        assert_eq!(recovered.status_line, "HTTP/1.1 200 OK", "{recovered:?}");
    });
}

#[test]
fn silent_connections_do_not_starve_a_scrape_and_are_closed_after_the_head_deadline() {
    const SILENT: usize = 200;
    let runtime = multi_thread();
    let registry = Arc::new(Registry::new());
    let _service = registry.start_in(
        runtime.handle(),
        ServiceObj::new("consumer", std::future::pending()),
    );
    let server: ServeHandle = Endpoint::new(Arc::clone(&registry))
        .spawn(runtime.handle(), loopback())
        .unwrap();
    let address = server.local_addr();
    runtime.block_on(async {
        let mut silent = Vec::with_capacity(SILENT);
        for _ in 0..SILENT {
            silent.push(TcpStream::connect(address).await.expect("connect"));
        }
        let opened = Instant::now();
        let body = scrape(address).await;
        assert!(body.contains("service=\"consumer\""), "{body}");

        // The scrape was answered while every silent connection was still open: none has
        // been closed (read would block, not see end of stream), so the head deadline had
        // not yet reaped any of them.
        let mut buffer = [0_u8; 16];
        for (index, connection) in silent.iter().enumerate() {
            match connection.try_read(&mut buffer) {
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                other => panic!("silent connection {index} was not open: {other:?}"),
            }
        }
        assert!(opened.elapsed() < HEAD_DEADLINE);

        // Then the server closes each of them, without an answer, after the deadline.
        for (index, mut connection) in silent.into_iter().enumerate() {
            let read = tokio::time::timeout(
                HEAD_DEADLINE + EXCHANGE_TIMEOUT,
                connection.read(&mut buffer),
            )
            .await
            .unwrap_or_else(|_| panic!("silent connection {index} was never closed"));
            // End of stream (or a reset): closed, with nothing sent.
            assert!(matches!(read, Ok(0) | Err(_)), "{index}: {read:?}");
        }
        assert!(opened.elapsed() >= HEAD_DEADLINE - Duration::from_millis(100));
        // And the server still answers.
        scrape(address).await;
    });
}

#[test]
fn dropping_the_serve_handle_stops_the_server() {
    let runtime = multi_thread();
    let server = Endpoint::new(Arc::new(Registry::new()))
        .spawn(runtime.handle(), loopback())
        .unwrap();
    let address = server.local_addr();
    runtime.block_on(async {
        scrape(address).await;
        drop(server);
        // The listener closes once the aborted task is dropped: connecting is refused.
        let start = Instant::now();
        while TcpStream::connect(address).await.is_ok() {
            assert!(start.elapsed() < EXCHANGE_TIMEOUT, "still listening");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
}

#[test]
fn a_supervisor_adds_its_states_and_endings_and_given_up_services_fail_health() {
    let runtime = multi_thread();
    // Giving one service up does not stop the others.
    let supervisor = Supervisor::builder()
        .escalation(Escalation::Continue)
        .build(runtime.handle());
    // Fails at once, every time: the first run and one restart, then given up.
    supervisor.start(
        ChildSpec::new("crasher", |_ctx| async { Err("boom") })
            .restart(Restart::Transient)
            .backoff(Backoff::none())
            .intensity(1, Duration::from_secs(60)),
    );
    // Fails once, then waits a minute for its restart.
    supervisor.start(
        ChildSpec::new("retrier", |_ctx| async { Err("not yet") })
            .restart(Restart::Transient)
            .backoff(Backoff::exponential(
                Duration::from_secs(60),
                Duration::from_secs(60),
            )),
    );
    supervisor.start(ChildSpec::new(
        "steady",
        |ctx: vigil_supervisor::Context| async move {
            ctx.shutdown_requested().await;
        },
    ));
    let start = Instant::now();
    // Until the crasher is given up and the retrier waits for its restart.
    while !matches!(
        supervisor.states()[..],
        [
            (_, ServiceState::GaveUp),
            (_, ServiceState::BackingOff { .. }),
            (_, ServiceState::Running)
        ]
    ) {
        assert!(
            start.elapsed() < EXCHANGE_TIMEOUT,
            "{:?}",
            supervisor.states()
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    let server = Endpoint::new(Arc::clone(supervisor.registry()))
        .supervisor(supervisor.clone())
        .spawn(runtime.handle(), loopback())
        .unwrap();
    let (health, snapshot) = runtime.block_on(async {
        let health = get(server.local_addr(), "/health", "").await;
        let snapshot = get(server.local_addr(), "/snapshot.json", "").await;
        (health, snapshot)
    });

    assert_eq!(health.status_line, "HTTP/1.1 503 Service Unavailable");
    assert_eq!(
        health.body,
        "gave up: crasher (restarted too often; not restarted again)\n"
    );

    assert_eq!(snapshot.status_line, "HTTP/1.1 200 OK");
    // Readers of the snapshot alone ignore the supervisor member.
    let metrics: ServicesMetrics = serde_json::from_str(&snapshot.body).unwrap();
    assert_eq!(metrics.len(), 1, "only steady#0 is live: {}", snapshot.body);
    let document: serde_json::Value = serde_json::from_str(&snapshot.body).unwrap();
    let services = &document["supervisor"]["services"];
    assert_eq!(
        services[0],
        serde_json::json!({"name": "crasher", "state": "gave_up", "restarts": null, "retry_in_ns": null})
    );
    assert_eq!(services[1]["name"], "retrier");
    assert_eq!(services[1]["state"], "backing_off");
    assert_eq!(services[1]["restarts"], 1);
    let retry_in_ns = services[1]["retry_in_ns"].as_u64().unwrap();
    assert!(
        retry_in_ns <= 60_000_000_000 && retry_in_ns > 30_000_000_000,
        "{retry_in_ns}"
    );
    assert_eq!(
        services[2],
        serde_json::json!({"name": "steady", "state": "running", "restarts": null, "retry_in_ns": null})
    );
    assert_eq!(services.as_array().unwrap().len(), 3);

    let mut endings: Vec<serde_json::Value> = document["supervisor"]["recent_endings"]
        .as_array()
        .unwrap()
        .clone();
    let seqs: Vec<u64> = endings
        .iter()
        .map(|ending| ending["seq"].as_u64().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "{seqs:?}"
    );
    for ending in &mut endings {
        ending.as_object_mut().unwrap().remove("seq");
    }
    // The two services end concurrently: compare in (name, instance) order.
    endings.sort_by_key(|ending| (ending["name"].to_string(), ending["instance_id"].as_u64()));
    assert_eq!(
        endings,
        [
            serde_json::json!({"name": "crasher", "instance_id": 0, "exit": "failed", "message": "boom", "in_poll_ns": null}),
            serde_json::json!({"name": "crasher", "instance_id": 1, "exit": "failed", "message": "boom", "in_poll_ns": null}),
            serde_json::json!({"name": "retrier", "instance_id": 0, "exit": "failed", "message": "not yet", "in_poll_ns": null}),
        ]
    );

    drop(server);
    runtime.block_on(supervisor.stop());
}

#[test]
fn a_supervisor_on_a_registry_with_monitors_serves_their_figures() {
    let runtime = multi_thread();
    let registry = Arc::new(
        Registry::builder()
            .monitor((SlowPolls::default(), PollHistograms))
            .build(),
    );
    let supervisor = Supervisor::builder()
        .registry(Arc::clone(&registry))
        .build(runtime.handle());
    // Fails once after a slow poll, then waits for the shutdown.
    supervisor.start(
        ChildSpec::new("worker", |ctx| async move {
            std::thread::sleep(Duration::from_millis(2));
            if ctx.restarts() == 0 {
                return Err("once");
            }
            ctx.shutdown_requested().await;
            Ok(())
        })
        .backoff(Backoff::none()),
    );
    let start = Instant::now();
    while registry
        .metrics()
        .group("worker")
        .map(|group| group.restarts)
        != Some(1)
    {
        assert!(start.elapsed() < EXCHANGE_TIMEOUT);
        std::thread::sleep(Duration::from_millis(10));
    }

    // The endpoint's registry and the supervisor's are the same, monitors attached.
    let server = Endpoint::new(Arc::clone(supervisor.registry()))
        .supervisor(supervisor.clone())
        .spawn(runtime.handle(), loopback())
        .unwrap();
    let snapshot = runtime.block_on(get(server.local_addr(), "/snapshot.json", ""));
    assert_eq!(snapshot.status_line, "HTTP/1.1 200 OK");
    let document: serde_json::Value = serde_json::from_str(&snapshot.body).unwrap();
    let instance = &document["instances"][0];
    assert_eq!(instance["name"], "worker", "{}", snapshot.body);
    assert_eq!(instance["instance_id"], 1);
    assert!(
        instance["slow_polls"]["slow_poll_count"].as_u64() >= Some(1),
        "{instance}"
    );
    assert!(instance["poll_histogram"].is_object(), "{instance}");
    assert_eq!(document["groups"][0]["restarts"], 1);
    assert_eq!(document["supervisor"]["services"][0]["state"], "running");

    drop(server);
    runtime.block_on(supervisor.stop());
}

#[test]
fn a_head_trickled_slower_than_the_deadline_is_cut_off_at_the_deadline() {
    // Paused time: the trickle and the server's head deadline run on tokio's clock, which
    // jumps to the next timer whenever every task waits. A loaded machine cannot stretch
    // one against the other, and the cut can be timed exactly.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let server = Endpoint::new(Arc::new(Registry::new()))
        .spawn(runtime.handle(), loopback())
        .unwrap();
    let address = server.local_addr();
    runtime.block_on(async {
        // 60 bytes at one per 100 ms: 6 s for the whole head, three times the deadline.
        const TRICKLE: Duration = Duration::from_millis(100);
        let head = format!("GET /metrics HTTP/1.1\r\nHost: {}\r\n\r\n", "x".repeat(27));
        assert_eq!(head.len(), 60);
        let mut stream = TcpStream::connect(address).await.unwrap();
        let connected = tokio::time::Instant::now();
        let mut sent = 0;
        let cut_off = tokio::time::timeout(EXCHANGE_TIMEOUT, async {
            for byte in head.bytes() {
                if stream.write_all(&[byte]).await.is_err() {
                    return;
                }
                sent += 1;
                tokio::time::sleep(TRICKLE).await;
                let mut buffer = [0_u8; 64];
                match stream.try_read(&mut buffer) {
                    Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
                    // Closed by the server, without an answer: end of stream or a reset.
                    Ok(0) | Err(_) => return,
                    Ok(_) => panic!("answered an incomplete head"),
                }
            }
        })
        .await;
        let cut_after = connected.elapsed();
        assert!(cut_off.is_ok(), "never closed");
        assert!(sent < head.len(), "the whole head got through");
        // Cut at the deadline, seen at the next byte's turn.
        assert!(
            cut_after >= HEAD_DEADLINE && cut_after <= HEAD_DEADLINE + 2 * TRICKLE,
            "cut after {cut_after:?}, {sent} bytes"
        );
        // The server still answers, on the wall clock again.
        tokio::time::resume();
        scrape(address).await;
    });
}

/// A mailbox that stays full, its oldest message waiting 3.2 s.
struct FullMailbox;

impl vigil::registry::MailboxProbe for FullMailbox {
    fn read(&self) -> vigil::registry::MailboxSnapshot {
        vigil::registry::MailboxSnapshot::new(
            1000,
            1000,
            5000,
            4000,
            20,
            Duration::from_millis(3200),
        )
    }
}

#[test]
fn a_backlogged_service_gets_a_verdict_in_the_snapshot_and_a_health_line() {
    let runtime = multi_thread();
    let registry = Arc::new(Registry::new());
    let probe: Arc<dyn vigil::registry::MailboxProbe> = Arc::new(FullMailbox);
    registry.watch_mailbox("consumer", &probe);
    let _consumer = registry.start_in(
        runtime.handle(),
        ServiceObj::new("consumer", std::future::pending()),
    );
    let _quiet = registry.start_in(
        runtime.handle(),
        ServiceObj::new("quiet", std::future::pending()),
    );
    let server = Endpoint::new(Arc::clone(&registry))
        .spawn(runtime.handle(), loopback())
        .expect("bind loopback");
    let address = server.local_addr();
    runtime.block_on(async {
        // The first request has no baseline: no verdict, and `/health` is a bare `ok`.
        let health = get(address, "/health", "").await;
        assert_eq!(health.status_line, "HTTP/1.1 200 OK");
        assert_eq!(health.body, "ok\n");
        // Within a second of it: still no baseline.
        let document = get(address, "/snapshot.json", "").await;
        let document: serde_json::Value = serde_json::from_str(&document.body).unwrap();
        assert_eq!(document["verdicts"], serde_json::json!([]));

        tokio::time::sleep(Duration::from_millis(1100)).await;
        let response = get(address, "/snapshot.json", "").await;
        assert_eq!(response.status_line, "HTTP/1.1 200 OK");
        let document: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(
            document["verdicts"],
            serde_json::json!([{
                "name": "consumer",
                "cause": "backlogged",
                "text": "backlogged (mailbox 1000/1000, oldest 3.2 s)",
            }])
        );
        // The document still reads back as a snapshot.
        let served: ServicesMetrics = serde_json::from_str(&response.body).unwrap();
        assert_eq!(
            served.group("consumer").unwrap().mailbox.unwrap().depth,
            1000
        );

        // Lagging is not unhealthy: `200`, `ok`, then one line per lagging service.
        let health = get(address, "/health", "").await;
        assert_eq!(health.status_line, "HTTP/1.1 200 OK");
        assert_eq!(
            health.body,
            "ok\nlagging: consumer: backlogged (mailbox 1000/1000, oldest 3.2 s)\n"
        );
    });
}
