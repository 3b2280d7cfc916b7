//! Per-name lifetime counters: monotonic across snapshots and equal to a model's sums over every instance ever started.

mod common;

use std::collections::BTreeMap;
use std::future::Future;
use std::panic;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use proptest::prelude::*;
use tokio::runtime::{Builder, Runtime};
use tokio::sync::mpsc;
use vigil_registry::{
    Endings, PollHistograms, Registry, Scheduling, ServiceGroupMetrics, ServiceId, SlowPolls,
    TaskId,
};
use vigil_status::ServiceJoinHandle;

use common::{quiet_model_panics, ModelPanic};

const NAMES: [&str; 3] = ["alpha", "beta", "gamma"];

#[derive(Debug, Clone, Copy)]
enum Ending {
    Complete,
    Fail,
    Panic,
    Abort,
}

#[derive(Debug, Clone)]
enum Op {
    Start {
        name: usize,
    },
    /// Wake instance `n` (by position among the live ones): one more poll.
    Poll(usize),
    End(usize, Ending),
    Restart {
        name: usize,
    },
    Snapshot,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..NAMES.len()).prop_map(|name| Op::Start { name }),
        4 => any::<usize>().prop_map(Op::Poll),
        3 => (any::<usize>(), prop_oneof![
            Just(Ending::Complete), Just(Ending::Fail), Just(Ending::Panic), Just(Ending::Abort)
        ]).prop_map(|(n, ending)| Op::End(n, ending)),
        1 => (0..NAMES.len()).prop_map(|name| Op::Restart { name }),
        2 => Just(Op::Snapshot),
    ]
}

/// What a service does when told.
#[derive(Debug)]
enum Command {
    Wake,
    Complete,
    Fail,
    Panic,
}

pin_project_lite::pin_project! {
    /// Counts the polls of the future inside: the model's own count, independent of the
    /// registry's monitor.
    struct CountPolls<F> {
        #[pin]
        inner: F,
        polls: Arc<AtomicU64>,
    }
}

impl<F: Future> Future for CountPolls<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        // Relaxed: read by the test thread only after the runtime has gone quiet.
        this.polls.fetch_add(1, Ordering::Relaxed);
        this.inner.poll(cx)
    }
}

struct Live {
    id: ServiceId,
    commands: mpsc::UnboundedSender<Command>,
    handle: ServiceJoinHandle,
}

/// The model of one name: what the registry must report.
#[derive(Debug, Default, Clone, Copy)]
struct NameModel {
    starts: u64,
    restarts: u64,
    endings: Endings,
}

/// Every monitor that reports per-name totals is attached, so that their folding at
/// endings is checked against the model too.
type Monitors = (Scheduling, PollHistograms, SlowPolls);

struct Harness {
    runtime: Runtime,
    registry: Arc<Registry<Monitors>>,
    live: Vec<Live>,
    /// Poll counters of every instance ever started, by name.
    polls: BTreeMap<&'static str, Vec<Arc<AtomicU64>>>,
    model: BTreeMap<&'static str, NameModel>,
}

impl Harness {
    fn new() -> Self {
        Self {
            runtime: Builder::new_current_thread().build().unwrap(),
            registry: Arc::new(
                Registry::builder()
                    .monitor((Scheduling, PollHistograms, SlowPolls::default()))
                    .build(),
            ),
            live: Vec::new(),
            polls: BTreeMap::new(),
            model: BTreeMap::new(),
        }
    }

    /// Lets every woken task run until all wait again.
    fn settle(&self) {
        self.runtime.block_on(async {
            for _ in 0..8 {
                tokio::task::yield_now().await;
            }
        });
    }

