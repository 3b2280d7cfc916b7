//! Instructions per poll of each poll-path variant, counted by callgrind (optional).
//!
//! Timings on a shared 2-core VM are noisy; instruction counts are exact and repeatable. The
//! `poll_instructions` example polls one variant N times; callgrind counts only inside its
//! `poll_loop`, at two poll counts, and the difference divided by the difference of counts is
//! the per-poll figure. Counts miss what instructions cannot show (a TSC read is one
//! instruction of ~25 cycles), so they complement the timings, never replace them.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::table::{ns, or_na, Table};
use serde::Deserialize;

const EXAMPLE: &str = "poll_instructions";
const FEWER_POLLS: u64 = 100_000;
const MORE_POLLS: u64 = 200_000;

/// Instructions per poll, per variant, in the example's order.
pub(crate) type Counts = Vec<(String, f64)>;

/// `true` if `valgrind` can be run.
pub(crate) fn valgrind_available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Builds the example (bench profile) and counts every variant's instructions per poll.
pub(crate) fn count(root: &Path, cargo: &str) -> io::Result<Counts> {
    let executable = build_example(root, cargo)?;
    let listing = Command::new(&executable).arg("--list").output()?;
    if !listing.status.success() {
        return Err(io::Error::other(format!("{EXAMPLE} --list failed")));
    }
    let mut counts = Vec::new();
    for variant in String::from_utf8_lossy(&listing.stdout).lines() {
        let fewer = collected(&executable, variant, FEWER_POLLS)?;
        let more = collected(&executable, variant, MORE_POLLS)?;
        let per_poll = more.saturating_sub(fewer) as f64 / (MORE_POLLS - FEWER_POLLS) as f64;
        eprintln!("    {variant}: {per_poll:.1} instructions/poll");
        counts.push((variant.to_string(), per_poll));
    }
    Ok(counts)
}

fn build_example(root: &Path, cargo: &str) -> io::Result<PathBuf> {
    let output = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "-p",
            "vigil-benches",
            "--profile",
            "bench",
            "--example",
            EXAMPLE,
        ])
        .args(["--message-format", "json-render-diagnostics"])
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        return Err(io::Error::other(format!("building {EXAMPLE} failed")));
    }
    executable_from_messages(&String::from_utf8_lossy(&output.stdout), EXAMPLE)
        .ok_or_else(|| io::Error::other(format!("cargo reported no executable for {EXAMPLE}")))
}

/// The fields of one cargo JSON message xtask reads; other fields are ignored.
#[derive(Debug, Deserialize)]
struct CargoMessage {
    reason: String,
    target: Option<Target>,
    executable: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
struct Target {
    name: String,
}

/// The `executable` of the `compiler-artifact` message for target `name`.
pub(crate) fn executable_from_messages(messages: &str, name: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<CargoMessage>(line).ok())
        .filter(|message| {
            message.reason == "compiler-artifact"
                && message
                    .target
                    .as_ref()
                    .is_some_and(|target| target.name == name)
        })
        .find_map(|message| message.executable)
}

/// Instructions callgrind collected inside `poll_loop` for `polls` polls of `variant`.
fn collected(executable: &Path, variant: &str, polls: u64) -> io::Result<u64> {
    let output = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            &format!("--toggle-collect={EXAMPLE}::poll_loop*"),
        ])
        .arg(executable)
        .args([variant, &polls.to_string()])
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "callgrind failed on {variant}: {stderr}"
        )));
    }
    parse_collected(&stderr)
        .ok_or_else(|| io::Error::other(format!("no `Collected :` line from callgrind: {stderr}")))
}

/// The count on callgrind's `==pid== Collected : N` line.
pub(crate) fn parse_collected(stderr: &str) -> Option<u64> {
    stderr.lines().find_map(|line| {
        let (_, count) = line.split_once("Collected :")?;
        count.trim().parse().ok()
    })
}

/// Instructions per poll, with the time per poll of the same run beside them.
pub(crate) fn table(counts: &Counts, poll_ns: impl Fn(&str) -> Option<f64>) -> Table {
    let bare = counts
        .iter()
        .find(|(variant, _)| variant == "bare")
        .map(|(_, count)| *count);
    let mut table = Table::new(&["variant", "instructions/poll", "over bare", "ns/poll"]);
    for (variant, count) in counts {
        table.push(vec![
            variant.clone(),
            format!("{count:.1}"),
            bare.map_or_else(|| "n/a".to_string(), |bare| format!("{:.1}", count - bare)),
            or_na(poll_ns(variant), ns),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--instructions` builds this example; a commit once deleted it unnoticed. CI's
    /// `cargo clippy --workspace --all-targets` compiles it, this test says it is there.
    #[test]
    fn the_example_exists() {
        let path = crate::project_root()
            .join("benches/examples")
            .join(format!("{EXAMPLE}.rs"));
        assert!(path.is_file(), "{} is missing", path.display());
    }

    #[test]
    fn reads_callgrinds_total() {
        let stderr =
            "==2272== \n==2272== Events    : Ir\n==2272== Collected : 8500026\n==2272== \n";
        assert_eq!(parse_collected(stderr), Some(8_500_026));
        assert_eq!(parse_collected("nothing here"), None);
    }

    #[test]
    fn finds_the_example_in_cargo_messages() {
        let messages = r#"{"reason":"compiler-artifact","target":{"name":"vigil_monitor"},"executable":null}
{"reason":"compiler-artifact","target":{"name":"poll_instructions","kind":["example"]},"executable":"/t/release/examples/poll_instructions"}
not a JSON line
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            executable_from_messages(messages, "poll_instructions"),
            Some(PathBuf::from("/t/release/examples/poll_instructions"))
        );
        assert_eq!(executable_from_messages(messages, "other"), None);
    }

    #[test]
    fn tabulates_counts_against_bare() {
        let counts = vec![
            ("bare".to_string(), 8.0),
            ("vigil_default".to_string(), 85.0),
        ];
        let times = |variant: &str| match variant {
            "bare" => Some(1.6),
            "vigil_default" => Some(25.0),
            _ => None,
        };
        let rendered = table(&counts, times).render();
        assert!(
            rendered.contains("| vigil_default |              85.0 |      77.0 |    25.0 |"),
            "{rendered}"
        );
    }
}
