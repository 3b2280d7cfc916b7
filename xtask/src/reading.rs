//! A short reading of the numbers, in sentences computed from the figures of one run.

use crate::instructions::Counts;
use crate::snapshots::{Snapshots, CHURNED_SERVICES, SNAPSHOT_SERVICES};
use crate::summary::{Summary, Target, SUPERVISOR_STARTS};
use crate::table::{ns, ratio, time};
use crate::threads::{ThreadRow, ThreadStarts};

/// A ratio between two cases of one run below this reads as nothing measurable: on the
/// reference VM, quick runs of one case spread by about 10%.
const MEASURABLE_RATIO: f64 = 1.1;

/// "1.63x, target <= 1.50x: **missed**", for sentences that do not state the figure.
fn verdict(target: &Target) -> String {
    match target.measured {
        Some(value) => format!("{}, {}", target.format(value), short_verdict(target)),
        None => "not measured".to_string(),
    }
}

/// "target <= 0.35x: met", for sentences that already state the measured figure.
fn short_verdict(target: &Target) -> String {
    match target.met() {
        Some(met) => format!(
            "target {}: {}",
            target.limit_text(),
            if met { "met" } else { "**missed**" }
        ),
        None if target.measured.is_some() => "no target".to_string(),
        None => "not measured".to_string(),
    }
}

fn target<'a>(targets: &'a [Target], name_start: &str) -> Option<&'a Target> {
    targets.iter().find(|t| t.name.starts_with(name_start))
}

