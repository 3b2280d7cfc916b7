//! The binary's command line without a live target: usage errors and an absent target.

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
        &["http://x", "http://y"],
        &["--demo", "http://x"],
    ] {
        let output = vigil_top().args(args).output().expect("run vigil-top");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("usage: vigil-top"), "{args:?}: {stderr}");
    }
}

#[test]
fn help_prints_usage_and_exits_0() {
    let output = vigil_top().arg("--help").output().expect("run vigil-top");
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("--demo"));
}
