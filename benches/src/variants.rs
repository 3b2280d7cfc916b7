//! The poll-path variants, in one list shared by the timing and instruction-count harnesses.

use std::future::{poll_fn, Future};
use std::task::Poll;

use vigil_monitor::{
    BusyMonitor, Clock, DefaultClock, PollHistogramMonitor, SchedulingMonitor, ServiceMonitor,
    SlowPollMonitor, StdClock,
};

use vigil_profile::{PollMarker, Profiler};
use vigil_registry::{MonitorFactory, ServiceId, TaskId};

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

/// vigil's default monitor plus the waker-wrapping scheduling monitor. The workload wakes
/// itself on every poll, so each poll also pays one wake through the wrapper (a clock read
/// and a compare-exchange on the waking thread): the worst case for this monitor.
pub fn vigil_scheduling<F: Future>(
    future: F,
) -> ServiceMonitor<F, (BusyMonitor, SchedulingMonitor), DefaultClock> {
    let clock = DefaultClock::new();
    let monitors = (BusyMonitor::new(&clock), SchedulingMonitor::new(&clock));
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
}
