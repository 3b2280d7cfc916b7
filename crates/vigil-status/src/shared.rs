//! The state one split shares between its owned handle and all status handles.
//!
//! Tokio's `JoinHandle` has a single waker slot and hands its output out once.
//! Here it sits behind a mutex and is polled by whichever handle is polled,
//! always with the same *fan-out* waker ([`Waiters`]), which wakes every
//! handle that is waiting. The first poller to see it ready records the
//! outcome (and stashes the panic payload for the owned handle); everyone
//! else reads the recorded outcome.

use std::any::Any;
use std::future::Future;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use tokio::task::{AbortHandle, JoinHandle};

use crate::waiters::Waiters;

/// A panic payload, as returned by `JoinError::into_panic`.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

/// How the service ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Panicked,
    Cancelled,
}

// Encodings of `Option<Outcome>` in `Shared::outcome`.
const PENDING: u8 = 0;
const OK: u8 = 1;
const PANICKED: u8 = 2;
const CANCELLED: u8 = 3;

impl Outcome {
    fn encode(self) -> u8 {
        match self {
            Outcome::Ok => OK,
            Outcome::Panicked => PANICKED,
            Outcome::Cancelled => CANCELLED,
        }
    }

    fn decode(code: u8) -> Option<Self> {
        match code {
            OK => Some(Outcome::Ok),
            PANICKED => Some(Outcome::Panicked),
            CANCELLED => Some(Outcome::Cancelled),
            _ => None,
        }
    }
}

pub(crate) struct Shared {
    /// Mirror of `Stage::Finished` for lock-free reads; `PENDING` until then.
    outcome: AtomicU8,
    /// Taken at split time so `abort` and `is_finished` never need the lock.
    abort: AbortHandle,
    join: Mutex<JoinState>,
    waiters: Arc<Waiters>,
    /// `waiters` as a waker, built once: every poll of the `JoinHandle`
    /// passes this same waker, so tokio keeps it instead of cloning a new one.
    fan_out: Waker,
}

struct JoinState {
    stage: Stage,
    /// The panic payload, kept until the owned handle takes it.
    payload: Option<Payload>,
    /// Whether the owned handle still exists; if not, a payload has no
    /// taker and is dropped as soon as it is seen.
    owner_alive: bool,
}

enum Stage {
    Running(JoinHandle<()>),
    Finished(Outcome),
}

impl Shared {
    pub(crate) fn new(handle: JoinHandle<()>) -> Self {
        let waiters = Arc::new(Waiters::default());
        Self {
            outcome: AtomicU8::new(PENDING),
            abort: handle.abort_handle(),
            join: Mutex::new(JoinState {
                stage: Stage::Running(handle),
                payload: None,
                owner_alive: true,
            }),
            fan_out: Waker::from(Arc::clone(&waiters)),
            waiters,
        }
    }

    /// The recorded outcome, if some handle has already seen the service end.
    pub(crate) fn outcome(&self) -> Option<Outcome> {
        // Acquire pairs with the Release store in `poll_outcome`, so whoever
        // sees the outcome also sees everything the service did before ending.
        Outcome::decode(self.outcome.load(Ordering::Acquire))
    }

    pub(crate) fn is_finished(&self) -> bool {
        // The task may have ended without any handle having polled it yet;
        // tokio knows that before we do.
        self.outcome().is_some() || self.abort.is_finished()
    }

    pub(crate) fn abort(&self) {
        self.abort.abort();
    }

