//! Utilization, busy time and in-flight polls of `BusyMonitor`, driven by a `MockClock`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use proptest::prelude::*;
use vigil_monitor::{
    BusyMonitor, Clock, Lifecycle, MockClock, MonitorSnapshot, RawMetrics, ServiceMonitor, Ticks,
};

type Inner = Pin<Box<dyn Future<Output = ()> + Send>>;
type Monitored = Pin<Box<ServiceMonitor<Inner, BusyMonitor, MockClock>>>;

/// A monitored never-ending future whose every poll takes exactly `busy` ticks of mock time,
/// plus an exact record of every poll interval to compare the estimates against.
struct Harness {
    clock: MockClock,
    /// Ticks the next poll advances the clock by.
    busy: Arc<AtomicU64>,
    monitored: Monitored,
    metrics: Arc<RawMetrics>,
    created_at: Ticks,
    window: Ticks,
    /// `(start, end)` of every completed poll.
    polls: Vec<(Ticks, Ticks)>,
}

impl Harness {
    /// A monitor created at tick 0 with a window of `window` ticks.
    fn new(window: Ticks) -> Self {
        Self::with_monitor(MockClock::new(), BusyMonitor::at(0, window))
    }

    fn with_monitor(clock: MockClock, monitor: BusyMonitor) -> Self {
        let busy = Arc::new(AtomicU64::new(0));
        let ticking = clock.clone();
        let per_poll = Arc::clone(&busy);
        let inner: Inner = Box::pin(std::future::poll_fn(move |_cx| {
            ticking.advance_ticks(per_poll.load(Ordering::Relaxed));
            Poll::Pending
        }));
        let metrics = Arc::clone(monitor.metrics());
        let created_at = metrics.created_at();
        let window = metrics.window_ticks();
        let monitored = Box::pin(ServiceMonitor::with_monitor(inner, monitor, clock.clone()));
        Self {
            clock,
            busy,
            monitored,
            metrics,
            created_at,
            window,
            polls: Vec::new(),
        }
    }

    fn now(&self) -> Ticks {
        self.clock.now()
    }

    /// Polls once; the poll lasts exactly `busy` ticks.
    fn poll(&mut self, busy: Ticks) {
        self.busy.store(busy, Ordering::Relaxed);
        let start = self.now();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(self.monitored.as_mut().poll(&mut cx).is_pending());
        let end = self.now();
        assert_eq!(
            end,
            start + busy,
            "the poll body controls the time inside the poll"
        );
        self.polls.push((start, end));
    }

    fn idle(&self, ticks: Ticks) {
        self.clock.advance_ticks(ticks);
    }

    fn utilization(&self) -> u8 {
        self.metrics.utilization_at(self.now())
    }

    fn snapshot(&self) -> MonitorSnapshot {
        self.metrics.snapshot(&self.clock)
    }

    fn total_busy(&self) -> Ticks {
        self.polls.iter().map(|(start, end)| end - start).sum()
    }

    fn last_end(&self) -> Ticks {
        self.polls.last().map_or(self.created_at, |&(_, end)| end)
    }

    /// Exact busy ticks inside `[from, to]`.
    fn busy_in(&self, from: Ticks, to: Ticks) -> Ticks {
        self.polls
            .iter()
            .map(|&(start, end)| end.min(to).saturating_sub(start.max(from)))
            .sum()
    }

    /// The window `[now - window, now]` clipped to the lifetime.
    fn window_at(&self, now: Ticks) -> (Ticks, Ticks) {
        (now.saturating_sub(self.window).max(self.created_at), now)
    }

    /// Exact utilization over the window ending at `now`, in percent (not rounded).
    fn exact_percent(&self, now: Ticks) -> f64 {
        let (start, end) = self.window_at(now);
        if end == start {
            return 0.0;
        }
        100.0 * self.busy_in(start, end) as f64 / (end - start) as f64
    }
}

fn assert_within(actual: u8, expected: f64, tolerance: f64, context: &str) {
    let error = (f64::from(actual) - expected).abs();
    assert!(
        error <= tolerance,
        "{context}: utilization {actual} %, expected {expected:.3} % (+- {tolerance:.3})"
    );
}

const WINDOW: Ticks = 1_000_000;

