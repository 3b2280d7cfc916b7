//! The figures behind every table, target and sentence of `cargo xtask bench`, derived from
//! criterion's medians.
//!
//! Benchmark ids are the ones `benches/` registers; see the module docs of
//! `benches/benches/poll_path.rs`, `benches/benches/registry.rs` and
//! `benches/benches/supervisor.rs`.

use crate::estimates::Estimates;
use crate::snapshots::Snapshots;
use crate::table::{ns, ratio};
use crate::threads::ThreadStarts;

/// Poll-path variants in table order; others the benches add are listed after them.
const POLL_VARIANTS: [&str; 11] = [
    "bare",
    "vigil_default",
    "vigil_stack",
    "vigil_full_stack",
    "vigil_scheduling",
    "vigil_all_monitors",
    "vigil_profiler",
    "classic",
    "tokio_metrics",
    "vigil_std_clock",
    "clock_floor",
];
/// Instances started per iteration in `registry_start/N`.
pub(crate) const START_COUNTS: [u64; 3] = [1_000, 10_000, 100_000];
/// Services started per iteration in `supervisor_start/{start_in,supervised}`.
pub(crate) const SUPERVISOR_STARTS: u64 = 1_000;

/// The targets.
const MAX_OVERHEAD_VS_CLASSIC: f64 = 0.35;
const MAX_OVERHEAD_VS_TOKIO_METRICS: f64 = 0.15;
pub(crate) const MAX_OVERHEAD_VS_CLOCK_FLOOR: f64 = 1.1;
const MAX_START_SCALING: f64 = 1.5;
/// Issue #10 tightens it from 3x.
const MAX_START_VS_SPAWN: f64 = 1.5;
const MAX_START_AWAIT_VS_SPAWN_AWAIT: f64 = 1.5;
/// Issue #10: a start while snapshots run back to back, against a start alone.
const MAX_START_UNDER_SNAPSHOTS_VS_ALONE: f64 = 1.2;
const MAX_SNAPSHOT_NS_PER_SERVICE: f64 = 20.0;
/// Issue #7 (supervision), section Measure.
const MAX_SUPERVISED_VS_START_IN: f64 = 1.5;
/// The profiler's issue: ns its marker adds per poll over `vigil_default`, not profiling.
const MAX_PROFILER_MARKER_NS: f64 = 2.0;
/// The profiler's issue: time per unit of CPU-bound work while profiling at 99 Hz over idle.
const MAX_PROFILING_VS_IDLE: f64 = 1.02;

/// The figures the tables, the targets and the prose are built from.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Summary {
    /// `(variant, ns per poll)` in table order.
    pub(crate) poll: Vec<(String, f64)>,
    pub(crate) bare_ns: Option<f64>,
    /// `(clock, ns per read)` in id order.
    pub(crate) clocks: Vec<(String, f64)>,
    /// `(variant, ns per poll per thread)` in table order.
    pub(crate) contended: Vec<(String, f64)>,
    /// Per-start ns of `start_in` for each of [`START_COUNTS`].
    pub(crate) start_ns: Vec<(u64, Option<f64>)>,
    /// Per-start ns of a bare `Handle::spawn` for each of [`START_COUNTS`].
    pub(crate) bare_start_ns: Vec<(u64, Option<f64>)>,
    pub(crate) bare_spawn_ns: Option<f64>,
    pub(crate) start_in_ns: Option<f64>,
    pub(crate) bare_spawn_await_ns: Option<f64>,
    pub(crate) start_in_await_ns: Option<f64>,
    /// `metrics()` warm, cold and churned, and the sequential-read floor.
    pub(crate) snapshots: Snapshots,
    /// One start of a name with 10k live instances, nothing else running
    /// (`registry_start_under_snapshots/alone`).
    pub(crate) start_alone_ns: Option<f64>,
    /// The same while another thread takes snapshots of this registry back to back
    /// (`registry_start_under_snapshots/with_snapshots`).
    pub(crate) start_with_snapshots_ns: Option<f64>,
    /// The same while another thread takes snapshots of another registry with as many live
    /// instances back to back: only the machine is shared
    /// (`registry_start_under_snapshots/with_other_snapshots`).
    pub(crate) start_with_other_snapshots_ns: Option<f64>,
    /// Starts from 1, 2, 4 and 8 threads at once.
    pub(crate) threads: ThreadStarts,
    /// Per-start ns of `Registry::start_in` from the bench thread (`supervisor_start`).
    pub(crate) unsupervised_start_ns: Option<f64>,
    /// Per-start ns of `Supervisor::start` from the bench thread (`supervisor_start`).
    pub(crate) supervised_start_ns: Option<f64>,
    /// ns from a `panic!` to the next incarnation's first poll, with `Backoff::none()`.
    pub(crate) restart_ns: Option<f64>,
    /// ns per monitored poll hashing 64 KiB, no profile running (`profiling/idle`).
    pub(crate) work_idle_ns: Option<f64>,
    /// The same while profiles at 99 Hz run back to back (`profiling/profiling_99hz`).
    pub(crate) work_profiling_ns: Option<f64>,
}

