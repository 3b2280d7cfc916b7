//! Start a service task, or split a tokio `JoinHandle`, into one owned join handle (with the panic payload) and cloneable status handles.
//!
//! A tokio [`JoinHandle`] can be awaited by one task only, once. A supervised
//! service often needs more: its owner wants the panic payload, while any
//! number of other parties (health checks, dependants, a registry) only want
//! to know *whether* and *how* it ended. This crate gives every service:
//!
//! - a [`ServiceJoinHandle`]: owned, not `Clone`, resolves to
//!   `Result<(), ServiceError>`, and [`ServiceError::into_panic`] gives the
//!   panic payload;
//! - a [`ServiceStatusJoinHandle`]: `Clone`, resolves to
//!   `Result<(), ServiceStatusError>`, reporting only ok / panicked /
//!   cancelled.
//!
//! There are two ways to get them. [`spawn`] starts the service itself and
//! costs one allocation besides tokio's task; use it whenever you start the
//! task. [`split`] takes the `JoinHandle` of a task already spawned.
//!
//! All handles agree on the outcome, whatever order they are awaited in, and
//! awaiting status handles first never takes the payload away from the owned
//! handle. Both kinds offer a cheap synchronous `is_finished()` and an
//! `abort()`. The handles behave the same whichever way they were made.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let runtime = tokio::runtime::Handle::current();
//! let (status, owned) = vigil_status::spawn(&runtime, async {
//!     panic!("disk full");
//! });
//!
//! // Any number of status clones can watch the service...
//! let watcher = tokio::spawn(status.clone());
//! let ended = status.await.unwrap_err();
//! assert!(ended.is_panic());
//! assert!(watcher.await.unwrap().unwrap_err().is_panic());
//!
//! // ...and the owned handle still gets the payload afterwards.
//! let err = owned.await.unwrap_err();
//! assert_eq!(err.to_string(), "service panicked: disk full");
//! let payload = err.into_panic().unwrap();
//! assert_eq!(*payload.downcast::<&str>().unwrap(), "disk full");
//!
//! // The same, for a task spawned elsewhere:
//! let (status, owned) = vigil_status::split(tokio::spawn(std::future::pending::<()>()));
//! status.abort();
//! assert!(owned.await.unwrap_err().is_cancelled());
//! assert!(status.is_finished());
//! # }
//! ```
//!
//! # How it works
//!
//! Every service has one shared state, its *completion*: the outcome in an
//! atomic, and under one small mutex the waiting status handles' wakers, the
//! panic payload, and whether the owned handle still exists. A handle's poll
//! reads the atomic first (no lock once the service has ended); otherwise a
//! status handle locks, marks the list as in use, checks again, and leaves its
//! waker. Each handle owns at most one waker slot, overwritten when the handle
//! is polled from another task and freed when the handle is dropped or
//! resolves, so no stale wakers accumulate; the first slot is inline, so a
//! service awaited by one handle at a time allocates nothing per await. The
//! owned handle of a [`spawn`]ed service waits in a slot of its own, an
//! `AtomicWaker`, without the lock.
//!
//! Whoever learns the ending records it once, with a compare-exchange on the
//! outcome; a panic payload is stored under the lock (or dropped if the owned
//! handle is gone). It then wakes the owner, and, only if a status handle ever
//! waited, takes the waker list under the lock and wakes it unlocked. So the
//! common life of a spawned service (started, awaited by its owner, returns)
//! takes no lock at all. The outcome store and the list mark are `SeqCst`, so
//! a status handle either sees the outcome or is seen waiting; the outcome is
//! read with `Acquire`: whoever sees it also sees everything the service did
//! before it ended.
//!
//! - With [`spawn`], the service runs inside a wrapper future. Each poll of the
//!   service runs under `catch_unwind`; when it returns or panics, the wrapper
//!   drops it (so its destructors have run when the handles resolve, as with
//!   tokio) and records the ending. If the wrapper is dropped first (the task
//!   was aborted, or its runtime shut down), it records a cancellation. The
//!   completion and the task's abort handle share a single allocation, and
//!   tokio's `JoinHandle` is dropped at once. The handles' polls never touch
//!   tokio, so they do not take part in its cooperative scheduling budget: a
//!   handle of a finished service is ready at once, like any ready future.
//! - With [`split`], the `JoinHandle` is kept behind its own mutex and polled
//!   by whichever handle is polled, always with one *fan-out* waker that wakes
//!   every waiting handle, so tokio's single waker slot never loses a waiter.
//!   The handle that sees the task end records the ending in the completion.
//!   The fan-out is a second allocation. Until the ending is recorded, polls
//!   take part in tokio's cooperative scheduling budget like the `JoinHandle`
//!   itself, but an exhausted budget wakes only the polling handle.
//!
//! [`JoinHandle`]: tokio::task::JoinHandle

mod completion;
mod error;
mod handle;
mod joined;
#[cfg(all(test, loom))]
mod loom_models;
mod shared;
mod spawned;
mod sync;
mod waiters;

use std::future::Future;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

pub use crate::error::{ServiceError, ServiceStatusError};
pub use crate::handle::{ServiceJoinHandle, ServiceStatusJoinHandle};

use crate::shared::{Source, Waiter};

/// Spawns `future` on the runtime behind `handle` and returns its handles; one
/// shared allocation per service besides tokio's task.
///
/// The service runs as a tokio task of its own, exactly as with
/// [`Handle::spawn`]: it is not polled by the handles, and dropping them
/// detaches it. Its panics are caught and handed to the owned handle instead
/// of to tokio (so a runtime's unhandled-panic setting does not see them).
/// Clone the status handle as often as needed, or make more with
/// [`ServiceJoinHandle::status_handle`].
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (status, owned) = vigil_status::spawn(&tokio::runtime::Handle::current(), async {
///     // a queue consumer, a flusher, ...
/// });
/// assert!(status.clone().await.is_ok());
/// assert!(owned.await.is_ok());
/// # }
/// ```
#[track_caller]
pub fn spawn<F>(handle: &Handle, future: F) -> (ServiceStatusJoinHandle, ServiceJoinHandle)
where
    F: Future<Output = ()> + Send + 'static,
{
    handles(Source::Spawned(spawned::Spawned::spawn(handle, future)))
}

/// Splits the `JoinHandle` of a service task into a cloneable status handle
/// and the owned join handle.
///
/// The task keeps running as before; it is neither polled nor affected by
/// the split. Clone the status handle as often as needed, or make more with
/// [`ServiceJoinHandle::status_handle`]. If you spawn the task yourself,
/// [`spawn`] does the same with one allocation less, and its handles never
/// need to poll tokio's `JoinHandle` to learn the ending.
pub fn split(handle: JoinHandle<()>) -> (ServiceStatusJoinHandle, ServiceJoinHandle) {
    handles(Source::Joined(joined::Joined::new(handle)))
}

fn handles(source: Source) -> (ServiceStatusJoinHandle, ServiceJoinHandle) {
    let owned = ServiceJoinHandle::new(Waiter::new(source));
    (owned.status_handle(), owned)
}