#[test]
fn steady_busy_fractions_read_exactly() {
    // Two cycle lengths: many tiny polls per window, and a hundred larger ones.
    for period in [100, 10_000] {
        for percent in [0, 10, 25, 50, 75, 100] {
            let busy = period * percent / 100;
            let idle = period - busy;
            let mut h = Harness::new(WINDOW);
            let cycles = 3 * WINDOW / period;
            let mut readings = 0;
            for cycle in 0..cycles {
                h.poll(busy);
                // Read across the last window and a half only: the first window is young.
                let reading = cycle * period >= 3 * WINDOW / 2 && cycle % 7 == 0;
                if reading {
                    let context = format!("{percent} % of {period}, cycle {cycle}, after poll");
                    assert_within(h.utilization(), percent as f64, 1.0, &context);
                    assert_within(h.utilization(), h.exact_percent(h.now()), 1.0, &context);
                }
                h.idle(idle / 2);
                if reading {
                    let context = format!("{percent} % of {period}, cycle {cycle}, mid-idle");
                    assert_within(h.utilization(), percent as f64, 1.0, &context);
                    assert_within(h.utilization(), h.exact_percent(h.now()), 1.0, &context);
                    readings += 1;
                }
                h.idle(idle - idle / 2);
            }
            assert!(readings > 10);
            let snapshot = h.snapshot();
            assert_eq!(snapshot.poll_count, cycles);
            assert_eq!(
                snapshot.total_busy_duration,
                Duration::from_nanos(busy * cycles)
            );
            assert_eq!(snapshot.current_poll_duration, None);
            assert_eq!(snapshot.lifecycle, Lifecycle::Running);
        }
    }
}

#[test]
fn young_service_is_measured_over_its_age() {
    // Created at a non-zero time through the `Duration` constructor.
    let clock = MockClock::new();
    clock.set(5_000_000);
    let monitor = BusyMonitor::with_window(&clock, Duration::from_nanos(WINDOW));
    let mut h = Harness::with_monitor(clock, monitor);
    assert_eq!(h.created_at, 5_000_000);
    assert_eq!(h.window, WINDOW);
    assert_eq!(h.utilization(), 0, "never polled, zero age");

    // 50 % busy for a fifth of a window: 50 %, not 10 %.
    for _ in 0..200 {
        h.poll(500);
        assert_within(
            h.utilization(),
            h.exact_percent(h.now()),
            1.0,
            "young, after poll",
        );
        h.idle(250);
        assert_within(
            h.utilization(),
            h.exact_percent(h.now()),
            1.0,
            "young, mid-idle",
        );
        h.idle(250);
    }
    let snapshot = h.snapshot();
    assert_eq!(snapshot.age, Duration::from_nanos(200_000));
    assert_within(snapshot.utilization, 50.0, 1.0, "young, idle edge");

    // A young service busy for its whole life reads 100 %.
    let mut h = Harness::new(WINDOW);
    h.poll(1_000);
    assert_eq!(h.utilization(), 100);
    h.poll(WINDOW / 4);
    assert_eq!(h.utilization(), 100);
    // ... and idle for the second half of its life reads 50 %.
    h.idle(WINDOW / 4 + 1_000);
    assert_eq!(h.utilization(), 50);
}

#[test]
fn idle_service_decays_to_zero_one_window_after_its_last_poll() {
    let mut h = Harness::new(WINDOW);
    while h.now() < 3 * WINDOW {
        h.poll(1_000);
    }
    let last_end = h.last_end();
    assert_eq!(h.utilization(), 100);

    let mut previous = u8::MAX;
    for step in 0..=200 {
        let now = last_end + step * WINDOW / 100;
        let reading = h.metrics.utilization_at(now);
        assert!(
            reading <= previous,
            "utilization rose from {previous} to {reading} while idle (step {step})"
        );
        // 100 % until the last poll end, then idle: the exact value falls linearly.
        let context = format!("idle step {step}");
        assert_within(reading, h.exact_percent(now), 1.0, &context);
        previous = reading;
    }
    assert_eq!(h.metrics.utilization_at(last_end + WINDOW), 0);
    assert_eq!(h.metrics.utilization_at(last_end + WINDOW + 1), 0);
    assert!(h.metrics.utilization_at(last_end + 2 * WINDOW) <= 5);
    assert_eq!(h.metrics.utilization_at(last_end + 2 * WINDOW), 0);
    assert!(h.metrics.utilization_at(last_end + WINDOW / 2) >= 49);

    // The same through `snapshot` with the clock moved.
    h.clock.set(last_end + WINDOW);
    let snapshot = h.snapshot();
    assert_eq!(snapshot.utilization, 0);
    assert_eq!(
        snapshot.total_busy_duration,
        Duration::from_nanos(h.total_busy())
    );
}

