//! What the integration tests share: the two ways of starting a service, and a seeded generator.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

use vigil_status::{ServiceJoinHandle, ServiceStatusJoinHandle};

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

/// SplitMix64: a small deterministic generator, so a failing iteration can be replayed from
/// its number.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(crate) fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}
