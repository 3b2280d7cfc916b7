//! `cargo xtask bench`: runs the criterion benches, reads their estimates, prints the tables.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

use crate::docs::{self, RunInfo};
use crate::estimates::{self, Estimates};
use crate::ids;
use crate::instructions;
use crate::machine::Machine;
use crate::summary::Summary;

pub(crate) const USAGE: &str = "\
cargo xtask bench [--quick] [--filter PATTERN] [--instructions] [--write-docs] [--no-run]

Runs the criterion benches of `vigil-benches` and prints the poll-path, contended, clock,
registry, supervisor and mailbox tables with the issues' targets (pass/fail).

    --quick           pass --quick to criterion (whole run ~1 min instead of ~5 min)
    --filter PATTERN  pass PATTERN to criterion (a regex over ids like poll_path/classic,
                      registry_start/1000 or supervisor_start/supervised)
    --instructions    also count instructions per poll under valgrind's callgrind
    --write-docs      rewrite docs/benchmarks.md from this run
    --no-run          do not run the benches; report the results already on disk";

/// The options of `cargo xtask bench`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Options {
    pub(crate) quick: bool,
    pub(crate) filter: Option<String>,
    pub(crate) instructions: bool,
    pub(crate) write_docs: bool,
    pub(crate) no_run: bool,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> Result<Self, String> {
        let mut options = Self::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--instructions" => options.instructions = true,
                "--write-docs" => options.write_docs = true,
                "--no-run" => options.no_run = true,
                "--filter" => {
                    let pattern = args.next().ok_or("--filter needs a PATTERN")?;
                    options.filter = Some(pattern.clone());
                }
                other => match other.strip_prefix("--filter=") {
                    Some(pattern) => options.filter = Some(pattern.to_string()),
                    None => return Err(format!("unknown argument `{other}`")),
                },
            }
        }
        Ok(options)
    }

    /// The arguments criterion gets after `--`.
    pub(crate) fn criterion_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if self.quick {
            args.push("--quick".to_string());
        }
        if let Some(filter) = &self.filter {
            args.push(filter.clone());
        }
        args
    }
}

/// Runs `cargo xtask bench` with `args` (after `bench`).
pub(crate) fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let options = Options::parse(args)?;
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let criterion_dir = criterion_dir(root);

    let mut bench_seconds = None;
    let since = if options.no_run {
        None
    } else {
        // Results written before this moment belong to earlier runs.
        let started = SystemTime::now();
        let clock = Instant::now();
        let status = Command::new(&cargo)
            .current_dir(root)
            .args(["bench", "-p", "vigil-benches", "--benches"])
            .arg("--")
            .args(options.criterion_args())
            .status()
            .map_err(|error| format!("cannot run {cargo}: {error}"))?;
        if !status.success() {
            return Err(format!("cargo bench failed: {status}"));
        }
        bench_seconds = Some(clock.elapsed().as_secs());
        Some(started)
    };

    let estimates = estimates::collect(&criterion_dir, since)
        .map_err(|error| format!("reading {}: {error}", criterion_dir.display()))?;
    if estimates.len() == 0 {
        return Err(format!(
            "no criterion results in {}{}",
            criterion_dir.display(),
            if since.is_some() {
                " from this run"
            } else {
                ""
            }
        ));
    }
    let missing = missing_ids(&estimates);
    if !missing.is_empty() {
        let list = missing.join(", ");
        // A full run that leaves an id without a result means a bench stopped registering
        // it (renamed or removed): an error, so no table silently reads "not run".
        if !options.no_run && options.filter.is_none() {
            return Err(format!(
                "criterion reported no result for {list}: renamed or removed? The ids live \
                 in benches/src/ids.rs"
            ));
        }
        if options.filter.is_some() {
            // Expected of a filtered run: a count, not a page of ids.
            eprintln!(
                "{} of {} ids not in this run",
                missing.len(),
                ids::all().len()
            );
        } else {
            eprintln!("Not in these results: {list}");
        }
    }
    let summary = Summary::new(estimates);

    let counts = if options.instructions {
        if instructions::valgrind_available() {
            eprintln!("Counting instructions per poll under callgrind...");
            Some(instructions::count(root, &cargo).map_err(|error| error.to_string())?)
        } else {
            eprintln!("valgrind not found: skipping --instructions (apt-get install valgrind)");
            None
        }
    } else {
        None
    };

    println!();
    print!("{}", docs::results(&summary, counts.as_ref(), 3));
    if let Some(seconds) = bench_seconds {
        println!("cargo bench took {} min {} s.", seconds / 60, seconds % 60);
    }

    if options.write_docs {
        let path = root.join("docs").join("benchmarks.md");
        let previous = fs::read_to_string(&path).unwrap_or_default();
        let run = RunInfo {
            machine: Machine::detect(root),
            command: command_line(args),
            quick: options.quick,
            bench_seconds,
        };
        let document = docs::document(&run, &summary, counts.as_ref(), docs::kept_notes(&previous));
        fs::create_dir_all(path.parent().unwrap_or(root))
            .and_then(|()| fs::write(&path, document))
            .map_err(|error| format!("writing {}: {error}", path.display()))?;
        println!("Wrote {}", path.display());
    }
    Ok(())
}

