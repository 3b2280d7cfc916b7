//! Lifecycle, panic accounting, hook order, clock reads and concurrent reads of `ServiceMonitor`.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use vigil_monitor::{
    BusyMonitor, Clock, Lifecycle, MockClock, PollMonitor, PollOutcome, RawMetrics, ServiceMonitor,
    Ticks,
};

fn poll_once<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

/// A future that takes `busy` ticks of mock time per poll and is ready with `output` on poll
/// number `ready_on` (1-based).
fn ticking<T: Send>(
    clock: &MockClock,
    busy: Ticks,
    ready_on: u64,
    output: T,
) -> impl Future<Output = T> + Send {
    let clock = clock.clone();
    let mut polls = 0;
    let mut output = Some(output);
    std::future::poll_fn(move |_cx| {
        clock.advance_ticks(busy);
        polls += 1;
        if polls == ready_on {
            Poll::Ready(output.take().expect("polled after completion"))
        } else {
            Poll::Pending
        }
    })
}

#[test]
fn output_passes_through_and_lifecycle_completes() {
    let clock = MockClock::new();
    let monitor = BusyMonitor::at(0, 1_000);
    let metrics = Arc::clone(monitor.metrics());
    let output = vec![String::from("forty"), String::from("two")];
    let future = ticking(&clock, 5, 4, output.clone());
    let mut monitored = Box::pin(ServiceMonitor::with_monitor(future, monitor, clock.clone()));
    assert_eq!(monitored.clock().now(), 0);

    for polls in 1..=3 {
        assert!(poll_once(monitored.as_mut()).is_pending());
        clock.advance_ticks(10);
        let snapshot = metrics.snapshot(&clock);
        assert_eq!(snapshot.poll_count, polls);
        assert_eq!(snapshot.lifecycle, Lifecycle::Running);
        assert!(!metrics.is_finished());
    }
    assert_eq!(poll_once(monitored.as_mut()), Poll::Ready(output));
    let snapshot = metrics.snapshot(&clock);
    assert_eq!(snapshot.poll_count, 4, "the final poll counts");
    assert_eq!(snapshot.total_busy_duration, Duration::from_nanos(20));
    assert_eq!(snapshot.current_poll_duration, None);
    assert_eq!(snapshot.lifecycle, Lifecycle::Completed);
    assert_eq!(metrics.lifecycle(), Lifecycle::Completed);
    assert!(metrics.is_finished());
    assert!(snapshot.lifecycle.is_finished());
    assert_eq!(snapshot.lifecycle.to_string(), "completed");

    drop(monitored);
    assert_eq!(
        metrics.lifecycle(),
        Lifecycle::Completed,
        "drop after completion"
    );
    assert_eq!(metrics.snapshot(&clock).poll_count, 4);
}

#[test]
fn ready_on_first_poll_with_the_default_monitor() {
    let clock = MockClock::new();
    clock.set(1_000);
    let monitor = BusyMonitor::new(&clock);
    let future = ticking(&clock, 3, 1, 42_u8);
    let monitored = ServiceMonitor::with_monitor(future, monitor, clock.clone());
    let metrics = Arc::clone(monitored.metrics());
    assert_eq!(metrics.created_at(), 1_000);
    assert_eq!(
        metrics.window_ticks(),
        u64::try_from(vigil_monitor::DEFAULT_WINDOW.as_nanos()).unwrap()
    );
    assert_eq!(futures_util::FutureExt::now_or_never(monitored), Some(42));
    assert_eq!(clock.now(), 1_003);
    let snapshot = metrics.snapshot(&clock);
    assert_eq!(snapshot.poll_count, 1);
    assert_eq!(snapshot.total_busy_duration, Duration::from_nanos(3));
    assert_eq!(snapshot.age, Duration::from_nanos(3));
    assert_eq!(snapshot.lifecycle, Lifecycle::Completed);
}

/// The payload of the test future's panic.
#[derive(Debug, PartialEq)]
struct Boom(u32);

