//! A stack of every built-in monitor, plus a recording one, sees identical timestamps: each
//! monitor's figures match a reference model computed from the times the test set.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{monitored, poll_with, CountingWaker, PollPlan};
use proptest::prelude::*;
use vigil_monitor::{
    BusyMonitor, Clock, MockClock, PollHistogram, PollHistogramMonitor, PollMonitor, PollOutcome,
    SchedulingMonitor, SlowPollMonitor, Ticks,
};

/// Records every poll edge it is given.
#[derive(Debug, Default, Clone)]
struct Recorder {
    edges: Arc<Mutex<Vec<(Ticks, Ticks)>>>,
    starts: Arc<Mutex<Vec<Ticks>>>,
}

impl PollMonitor for Recorder {
    fn on_poll_start(&mut self, start: Ticks) {
        self.starts.lock().unwrap().push(start);
    }

    fn on_poll_end(&mut self, start: Ticks, end: Ticks, _outcome: PollOutcome) {
        self.edges.lock().unwrap().push((start, end));
    }
}

/// One step of a run: optional wakes, then a poll.
#[derive(Debug, Clone)]
struct Step {
    /// Ticks after the previous poll's end at which the inner future's waker is woken.
    wakes_after_end: Vec<Ticks>,
    /// Ticks from the last wake (or the previous poll's end) to the poll.
    poll_after: Ticks,
    busy: Ticks,
    /// Wake itself this far into the poll.
    self_wake_at: Option<Ticks>,
}

fn step() -> impl Strategy<Value = Step> {
    (
        proptest::collection::vec(0_u64..5_000, 0..3),
        0_u64..100_000,
        0_u64..200_000,
        proptest::option::of(0_u64..=100),
    )
        .prop_map(|(mut wakes, poll_after, busy, self_wake)| {
            // Wake times are offsets from the previous poll's end, in order.
            wakes.sort_unstable();
            Step {
                wakes_after_end: wakes,
                poll_after,
                busy,
                self_wake_at: self_wake.map(|percent| busy * percent / 100),
            }
        })
}

/// The reference figures, from the times the test itself set.
#[derive(Debug, Default, PartialEq)]
struct Model {
    polls: Vec<(Ticks, Ticks)>,
    first_poll_delay: Option<Ticks>,
    scheduled: (u64, Ticks, Ticks),
    idle: (u64, Ticks, Ticks),
}

