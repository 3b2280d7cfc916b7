//! `SchedulingMonitor`: exact scheduling, idle and first-poll figures with a `MockClock` and a
//! hand-driven waker; waker forwarding and re-registration.

mod common;

use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use common::{monitored, poll_with, CountingWaker, PollPlan};
use vigil_monitor::{
    BusyMonitor, MockClock, PollMonitor, SchedulingMetrics, SchedulingMonitor, SchedulingSnapshot,
    Ticks,
};

/// `(scheduled_count, total, max)` of scheduling delays, in ticks (= ns).
fn scheduled(snapshot: &SchedulingSnapshot) -> (u64, u64, u64) {
    (
        snapshot.scheduled_count,
        snapshot.total_scheduling_delay.as_nanos() as u64,
        snapshot.max_scheduling_delay.as_nanos() as u64,
    )
}

/// `(idle_count, total, max)` of idle periods, in ticks (= ns).
fn idle(snapshot: &SchedulingSnapshot) -> (u64, u64, u64) {
    (
        snapshot.idle_count,
        snapshot.total_idle_duration.as_nanos() as u64,
        snapshot.max_idle_duration.as_nanos() as u64,
    )
}

fn busy(busy: Ticks) -> PollPlan {
    PollPlan {
        busy,
        ..PollPlan::default()
    }
}

struct Run {
    clock: MockClock,
    metrics: Arc<SchedulingMetrics>,
    monitored: common::Monitored<SchedulingMonitor<MockClock>>,
    script: common::Script,
    executor: Arc<CountingWaker>,
    executor_waker: Waker,
}

impl Run {
    fn new() -> Self {
        let clock = MockClock::new();
        let monitor = SchedulingMonitor::new(&clock);
        let metrics = Arc::clone(monitor.metrics());
        let (monitored, script) = monitored(&clock, monitor);
        let (executor, executor_waker) = CountingWaker::new();
        Self {
            clock,
            metrics,
            monitored,
            script,
            executor,
            executor_waker,
        }
    }

    /// Polls at `at` with the executor's waker, following `plan`.
    fn poll_at(&mut self, at: Ticks, plan: PollPlan) {
        self.clock.set(at);
        poll_with(
            &mut self.monitored,
            &self.script,
            &self.executor_waker,
            plan,
        );
    }

    /// Wakes the waker the inner future last saw, at `at`.
    fn wake_at(&self, at: Ticks) {
        self.clock.set(at);
        self.script.wake();
    }

    fn snapshot(&self) -> SchedulingSnapshot {
        self.metrics.snapshot(&self.clock)
    }
}

