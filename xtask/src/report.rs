//! The tables of `cargo xtask bench`, built from a [`Summary`].

use crate::ids::{mailbox, poll_path, profiling, registry, snapshot, supervisor, wake_path};
use crate::summary::{divide, per_service, Summary, Target};
use crate::table::{ns, or_na, ratio, time, Table};

/// The target table.
pub(crate) fn targets_table(targets: &[Target]) -> Table {
    let mut table = Table::new(&["target", "measured", "limit", "result"]);
    for target in targets {
        table.push(vec![
            target.name.to_string(),
            target
                .measured
                .map_or_else(|| "n/a".to_string(), |value| target.format(value)),
            target.limit_text(),
            target.status().to_string(),
        ]);
    }
    table
}

/// The single-thread poll table.
pub(crate) fn poll_table(summary: &Summary) -> Table {
    let mut table = Table::new(&[
        "variant",
        "ns/poll",
        "overhead ns",
        "x bare",
        "overhead vs classic",
        "overhead vs tokio-metrics",
    ]);
    let bare_ns = summary.poll_ns(poll_path::BARE);
    for (variant, poll_ns) in summary.poll() {
        let overhead = summary.overhead(&variant);
        let is_bare = variant == poll_path::BARE;
        let versus = |peer: &str| match (is_bare, divide(overhead, summary.overhead(peer))) {
            (true, _) => "-".to_string(),
            (false, value) => or_na(value, ratio),
        };
        table.push(vec![
            variant.clone(),
            ns(poll_ns),
            or_na(overhead, ns),
            or_na(divide(Some(poll_ns), bare_ns), ratio),
            versus(poll_path::CLASSIC),
            versus(poll_path::TOKIO_METRICS),
        ]);
    }
    table
}

/// The clock table.
pub(crate) fn clock_table(summary: &Summary) -> Table {
    let mut table = Table::new(&["clock", "ns/read", "x fastest"]);
    let fastest = summary.fastest_clock_ns();
    for (clock, read_ns) in summary.clocks() {
        table.push(vec![
            clock,
            ns(read_ns),
            or_na(divide(Some(read_ns), fastest), ratio),
        ]);
    }
    table
}

/// The wake path of a future woken from outside its poll, one row per variant; empty when
/// none of it was measured.
pub(crate) fn wake_table(summary: &Summary) -> Table {
    let mut table = Table::new(&[
        "variant",
        "unwoken poll ns",
        "wake + poll ns",
        "wake adds ns",
        "wake again ns",
        "wake + poll overhead ns",
        "overhead vs vigil_default",
    ]);
    let get = |case, variant| summary.get(wake_path::GROUP, format!("{case}/{variant}"));
    let overhead = |variant| {
        let cycle = |variant| get(wake_path::WAKE_THEN_POLL, variant);
        Some(cycle(variant)? - cycle(wake_path::BARE)?)
    };
    for variant in wake_path::VARIANTS {
        let unwoken = get(wake_path::UNWOKEN_POLL, variant);
        let cycle = get(wake_path::WAKE_THEN_POLL, variant);
        let again = get(wake_path::WAKE_AGAIN, variant);
        if [unwoken, cycle, again].iter().all(Option::is_none) {
            continue;
        }
        let is_bare = variant == wake_path::BARE;
        let versus_default = match divide(overhead(variant), overhead(wake_path::VIGIL_DEFAULT)) {
            _ if is_bare => "-".to_string(),
            value => or_na(value, ratio),
        };
        table.push(vec![
            variant.to_string(),
            or_na(unwoken, ns),
            or_na(cycle, ns),
            or_na(cycle.zip(unwoken).map(|(cycle, poll)| cycle - poll), ns),
            or_na(again, ns),
            or_na(overhead(variant), ns),
            versus_default,
        ]);
    }
    table
}