/// A short reading of the numbers: each sentence only when its figures were measured.
pub(crate) fn reading(summary: &Summary, counts: Option<&Counts>) -> Vec<String> {
    let targets = summary.targets();
    let mut out = Vec::new();
    let overhead = |variant: &str| summary.overhead(variant);

    if let (Some(default), Some(bare), Some(classic), Some(peer)) = (
        overhead("vigil_default"),
        summary.bare_ns,
        overhead("classic"),
        overhead("tokio_metrics"),
    ) {
        out.push(format!(
            "vigil's default monitor adds {} ns per poll to a bare poll of {} ns. That is {} \
             of the classic design's {} ns ({}) and {} of TaskMonitor's {} ns ({}).",
            ns(default),
            ns(bare),
            ratio(default / classic),
            ns(classic),
            target(&targets, "vigil_default overhead / classic")
                .map_or_else(String::new, short_verdict),
            ratio(default / peer),
            ns(peer),
            target(&targets, "vigil_default overhead / tokio")
                .map_or_else(String::new, short_verdict),
        ));
    }

    if let (Some(default), Some((clock, fastest))) =
        (overhead("vigil_default"), summary.fastest_clock())
    {
        let floor = 2.0 * fastest;
        let mut text = format!(
            "The floor is the two clock reads every poll needs: two reads of the fastest clock \
             measured ({clock}, {} ns each) cost {} ns, and the default monitor's overhead is {} \
             that ({}).",
            ns(fastest),
            ns(floor),
            ratio(default / floor),
            target(&targets, "vigil_default overhead / two")
                .map_or_else(String::new, short_verdict),
        );
        let allowed = 1.1 * floor;
        if default > allowed {
            text.push_str(&format!(
                " Meeting it needs {} ns less per poll.",
                ns(default - allowed)
            ));
        }
        if let Some(in_loop) = overhead("clock_floor") {
            text.push_str(&format!(
                " Inside the poll loop, the two reads alone (`clock_floor`) add {} ns, so \
                 the monitor's own bookkeeping costs {} ns per poll.",
                ns(in_loop),
                ns(default - in_loop)
            ));
        }
        out.push(text);
    }

    if let Some(counts) = counts {
        let count = |variant: &str| {
            counts
                .iter()
                .find(|(name, _)| name == variant)
                .map(|(_, count)| *count)
        };
        if let (Some(bare), Some(default), Some(floor)) =
            (count("bare"), count("vigil_default"), count("clock_floor"))
        {
            out.push(format!(
                "In instructions (exact, callgrind): a bare poll is {bare:.0}, the two clock \
                 reads add {:.0}, and the default monitor {:.0} more, {:.0} in all. The extra \
                 instructions retire in parallel with the TSC reads' latency, which is why \
                 they cost so much less time than their count suggests.",
                floor - bare,
                default - floor,
                default - bare,
            ));
        }
    }

    if let (Some(default), Some(std_clock)) =
        (overhead("vigil_default"), overhead("vigil_std_clock"))
    {
        out.push(format!(
            "On `StdClock` the same monitor adds {} ns instead of {} ns: the clock is most of \
             the cost, and `quanta` saves {} ns per poll.",
            ns(std_clock),
            ns(default),
            ns(std_clock - default)
        ));
    }

    if let (Some(default), Some(stack)) = (overhead("vigil_default"), overhead("vigil_stack")) {
        let mut text = format!(
            "Monitors in a stack share the two clock reads: a trivial custom monitor \
             (`vigil_stack`) adds {} to the default monitor alone",
            added_ns(stack - default)
        );
        if let Some(full) = overhead("vigil_full_stack") {
            text.push_str(&format!(
                ", and the slow-poll counter plus the histogram (`vigil_full_stack`) add {}",
                added_ns(full - default)
            ));
        }
        if let Some(scheduling) = overhead("vigil_scheduling") {
            text.push_str(&format!(
                "; the waker-wrapping scheduling monitor (`vigil_scheduling`, on a workload that \
                 wakes itself every poll) adds {}",
                added_ns(scheduling - default)
            ));
        }
        if let Some(all) = overhead("vigil_all_monitors") {
            text.push_str(&format!(
                ", and all four shipped monitors together (`vigil_all_monitors`) {}",
                added_ns(all - default)
            ));
        }
        text.push('.');
        out.push(text);
    }

    if let (Some(vigil), Some(vigil_alone)) = (
        summary.contended_overhead("vigil_default"),
        overhead("vigil_default"),
    ) {
        let mut text = format!(
            "With two threads polling at once (vigil: one instance per thread), vigil's \
             overhead is {} ns per poll per thread, {} its single-thread figure.",
            ns(vigil),
            ratio(vigil / vigil_alone)
        );
        let vigil_growth = vigil / vigil_alone;
        let floor = summary
            .contended_overhead("clock_floor")
            .zip(overhead("clock_floor"));
        if vigil_growth < 1.2 {
            text.push_str(" Separate instances slow each other down by nothing measurable.");
        } else if let Some((floor, floor_alone)) = floor {
            let floor_growth = floor / floor_alone;
            text.push_str(&format!(
                " The two clock reads alone go from {} to {} ns ({}), ",
                ns(floor_alone),
                ns(floor),
                ratio(floor_growth)
            ));
            text.push_str(if floor_growth >= 0.8 * vigil_growth {
                "about as much: on this VM a second busy vCPU slows the clock reads and the \
                 core themselves, and shared state is not what changed."
            } else {
                "less than vigil's overhead grows: the difference is vigil's own (its \
                 instances' cache lines or bookkeeping under contention)."
            });
        }
        if let (Some(classic), Some(classic_alone), Some(peer), Some(peer_alone)) = (
            summary.contended_overhead("classic"),
            overhead("classic"),
            summary.contended_overhead("tokio_metrics"),
            overhead("tokio_metrics"),
        ) {
            text.push_str(&format!(
                " The classic design and TaskMonitor, whose two threads update one shared \
                 struct, go to {} ns ({}) and {} ns ({}); within the two-thread table vigil's \
                 overhead is {} of classic's and {} of TaskMonitor's.",
                ns(classic),
                ratio(classic / classic_alone),
                ns(peer),
                ratio(peer / peer_alone),
                ratio(vigil / classic),
                ratio(vigil / peer),
            ));
        }
        out.push(text);
    }

    if let (Some((_, Some(first))), Some((_, Some(last)))) =
        (summary.start_ns.first(), summary.start_ns.last())
    {
        let mut text = format!(
            "Starting instances of one name costs {} ns per start at 1k and {} ns at 100k \
             ({}).",
            ns(*first),
            ns(*last),
            target(&targets, "per-start").map_or_else(String::new, verdict),
        );
        if let (Some(bare), Some(scaling)) = (summary.bare_start_scaling(), summary.start_scaling())
        {
            text.push_str(&format!(
                " A bare `Handle::spawn` of the same future grows {} over the same range (fresh \
                 memory for every task, the two workers polling new tasks on the same two \
                 cores): relative to it, `start_in` grows {}.",
                ratio(bare),
                ratio(scaling / bare)
            ));
        }
        out.push(text);
    }

    if summary.start_vs_spawn().is_some() || summary.start_await_vs_spawn_await().is_some() {
        out.push(format!(
            "From a runtime worker, `start_in` costs {} a bare `Handle::spawn` ({}), and {} \
             once the handle is awaited ({}).",
            summary
                .start_vs_spawn()
                .map_or_else(|| "n/a".to_string(), ratio),
            target(&targets, "start_in / bare").map_or_else(String::new, short_verdict),
            summary
                .start_await_vs_spawn_await()
                .map_or_else(|| "n/a".to_string(), ratio),
            target(&targets, "start_in + await").map_or_else(String::new, short_verdict),
        ));
    }

    let snapshots = &summary.snapshots;
    if let (Some(snapshot), Some(per_service)) =
        (snapshots.warm_ns, summary.snapshot_ns_per_service())
    {
        let mut text = format!(
            "`metrics()` with {SNAPSHOT_SERVICES} live services takes {} µs, {} ns per \
             service ({}).",
            ns(snapshot / 1_000.0),
            ns(per_service),
            target(&targets, "snapshot").map_or_else(String::new, short_verdict),
        );
        if let (Some(floor), Some(versus)) = (
            Snapshots::per_service(snapshots.floor_warm_ns),
            snapshots.warm_vs_floor(),
        ) {
            text.push_str(&format!(
                " A plain sequential read of as many bytes (the size of the per-instance state \
                 a snapshot reads, times {SNAPSHOT_SERVICES}, from one `Vec`) takes {} ns per \
                 service, so the warm snapshot is {} that floor.",
                ns(floor),
                ratio(versus),
            ));
        }
        out.push(text);
    }

    if let Some(cold) = Snapshots::per_service(snapshots.cold_ns) {
        let mut text = format!(
            "With the caches evicted first (64 MiB written and read), `metrics()` takes {} ns \
             per live service",
            ns(cold)
        );
        if let Some(versus_warm) = snapshots.cold_vs_warm() {
            text.push_str(&format!(", {} the warm figure", ratio(versus_warm)));
        }
        if let (Some(floor), Some(versus)) = (
            Snapshots::per_service(snapshots.floor_cold_ns),
            snapshots.cold_vs_floor(),
        ) {
            text.push_str(&format!(
                "; the same sequential read from cold memory takes {} ns per service, so the \
                 cold snapshot is {} its floor (no target: reported for issue #10)",
                ns(floor),
                ratio(versus)
            ));
        }
        text.push('.');
        out.push(text);
    }

    if let Some(churned) = Snapshots::per_service(snapshots.churned_ns) {
        let mut text = format!(
            "On a registry whose runtime first started and finished {CHURNED_SERVICES} \
             short-lived services (so the live instances are allocated from recycled memory), the \
             warm snapshot takes {} ns per live service",
            ns(churned)
        );
        if let Some(versus_warm) = snapshots.churned_vs_warm() {
            text.push_str(&format!(", {} the fresh registry's", ratio(versus_warm)));
        }
        text.push('.');
        out.push(text);
    }

    if let (Some(alone), Some(with_snapshots)) =
        (summary.start_alone_ns, summary.start_with_snapshots_ns)
    {
        let mut text = format!(
            "While another thread takes snapshots of the same registry back to back, starting \
             an instance of a name with {SNAPSHOT_SERVICES} live ones takes {} against {} \
             alone: {}.",
            time(with_snapshots),
            time(alone),
            target(&targets, "start while snapshots").map_or_else(String::new, verdict),
        );
        if let Some(own) = summary.start_with_own_vs_other_snapshots() {
            text.push_str(&format!(
                " Against snapshots of another registry, which share only the machine, the \
                 registry's own share is {}.",
                ratio(own)
            ));
        }
        out.push(text);
    }

    let threads = &summary.threads;
    if threads.any() {
        let mut text =
            format!(
            "Starting parked instances from several std threads at once costs, in wall time per \
             start per thread, {} with one shared name and {} with one name per thread (each \
             against its own one-thread figure).",
            thread_series(threads, |row| row.same_name_ns, ThreadStarts::same_name_vs_one),
            thread_series(
                threads,
                |row| row.different_names_ns,
                ThreadStarts::different_names_vs_one
            ),
        );
        if let Some(same_vs_different) = threads.row(2).and_then(ThreadRow::same_vs_different) {
            text.push_str(&format!(
                " At two threads one shared name costs {} what separate names do: the two \
                 cases differ only in whether the threads start instances of one name.",
                ratio(same_vs_different)
            ));
        }
        text.push_str(
            " Threads beyond the machine's cores take turns on the CPUs (with the runtime's \
             two workers too), so the growth past that point is oversubscription as much as \
             the registry.",
        );
        out.push(text);
    }

    let mut supervisor = Vec::new();
    if let (Some(start_in), Some(supervised)) =
        (summary.unsupervised_start_ns, summary.supervised_start_ns)
    {
        supervisor.push(format!(
            "A supervised start (`Supervisor::start` of a `ChildSpec`, {SUPERVISOR_STARTS} from \
             one thread outside the runtime) costs {} ns per start against {} ns for \
             `Registry::start_in`, {} ({}).",
            ns(supervised),
            ns(start_in),
            ratio(supervised / start_in),
            target(&targets, "supervised start").map_or_else(String::new, short_verdict),
        ));
    }
    if let Some(restart) = summary.restart_ns {
        supervisor.push(format!(
            "After a panic with `Backoff::none()`, the next incarnation is first polled {} µs \
             after the `panic!` (the unwind, the supervisor seeing the ending, the restart \
             through the registry).",
            ns(restart / 1_000.0),
        ));
    }
    if !supervisor.is_empty() {
        out.push(supervisor.join(" "));
    }
    out
}

