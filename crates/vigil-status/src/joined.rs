//! The [`split`](crate::split) source: the ending is read from the task's `JoinHandle` by whichever handle polls it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{ready, Context, Poll, Wake, Waker};

use tokio::task::{AbortHandle, JoinHandle};

use crate::completion::{Completion, Outcome};

/// What the handles of a split share.
///
/// Tokio's `JoinHandle` has a single waker slot and hands its output out once. It sits
/// behind a mutex and is polled by whichever handle is polled, always with the same
/// *fan-out* waker, which wakes every waiting handle. The poller that sees it ready takes
/// it out and [completes](Completion::complete) the shared completion with what it read.
pub(crate) struct Joined {
    completion: Completion,
    /// Taken at split time so `abort` and `is_finished` never need a lock.
    abort: AbortHandle,
    /// `None` once a handle has read the output (or is about to complete with it).
    join: Mutex<Option<JoinHandle<()>>>,
    /// A [`FanOut`] built once: every poll of the `JoinHandle` passes this same waker, so
    /// tokio keeps it instead of cloning a new one.
    fan_out: Waker,
}

/// The waker given to tokio: wakes every waiting handle of the split.
///
/// A weak reference, because tokio keeps this waker in the task until the `JoinHandle`
/// (held by `Joined`) is dropped: a strong one would be a cycle that keeps both alive.
/// This second allocation per split is what `spawn` avoids.
struct FanOut(Weak<Joined>);

impl Wake for FanOut {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(joined) = self.0.upgrade() {
            joined.completion.wake_waiting();
        }
    }
}

impl Joined {
    pub(crate) fn new(handle: JoinHandle<()>) -> Arc<Self> {
        Arc::new_cyclic(|joined| Self {
            completion: Completion::new(),
            abort: handle.abort_handle(),
            join: Mutex::new(Some(handle)),
            fan_out: Waker::from(Arc::new(FanOut(Weak::clone(joined)))),
        })
    }

    pub(crate) fn completion(&self) -> &Completion {
        &self.completion
    }

    pub(crate) fn abort(&self) {
        self.abort.abort();
    }

    /// Whether the task has ended although no handle has read its output yet.
    pub(crate) fn task_finished(&self) -> bool {
        self.abort.is_finished()
    }

    fn lock_join(&self) -> MutexGuard<'_, Option<JoinHandle<()>>> {
        // Only `take` and tokio's own poll run under this lock: a poisoned lock still holds
        // a usable `JoinHandle` (or none).
        self.join.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Polls for the outcome on behalf of the handle whose waiter slot is `key`. On
    /// `Pending`, `cx.waker()` is registered in that slot.
    pub(crate) fn poll(&self, key: &mut Option<usize>, cx: &mut Context<'_>) -> Poll<Outcome> {
        // Registers before polling tokio: a completion that happens after this wakes us
        // through the fan-out, one that happened before is seen by the poll below.
        if let Poll::Ready(outcome) = self.completion.poll(key, cx.waker()) {
            return Poll::Ready(outcome);
        }
        // Out of coop budget: yield, as tokio's `JoinHandle` would, but wake only this
        // poller. Left to the `JoinHandle`, the empty budget would make it wake the fan-out,
        // i.e. every waiting handle, and (outside a worker thread, e.g. in
        // `Runtime::block_on`) synchronously, under the join lock below.
        if !tokio::task::coop::has_budget_remaining() {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let (result, handle) = {
            let mut join = self.lock_join();
            let Some(handle) = join.as_mut() else {
                // Another handle took the output and is completing with it; it wakes the
                // waker registered above.
                return Poll::Pending;
            };
            // Should tokio call the fan-out synchronously from this poll, that is fine: the
            // fan-out takes only the completion lock, never this one.
            let result = ready!(Pin::new(handle).poll(&mut Context::from_waker(&self.fan_out)));
            // The `JoinHandle` has given its output and must not be polled again.
            (result, join.take())
        };
        drop(handle);
        let (outcome, payload) = match result {
            Ok(()) => (Outcome::Ok, None),
            Err(err) => match err.try_into_panic() {
                Ok(payload) => (Outcome::Panicked, Some(payload)),
                Err(_cancelled) => (Outcome::Cancelled, None),
            },
        };
        // This poller returns `Ready`: free its slot first so the completion does not wake it.
        self.completion.forget(key);
        self.completion.complete(outcome, payload);
        Poll::Ready(outcome)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::completion::tests::counter_waker;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    /// Runs the runtime until the task has ended, without polling any handle (so the
    /// outcome is not yet recorded).
    fn run_until_finished(rt: &tokio::runtime::Runtime, joined: &Joined) {
        rt.block_on(async {
            while !joined.task_finished() {
                tokio::task::yield_now().await;
            }
        });
    }

    #[test]
    fn the_task_ending_wakes_every_waiter_and_the_first_poller_records_it() {
        let rt = runtime();
        let (release, gate) = tokio::sync::oneshot::channel::<()>();
        let joined = Joined::new(rt.spawn(async move {
            let _ = gate.await;
        }));
        let waiters: Vec<_> = (0..5).map(|_| counter_waker()).collect();
        let mut keys = vec![None; waiters.len()];
        for (key, (_, waker)) in keys.iter_mut().zip(&waiters) {
            let poll = joined.poll(key, &mut Context::from_waker(waker));
            assert!(poll.is_pending());
        }
        release.send(()).unwrap();
        // Tokio wakes the fan-out when the task ends, before any handle polls again: every
        // waiter must have been woken by then.
        run_until_finished(&rt, &joined);
        assert!(waiters.iter().all(|(counter, _)| counter.count() == 1));
        assert_eq!(joined.completion.outcome(), None, "not read until polled");

        // The first to poll records the outcome; the others read it.
        for (key, (_, waker)) in keys.iter_mut().zip(&waiters) {
            let poll = joined.poll(key, &mut Context::from_waker(waker));
            assert_eq!(poll, Poll::Ready(Outcome::Ok));
        }
        let extra = waiters.iter().any(|(counter, _)| counter.count() != 1);
        assert!(!extra, "no extra wakeups");
        assert!(joined.lock_join().is_none(), "the JoinHandle is dropped");
    }

    #[test]
    fn tokio_holds_the_fan_out_but_not_the_shared_state() {
        let rt = runtime();
        let joined = Joined::new(rt.spawn(std::future::pending::<()>()));
        let (counter, waker) = counter_waker();
        let mut key = None;
        // Polling the `JoinHandle` hands tokio the fan-out waker.
        let poll = joined.poll(&mut key, &mut Context::from_waker(&waker));
        assert!(poll.is_pending());
        assert_eq!(
            Arc::strong_count(&joined),
            1,
            "a strong reference from the task would be a cycle through the JoinHandle"
        );
        let weak = Arc::downgrade(&joined);
        joined.completion.forget(&mut key);
        drop(joined);
        assert!(weak.upgrade().is_none());
        drop(rt);
        assert_eq!(Arc::strong_count(&counter), 2, "only our own waker is left");
    }
}
