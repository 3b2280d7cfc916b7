//! What every handle holds: its service's shared state, from either source, and its own waiter slot.

use std::sync::Arc;
use std::task::{Context, Poll};

use crate::completion::{Completion, Outcome, Payload};
use crate::joined::Joined;
use crate::spawned::Spawned;

/// Where a service's ending comes from. Both sources report it to a [`Completion`], which
/// is all the handles read; only polling and aborting differ.
#[derive(Clone)]
pub(crate) enum Source {
    /// Started by [`spawn`](crate::spawn): the wrapper completes from inside the task.
    Spawned(Arc<Spawned>),
    /// Made by [`split`](crate::split): the handles complete from the `JoinHandle`.
    Joined(Arc<Joined>),
}

impl Source {
    fn completion(&self) -> &Completion {
        match self {
            Source::Spawned(spawned) => spawned.completion(),
            Source::Joined(joined) => joined.completion(),
        }
    }

    fn poll(&self, key: &mut Option<usize>, cx: &mut Context<'_>) -> Poll<Outcome> {
        match self {
            // The wrapper records the ending itself: no task to poll, and no coop budget
            // to spend (see the crate docs).
            Source::Spawned(spawned) => spawned.completion().poll(key, cx.waker()),
            Source::Joined(joined) => joined.poll(key, cx),
        }
    }
}

/// One handle's view of its service: the shared state plus the handle's slot in the
/// waiter list, which the handle owns until it resolves or is dropped.
pub(crate) struct Waiter {
    source: Source,
    key: Option<usize>,
}

impl Waiter {
    pub(crate) fn new(source: Source) -> Self {
        Self { source, key: None }
    }

    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Outcome> {
        self.source.poll(&mut self.key, cx)
    }

    /// [`poll`](Self::poll) for the owned handle: a spawned service's owner waits in a slot
    /// of its own, without the lock.
    pub(crate) fn poll_owner(&mut self, cx: &mut Context<'_>) -> Poll<Outcome> {
        match &self.source {
            Source::Spawned(spawned) => spawned.completion().poll_owner(cx.waker()),
            Source::Joined(_) => self.poll(cx),
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        match &self.source {
            Source::Spawned(spawned) => spawned.completion().outcome().is_some(),
            // The task may have ended without any handle having read it yet; tokio knows
            // that before we do.
            Source::Joined(joined) => {
                joined.completion().outcome().is_some() || joined.task_finished()
            }
        }
    }

    pub(crate) fn abort(&self) {
        match &self.source {
            Source::Spawned(spawned) => spawned.abort(),
            Source::Joined(joined) => joined.abort(),
        }
    }

    /// A short name for the current state, for `Debug` output.
    pub(crate) fn state_name(&self) -> &'static str {
        match self.source.completion().outcome() {
            Some(outcome) => outcome.name(),
            None if self.is_finished() => "finished",
            None => "running",
        }
    }

    /// Takes the stored panic payload; for the owned handle, once.
    pub(crate) fn take_payload(&self) -> Option<Payload> {
        self.source.completion().take_payload()
    }

    /// For the owned handle dropped before it resolved: it stops waiting, and its payload
    /// (stored or still to come) is dropped.
    pub(crate) fn release_owner(&mut self) {
        self.source.completion().release_owner(&mut self.key);
    }
}

impl Clone for Waiter {
    fn clone(&self) -> Self {
        // A clone is a new waiter: it gets its own slot when first polled.
        Self::new(self.source.clone())
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        // Frees the slot so that a handle dropped while pending (e.g. the losing branch of
        // a `select!`) leaves no stale waker behind.
        self.source.completion().forget(&mut self.key);
    }
}