impl Summary {
    pub(crate) fn from_estimates(estimates: &Estimates) -> Self {
        let spawn = |case: &str| estimates.get(&format!("registry_spawn/{case}"));
        let supervisor_start = |case: &str| {
            let batch = estimates.get(&format!("supervisor_start/{case}"));
            batch.map(|batch| batch / SUPERVISOR_STARTS as f64)
        };
        Self {
            poll: ordered(estimates.group("poll_path"), &POLL_VARIANTS),
            bare_ns: estimates.get("poll_path/bare"),
            clocks: estimates
                .group("clock")
                .map(|(name, ns)| (name.to_string(), ns))
                .collect(),
            contended: ordered(estimates.group("poll_path_contended"), &POLL_VARIANTS),
            start_ns: per_start(estimates, "registry_start"),
            bare_start_ns: per_start(estimates, "registry_start_bare_spawn"),
            bare_spawn_ns: spawn("bare_spawn"),
            start_in_ns: spawn("start_in"),
            bare_spawn_await_ns: spawn("bare_spawn_await"),
            start_in_await_ns: spawn("start_in_await"),
            snapshots: Snapshots::from_estimates(estimates),
            start_alone_ns: estimates.get("registry_start_under_snapshots/alone"),
            start_with_snapshots_ns: estimates.get("registry_start_under_snapshots/with_snapshots"),
            start_with_other_snapshots_ns: estimates
                .get("registry_start_under_snapshots/with_other_snapshots"),
            threads: ThreadStarts::from_estimates(estimates),
            unsupervised_start_ns: supervisor_start("start_in"),
            supervised_start_ns: supervisor_start("supervised"),
            restart_ns: estimates.get("supervisor_restart/panic_to_next_poll"),
            work_idle_ns: estimates.get("profiling/idle"),
            work_profiling_ns: estimates.get("profiling/profiling_99hz"),
        }
    }

    /// ns per poll of a single-thread variant.
    pub(crate) fn poll_ns(&self, variant: &str) -> Option<f64> {
        lookup(&self.poll, variant)
    }

    /// ns a single-thread variant adds to a bare poll.
    pub(crate) fn overhead(&self, variant: &str) -> Option<f64> {
        Some(self.poll_ns(variant)? - self.bare_ns?)
    }

    /// ns a contended variant adds to a bare contended poll.
    pub(crate) fn contended_overhead(&self, variant: &str) -> Option<f64> {
        Some(lookup(&self.contended, variant)? - lookup(&self.contended, "bare")?)
    }

