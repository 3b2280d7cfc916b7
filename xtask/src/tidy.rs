//! Repository hygiene for every package of the workspace: every Rust file opens with a `//!`
//! summary and carries no trailing whitespace.

use std::fs;
use std::path::{Path, PathBuf};

/// The directories checked, relative to the workspace root.
const CHECKED: [&str; 3] = ["crates", "benches", "xtask"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name != "target") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_summary_and_has_no_trailing_whitespace() {
    let root = crate::project_root();
    let mut files = Vec::new();
    for dir in CHECKED {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 5, "found only {files:?}");
    let mut problems = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        if !text.starts_with("//! ") {
            problems.push(format!(
                "{}: does not start with a `//!` summary",
                file.display()
            ));
        }
        for (number, line) in text.lines().enumerate() {
            if line.ends_with(' ') || line.ends_with('\t') {
                problems.push(format!(
                    "{}:{}: trailing whitespace",
                    file.display(),
                    number + 1
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