#[test]
fn stuck_poll_is_visible_from_inside_it() {
    // 10 % busy first (900 of every 9_000 ticks: not aligned with the checkpoint interval),
    // then one poll stuck for two and a half windows, read from inside in 50 steps.
    const BEFORE: u64 = 111;
    const STEP: Ticks = WINDOW / 20;
    let clock = MockClock::new();
    let monitor = BusyMonitor::at(0, WINDOW);
    let metrics = Arc::clone(monitor.metrics());
    // Readings taken inside the long poll: (elapsed ticks, snapshot).
    let inside: Arc<Mutex<Vec<(Ticks, MonitorSnapshot)>>> = Arc::default();
    let polls = Arc::new(AtomicU64::new(0));
    let inner = {
        let clock = clock.clone();
        let metrics = Arc::clone(&metrics);
        let inside = Arc::clone(&inside);
        let polls = Arc::clone(&polls);
        std::future::poll_fn(move |_cx| {
            let index = polls.fetch_add(1, Ordering::Relaxed);
            if index < BEFORE {
                clock.advance_ticks(900);
            } else if index == BEFORE {
                for step in 1..=50 {
                    clock.advance_ticks(STEP);
                    let snapshot = metrics.snapshot(&clock);
                    inside.lock().unwrap().push((step * STEP, snapshot));
                }
            } else {
                clock.advance_ticks(10);
            }
            Poll::<()>::Pending
        })
    };
    let mut monitored = Box::pin(ServiceMonitor::with_monitor(inner, monitor, clock.clone()));
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..BEFORE {
        assert!(monitored.as_mut().poll(&mut cx).is_pending());
        clock.advance_ticks(8_100);
    }
    let busy_before = BEFORE * 900;
    let before = metrics.snapshot(&clock);
    assert_eq!(before.poll_count, BEFORE);
    assert_eq!(
        before.total_busy_duration,
        Duration::from_nanos(busy_before)
    );
    assert_eq!(before.current_poll_duration, None);
    assert_eq!(before.utilization, 10);

    let stuck_start = clock.now();
    assert!(monitored.as_mut().poll(&mut cx).is_pending());
    let stuck_len = clock.now() - stuck_start;
    assert_eq!(stuck_len, 50 * STEP);

    let inside = std::mem::take(&mut *inside.lock().unwrap());
    assert_eq!(inside.len(), 50);
    let mut previous_busy = before.total_busy_duration;
    for (elapsed, snapshot) in inside {
        let elapsed_duration = Duration::from_nanos(elapsed);
        assert_eq!(
            snapshot.poll_count, BEFORE,
            "the running poll is not counted yet"
        );
        assert_eq!(snapshot.current_poll_duration, Some(elapsed_duration));
        assert_eq!(
            snapshot.total_busy_duration,
            Duration::from_nanos(busy_before) + elapsed_duration
        );
        assert!(snapshot.total_busy_duration > previous_busy);
        previous_busy = snapshot.total_busy_duration;
        assert_eq!(snapshot.lifecycle, Lifecycle::Running);
        if elapsed >= WINDOW {
            assert_eq!(snapshot.utilization, 100, "stuck for {elapsed} ticks");
        } else {
            // At least the in-flight part, which is exact.
            let floor = (100 * elapsed / WINDOW) as u8;
            assert!(
                snapshot.utilization >= floor,
                "stuck for {elapsed} ticks reads {} %",
                snapshot.utilization
            );
        }
    }

    let after = metrics.snapshot(&clock);
    assert_eq!(after.poll_count, BEFORE + 1);
    assert_eq!(after.current_poll_duration, None);
    assert_eq!(
        after.total_busy_duration,
        Duration::from_nanos(busy_before + stuck_len)
    );
    // The whole window was inside that poll; once it has returned, the estimate spreads it
    // with the busy time since the last checkpoint before it, which is at most a quarter
    // window earlier: the documented error bound is a quarter window.
    assert!(
        after.utilization >= 75,
        "utilization {} % right after a poll that filled the window",
        after.utilization
    );

    // Short polls after it: still counted exactly.
    assert!(monitored.as_mut().poll(&mut cx).is_pending());
    let after = metrics.snapshot(&clock);
    assert_eq!(after.poll_count, BEFORE + 2);
    assert_eq!(
        after.total_busy_duration,
        Duration::from_nanos(busy_before + stuck_len + 10)
    );
}

