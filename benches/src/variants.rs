//! The poll-path variants, in one list shared by the timing and instruction-count harnesses.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::rc::Rc;
use std::task::{Poll, Waker};

use vigil_monitor::{
    BusyMonitor, Clock, DefaultClock, PollHistogramMonitor, SchedulingMonitor, ServiceMonitor,
    SlowPollMonitor, StdClock,
};

use vigil_profile::{PollMarker, Profiler};
use vigil_registry::{MonitorFactory, Scheduling, ServiceId, TaskId};

use crate::classic::Classic;
use crate::floor::{ClockFloor, PollCounter};
use crate::ids::poll_path::{
    BARE, CLASSIC, CLOCK_FLOOR, TOKIO_METRICS, VIGIL_ALL_MONITORS, VIGIL_DEFAULT, VIGIL_FULL_STACK,
    VIGIL_PROFILER, VIGIL_SCHEDULING, VIGIL_STACK, VIGIL_STD_CLOCK,
};

/// Receives each poll-path variant: its stable name and the future to poll.
pub trait VariantVisitor {
    /// Called once per variant, in table order.
    fn visit<F: Future>(&mut self, name: &'static str, future: F);
}

/// Hands every poll-path variant to `visitor`, in table order.
///
/// The names are the criterion ids under `poll_path/` that `cargo xtask bench` reads, from
/// [`ids::poll_path`](crate::ids::poll_path). To add a variant, add one line here and its name
/// there.
pub fn for_each_variant(visitor: &mut impl VariantVisitor) {
    visitor.visit(BARE, spinning());
    visitor.visit(VIGIL_DEFAULT, ServiceMonitor::wrap(spinning()));
    visitor.visit(VIGIL_STACK, vigil_stack(spinning()));
    visitor.visit(VIGIL_FULL_STACK, vigil_full_stack(spinning()));
    visitor.visit(VIGIL_SCHEDULING, vigil_scheduling(spinning()));
    visitor.visit(VIGIL_ALL_MONITORS, vigil_all_monitors(spinning()));
    visitor.visit(VIGIL_PROFILER, vigil_profiler(spinning()));
    visitor.visit(CLASSIC, Classic::new(spinning(), Default::default()));
    visitor.visit(
        TOKIO_METRICS,
        tokio_metrics::TaskMonitor::new().instrument(spinning()),
    );
    visitor.visit(VIGIL_STD_CLOCK, vigil_on(StdClock, spinning()));
    visitor.visit(CLOCK_FLOOR, ClockFloor::new(spinning()));
}

/// Hands each wake-path variant to `visitor`, in table order, each wrapping a future built by
/// `make` (in the benches, one that [`ParkedWaker::park`]s its waker).
///
/// The names are the rows of [`ids::wake_path`](crate::ids::wake_path): the future alone, the
/// registry's default monitor, the default monitor plus the scheduling monitor (as
/// `.monitor(Scheduling)` attaches it), and `tokio_metrics::TaskMonitor`, which wraps the waker
/// too.
pub fn for_each_wake_variant<F: Future>(
    visitor: &mut impl VariantVisitor,
    mut make: impl FnMut() -> F,
) {
    visitor.visit(BARE, make());
    visitor.visit(VIGIL_DEFAULT, ServiceMonitor::wrap(make()));
    visitor.visit(VIGIL_SCHEDULING, vigil_scheduling(make()));
    visitor.visit(
        TOKIO_METRICS,
        tokio_metrics::TaskMonitor::new().instrument(make()),
    );
}

/// The waker a [`parked`] future registered at its latest poll, to wake it from outside the
/// poll (one thread: the benches wake and poll on the bench thread).
#[derive(Debug, Clone, Default)]
pub struct ParkedWaker(Rc<RefCell<Option<Waker>>>);

impl ParkedWaker {
    /// Keeps `waker`, unless the one kept already wakes the same task (as a leaf future
    /// registers with an `AtomicWaker`: no clone when unchanged).
    #[inline]
    pub fn park(&self, waker: &Waker) {
        let mut slot = self.0.borrow_mut();
        if !slot.as_ref().is_some_and(|parked| parked.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }

    /// Wakes the parked waker by reference, as an I/O driver or a channel's sender does.
    ///
    /// # Panics
    ///
    /// If no future parked a waker here yet.
    #[inline]
    pub fn wake_by_ref(&self) {
        self.0
            .borrow()
            .as_ref()
            .expect("a future parked its waker")
            .wake_by_ref();
    }
}

/// A future that stays pending and leaves its waking to others: each poll parks its waker in
/// `parked` and returns `Pending`.
pub fn parked(parked: ParkedWaker) -> impl Future<Output = ()> + Unpin {
    poll_fn(move |cx| {
        parked.park(cx.waker());
        Poll::Pending
    })
}

/// The polled workload: always pending and always ready to be polled again (it wakes itself).
pub fn spinning() -> impl Future<Output = ()> + Send + Unpin {
    poll_fn(|cx| {
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

/// vigil's default monitor on another clock.
pub fn vigil_on<F: Future, C: Clock>(clock: C, future: F) -> ServiceMonitor<F, BusyMonitor, C> {
    ServiceMonitor::with_monitor(future, BusyMonitor::new(&clock), clock)
}

/// vigil's default monitor plus a trivial custom monitor, sharing the two clock reads.
pub fn vigil_stack<F: Future>(
    future: F,
) -> ServiceMonitor<F, (BusyMonitor, PollCounter), DefaultClock> {
    let clock = DefaultClock::new();
    let monitors = (BusyMonitor::new(&clock), PollCounter::default());
    ServiceMonitor::with_monitor(future, monitors, clock)
}

/// vigil's default monitor plus the shipped optional monitors: slow-poll counter (default
/// threshold) and poll-duration histogram.
pub fn vigil_full_stack<F: Future>(
    future: F,
) -> ServiceMonitor<F, (BusyMonitor, SlowPollMonitor, PollHistogramMonitor), DefaultClock> {
    let clock = DefaultClock::new();
    let monitors = (
        BusyMonitor::new(&clock),
        SlowPollMonitor::new(&clock),
        PollHistogramMonitor::new(&clock),
    );
    ServiceMonitor::with_monitor(future, monitors, clock)
}

/// vigil's default monitor plus the waker-wrapping scheduling monitor, built by the factory
/// a registry built with `.monitor(Scheduling)` uses. In the poll path the workload wakes
/// itself on every poll, so each poll also pays one wake through the wrapper (a clock read,
/// a compare-exchange and the executor waker's clone under a mutex): the worst case for this
/// monitor.
pub fn vigil_scheduling<F: Future>(
    future: F,
) -> ServiceMonitor<F, (BusyMonitor, SchedulingMonitor), DefaultClock> {
    let clock = DefaultClock::new();
    let id = ServiceId::new(TaskId::new("bench"), 0);
    let (scheduling, _metrics) = MonitorFactory::create(&Scheduling, &id, &clock);
    let monitors = (BusyMonitor::new(&clock), scheduling);
    ServiceMonitor::with_monitor(future, monitors, clock)
}

/// Every shipped monitor at once: default, slow-poll, histogram and scheduling.
pub fn vigil_all_monitors<F: Future>(
    future: F,
) -> ServiceMonitor<
    F,
    (
        BusyMonitor,
        SlowPollMonitor,
        PollHistogramMonitor,
        SchedulingMonitor,
    ),
    DefaultClock,
> {
    let clock = DefaultClock::new();
    let monitors = (
        BusyMonitor::new(&clock),
        SlowPollMonitor::new(&clock),
        PollHistogramMonitor::new(&clock),
        SchedulingMonitor::new(&clock),
    );
    ServiceMonitor::with_monitor(future, monitors, clock)
}

/// vigil's default monitor plus the profiler's [`PollMarker`], as a registry built with
/// `.monitor(profiler)` attaches it: marks the polling thread's slot at every poll start
/// and restores it at the end. No profile runs; the peer is `vigil_default`.
///
/// # Panics
///
/// If the profiler cannot be installed (not Linux, or its signals are taken).
pub fn vigil_profiler<F: Future>(
    future: F,
) -> ServiceMonitor<F, (BusyMonitor, PollMarker), DefaultClock> {
    let clock = DefaultClock::new();
    let profiler = Profiler::install().expect("the profiler installs on this platform");
    let id = ServiceId::new(TaskId::new("bench"), 0);
    let (marker, ()) = MonitorFactory::create(&profiler, &id, &clock);
    ServiceMonitor::with_monitor(future, (BusyMonitor::new(&clock), marker), clock)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lists the names it is given.
    struct Names(Vec<&'static str>);

    impl VariantVisitor for Names {
        fn visit<F: Future>(&mut self, name: &'static str, _future: F) {
            self.0.push(name);
        }
    }

    /// `cargo xtask bench` orders the poll table by `ids::poll_path::VARIANTS`.
    #[test]
    fn visits_the_variants_in_table_order() {
        let mut names = Names(Vec::new());
        for_each_variant(&mut names);
        assert_eq!(names.0, crate::ids::poll_path::VARIANTS);
    }

    /// `cargo xtask bench` orders the wake table by `ids::wake_path::VARIANTS`.
    #[test]
    fn visits_the_wake_variants_in_table_order() {
        let mut names = Names(Vec::new());
        for_each_wake_variant(&mut names, || parked(ParkedWaker::default()));
        assert_eq!(names.0, crate::ids::wake_path::VARIANTS);
    }

    /// Every wake-path variant parks a waker that reaches it: a wake from outside the poll
    /// is seen by the next poll (the scheduling monitor counts it).
    #[test]
    fn a_parked_future_is_woken_through_every_monitor() {
        use std::pin::pin;
        use std::task::Context;

        let clock = DefaultClock::new();
        let id = ServiceId::new(TaskId::new("test"), 0);
        let (monitor, metrics) = MonitorFactory::create(&Scheduling, &id, &clock);
        let parked_waker = ParkedWaker::default();
        let mut future = pin!(ServiceMonitor::with_monitor(
            parked(parked_waker.clone()),
            monitor,
            clock.clone()
        ));
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..3 {
            assert!(future.as_mut().poll(&mut cx).is_pending());
            parked_waker.wake_by_ref();
            parked_waker.wake_by_ref();
        }
        assert!(future.as_mut().poll(&mut cx).is_pending());
        assert_eq!(metrics.snapshot(&clock).scheduled_count, 3);
    }
}
