//! End to end: `vigil-top --once` over two endpoints, and `--record` then `--replay`, with
//! the targets served by this test process (`vigil::http::Endpoint`).

mod common;

use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use vigil::http::{Endpoint, ServeHandle};
use vigil::prelude::*;

/// A runtime with one service named `name` that spins 1 ms then sleeps 5 ms, served on
/// a free port.
fn target(name: &'static str) -> (tokio::runtime::Runtime, ServeHandle) {
    let runtime = common::runtime();
    let registry = Arc::new(Registry::new());
    drop(registry.start_in(
        runtime.handle(),
        common::spinning(name, Duration::from_millis(1)),
    ));
    let serving = Endpoint::new(registry)
        .spawn(runtime.handle(), "127.0.0.1:0".parse().expect("address"))
        .expect("serve the endpoint");
    (runtime, serving)
}

fn vigil_top(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil-top"))
        .args(args)
        .output()
        .expect("run vigil-top")
}

fn temp_path(what: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("vigil-top-cli-{what}-{}.rec", std::process::id()))
}

#[test]
fn once_over_two_endpoints_prints_both_processes_and_names_one_that_is_down() {
    let (_first_runtime, first) = target("ingest");
    let (_second_runtime, second) = target("flusher");
    let (a, b) = (
        first.local_addr().to_string(),
        second.local_addr().to_string(),
    );
    // A third address nobody serves.
    let nobody = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .to_string();
    let output = vigil_top(&["--once", "--interval", "0.3", &a, &b, &nobody]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].contains("(3 processes)"), "{stdout}");
    assert!(stdout.contains(&format!("down {nobody}: ")), "{stdout}");
    let header = lines
        .iter()
        .find(|line| line.starts_with("process"))
        .unwrap_or_else(|| panic!("no table header in\n{stdout}"));
    assert!(header.contains(" service "), "{header}");
    for (process, service) in [(&a, "ingest"), (&b, "flusher")] {
        let row = lines
            .iter()
            .find(|line| line.starts_with(process.as_str()))
            .unwrap_or_else(|| panic!("no {process} row in\n{stdout}"));
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            &cells[..4],
            [process.as_str(), service, "1", "running"],
            "{row}"
        );
        // Rates from two documents.
        assert_ne!(cells[4], "-", "{row}");
    }
}

#[test]
fn once_fails_when_no_endpoint_answers() {
    let nobody = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .to_string();
    let output = vigil_top(&["--once", "--interval", "0.3", &nobody, &nobody]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("vigil-top: disconnected: "), "{stderr}");
}

#[test]
fn a_recording_replays_to_the_same_table_and_a_foreign_file_is_refused() {
    let (_runtime, serving) = target("ingest");
    let address = serving.local_addr().to_string();
    let path = temp_path("roundtrip");
    let file = path.to_str().expect("a UTF-8 temp path");
    let live = vigil_top(&["--once", "--interval", "0.3", "--record", file, &address]);
    assert!(
        live.status.success(),
        "{}",
        String::from_utf8_lossy(&live.stderr)
    );
    let replayed = vigil_top(&["--once", "--replay", file]);
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    // The same table: the same documents, through the same code path.
    assert_eq!(
        String::from_utf8_lossy(&replayed.stdout),
        String::from_utf8_lossy(&live.stdout)
    );
    // `--record` and `--replay` do not mix.
    let both = vigil_top(&["--once", "--record", file, "--replay", file]);
    assert_eq!(both.status.code(), Some(2));

    std::fs::write(&path, b"{\"schema_version\": 2}").expect("write");
    let foreign = vigil_top(&["--once", "--replay", file]);
    assert_eq!(foreign.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&foreign.stderr);
    assert!(stderr.contains("is not a vigil-top recording"), "{stderr}");
    let _ = std::fs::remove_file(&path);
}
