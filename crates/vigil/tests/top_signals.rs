//! The `top` example stops on SIGTERM and SIGINT as a service process does: the report is
//! printed and the exit status says whether the shutdown was clean.
//!
//! Run as a user would: the built example is a child process that gets a real signal.

mod fleet;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use fleet::top_example::build_example;

/// A guard against a hang, not a measure: the demo's shutdown takes 1.5 s by design.
const HANG_GUARD: Duration = Duration::from_secs(300);

/// The first line of every table the example prints.
const TABLE_HEADER: &str = "vigil top  t=";

/// Kills `child` if it is still running after [`HANG_GUARD`], so a hang fails the test.
fn guard(child: &Child) -> mpsc::Sender<()> {
    let (done, finished) = mpsc::channel::<()>();
    let pid = child.id().to_string();
    thread::spawn(move || {
        if finished.recv_timeout(HANG_GUARD) == Err(mpsc::RecvTimeoutError::Timeout) {
            eprintln!("the example did not exit: killing it");
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
    });
    done
}

/// Runs the example until its first table, sends `signal`, and returns everything it
/// printed and its exit code.
fn stop_with(signal: &str) -> (String, Option<i32>) {
    let mut child = Command::new(build_example())
        // Longer than any test: only the signal ends it.
        .args(["--duration", "3600"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the top example");
    let done = guard(&child);
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let mut printed = String::new();
    // The first table: the handlers were registered before any service started.
    for line in lines.by_ref() {
        let line = line.expect("read the example's output");
        printed.push_str(&line);
        printed.push('\n');
        if line.starts_with(TABLE_HEADER) {
            break;
        }
    }
    assert!(printed.contains(TABLE_HEADER), "no table: {printed}");
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -{signal} failed");
    for line in lines {
        printed.push_str(&line.expect("read the example's output"));
        printed.push('\n');
    }
    let status = child.wait().expect("wait for the example");
    let _ = done.send(());
    (printed, status.code())
}

/// What every stop by signal prints, and the status of the demo's (never clean) shutdown.
#[track_caller]
fn assert_stopped_gracefully(signal: &str, printed: &str, code: Option<i32>) {
    assert!(
        printed.contains(&format!("\nSIG{signal} received")),
        "{printed}"
    );
    assert!(printed.contains("\nshutting down (deadline "), "{printed}");
    // The report's verdict line: never clean, whenever the signal comes, since one of the
    // demo's services ignores shutdown requests and is aborted at the deadline.
    assert!(printed.contains("\nshutdown in "), "{printed}");
    assert!(printed.contains(" NOT clean\n"), "{printed}");
    assert!(printed.contains("\n  deaf#0          aborted"), "{printed}");
    // `None` would be death by the signal itself: the process handled it and exited with 1,
    // "not clean".
    assert_eq!(code, Some(1), "{printed}");
}

#[test]
fn sigterm_shuts_the_example_down_and_prints_the_report() {
    let (printed, code) = stop_with("TERM");
    assert_stopped_gracefully("TERM", &printed, code);
}

#[test]
fn sigint_shuts_the_example_down_and_prints_the_report() {
    let (printed, code) = stop_with("INT");
    assert_stopped_gracefully("INT", &printed, code);
}