    /// The fastest clock read measured, as `(clock, ns)`.
    pub(crate) fn fastest_clock(&self) -> Option<(&str, f64)> {
        self.clocks
            .iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(name, ns)| (name.as_str(), *ns))
    }

    pub(crate) fn clock_ns(&self, clock: &str) -> Option<f64> {
        lookup(&self.clocks, clock)
    }

    /// vigil_default's overhead over that of `peer`.
    pub(crate) fn default_vs(&self, peer: &str) -> Option<f64> {
        divide(self.overhead("vigil_default"), self.overhead(peer))
    }

    /// vigil_default's overhead over two reads of the fastest clock.
    pub(crate) fn default_vs_clock_floor(&self) -> Option<f64> {
        let (_, fastest) = self.fastest_clock()?;
        divide(self.overhead("vigil_default"), Some(2.0 * fastest))
    }

    /// Per-start time of `start_in` at the largest count over that at the smallest.
    pub(crate) fn start_scaling(&self) -> Option<f64> {
        scaling(&self.start_ns)
    }

    /// The same for a bare `Handle::spawn`.
    pub(crate) fn bare_start_scaling(&self) -> Option<f64> {
        scaling(&self.bare_start_ns)
    }

    pub(crate) fn start_vs_spawn(&self) -> Option<f64> {
        divide(self.start_in_ns, self.bare_spawn_ns)
    }

    pub(crate) fn start_await_vs_spawn_await(&self) -> Option<f64> {
        divide(self.start_in_await_ns, self.bare_spawn_await_ns)
    }

    /// Warm `metrics()` per live service.
    pub(crate) fn snapshot_ns_per_service(&self) -> Option<f64> {
        Snapshots::per_service(self.snapshots.warm_ns)
    }

    /// A start while snapshots run back to back, over a start alone.
    pub(crate) fn start_under_snapshots(&self) -> Option<f64> {
        divide(self.start_with_snapshots_ns, self.start_alone_ns)
    }

    /// A start while snapshots of this registry run back to back, over one while snapshots
    /// of another registry do: what the registry itself adds to the machine's contention.
    pub(crate) fn start_with_own_vs_other_snapshots(&self) -> Option<f64> {
        divide(
            self.start_with_snapshots_ns,
            self.start_with_other_snapshots_ns,
        )
    }

    /// `Supervisor::start` over `Registry::start_in`, per start.
    pub(crate) fn supervised_vs_start_in(&self) -> Option<f64> {
        divide(self.supervised_start_ns, self.unsupervised_start_ns)
    }

    /// ns the profiler's marker adds per poll to `vigil_default` (`vigil_profiler`).
    pub(crate) fn profiler_marker_ns(&self) -> Option<f64> {
        Some(self.poll_ns("vigil_profiler")? - self.poll_ns("vigil_default")?)
    }

    /// Time per unit of work while profiling at 99 Hz over the same with no profile.
    pub(crate) fn profiling_vs_idle(&self) -> Option<f64> {
        divide(self.work_profiling_ns, self.work_idle_ns)
    }

    /// Every target of the issues, measured or not.
    pub(crate) fn targets(&self) -> Vec<Target> {
        vec![
            Target::new(
                "vigil_default overhead / classic overhead",
                self.default_vs("classic"),
                MAX_OVERHEAD_VS_CLASSIC,
            ),
            Target::new(
                "vigil_default overhead / tokio-metrics overhead",
                self.default_vs("tokio_metrics"),
                MAX_OVERHEAD_VS_TOKIO_METRICS,
            ),
            Target::new(
                "vigil_default overhead / two fastest clock reads",
                self.default_vs_clock_floor(),
                MAX_OVERHEAD_VS_CLOCK_FLOOR,
            ),
            Target::new(
                "per-start time at 100k / at 1k",
                self.start_scaling(),
                MAX_START_SCALING,
            ),
            Target::new(
                "start_in / bare spawn (spawn only)",
                self.start_vs_spawn(),
                MAX_START_VS_SPAWN,
            ),
            Target::new(
                "start_in + await / bare spawn + await",
                self.start_await_vs_spawn_await(),
                MAX_START_AWAIT_VS_SPAWN_AWAIT,
            ),
            Target::new(
                "start while snapshots run back to back / start alone",
                self.start_under_snapshots(),
                MAX_START_UNDER_SNAPSHOTS_VS_ALONE,
            ),
            Target::report(
                "start with this registry's snapshots / with another registry's snapshots",
                self.start_with_own_vs_other_snapshots(),
            ),
            Target {
                unit: Unit::Nanos,
                ..Target::new(
                    "snapshot ns per live service (10k live)",
                    self.snapshot_ns_per_service(),
                    MAX_SNAPSHOT_NS_PER_SERVICE,
                )
            },
            Target::report(
                "warm snapshot / warm sequential read of as many bytes",
                self.snapshots.warm_vs_floor(),
            ),
            Target {
                unit: Unit::Nanos,
                ..Target::report(
                    "cold snapshot ns per live service (10k live)",
                    Snapshots::per_service(self.snapshots.cold_ns),
                )
            },
            Target::report(
                "cold snapshot / cold sequential read of as many bytes",
                self.snapshots.cold_vs_floor(),
            ),
            Target::new(
                "supervised start / Registry::start_in",
                self.supervised_vs_start_in(),
                MAX_SUPERVISED_VS_START_IN,
            ),
            Target {
                unit: Unit::AddedNanos,
                ..Target::new(
                    "profiler marker over default",
                    self.profiler_marker_ns(),
                    MAX_PROFILER_MARKER_NS,
                )
            },
            Target::new(
                "work while profiling at 99 Hz / idle",
                self.profiling_vs_idle(),
                MAX_PROFILING_VS_IDLE,
            ),
        ]
    }
}

