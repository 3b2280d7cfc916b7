//! The system tools some tests run: Debian's `prometheus` package (server and `promtool`).

use std::process::{Command, Stdio};

/// `tool` (a program of Debian's `prometheus` package) if it runs, or `None`, after saying
/// why, where a test may skip.
///
/// # Panics
///
/// Without it when `CI=true`: `.ci/run` installs the package, so its absence is a broken
/// setup.
pub(crate) fn debian_prometheus_tool(tool: &'static str) -> Option<&'static str> {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if found {
        return Some(tool);
    }
    let reason = format!(
        "`{tool}` is not on PATH: install Debian's `prometheus` package \
         (apt-get install prometheus), as .ci/run does"
    );
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true and {reason}"
    );
    eprintln!("skipped: {reason}");
    None
}
