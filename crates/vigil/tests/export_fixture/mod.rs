//! Shared by the exporter tests: a registry on a mock clock whose every figure is known.
//!
//! [`Fixture::new`] plays this script on a [`MockClock`] (times in ms), with a 1 ms
//! slow-poll threshold, the poll-duration histogram and the scheduling monitor attached:
//!
//! - t = 0: `stuck#0` starts on its own runtime and enters a poll that lasts until the
//!   fixture is dropped; `idle#0` and `idle#1` start and are polled once (0 ms each), then
//!   wait forever; `worker#0` starts.
//! - `worker#0`: polled at 1..4 (3 ms); woken at 6 and polled at 7..8 (1 ms); woken at
//!   12 and polled at 12.5..16.5 (4 ms); never woken again.
//! - the snapshot is taken at t = 20.

// Each test file uses its own part of the fixture.
#![allow(dead_code)]

pub(crate) mod exposition;

use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};
use std::time::Duration;

use vigil::monitor::MockClock;
use vigil::registry::{MailboxProbe, MailboxSnapshot, PollHistograms, Scheduling, SlowPolls};
use vigil::{Registry, ServiceObj};

/// The monitors the fixture's registry attaches.
pub(crate) type Monitors = (SlowPolls, PollHistograms, Scheduling);

/// The slow-poll threshold of the fixture's registry.
pub(crate) const SLOW_POLL_THRESHOLD: Duration = Duration::from_millis(1);

/// Mock time when the snapshot is taken.
pub(crate) const SNAPSHOT_AT: Duration = Duration::from_millis(20);

/// Durations of the worker's three polls.
const WORKER_POLLS: [Duration; 3] = [
    Duration::from_millis(3),
    Duration::from_millis(1),
    Duration::from_millis(4),
];

/// A registry with known figures; see the module docs for the script.
pub(crate) struct Fixture {
    /// Current-thread runtime of `idle` and `worker`: it runs only inside `block_on`, so
    /// tasks run exactly when the script says.
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) clock: MockClock,
    pub(crate) registry: Arc<Registry<Monitors, MockClock>>,
    release_stuck: std::sync::mpsc::Sender<()>,
    /// Field order matters: dropped after `release_stuck` has been used in `Drop`.
    stuck_runtime: Option<tokio::runtime::Runtime>,
}

