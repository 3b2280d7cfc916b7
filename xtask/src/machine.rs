//! The machine a run was measured on: CPU model, core count, clocksource, toolchain, date, and
//! the revision of the measured code.

use std::fs;
use std::path::Path;
use std::process::Command;

/// What `docs/benchmarks.md` records about the machine and the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Machine {
    pub(crate) cpu_model: String,
    pub(crate) logical_cpus: usize,
    pub(crate) clocksource: String,
    pub(crate) rustc: String,
    /// `YYYY-MM-DD`, UTC.
    pub(crate) date: String,
    /// The commit measured, and whether `crates/` had uncommitted changes.
    pub(crate) revision: String,
}

const UNKNOWN: &str = "unknown";

impl Machine {
    /// Reads `/proc/cpuinfo`, the current clocksource, `rustc --version`, `date -u` and the
    /// git revision of `root`.
    pub(crate) fn detect(root: &Path) -> Self {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let (cpu_model, cpus) = parse_cpuinfo(&cpuinfo);
        let logical_cpus = if cpus > 0 {
            cpus
        } else {
            std::thread::available_parallelism().map_or(0, usize::from)
        };
        Self {
            cpu_model: cpu_model.unwrap_or_else(|| UNKNOWN.to_string()),
            logical_cpus,
            clocksource: fs::read_to_string(
                "/sys/devices/system/clocksource/clocksource0/current_clocksource",
            )
            .map(|source| source.trim().to_string())
            .unwrap_or_else(|_| UNKNOWN.to_string()),
            rustc: command_output("rustc", &["--version"]),
            date: command_output("date", &["-u", "+%Y-%m-%d"]),
            revision: revision(root),
        }
    }
}

/// The first `model name` and the number of `processor` entries.
pub(crate) fn parse_cpuinfo(cpuinfo: &str) -> (Option<String>, usize) {
    let mut model = None;
    let mut processors = 0;
    for line in cpuinfo.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key.trim() {
            "processor" => processors += 1,
            "model name" if model.is_none() => model = Some(value.trim().to_string()),
            _ => {}
        }
    }
    (model, processors)
}

/// `abc1234`, with a note when the library crates differ from that commit.
fn revision(root: &Path) -> String {
    let root = root.to_string_lossy();
    let commit = command_output("git", &["-C", &root, "rev-parse", "--short", "HEAD"]);
    let changes = command_output(
        "git",
        &["-C", &root, "status", "--porcelain", "--", "crates"],
    );
    describe_revision(&commit, changes != UNKNOWN)
}

pub(crate) fn describe_revision(commit: &str, crates_changed: bool) -> String {
    if crates_changed {
        format!("{commit} plus uncommitted changes in crates/")
    } else {
        format!("{commit} (crates/ as committed)")
    }
}

/// The trimmed standard output of a command, or `unknown`.
fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty())
        .unwrap_or_else(|| UNKNOWN.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_model_and_counts_processors() {
        let cpuinfo = "\
processor\t: 0
model name\t: Intel(R) Xeon(R) Processor @ 2.50GHz
flags\t\t: fpu tsc

processor\t: 1
model name\t: Intel(R) Xeon(R) Processor @ 2.50GHz
";
        assert_eq!(
            parse_cpuinfo(cpuinfo),
            (Some("Intel(R) Xeon(R) Processor @ 2.50GHz".to_string()), 2)
        );
        assert_eq!(parse_cpuinfo(""), (None, 0));
    }

    #[test]
    fn says_whether_the_crates_were_committed() {
        assert_eq!(
            describe_revision("eb414c0", false),
            "eb414c0 (crates/ as committed)"
        );
        assert_eq!(
            describe_revision("eb414c0", true),
            "eb414c0 plus uncommitted changes in crates/"
        );
    }
}
