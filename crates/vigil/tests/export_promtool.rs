//! `/metrics` checked by Prometheus itself: `promtool check metrics` on real scrapes.
//!
//! `promtool` comes with Debian's `prometheus` package (`.ci/run` installs it). Without it
//! the tests fail when `CI=true` and skip, saying why, elsewhere.
//!
//! No complaint is accepted: promtool must exit 0 and say nothing (the per-name quantile
//! gauges it used to flag gave way to a per-name histogram, issue #17).

mod export_fixture;
mod http_client;
#[path = "fleet/tools.rs"]
mod tools;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;

use vigil::export::prometheus::{encode_with, Format};
use vigil::export::Granularity;
use vigil::http::Endpoint;
use vigil::monitor::MockClock;
use vigil::registry::{MailboxProbe, MailboxSnapshot};
use vigil::{Registry, ServiceObj};

use export_fixture::Fixture;
use http_client::{get, loopback};

/// What `promtool check metrics` said about one text.
#[derive(Debug)]
struct Verdict {
    /// Exit status: 0 clean, 3 lint problems, 1 a text it could not parse.
    code: Option<i32>,
    /// Its report, one problem a line (`metric text`), or the parse error.
    report: String,
}

/// `promtool`, or `None` (after saying why) where a test may skip; fails under `CI=true`.
fn promtool() -> Option<&'static str> {
    tools::debian_prometheus_tool("promtool")
}

/// Runs `promtool check metrics` on `text` (its standard input).
fn check_metrics(promtool: &str, text: &str) -> Verdict {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(text.as_bytes())
        .expect("write the text to promtool");
    let output = child.wait_with_output().expect("wait for promtool");
    Verdict {
        code: output.status.code(),
        report: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// Asserts that promtool parsed `text` and found no problem at all.
#[track_caller]
fn assert_promtool_accepts(promtool: &str, text: &str) {
    assert!(!text.is_empty());
    let verdict = check_metrics(promtool, text);
    assert_eq!(
        verdict.code,
        Some(0),
        "promtool check metrics: {verdict:?}\n{text}"
    );
    assert!(verdict.report.trim().is_empty(), "{verdict:?}\n{text}");
}

/// `GET /metrics` as `curl` sends it (no `Accept`: the Prometheus text format).
async fn scrape(address: SocketAddr) -> String {
    let response = get(address, "/metrics", "").await;
    assert_eq!(response.status_line, "HTTP/1.1 200 OK", "{response:?}");
    assert_eq!(
        response.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.body
}

#[test]
fn promtool_accepts_a_scrape_of_every_per_name_figure() {
    let Some(promtool) = promtool() else { return };
    let fixture = Fixture::new();
    // With a watched runtime and a mailbox: their families too.
    fixture
        .registry
        .watch_runtime("main", fixture.runtime.handle());
    let probe: Arc<dyn MailboxProbe> = Arc::new(export_fixture::FixedMailbox(
        MailboxSnapshot::new(100, 100, 500, 400, 3, std::time::Duration::from_secs(2)),
    ));
    fixture.registry.watch_mailbox("worker", &probe);
    let server = Endpoint::new(Arc::clone(&fixture.registry))
        .spawn(fixture.runtime.handle(), loopback())
        .expect("bind loopback");
    let text = fixture.runtime.block_on(scrape(server.local_addr()));
    // Every per-name family of the fixture, the histogram among them.
    assert!(text.contains("vigil_service_slow_polls_ratio{"), "{text}");
    assert!(text.contains("vigil_service_slow_polls_total{"), "{text}");
    assert!(text.contains("vigil_service_poll_duration_seconds_bucket{"));
    assert!(text.contains("vigil_service_scheduling_delay_seconds_total{"));
    assert!(text.contains("vigil_runtime_worker_busy_seconds_total{"));
    assert!(text.contains("vigil_mailbox_depth{"));
    assert!(!text.contains("quantile"));
    assert_promtool_accepts(promtool, &text);
}

#[test]
fn promtool_accepts_per_instance_series_and_their_histograms() {
    let Some(promtool) = promtool() else { return };
    let fixture = Fixture::new();
    let text = encode_with(
        &fixture.registry.metrics(),
        Format::Prometheus,
        Granularity::per_instance(10),
    );
    assert!(text.contains("vigil_service_instance_poll_duration_seconds_bucket{"));
    assert_promtool_accepts(promtool, &text);
}

#[test]
fn promtool_accepts_escaped_names_and_endings_in_a_scrape() {
    let Some(promtool) = promtool() else { return };
    let runtime = http_client::multi_thread();
    let registry = Arc::new(Registry::builder().clock(MockClock::new()).build());
    let _odd = registry.start_in(
        runtime.handle(),
        ServiceObj::new("a \"quoted\", back\\slashed\nname", std::future::pending()),
    );
    let ended = registry.start_in(runtime.handle(), ServiceObj::new("once", async {}));
    runtime.block_on(ended).expect("`once` completes");
    let server = Endpoint::new(Arc::clone(&registry))
        .spawn(runtime.handle(), loopback())
        .expect("bind loopback");
    let text = runtime.block_on(scrape(server.local_addr()));
    assert!(
        text.contains(r#"vigil_service_instances{service="a \"quoted\", back\\slashed\nname"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"vigil_service_endings_total{service="once",outcome="completed"} 1"#));
    assert_promtool_accepts(promtool, &text);
}

#[test]
fn the_check_fails_on_text_promtool_rejects() {
    // The checker itself: a broken line must not pass as a known complaint.
    let Some(promtool) = promtool() else { return };
    let verdict = check_metrics(promtool, "vigil_service_instances{service=\"x} 1\n");
    assert_eq!(verdict.code, Some(1), "{verdict:?}");
    let lint = check_metrics(
        promtool,
        "# HELP polls Polls.\n# TYPE polls counter\npolls 1\n",
    );
    assert_eq!(lint.code, Some(3), "{lint:?}");
    assert!(
        lint.report.contains("should have \"_total\" suffix"),
        "{lint:?}"
    );
}
