//! `SlowPollMonitor`: exact counts and durations around the threshold, on a `MockClock`.

mod common;

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::Duration;

use common::{monitored, poll_busy, PollPlan};
use proptest::prelude::*;
use vigil_monitor::{
    BusyMonitor, MockClock, SlowPollMetrics, SlowPollMonitor, SlowPollSnapshot, Ticks,
    DEFAULT_SLOW_POLL_THRESHOLD,
};

#[test]
fn default_threshold_is_50_microseconds() {
    let clock = MockClock::new();
    let monitor = SlowPollMonitor::new(&clock);
    assert_eq!(DEFAULT_SLOW_POLL_THRESHOLD, Duration::from_micros(50));
    assert_eq!(monitor.threshold_ticks(), 50_000);
    assert_eq!(monitor.metrics().threshold(), Duration::from_micros(50));
    let snapshot = monitor.metrics().snapshot(&clock);
    assert_eq!(snapshot.threshold, Duration::from_micros(50));
    assert_eq!(
        (snapshot.slow_poll_count, snapshot.fast_poll_count),
        (0, 0),
        "nothing recorded before the first poll"
    );
    assert_eq!(snapshot.total_slow_poll_duration, Duration::ZERO);
    assert_eq!(snapshot.total_fast_poll_duration, Duration::ZERO);
}

#[test]
fn custom_threshold_is_converted_to_ticks_once() {
    let clock = MockClock::new();
    let monitor = SlowPollMonitor::with_threshold(&clock, Duration::from_millis(3));
    assert_eq!(monitor.threshold_ticks(), 3_000_000);
    assert_eq!(monitor.metrics().threshold(), Duration::from_millis(3));
}

#[test]
fn a_poll_of_exactly_the_threshold_is_fast() {
    let clock = MockClock::new();
    let monitor = SlowPollMonitor::with_threshold(&clock, Duration::from_nanos(1_000));
    let metrics = Arc::clone(monitor.metrics());
    let (mut monitored, script) = monitored(&clock, monitor);

    for (busy, slow, fast) in [
        (0, 0, 1),
        (999, 0, 2),
        (1_000, 0, 3),
        (1_001, 1, 3),
        (1_000_000, 2, 3),
    ] {
        poll_busy(&mut monitored, &script, busy);
        let snapshot = metrics.snapshot(&clock);
        assert_eq!(snapshot.slow_poll_count, slow, "after a poll of {busy}");
        assert_eq!(snapshot.fast_poll_count, fast, "after a poll of {busy}");
    }
    let snapshot = metrics.snapshot(&clock);
    assert_eq!(
        snapshot.total_slow_poll_duration,
        Duration::from_nanos(1_001 + 1_000_000)
    );
    assert_eq!(
        snapshot.total_fast_poll_duration,
        Duration::from_nanos(999 + 1_000)
    );
    assert_eq!(snapshot.threshold, Duration::from_nanos(1_000));
}

#[test]
fn idle_time_between_polls_is_not_counted() {
    let clock = MockClock::new();
    let monitor = SlowPollMonitor::with_threshold(&clock, Duration::from_nanos(100));
    let metrics = Arc::clone(monitor.metrics());
    let (mut monitored, script) = monitored(&clock, monitor);
    poll_busy(&mut monitored, &script, 10);
    clock.advance_ticks(1_000_000);
    poll_busy(&mut monitored, &script, 10);
    let snapshot = metrics.snapshot(&clock);
    assert_eq!(snapshot.slow_poll_count, 0);
    assert_eq!(snapshot.fast_poll_count, 2);
    assert_eq!(snapshot.total_fast_poll_duration, Duration::from_nanos(20));
}

#[test]
fn a_panicking_poll_is_counted() {
    let clock = MockClock::new();
    let monitor = SlowPollMonitor::with_threshold(&clock, Duration::from_nanos(100));
    let metrics = Arc::clone(monitor.metrics());
    let (mut monitored, script) = monitored(&clock, monitor);
    script.plan(PollPlan {
        busy: 500,
        self_wake_at: None,
        panic: true,
    });
    let result = catch_unwind(AssertUnwindSafe(|| {
        let _ = monitored
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
    }));
    assert!(result.is_err(), "the panic propagates");
    let snapshot = metrics.snapshot(&clock);
    assert_eq!(snapshot.slow_poll_count, 1);
    assert_eq!(snapshot.total_slow_poll_duration, Duration::from_nanos(500));
}