/// The ids of [`ids::all`] that have no result in `estimates`.
fn missing_ids(estimates: &Estimates) -> Vec<String> {
    ids::all()
        .into_iter()
        .filter(|id| estimates.get(id).is_none())
        .collect()
}

/// Where criterion writes: `$CRITERION_HOME`, else `<target dir>/criterion`.
fn criterion_dir(root: &Path) -> PathBuf {
    if let Some(home) = env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        })
        .unwrap_or_else(|| root.join("target"));
    target.join("criterion")
}

/// The command as the user typed it (arguments with spaces quoted).
fn command_line(args: &[String]) -> String {
    let mut line = String::from("cargo xtask bench");
    for arg in args {
        if arg.contains(char::is_whitespace) || arg.is_empty() {
            line.push_str(&format!(" '{arg}'"));
        } else {
            line.push_str(&format!(" {arg}"));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| arg.to_string()).collect()
    }

    #[test]
    fn parses_every_option() {
        let options = Options::parse(&args(&[
            "--quick",
            "--filter",
            "poll_path",
            "--write-docs",
            "--instructions",
            "--no-run",
        ]))
        .unwrap();
        assert_eq!(
            options,
            Options {
                quick: true,
                filter: Some("poll_path".into()),
                instructions: true,
                write_docs: true,
                no_run: true,
            }
        );
        assert_eq!(options.criterion_args(), ["--quick", "poll_path"]);
        let options = Options::parse(&args(&["--filter=clock"])).unwrap();
        assert_eq!(options.filter.as_deref(), Some("clock"));
        assert_eq!(
            Options::parse(&[]).unwrap().criterion_args(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn rejects_unknown_or_incomplete_options() {
        assert!(Options::parse(&args(&["--fast"])).is_err());
        assert!(Options::parse(&args(&["--filter"])).is_err());
    }

    #[test]
    fn names_the_ids_a_run_left_without_a_result() {
        let mut estimates = Estimates::default();
        for id in crate::ids::all() {
            estimates.insert(id, 1.0);
        }
        assert!(missing_ids(&estimates).is_empty());
        let mut partial = Estimates::default();
        partial.insert("poll_path/bare", 1.0);
        let missing = missing_ids(&partial);
        assert!(!missing.contains(&"poll_path/bare".to_string()));
        assert!(missing.contains(&"supervisor_restart/panic_to_next_poll".to_string()));
    }

    #[test]
    fn echoes_the_command() {
        assert_eq!(
            command_line(&args(&["--filter", "poll path", "--quick"])),
            "cargo xtask bench --filter 'poll path' --quick"
        );
    }
}
