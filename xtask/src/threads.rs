//! The figures of `registry_threads`: starts from 1, 2, 4 and 8 threads at once, with one
//! shared name or one name per thread.
//!
//! Ids are the ones `benches/benches/registry.rs` registers.

use crate::estimates::Estimates;
use crate::summary::divide;

/// Starting threads in `registry_threads/{same_name,different_names}/N`.
pub(crate) const THREAD_COUNTS: [u64; 4] = [1, 2, 4, 8];

/// Median wall ns per start per thread, for each of [`THREAD_COUNTS`].
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ThreadStarts {
    /// One row per thread count, in [`THREAD_COUNTS`] order.
    pub(crate) rows: Vec<ThreadRow>,
}

/// `registry_threads/*/N` for one N.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ThreadRow {
    pub(crate) threads: u64,
    /// Every thread starts instances of one shared name.
    pub(crate) same_name_ns: Option<f64>,
    /// Each thread starts instances of its own name.
    pub(crate) different_names_ns: Option<f64>,
}

impl ThreadRow {
    /// Same name over different names, at this thread count.
    pub(crate) fn same_vs_different(&self) -> Option<f64> {
        divide(self.same_name_ns, self.different_names_ns)
    }
}

impl ThreadStarts {
    pub(crate) fn from_estimates(estimates: &Estimates) -> Self {
        let rows = THREAD_COUNTS
            .iter()
            .map(|&threads| {
                let case =
                    |case: &str| estimates.get(&format!("registry_threads/{case}/{threads}"));
                ThreadRow {
                    threads,
                    same_name_ns: case("same_name"),
                    different_names_ns: case("different_names"),
                }
            })
            .collect();
        Self { rows }
    }

    /// The row of `threads` threads, if that count is one of [`THREAD_COUNTS`].
    pub(crate) fn row(&self, threads: u64) -> Option<&ThreadRow> {
        self.rows.iter().find(|row| row.threads == threads)
    }

    /// `true` if any `registry_threads` benchmark ran.
    pub(crate) fn any(&self) -> bool {
        self.rows
            .iter()
            .any(|row| row.same_name_ns.is_some() || row.different_names_ns.is_some())
    }

    /// `row`'s same-name figure over the one-thread same-name figure.
    pub(crate) fn same_name_vs_one(&self, row: &ThreadRow) -> Option<f64> {
        divide(
            row.same_name_ns,
            self.row(1).and_then(|one| one.same_name_ns),
        )
    }

    /// `row`'s different-names figure over the one-thread different-names figure.
    pub(crate) fn different_names_vs_one(&self, row: &ThreadRow) -> Option<f64> {
        divide(
            row.different_names_ns,
            self.row(1).and_then(|one| one.different_names_ns),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::tests::close;

    #[test]
    fn compares_each_count_with_one_thread() {
        let threads = ThreadStarts::from_estimates(&crate::summary::tests::sample_estimates());
        let two = threads.row(2).unwrap();
        assert!(close(two.same_name_ns, 2_100.0));
        assert!(close(threads.same_name_vs_one(two), 3.0));
        assert!(close(threads.different_names_vs_one(two), 2.0));
        assert!(close(
            threads.row(8).unwrap().same_vs_different(),
            8_400.0 / 5_200.0
        ));
        assert!(threads.any());
        assert!(threads.row(3).is_none());
        assert!(!ThreadStarts::from_estimates(&Estimates::default()).any());
    }

    /// The ids and counts read here are the ones the bench registers.
    #[test]
    fn matches_the_registry_bench() {
        let path = crate::project_root().join("benches/benches/registry.rs");
        let source = std::fs::read_to_string(path).unwrap();
        for id in ["registry_threads", "same_name", "different_names"] {
            assert!(
                source.contains(&format!("\"{id}\"")),
                "no {id:?} in the bench"
            );
        }
        let counts = source
            .lines()
            .find_map(|line| line.strip_prefix("const THREAD_COUNTS: [usize; 4] = "))
            .map(|value| value.trim_end_matches(';').to_string());
        let expected = format!("{THREAD_COUNTS:?}");
        assert_eq!(counts.as_deref(), Some(expected.as_str()));
    }
}
