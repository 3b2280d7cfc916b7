//! Reads criterion's `estimates.json` files: the median of every benchmark, keyed by id.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;
use std::time::SystemTime;

use serde::Deserialize;

/// Criterion's per-benchmark subdirectories that are not benchmark ids.
const NOT_BENCHMARKS: [&str; 4] = ["new", "base", "change", "report"];

/// Median times in nanoseconds per criterion iteration, keyed by benchmark id
/// (`group/function` or `group/function/parameter`, as criterion lays out its directories).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Estimates {
    medians: BTreeMap<String, f64>,
}

impl Estimates {
    /// The median of benchmark `id`, in ns per iteration.
    pub(crate) fn get(&self, id: &str) -> Option<f64> {
        self.medians.get(id).copied()
    }

    /// Records the median of `id` (used by the collector and by tests).
    pub(crate) fn insert(&mut self, id: impl Into<String>, median_ns: f64) {
        self.medians.insert(id.into(), median_ns);
    }

    /// The benchmarks of one group as `(function, median)`, in id order.
    pub(crate) fn group<'a>(&'a self, group: &'a str) -> impl Iterator<Item = (&'a str, f64)> {
        self.medians.iter().filter_map(move |(id, &median)| {
            let function = id.strip_prefix(group)?.strip_prefix('/')?;
            Some((function, median))
        })
    }

    /// Number of benchmarks read.
    pub(crate) fn len(&self) -> usize {
        self.medians.len()
    }
}

/// The part of criterion's `estimates.json` xtask reads; other fields are ignored.
#[derive(Debug, Deserialize)]
struct EstimatesFile {
    median: Estimate,
}

#[derive(Debug, Deserialize)]
struct Estimate {
    point_estimate: f64,
}

/// Extracts `median.point_estimate` (nanoseconds) from an `estimates.json` document.
pub(crate) fn median_ns(estimates_json: &str) -> Result<f64, String> {
    let document: EstimatesFile =
        serde_json::from_str(estimates_json).map_err(|error| error.to_string())?;
    Some(document.median.point_estimate)
        .filter(|median| median.is_finite())
        .ok_or_else(|| "median.point_estimate is not finite".to_string())
}

/// Reads every `<id>/new/estimates.json` under `criterion_dir`.
///
/// With `since`, files last written before it (results of earlier runs) are skipped. A
/// missing directory reads as no results; an unreadable or malformed file is an error that
/// names the file.
pub(crate) fn collect(criterion_dir: &Path, since: Option<SystemTime>) -> io::Result<Estimates> {
    let mut estimates = Estimates::default();
    if criterion_dir.is_dir() {
        visit(criterion_dir, criterion_dir, since, &mut estimates)?;
    }
    Ok(estimates)
}

fn visit(
    root: &Path,
    dir: &Path,
    since: Option<SystemTime>,
    estimates: &mut Estimates,
) -> io::Result<()> {
    let file = dir.join("new").join("estimates.json");
    if file.is_file() && is_fresh(&file, since)? {
        let text = fs::read_to_string(&file)?;
        let median = median_ns(&text).map_err(|error| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {error}", file.display()),
            )
        })?;
        estimates.insert(benchmark_id(root, dir), median);
    }
    let mut children: Vec<_> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .filter(|entry| !NOT_BENCHMARKS.iter().any(|skip| entry.file_name() == *skip))
        .map(|entry| entry.path())
        .collect();
    children.sort();
    for child in children {
        visit(root, &child, since, estimates)?;
    }
    Ok(())
}

fn is_fresh(file: &Path, since: Option<SystemTime>) -> io::Result<bool> {
    match since {
        None => Ok(true),
        Some(since) => Ok(fs::metadata(file)?.modified()? >= since),
    }
}

/// `root/a/b` -> `a/b`, with `/` separators on every platform.
fn benchmark_id(root: &Path, dir: &Path) -> String {
    let relative = dir.strip_prefix(root).unwrap_or(dir);
    relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const FIXTURE: &str = include_str!("../tests/fixtures/estimates.json");

    #[test]
    fn reads_the_median_point_estimate() {
        assert_eq!(median_ns(FIXTURE), Ok(25.182_367_113_654_8));
    }

    #[test]
    fn rejects_documents_without_a_median() {
        assert!(median_ns(r#"{"mean": {"point_estimate": 1.0}}"#).is_err());
        assert!(median_ns(r#"{"median": {"point_estimate": "fast"}}"#).is_err());
        assert!(median_ns(r#"{"median": {"point_estimate": null}}"#).is_err());
        assert!(median_ns("{").is_err());
        assert!(median_ns(r#"{"median": {"point_estimate": 1.0}} trailing"#).is_err());
    }

    /// A scratch directory under the target directory, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("xtask-estimates-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn write(&self, relative: &str, text: &str) {
            let path = self.0.join(relative);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn collects_every_benchmark_under_the_criterion_directory() {
        let scratch = Scratch::new("collect");
        scratch.write("poll_path/bare/new/estimates.json", FIXTURE);
        scratch.write("poll_path/bare/base/estimates.json", "not read");
        scratch.write(
            "registry_start/1000/new/estimates.json",
            r#"{"median": {"point_estimate": 1.5e6}}"#,
        );
        scratch.write("report/index.html", "");

        let estimates = collect(&scratch.0, None).unwrap();
        assert_eq!(estimates.len(), 2);
        assert_eq!(estimates.get("poll_path/bare"), Some(25.182_367_113_654_8));
        assert_eq!(estimates.get("registry_start/1000"), Some(1.5e6));
        let group: Vec<_> = estimates.group("registry_start").collect();
        assert_eq!(group, [("1000", 1.5e6)]);

        // Results older than the run are ignored.
        let later = SystemTime::now() + std::time::Duration::from_secs(3600);
        assert_eq!(collect(&scratch.0, Some(later)).unwrap().len(), 0);
    }

    #[test]
    fn names_the_malformed_file() {
        let scratch = Scratch::new("malformed");
        scratch.write("clock/std_instant/new/estimates.json", "{}");
        let error = collect(&scratch.0, None).unwrap_err();
        assert!(error.to_string().contains("std_instant"), "{error}");
    }

    #[test]
    fn a_missing_directory_has_no_results() {
        let missing = std::env::temp_dir().join("xtask-estimates-does-not-exist");
        assert_eq!(collect(&missing, None).unwrap().len(), 0);
    }
}
