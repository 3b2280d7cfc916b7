//! End to end: `vigil-top --once` attached over HTTP to a process serving vigil's endpoint.
//!
//! The test process is the target: it runs services on a registry and serves them with
//! `vigil::http::Endpoint`; `vigil-top` runs as a child process and reads them over HTTP.

mod common;

use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use vigil::http::{Endpoint, ServeHandle};
use vigil::prelude::*;
use vigil::registry::{PollHistograms, SlowPolls};

/// A runtime with an `ingest` service whose polls each spin 2 ms and two `flusher`
/// instances that only sleep, on a registry with the slow-poll (1 ms) and histogram
/// monitors, served on a free port.
fn target() -> (tokio::runtime::Runtime, ServeHandle) {
    let runtime = common::runtime();
    let registry = Arc::new(
        Registry::builder()
            .monitor((
                SlowPolls::with_threshold(Duration::from_millis(1)),
                PollHistograms,
            ))
            .build(),
    );
    let ingest = common::spinning("ingest", Duration::from_millis(2));
    drop(registry.start_in(runtime.handle(), ingest));
    for _ in 0..2 {
        drop(registry.start_in(
            runtime.handle(),
            common::spinning("flusher", Duration::ZERO),
        ));
    }
    let serving = Endpoint::new(registry)
        .spawn(runtime.handle(), "127.0.0.1:0".parse().expect("address"))
        .expect("serve the endpoint");
    (runtime, serving)
}

fn vigil_top_once(url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil-top"))
        .args(["--once", "--interval", "0.3", url])
        .output()
        .expect("run vigil-top")
}

#[test]
fn once_lists_the_targets_services_then_reports_its_disconnection() {
    let (runtime, serving) = target();
    let url = format!("http://{}", serving.local_addr());

    let output = vigil_top_once(&url);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let row = |name: &str| {
        stdout
            .lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("no `{name}` row in\n{stdout}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let ingest = row("ingest");
    assert_eq!(ingest[1..3], ["1", "running"], "{stdout}");
    let polls_per_second: f64 = ingest[3].parse().expect("polls/s from two documents");
    assert!(polls_per_second > 0.0, "{stdout}");
    assert_eq!(row("flusher")[1..3], ["2", "running"], "{stdout}");
    // The monitors' figures: every `ingest` poll is slow (2 ms > 1 ms), and its p99 comes
    // from the histogram's bucket holding 2 ms; `flusher` polls are fast (on a loaded
    // machine a descheduled thread can still make one of them slow: fewer than ingest's).
    let slow: u64 = ingest[7].parse().expect("a slow-poll count");
    assert!(slow > 0, "{stdout}");
    assert!(ingest[8].ends_with("ms"), "p99 of 2 ms polls: {stdout}");
    let flusher_slow: u64 = row("flusher")[7].parse().expect("a slow-poll count");
    assert!(flusher_slow < slow, "{stdout}");
    assert!(
        stdout.starts_with(&format!("vigil-top {url}  live instances 3")),
        "{stdout}"
    );

    // The target stops serving: vigil-top says so instead of failing.
    let address = serving.local_addr();
    drop(serving);
    runtime.shutdown_background();
    // The listener closes on the runtime's threads: wait until it refuses connections.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(address).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the endpoint kept listening"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = vigil_top_once(&url);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("disconnected"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[cfg(feature = "demo")]
#[test]
fn demo_once_prints_the_demo_services() {
    let output = Command::new(env!("CARGO_BIN_EXE_vigil-top"))
        .args(["--demo", "--once", "--interval", "0.5"])
        .output()
        .expect("run vigil-top");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout
            .lines()
            .any(|line| line.starts_with("vigil-top http://127.0.0.1:")),
        "{stdout}"
    );
    // Before the table, each kind of verdict the first time it is seen (within 30 s).
    let verdicts: Vec<&str> = stdout.lines().take_while(|line| !line.is_empty()).collect();
    for cause in [
        "polls slow (",
        "backlogged (mailbox ",
        "runtime saturated (",
    ] {
        assert!(
            verdicts
                .iter()
                .any(|line| line.contains(" lagging ") && line.contains(cause)),
            "no `{cause}` verdict in\n{stdout}"
        );
    }
    // The runtime line, and `orders`' mailbox in its column.
    assert!(
        stdout
            .lines()
            .any(|line| line.starts_with("runtime main: 4 workers")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|line| line.starts_with("orders") && line.contains("/500")),
        "{stdout}"
    );
    for name in [
        "ingest",
        "bursty",
        "idle",
        "dispatcher",
        "job",
        "crasher",
        "flaky_config",
        "stuck",
        "deaf",
        "orders",
        "order_feed",
        "batch",
    ] {
        assert!(
            stdout.lines().any(|line| line.starts_with(name)),
            "no `{name}` row in\n{stdout}"
        );
    }
}