/// The sentence under the start-under-snapshots table: how much of a start's slowdown under
/// snapshots is the machine's (snapshots of another registry) and how much the registry's
/// own (snapshots of this one over snapshots of another); `None` unless all three cases ran.
pub(crate) fn start_under_snapshots_line(summary: &Summary) -> Option<String> {
    let alone = summary.start_alone_ns?;
    let with_own = summary.start_with_snapshots_ns?;
    let with_other = summary.start_with_other_snapshots_ns?;
    let own = summary.start_with_own_vs_other_snapshots()?;
    let machine = with_other / alone;
    Some(format!(
        "Snapshots of another registry ({SNAPSHOT_SERVICES} live instances of its own: the \
         starts share only the machine with them) make a start take {}, {} alone: {}. \
         Snapshots of this registry make it take {}, {} alone. This registry's snapshots / \
         another registry's snapshots = {}, the registry's own interference: {}.",
        time(with_other),
        ratio(machine),
        if machine < MEASURABLE_RATIO {
            "a second CPU busy with snapshots costs a start nothing measurable on this machine"
        } else {
            "that is the machine's share, two busy CPUs competing for what they share"
        },
        time(with_own),
        ratio(with_own / alone),
        ratio(own),
        if own < MEASURABLE_RATIO {
            "nothing measurable, so a snapshot slows a start no more than any other work on \
             the second CPU would"
        } else {
            "what a start pays, beyond the machine's share, for sharing the registry with the \
             snapshots (the name's lock, the cache lines a start writes and a snapshot reads)"
        },
    ))
}

