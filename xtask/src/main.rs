//! Project automation for vigil, run as `cargo xtask <task>` (see `.cargo/config.toml`).
//!
//! Few dependencies, each doing real work: `serde_json` reads criterion's and cargo's JSON;
//! the rest is std. It runs the benches and prints tables with their targets; what the
//! numbers mean is written by people, in `docs/benchmarks.md`'s notes.

mod bench;
mod docs;
mod estimates;
// The benchmark ids, shared with the benches that register them: one file compiled into
// both crates (xtask depends on no bench code). Its items are public there.
#[allow(unreachable_pub)]
#[path = "../../benches/src/ids.rs"]
mod ids;
mod instructions;
mod machine;
mod report;
mod summary;
mod table;

#[cfg(test)]
mod tidy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const HELP: &str = "\
Usage: cargo xtask <task> [options]

Tasks:
    bench    run the criterion benches and print the comparison tables
    help     print this message

cargo xtask bench --help for the bench options.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = project_root();
    let result = match args.first().map(String::as_str) {
        Some("bench") if args[1..].iter().any(|arg| arg == "--help" || arg == "-h") => {
            println!("{}", bench::USAGE);
            Ok(())
        }
        Some("bench") => bench::run(&root, &args[1..]),
        Some("help" | "--help" | "-h") => {
            println!("{HELP}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task `{other}`\n\n{HELP}")),
        None => {
            println!("{HELP}");
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this package's directory.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