#[test]
fn exact_figures_for_a_scripted_run() {
    let mut run = Run::new(); // created at t = 0
    let snapshot = run.snapshot();
    assert_eq!(snapshot.first_poll_delay, None);
    assert_eq!(scheduled(&snapshot), (0, 0, 0));
    assert_eq!(idle(&snapshot), (0, 0, 0));

    // First poll at 5 (first-poll delay 5), ends at 7. Not a scheduled poll.
    run.poll_at(5, busy(2));
    let snapshot = run.snapshot();
    assert_eq!(snapshot.first_poll_delay, Some(Duration::from_nanos(5)));
    assert_eq!(scheduled(&snapshot), (0, 0, 0));

    // Woken at 20 (idle 13): recorded when the poll it leads to starts.
    run.wake_at(20);
    assert_eq!(run.executor.wakes(), 1, "the wake reached the executor");
    assert_eq!(scheduled(&run.snapshot()), (0, 0, 0));
    assert_eq!(idle(&run.snapshot()), (0, 0, 0));

    // Polled at 26 (scheduling delay 6), ends at 28.
    run.poll_at(26, busy(2));
    let snapshot = run.snapshot();
    assert_eq!(scheduled(&snapshot), (1, 6, 6));
    assert_eq!(idle(&snapshot), (1, 13, 13));

    // Woken at 30 and again at 33, polled at 40: one scheduled poll, timed from the first
    // wake (delay 10, idle 2).
    run.wake_at(30);
    run.wake_at(33);
    assert_eq!(run.executor.wakes(), 3, "every wake is forwarded");
    run.poll_at(40, busy(2)); // ends at 42
    let snapshot = run.snapshot();
    assert_eq!(scheduled(&snapshot), (2, 16, 10));
    assert_eq!(idle(&snapshot), (2, 15, 13));

    // Polled at 50 without a wake: not scheduled. It wakes itself at 51 and ends at 52.
    run.poll_at(
        50,
        PollPlan {
            busy: 2,
            self_wake_at: Some(1),
            panic: false,
        },
    );
    assert_eq!(run.executor.wakes(), 4, "the self-wake is forwarded");
    assert_eq!(scheduled(&run.snapshot()), (2, 16, 10));

    // Polled at 60: scheduled by the self-wake, delayed from the poll's end (52), not from the
    // wake (51): the service was busy until 52. No idle period.
    run.poll_at(60, busy(2)); // ends at 62
    let snapshot = run.snapshot();
    assert_eq!(scheduled(&snapshot), (3, 24, 10));
    assert_eq!(idle(&snapshot), (2, 15, 13));

    // A spurious poll at 70 (no wake), ending at 71: not scheduled, and idle time runs from
    // its end.
    run.poll_at(70, busy(1));
    assert_eq!(scheduled(&run.snapshot()), (3, 24, 10));

    // Woken at 100 (idle 29 since 71), polled at 101 (delay 1).
    run.wake_at(100);
    run.poll_at(101, busy(0));
    let snapshot = run.snapshot();
    assert_eq!(scheduled(&snapshot), (4, 25, 10));
    assert_eq!(idle(&snapshot), (3, 44, 29));
    assert_eq!(snapshot.first_poll_delay, Some(Duration::from_nanos(5)));
    assert_eq!(run.script.polls(), 7);
    assert_eq!(run.executor.wakes(), 5);
}

#[test]
fn first_poll_delay_is_measured_from_creation() {
    let clock = MockClock::new();
    clock.set(1_000);
    let monitor = SchedulingMonitor::at(&clock, 400);
    assert_eq!(monitor.created_at(), 400);
    let metrics = Arc::clone(monitor.metrics());
    let (mut monitored, script) = monitored(&clock, monitor);
    clock.set(1_234);
    poll_with(&mut monitored, &script, Waker::noop(), busy(10));
    clock.set(5_000);
    poll_with(&mut monitored, &script, Waker::noop(), busy(10));
    let snapshot = metrics.snapshot(&clock);
    assert_eq!(snapshot.first_poll_delay, Some(Duration::from_nanos(834)));
    assert_eq!(snapshot.scheduled_count, 0, "no wake, no scheduled poll");
}

#[test]
fn the_inner_future_sees_a_wrapping_waker_that_wakes_the_executor() {
    let mut run = Run::new();
    run.poll_at(1, busy(1));
    let seen = run.script.parked_waker();
    assert!(
        !seen.will_wake(&run.executor_waker),
        "the inner future sees the monitor's waker"
    );
    seen.wake_by_ref();
    assert_eq!(run.executor.wakes(), 1);
    // By value too (`Wake::wake`, consuming a clone).
    let owned = seen.clone();
    owned.wake();
    assert_eq!(run.executor.wakes(), 2);

    // The wrapping waker is built once: every poll hands out the same one.
    run.poll_at(10, busy(1));
    assert!(run.script.parked_waker().will_wake(&seen));
}

#[test]
fn the_executor_waker_is_cloned_only_when_it_changes() {
    let mut run = Run::new();
    run.poll_at(1, busy(1));
    // Ours, our `Waker`, the monitor's private copy, and the one in the waker state.
    let held = Arc::strong_count(&run.executor);
    assert_eq!(held, 4);
    for t in 2..100 {
        run.poll_at(t * 10, busy(1));
        assert_eq!(
            Arc::strong_count(&run.executor),
            held,
            "re-cloned at poll {t}"
        );
    }
}

