//! The two handle types that [`spawn`](crate::spawn) and [`split`](crate::split) return.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use crate::completion::Outcome;
use crate::error::{ServiceError, ServiceStatusError};
use crate::shared::Waiter;

/// The owned handle to a service: one per service, not `Clone`. Awaiting it
/// yields how the service ended, including the panic payload if it panicked.
/// It behaves the same whether the service was started by
/// [`spawn`](crate::spawn) or its `JoinHandle` [`split`](crate::split).
///
/// Dropping it *detaches* the service: the service keeps running, and the
/// [`ServiceStatusJoinHandle`]s still resolve when it ends (a panic payload
/// is then dropped, since nobody can take it any more). Use
/// [`abort`](Self::abort) to stop the service.
///
/// # Cancel safety
///
/// Dropping the future (this handle) before it completes is the same as
/// detaching: nothing is lost for the status handles. Awaiting it through a
/// `&mut` reference in a `select!` loop is cancel safe: the outcome and
/// payload stay stored until a later poll returns them.
///
/// # Panics
///
/// Polling the handle again after it returned `Ready` panics, because the
/// payload has already been handed out (tokio's `JoinHandle` does the same).
/// Use a [`ServiceStatusJoinHandle`] to observe the ending more than once.
pub struct ServiceJoinHandle {
    waiter: Waiter,
    completed: bool,
}

/// A cloneable handle that reports how a service ended, without the panic
/// payload.
///
/// Any number of clones can be awaited, in any order, from any task, before
/// or after the service ends and before or after the [`ServiceJoinHandle`]
/// is awaited; they all report the same outcome. Awaiting a status handle
/// never takes the payload away from the owned handle. Unlike the owned
/// handle, a status handle may be polled again after it returned `Ready`: it
/// returns the same result.
///
/// Dropping a status handle has no effect on the service.
///
/// # Cancel safety
///
/// The future is cancel safe: dropping it before it completes only removes
/// its waker, and the outcome stays available to every other handle.
#[derive(Clone)]
pub struct ServiceStatusJoinHandle {
    waiter: Waiter,
}

impl ServiceJoinHandle {
    pub(crate) fn new(waiter: Waiter) -> Self {
        Self {
            waiter,
            completed: false,
        }
    }

    /// Returns `true` once the service has ended (normally, by panicking or
    /// by being cancelled), whether or not any handle has been awaited.
    ///
    /// Synchronous and cheap: one atomic load (and, for a [`split`] whose
    /// ending no handle has read yet, tokio's own flag). It never locks.
    ///
    /// [`split`]: crate::split
    pub fn is_finished(&self) -> bool {
        self.waiter.is_finished()
    }

    /// Aborts the service, like [`JoinHandle::abort`]: unless it ends on its
    /// own first, it is dropped at its next `.await` point and every handle
    /// reports [`is_cancelled`](ServiceError::is_cancelled). Aborting a
    /// service that has already ended has no effect.
    ///
    /// The handles resolve only after the service has been dropped, so its
    /// resources are released by then. As with tokio, if dropping it panics,
    /// the ending is that panic instead.
    ///
    /// [`JoinHandle::abort`]: tokio::task::JoinHandle::abort
    pub fn abort(&self) {
        self.waiter.abort();
    }

    /// Returns another status handle for the same service.
    pub fn status_handle(&self) -> ServiceStatusJoinHandle {
        ServiceStatusJoinHandle {
            waiter: self.waiter.clone(),
        }
    }
}

impl Future for ServiceJoinHandle {
    type Output = Result<(), ServiceError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        assert!(
            !this.completed,
            "`ServiceJoinHandle` polled after completion"
        );
        let outcome = ready!(this.waiter.poll_owner(cx));
        this.completed = true;
        Poll::Ready(match outcome {
            Outcome::Ok => Ok(()),
            Outcome::Cancelled => Err(ServiceError::cancelled()),
            Outcome::Panicked => {
                // Stored at the ending, because this handle was alive then;
                // only this handle takes it, once.
                let payload = this.waiter.take_payload();
                debug_assert!(
                    payload.is_some(),
                    "panic payload missing for the owned handle"
                );
                Err(ServiceError::panicked(
                    payload.unwrap_or_else(|| Box::new("panic payload unavailable")),
                ))
            }
        })
    }
}

impl Drop for ServiceJoinHandle {
    fn drop(&mut self) {
        // Once this handle has returned its result there is no payload left to drop and none
        // can arrive, so only a handle dropped before that needs the lock.
        if !self.completed {
            self.waiter.release_owner();
        }
    }
}

impl fmt::Debug for ServiceJoinHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceJoinHandle")
            .field("state", &self.waiter.state_name())
            .field("completed", &self.completed)
            .finish()
    }
}

impl ServiceStatusJoinHandle {
    /// Returns `true` once the service has ended (normally, by panicking or
    /// by being cancelled), whether or not any handle has been awaited.
    ///
    /// Synchronous and cheap: one atomic load (and, for a [`split`] whose
    /// ending no handle has read yet, tokio's own flag). It never locks.
    ///
    /// [`split`]: crate::split
    pub fn is_finished(&self) -> bool {
        self.waiter.is_finished()
    }

    /// Aborts the service, exactly like [`ServiceJoinHandle::abort`]: any
    /// holder of a status handle can stop the service.
    pub fn abort(&self) {
        self.waiter.abort();
    }
}

impl Future for ServiceStatusJoinHandle {
    type Output = Result<(), ServiceStatusError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match ready!(self.waiter.poll(cx)) {
            Outcome::Ok => Ok(()),
            Outcome::Panicked => Err(ServiceStatusError::PANICKED),
            Outcome::Cancelled => Err(ServiceStatusError::CANCELLED),
        })
    }
}

impl fmt::Debug for ServiceStatusJoinHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceStatusJoinHandle")
            .field("state", &self.waiter.state_name())
            .finish()
    }
}
