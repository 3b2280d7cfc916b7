//! Renders the result tables (for the terminal) and `docs/benchmarks.md` (tables, targets,
//! machine, date, command). What the numbers mean is written by people, in the notes below
//! [`KEEP_MARKER`], which a rewrite keeps.

use crate::instructions::Counts;
use crate::machine::Machine;
use crate::report;
use crate::summary::Summary;
use crate::table::Table;

/// Everything after this line of `docs/benchmarks.md` is hand-written and kept on rewrite.
pub(crate) const KEEP_MARKER: &str =
    "<!-- Hand-written notes below this line are kept by `cargo xtask bench --write-docs`. -->";

/// How the numbers were produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunInfo {
    pub(crate) machine: Machine,
    /// The command as typed, e.g. `cargo xtask bench --write-docs`.
    pub(crate) command: String,
    pub(crate) quick: bool,
    /// Wall time of `cargo bench` (including any compilation), if it ran.
    pub(crate) bench_seconds: Option<u64>,
}

/// A section's body: `table` rendered, then `note` (a paragraph, or empty) after a blank
/// line; empty, so the section is left out, when the table has no rows.
fn body_of(table: &Table, note: &str) -> String {
    if table.is_empty() {
        return String::new();
    }
    let mut body = table.render();
    if !note.is_empty() {
        body.push('\n');
        body.push_str(note);
    }
    body
}

/// The result tables with headings, as Markdown; `level` is the heading level to use.
pub(crate) fn results(summary: &Summary, counts: Option<&Counts>, level: usize) -> String {
    let heading = "#".repeat(level);
    let mut out = String::new();
    let mut section = |title: &str, body: String| {
        if !body.is_empty() {
            out.push_str(&format!("{heading} {title}\n\n{body}\n"));
        }
    };

    let poll = report::poll_table(summary);
    section(
        "Poll path, one thread (median ns per poll)",
        body_of(&poll, ""),
    );

    let clocks = report::clock_table(summary);
    section("Clock reads (median ns per read)", body_of(&clocks, ""));

    section(
        "Wake path, one thread (median ns per iteration)",
        body_of(
            &report::wake_table(summary),
            "The future parks its waker and stays pending; the bench thread wakes it through \
             the parked waker, from outside the poll. Unwoken poll: a poll no wake preceded. \
             Wake + poll: one wake, then the poll it leads to (a service woken by I/O); wake \
             adds is the difference. Wake again: one more wake of a future already woken and \
             not polled since. Overhead: wake + poll over the bare future's.\n",
        ),
    );

    if let Some(counts) = counts.filter(|counts| !counts.is_empty()) {
        let table = crate::instructions::table(counts, |variant| summary.poll_ns(variant));
        section("Instructions per poll (callgrind, exact)", table.render());
    }

    let contended = report::contended_table(summary);
    section(
        "Poll path, two threads at once (median wall ns per poll per thread)",
        body_of(&contended, ""),
    );

    section(
        "Registry: starting N instances of one name (per start)",
        report::start_table(summary).render(),
    );
    section(
        "Registry: start_in against a bare Handle::spawn (ns per start)",
        report::spawn_table(summary).render(),
    );
    let snapshots = report::snapshot_table(summary);
    section(
        "Registry: snapshots against a sequential read of as many bytes (median ns)",
        body_of(
            &snapshots,
            "Warm: `metrics()` back to back. Cold: after writing and reading 64 MiB (twice \
             the reference VM's last-level cache), only the call timed. Churned: warm, on a \
             registry whose runtime first started and finished a million short-lived \
             services. The sequential read sums `u64`s from one `Vec` of \
             `10_000 * Registry::SLOT_BYTES` bytes, the per-instance state a snapshot \
             reads today, in the same cache state (warm or cold).\n",
        ),
    );
    let under_snapshots = report::start_under_snapshots_table(summary);
    let note = String::from(
        "One thread (pinned to CPU 0) starts instances of a name that has 10,000 live ones, \
         one at a time; in the second row another thread (pinned to CPU 1) calls `metrics()` \
         back to back meanwhile on the same registry, in the third on another registry with \
         10,000 live instances of its own, which shares only the machine with the starts. \
         (Unpinned where `taskset` is missing: the bench says so.)\n",
    );
    section(
        "Registry: start_in while snapshots run back to back (median per start)",
        body_of(&under_snapshots, &note),
    );
    let threads = report::threads_table(summary);
    section(
        "Registry: start_in from 1, 2, 4 and 8 threads (median wall ns per start per thread)",
        body_of(
            &threads,
            "One iteration is one start on each thread, all released together; the figure \
             is the round's wall time. Threads beyond the machine's cores take turns on the \
             CPUs with each other and with the runtime's two workers (which poll every new \
             service once): past that point the growth is oversubscription, not the \
             registry alone.\n",
        ),
    );
    let supervisor = report::supervisor_table(summary);
    section(
        "Supervisor: supervised start and restart",
        body_of(&supervisor, ""),
    );
    section(
        "Mailbox: tokio mpsc against vigil's Addr and Mailbox (median ns per message)",
        body_of(
            &report::mailbox_table(summary),
            &format!(
                "Capacity {}, `u64` messages, on the bench thread. vigil's `Addr` and \
                 `Mailbox` are a supervised service's (its lease handed to the bench); per \
                 message they add the mailbox figures: a relaxed `fetch_add`, a clock read and \
                 a store when sending, a load and a store when receiving.\n",
                crate::ids::mailbox::CAPACITY
            ),
        ),
    );

    section(
        "Profiler: CPU-bound work in a monitored poll (median per poll)",
        body_of(
            &report::profiling_table(summary),
            "One poll hashes 64 KiB on the bench thread, registered with the profiler by its \
             monitor; while profiling, another thread records 2 s profiles at 99 Hz back to \
             back.\n",
        ),
    );

    let targets = summary.targets();
    let with_limit = targets.iter().filter(|t| t.has_limit()).count();
    let measured = targets.iter().filter(|t| t.met().is_some()).count();
    let met = targets.iter().filter(|t| t.met() == Some(true)).count();
    section(
        "Targets",
        format!(
            "{}\n{met} of {measured} measured targets met ({} not run); rows with limit `none` \
             are figures the issues ask to see, without a pass/fail target.\n",
            report::targets_table(&targets).render(),
            with_limit - measured
        ),
    );
    out
}

