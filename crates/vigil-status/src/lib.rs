//! Split a tokio `JoinHandle` into one owned join handle (with the panic payload) and cloneable status handles.
//!
//! A tokio [`JoinHandle`] can be awaited by one task only, once. A supervised
//! service often needs more: its owner wants the panic payload, while any
//! number of other parties (health checks, dependants, a registry) only want
//! to know *whether* and *how* it ended. [`split`] turns the `JoinHandle`
//! into:
//!
//! - a [`ServiceJoinHandle`]: owned, not `Clone`, resolves to
//!   `Result<(), ServiceError>`, and [`ServiceError::into_panic`] gives the
//!   panic payload;
//! - a [`ServiceStatusJoinHandle`]: `Clone`, resolves to
//!   `Result<(), ServiceStatusError>`, reporting only ok / panicked /
//!   cancelled.
//!
//! All handles agree on the outcome, whatever order they are awaited in, and
//! awaiting status handles first never takes the payload away from the owned
//! handle. Both kinds offer a cheap synchronous `is_finished()` and an
//! `abort()`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let (status, owned) = vigil_status::split(tokio::spawn(async {
//!     panic!("disk full");
//! }));
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
//! # }
//! ```
//!
//! # How it works
//!
//! The `JoinHandle` is kept behind a mutex and polled by whichever handle is
//! polled, always with one shared *fan-out* waker that wakes every waiting
//! handle, so tokio's single waker slot never loses a waiter. The first
//! poller to see the task end records the outcome in an atomic (later polls
//! and `is_finished` read it without locking) and keeps the panic payload
//! until the owned handle takes it, or drops it at once if the owned handle
//! is gone. Each handle owns at most one waker slot, overwritten when the
//! handle is polled from another task and freed when the handle is dropped
//! or resolves, so no stale wakers accumulate. Polls take part in tokio's
//! cooperative scheduling budget, like the `JoinHandle` itself.
//!
//! [`JoinHandle`]: tokio::task::JoinHandle

mod error;
mod handle;
mod shared;
mod waiters;

use std::sync::Arc;

use tokio::task::JoinHandle;

pub use crate::error::{ServiceError, ServiceStatusError};
pub use crate::handle::{ServiceJoinHandle, ServiceStatusJoinHandle};

/// Splits the `JoinHandle` of a service task into a cloneable status handle
/// and the owned join handle.
///
/// The task keeps running as before; it is neither polled nor affected by
/// the split. Clone the status handle as often as needed, or make more with
/// [`ServiceJoinHandle::status_handle`].
pub fn split(handle: JoinHandle<()>) -> (ServiceStatusJoinHandle, ServiceJoinHandle) {
    let owned = ServiceJoinHandle::new(shared::Waiter::new(Arc::new(shared::Shared::new(handle))));
    (owned.status_handle(), owned)
}