    /// A short name for the current state, for `Debug` output.
    pub(crate) fn state_name(&self) -> &'static str {
        match self.outcome() {
            Some(Outcome::Ok) => "ok",
            Some(Outcome::Panicked) => "panicked",
            Some(Outcome::Cancelled) => "cancelled",
            None if self.abort.is_finished() => "finished",
            None => "running",
        }
    }

    fn lock_join(&self) -> MutexGuard<'_, JoinState> {
        // Every update under this lock leaves a consistent state, so a
        // poisoned lock is safe to keep using; propagating the poison would
        // turn one panic into a panic in every handle.
        self.join.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Polls for the outcome on behalf of the handle whose waiter slot is
    /// `key`. On `Pending`, `cx.waker()` is registered in that slot.
    fn poll_outcome(&self, key: &mut Option<usize>, cx: &mut Context<'_>) -> Poll<Outcome> {
        if let Some(outcome) = self.outcome() {
            return Poll::Ready(outcome);
        }
        // Out of coop budget: yield, as tokio's `JoinHandle` would, but wake
        // only this poller. Left to the `JoinHandle`, the empty budget would
        // make it wake the fan-out, i.e. every waiting handle, and (outside a
        // worker thread, e.g. in `Runtime::block_on`) synchronously, under
        // the join lock below.
        if !tokio::task::coop::has_budget_remaining() {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        // Register before polling tokio: a completion that happens after we
        // register then wakes us through the fan-out, and one that happened
        // before is seen by the poll below. Either way no wakeup is lost.
        self.waiters.register(key, cx.waker());

        let mut state = self.lock_join();
        let handle = match &mut state.stage {
            Stage::Finished(outcome) => return Poll::Ready(*outcome),
            Stage::Running(handle) => handle,
        };
        // Should tokio ever call the fan-out synchronously from this poll,
        // that is fine: the fan-out only takes the `waiters` lock, never
        // `join`, so the lock order is always `join` then `waiters`.
        let result = match Pin::new(handle).poll(&mut Context::from_waker(&self.fan_out)) {
            Poll::Ready(result) => result,
            Poll::Pending => return Poll::Pending,
        };
        let (outcome, payload) = match result {
            Ok(()) => (Outcome::Ok, None),
            Err(err) => match err.try_into_panic() {
                Ok(payload) => (Outcome::Panicked, Some(payload)),
                Err(_cancelled) => (Outcome::Cancelled, None),
            },
        };
        // The `JoinHandle` has given its output and must not be polled again.
        let finished = mem::replace(&mut state.stage, Stage::Finished(outcome));
        let unclaimed = if state.owner_alive {
            state.payload = payload;
            None
        } else {
            payload
        };
        // Release: publishes the outcome after the payload is stored under
        // the lock and after tokio's completion, for the Acquire in `outcome`.
        self.outcome.store(outcome.encode(), Ordering::Release);
        drop(state);

        // Drops and wakes run user code (payload destructors, wakers), so
        // they happen outside the lock. Our own slot is released first so
        // this poller is not woken needlessly: it is returning `Ready`.
        drop(finished);
        drop_payload(unclaimed);
        if let Some(key) = key.take() {
            self.waiters.release(key);
        }
        self.waiters.wake_all();
        Poll::Ready(outcome)
    }

    /// Takes the stashed panic payload; for the owned handle, once.
    pub(crate) fn take_payload(&self) -> Option<Payload> {
        self.lock_join().payload.take()
    }

    /// Called when the owned handle is dropped: from now on nobody can take
    /// a payload, so drop any stashed one and stop stashing.
    pub(crate) fn release_owner(&self) {
        let payload = {
            let mut state = self.lock_join();
            state.owner_alive = false;
            state.payload.take()
        };
        drop_payload(payload);
    }
}

/// Drops a payload nobody will read. Its destructor is arbitrary user code
/// that may panic; that must not unwind out of a status poll or a `Drop`, so
/// the panic is swallowed (as tokio does for task output it drops).
fn drop_payload(payload: Option<Payload>) {
    if let Some(payload) = payload {
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
    }
}

/// One handle's view of a [`Shared`]: the `Arc` plus the handle's slot in
/// the waiter list, which the handle owns until it is dropped.
pub(crate) struct Waiter {
    shared: Arc<Shared>,
    key: Option<usize>,
}

impl Waiter {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared, key: None }
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Outcome> {
        let poll = self.shared.poll_outcome(&mut self.key, cx);
        if poll.is_ready() {
            // The outcome never changes, so the slot is no longer needed.
            if let Some(key) = self.key.take() {
                self.shared.waiters.release(key);
            }
        }
        poll
    }
}