/// How a target's figures read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Ratio,
    Nanos,
    /// ns added to a reference, signed: `+0.80 ns`.
    AddedNanos,
}

/// One of the issues' targets, `measured <= limit`, or a figure they ask to see next to the
/// targets with no limit (`limit: None`, never passes or fails).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Target {
    pub(crate) name: &'static str,
    pub(crate) measured: Option<f64>,
    pub(crate) limit: Option<f64>,
    pub(crate) unit: Unit,
}

impl Target {
    fn new(name: &'static str, measured: Option<f64>, limit: f64) -> Self {
        Self {
            name,
            measured,
            limit: Some(limit),
            unit: Unit::Ratio,
        }
    }

    /// A figure reported with the targets, without a limit.
    fn report(name: &'static str, measured: Option<f64>) -> Self {
        Self {
            limit: None,
            ..Self::new(name, measured, 0.0)
        }
    }

    /// `Some(true)` if met, `Some(false)` if missed, `None` if not measured in this run or
    /// without a limit.
    pub(crate) fn met(&self) -> Option<bool> {
        Some(self.measured? <= self.limit?)
    }

    /// `true` for a target with a limit, `false` for a figure only reported.
    pub(crate) fn has_limit(&self) -> bool {
        self.limit.is_some()
    }

    /// "<= 1.50x", or "none" for a figure only reported.
    pub(crate) fn limit_text(&self) -> String {
        self.limit.map_or_else(
            || "none".to_string(),
            |limit| format!("<= {}", self.format(limit)),
        )
    }

    pub(crate) fn format(&self, value: f64) -> String {
        match self.unit {
            Unit::Ratio => ratio(value),
            Unit::Nanos => format!("{} ns", ns(value)),
            Unit::AddedNanos if value >= 0.0 => format!("+{} ns", ns(value)),
            Unit::AddedNanos => format!("{} ns", ns(value)),
        }
    }

    pub(crate) fn status(&self) -> &'static str {
        match (self.met(), self.measured) {
            (Some(true), _) => "pass",
            (Some(false), _) => "FAIL",
            (None, Some(_)) => "report",
            (None, None) => "not run",
        }
    }
}