impl Fixture {
    pub(crate) fn new() -> Self {
        let clock = MockClock::new();
        let registry = Arc::new(
            Registry::builder()
                .clock(clock.clone())
                .monitor((
                    SlowPolls::with_threshold(SLOW_POLL_THRESHOLD),
                    PollHistograms,
                    Scheduling,
                ))
                .build(),
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime");
        let stuck_runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .expect("a multi-thread runtime");

        // `stuck#0`: blocks inside its first poll until released.
        let (entered_tx, entered_rx) = std::sync::mpsc::channel();
        let (release_stuck, release_rx) = std::sync::mpsc::channel::<()>();
        let _stuck = registry.start_in(
            stuck_runtime.handle(),
            ServiceObj::new("stuck", async move {
                entered_tx.send(()).expect("the fixture waits for this");
                let _ = release_rx.recv();
                std::future::pending::<()>().await;
            }),
        );
        entered_rx.recv().expect("stuck#0 enters its poll");

        // `idle#0`, `idle#1`: one empty poll each at t = 0.
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..2 {
            let ready_tx = ready_tx.clone();
            let _idle = registry.start_in(
                runtime.handle(),
                ServiceObj::new("idle", async move {
                    ready_tx.send(()).expect("the fixture waits for this");
                    std::future::pending::<()>().await;
                }),
            );
        }
        runtime.block_on(async {
            for _ in 0..2 {
                ready_rx.recv().await.expect("idle instances poll");
            }
        });

        // `worker#0`: each poll takes the next scripted duration and parks its waker.
        let parked: Arc<Mutex<Option<Waker>>> = Arc::default();
        let (polled_tx, mut polled_rx) = tokio::sync::mpsc::unbounded_channel();
        let worker_clock = clock.clone();
        let worker_parked = Arc::clone(&parked);
        let mut polls = 0;
        let _worker = registry.start_in(
            runtime.handle(),
            ServiceObj::new(
                "worker",
                std::future::poll_fn(move |cx| {
                    worker_clock.advance(WORKER_POLLS[polls]);
                    polls += 1;
                    *worker_parked.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some(cx.waker().clone());
                    polled_tx.send(()).expect("the fixture waits for this");
                    Poll::<()>::Pending
                }),
            ),
        );
        let mut poll_worker = || {
            runtime.block_on(async {
                polled_rx.recv().await.expect("the worker polls");
            });
        };
        let wake_worker = || {
            parked
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .expect("the worker parked its waker")
                .wake();
        };

        clock.advance(Duration::from_millis(1));
        poll_worker(); // 1..4
        clock.advance(Duration::from_millis(2));
        wake_worker(); // at 6
        clock.advance(Duration::from_millis(1));
        poll_worker(); // 7..8
        clock.advance(Duration::from_millis(4));
        wake_worker(); // at 12
        clock.advance(Duration::from_micros(500));
        poll_worker(); // 12.5..16.5
        clock.advance(Duration::from_micros(3_500));

        Self {
            runtime,
            clock,
            registry,
            release_stuck,
            stuck_runtime: Some(stuck_runtime),
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.release_stuck.send(());
        // Shutting down waits for the released poll to return.
        drop(self.stuck_runtime.take());
    }
}

/// The expected figures, in seconds where a time, per `(service, instance)`.
pub(crate) struct Expected {
    pub(crate) polls: u64,
    pub(crate) busy: Duration,
    pub(crate) utilization: u8,
    pub(crate) in_poll: Duration,
    pub(crate) slow_polls: u64,
    pub(crate) slow_poll_time: Duration,
    pub(crate) fast_polls: u64,
    pub(crate) fast_poll_time: Duration,
    pub(crate) scheduled_polls: u64,
    pub(crate) scheduling_delay: Duration,
    pub(crate) scheduling_delay_max: Duration,
    pub(crate) idle_periods: u64,
    pub(crate) idle_time: Duration,
    pub(crate) idle_max: Duration,
    pub(crate) first_poll_delay: Duration,
    /// Polls per histogram bucket index.
    pub(crate) buckets: &'static [(usize, u64)],
    pub(crate) poll_duration_max: Duration,
}

/// What every instance of the fixture reads at [`SNAPSHOT_AT`].
pub(crate) fn expected() -> [(&'static str, u64, Expected); 4] {
    let ms = Duration::from_millis;
    let idle = || Expected {
        polls: 1,
        busy: Duration::ZERO,
        utilization: 0,
        in_poll: Duration::ZERO,
        slow_polls: 0,
        slow_poll_time: Duration::ZERO,
        fast_polls: 1,
        fast_poll_time: Duration::ZERO,
        scheduled_polls: 0,
        scheduling_delay: Duration::ZERO,
        scheduling_delay_max: Duration::ZERO,
        idle_periods: 0,
        idle_time: Duration::ZERO,
        idle_max: Duration::ZERO,
        first_poll_delay: Duration::ZERO,
        buckets: &[(0, 1)],
        poll_duration_max: Duration::ZERO,
    };
    [
        ("idle", 0, idle()),
        ("idle", 1, idle()),
        (
            "stuck",
            0,
            Expected {
                polls: 0,
                busy: ms(20),
                utilization: 100,
                in_poll: ms(20),
                fast_polls: 0,
                buckets: &[],
                ..idle()
            },
        ),
        (
            "worker",
            0,
            Expected {
                polls: 3,
                busy: ms(8),
                utilization: 40,
                in_poll: Duration::ZERO,
                slow_polls: 2,
                slow_poll_time: ms(7),
                fast_polls: 1,
                fast_poll_time: ms(1),
                scheduled_polls: 2,
                scheduling_delay: Duration::from_micros(1_500),
                scheduling_delay_max: ms(1),
                idle_periods: 2,
                idle_time: ms(6),
                idle_max: ms(4),
                first_poll_delay: ms(1),
                // 1 ms in [2^19, 2^20) ns, 3 ms and 4 ms in [2^21, 2^22) ns.
                buckets: &[(12, 1), (14, 2)],
                poll_duration_max: ms(4),
            },
        ),
    ]
}

/// Checks the registry's own snapshot against [`expected`]: the fixture is what the exporter
/// tests assume.
pub(crate) fn assert_snapshot_reads_the_scripted_figures(fixture: &Fixture) {
    let snapshot = fixture.registry.metrics();
    assert_eq!(snapshot.taken_at(), SNAPSHOT_AT);
    assert_eq!(snapshot.len(), 4);
    for ((id, metrics), (name, instance, expected)) in snapshot.iter().zip(expected()) {
        assert_eq!((id.name(), id.instance_id()), (name, instance));
        assert_eq!(metrics.age, SNAPSHOT_AT, "{id}");
        assert_eq!(metrics.poll_count, expected.polls, "{id}");
        assert_eq!(metrics.total_busy_duration, expected.busy, "{id}");
        assert_eq!(metrics.utilization, expected.utilization, "{id}");
        assert_eq!(
            metrics.current_poll_duration.unwrap_or_default(),
            expected.in_poll,
            "{id}"
        );
        let slow = metrics.slow_polls.expect("slow polls attached");
        assert_eq!(slow.slow_poll_count, expected.slow_polls, "{id}");
        assert_eq!(
            slow.total_slow_poll_duration, expected.slow_poll_time,
            "{id}"
        );
        assert_eq!(slow.fast_poll_count, expected.fast_polls, "{id}");
        assert_eq!(
            slow.total_fast_poll_duration, expected.fast_poll_time,
            "{id}"
        );
        let scheduling = metrics.scheduling.expect("scheduling attached");
        assert_eq!(scheduling.scheduled_count, expected.scheduled_polls, "{id}");
        assert_eq!(
            scheduling.total_scheduling_delay, expected.scheduling_delay,
            "{id}"
        );
        assert_eq!(
            scheduling.max_scheduling_delay, expected.scheduling_delay_max,
            "{id}"
        );
        assert_eq!(scheduling.idle_count, expected.idle_periods, "{id}");
        assert_eq!(scheduling.total_idle_duration, expected.idle_time, "{id}");
        assert_eq!(scheduling.max_idle_duration, expected.idle_max, "{id}");
        assert_eq!(
            scheduling.first_poll_delay,
            Some(expected.first_poll_delay),
            "{id}"
        );
        let histogram = metrics.poll_histogram.expect("histogram attached");
        let mut buckets = [0_u64; vigil::monitor::HISTOGRAM_BUCKETS];
        for &(index, count) in expected.buckets {
            buckets[index] = count;
        }
        assert_eq!(histogram.buckets, buckets, "{id}");
        assert_eq!(histogram.max, expected.poll_duration_max, "{id}");
    }
}

/// The distinct names recorded for the service name `service` alone (no `instance_id`
/// label), in key order.
pub(crate) fn names_of_service<'a, V>(
    series: &'a std::collections::BTreeMap<SeriesKey, V>,
    service: &str,
) -> Vec<&'a str> {
    let mut names: Vec<&str> = series
        .keys()
        .filter(|(_, labels)| {
            labels.get("service").map(String::as_str) == Some(service)
                && !labels.contains_key("instance_id")
        })
        .map(|(name, _)| name.as_str())
        .collect();
    names.dedup();
    names
}

/// What every name of the fixture reads at [`SNAPSHOT_AT`], per name: `(name, live
/// instances, polls, busy, instances in poll, max utilization %, mean utilization %,
/// longest poll in flight, slow-poll share, poll-duration max, and the lifetime figures of
/// the attached monitors)`.
pub(crate) fn expected_groups() -> [ExpectedGroup; 3] {
    let ms = Duration::from_millis;
    [
        ExpectedGroup {
            name: "idle",
            instances: 2,
            polls: 2,
            busy: Duration::ZERO,
            in_poll: 0,
            max_utilization: 0,
            mean_utilization: 0.0,
            longest_in_poll: Duration::ZERO,
            slow_poll_share: 0.0,
            poll_duration_max: Duration::ZERO,
            scheduled_polls: 0,
            scheduling_delay: Duration::ZERO,
            scheduling_delay_max: Duration::ZERO,
            first_polls: 2,
            first_poll_delay: Duration::ZERO,
            idle_periods: 0,
            idle_time: Duration::ZERO,
            buckets: &[(0, 2)],
            completed_busy: Duration::ZERO,
            slow_polls: 0,
            fast_polls: 2,
        },
        ExpectedGroup {
            name: "stuck",
            instances: 1,
            polls: 0,
            busy: ms(20),
            in_poll: 1,
            max_utilization: 100,
            mean_utilization: 100.0,
            longest_in_poll: ms(20),
            slow_poll_share: 0.0,
            poll_duration_max: Duration::ZERO,
            scheduled_polls: 0,
            scheduling_delay: Duration::ZERO,
            scheduling_delay_max: Duration::ZERO,
            // Its first poll began at once, and has not ended.
            first_polls: 1,
            first_poll_delay: Duration::ZERO,
            idle_periods: 0,
            idle_time: Duration::ZERO,
            buckets: &[],
            // Its one poll is in progress: not in the histogram, nor in its sum.
            completed_busy: Duration::ZERO,
            slow_polls: 0,
            fast_polls: 0,
        },
        ExpectedGroup {
            name: "worker",
            instances: 1,
            polls: 3,
            busy: ms(8),
            in_poll: 0,
            max_utilization: 40,
            mean_utilization: 40.0,
            longest_in_poll: Duration::ZERO,
            slow_poll_share: 2.0 / 3.0,
            poll_duration_max: ms(4),
            scheduled_polls: 2,
            scheduling_delay: Duration::from_micros(1_500),
            scheduling_delay_max: ms(1),
            first_polls: 1,
            first_poll_delay: ms(1),
            idle_periods: 2,
            idle_time: ms(6),
            buckets: &[(12, 1), (14, 2)],
            completed_busy: ms(8),
            slow_polls: 2,
            fast_polls: 1,
        },
    ]
}

/// The per-name figures of one name of the fixture; see [`expected_groups`].
pub(crate) struct ExpectedGroup {
    pub(crate) name: &'static str,
    pub(crate) instances: u64,
    pub(crate) polls: u64,
    pub(crate) busy: Duration,
    pub(crate) in_poll: u64,
    pub(crate) max_utilization: u8,
    pub(crate) mean_utilization: f64,
    pub(crate) longest_in_poll: Duration,
    pub(crate) slow_poll_share: f64,
    pub(crate) poll_duration_max: Duration,
    /// Lifetime scheduling totals of the name.
    pub(crate) scheduled_polls: u64,
    pub(crate) scheduling_delay: Duration,
    pub(crate) scheduling_delay_max: Duration,
    pub(crate) first_polls: u64,
    pub(crate) first_poll_delay: Duration,
    pub(crate) idle_periods: u64,
    pub(crate) idle_time: Duration,
    /// The name's lifetime histogram: polls per bucket index.
    pub(crate) buckets: &'static [(usize, u64)],
    /// Busy time of the completed polls: the histogram's sum.
    pub(crate) completed_busy: Duration,
    /// Lifetime slow and fast polls.
    pub(crate) slow_polls: u64,
    pub(crate) fast_polls: u64,
}

impl ExpectedGroup {
    /// `(upper bound, cumulative count)` of every bucket of the name's lifetime histogram,
    /// the overflow bucket's bound `Duration::MAX`.
    pub(crate) fn cumulative_buckets(&self) -> Vec<(Duration, u64)> {
        let mut per_bucket = [0_u64; vigil::monitor::HISTOGRAM_BUCKETS];
        for &(index, count) in self.buckets {
            per_bucket[index] = count;
        }
        let mut cumulative = 0;
        vigil::monitor::PollHistogram::bucket_bounds()
            .iter()
            .zip(per_bucket)
            .map(|((_, upper), count)| {
                cumulative += count;
                (*upper, cumulative)
            })
            .collect()
    }
}

/// A recorded series or sample: its name and its labels.
pub(crate) type SeriesKey = (String, std::collections::BTreeMap<String, String>);

/// The distinct names recorded for the instance `service#instance` (label `instance_id`),
/// in key order.
pub(crate) fn names_of<'a, V>(
    series: &'a std::collections::BTreeMap<SeriesKey, V>,
    service: &str,
    instance: &str,
) -> Vec<&'a str> {
    let mut names: Vec<&str> = series
        .keys()
        .filter(|(_, labels)| {
            labels.get("service").map(String::as_str) == Some(service)
                && labels.get("instance_id").map(String::as_str) == Some(instance)
        })
        .map(|(name, _)| name.as_str())
        .collect();
    names.dedup();
    names
}

/// A mailbox whose figures a test sets.
pub(crate) struct FixedMailbox(pub(crate) MailboxSnapshot);

impl MailboxProbe for FixedMailbox {
    fn read(&self) -> MailboxSnapshot {
        self.0
    }
}

/// A registry on a mock clock watching a 2-worker runtime as `main` and, as `consumer`'s
/// mailbox, one that reads `mailbox`; the probe is returned for the caller to keep alive
/// (the registry holds it weakly).
pub(crate) fn watching(
    mailbox: MailboxSnapshot,
) -> (
    tokio::runtime::Runtime,
    Registry<(), MockClock>,
    Arc<dyn MailboxProbe>,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let registry = Registry::builder().clock(MockClock::new()).build();
    registry.watch_runtime("main", runtime.handle());
    let probe: Arc<dyn MailboxProbe> = Arc::new(FixedMailbox(mailbox));
    registry.watch_mailbox("consumer", &probe);
    (runtime, registry, probe)
}