#[test]
fn total_busy_never_decreases_during_and_between_polls() {
    let clock = MockClock::new();
    let monitor = BusyMonitor::at(0, 10_000);
    let metrics = Arc::clone(monitor.metrics());
    let readings: Arc<Mutex<Vec<MonitorSnapshot>>> = Arc::default();
    let count = Arc::new(AtomicU64::new(0));
    let inner = {
        let clock = clock.clone();
        let metrics = Arc::clone(&metrics);
        let readings = Arc::clone(&readings);
        let count = Arc::clone(&count);
        std::future::poll_fn(move |_cx| {
            let index = count.fetch_add(1, Ordering::Relaxed);
            // Polls of 0..=4 steps of varied length, with a reading after each step.
            for step in 0..index % 5 {
                clock.advance_ticks(1 + (index * 7 + step * 13) % 3_000);
                readings.lock().unwrap().push(metrics.snapshot(&clock));
            }
            Poll::<()>::Pending
        })
    };
    let mut monitored = Box::pin(ServiceMonitor::with_monitor(inner, monitor, clock.clone()));
    let mut cx = Context::from_waker(Waker::noop());
    let mut expected_busy = 0;
    for index in 0..2_000_u64 {
        let start = clock.now();
        assert!(monitored.as_mut().poll(&mut cx).is_pending());
        expected_busy += clock.now() - start;
        readings.lock().unwrap().push(metrics.snapshot(&clock));
        clock.advance_ticks((index * 31) % 5_000);
        readings.lock().unwrap().push(metrics.snapshot(&clock));
    }
    let readings = readings.lock().unwrap();
    // Per 5 polls: 0 + 1 + 2 + 3 + 4 readings inside, 2 readings after each.
    assert_eq!(readings.len(), 2_000 / 5 * 10 + 2 * 2_000);
    let mut in_poll = 0;
    for pair in readings.windows(2) {
        assert!(
            pair[1].total_busy_duration >= pair[0].total_busy_duration,
            "busy went back from {:?} to {:?}",
            pair[0],
            pair[1]
        );
        assert!(pair[1].poll_count >= pair[0].poll_count);
        assert!(pair[1].age >= pair[0].age);
        in_poll += usize::from(pair[1].current_poll_duration.is_some());
    }
    assert!(in_poll > 1_000, "readings inside polls: {in_poll}");
    let last = readings.last().unwrap();
    assert_eq!(last.poll_count, 2_000);
    assert_eq!(
        last.total_busy_duration,
        Duration::from_nanos(expected_busy)
    );
}

#[test]
fn hot_loop_after_long_idle_is_seen_at_once() {
    let mut h = Harness::new(WINDOW);
    h.poll(1_000);
    h.idle(10 * WINDOW);
    // Back-to-back polls from now on: the window fills up with busy time.
    let hot_from = h.now();
    while h.now() < hot_from + 2 * WINDOW {
        h.poll(1_000);
        if (h.now() - hot_from).is_multiple_of(WINDOW / 10) {
            let exact = h.exact_percent(h.now());
            let context = format!("{} ticks into the hot loop", h.now() - hot_from);
            assert_within(h.utilization(), exact, 1.0, &context);
        }
    }
    assert_eq!(h.utilization(), 100);
}

#[test]
fn long_poll_after_long_idle_reads_its_overlap() {
    let mut h = Harness::new(WINDOW);
    h.idle(10 * WINDOW);
    h.poll(WINDOW * 6 / 10);
    assert_eq!(h.utilization(), 60);
    h.idle(WINDOW / 10);
    assert_eq!(h.utilization(), 60);
    h.poll(WINDOW / 10);
    assert_within(
        h.utilization(),
        h.exact_percent(h.now()),
        1.0,
        "second poll",
    );
}

#[test]
fn periodic_job_reads_its_share_of_the_window() {
    // A job busy for 0.4 windows every 2 windows: 40 % of the window right after each run.
    let mut h = Harness::new(WINDOW);
    for run in 0..6 {
        h.idle(WINDOW * 16 / 10);
        h.poll(WINDOW * 4 / 10);
        let context = format!("after run {run}");
        assert_within(h.utilization(), 40.0, 1.0, &context);
    }
}

const PROP_WINDOW: Ticks = 100_000;
/// The checkpoint interval `BusyMonitor` uses for `PROP_WINDOW`: a quarter window.
const PROP_QUARTER: Ticks = PROP_WINDOW / 4;