fn run_all_monitors(created_at: Ticks, steps: &[Step], threshold: Ticks) {
    let clock = MockClock::new();
    clock.set(created_at);
    let recorder = Recorder::default();
    let stack = (
        BusyMonitor::new(&clock),
        SlowPollMonitor::with_threshold(&clock, Duration::from_nanos(threshold)),
        PollHistogramMonitor::new(&clock),
        SchedulingMonitor::new(&clock),
        recorder.clone(),
    );
    const {
        assert!(!<(BusyMonitor, SlowPollMonitor, PollHistogramMonitor) as PollMonitor>::WRAPS_WAKER)
    };
    let busy = Arc::clone(stack.0.metrics());
    let slow = Arc::clone(stack.1.metrics());
    let histogram = Arc::clone(stack.2.metrics());
    let scheduling = Arc::clone(stack.3.metrics());
    let (mut monitored, script) = monitored(&clock, stack);
    let (executor, executor_waker) = CountingWaker::new();

    let mut model = Model::default();
    let mut last_end: Option<Ticks> = None;
    let mut pending_wake: Option<Ticks> = None;
    let mut wakes = 0;
    for step in steps {
        let base = clock.now();
        if last_end.is_some() {
            for &offset in &step.wakes_after_end {
                clock.set(base + offset);
                script.wake();
                wakes += 1;
                pending_wake.get_or_insert(clock.now());
            }
        }
        clock.advance_ticks(step.poll_after);
        let start = clock.now();
        match (last_end, pending_wake.take()) {
            (None, _) => model.first_poll_delay = Some(start - created_at),
            (Some(end), Some(woken)) => {
                let delay = start - woken.max(end);
                model.scheduled.0 += 1;
                model.scheduled.1 += delay;
                model.scheduled.2 = model.scheduled.2.max(delay);
                if woken > end {
                    model.idle.0 += 1;
                    model.idle.1 += woken - end;
                    model.idle.2 = model.idle.2.max(woken - end);
                }
            }
            (Some(_), None) => {}
        }
        poll_with(
            &mut monitored,
            &script,
            &executor_waker,
            PollPlan {
                busy: step.busy,
                self_wake_at: step.self_wake_at,
                panic: false,
            },
        );
        if let Some(at) = step.self_wake_at {
            wakes += 1;
            pending_wake.get_or_insert(start + at);
        }
        let end = start + step.busy;
        assert_eq!(clock.now(), end);
        model.polls.push((start, end));
        last_end = Some(end);
    }

    // Every monitor was handed the same edges, the ones the test set.
    assert_eq!(*recorder.edges.lock().unwrap(), model.polls);
    let starts: Vec<Ticks> = model.polls.iter().map(|&(start, _)| start).collect();
    assert_eq!(*recorder.starts.lock().unwrap(), starts);
    assert_eq!(executor.wakes(), wakes, "every wake reached the executor");

    let durations: Vec<Ticks> = model.polls.iter().map(|&(s, e)| e - s).collect();
    let total: Ticks = durations.iter().sum();

    let busy = busy.snapshot(&clock);
    assert_eq!(busy.poll_count, durations.len() as u64);
    assert_eq!(busy.total_busy_duration, Duration::from_nanos(total));

    let slow = slow.snapshot(&clock);
    let slow_durations: Vec<Ticks> = durations
        .iter()
        .copied()
        .filter(|&d| d > threshold)
        .collect();
    assert_eq!(slow.slow_poll_count, slow_durations.len() as u64);
    assert_eq!(
        slow.total_slow_poll_duration,
        Duration::from_nanos(slow_durations.iter().sum())
    );
    assert_eq!(
        slow.fast_poll_count,
        (durations.len() - slow_durations.len()) as u64
    );
    assert_eq!(
        slow.total_slow_poll_duration + slow.total_fast_poll_duration,
        busy.total_busy_duration
    );

    let histogram = histogram.snapshot();
    let mut expected = PollHistogram::default();
    let bounds = PollHistogram::bucket_bounds();
    for &d in &durations {
        let d = Duration::from_nanos(d);
        let bucket = bounds
            .iter()
            .position(|&(lower, upper)| lower <= d && d < upper)
            .unwrap();
        expected.buckets[bucket] += 1;
    }
    expected.max = Duration::from_nanos(durations.iter().copied().max().unwrap_or(0));
    assert_eq!(histogram, expected);

    let scheduling = scheduling.snapshot(&clock);
    assert_eq!(
        scheduling.first_poll_delay,
        model.first_poll_delay.map(Duration::from_nanos)
    );
    assert_eq!(
        (
            scheduling.scheduled_count,
            scheduling.total_scheduling_delay,
            scheduling.max_scheduling_delay
        ),
        (
            model.scheduled.0,
            Duration::from_nanos(model.scheduled.1),
            Duration::from_nanos(model.scheduled.2)
        )
    );
    assert_eq!(
        (
            scheduling.idle_count,
            scheduling.total_idle_duration,
            scheduling.max_idle_duration
        ),
        (
            model.idle.0,
            Duration::from_nanos(model.idle.1),
            Duration::from_nanos(model.idle.2)
        )
    );
}

#[test]
fn all_monitors_see_identical_timestamps() {
    let steps = [
        Step {
            wakes_after_end: vec![],
            poll_after: 5,
            busy: 2,
            self_wake_at: None,
        },
        Step {
            wakes_after_end: vec![13],
            poll_after: 6,
            busy: 60_000,
            self_wake_at: None,
        },
        Step {
            wakes_after_end: vec![2, 5],
            poll_after: 7,
            busy: 300,
            self_wake_at: Some(100),
        },
        Step {
            wakes_after_end: vec![],
            poll_after: 8,
            busy: 2_000_000_000,
            self_wake_at: None,
        },
    ];
    run_all_monitors(1_000, &steps, 50_000);
}

proptest! {
    #[test]
    fn all_monitors_match_the_reference_model(
        created_at in 0_u64..1_000_000,
        steps in proptest::collection::vec(step(), 0..40),
        threshold in 0_u64..150_000,
    ) {
        run_all_monitors(created_at, &steps, threshold);
    }
}