/// "700.0 ns from 1 thread, 2100 ns from 2 (3.00x), ...": the measured thread counts of
/// one case, each with its figure over the one-thread figure.
fn thread_series(
    threads: &ThreadStarts,
    figure: fn(&ThreadRow) -> Option<f64>,
    versus_one: fn(&ThreadStarts, &ThreadRow) -> Option<f64>,
) -> String {
    let parts: Vec<String> = threads
        .rows
        .iter()
        .filter_map(|row| {
            let value = figure(row)?;
            Some(match (row.threads, versus_one(threads, row)) {
                (1, _) => format!("{} ns from 1 thread", ns(value)),
                (count, Some(growth)) => {
                    format!("{} ns from {count} ({})", ns(value), ratio(growth))
                }
                (count, None) => format!("{} ns from {count}", ns(value)),
            })
        })
        .collect();
    if parts.is_empty() {
        "n/a".to_string()
    } else {
        parts.join(", ")
    }
}

/// "3.39 ns", or "nothing measurable (-0.15 ns)" within half a nanosecond of zero.
fn added_ns(value: f64) -> String {
    if value.abs() < 0.5 {
        format!("nothing measurable ({} ns)", ns(value))
    } else {
        format!("{} ns", ns(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::tests::sample_estimates;

    #[test]
    fn says_how_far_a_missed_clock_target_is() {
        let mut estimates = sample_estimates();
        estimates.insert("poll_path/vigil_default", 1.6 + 25.0);
        let reading = reading(&Summary::from_estimates(&estimates), None).join("\n");
        // 25 ns against 1.1 x 19 ns = 20.9 ns allowed.
        assert!(
            reading.contains("1.32x that (target <= 1.10x: **missed**)"),
            "{reading}"
        );
        assert!(
            reading.contains("Meeting it needs 4.10 ns less per poll."),
            "{reading}"
        );
    }

    #[test]
    fn reads_the_supervisor_figures() {
        let mut estimates = sample_estimates();
        estimates.insert("supervisor_start/supervised", 1_000.0 * 1_300.0);
        let text = reading(&Summary::from_estimates(&estimates), None).join("\n");
        assert!(
            text.contains(
                "costs 1300 ns per start against 800.0 ns for `Registry::start_in`, 1.62x \
                 (target <= 1.50x: **missed**)."
            ),
            "{text}"
        );
        assert!(
            text.contains("the next incarnation is first polled 24.5 µs after the `panic!`"),
            "{text}"
        );
        // The restart alone still gets its sentence.
        let mut estimates = crate::estimates::Estimates::default();
        estimates.insert("supervisor_restart/panic_to_next_poll", 31_000.0);
        let alone = reading(&Summary::from_estimates(&estimates), None);
        assert_eq!(alone.len(), 1);
        assert!(
            alone[0].starts_with(
                "After a panic with `Backoff::none()`, the next incarnation is first polled \
                 31.0 µs"
            ),
            "{alone:?}"
        );
    }

    #[test]
    fn reads_the_snapshots_against_their_floors() {
        let text = reading(&Summary::from_estimates(&sample_estimates()), None).join("\n");
        for expected in [
            "takes 3.00 ns per service, so the warm snapshot is 5.00x that floor.",
            "`metrics()` takes 45.0 ns per live service, 3.00x the warm figure; the same \
             sequential read from cold memory takes 6.00 ns per service, so the cold snapshot \
             is 7.50x its floor",
            "the warm snapshot takes 18.0 ns per live service, 1.20x the fresh registry's.",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        // The cold snapshot alone: no floor, no warm figure to compare with.
        let mut estimates = crate::estimates::Estimates::default();
        estimates.insert("registry_snapshot_cold/10000", 400_000.0);
        let alone = reading(&Summary::from_estimates(&estimates), None);
        assert_eq!(
            alone,
            [
                "With the caches evicted first (64 MiB written and read), `metrics()` takes 40.0 \
              ns per live service."
            ]
        );
    }

    #[test]
    fn reads_the_start_under_snapshots() {
        let summary = Summary::from_estimates(&sample_estimates());
        let text = reading(&summary, None).join("\n");
        assert!(
            text.contains(
                "starting an instance of a name with 10000 live ones takes 650.0 ns against \
                 500.0 ns alone: 1.30x, target <= 1.20x: **missed**. Against snapshots of \
                 another registry, which share only the machine, the registry's own share is \
                 1.25x."
            ),
            "{text}"
        );
        // Under the table: 520 ns with another registry's snapshots, 650 ns with this one's.
        let line = start_under_snapshots_line(&summary).unwrap();
        for expected in [
            "make a start take 520.0 ns, 1.04x alone: a second CPU busy with snapshots costs \
             a start nothing measurable on this machine.",
            "Snapshots of this registry make it take 650.0 ns, 1.30x alone.",
            "snapshots = 1.25x, the registry's own interference: what a start pays, beyond",
        ] {
            assert!(line.contains(expected), "missing {expected:?} in\n{line}");
        }
        // As slow with another registry's snapshots: the machine's, not the registry's.
        let mut estimates = sample_estimates();
        estimates.insert("registry_start_under_snapshots/with_other_snapshots", 640.0);
        let line = start_under_snapshots_line(&Summary::from_estimates(&estimates)).unwrap();
        for expected in [
            "640.0 ns, 1.28x alone: that is the machine's share",
            "= 1.02x, the registry's own interference: nothing measurable",
        ] {
            assert!(line.contains(expected), "missing {expected:?} in\n{line}");
        }
        // Without the other-registry case: the target's sentence alone, no line.
        let mut estimates = crate::estimates::Estimates::default();
        estimates.insert("registry_start_under_snapshots/alone", 500.0);
        estimates.insert("registry_start_under_snapshots/with_snapshots", 650.0);
        let summary = Summary::from_estimates(&estimates);
        assert_eq!(start_under_snapshots_line(&summary), None);
        let text = reading(&summary, None);
        assert_eq!(text.len(), 1);
        assert!(
            text[0].ends_with("1.30x, target <= 1.20x: **missed**."),
            "{text:?}"
        );
    }

    #[test]
    fn reads_the_thread_starts() {
        let text = reading(&Summary::from_estimates(&sample_estimates()), None).join("\n");
        assert!(
            text.contains(
                "700.0 ns from 1 thread, 2100 ns from 2 (3.00x), 4200 ns from 4 (6.00x), \
                 8400 ns from 8 (12.00x) with one shared name and 650.0 ns from 1 thread, \
                 1300 ns from 2 (2.00x)"
            ),
            "{text}"
        );
        assert!(
            text.contains("At two threads one shared name costs 1.62x what separate names do"),
            "{text}"
        );
        // A run of one case alone reads n/a for the other.
        let mut estimates = crate::estimates::Estimates::default();
        estimates.insert("registry_threads/same_name/1", 700.0);
        estimates.insert("registry_threads/same_name/4", 1_400.0);
        let alone = reading(&Summary::from_estimates(&estimates), None).join("\n");
        assert!(
            alone.contains(
                "700.0 ns from 1 thread, 1400 ns from 4 (2.00x) with one shared name and n/a \
                 with one name per thread"
            ),
            "{alone}"
        );
    }

    #[test]
    fn reads_small_differences_and_contention_honestly() {
        assert_eq!(added_ns(-0.15), "nothing measurable (-0.15 ns)");
        assert_eq!(added_ns(3.39), "3.39 ns");
        // The sample run: vigil's contended overhead is 1.10x its single-thread figure.
        let calm = reading(&Summary::from_estimates(&sample_estimates()), None).join("\n");
        assert!(
            calm.contains("Separate instances slow each other down by nothing measurable."),
            "{calm}"
        );
        // Contended vigil doubles while the clock alone does not: say it is vigil's own.
        let mut estimates = sample_estimates();
        estimates.insert("poll_path_contended/vigil_default", 42.0);
        estimates.insert("poll_path_contended/clock_floor", 21.0);
        let contended = reading(&Summary::from_estimates(&estimates), None).join("\n");
        assert!(
            contended.contains("the difference is vigil's own"),
            "{contended}"
        );
    }
}
