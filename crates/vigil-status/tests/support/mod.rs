//! What the integration tests share: the two ways of starting a service, how it ended, a seeded generator.

// Each test binary uses a different part of this module.
#![allow(dead_code, unused_imports)]

use std::future::{poll_fn, Future};
use std::pin::Pin;
// Test bookkeeping: every atomic here is SeqCst, the simplest ordering to reason about; no
// hot path depends on it.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;

use vigil_status::{ServiceError, ServiceJoinHandle, ServiceStatusError, ServiceStatusJoinHandle};

mod rng;

pub(crate) use rng::Rng;

/// The two ways of getting a service's handles; every scenario runs with both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Start {
    /// `split(tokio::spawn(future))`: the handles read tokio's `JoinHandle`.
    Split,
    /// `spawn(&Handle::current(), future)`: the wrapper records the ending.
    Spawn,
}

impl Start {
    /// Starts `future` as a task on the current runtime, this way.
    pub(crate) fn start<F>(self, future: F) -> (ServiceStatusJoinHandle, ServiceJoinHandle)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match self {
            Start::Split => vigil_status::split(tokio::spawn(future)),
            Start::Spawn => vigil_status::spawn(&tokio::runtime::Handle::current(), future),
        }
    }
}

/// Defines a scenario `fn name(start: Start)` (async or not) and, in a module of the same
/// name, one test per way of starting: `name::split` and `name::spawn`, each carrying the
/// attributes written above the scenario (`#[test]`, `#[tokio::test(..)]`, `#[should_panic]`).
macro_rules! for_both_starts {
    ($(#[$attr:meta])* async fn $name:ident($start:ident: Start) $body:block) => {
        mod $name {
            use super::*;

            async fn scenario($start: Start) $body

            $(#[$attr])*
            async fn split() {
                scenario(Start::Split).await
            }

            $(#[$attr])*
            async fn spawn() {
                scenario(Start::Spawn).await
            }
        }
    };
    ($(#[$attr:meta])* fn $name:ident($start:ident: Start) $body:block) => {
        mod $name {
            use super::*;

            fn scenario($start: Start) $body

            $(#[$attr])*
            fn split() {
                scenario(Start::Split)
            }

            $(#[$attr])*
            fn spawn() {
                scenario(Start::Spawn)
            }
        }
    };
}

pub(crate) use for_both_starts;

/// Polls `fut` exactly once, inside the current task.
pub(crate) async fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(Pin::new(&mut *fut).poll(cx))).await
}

/// The kind of ending a handle reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Ok,
    Panicked,
    Cancelled,
}

impl Kind {
    /// What a status handle reported; its error is one kind or the other, never both.
    pub(crate) fn of_status(result: &Result<(), ServiceStatusError>) -> Self {
        match result {
            Ok(()) => Kind::Ok,
            Err(err) => {
                assert_ne!(err.is_panic(), err.is_cancelled(), "{err:?}");
                if err.is_panic() {
                    Kind::Panicked
                } else {
                    Kind::Cancelled
                }
            }
        }
    }

    /// What the owned handle reported, through the status its error carries.
    pub(crate) fn of_owned(result: &Result<(), ServiceError>) -> Self {
        let status = result.as_ref().copied().map_err(ServiceError::status);
        Kind::of_status(&status)
    }
}

/// A panic payload that names the service that panicked and counts its own drops, to check
/// that a payload reaches the right owned handle, or is dropped, exactly once.
pub(crate) struct Boom {
    pub(crate) id: u64,
    pub(crate) drops: Arc<AtomicUsize>,
}

impl Drop for Boom {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}
