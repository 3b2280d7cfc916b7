//! The figures behind every table and target of `cargo xtask bench`: criterion's medians,
//! looked up by the ids the benches register (`benches/src/ids.rs`), and the issues' targets.

use std::fmt::Display;

use crate::estimates::Estimates;
use crate::ids::{clock, mailbox, poll_path, profiling, registry, snapshot, supervisor};
use crate::table::{ns, ratio};

/// The issues' targets.
const MAX_OVERHEAD_VS_CLASSIC: f64 = 0.35;
const MAX_OVERHEAD_VS_TOKIO_METRICS: f64 = 0.15;
const MAX_OVERHEAD_VS_CLOCK_FLOOR: f64 = 1.1;
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
/// Issue #15: ns vigil's mailbox (its figures) adds per message over tokio's mpsc alone.
const MAX_MAILBOX_ADDED_NS: f64 = 10.0;

/// One run's medians, read through the benches' ids.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Summary {
    estimates: Estimates,
}

impl Summary {
    pub(crate) fn new(estimates: Estimates) -> Self {
        Self { estimates }
    }

    /// The median of `group/function`, in ns per criterion iteration.
    pub(crate) fn get(&self, group: &str, function: impl Display) -> Option<f64> {
        self.estimates.get(&crate::ids::id(group, function))
    }

    /// `(variant, ns per poll)` of one thread, in table order.
    pub(crate) fn poll(&self) -> Vec<(String, f64)> {
        ordered(&self.estimates, poll_path::GROUP, &poll_path::VARIANTS)
    }

    /// `(variant, ns per poll per thread)` of two threads, in table order.
    pub(crate) fn contended(&self) -> Vec<(String, f64)> {
        ordered(
            &self.estimates,
            poll_path::CONTENDED_GROUP,
            &poll_path::CONTENDED_VARIANTS,
        )
    }

    /// `(clock, ns per read)` in id order.
    pub(crate) fn clocks(&self) -> Vec<(String, f64)> {
        ordered(&self.estimates, clock::GROUP, &[])
    }

    /// ns per poll of a single-thread variant.
    pub(crate) fn poll_ns(&self, variant: &str) -> Option<f64> {
        self.get(poll_path::GROUP, variant)
    }

    /// ns a single-thread variant adds to a bare poll.
    pub(crate) fn overhead(&self, variant: &str) -> Option<f64> {
        Some(self.poll_ns(variant)? - self.poll_ns(poll_path::BARE)?)
    }

    /// ns a contended variant adds to a bare contended poll.
    pub(crate) fn contended_overhead(&self, variant: &str) -> Option<f64> {
        let contended = |variant| self.get(poll_path::CONTENDED_GROUP, variant);
        Some(contended(variant)? - contended(poll_path::BARE)?)
    }

    /// The fastest clock read measured, in ns.
    pub(crate) fn fastest_clock_ns(&self) -> Option<f64> {
        self.clocks()
            .into_iter()
            .map(|(_, ns)| ns)
            .min_by(f64::total_cmp)
    }

    /// Per-start ns for each of the start counts, from `group/N` batch times.
    pub(crate) fn per_start(&self, group: &str) -> Vec<(u64, Option<f64>)> {
        registry::START_COUNTS
            .iter()
            .map(|&count| {
                (
                    count,
                    self.get(group, count).map(|batch| batch / count as f64),
                )
            })
            .collect()
    }

    /// A snapshot group's median per call, with [`snapshot::SERVICES`] live services.
    pub(crate) fn snapshot_ns(&self, group: &str) -> Option<f64> {
        self.get(group, snapshot::SERVICES)
    }

    /// The floor: a sequential read of as many bytes, `warm` or `cold`.
    pub(crate) fn floor_ns(&self, case: &str) -> Option<f64> {
        self.get(snapshot::FLOOR_GROUP, case)
    }

    /// Per-start ns of a `supervisor_start` case ([`supervisor::STARTS`] per iteration).
    pub(crate) fn supervisor_start_ns(&self, case: &str) -> Option<f64> {
        Some(self.get(supervisor::START_GROUP, case)? / supervisor::STARTS as f64)
    }