/// The known names first (in their order), then the rest in id order.
fn ordered<'a>(group: impl Iterator<Item = (&'a str, f64)>, known: &[&str]) -> Vec<(String, f64)> {
    let mut rows: Vec<(String, f64)> = group.map(|(name, ns)| (name.to_string(), ns)).collect();
    rows.sort_by_key(|(name, _)| {
        (
            known
                .iter()
                .position(|known| known == name)
                .unwrap_or(known.len()),
            name.clone(),
        )
    });
    rows
}

/// Per-start ns for each of [`START_COUNTS`] from `group/N` batch times.
fn per_start(estimates: &Estimates, group: &str) -> Vec<(u64, Option<f64>)> {
    START_COUNTS
        .iter()
        .map(|&count| {
            let batch = estimates.get(&format!("{group}/{count}"));
            (count, batch.map(|batch| batch / count as f64))
        })
        .collect()
}

/// Last over first.
fn scaling(per_start: &[(u64, Option<f64>)]) -> Option<f64> {
    divide(per_start.last()?.1, per_start.first()?.1)
}

fn lookup(rows: &[(String, f64)], name: &str) -> Option<f64> {
    rows.iter().find(|(row, _)| row == name).map(|(_, ns)| *ns)
}

/// `a / b`, if both are known and `b` is positive.
pub(crate) fn divide(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    let (a, b) = (a?, b?);
    (b > 0.0).then(|| a / b)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A full run's medians, shaped like the reference VM's.
    pub(crate) fn sample_estimates() -> Estimates {
        let mut estimates = Estimates::default();
        for (id, ns) in [
            ("poll_path/bare", 1.6),
            ("poll_path/vigil_default", 21.6),
            ("poll_path/vigil_stack", 22.6),
            ("poll_path/vigil_profiler", 22.4),
            ("poll_path/classic", 71.6),
            ("poll_path/tokio_metrics", 201.6),
            ("poll_path/vigil_std_clock", 61.6),
            ("poll_path/clock_floor", 20.6),
            ("poll_path/zz_new_variant", 30.0),
            ("clock/default_clock", 9.8),
            ("clock/quanta_raw", 9.5),
            ("clock/std_instant", 23.4),
            ("poll_path_contended/bare", 2.0),
            ("poll_path_contended/vigil_default", 24.0),
            ("poll_path_contended/classic", 142.0),
            ("poll_path_contended/tokio_metrics", 422.0),
            ("registry_start/1000", 1_000.0 * 800.0),
            ("registry_start/10000", 10_000.0 * 900.0),
            ("registry_start/100000", 100_000.0 * 1_320.0),
            ("registry_start_bare_spawn/1000", 1_000.0 * 200.0),
            ("registry_start_bare_spawn/10000", 10_000.0 * 300.0),
            ("registry_start_bare_spawn/100000", 100_000.0 * 500.0),
            ("registry_spawn/bare_spawn", 100.0),
            ("registry_spawn/start_in", 350.0),
            ("registry_spawn/bare_spawn_await", 400.0),
            ("registry_spawn/start_in_await", 560.0),
            ("registry_snapshot/10000", 150_000.0),
            ("registry_start_under_snapshots/alone", 500.0),
            ("registry_start_under_snapshots/with_snapshots", 650.0),
            ("registry_start_under_snapshots/with_other_snapshots", 520.0),
            ("registry_snapshot_cold/10000", 450_000.0),
            ("registry_snapshot_churned/10000", 180_000.0),
            ("registry_snapshot_floor/warm", 30_000.0),
            ("registry_snapshot_floor/cold", 60_000.0),
            ("registry_threads/same_name/1", 700.0),
            ("registry_threads/same_name/2", 2_100.0),
            ("registry_threads/same_name/4", 4_200.0),
            ("registry_threads/same_name/8", 8_400.0),
            ("registry_threads/different_names/1", 650.0),
            ("registry_threads/different_names/2", 1_300.0),
            ("registry_threads/different_names/4", 2_600.0),
            ("registry_threads/different_names/8", 5_200.0),
            ("supervisor_start/start_in", 1_000.0 * 800.0),
            ("supervisor_start/supervised", 1_000.0 * 1_100.0),
            ("supervisor_restart/panic_to_next_poll", 24_500.0),
            ("profiling/idle", 80_000.0),
            ("profiling/profiling_99hz", 81_000.0),
        ] {
            estimates.insert(id, ns);
        }
        estimates
    }

    /// The ids and the batch size read here are the ones `benches/benches/supervisor.rs`
    /// registers.
    #[test]
    fn matches_the_supervisor_bench() {
        let path = crate::project_root().join("benches/benches/supervisor.rs");
        let source = std::fs::read_to_string(path).unwrap();
        for id in [
            "supervisor_start",
            "start_in",
            "supervised",
            "supervisor_restart",
            "panic_to_next_poll",
        ] {
            assert!(
                source.contains(&format!("\"{id}\"")),
                "no {id:?} in the bench"
            );
        }
        let starts = source
            .lines()
            .find_map(|line| line.strip_prefix("const STARTS: u64 = "))
            .and_then(|value| value.trim_end_matches(';').replace('_', "").parse().ok());
        assert_eq!(starts, Some(SUPERVISOR_STARTS));
        assert!(source.contains("Throughput::Elements(STARTS)"));
    }

    /// The ids read here are the ones `benches/benches/profiling.rs` and the variant list
    /// register.
    #[test]
    fn matches_the_profiling_bench() {
        let root = crate::project_root();
        let source = std::fs::read_to_string(root.join("benches/benches/profiling.rs")).unwrap();
        for id in ["profiling", "idle", "profiling_99hz"] {
            assert!(
                source.contains(&format!("\"{id}\"")),
                "no {id:?} in the bench"
            );
        }
        let variants = std::fs::read_to_string(root.join("benches/src/variants.rs")).unwrap();
        for variant in POLL_VARIANTS {
            assert!(
                variants.contains(&format!("\"{variant}\"")),
                "no {variant:?} among the variants"
            );
        }
    }

    /// `a` is `b`, up to float rounding; the tests of every module reading estimates use it.
    pub(crate) fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn derives_the_figures_behind_the_targets() {
        let summary = Summary::from_estimates(&sample_estimates());
        assert!(close(summary.overhead("vigil_default"), 20.0));
        assert!(close(summary.default_vs("classic"), 20.0 / 70.0));
        assert!(close(summary.default_vs("tokio_metrics"), 0.1));
        assert_eq!(summary.fastest_clock(), Some(("quanta_raw", 9.5)));
        assert!(close(summary.default_vs_clock_floor(), 20.0 / 19.0));
        assert!(close(summary.start_scaling(), 1_320.0 / 800.0));
        assert!(close(summary.bare_start_scaling(), 2.5));
        assert!(close(summary.start_vs_spawn(), 3.5));
        assert!(close(summary.start_await_vs_spawn_await(), 1.4));
        assert!(close(summary.snapshot_ns_per_service(), 15.0));
        assert!(close(summary.start_under_snapshots(), 1.3));
        assert!(close(summary.start_with_own_vs_other_snapshots(), 1.25));
        // supervisor_start times 1,000 starts per iteration.
        assert!(close(summary.unsupervised_start_ns, 800.0));
        assert!(close(summary.supervised_start_ns, 1_100.0));
        assert!(close(summary.supervised_vs_start_in(), 1.375));
        assert!(close(summary.restart_ns, 24_500.0));
        assert!(close(summary.profiler_marker_ns(), 22.4 - 21.6));
        assert!(close(summary.profiling_vs_idle(), 1.0125));
    }

    #[test]
    fn checks_every_target() {
        let targets = Summary::from_estimates(&sample_estimates()).targets();
        let results: Vec<_> = targets.iter().map(|t| (t.name, t.status())).collect();
        assert_eq!(
            results,
            [
                ("vigil_default overhead / classic overhead", "pass"),
                ("vigil_default overhead / tokio-metrics overhead", "pass"),
                ("vigil_default overhead / two fastest clock reads", "pass"),
                ("per-start time at 100k / at 1k", "FAIL"),
                ("start_in / bare spawn (spawn only)", "FAIL"),
                ("start_in + await / bare spawn + await", "pass"),
                (
                    "start while snapshots run back to back / start alone",
                    "FAIL"
                ),
                (
                    "start with this registry's snapshots / with another registry's snapshots",
                    "report"
                ),
                ("snapshot ns per live service (10k live)", "pass"),
                (
                    "warm snapshot / warm sequential read of as many bytes",
                    "report"
                ),
                ("cold snapshot ns per live service (10k live)", "report"),
                (
                    "cold snapshot / cold sequential read of as many bytes",
                    "report"
                ),
                ("supervised start / Registry::start_in", "pass"),
                ("profiler marker over default", "pass"),
                ("work while profiling at 99 Hz / idle", "pass"),
            ]
        );
        // Issue #10's spawn-only limit is 1.5x (it was 3x): 2x fails.
        let mut estimates = sample_estimates();
        estimates.insert("registry_spawn/start_in", 200.0);
        let targets = Summary::from_estimates(&estimates).targets();
        let spawn_only = targets
            .iter()
            .find(|t| t.name.starts_with("start_in / bare"))
            .unwrap();
        assert_eq!(
            (spawn_only.status(), spawn_only.limit_text().as_str()),
            ("FAIL", "<= 1.50x")
        );
        // Past 1.5x, the supervisor's target fails.
        let mut estimates = sample_estimates();
        estimates.insert("supervisor_start/supervised", 1_000.0 * 1_201.0);
        let targets = Summary::from_estimates(&estimates).targets();
        let supervised = targets
            .iter()
            .find(|t| t.name.starts_with("supervised start"))
            .unwrap();
        assert_eq!(supervised.status(), "FAIL");
        assert_eq!(supervised.limit_text(), "<= 1.50x");
        // Reported figures have no limit, and read as not run without their bench.
        let cold = targets
            .iter()
            .find(|t| t.name.starts_with("cold snapshot ns"))
            .unwrap();
        assert_eq!((cold.met(), cold.limit_text()), (None, "none".to_string()));
        let empty = Summary::from_estimates(&crate::estimates::Estimates::default()).targets();
        let cold = empty
            .iter()
            .find(|t| t.name.starts_with("cold snapshot ns"))
            .unwrap();
        assert_eq!(cold.status(), "not run");
    }

    #[test]
    fn checks_the_profiler_targets() {
        let find = |targets: &[Target], prefix: &str| {
            let target = targets.iter().find(|t| t.name.starts_with(prefix)).unwrap();
            let measured = target.measured.map(|value| target.format(value));
            (measured, target.limit_text(), target.status())
        };
        let targets = Summary::from_estimates(&sample_estimates()).targets();
        assert_eq!(
            find(&targets, "profiler marker"),
            (Some("+0.80 ns".into()), "<= +2.00 ns".into(), "pass")
        );
        assert_eq!(
            find(&targets, "work while profiling"),
            (Some("1.01x".into()), "<= 1.02x".into(), "pass")
        );
        // Past +2 ns per poll, or 2 % slower, they fail; faster than the peer reads as such.
        let mut estimates = sample_estimates();
        estimates.insert("poll_path/vigil_profiler", 23.7);
        estimates.insert("profiling/profiling_99hz", 82_000.0);
        let targets = Summary::from_estimates(&estimates).targets();
        assert_eq!(find(&targets, "profiler marker").2, "FAIL");
        assert_eq!(find(&targets, "work while profiling").2, "FAIL");
        estimates.insert("poll_path/vigil_profiler", 21.1);
        let targets = Summary::from_estimates(&estimates).targets();
        assert_eq!(find(&targets, "profiler marker").0, Some("-0.50 ns".into()));
    }
}