/// Polls a `(BusyMonitor, SlowPollMonitor)` stack with `durations` and checks that both saw the
/// same polls: counts add up, and so do durations, to the tick.
fn same_polls_as_busy_monitor(durations: &[Ticks], threshold: Ticks) {
    let clock = MockClock::new();
    let busy = BusyMonitor::new(&clock);
    let slow = SlowPollMonitor::with_threshold(&clock, Duration::from_nanos(threshold));
    let busy_metrics = Arc::clone(busy.metrics());
    let slow_metrics = Arc::clone(slow.metrics());
    let (mut monitored, script) = monitored(&clock, (busy, slow));
    for (i, &ticks) in durations.iter().enumerate() {
        poll_busy(&mut monitored, &script, ticks);
        clock.advance_ticks(i as Ticks * 7);
    }
    let busy_snapshot = busy_metrics.snapshot(&clock);
    let slow_snapshot = slow_metrics.snapshot(&clock);
    assert_eq!(
        slow_snapshot.slow_poll_count + slow_snapshot.fast_poll_count,
        busy_snapshot.poll_count
    );
    assert_eq!(
        slow_snapshot.total_slow_poll_duration + slow_snapshot.total_fast_poll_duration,
        busy_snapshot.total_busy_duration
    );
    let expected_slow: Vec<Ticks> = durations
        .iter()
        .copied()
        .filter(|&d| d > threshold)
        .collect();
    assert_eq!(slow_snapshot.slow_poll_count, expected_slow.len() as u64);
    assert_eq!(
        slow_snapshot.total_slow_poll_duration,
        Duration::from_nanos(expected_slow.iter().sum())
    );
}

#[test]
fn stacked_with_busy_monitor_it_sees_identical_timestamps() {
    same_polls_as_busy_monitor(&[1, 50_000, 50_001, 3, 80_000, 49_999, 0], 50_000);
}

proptest! {
    #[test]
    fn stacked_with_busy_monitor_the_sums_agree(
        durations in proptest::collection::vec(0_u64..200_000, 0..100),
        threshold in 0_u64..150_000,
    ) {
        same_polls_as_busy_monitor(&durations, threshold);
    }
}

#[test]
fn concurrent_readers_see_consistent_count_and_total() {
    // Every slow poll takes exactly 300 ticks and every fast one 10: in any snapshot that is
    // not torn, each total is exactly its count times that.
    let clock = MockClock::new();
    let monitor = SlowPollMonitor::with_threshold(&clock, Duration::from_nanos(100));
    let metrics: Arc<SlowPollMetrics> = Arc::clone(monitor.metrics());
    let (mut monitored, script) = monitored(&clock, monitor);
    const POLLS: u64 = 20_000;
    let reader = {
        let clock = clock.clone();
        std::thread::spawn(move || {
            let mut last = (0, 0);
            loop {
                let snapshot: SlowPollSnapshot = metrics.snapshot(&clock);
                assert_eq!(
                    snapshot.total_slow_poll_duration,
                    Duration::from_nanos(300) * snapshot.slow_poll_count as u32
                );
                assert_eq!(
                    snapshot.total_fast_poll_duration,
                    Duration::from_nanos(10) * snapshot.fast_poll_count as u32
                );
                let counts = (snapshot.slow_poll_count, snapshot.fast_poll_count);
                assert!(counts.0 >= last.0 && counts.1 >= last.1, "counts went back");
                last = counts;
                if counts.0 + counts.1 == POLLS {
                    break;
                }
            }
        })
    };
    for i in 0..POLLS {
        poll_busy(&mut monitored, &script, if i % 3 == 0 { 300 } else { 10 });
    }
    reader.join().unwrap();
}
