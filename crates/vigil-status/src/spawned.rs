//! The [`spawn`](crate::spawn) source: the service runs inside a wrapper that records its own ending.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crossbeam_utils::atomic::AtomicCell;
use pin_project_lite::pin_project;
use tokio::runtime::Handle;
use tokio::task::AbortHandle;

use crate::completion::{drop_payload, Completion, Outcome};

/// The one allocation a spawned service shares with its handles.
pub(crate) struct Spawned {
    completion: Completion,
    /// Set right after spawning, before any of our handles exists. In an `AtomicCell`: one
    /// atomic store, where a `OnceLock` runs its once-protocol; `abort` takes it out and puts
    /// it back. (Not tokio's `JoinHandle`: holding that keeps the task's join state alive, and
    /// dropping it late costs tokio's slow path.)
    task: AtomicCell<Option<AbortHandle>>,
}

impl Spawned {
    /// Spawns `future` on `handle`, wrapped to report its ending here.
    #[track_caller]
    pub(crate) fn spawn<F>(handle: &Handle, future: F) -> Arc<Self>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (shared, tracked) = Self::track(future);
        let join = handle.spawn(tracked);
        shared.task.store(Some(join.abort_handle()));
        // The wrapper reports the ending, so tokio's `JoinHandle` is not needed: dropping it
        // now lets tokio drop the (unit) output as soon as the task ends.
        drop(join);
        shared
    }

    /// The shared state and the wrapper that reports to it, not yet spawned (the
    /// loom models drive the wrapper by hand).
    pub(crate) fn track<F>(future: F) -> (Arc<Self>, Tracked<F>) {
        let shared = Arc::new(Self {
            completion: Completion::new(),
            task: AtomicCell::new(None),
        });
        let tracked = Tracked {
            future: Some(future),
            shared: Some(Arc::clone(&shared)),
        };
        (shared, tracked)
    }

    pub(crate) fn completion(&self) -> &Completion {
        &self.completion
    }

    pub(crate) fn abort(&self) {
        // Taken, used and put back: a concurrent `abort` that finds it taken has nothing to
        // do, the one holding it aborts the task.
        if let Some(task) = self.task.take() {
            task.abort();
            self.task.store(Some(task));
        }
    }
}

pin_project! {
    /// What is spawned: the service, and the shared state it reports its ending to.
    ///
    /// The service is dropped (in place: it is pinned) *before* the ending is reported, so
    /// when a handle resolves the service's destructors have run, as with tokio's
    /// `JoinHandle`. Panics are caught per poll; tokio never sees them.
    pub(crate) struct Tracked<F> {
        // `None` once the service has ended and been dropped.
        #[pin]
        future: Option<F>,
        // `None` once the ending has been reported.
        shared: Option<Arc<Spawned>>,
    }

    impl<F> PinnedDrop for Tracked<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // Dropped before it ended: aborted, shut down with its runtime, or never polled.
            if let Some(shared) = this.shared.take() {
                // As tokio does for a cancelled task, a panic while dropping the service
                // makes the ending a panic with that payload.
                let (outcome, payload) = match drop_in_place(this.future) {
                    Ok(()) => (Outcome::Cancelled, None),
                    Err(payload) => (Outcome::Panicked, Some(payload)),
                };
                shared.completion.complete(outcome, payload);
            }
        }
    }
}

impl<F: Future<Output = ()>> Future for Tracked<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            // Tokio never polls a task that returned `Ready`.
            return Poll::Ready(());
        };
        // AssertUnwindSafe: after a panic the service is dropped and never polled again.
        let polled = panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx)));
        if matches!(polled, Ok(Poll::Pending)) {
            return Poll::Pending;
        }
        let dropped = drop_in_place(this.future);
        let (outcome, payload) = match (polled, dropped) {
            (Ok(_ready), Ok(())) => (Outcome::Ok, None),
            // As in tokio, a service that returned but panicked while being dropped panicked.
            (Ok(_ready), Err(payload)) => (Outcome::Panicked, Some(payload)),
            // The first panic is the one to report. (Tokio would abort the process here: it
            // drops a panicking future while unwinding.)
            (Err(payload), dropped) => {
                drop_payload(dropped.err());
                (Outcome::Panicked, Some(payload))
            }
        };
        if let Some(shared) = this.shared.take() {
            shared.completion.complete(outcome, payload);
        }
        Poll::Ready(())
    }
}

/// Drops the service where it is pinned, catching a panic of its destructor.
fn drop_in_place<F>(mut future: Pin<&mut Option<F>>) -> std::thread::Result<()> {
    // AssertUnwindSafe: whatever happens, the slot is `None` afterwards and never used again.
    panic::catch_unwind(AssertUnwindSafe(|| future.set(None)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_abort_handle_is_one_lock_free_atomic() {
        // Otherwise `AtomicCell` would fall back to a global striped lock on every store.
        assert!(AtomicCell::<Option<AbortHandle>>::is_lock_free());
    }
}
