//! The custom-monitor trait: hooks called at each poll edge with timestamps already taken.

use std::task::Waker;

use crate::clock::Ticks;

/// How a poll of the monitored future ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PollOutcome {
    /// The future returned `Poll::Pending`.
    Pending,
    /// The future returned `Poll::Ready`: it has completed and will not be polled again.
    Ready,
    /// The future panicked inside `poll`. The panic propagates unchanged after the monitors
    /// have seen this edge.
    Panicked,
}

/// A monitor of one future's polls.
///
/// [`ServiceMonitor`](crate::ServiceMonitor) owns one value of a `PollMonitor` type per
/// monitored future and calls its hooks from inside `poll`, so hooks take `&mut self` and
/// may keep plain (non-atomic) state. Whatever a monitor wants *readers* to see it must
/// publish itself, typically through atomics behind an `Arc` that the reader also holds; as
/// only the polling thread writes, plain `load` + `store` suffice (no read-modify-write).
///
/// # Contract
///
/// - The wrapper reads its [`Clock`](crate::Clock) once per poll edge and passes the same
///   readings to every hook of every monitor: `on_poll_start(start)` then
///   `on_poll_end(start, end, outcome)`, with `start <= end` on one thread.
/// - `on_poll_end` is called even when the inner poll panics (with
///   [`PollOutcome::Panicked`]), from a drop guard during unwinding. A hook that panics
///   there aborts the process, so hooks must not panic.
/// - `on_drop(completed)` is called once when the monitored future is dropped: `completed`
///   is `true` if a poll returned `Ready` (or panicked), `false` if the future was dropped
///   unfinished (cancelled, aborted, or its runtime shut down).
/// - Hooks are `#[inline]` candidates: every method has an empty default, so a monitor
///   pays only for the hooks it implements, and `()` costs nothing.
///
/// Monitors compose as tuples (up to eight): `(A, B)` calls `A`'s hook then `B`'s with
/// identical arguments.
///
/// # Substituting the waker
///
/// A monitor that needs to know when the future is *woken* (not only polled), such as
/// [`SchedulingMonitor`](crate::SchedulingMonitor), sets [`WRAPS_WAKER`](PollMonitor::WRAPS_WAKER)
/// to `true` and implements [`wrap_waker`](PollMonitor::wrap_waker): on every poll, after
/// `on_poll_start`, the wrapper passes it the executor's waker and polls the inner future
/// with the waker it returns (lent by the monitor, in a fresh [`Context`](std::task::Context)).
/// `WRAPS_WAKER` is an associated constant, so for every other monitor the test is resolved at
/// compile time and the poll path is exactly the one without the hook: no branch, no new
/// `Context`. (An associated constant makes the trait unusable as `dyn PollMonitor`; monitors
/// are generic parameters on the hot path anyway.)
///
/// In a tuple the wrappers *chain*, in order: the first wrapping member wraps the executor's
/// waker, the next wraps the first one's result, and the inner future sees the last one's.
/// A wake therefore passes through every wrapper (last to first) before reaching the
/// executor; each wrapper does its own bookkeeping (for example its own clock read).
///
/// # Examples
///
/// A monitor that remembers the longest poll:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use vigil_monitor::{PollMonitor, PollOutcome, Ticks};
///
/// #[derive(Debug, Default)]
/// struct LongestPoll {
///     longest_ticks: Arc<AtomicU64>,
///     longest_local: Ticks,
/// }
///
/// impl PollMonitor for LongestPoll {
///     fn on_poll_end(&mut self, start: Ticks, end: Ticks, _outcome: PollOutcome) {
///         let ticks = end.saturating_sub(start);
///         if ticks > self.longest_local {
///             self.longest_local = ticks;
///             // Relaxed: a single value with no other data to publish with it.
///             self.longest_ticks.store(ticks, Ordering::Relaxed);
///         }
///     }
/// }
/// ```
pub trait PollMonitor: Send {
    /// Whether [`wrap_waker`](PollMonitor::wrap_waker) may return a waker. `false` (the
    /// default) means it is never called and costs nothing; tuples are `true` if any member
    /// is.
    const WRAPS_WAKER: bool = false;

    /// Called when a poll begins, before the inner future is polled.
    #[inline]
    fn on_poll_start(&mut self, start: Ticks) {
        let _ = start;
    }

    /// Returns the waker the inner future should see in this poll instead of `waker` (the
    /// executor's), or `None` to leave it unchanged.
    ///
    /// Called on every poll, after [`on_poll_start`](PollMonitor::on_poll_start) and only if
    /// [`WRAPS_WAKER`](PollMonitor::WRAPS_WAKER) is `true`. The returned waker must wake
    /// `waker` (or a waker that [`will_wake`](Waker::will_wake) it) whenever it is woken, or
    /// the future may never be polled again; when `waker` changes from one poll to the next,
    /// the wrapper must forward to the new one from now on.
    ///
    /// The waker is *borrowed* from the monitor for the duration of the inner poll, so build
    /// it once (when the monitor is created) and keep it: a poll then costs no allocation
    /// and no reference-count traffic.
    #[inline]
    fn wrap_waker(&mut self, waker: &Waker) -> Option<&Waker> {
        let _ = waker;
        None
    }

    /// Called when a poll ends (returned or panicked), with the same `start` as
    /// [`on_poll_start`](PollMonitor::on_poll_start).
    #[inline]
    fn on_poll_end(&mut self, start: Ticks, end: Ticks, outcome: PollOutcome) {
        let _ = (start, end, outcome);
    }

    /// Called once when the monitored future is dropped.
    #[inline]
    fn on_drop(&mut self, completed: bool) {
        let _ = completed;
    }
}

/// The empty monitor: costs nothing.
impl PollMonitor for () {}

macro_rules! tuple_monitor {
    ($($name:ident . $index:tt),+) => {
        /// Calls each member's hook in order, with identical arguments.
        impl<$($name: PollMonitor),+> PollMonitor for ($($name,)+) {
            const WRAPS_WAKER: bool = $($name::WRAPS_WAKER)||+;

            #[inline]
            fn on_poll_start(&mut self, start: Ticks) {
                $(self.$index.on_poll_start(start);)+
            }

            /// Chains the wrapping members in order: each wraps the previous one's waker.
            #[inline]
            fn wrap_waker(&mut self, waker: &Waker) -> Option<&Waker> {
                let mut wrapped: Option<&Waker> = None;
                $(
                    if $name::WRAPS_WAKER {
                        if let Some(next) = self.$index.wrap_waker(wrapped.unwrap_or(waker)) {
                            wrapped = Some(next);
                        }
                    }
                )+
                wrapped
            }

            #[inline]
            fn on_poll_end(&mut self, start: Ticks, end: Ticks, outcome: PollOutcome) {
                $(self.$index.on_poll_end(start, end, outcome);)+
            }

            #[inline]
            fn on_drop(&mut self, completed: bool) {
                $(self.$index.on_drop(completed);)+
            }
        }
    };
}

tuple_monitor!(A.0);
tuple_monitor!(A.0, B.1);
tuple_monitor!(A.0, B.1, C.2);
tuple_monitor!(A.0, B.1, C.2, D.3);
tuple_monitor!(A.0, B.1, C.2, D.3, E.4);
tuple_monitor!(A.0, B.1, C.2, D.3, E.4, F.5);
tuple_monitor!(A.0, B.1, C.2, D.3, E.4, F.5, G.6);
tuple_monitor!(A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7);