#[test]
fn a_new_executor_waker_replaces_the_old_one() {
    let mut run = Run::new();
    run.poll_at(1, busy(1));
    let wrapper = run.script.parked_waker();
    let (second, second_waker) = CountingWaker::new();
    run.clock.set(10);
    poll_with(&mut run.monitored, &run.script, &second_waker, busy(1));
    // A waker handed out in an earlier poll now reaches the new executor waker.
    wrapper.wake();
    assert_eq!((run.executor.wakes(), second.wakes()), (0, 1));
    assert_eq!(
        Arc::strong_count(&run.executor),
        2,
        "the monitor released the old waker: only ours remain"
    );
}

#[test]
fn without_a_wrapping_monitor_the_callers_waker_passes_through() {
    const { assert!(!<BusyMonitor as PollMonitor>::WRAPS_WAKER) };
    const { assert!(!<(BusyMonitor, ()) as PollMonitor>::WRAPS_WAKER) };
    const { assert!(<(BusyMonitor, SchedulingMonitor) as PollMonitor>::WRAPS_WAKER) };
    let clock = MockClock::new();
    let (mut monitored, script) = monitored(&clock, BusyMonitor::new(&clock));
    let (executor, executor_waker) = CountingWaker::new();
    poll_with(&mut monitored, &script, &executor_waker, busy(1));
    assert!(script.parked_waker().will_wake(&executor_waker));
    script.wake();
    assert_eq!(executor.wakes(), 1);
}

#[test]
fn chained_wrappers_each_record_and_wake_once() {
    let clock = MockClock::new();
    let (first, second) = (
        SchedulingMonitor::new(&clock),
        SchedulingMonitor::new(&clock),
    );
    let metrics = [Arc::clone(first.metrics()), Arc::clone(second.metrics())];
    let (mut monitored, script) = monitored(&clock, (first, BusyMonitor::new(&clock), second));
    let (executor, executor_waker) = CountingWaker::new();
    clock.set(3);
    poll_with(&mut monitored, &script, &executor_waker, busy(2));
    clock.set(9);
    script.wake();
    assert_eq!(executor.wakes(), 1, "one wake reaches the executor once");
    clock.set(12);
    poll_with(&mut monitored, &script, &executor_waker, busy(2));
    for metrics in &metrics {
        let snapshot = metrics.snapshot(&clock);
        assert_eq!(snapshot.first_poll_delay, Some(Duration::from_nanos(3)));
        assert_eq!(scheduled(&snapshot), (1, 3, 3));
        assert_eq!(idle(&snapshot), (1, 4, 4));
    }
}

#[test]
fn a_wake_after_the_future_is_dropped_still_reaches_the_executor() {
    let mut run = Run::new();
    run.poll_at(1, busy(1));
    let wrapper = run.script.parked_waker();
    drop(run.monitored);
    wrapper.wake_by_ref();
    assert_eq!(run.executor.wakes(), 1);
}

#[test]
fn wakes_from_another_thread_while_polling() {
    const WAKES: usize = 20_000;
    let mut run = Run::new();
    run.poll_at(1, busy(1));
    let wrapper = run.script.parked_waker();
    let clock = run.clock.clone();
    let waker_thread = std::thread::spawn(move || {
        for _ in 0..WAKES {
            clock.advance_ticks(3);
            wrapper.wake_by_ref();
        }
    });
    let mut polls = 1;
    while !waker_thread.is_finished() || polls < 1_000 {
        run.clock.advance_ticks(5);
        poll_with(
            &mut run.monitored,
            &run.script,
            &run.executor_waker,
            busy(2),
        );
        polls += 1;
        let snapshot = run.snapshot();
        assert!(snapshot.scheduled_count < polls);
        assert!(snapshot.idle_count <= snapshot.scheduled_count);
        assert!(snapshot.max_scheduling_delay <= snapshot.total_scheduling_delay);
        assert!(snapshot.max_idle_duration <= snapshot.total_idle_duration);
    }
    waker_thread.join().unwrap();
    assert_eq!(run.executor.wakes(), WAKES, "every wake was forwarded");
}
