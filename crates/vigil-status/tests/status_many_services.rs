//! Ten thousand services at once, ending every way while watched from other tasks and threads.
//!
//! Each service returns, panics or is aborted (some aborts race with the ending), with
//! status clones awaited on other tasks, on other threads' runtimes, and dropped while
//! pending, and its owned handle awaited, detached or kept. Every handle must agree with how
//! the service really ended (the service records that itself), every payload must reach its
//! owned handle or be dropped once, nothing may hang, and no handle may keep a waker.

mod support;

use std::future::Future;
use std::pin::Pin;
// Test bookkeeping: every atomic here is SeqCst, the simplest ordering to reason about; no
// hot path depends on it.
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use tokio::runtime::{Builder, Runtime};
use tokio::sync::mpsc;
use tokio::task::{yield_now, JoinSet};
use vigil_status::{ServiceError, ServiceStatusJoinHandle};

use crate::support::{for_both_starts, poll_once, Boom, Kind, Rng, Start};

const SERVICES: usize = 10_000;

/// Threads that await one status clone of every service, each on a runtime of its own.
const WATCHER_THREADS: usize = 2;

/// A hang detector only: a run takes well under a second of it.
const HANG: Duration = Duration::from_secs(60);

// How a service really ended, as it records it itself. An aborted service never reaches its
// end, so it stays `RUNNING`.
const RUNNING: u8 = 0;
const RETURNED: u8 = 1;
const PANICKED: u8 = 2;

/// What every handle must report for a service that recorded `ending`.
fn kind_of_ending(ending: u8) -> Kind {
    match ending {
        RETURNED => Kind::Ok,
        PANICKED => Kind::Panicked,
        _ => Kind::Cancelled,
    }
}

#[derive(Clone, Copy, Debug)]
enum Plan {
    Returns {
        yields: u64,
    },
    Panics {
        yields: u64,
    },
    /// Never ends on its own: it is aborted.
    Forever,
}

/// A waker that wraps the task's waker and counts itself while alive.
struct CountedWaker {
    inner: Waker,
    live: Arc<AtomicUsize>,
}

impl CountedWaker {
    fn waker(inner: &Waker, live: &Arc<AtomicUsize>) -> Waker {
        live.fetch_add(1, Ordering::SeqCst);
        Waker::from(Arc::new(Self {
            inner: inner.clone(),
            live: Arc::clone(live),
        }))
    }
}

impl Wake for CountedWaker {
    fn wake(self: Arc<Self>) {
        self.inner.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.inner.wake_by_ref();
    }
}

impl Drop for CountedWaker {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Polls a handle with a new [`CountedWaker`] every time, so the handle must replace the
/// previous one, and any waker a handle keeps stays counted.
struct Counted<F> {
    future: F,
    live: Arc<AtomicUsize>,
}

impl<F: Future + Unpin> Future for Counted<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let waker = CountedWaker::waker(cx.waker(), &self.live);
        Pin::new(&mut self.future).poll(&mut Context::from_waker(&waker))
    }
}

/// What the test shares with its services and checks at the end.
struct Ledger {
    endings: Vec<AtomicU8>,
    payload_drops: Arc<AtomicUsize>,
    live_wakers: Arc<AtomicUsize>,
}

impl Ledger {
    fn counted<F>(&self, future: F) -> Counted<F> {
        Counted {
            future,
            live: Arc::clone(&self.live_wakers),
        }
    }

    fn real_ending(&self, service: usize) -> Kind {
        kind_of_ending(self.endings[service].load(Ordering::SeqCst))
    }
}

async fn yield_times(n: u64) {
    for _ in 0..n {
        yield_now().await;
    }
}

async fn service(index: usize, plan: Plan, ledger: Arc<Ledger>) {
    let (yields, panics) = match plan {
        Plan::Forever => std::future::pending().await,
        Plan::Returns { yields } => (yields, false),
        Plan::Panics { yields } => (yields, true),
    };
    yield_times(yields).await;
    let ending = if panics { PANICKED } else { RETURNED };
    ledger.endings[index].store(ending, Ordering::SeqCst);
    if panics {
        std::panic::panic_any(Boom {
            id: index as u64,
            drops: Arc::clone(&ledger.payload_drops),
        });
    }
}