/// The two-thread poll table.
pub(crate) fn contended_table(summary: &Summary) -> Table {
    let mut table = Table::new(&[
        "variant",
        "ns/poll/thread",
        "overhead ns",
        "overhead vs 1 thread",
        "overhead vs classic",
        "overhead vs tokio-metrics",
    ]);
    for (variant, poll_ns) in summary.contended() {
        let overhead = summary.contended_overhead(&variant);
        let is_bare = variant == poll_path::BARE;
        let versus = |other: Option<f64>| {
            if is_bare {
                "-".to_string()
            } else {
                or_na(divide(overhead, other), ratio)
            }
        };
        table.push(vec![
            variant.clone(),
            ns(poll_ns),
            or_na(overhead, ns),
            versus(summary.overhead(&variant)),
            versus(summary.contended_overhead(poll_path::CLASSIC)),
            versus(summary.contended_overhead(poll_path::TOKIO_METRICS)),
        ]);
    }
    table
}

/// The start-scaling table: `start_in` and, as the reference, a bare spawn.
pub(crate) fn start_table(summary: &Summary) -> Table {
    let mut table = Table::new(&[
        "instances of one name",
        "start_in ns/start",
        "x at 1k",
        "bare spawn ns/start",
        "bare x at 1k",
        "start_in / bare",
    ]);
    let starts = summary.per_start(registry::START_GROUP);
    let bare_starts = summary.per_start(registry::START_BARE_SPAWN_GROUP);
    let first = starts.first().and_then(|(_, ns)| *ns);
    let bare_first = bare_starts.first().and_then(|(_, ns)| *ns);
    for ((count, start_ns), (_, bare_ns)) in starts.iter().zip(&bare_starts) {
        table.push(vec![
            count.to_string(),
            or_na(*start_ns, ns),
            or_na(divide(*start_ns, first), ratio),
            or_na(*bare_ns, ns),
            or_na(divide(*bare_ns, bare_first), ratio),
            or_na(divide(*start_ns, *bare_ns), ratio),
        ]);
    }
    table
}

/// `start_in` against a bare `Handle::spawn`.
pub(crate) fn spawn_table(summary: &Summary) -> Table {
    let mut table = Table::new(&["case", "bare spawn ns", "start_in ns", "start_in / bare"]);
    let spawn = |case| summary.get(registry::SPAWN_GROUP, case);
    for (case, bare, start) in [
        ("spawn only", registry::BARE_SPAWN, registry::START_IN),
        (
            "spawn + await",
            registry::BARE_SPAWN_AWAIT,
            registry::START_IN_AWAIT,
        ),
    ] {
        let (bare, start) = (spawn(bare), spawn(start));
        table.push(vec![
            case.to_string(),
            or_na(bare, ns),
            or_na(start, ns),
            or_na(divide(start, bare), ratio),
        ]);
    }
    table
}

/// `metrics()` warm, cold and on a churned heap, each against the sequential read of as many
/// bytes in the same cache state; empty when none of them was measured.
pub(crate) fn snapshot_table(summary: &Summary) -> Table {
    let mut table = Table::new(&[
        "measurement",
        "ns/call",
        "ns/live service",
        "x sequential read",
        "x warm metrics()",
    ]);
    let warm = summary.snapshot_ns(snapshot::WARM_GROUP);
    let cold = summary.snapshot_ns(snapshot::COLD_GROUP);
    let churned = summary.snapshot_ns(snapshot::CHURNED_GROUP);
    let floor_warm = summary.floor_ns(snapshot::FLOOR_WARM);
    let floor_cold = summary.floor_ns(snapshot::FLOOR_COLD);
    if [warm, cold, churned, floor_warm, floor_cold]
        .iter()
        .all(Option::is_none)
    {
        return table;
    }
    let services = snapshot::SERVICES;
    let churned_services = snapshot::CHURNED_SERVICES;
    let versus = |a, b| or_na(divide(a, b), ratio);
    let reference = || "-".to_string();
    for (label, call_ns, versus_floor, versus_warm) in [
        (
            format!("metrics(), {services} live, warm"),
            warm,
            versus(warm, floor_warm),
            versus(warm, warm),
        ),
        (
            format!("metrics(), {services} live, cold"),
            cold,
            versus(cold, floor_cold),
            versus(cold, warm),
        ),
        (
            format!("metrics(), {services} live, warm, after {churned_services} churned"),
            churned,
            versus(churned, floor_warm),
            versus(churned, warm),
        ),
        (
            "sequential read of as many bytes, warm".to_string(),
            floor_warm,
            reference(),
            reference(),
        ),
        (
            "sequential read of as many bytes, cold".to_string(),
            floor_cold,
            reference(),
            reference(),
        ),
    ] {
        table.push(vec![
            label,
            or_na(call_ns, ns),
            or_na(per_service(call_ns), ns),
            versus_floor,
            versus_warm,
        ]);
    }
    table
}