impl Clone for Waiter {
    fn clone(&self) -> Self {
        // A clone is a new waiter: it gets its own slot when first polled.
        Self::new(Arc::clone(&self.shared))
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        // Free the slot so that a handle dropped while pending (e.g. the
        // losing branch of a `select!`) leaves no stale waker behind.
        if let Some(key) = self.key.take() {
            self.shared.waiters.release(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    /// A waker that counts how often it was woken.
    #[derive(Default)]
    struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Counter {
        fn count(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    /// Spawns a service that waits for `release` and returns the shared
    /// state of a split of it.
    fn gated_service(
        rt: &tokio::runtime::Runtime,
    ) -> (Arc<Shared>, tokio::sync::oneshot::Sender<()>) {
        let (release, gate) = tokio::sync::oneshot::channel::<()>();
        let handle = rt.spawn(async move {
            let _ = gate.await;
        });
        (Arc::new(Shared::new(handle)), release)
    }

    /// Runs the runtime until the service has ended, without polling any
    /// handle (so the outcome is not yet recorded).
    fn run_until_finished(rt: &tokio::runtime::Runtime, shared: &Shared) {
        rt.block_on(async {
            while !shared.abort.is_finished() {
                tokio::task::yield_now().await;
            }
        });
    }

    #[test]
    fn waker_of_a_moved_waiter_is_replaced_not_kept() {
        let rt = runtime();
        let (shared, release) = gated_service(&rt);
        let (a, b) = (Arc::new(Counter::default()), Arc::new(Counter::default()));
        let mut waiter = Waiter::new(Arc::clone(&shared));

        let waker_a = Waker::from(Arc::clone(&a));
        assert!(waiter.poll(&mut Context::from_waker(&waker_a)).is_pending());
        let waker_b = Waker::from(Arc::clone(&b));
        assert!(waiter.poll(&mut Context::from_waker(&waker_b)).is_pending());
        assert_eq!(shared.waiters.registered(), 1);

        release.send(()).unwrap();
        run_until_finished(&rt, &shared);
        assert_eq!(
            (a.count(), b.count()),
            (0, 1),
            "only the latest waker is woken"
        );
        assert_eq!(
            waiter.poll(&mut Context::from_waker(&waker_b)),
            Poll::Ready(Outcome::Ok)
        );
        assert_eq!(shared.waiters.allocated(), 0, "slot released once ready");
    }

    #[test]
    fn dropping_a_pending_waiter_frees_its_slot() {
        let rt = runtime();
        let (shared, release) = gated_service(&rt);
        let counter = Arc::new(Counter::default());
        let waker = Waker::from(Arc::clone(&counter));

        for _ in 0..10 {
            let mut waiter = Waiter::new(Arc::clone(&shared));
            assert!(waiter.poll(&mut Context::from_waker(&waker)).is_pending());
            assert_eq!(shared.waiters.allocated(), 1);
        }
        // Each waiter reused the slot its predecessor freed.
        assert_eq!(shared.waiters.allocated(), 0);
        assert_eq!(shared.waiters.slots(), 1);

        release.send(()).unwrap();
        run_until_finished(&rt, &shared);
        assert_eq!(counter.count(), 0, "dropped waiters are not woken");
    }

    #[test]
    fn every_waiting_clone_is_woken_once_and_the_completer_is_not() {
        let rt = runtime();
        let (shared, release) = gated_service(&rt);
        let counters: Vec<Arc<Counter>> = (0..5).map(|_| Arc::default()).collect();
        let wakers: Vec<Waker> = counters
            .iter()
            .map(|c| Waker::from(Arc::clone(c)))
            .collect();
        let mut waiters: Vec<Waiter> = (0..5).map(|_| Waiter::new(Arc::clone(&shared))).collect();

        for (waiter, waker) in waiters.iter_mut().zip(&wakers) {
            assert!(waiter.poll(&mut Context::from_waker(waker)).is_pending());
        }
        release.send(()).unwrap();
        // Tokio wakes the fan-out when the task ends, before any handle
        // polls again: every waiter must have been woken by then.
        run_until_finished(&rt, &shared);
        assert!(counters.iter().all(|c| c.count() == 1));
        assert_eq!(shared.outcome(), None, "not recorded until a handle polls");
        assert!(shared.is_finished());
        assert_eq!(shared.state_name(), "finished");

        // The first to poll records the outcome; the others read it.
        for (waiter, waker) in waiters.iter_mut().zip(&wakers) {
            assert_eq!(
                waiter.poll(&mut Context::from_waker(waker)),
                Poll::Ready(Outcome::Ok)
            );
        }
        assert!(counters.iter().all(|c| c.count() == 1), "no extra wakeups");
        assert_eq!(shared.state_name(), "ok");
    }

    #[test]
    fn payload_is_stashed_for_the_owner_and_dropped_without_one() {
        struct Flag(Arc<AtomicUsize>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }

        for owner_alive in [true, false] {
            let rt = runtime();
            let drops = Arc::new(AtomicUsize::new(0));
            let flag = Flag(Arc::clone(&drops));
            let handle = rt.spawn(async move { panic::panic_any(flag) });
            let shared = Arc::new(Shared::new(handle));
            if !owner_alive {
                shared.release_owner();
            }
            let mut waiter = Waiter::new(Arc::clone(&shared));
            let outcome = rt.block_on(std::future::poll_fn(|cx| waiter.poll(cx)));
            assert_eq!(outcome, Outcome::Panicked);
            if owner_alive {
                assert_eq!(drops.load(Ordering::SeqCst), 0, "kept for the owner");
                let payload = shared.take_payload().expect("payload stashed");
                assert!(payload.is::<Flag>());
                drop(payload);
            }
            assert_eq!(drops.load(Ordering::SeqCst), 1);
            assert!(shared.take_payload().is_none());
        }
    }
}