    fn start(&mut self, name: &'static str) {
        let (commands, mut inbox) = mpsc::unbounded_channel();
        let polls = Arc::new(AtomicU64::new(0));
        let registry = Arc::clone(&self.registry);
        let (id, handle) = self
            .registry
            .try_start_with(self.runtime.handle(), TaskId::new(name), |id| CountPolls {
                polls: Arc::clone(&polls),
                inner: async move {
                    while let Some(command) = inbox.recv().await {
                        match command {
                            Command::Wake => {}
                            Command::Complete => return,
                            Command::Fail => {
                                assert!(registry.record_failure(id));
                                return;
                            }
                            Command::Panic => panic::panic_any(ModelPanic),
                        }
                    }
                },
            })
            .unwrap();
        self.polls.entry(name).or_default().push(polls);
        self.model.entry(name).or_default().starts += 1;
        self.live.push(Live {
            id,
            commands,
            handle,
        });
    }

    fn end(&mut self, index: usize, ending: Ending) {
        let live = self.live.remove(index);
        let endings = &mut self.model.get_mut(live.id.name()).unwrap().endings;
        match ending {
            Ending::Complete => {
                live.commands.send(Command::Complete).unwrap();
                endings.completed += 1;
            }
            Ending::Fail => {
                live.commands.send(Command::Fail).unwrap();
                endings.failed += 1;
            }
            Ending::Panic => {
                live.commands.send(Command::Panic).unwrap();
                endings.panicked += 1;
            }
            Ending::Abort => {
                live.handle.abort();
                endings.cancelled += 1;
            }
        }
        let outcome = self.runtime.block_on(live.handle);
        match ending {
            Ending::Complete | Ending::Fail => assert!(outcome.is_ok()),
            Ending::Panic => assert!(outcome.unwrap_err().is_panic()),
            Ending::Abort => assert!(outcome.unwrap_err().is_cancelled()),
        }
    }

    /// Checks a snapshot against the model, and against the previous snapshot's groups.
    fn check(
        &self,
        previous: &BTreeMap<&'static str, ServiceGroupMetrics>,
    ) -> BTreeMap<&'static str, ServiceGroupMetrics> {
        let snapshot = self.registry.metrics();
        let groups: BTreeMap<_, _> = snapshot.groups().map(|group| (group.name, group)).collect();
        let names: Vec<_> = groups.keys().copied().collect();
        let model_names: Vec<_> = self.model.keys().copied().collect();
        assert_eq!(names, model_names, "every name ever started stays");
        for (name, model) in &self.model {
            let group = groups[name];
            assert_eq!(group.starts, model.starts, "{name} starts");
            assert_eq!(group.restarts, model.restarts, "{name} restarts");
            assert_eq!(group.endings, model.endings, "{name} endings");
            let live = self
                .live
                .iter()
                .filter(|live| live.id.name() == *name)
                .count();
            assert_eq!(group.instances, live, "{name} live");
            assert_eq!(model.starts, live as u64 + model.endings.total());
            let polls: u64 = self
                .polls
                .get(name)
                .into_iter()
                .flatten()
                .map(|polls| polls.load(Ordering::Relaxed))
                .sum();
            assert_eq!(
                group.poll_count, polls,
                "{name} polls of every instance ever"
            );
            // Every poll but an instance's first follows a wake (a command), so the
            // scheduled polls are the polls of every instance ever, less one per instance
            // polled at least once.
            let polled: u64 = self
                .polls
                .get(name)
                .into_iter()
                .flatten()
                .map(|polls| u64::from(polls.load(Ordering::Relaxed) > 0))
                .sum();
            if model.starts == 0 {
                // Only restarts counted: no instance has reported anything.
                assert_eq!(group.scheduling, None);
                continue;
            }
            let scheduling = group.scheduling.expect("Scheduling is attached");
            assert_eq!(scheduling.first_polls, polled, "{name} first polls");
            assert_eq!(
                scheduling.scheduled_count,
                polls - polled,
                "{name} scheduled polls of every instance ever"
            );
            let histogram = group
                .lifetime_poll_histogram
                .expect("PollHistograms is attached");
            assert_eq!(
                histogram.count(),
                polls,
                "{name} histogram of every poll ever"
            );
            let slow = group.lifetime_slow_polls.expect("SlowPolls is attached");
            assert_eq!(slow.slow_poll_count + slow.fast_poll_count, polls);
            if let Some(before) = previous.get(name) {
                assert!(group.starts >= before.starts);
                assert!(group.restarts >= before.restarts);
                assert!(group.poll_count >= before.poll_count);
                assert!(group.total_busy_duration >= before.total_busy_duration);
                let zero = Default::default();
                let (now, then) = (
                    group.scheduling.unwrap_or(zero),
                    before.scheduling.unwrap_or(zero),
                );
                assert!(now.scheduled_count >= then.scheduled_count);
                assert!(now.total_scheduling_delay >= then.total_scheduling_delay);
                assert!(now.max_scheduling_delay >= then.max_scheduling_delay);
                assert!(now.total_first_poll_delay >= then.total_first_poll_delay);
                assert!(now.idle_count >= then.idle_count);
                assert!(now.total_idle_duration >= then.total_idle_duration);
                let (now, then) = (
                    group.lifetime_poll_histogram.unwrap_or_default(),
                    before.lifetime_poll_histogram.unwrap_or_default(),
                );
                assert!(now
                    .buckets
                    .iter()
                    .zip(then.buckets)
                    .all(|(now, then)| *now >= then));
                for ((_, now), (_, then)) in group
                    .endings
                    .by_outcome()
                    .into_iter()
                    .zip(before.endings.by_outcome())
                {
                    assert!(now >= then);
                }
            }
        }
        groups
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random starts, polls, endings of every outcome, restarts and snapshots: every
    /// per-name counter equals the model's sum over every instance ever started, and never
    /// decreases from one snapshot to the next.
    #[test]
    fn per_name_counters_are_monotonic_and_match_the_model(ops in proptest::collection::vec(op(), 1..120)) {
        quiet_model_panics();
        let mut harness = Harness::new();
        let mut previous = BTreeMap::new();
        for op in ops {
            match op {
                Op::Start { name } => harness.start(NAMES[name]),
                Op::Poll(n) if !harness.live.is_empty() => {
                    let index = n % harness.live.len();
                    harness.live[index].commands.send(Command::Wake).unwrap();
                }
                Op::End(n, ending) if !harness.live.is_empty() => {
                    let index = n % harness.live.len();
                    harness.end(index, ending);
                }
                Op::Restart { name } => {
                    harness.registry.record_restart(NAMES[name]);
                    harness.model.entry(NAMES[name]).or_default().restarts += 1;
                }
                Op::Snapshot => {
                    harness.settle();
                    previous = harness.check(&previous);
                }
                Op::Poll(_) | Op::End(..) => {}
            }
        }
        harness.settle();
        harness.check(&previous);
    }
}