/// A start alone against a start while snapshots of this registry, or of another one, run
/// back to back; empty when none of them was measured.
pub(crate) fn start_under_snapshots_table(summary: &Summary) -> Table {
    let mut table = Table::new(&["case", "per start", "x alone"]);
    let under = |case| summary.get(snapshot::UNDER_SNAPSHOTS_GROUP, case);
    let alone = under(snapshot::ALONE);
    let rows = [
        ("alone", alone),
        (
            "while another thread takes snapshots of this registry back to back",
            under(snapshot::WITH_SNAPSHOTS),
        ),
        (
            "while another thread takes snapshots of another registry back to back",
            under(snapshot::WITH_OTHER_SNAPSHOTS),
        ),
    ];
    if rows.iter().all(|(_, start_ns)| start_ns.is_none()) {
        return table;
    }
    for (case, start_ns) in rows {
        table.push(vec![
            case.to_string(),
            or_na(start_ns, time),
            or_na(divide(start_ns, alone), ratio),
        ]);
    }
    table
}

/// Starts from 1, 2, 4 and 8 threads at once, one shared name against one name per thread;
/// empty when none of them was measured.
pub(crate) fn threads_table(summary: &Summary) -> Table {
    let mut table = Table::new(&[
        "threads",
        "same name ns/start/thread",
        "x 1 thread",
        "different names ns/start/thread",
        "x 1 thread",
        "same / different",
    ]);
    let start_ns =
        |case, threads: usize| summary.get(registry::THREADS_GROUP, format!("{case}/{threads}"));
    let rows: Vec<_> = registry::THREAD_COUNTS
        .iter()
        .map(|&threads| {
            let same = start_ns(registry::SAME_NAME, threads);
            (threads, same, start_ns(registry::DIFFERENT_NAMES, threads))
        })
        .collect();
    if rows
        .iter()
        .all(|(_, same, different)| same.is_none() && different.is_none())
    {
        return table;
    }
    let one_same = start_ns(registry::SAME_NAME, 1);
    let one_different = start_ns(registry::DIFFERENT_NAMES, 1);
    for (threads, same, different) in rows {
        table.push(vec![
            threads.to_string(),
            or_na(same, ns),
            or_na(divide(same, one_same), ratio),
            or_na(different, ns),
            or_na(divide(different, one_different), ratio),
            or_na(divide(same, different), ratio),
        ]);
    }
    table
}

/// A supervised start against `Registry::start_in`, and the restart latency; empty when
/// none of them was measured.
pub(crate) fn supervisor_table(summary: &Summary) -> Table {
    let mut table = Table::new(&["measurement", "figure", "x start_in"]);
    let unsupervised = summary.supervisor_start_ns(supervisor::START_IN);
    let supervised = summary.supervisor_start_ns(supervisor::SUPERVISED);
    let restart = summary.get(supervisor::RESTART_GROUP, supervisor::PANIC_TO_NEXT_POLL);
    if unsupervised.is_none() && supervised.is_none() && restart.is_none() {
        return table;
    }
    let per_start = |value: f64| format!("{} ns/start", ns(value));
    let starts = supervisor::STARTS;
    for (case, start_ns) in [
        ("Registry::start_in", unsupervised),
        ("Supervisor::start", supervised),
    ] {
        table.push(vec![
            format!("{case} ({starts} from one thread)"),
            or_na(start_ns, per_start),
            or_na(divide(start_ns, unsupervised), ratio),
        ]);
    }
    table.push(vec![
        "restart: panic to next first poll (Backoff::none())".to_string(),
        or_na(restart, |value| format!("{} µs", ns(value / 1_000.0))),
        "-".to_string(),
    ]);
    table
}