/// What one watcher saw.
enum Seen {
    Status(usize, Kind),
    Owned(usize, Result<(), ServiceError>),
    Nothing,
}

/// Awaits the status clones sent to it on a runtime of its own; returns what they reported.
fn watcher_thread(
    ledger: Arc<Ledger>,
    mut received: mpsc::UnboundedReceiver<(usize, ServiceStatusJoinHandle)>,
) -> thread::JoinHandle<Vec<(usize, Kind)>> {
    thread::spawn(move || {
        let rt = Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async {
            let watch = async {
                let mut watchers = JoinSet::new();
                while let Some((index, status)) = received.recv().await {
                    let status = ledger.counted(status);
                    watchers.spawn(async move { (index, Kind::of_status(&status.await)) });
                }
                watchers.join_all().await
            };
            tokio::time::timeout(HANG, watch)
                .await
                .expect("a watcher thread hangs")
        })
    })
}

fn plan(rng: &mut Rng) -> Plan {
    let yields = rng.below(3);
    match rng.below(5) {
        0 | 1 => Plan::Returns { yields },
        2 | 3 => Plan::Panics { yields },
        _ => Plan::Forever,
    }
}

fn many_services(rt: &Runtime, start: Start, salt: u64) {
    let ledger = Arc::new(Ledger {
        endings: (0..SERVICES).map(|_| AtomicU8::new(RUNNING)).collect(),
        payload_drops: Arc::new(AtomicUsize::new(0)),
        live_wakers: Arc::new(AtomicUsize::new(0)),
    });
    let (to_threads, threads): (Vec<_>, Vec<_>) = (0..WATCHER_THREADS)
        .map(|_| {
            let (send, receive) = mpsc::unbounded_channel();
            (send, watcher_thread(Arc::clone(&ledger), receive))
        })
        .unzip();

    let mut plans = Vec::with_capacity(SERVICES);
    let run = async {
        let mut watchers = JoinSet::new();
        let mut kept = Vec::with_capacity(SERVICES);
        for index in 0..SERVICES {
            let mut rng = Rng::new(index as u64 ^ salt);
            let plan = plan(&mut rng);
            let aborted = matches!(plan, Plan::Forever) || rng.chance(4);
            plans.push((plan, aborted));
            let (status, owned) = start.start(service(index, plan, Arc::clone(&ledger)));

            // A restless watcher: polled again with a new waker while pending (as after a
            // spurious wakeup), then awaited.
            let mut restless = ledger.counted(status.clone());
            watchers.spawn(async move {
                for _ in 0..3 {
                    if let Poll::Ready(result) = poll_once(&mut restless).await {
                        return Seen::Status(index, Kind::of_status(&result));
                    }
                    yield_now().await;
                }
                Seen::Status(index, Kind::of_status(&restless.await))
            });
            // A watcher that moves: polled in one task, then awaited by another.
            let mut moving = ledger.counted(status.clone());
            watchers.spawn(async move {
                let result = match poll_once(&mut moving).await {
                    Poll::Ready(result) => result,
                    Poll::Pending => tokio::spawn(moving).await.expect("the watcher"),
                };
                Seen::Status(index, Kind::of_status(&result))
            });
            to_threads[index % WATCHER_THREADS]
                .send((index, status.clone()))
                .expect("the watcher thread is waiting");
            if rng.chance(4) {
                // The losing branch of a `select!`: polled once, then dropped.
                let mut loser = ledger.counted(status.clone());
                watchers.spawn(async move {
                    match poll_once(&mut loser).await {
                        Poll::Ready(result) => Seen::Status(index, Kind::of_status(&result)),
                        Poll::Pending => Seen::Nothing,
                    }
                });
            }
            if aborted && rng.chance(2) {
                let status = status.clone();
                let yields = rng.below(3);
                watchers.spawn(async move {
                    yield_times(yields).await;
                    status.abort();
                    Seen::Nothing
                });
            } else if aborted {
                owned.abort();
            }
            let owned = match rng.below(3) {
                0 => {
                    let owned = ledger.counted(owned);
                    watchers.spawn(async move { Seen::Owned(index, owned.await) });
                    None
                }
                1 => None, // detached
                _ => Some(owned),
            };
            kept.push((status, owned));
        }
        drop(to_threads);

        let mut seen = watchers.join_all().await;
        for (index, (_, owned)) in kept.iter_mut().enumerate() {
            if let Some(owned) = owned.take() {
                seen.push(Seen::Owned(index, ledger.counted(owned).await));
            }
        }
        let kept: Vec<ServiceStatusJoinHandle> = kept.into_iter().map(|(s, _)| s).collect();
        (seen, kept)
    };
    let (seen, kept) = rt
        .block_on(async { tokio::time::timeout(HANG, run).await })
        .expect("a service or a handle hangs");
    let from_threads: Vec<(usize, Kind)> = threads
        .into_iter()
        .flat_map(|thread| thread.join().expect("a watcher thread"))
        .collect();

    // Every handle agrees with how its service really ended, which fits the plan.
    let mut tally = [0_usize; 3];
    for (index, &(plan, aborted)) in plans.iter().enumerate() {
        let real = ledger.real_ending(index);
        let context = format!("{start:?} service {index}: {plan:?}, aborted {aborted}");
        match (plan, aborted) {
            (Plan::Forever, _) => assert_eq!(real, Kind::Cancelled, "{context}"),
            (Plan::Returns { .. }, false) => assert_eq!(real, Kind::Ok, "{context}"),
            (Plan::Panics { .. }, false) => assert_eq!(real, Kind::Panicked, "{context}"),
            (_, true) => {}
        }
        tally[real as usize] += 1;
        assert!(kept[index].is_finished(), "{context}");
    }
    let mut payloads_taken = 0;
    for seen in seen {
        match seen {
            Seen::Status(index, kind) => assert_eq!(kind, ledger.real_ending(index), "{index}"),
            Seen::Owned(index, result) => {
                assert_eq!(
                    Kind::of_owned(&result),
                    ledger.real_ending(index),
                    "{index}"
                );
                if let Some(payload) = result.err().and_then(ServiceError::into_panic) {
                    let boom = payload.downcast::<Boom>().expect("the service's payload");
                    assert_eq!(boom.id, index as u64, "another service's payload");
                    payloads_taken += 1;
                }
            }
            Seen::Nothing => {}
        }
    }
    assert_eq!(from_threads.len(), SERVICES);
    for (index, kind) in from_threads {
        assert_eq!(
            kind,
            ledger.real_ending(index),
            "{start:?} service {index} on a thread"
        );
    }

    // Each payload was dropped once: by whoever took it above, or unclaimed.
    let panicked = tally[Kind::Panicked as usize];
    assert_eq!(ledger.payload_drops.load(Ordering::SeqCst), panicked);
    assert!(
        payloads_taken > 0 && payloads_taken < panicked,
        "{payloads_taken}"
    );
    // Resolved, dropped or still held (`kept`): no handle keeps a waker.
    assert_eq!(ledger.live_wakers.load(Ordering::SeqCst), 0, "wakers kept");
    assert!(
        tally.iter().all(|&n| n > 0),
        "every ending came up: {tally:?}"
    );
    drop(kept);
}

fn multi_thread_runtime() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap()
}

fn current_thread_runtime() -> Runtime {
    Builder::new_current_thread().enable_time().build().unwrap()
}

for_both_starts! {
#[test]
fn ten_thousand_services_on_a_multi_thread_runtime(start: Start) {
    many_services(&multi_thread_runtime(), start, 0);
}
}

for_both_starts! {
#[test]
fn ten_thousand_services_on_a_current_thread_runtime(start: Start) {
    many_services(&current_thread_runtime(), start, 1 << 40);
}
}
