//! The floor of vigil's design (two clock reads, nothing recorded) and a trivial custom monitor.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use vigil_monitor::{Clock, DefaultClock, PollMonitor, PollOutcome, Ticks};

pin_project! {
    /// Reads the production clock at both poll edges and records nothing.
    ///
    /// Any monitor must read the clock twice per poll, so this is the floor of the per-poll
    /// overhead, measured in the same context as the monitors (the clock micro-benchmark
    /// measures back-to-back reads instead).
    #[derive(Debug)]
    pub struct ClockFloor<F> {
        #[pin]
        future: F,
        clock: DefaultClock,
    }
}

impl<F> ClockFloor<F> {
    /// Wraps `future`.
    pub fn new(future: F) -> Self {
        Self {
            future,
            clock: DefaultClock::new(),
        }
    }
}

impl<F: Future> Future for ClockFloor<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let start = this.clock.now();
        let poll = this.future.poll(cx);
        black_box(this.clock.now().wrapping_sub(start));
        poll
    }
}

/// A trivial custom monitor: counts polls locally and publishes the count.
#[derive(Debug, Default)]
pub struct PollCounter {
    polls: u64,
    published: Arc<AtomicU64>,
}

impl PollCounter {
    /// The published poll count.
    pub fn polls(&self) -> &Arc<AtomicU64> {
        &self.published
    }
}

impl PollMonitor for PollCounter {
    #[inline]
    fn on_poll_end(&mut self, _start: Ticks, _end: Ticks, _outcome: PollOutcome) {
        self.polls += 1;
        // Relaxed: a lone counter, published with nothing else.
        self.published.store(self.polls, Ordering::Relaxed);
    }
}