/// The whole of `docs/benchmarks.md`. `kept` is the hand-written tail of the previous file.
pub(crate) fn document(
    run: &RunInfo,
    summary: &Summary,
    counts: Option<&Counts>,
    kept: Option<&str>,
) -> String {
    let machine = &run.machine;
    let mut out = String::new();
    out.push_str("# Benchmarks\n\n");
    out.push_str(
        "<!-- Generated by `cargo xtask bench --write-docs` from criterion's estimates; do not \
         edit above the marker near the end. -->\n\n",
    );
    out.push_str(
        "vigil's promise is that timing every poll is nearly free. These numbers compare its \
         poll path with a bare poll, with the classic design (two `Instant::now()` and two \
         shared `fetch_add` per poll), and with `tokio_metrics::TaskMonitor`, all in one \
         criterion run; and measure the registry's start costs (scaling, against a bare spawn, \
         from 1 to 8 threads, while snapshots run), its snapshot costs (warm, cold, on a \
         churned heap, against a sequential read of as many bytes), the supervisor's start \
         and restart costs, what its mailboxes add per message to tokio's mpsc, and the \
         profiler's (its poll marker, and CPU-bound work while it \
         samples at 99 Hz). The benchmarks live in `benches/` (their \
         module docs say exactly what one iteration is); run them with:\n\n",
    );
    out.push_str(
        "```sh\ncargo xtask bench                 # full run, ~5 min on 2 cores\n\
         cargo xtask bench --quick         # criterion --quick, ~1 min\n\
         cargo xtask bench --filter clock  # only ids matching a criterion filter\n\
         cargo xtask bench --instructions  # also count instructions per poll (valgrind)\n\
         cargo xtask bench --write-docs    # also rewrite this file\n```\n\n",
    );

    out.push_str("## This run\n\n");
    out.push_str(&format!("- Date (UTC): {}\n", machine.date));
    out.push_str(&format!("- Command: `{}`\n", run.command));
    out.push_str(&format!(
        "- Mode: {}\n",
        if run.quick {
            "criterion `--quick` (fewer samples: coarser figures)"
        } else {
            "full criterion sampling (medians over 10-100 samples)"
        }
    ));
    if let Some(seconds) = run.bench_seconds {
        out.push_str(&format!(
            "- `cargo bench` wall time: {} min {} s (including any compilation)\n",
            seconds / 60,
            seconds % 60
        ));
    }
    out.push_str(&format!("- Code measured: {}\n", machine.revision));
    out.push_str(&format!(
        "- Machine: {}, {} logical CPUs, clocksource `{}`, {}\n",
        machine.cpu_model, machine.logical_cpus, machine.clocksource, machine.rustc
    ));
    out.push_str(
        "- The VM is shared with other work (compilers of other engineers); absolute times \
         move between runs, ratios within one run are what the targets use. The two-thread \
         figures are the most sensitive to it.\n\n",
    );

    out.push_str(&results(summary, counts, 2));

    out.push_str(KEEP_MARKER);
    out.push('\n');
    if let Some(kept) = kept {
        out.push_str(kept);
        if !kept.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// The hand-written tail of an existing `docs/benchmarks.md`, after [`KEEP_MARKER`].
pub(crate) fn kept_notes(existing: &str) -> Option<&str> {
    let (_, tail) = existing.split_once(KEEP_MARKER)?;
    let tail = tail.strip_prefix('\n').unwrap_or(tail);
    (!tail.trim().is_empty()).then_some(tail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::tests::sample_estimates;

    fn run_info() -> RunInfo {
        RunInfo {
            machine: Machine {
                cpu_model: "Test CPU @ 2.50GHz".into(),
                logical_cpus: 2,
                clocksource: "tsc".into(),
                rustc: "rustc 1.95.0".into(),
                date: "2026-01-02".into(),
                revision: "abc1234 (crates/ as committed)".into(),
            },
            command: "cargo xtask bench --write-docs".into(),
            quick: false,
            bench_seconds: Some(185),
        }
    }

    #[test]
    fn writes_every_section_with_machine_date_and_command() {
        let summary = Summary::new(sample_estimates());
        let counts = vec![
            ("bare".to_string(), 8.0),
            ("vigil_default".to_string(), 85.0),
            ("clock_floor".to_string(), 39.0),
        ];
        let doc = document(&run_info(), &summary, Some(&counts), None);
        for expected in [
            "# Benchmarks\n",
            "- Date (UTC): 2026-01-02\n",
            "- Code measured: abc1234 (crates/ as committed)\n",
            "- Command: `cargo xtask bench --write-docs`\n",
            "- `cargo bench` wall time: 3 min 5 s",
            "Test CPU @ 2.50GHz, 2 logical CPUs, clocksource `tsc`, rustc 1.95.0",
            "## Poll path, one thread (median ns per poll)\n\n| variant",
            "## Clock reads",
            "## Instructions per poll",
            "## Poll path, two threads at once",
            "## Registry: starting N instances of one name (per start)",
            "## Registry: start_in from 1, 2, 4 and 8 threads (median wall ns per start per \
             thread)\n\n| threads",
            "past that point the growth is oversubscription",
            "## Supervisor: supervised start and restart\n\n| measurement",
            "## Mailbox: tokio mpsc against vigil's Addr and Mailbox (median ns per message)\n\n\
             | case",
            "## Profiler: CPU-bound work in a monitored poll (median per poll)\n\n| case",
            "## Targets",
            "9 of 12 measured targets met (0 not run); rows with limit `none`",
            "## Registry: start_in while snapshots run back to back (median per start)\n\n| case",
            "| while another thread takes snapshots of another registry back to back \
             |  520.0 ns |   1.04x |",
            "## Registry: snapshots against a sequential read of as many bytes (median ns)\n\n\
             | measurement",
            KEEP_MARKER,
        ] {
            assert!(doc.contains(expected), "missing {expected:?} in\n{doc}");
        }
        // Reported rows of the target table, whose names are padded to the longest one.
        let width = summary
            .targets()
            .iter()
            .map(|target| target.name.chars().count())
            .max()
            .unwrap();
        for (name, figures) in [
            (
                "cold snapshot / cold sequential read of as many bytes",
                "7.50x |        none | report |",
            ),
            (
                "start with this registry's snapshots / with another registry's snapshots",
                "1.25x |        none | report |",
            ),
        ] {
            let expected = format!("| {name:<width$} |    {figures}");
            assert!(doc.contains(&expected), "missing {expected:?} in\n{doc}");
        }
        assert!(doc.ends_with(&format!("{KEEP_MARKER}\n")));
    }

    #[test]
    fn keeps_the_hand_written_tail() {
        let previous = format!("# Old\n\ngenerated\n\n{KEEP_MARKER}\n## Profile\n\nnotes\n");
        let kept = kept_notes(&previous);
        assert_eq!(kept, Some("## Profile\n\nnotes\n"));
        let summary = Summary::new(sample_estimates());
        let doc = document(&run_info(), &summary, None, kept);
        assert!(doc.ends_with(&format!("{KEEP_MARKER}\n## Profile\n\nnotes\n")));
        assert!(!doc.contains("## Instructions per poll"));
        assert_eq!(kept_notes("no marker"), None);
        assert_eq!(kept_notes(&format!("x\n{KEEP_MARKER}\n\n")), None);
    }

    #[test]
    fn a_partial_run_prints_only_what_it_measured() {
        let mut estimates = crate::estimates::Estimates::default();
        estimates.insert("clock/std_instant", 23.4);
        let summary = Summary::new(estimates);
        let text = results(&summary, None, 3);
        assert!(text.contains("### Clock reads"));
        assert!(!text.contains("### Poll path, one thread"));
        assert!(!text.contains("### Supervisor"));
        assert!(!text.contains("### Registry: start_in from"));
        assert!(!text.contains("### Mailbox"));
        assert!(text.contains("0 of 0 measured targets met (12 not run);"));
        assert!(!text.contains("### Registry: start_in while"));
        assert!(!text.contains("### Registry: snapshots"));
    }
}
