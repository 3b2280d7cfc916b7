//! `ServiceMonitor`: the future wrapper that reads the clock at each poll edge.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::clock::{Clock, DefaultClock, Ticks};
use crate::monitor::{PollMonitor, PollOutcome};
use crate::raw::{BusyMonitor, RawMetrics};

pin_project! {
    /// A future that times every poll of the future it wraps and reports to a monitor `M`.
    ///
    /// The output of the inner future passes through unchanged, and so does a panic. The
    /// clock is read exactly twice per poll whatever `M` is; see [`PollMonitor`] for the
    /// hook contract. If `M` wraps the waker ([`PollMonitor::WRAPS_WAKER`]), the inner future
    /// is polled with a [`Context`] built around the monitor's waker; otherwise with the
    /// caller's `Context`, untouched.
    ///
    /// # Examples
    ///
    /// ```
    /// use vigil_monitor::ServiceMonitor;
    ///
    /// let monitored = ServiceMonitor::wrap(async { 40 + 2 });
    /// let metrics = monitored.metrics().clone();
    /// assert_eq!(futures_util::FutureExt::now_or_never(monitored), Some(42));
    /// let snapshot = metrics.snapshot(&vigil_monitor::DefaultClock::new());
    /// assert_eq!(snapshot.poll_count, 1);
    /// assert!(snapshot.lifecycle.is_finished());
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Dropping a `ServiceMonitor` drops the inner future and tells the monitor through
    /// [`PollMonitor::on_drop`]; no poll is lost or double counted.
    #[derive(Debug)]
    pub struct ServiceMonitor<F, M = BusyMonitor, C = DefaultClock>
    where
        M: PollMonitor,
    {
        #[pin]
        future: F,
        monitor: M,
        clock: C,
        completed: bool,
    }

    impl<F, M, C> PinnedDrop for ServiceMonitor<F, M, C>
    where
        M: PollMonitor,
    {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.monitor.on_drop(*this.completed);
        }
    }
}

impl<F: Future> ServiceMonitor<F> {
    /// Wraps `future` with the default monitor, on the default clock.
    pub fn wrap(future: F) -> Self {
        let clock = DefaultClock::new();
        let monitor = BusyMonitor::new(&clock);
        Self::with_monitor(future, monitor, clock)
    }
}

impl<F, C: Clock, S: Deref<Target = RawMetrics> + Send> ServiceMonitor<F, BusyMonitor<S>, C> {
    /// The default monitor's shared metrics.
    pub fn metrics(&self) -> &S {
        self.monitor.metrics()
    }
}

impl<F, M: PollMonitor, C: Clock> ServiceMonitor<F, M, C> {
    /// Wraps `future`, reporting to `monitor` with timestamps from `clock`.
    pub fn with_monitor(future: F, monitor: M, clock: C) -> Self {
        Self {
            future,
            monitor,
            clock,
            completed: false,
        }
    }

    /// The monitor, to reach the read handles it exposes.
    pub fn monitor(&self) -> &M {
        &self.monitor
    }

    /// The clock the monitor's timestamps come from.
    pub fn clock(&self) -> &C {
        &self.clock
    }
}

/// Reports the end of a poll that unwinds: armed before the inner poll, disarmed (never
/// dropped) when it returns, so the normal end of a poll is inline code and only the unwind
/// path runs this drop.
struct UnwindEdge<'a, M: PollMonitor, C: Clock> {
    monitor: &'a mut M,
    clock: &'a C,
    start: Ticks,
}

impl<M: PollMonitor, C: Clock> Drop for UnwindEdge<'_, M, C> {
    #[cold]
    fn drop(&mut self) {
        let end = self.clock.now();
        self.monitor
            .on_poll_end(self.start, end, PollOutcome::Panicked);
    }
}

impl<F: Future, M: PollMonitor, C: Clock> Future for ServiceMonitor<F, M, C> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let start = this.clock.now();
        this.monitor.on_poll_start(start);
        // Until the inner poll returns, the only way out is unwinding: report it as a panic.
        // A panicking future must not be polled again, so it counts as completed for drop.
        *this.completed = true;
        let edge = UnwindEdge {
            monitor: this.monitor,
            clock: this.clock,
            start,
        };
        // A compile-time constant: without a waker-wrapping monitor only the `else` remains.
        let poll = if M::WRAPS_WAKER {
            // Called while the guard is armed, so a panic here still reports the poll's end.
            match edge.monitor.wrap_waker(cx.waker()) {
                Some(waker) => this.future.poll(&mut Context::from_waker(waker)),
                None => this.future.poll(cx),
            }
        } else {
            this.future.poll(cx)
        };
        // Returned normally: disarm the guard (it is never dropped) and end the poll here,
        // inline.
        let mut edge = ManuallyDrop::new(edge);
        let end = edge.clock.now();
        let outcome = if poll.is_ready() {
            PollOutcome::Ready
        } else {
            *this.completed = false;
            PollOutcome::Pending
        };
        edge.monitor.on_poll_end(start, end, outcome);
        poll
    }
}
