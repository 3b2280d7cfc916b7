//! The capture in a release build without special flags: `examples/where.rs`, built with
//! `cargo build --release` and run as its own process, names the blocking call and the
//! services' own functions, each captured within a second of asking.

use std::process::Command;
use std::time::Duration;

/// `id`'s section of the example's output: its header line, then its frames.
fn section<'a>(output: &'a str, id: &str) -> &'a str {
    let start = output
        .find(&format!("{id} on thread"))
        .unwrap_or_else(|| panic!("no stack of {id} in:\n{output}"));
    let rest = &output[start..];
    rest.split("\n\n").next().unwrap_or(rest)
}

/// The capture time on a section's header: `(captured in 88.1ms)`.
fn capture_time(section: &str) -> Duration {
    let text = section
        .split("(captured in ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no capture time in {section}"));
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(us) = text.strip_suffix("µs") {
        (us, 1e-6)
    } else if let Some(ns) = text.strip_suffix("ns") {
        (ns, 1e-9)
    } else {
        (text.trim_end_matches('s'), 1.0)
    };
    Duration::from_secs_f64(number.parse::<f64>().expect("a number") * scale)
}

#[test]
fn release_build_names_the_blocking_call_and_the_services_functions() {
    if !vigil_profile::SUPPORTED {
        eprintln!("skipped: no profiler on this platform");
        return;
    }
    let manifest = env!("CARGO_MANIFEST_DIR");
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "-p",
            "vigil-profile",
            "--example",
            "where",
        ])
        .current_dir(manifest)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the release build failed");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(manifest).join("../../target"));
    let output = Command::new(target.join("release/examples/where"))
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the example failed:\n{stdout}");

    let sleeper = section(&stdout, "sleeper#0");
    assert!(
        sleeper.contains("clock_nanosleep"),
        "no blocking call in:\n{sleeper}"
    );
    assert!(
        sleeper.contains("where::sleeper"),
        "no service function in:\n{sleeper}"
    );
    assert!(capture_time(sleeper) < Duration::from_secs(1), "{sleeper}");

    let spinner = section(&stdout, "spinner#0");
    assert!(
        spinner.contains("where::spinner"),
        "no service function in:\n{spinner}"
    );
    assert!(capture_time(spinner) < Duration::from_secs(1), "{spinner}");

    assert!(
        stdout.contains("samples by service: [(\"spinner\","),
        "{stdout}"
    );
}