    /// ns per message of a `mailbox` case that moves `messages` per iteration.
    pub(crate) fn mailbox_ns(&self, case: &str, messages: u64) -> Option<f64> {
        Some(self.get(mailbox::GROUP, case)? / messages as f64)
    }

    /// The most ns vigil's mailbox adds per message over tokio's, among the measured cases.
    pub(crate) fn mailbox_added_ns(&self) -> Option<f64> {
        mailbox::PAIRS
            .iter()
            .filter_map(|&(_, tokio, vigil, messages)| {
                Some(self.mailbox_ns(vigil, messages)? - self.mailbox_ns(tokio, messages)?)
            })
            .max_by(f64::total_cmp)
    }

    /// Every target of the issues, measured or not.
    pub(crate) fn targets(&self) -> Vec<Target> {
        let default_vs =
            |peer| divide(self.overhead(poll_path::VIGIL_DEFAULT), self.overhead(peer));
        let starts = self.per_start(registry::START_GROUP);
        let spawn = |case| self.get(registry::SPAWN_GROUP, case);
        let under = |case| self.get(snapshot::UNDER_SNAPSHOTS_GROUP, case);
        let warm = self.snapshot_ns(snapshot::WARM_GROUP);
        let cold = self.snapshot_ns(snapshot::COLD_GROUP);
        let work = |case| self.get(profiling::GROUP, case);
        let marker_ns = (self.poll_ns(poll_path::VIGIL_PROFILER))
            .zip(self.poll_ns(poll_path::VIGIL_DEFAULT))
            .map(|(marked, default)| marked - default);
        vec![
            Target::new(
                "vigil_default overhead / classic overhead",
                default_vs(poll_path::CLASSIC),
                MAX_OVERHEAD_VS_CLASSIC,
            ),
            Target::new(
                "vigil_default overhead / tokio-metrics overhead",
                default_vs(poll_path::TOKIO_METRICS),
                MAX_OVERHEAD_VS_TOKIO_METRICS,
            ),
            Target::new(
                "vigil_default overhead / two fastest clock reads",
                divide(
                    self.overhead(poll_path::VIGIL_DEFAULT),
                    self.fastest_clock_ns().map(|fastest| 2.0 * fastest),
                ),
                MAX_OVERHEAD_VS_CLOCK_FLOOR,
            ),
            Target::new(
                "per-start time at 100k / at 1k",
                divide(
                    starts.last().and_then(|s| s.1),
                    starts.first().and_then(|s| s.1),
                ),
                MAX_START_SCALING,
            ),
            Target::new(
                "start_in / bare spawn (spawn only)",
                divide(spawn(registry::START_IN), spawn(registry::BARE_SPAWN)),
                MAX_START_VS_SPAWN,
            ),
            Target::new(
                "start_in + await / bare spawn + await",
                divide(
                    spawn(registry::START_IN_AWAIT),
                    spawn(registry::BARE_SPAWN_AWAIT),
                ),
                MAX_START_AWAIT_VS_SPAWN_AWAIT,
            ),
            Target::new(
                "start while snapshots run back to back / start alone",
                divide(under(snapshot::WITH_SNAPSHOTS), under(snapshot::ALONE)),
                MAX_START_UNDER_SNAPSHOTS_VS_ALONE,
            ),
            // What the registry itself adds to the machine's contention.
            Target::report(
                "start with this registry's snapshots / with another registry's snapshots",
                divide(
                    under(snapshot::WITH_SNAPSHOTS),
                    under(snapshot::WITH_OTHER_SNAPSHOTS),
                ),
            ),
            Target {
                unit: Unit::Nanos,
                ..Target::new(
                    "snapshot ns per live service (10k live)",
                    per_service(warm),
                    MAX_SNAPSHOT_NS_PER_SERVICE,
                )
            },
            Target::report(
                "warm snapshot / warm sequential read of as many bytes",
                divide(warm, self.floor_ns(snapshot::FLOOR_WARM)),
            ),
            Target {
                unit: Unit::Nanos,
                ..Target::report(
                    "cold snapshot ns per live service (10k live)",
                    per_service(cold),
                )
            },
            Target::report(
                "cold snapshot / cold sequential read of as many bytes",
                divide(cold, self.floor_ns(snapshot::FLOOR_COLD)),
            ),
            Target::new(
                "supervised start / Registry::start_in",
                divide(
                    self.supervisor_start_ns(supervisor::SUPERVISED),
                    self.supervisor_start_ns(supervisor::START_IN),
                ),
                MAX_SUPERVISED_VS_START_IN,
            ),
            Target {
                unit: Unit::AddedNanos,
                ..Target::new(
                    "mailbox: ns added per message over tokio mpsc (worst case)",
                    self.mailbox_added_ns(),
                    MAX_MAILBOX_ADDED_NS,
                )
            },
            Target {
                unit: Unit::AddedNanos,
                ..Target::new(
                    "profiler marker over default",
                    marker_ns,
                    MAX_PROFILER_MARKER_NS,
                )
            },
            Target::new(
                "work while profiling at 99 Hz / idle",
                divide(work(profiling::PROFILING_99HZ), work(profiling::IDLE)),
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

/// The benchmarks of `group` as `(function, median)`: the `known` ones first, in their
/// order, then the rest in id order.
fn ordered(estimates: &Estimates, group: &str, known: &[&str]) -> Vec<(String, f64)> {
    let mut rows: Vec<(String, f64)> = estimates
        .group(group)
        .map(|(name, ns)| (name.to_string(), ns))
        .collect();
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

/// A snapshot's per-call figure divided by its live services.
pub(crate) fn per_service(call_ns: Option<f64>) -> Option<f64> {
    Some(call_ns? / snapshot::SERVICES as f64)
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
            ("mailbox/tokio_send_recv", 100.0),
            ("mailbox/vigil_send_recv", 108.0),
            ("mailbox/tokio_try_send_recv", 70.0),
            ("mailbox/vigil_try_send_recv", 79.0),
            ("mailbox/tokio_burst", 64.0 * 60.0),
            ("mailbox/vigil_burst", 64.0 * 66.0),
            ("profiling/idle", 80_000.0),
            ("profiling/profiling_99hz", 81_000.0),
        ] {
            estimates.insert(id, ns);
        }
        estimates
    }

    /// `a` is `b`, up to float rounding; the tests of every module reading estimates use it.
    pub(crate) fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn derives_the_figures_behind_the_targets() {
        let targets = Summary::new(sample_estimates()).targets();
        let measured: Vec<_> = targets.iter().map(|target| target.measured).collect();
        let expected = [
            20.0 / 70.0,
            0.1,
            20.0 / 19.0,
            1_320.0 / 800.0,
            3.5,
            1.4,
            1.3,
            1.25,
            15.0,
            5.0,
            45.0,
            7.5,
            1.375,
            9.0,
            22.4 - 21.6,
            1.0125,
        ];
        assert_eq!(measured.len(), expected.len());
        for (measured, expected) in measured.into_iter().zip(expected) {
            assert!(close(measured, expected), "{measured:?} != {expected}");
        }
    }

    #[test]
    fn checks_every_target() {
        let targets = Summary::new(sample_estimates()).targets();
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
                (
                    "mailbox: ns added per message over tokio mpsc (worst case)",
                    "pass"
                ),
                ("profiler marker over default", "pass"),
                ("work while profiling at 99 Hz / idle", "pass"),
            ]
        );
        // Issue #10's spawn-only limit is 1.5x (it was 3x): 2x fails.
        let mut estimates = sample_estimates();
        estimates.insert("registry_spawn/start_in", 200.0);
        let targets = Summary::new(estimates.clone()).targets();
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
        let targets = Summary::new(estimates.clone()).targets();
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
        let empty = Summary::new(Estimates::default()).targets();
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
        let targets = Summary::new(sample_estimates()).targets();
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
        let targets = Summary::new(estimates.clone()).targets();
        assert_eq!(find(&targets, "profiler marker").2, "FAIL");
        assert_eq!(find(&targets, "work while profiling").2, "FAIL");
        estimates.insert("poll_path/vigil_profiler", 21.1);
        let targets = Summary::new(estimates.clone()).targets();
        assert_eq!(find(&targets, "profiler marker").0, Some("-0.50 ns".into()));
    }
}
