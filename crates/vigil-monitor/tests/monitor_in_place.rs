//! `BusyMonitor::in_place`: one `RawMetrics` reused by successive monitors, as a registry's
//! slab reuses a slot, while other threads read it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use vigil_monitor::{BusyMonitor, Lifecycle, PollMonitor, PollOutcome, RawMetrics};

/// Busy ticks per poll of the monitor created at `created_at`: each generation of the slot
/// has its own, so a reading that mixes two generations is caught.
fn busy_per_poll(created_at: u64) -> u64 {
    created_at / 1_000 + 1
}

#[test]
fn a_reset_starts_the_figures_over() {
    let metrics = Arc::new(RawMetrics::vacant());
    assert!(metrics.is_finished(), "a vacant slot reads as ended");

    let mut first = BusyMonitor::in_place(Arc::clone(&metrics), 100, 1_000);
    first.on_poll_start(100);
    first.on_poll_end(100, 150, PollOutcome::Ready);
    assert_eq!(metrics.lifecycle(), Lifecycle::Completed);

    let mut second = BusyMonitor::in_place(Arc::clone(&metrics), 5_000, 2_000);
    let sample = metrics.sample(5_000);
    assert_eq!(
        (sample.poll_count, sample.busy_ticks, sample.lifecycle),
        (0, 0, Lifecycle::Running)
    );
    assert_eq!(
        (metrics.created_at(), metrics.window_ticks()),
        (5_000, 2_000)
    );
    second.on_poll_start(5_010);
    second.on_poll_end(5_010, 5_013, PollOutcome::Pending);
    let sample = metrics.sample(6_000);
    assert_eq!((sample.poll_count, sample.busy_ticks), (1, 3));
    assert_eq!(sample.last_poll_end, 5_013);
    second.on_drop(false);
    assert_eq!(metrics.lifecycle(), Lifecycle::Dropped);
}

#[test]
fn readers_see_one_generation_of_a_reused_slot_never_a_mix() {
    const GENERATIONS: u64 = 2_000;
    const POLLS: u64 = 20;
    let metrics = Arc::new(RawMetrics::vacant());
    let done = Arc::new(AtomicBool::new(false));
    let readings = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let metrics = Arc::clone(&metrics);
            let done = Arc::clone(&done);
            let readings = Arc::clone(&readings);
            std::thread::spawn(move || {
                // Relaxed: a stop flag; the join orders the rest.
                while !done.load(Ordering::Relaxed) {
                    let sample = metrics.sample(u64::MAX / 2);
                    if sample.created_at == 0 {
                        continue; // still vacant
                    }
                    assert_eq!(
                        sample.busy_ticks,
                        sample.poll_count * busy_per_poll(sample.created_at),
                        "torn read: {sample:?}"
                    );
                    assert!(sample.last_poll_end >= sample.created_at, "{sample:?}");
                    // Relaxed: a progress counter only.
                    readings.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // At least GENERATIONS reuses, and on until the readers have overlapped many of them
    // (they may start late on a busy machine).
    let mut generation = 0;
    // Relaxed: a progress counter only.
    while generation < GENERATIONS || readings.load(Ordering::Relaxed) < 100_000 {
        generation += 1;
        let created_at = generation * 1_000;
        let busy = busy_per_poll(created_at);
        let mut monitor = BusyMonitor::in_place(Arc::clone(&metrics), created_at, 10_000);
        let mut now = created_at;
        for poll in 1..=POLLS {
            monitor.on_poll_start(now);
            let outcome = if poll == POLLS {
                PollOutcome::Ready
            } else {
                PollOutcome::Pending
            };
            monitor.on_poll_end(now, now + busy, outcome);
            now += busy;
        }
        assert!(metrics.is_finished());
    }
    done.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.join().unwrap();
    }
}