#[test]
fn panic_propagates_unchanged_and_is_accounted() {
    let clock = MockClock::new();
    let monitor = BusyMonitor::at(0, 1_000);
    let metrics = Arc::clone(monitor.metrics());
    let future = {
        let clock = clock.clone();
        let mut polls = 0;
        std::future::poll_fn(move |_cx| -> Poll<()> {
            polls += 1;
            if polls == 1 {
                clock.advance_ticks(3);
                return Poll::Pending;
            }
            clock.advance_ticks(7);
            std::panic::panic_any(Boom(7));
        })
    };
    let mut monitored = Box::pin(ServiceMonitor::with_monitor(future, monitor, clock.clone()));
    assert!(poll_once(monitored.as_mut()).is_pending());
    clock.advance_ticks(100);

    let result = catch_unwind(AssertUnwindSafe(|| poll_once(monitored.as_mut())));
    let payload = result.expect_err("the panic propagates");
    assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(7)));

    let snapshot = metrics.snapshot(&clock);
    assert_eq!(snapshot.poll_count, 2, "the panicking poll is counted");
    assert_eq!(snapshot.total_busy_duration, Duration::from_nanos(3 + 7));
    assert_eq!(snapshot.current_poll_duration, None);
    assert_eq!(snapshot.lifecycle, Lifecycle::Panicked);
    assert!(metrics.is_finished());

    // Time passing does not count as busy once the poll has unwound.
    clock.advance_ticks(1_000);
    let later = metrics.snapshot(&clock);
    assert_eq!(later.total_busy_duration, Duration::from_nanos(10));
    assert_eq!(later.current_poll_duration, None);

    drop(monitored);
    assert_eq!(
        metrics.lifecycle(),
        Lifecycle::Panicked,
        "dropping after a panic"
    );
}

#[test]
fn drop_before_completion_is_dropped() {
    // Never polled.
    let clock = MockClock::new();
    let monitor = BusyMonitor::at(0, 1_000);
    let metrics = Arc::clone(monitor.metrics());
    let monitored =
        ServiceMonitor::with_monitor(ticking(&clock, 1, 10, ()), monitor, clock.clone());
    assert!(!metrics.is_finished());
    drop(monitored);
    assert_eq!(metrics.lifecycle(), Lifecycle::Dropped);
    assert!(metrics.is_finished());
    assert_eq!(metrics.snapshot(&clock).poll_count, 0);

    // Polled a few times, then cancelled.
    let monitor = BusyMonitor::at(0, 1_000);
    let metrics = Arc::clone(monitor.metrics());
    let mut monitored = Box::pin(ServiceMonitor::with_monitor(
        ticking(&clock, 2, 10, ()),
        monitor,
        clock.clone(),
    ));
    for _ in 0..3 {
        assert!(poll_once(monitored.as_mut()).is_pending());
        assert_eq!(metrics.lifecycle(), Lifecycle::Running);
        assert!(!metrics.is_finished());
    }
    drop(monitored);
    let snapshot = metrics.snapshot(&clock);
    assert_eq!(snapshot.lifecycle, Lifecycle::Dropped);
    assert_eq!(snapshot.lifecycle.to_string(), "dropped");
    assert_eq!(snapshot.poll_count, 3);
    assert_eq!(snapshot.total_busy_duration, Duration::from_nanos(6));
    assert!(metrics.is_finished());
}

/// One hook call as a recorder saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hook {
    Start {
        start: Ticks,
    },
    End {
        start: Ticks,
        end: Ticks,
        outcome: PollOutcome,
    },
    Drop {
        completed: bool,
    },
}

/// Records every hook call, tagged with its own id, into a log shared with other recorders.
#[derive(Debug)]
struct Recorder {
    id: u8,
    log: Arc<Mutex<Vec<(u8, Hook)>>>,
}

impl PollMonitor for Recorder {
    fn on_poll_start(&mut self, start: Ticks) {
        self.log
            .lock()
            .unwrap()
            .push((self.id, Hook::Start { start }));
    }

    fn on_poll_end(&mut self, start: Ticks, end: Ticks, outcome: PollOutcome) {
        let hook = Hook::End {
            start,
            end,
            outcome,
        };
        self.log.lock().unwrap().push((self.id, hook));
    }

    fn on_drop(&mut self, completed: bool) {
        self.log
            .lock()
            .unwrap()
            .push((self.id, Hook::Drop { completed }));
    }
}

/// A mock clock that counts its reads.
#[derive(Debug, Clone, Default)]
struct CountingClock {
    inner: MockClock,
    reads: Arc<AtomicU64>,
}

impl CountingClock {
    fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
}

impl Clock for CountingClock {
    fn now(&self) -> Ticks {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.now()
    }

    fn ticks_to_nanos(&self, ticks: Ticks) -> u64 {
        ticks
    }

    fn nanos_to_ticks(&self, nanos: u64) -> Ticks {
        nanos
    }
}

/// How the recorded future ends: its fourth poll is ready or panics, or it is dropped after
/// three pending polls.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ending {
    Ready,
    Panic,
    Cancel,
}

