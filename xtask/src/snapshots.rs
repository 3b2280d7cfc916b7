//! The snapshot figures: warm, cold and on a churned heap, and the sequential-read floor
//! they are compared with.
//!
//! Ids are the ones `benches/benches/registry_snapshot.rs` registers.

use crate::estimates::Estimates;
use crate::summary::divide;

/// Live services during every snapshot benchmark (`registry_snapshot*/10000`).
pub(crate) const SNAPSHOT_SERVICES: u64 = 10_000;
/// Short-lived services started and finished before `registry_snapshot_churned` starts its
/// live ones.
pub(crate) const CHURNED_SERVICES: u64 = 1_000_000;

/// Median ns per `metrics()` call with [`SNAPSHOT_SERVICES`] live services, and per
/// sequential read of the same number of per-instance bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Snapshots {
    /// `registry_snapshot/10000`: back to back.
    pub(crate) warm_ns: Option<f64>,
    /// `registry_snapshot_cold/10000`: after the caches are evicted.
    pub(crate) cold_ns: Option<f64>,
    /// `registry_snapshot_churned/10000`: back to back, on a heap churned by
    /// [`CHURNED_SERVICES`] short-lived services.
    pub(crate) churned_ns: Option<f64>,
    /// `registry_snapshot_floor/warm`: a sequential read, back to back.
    pub(crate) floor_warm_ns: Option<f64>,
    /// `registry_snapshot_floor/cold`: a sequential read after the caches are evicted.
    pub(crate) floor_cold_ns: Option<f64>,
}

impl Snapshots {
    pub(crate) fn from_estimates(estimates: &Estimates) -> Self {
        let call = |group: &str| estimates.get(&format!("{group}/{SNAPSHOT_SERVICES}"));
        Self {
            warm_ns: call("registry_snapshot"),
            cold_ns: call("registry_snapshot_cold"),
            churned_ns: call("registry_snapshot_churned"),
            floor_warm_ns: estimates.get("registry_snapshot_floor/warm"),
            floor_cold_ns: estimates.get("registry_snapshot_floor/cold"),
        }
    }

    /// A per-call figure divided by [`SNAPSHOT_SERVICES`].
    pub(crate) fn per_service(call_ns: Option<f64>) -> Option<f64> {
        Some(call_ns? / SNAPSHOT_SERVICES as f64)
    }

    /// Warm snapshot over the warm sequential read of as many bytes.
    pub(crate) fn warm_vs_floor(&self) -> Option<f64> {
        divide(self.warm_ns, self.floor_warm_ns)
    }

    /// Cold snapshot over the cold sequential read of as many bytes.
    pub(crate) fn cold_vs_floor(&self) -> Option<f64> {
        divide(self.cold_ns, self.floor_cold_ns)
    }

    /// Cold snapshot over warm snapshot.
    pub(crate) fn cold_vs_warm(&self) -> Option<f64> {
        divide(self.cold_ns, self.warm_ns)
    }

    /// Warm snapshot on the churned heap over warm snapshot on a fresh one.
    pub(crate) fn churned_vs_warm(&self) -> Option<f64> {
        divide(self.churned_ns, self.warm_ns)
    }

    /// Churned snapshot over the warm sequential read.
    pub(crate) fn churned_vs_floor(&self) -> Option<f64> {
        divide(self.churned_ns, self.floor_warm_ns)
    }

    /// `true` if any snapshot benchmark ran.
    pub(crate) fn any(&self) -> bool {
        [
            self.warm_ns,
            self.cold_ns,
            self.churned_ns,
            self.floor_warm_ns,
            self.floor_cold_ns,
        ]
        .iter()
        .any(Option::is_some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::tests::close;

    #[test]
    fn compares_each_snapshot_with_its_floor() {
        let snapshots = Snapshots::from_estimates(&crate::summary::tests::sample_estimates());
        assert!(close(Snapshots::per_service(snapshots.cold_ns), 45.0));
        assert!(close(snapshots.warm_vs_floor(), 5.0));
        assert!(close(snapshots.cold_vs_floor(), 7.5));
        assert!(close(snapshots.cold_vs_warm(), 3.0));
        assert!(close(snapshots.churned_vs_warm(), 1.2));
        assert!(close(snapshots.churned_vs_floor(), 6.0));
        assert!(snapshots.any());
        assert!(!Snapshots::default().any());
    }

    /// The ids and counts read here (and `registry_start_under_snapshots`, read by the
    /// summary) are the ones the bench registers.
    #[test]
    fn matches_the_snapshot_bench() {
        let path = crate::project_root().join("benches/benches/registry_snapshot.rs");
        let source = std::fs::read_to_string(path).unwrap();
        for id in [
            "registry_snapshot",
            "registry_snapshot_cold",
            "registry_snapshot_floor",
            "warm",
            "cold",
            "registry_snapshot_churned",
            "registry_start_under_snapshots",
            "alone",
            "with_snapshots",
            "with_other_snapshots",
        ] {
            assert!(
                source.contains(&format!("\"{id}\"")),
                "no {id:?} in the bench"
            );
        }
        let constant = |name: &str| {
            source
                .lines()
                .find_map(|line| line.strip_prefix(&format!("const {name}: u64 = ")))
                .and_then(|value| value.trim_end_matches(';').replace('_', "").parse().ok())
        };
        assert_eq!(constant("SNAPSHOT_SERVICES"), Some(SNAPSHOT_SERVICES));
        assert_eq!(constant("CHURNED_SERVICES"), Some(CHURNED_SERVICES));
    }
}