/// Checks the reading at `now` against the exact busy time in its window.
///
/// The estimate interpolates the cumulative busy curve linearly between the two known points
/// around the window start (checkpoints, or the last poll end). For a curve of slope 0..=1 the
/// error of that interpolation is at most a quarter of the segment's length `L`; and as no
/// poll edge lies more than a quarter window `I` after the segment's start (else a checkpoint
/// would be there), the segment is all idle or all busy past `I`, which bounds the error by
/// `I` too. So `|estimate - exact| <= 100 * min(I, L / 4) / span`, plus 1 for rounding.
fn check_estimate(h: &Harness, now: Ticks) -> Result<(), TestCaseError> {
    let sample = h.metrics.sample(now);
    let estimate = h.metrics.utilization_at(now);
    prop_assert!(estimate <= 100);
    let (window_start, _) = h.window_at(now);
    let span = now - window_start;
    if span == 0 {
        prop_assert_eq!(estimate, 0);
        return Ok(());
    }
    // Every point the estimate is built from lies on the exact busy curve.
    let on_curve = |time: Ticks| h.busy_in(h.created_at, time);
    prop_assert_eq!(sample.busy_ticks, h.total_busy());
    prop_assert_eq!(sample.last_poll_end, h.last_end());
    prop_assert_eq!(sample.checkpoint_busy, on_curve(sample.checkpoint_time));
    let error_ticks = if sample.checkpoint_time >= window_start {
        // Measured from a point at the window start (or from creation when young): exact.
        prop_assert!(
            sample.checkpoint_time == window_start || sample.checkpoint_time == h.created_at
        );
        0
    } else {
        let (segment_end, segment_end_busy) = match sample.next_checkpoint {
            Some(next) => next,
            None => (sample.last_poll_end, sample.busy_ticks),
        };
        prop_assert_eq!(segment_end_busy, on_curve(segment_end));
        if sample.next_checkpoint.is_some() {
            prop_assert!(
                segment_end > window_start,
                "next checkpoint not after the start"
            );
        }
        let quiet_from = sample.checkpoint_time + PROP_QUARTER;
        for &(start, end) in &h.polls {
            for edge in [start, end] {
                prop_assert!(
                    !(quiet_from..segment_end).contains(&edge),
                    "poll edge {} inside the quiet part [{}, {}) of a checkpoint span",
                    edge,
                    quiet_from,
                    segment_end
                );
            }
        }
        let length = segment_end.saturating_sub(sample.checkpoint_time);
        PROP_QUARTER.min(length / 4 + 1)
    };
    let exact = h.exact_percent(now);
    let bound = 100.0 * error_ticks as f64 / span as f64 + 1.0;
    let error = (f64::from(estimate) - exact).abs();
    prop_assert!(
        error <= bound,
        "at {}: estimate {} %, exact {:.3} %, bound {:.3}, sample {:?}, polls {:?}",
        now,
        estimate,
        exact,
        bound,
        sample,
        h.polls
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_poll_sequences_keep_the_invariants(
        pairs in prop::collection::vec((0..50_000_u64, 0..50_000_u64), 1..200),
    ) {
        let mut h = Harness::new(PROP_WINDOW);
        let mut previous_busy = Duration::ZERO;
        for (index, &(busy, idle)) in pairs.iter().enumerate() {
            h.poll(busy);
            let snapshot = h.snapshot();
            prop_assert_eq!(snapshot.poll_count, index as u64 + 1);
            prop_assert_eq!(snapshot.total_busy_duration, Duration::from_nanos(h.total_busy()));
            prop_assert!(snapshot.total_busy_duration >= previous_busy);
            prop_assert!(snapshot.utilization <= 100);
            previous_busy = snapshot.total_busy_duration;
            // Right after the poll, and in the middle of the idle gap after it.
            check_estimate(&h, h.now())?;
            h.idle(idle / 2);
            check_estimate(&h, h.now())?;
            h.idle(idle - idle / 2);
        }

        prop_assert_eq!(h.total_busy(), pairs.iter().map(|&(busy, _)| busy).sum::<u64>());
        let snapshot = h.snapshot();
        prop_assert_eq!(snapshot.poll_count, pairs.len() as u64);
        prop_assert_eq!(snapshot.total_busy_duration, Duration::from_nanos(h.total_busy()));
        prop_assert_eq!(snapshot.current_poll_duration, None);

        // One window after the last poll, with no poll since: exactly zero, and stays so.
        let last_end = h.last_end();
        prop_assert_eq!(h.metrics.utilization_at(last_end + PROP_WINDOW), 0);
        prop_assert_eq!(h.metrics.utilization_at(last_end + 3 * PROP_WINDOW), 0);
        // Idle decay after the last poll never rises.
        let mut previous = h.metrics.utilization_at(last_end);
        for step in 1..=20 {
            let reading = h.metrics.utilization_at(last_end + step * PROP_WINDOW / 20);
            prop_assert!(reading <= previous, "rose from {} to {} at {}", previous, reading, step);
            previous = reading;
        }
    }
}