/// Runs a `(BusyMonitor, Recorder, Recorder)` monitored future to `ending` and checks every
/// hook call against the clock readings.
fn run_recorded(ending: Ending) {
    let log: Arc<Mutex<Vec<(u8, Hook)>>> = Arc::default();
    let clock = CountingClock::default();
    let busy = BusyMonitor::at(0, 1_000);
    let metrics: Arc<RawMetrics> = Arc::clone(busy.metrics());
    let monitors = (
        busy,
        Recorder {
            id: 1,
            log: Arc::clone(&log),
        },
        Recorder {
            id: 2,
            log: Arc::clone(&log),
        },
    );
    // Poll `n` (1-based) takes `n` ticks; poll 4 ends the future as `ending` says.
    let future = {
        let mock = clock.inner.clone();
        let mut polls = 0;
        std::future::poll_fn(move |_cx| -> Poll<&'static str> {
            polls += 1;
            mock.advance_ticks(polls);
            match (polls, ending) {
                (4, Ending::Ready) => Poll::Ready("done"),
                (4, Ending::Panic) => std::panic::panic_any(Boom(4)),
                _ => Poll::Pending,
            }
        })
    };
    let mut monitored = Box::pin(ServiceMonitor::with_monitor(
        future,
        monitors,
        clock.clone(),
    ));
    assert_eq!(clock.reads(), 0, "building reads no clock");

    let polls = if ending == Ending::Cancel { 3 } else { 4 };
    let mut expected = Vec::new();
    for n in 1..=polls {
        let start = clock.inner.now();
        let reads_before = clock.reads();
        let result = catch_unwind(AssertUnwindSafe(|| poll_once(monitored.as_mut())));
        let outcome = match (n, ending) {
            (4, Ending::Ready) => {
                assert_eq!(result.expect("no panic"), Poll::Ready("done"));
                PollOutcome::Ready
            }
            (4, Ending::Panic) => {
                let payload = result.expect_err("panics");
                assert_eq!(payload.downcast_ref::<Boom>(), Some(&Boom(4)));
                PollOutcome::Panicked
            }
            _ => {
                assert!(result.expect("no panic").is_pending());
                PollOutcome::Pending
            }
        };
        assert_eq!(
            clock.reads() - reads_before,
            2,
            "two reads per poll, poll {n}"
        );
        let end = clock.inner.now();
        assert_eq!(end, start + n);
        expected.push(Hook::Start { start });
        expected.push(Hook::End {
            start,
            end,
            outcome,
        });
        clock.inner.advance_ticks(100);
    }
    assert!(monitored.monitor().1.id == 1 && monitored.monitor().2.id == 2);
    let reads_before_drop = clock.reads();
    drop(monitored);
    assert_eq!(clock.reads(), reads_before_drop, "dropping reads no clock");
    expected.push(Hook::Drop {
        completed: ending != Ending::Cancel,
    });

    // Every hook reached recorder 1 then recorder 2, with identical arguments, in order.
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 2 * expected.len(), "{log:?}");
    for (pair, want) in log.chunks(2).zip(&expected) {
        assert_eq!(pair, [(1, *want), (2, *want)], "{ending:?}");
    }
    let drops = log
        .iter()
        .filter(|(_, hook)| matches!(hook, Hook::Drop { .. }))
        .count();
    assert_eq!(drops, 2, "on_drop exactly once per recorder");

    // The BusyMonitor in the same tuple saw the same edges.
    let snapshot = metrics.snapshot_at(&clock.inner, clock.inner.now());
    assert_eq!(snapshot.poll_count, polls);
    assert_eq!(
        snapshot.total_busy_duration,
        Duration::from_nanos(polls * (polls + 1) / 2)
    );
    let lifecycle = match ending {
        Ending::Ready => Lifecycle::Completed,
        Ending::Panic => Lifecycle::Panicked,
        Ending::Cancel => Lifecycle::Dropped,
    };
    assert_eq!(snapshot.lifecycle, lifecycle);
}

#[test]
fn tuple_monitors_see_identical_hooks_in_order() {
    run_recorded(Ending::Ready);
}

#[test]
fn tuple_monitors_see_a_panicking_poll() {
    run_recorded(Ending::Panic);
}

#[test]
fn tuple_monitors_see_a_cancellation() {
    run_recorded(Ending::Cancel);
}

/// Polls a pending-forever future `polls` times, each poll taking one tick.
fn count_reads<M: PollMonitor>(monitor: M, polls: u64) -> u64 {
    let clock = CountingClock::default();
    let mock = clock.inner.clone();
    let future = std::future::poll_fn(move |_cx| {
        mock.advance_ticks(1);
        Poll::<()>::Pending
    });
    let mut monitored = Box::pin(ServiceMonitor::with_monitor(future, monitor, clock.clone()));
    for _ in 0..polls {
        assert!(poll_once(monitored.as_mut()).is_pending());
    }
    drop(monitored);
    clock.reads()
}