/// tokio's bounded mpsc against vigil's `Addr` and `Mailbox`, per message, one row per
/// case; empty when none was measured.
pub(crate) fn mailbox_table(summary: &Summary) -> Table {
    let mut table = Table::new(&[
        "case",
        "tokio ns/message",
        "vigil ns/message",
        "vigil adds ns",
        "x tokio",
    ]);
    for (case, tokio, vigil, messages) in mailbox::PAIRS {
        let tokio_ns = summary.mailbox_ns(tokio, messages);
        let vigil_ns = summary.mailbox_ns(vigil, messages);
        if tokio_ns.is_none() && vigil_ns.is_none() {
            continue;
        }
        table.push(vec![
            case.to_string(),
            or_na(tokio_ns, ns),
            or_na(vigil_ns, ns),
            or_na(
                vigil_ns.zip(tokio_ns).map(|(vigil, tokio)| vigil - tokio),
                ns,
            ),
            or_na(divide(vigil_ns, tokio_ns), ratio),
        ]);
    }
    table
}

/// A monitored poll of CPU-bound work, idle and while profiling at 99 Hz; empty when
/// neither was measured.
pub(crate) fn profiling_table(summary: &Summary) -> Table {
    let mut table = Table::new(&["case", "per poll", "x idle"]);
    let idle = summary.get(profiling::GROUP, profiling::IDLE);
    let profiled = summary.get(profiling::GROUP, profiling::PROFILING_99HZ);
    if idle.is_none() && profiled.is_none() {
        return table;
    }
    for (case, work_ns) in [("idle", idle), ("profiling at 99 Hz", profiled)] {
        table.push(vec![
            case.to_string(),
            or_na(work_ns, time),
            or_na(divide(work_ns, idle), ratio),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimates::Estimates;
    use crate::summary::tests::sample_estimates;

    /// The trimmed cells of the rendered row whose first cell is `label`.
    fn row(rendered: &str, label: &str) -> Vec<String> {
        rendered
            .lines()
            .map(|line| {
                let cells: Vec<String> = line.split('|').map(|c| c.trim().to_string()).collect();
                cells[1..cells.len() - 1].to_vec()
            })
            .find(|cells| cells[0] == label)
            .unwrap_or_else(|| panic!("no row {label} in\n{rendered}"))
    }

    #[test]
    fn renders_the_target_table() {
        let targets = Summary::new(sample_estimates()).targets();
        let rendered = targets_table(&targets).render();
        assert_eq!(
            row(&rendered, "snapshot ns per live service (10k live)"),
            [
                "snapshot ns per live service (10k live)",
                "15.0 ns",
                "<= 20.0 ns",
                "pass"
            ]
        );
        assert_eq!(
            row(&rendered, "start_in / bare spawn (spawn only)")[3],
            "FAIL"
        );
        assert_eq!(
            row(
                &rendered,
                "start with this registry's snapshots / with another registry's snapshots"
            )[1..],
            ["1.25x", "none", "report"]
        );
        assert_eq!(
            row(&rendered, "supervised start / Registry::start_in"),
            [
                "supervised start / Registry::start_in",
                "1.38x",
                "<= 1.50x",
                "pass"
            ]
        );
    }

    #[test]
    fn missing_benchmarks_read_as_not_run() {
        let summary = Summary::new(Estimates::default());
        assert!(summary.targets().iter().all(|t| t.met().is_none()));
        assert!(poll_table(&summary).is_empty());
        // The registry tables keep their rows, marked n/a.
        assert!(start_table(&summary).render().contains("| 100000 "));
        assert!(spawn_table(&summary).render().contains("n/a"));
        // The supervisor, snapshot and thread tables only when their benches ran.
        assert!(supervisor_table(&summary).is_empty());
        assert!(snapshot_table(&summary).is_empty());
        assert!(start_under_snapshots_table(&summary).is_empty());
        assert!(threads_table(&summary).is_empty());
        assert!(profiling_table(&summary).is_empty());
        assert!(mailbox_table(&summary).is_empty());
    }

    #[test]
    fn renders_the_poll_table_in_table_order() {
        let summary = Summary::new(sample_estimates());
        let rendered = poll_table(&summary).render();
        let order: Vec<&str> = rendered
            .lines()
            .skip(2)
            .map(|line| line.split('|').nth(1).unwrap().trim())
            .collect();
        assert_eq!(
            order,
            [
                "bare",
                "vigil_default",
                "vigil_stack",
                "vigil_profiler",
                "classic",
                "tokio_metrics",
                "vigil_std_clock",
                "clock_floor",
                "zz_new_variant",
            ]
        );
        let default_row = rendered
            .lines()
            .find(|line| line.starts_with("| vigil_default "))
            .unwrap();
        let cells: Vec<&str> = default_row.split('|').map(str::trim).collect();
        assert_eq!(
            cells[1..8],
            [
                "vigil_default",
                "21.6",
                "20.0",
                "13.50x",
                "0.29x",
                "0.10x",
                ""
            ]
        );
    }

    #[test]
    fn renders_the_other_tables() {
        let summary = Summary::new(sample_estimates());
        let clocks = clock_table(&summary).render();
        assert!(
            clocks.contains("| quanta_raw    |    9.50 |     1.00x |"),
            "{clocks}"
        );
        let contended = contended_table(&summary).render();
        // vigil: 22 ns contended overhead against 20 ns on one thread.
        assert_eq!(
            row(&contended, "vigil_default")[..4],
            ["vigil_default", "24.0", "22.0", "1.10x"]
        );
        let starts = start_table(&summary).render();
        assert_eq!(
            row(&starts, "100000"),
            ["100000", "1320", "1.65x", "500.0", "2.50x", "2.64x"]
        );
        let snapshots = snapshot_table(&summary).render();
        assert_eq!(
            row(&snapshots, "metrics(), 10000 live, warm"),
            [
                "metrics(), 10000 live, warm",
                "150000",
                "15.0",
                "5.00x",
                "1.00x"
            ]
        );
        assert_eq!(
            row(&snapshots, "metrics(), 10000 live, cold"),
            [
                "metrics(), 10000 live, cold",
                "450000",
                "45.0",
                "7.50x",
                "3.00x"
            ]
        );
        assert_eq!(
            row(
                &snapshots,
                "metrics(), 10000 live, warm, after 1000000 churned"
            )[1..],
            ["180000", "18.0", "6.00x", "1.20x"]
        );
        assert_eq!(
            row(&snapshots, "sequential read of as many bytes, cold")[1..],
            ["60000", "6.00", "-", "-"]
        );
        let under = start_under_snapshots_table(&summary).render();
        assert_eq!(row(&under, "alone")[1..], ["500.0 ns", "1.00x"]);
        assert_eq!(
            row(
                &under,
                "while another thread takes snapshots of this registry back to back"
            )[1..],
            ["650.0 ns", "1.30x"]
        );
        assert_eq!(
            row(
                &under,
                "while another thread takes snapshots of another registry back to back"
            )[1..],
            ["520.0 ns", "1.04x"]
        );
        // A run of the other-registry case alone keeps the other rows, marked n/a.
        let mut estimates = Estimates::default();
        estimates.insert("registry_start_under_snapshots/with_other_snapshots", 700.0);
        let only_other = start_under_snapshots_table(&Summary::new(estimates)).render();
        assert_eq!(row(&only_other, "alone")[1..], ["n/a", "n/a"]);
        assert_eq!(
            row(
                &only_other,
                "while another thread takes snapshots of another registry back to back"
            )[1..],
            ["700.0 ns", "n/a"]
        );
        let threads = threads_table(&summary).render();
        assert_eq!(
            row(&threads, "2"),
            ["2", "2100", "3.00x", "1300", "2.00x", "1.62x"]
        );
        assert_eq!(
            row(&threads, "8"),
            ["8", "8400", "12.00x", "5200", "8.00x", "1.62x"]
        );
    }

    #[test]
    fn renders_the_wake_table() {
        let mut estimates = Estimates::default();
        for (id, ns) in [
            ("wake_path/unwoken_poll/bare", 2.0),
            ("wake_path/wake_then_poll/bare", 3.0),
            ("wake_path/wake_again/bare", 1.0),
            ("wake_path/unwoken_poll/vigil_default", 20.0),
            ("wake_path/wake_then_poll/vigil_default", 27.0),
            ("wake_path/wake_again/vigil_default", 1.0),
            ("wake_path/unwoken_poll/vigil_scheduling", 30.0),
            ("wake_path/wake_then_poll/vigil_scheduling", 63.0),
            ("wake_path/wake_again/vigil_scheduling", 25.0),
        ] {
            estimates.insert(id, ns);
        }
        let rendered = wake_table(&Summary::new(estimates)).render();
        assert_eq!(
            row(&rendered, "bare"),
            ["bare", "2.00", "3.00", "1.00", "1.00", "0.00", "-"]
        );
        assert_eq!(
            row(&rendered, "vigil_scheduling"),
            [
                "vigil_scheduling",
                "30.0",
                "63.0",
                "33.0",
                "25.0",
                "60.0",
                "2.50x"
            ]
        );
        // A variant that did not run has no row; one case missing reads n/a.
        assert!(!rendered.contains("| tokio_metrics "), "{rendered}");
        let mut estimates = Estimates::default();
        estimates.insert("wake_path/wake_again/vigil_scheduling", 25.0);
        let only_again = wake_table(&Summary::new(estimates)).render();
        assert_eq!(
            row(&only_again, "vigil_scheduling")[1..],
            ["n/a", "n/a", "n/a", "25.0", "n/a", "n/a"]
        );
        assert!(wake_table(&Summary::new(Estimates::default())).is_empty());
    }

    #[test]
    fn renders_the_profiling_table() {
        let rendered = profiling_table(&Summary::new(sample_estimates())).render();
        assert_eq!(row(&rendered, "idle"), ["idle", "80.0 µs", "1.00x"]);
        assert_eq!(
            row(&rendered, "profiling at 99 Hz"),
            ["profiling at 99 Hz", "81.0 µs", "1.01x"]
        );
    }

    #[test]
    fn renders_the_mailbox_table() {
        let rendered = mailbox_table(&Summary::new(sample_estimates())).render();
        assert_eq!(
            row(&rendered, "send + recv"),
            ["send + recv", "100.0", "108.0", "8.00", "1.08x"]
        );
        // The burst moves 64 messages per iteration.
        assert_eq!(
            row(&rendered, "burst: 64 try_send, then 64 recv")[1..],
            ["60.0", "66.0", "6.00", "1.10x"]
        );
        let mut estimates = Estimates::default();
        estimates.insert("mailbox/vigil_send_recv", 90.0);
        let rendered = mailbox_table(&Summary::new(estimates)).render();
        assert_eq!(
            row(&rendered, "send + recv")[1..],
            ["n/a", "90.0", "n/a", "n/a"]
        );
        assert!(!rendered.contains("try_send"), "{rendered}");
    }

    #[test]
    fn renders_the_supervisor_table() {
        let summary = Summary::new(sample_estimates());
        let rendered = supervisor_table(&summary).render();
        // supervisor_start times 1,000 starts per iteration: 800 and 1,100 ns per start.
        assert_eq!(
            row(&rendered, "Registry::start_in (1000 from one thread)"),
            [
                "Registry::start_in (1000 from one thread)",
                "800.0 ns/start",
                "1.00x"
            ]
        );
        assert_eq!(
            row(&rendered, "Supervisor::start (1000 from one thread)"),
            [
                "Supervisor::start (1000 from one thread)",
                "1100 ns/start",
                "1.38x"
            ]
        );
        assert_eq!(
            row(
                &rendered,
                "restart: panic to next first poll (Backoff::none())"
            ),
            [
                "restart: panic to next first poll (Backoff::none())",
                "24.5 µs",
                "-"
            ]
        );
        // A run of the restart bench alone keeps the start rows, marked n/a.
        let mut estimates = Estimates::default();
        estimates.insert("supervisor_restart/panic_to_next_poll", 31_000.0);
        let rendered = supervisor_table(&Summary::new(estimates)).render();
        assert_eq!(
            row(&rendered, "Supervisor::start (1000 from one thread)")[1..],
            ["n/a", "n/a"]
        );
        assert!(rendered.contains("| 31.0 µs |"), "{rendered}");
    }
}