/// Instances that start and end between two snapshots, never seen live by either, still
/// count: the per-name delta has their starts, endings and every poll they made.
#[test]
fn group_delta_counts_instances_that_lived_between_two_snapshots() {
    let mut harness = Harness::new();
    harness.start("churn");
    harness.settle();
    let before = harness.registry.metrics();
    for _ in 0..100 {
        harness.start("churn");
        harness.settle();
        let last = harness.live.len() - 1;
        for _ in 0..3 {
            harness.live[last].commands.send(Command::Wake).unwrap();
            harness.settle();
        }
        harness.end(last, Ending::Complete);
    }
    let after = harness.registry.metrics();
    let delta = after.delta_since(&before);
    let group = delta.group("churn").unwrap();
    assert!(!group.started_within);
    assert_eq!(group.starts, 100);
    assert_eq!(group.endings.completed, 100);
    // Each instance: the first poll, three wakes, and the poll that completed it.
    assert_eq!(group.poll_count, 100 * 5);
    assert_eq!(group.current.instances, 1);
    assert_eq!(delta.ended(), &[] as &[ServiceId]);
    // 101 instances of one name: ended ones were evicted (folded) along the way, and the
    // attached monitors' totals still match the model.
    harness.check(&BTreeMap::new());
}

/// `record_failure` only marks instances that are stored; an unknown id is refused.
#[test]
fn record_failure_refuses_unknown_instances() {
    let harness = Harness::new();
    let unknown = ServiceId::new(TaskId::new("ghost"), 0);
    assert!(!harness.registry.record_failure(unknown));
}