#[test]
fn clock_is_read_twice_per_poll_whatever_the_monitor() {
    let recorder = || Recorder {
        id: 0,
        log: Arc::default(),
    };
    let busy = || BusyMonitor::at(0, 1_000);
    assert_eq!(count_reads((), 10), 20);
    assert_eq!(count_reads(busy(), 10), 20);
    assert_eq!(count_reads((busy(),), 10), 20);
    assert_eq!(count_reads((busy(), recorder(), recorder()), 10), 20);
    assert_eq!(
        count_reads(
            (
                busy(),
                recorder(),
                recorder(),
                busy(),
                (),
                recorder(),
                busy(),
                (recorder(), recorder()),
            ),
            10,
        ),
        20
    );
}

#[test]
fn concurrent_readers_see_consistent_snapshots() {
    const POLLS: u64 = 200_000;
    const READERS: usize = 2;
    // Poll `n` (1-based) takes `busy_of(n)` ticks; the poller then idles `n % 5` ticks.
    fn busy_of(n: u64) -> Ticks {
        1 + n % 7
    }
    // prefix[n] = busy total of the first n polls.
    let mut prefix = vec![0; POLLS as usize + 1];
    for n in 1..=POLLS {
        prefix[n as usize] = prefix[n as usize - 1] + busy_of(n);
    }

    let clock = MockClock::new();
    let monitor = BusyMonitor::at(0, 10_000);
    let metrics = Arc::clone(monitor.metrics());
    let future = {
        let clock = clock.clone();
        let mut polls = 0;
        std::future::poll_fn(move |_cx| {
            polls += 1;
            // Release fence before every clock advance, paired with the readers' Acquire
            // fence after reading the clock: a reader that sees a time also sees every poll
            // edge published before it, so `now` is never behind the snapshot's data.
            fence(Ordering::Release);
            clock.advance_ticks(busy_of(polls));
            if polls == POLLS {
                Poll::Ready(polls)
            } else {
                Poll::Pending
            }
        })
    };
    let mut monitored = Box::pin(ServiceMonitor::with_monitor(future, monitor, clock.clone()));
    let done = AtomicBool::new(false);
    // The poller starts once every reader is running.
    let start = std::sync::Barrier::new(READERS + 1);

    let reads_per_reader: Vec<u64> = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                let (clock, metrics, prefix, done) = (&clock, &metrics, &prefix, &done);
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    let mut last_count = 0;
                    let mut last_busy = Duration::ZERO;
                    let mut reads = 0_u64;
                    loop {
                        // Acquire: see `done` after the poller's last stores.
                        let finished = done.load(Ordering::Acquire);
                        let now = clock.now();
                        fence(Ordering::Acquire);
                        let snapshot = metrics.snapshot_at(clock, now);
                        reads += 1;
                        let count = snapshot.poll_count;
                        assert!(count >= last_count, "poll count went back");
                        assert!(snapshot.total_busy_duration >= last_busy, "busy went back");
                        assert!(snapshot.utilization <= 100);
                        assert!(count <= POLLS);
                        // Not torn: the completed busy time is exactly that of `count` polls,
                        // and a poll in flight is poll `count + 1`, no longer than it takes.
                        let in_flight = snapshot.current_poll_duration.unwrap_or_default();
                        let completed = snapshot.total_busy_duration - in_flight;
                        assert_eq!(completed, Duration::from_nanos(prefix[count as usize]));
                        if snapshot.current_poll_duration.is_some() {
                            assert!(count < POLLS);
                            assert!(in_flight <= Duration::from_nanos(busy_of(count + 1)));
                            assert_eq!(snapshot.lifecycle, Lifecycle::Running);
                        }
                        if snapshot.lifecycle == Lifecycle::Completed {
                            assert_eq!(count, POLLS);
                        }
                        last_count = count;
                        last_busy = snapshot.total_busy_duration;
                        if finished {
                            assert_eq!(count, POLLS);
                            return reads;
                        }
                    }
                })
            })
            .collect();

        start.wait();
        for n in 1..=POLLS {
            match poll_once(monitored.as_mut()) {
                Poll::Ready(polls) => {
                    assert_eq!((n, polls), (POLLS, POLLS));
                }
                Poll::Pending => assert!(n < POLLS),
            }
            fence(Ordering::Release);
            clock.advance_ticks(n % 5);
        }
        // Release: publishes the final poll's stores with the flag.
        done.store(true, Ordering::Release);
        readers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert!(reads_per_reader.iter().all(|&reads| reads > 0));

    let snapshot = metrics.snapshot(&clock);
    assert_eq!(snapshot.poll_count, POLLS);
    assert_eq!(
        snapshot.total_busy_duration,
        Duration::from_nanos(prefix[POLLS as usize])
    );
    assert_eq!(snapshot.current_poll_duration, None);
    assert_eq!(snapshot.lifecycle, Lifecycle::Completed);
    let idle: u64 = (1..=POLLS).map(|n| n % 5).sum();
    assert_eq!(clock.now(), prefix[POLLS as usize] + idle);
    assert_eq!(snapshot.age, Duration::from_nanos(clock.now()));
}
