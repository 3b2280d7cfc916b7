//! The binary's command line without a live target: usage errors, an absent target, and a
//! fake target serving canned JSON.

use std::process::Command;

fn vigil_top() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vigil-top"))
}

/// An address that refuses connections: bound, then released.
fn free_address() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
}

#[test]
fn once_against_an_absent_target_reports_the_disconnection() {
    let address = free_address();
    let output = vigil_top()
        .args(["--once", &format!("http://{address}")])
        .output()
        .expect("run vigil-top");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("disconnected"), "{stderr}");
    assert!(stderr.contains(&address.to_string()), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn without_a_terminal_the_plain_table_is_printed_instead_of_the_dashboard() {
    // No --once, stdout is a pipe: vigil-top must not try to take over a terminal.
    let output = vigil_top()
        .arg(format!("http://{}", free_address()))
        .output()
        .expect("run vigil-top");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("disconnected"), "{stderr}");
}

#[test]
fn bad_arguments_exit_2_with_usage() {
    for args in [
        &[][..],
        &["--interval", "zero", "http://x"],
        &["--interval", "0", "http://x"],
        &["--bogus", "http://x"],
        // Several URLs are one source; mixing kinds of sources is not.
        &["--prometheus", "http://p", "http://x"],
        &["--demo", "http://x"],
        &["--replay", "file", "--record", "file"],
    ] {
        let output = vigil_top().args(args).output().expect("run vigil-top");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("usage: vigil-top"), "{args:?}: {stderr}");
    }
}

/// An attach-only build (`--no-default-features`) says why `--demo` does not work.
#[cfg(not(feature = "demo"))]
#[test]
fn demo_without_the_feature_is_a_usage_error_that_says_so() {
    let output = vigil_top()
        .args(["--demo", "--once"])
        .output()
        .expect("run vigil-top");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`demo` feature"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn help_prints_usage_and_exits_0() {
    let output = vigil_top().arg("--help").output().expect("run vigil-top");
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("--demo"));
}

/// A snapshot with one instance of `legacy` inside a 3 s poll.
const STUCK_SNAPSHOT: &str = r#"{"schema_version": 1, "taken_at_ns": 1000000000,
  "groups": [{"name": "legacy", "instances": 1, "poll_count": 1, "total_busy_ns": 3000000000,
              "longest_in_poll_ns": 3000000000}],
  "instances": [{"name": "legacy", "instance_id": 0, "poll_count": 1,
                 "total_busy_ns": 3000000000, "current_poll_ns": 3000000000}]}"#;

/// Its stack, as `/debug/stacks?format=json` answers with a profiler.
const STUCK_STACKS: &str = r#"{"stuck_after_ns": 1000000000, "stuck": [
  {"id": "legacy#0", "name": "legacy", "instance_id": 0, "in_poll_ns": 3000000000,
   "thread_name": "tokio-runtime-worker", "thread_id": 77, "error": null,
   "frames": [
     {"function": "std::thread::sleep", "file": "/rustc/x/library/std/src/thread/mod.rs",
      "line": 879, "module": null, "address": 16, "inlined": false},
     {"function": "app::wait_for_legacy_lock", "file": "/src/app.rs", "line": 12,
      "module": null, "address": 32, "inlined": false}]}]}"#;

/// Serves `snapshot` at `/snapshot.json` and, when given, `stacks` at `/debug/stacks`
/// (else 404 there, as an endpoint without a profiler); counts the stacks requests.
fn fake_target(
    stacks: Option<&'static str>,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let stacks_requests = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&stacks_requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|read| read > 2) {
                line.clear();
            }
            let (status, body) = match request_line.split(' ').nth(1).unwrap_or("") {
                "/snapshot.json" => ("200 OK", STUCK_SNAPSHOT),
                "/debug/stacks?format=json" => {
                    counted.fetch_add(1, Ordering::SeqCst);
                    stacks.map_or(("404 Not Found", "not found"), |body| ("200 OK", body))
                }
                _ => ("404 Not Found", "not found"),
            };
            let _ = write!(
                reader.get_mut(),
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://{address}"), stacks_requests)
}

#[test]
fn once_appends_the_stack_of_a_stuck_service_when_the_endpoint_has_a_profiler() {
    let (url, stacks_requests) = fake_target(Some(STUCK_STACKS));
    let output = vigil_top()
        .args(["--once", "--interval", "0.25", &url])
        .output()
        .expect("run vigil-top");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let table_row = stdout
        .lines()
        .position(|line| line.starts_with("legacy") && line.contains("STUCK"))
        .unwrap_or_else(|| panic!("no stuck row in\n{stdout}"));
    let lines: Vec<&str> = stdout.lines().collect();
    let header = lines
        .iter()
        .position(|line| line.starts_with("stack of legacy#0"))
        .unwrap_or_else(|| panic!("no stack in\n{stdout}"));
    assert!(header > table_row, "under the table: {stdout}");
    assert_eq!(
        lines[header],
        "stack of legacy#0 (thread tokio-runtime-worker, tid 77), in poll for 3.00s:"
    );
    assert_eq!(
        lines[header + 1].trim(),
        "0 std::thread::sleep  /rustc/x/library/std/src/thread/mod.rs:879"
    );
    assert_eq!(
        lines[header + 2].trim(),
        "1 app::wait_for_legacy_lock  /src/app.rs:12"
    );
    assert_eq!(stacks_requests.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn once_without_a_profiler_prints_the_table_alone() {
    let (url, stacks_requests) = fake_target(None);
    let output = vigil_top()
        .args(["--once", "--interval", "0.25", &url])
        .output()
        .expect("run vigil-top");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.lines().any(|line| line.starts_with("legacy")),
        "{stdout}"
    );
    assert!(!stdout.contains("stack of"), "{stdout}");
    assert_eq!(stacks_requests.load(std::sync::atomic::Ordering::SeqCst), 1);
}
