//! Per-instance monitors attached to every service a registry starts.

use std::time::Duration;

use vigil_monitor::{
    Clock, PollHistogramMonitor, PollMonitor, ReportMetrics, SchedulingMonitor, SlowPollMonitor,
    DEFAULT_SLOW_POLL_THRESHOLD,
};

use crate::id::ServiceId;

/// Builds the extra monitors of each instance a [`Registry`](crate::Registry) starts.
///
/// The registry always runs its own [`BusyMonitor`](vigil_monitor::BusyMonitor); the
/// factory's monitor runs beside it, with the same timestamps, as the tuple
/// `(BusyMonitor, F::Monitor)`. The type is fixed per registry, so the poll path stays
/// generic: no `dyn` call per poll. `()` attaches nothing and costs nothing.
///
/// Ready-made factories report into every snapshot ([`ServiceMetrics`](crate::ServiceMetrics)
/// fields `slow_polls`, `poll_histogram`, `scheduling`): [`SlowPolls`], [`PollHistograms`],
/// [`Scheduling`], and tuples of factories, e.g. `(SlowPolls::default(), PollHistograms)`.
///
/// Any `Fn(&ServiceId) -> M` closure is also a factory, for custom monitors: its monitors
/// report nothing to snapshots, so keep their read side yourself (e.g. in a map the closure
/// fills).
///
/// The factory runs while the registry holds the service name's lock: keep it short. If it
/// panics, the start fails with that panic and no instance id is consumed.
pub trait MonitorFactory<C: Clock>: Send + Sync + 'static {
    /// The per-instance monitor.
    type Monitor: PollMonitor + 'static;
    /// What the registry keeps to read the monitor in snapshots.
    type Reader: ReportMetrics;

    /// Builds the monitor of the instance `id`, which is about to start, and its reader.
    /// `clock` is the registry's: convert thresholds with it.
    fn create(&self, id: &ServiceId, clock: &C) -> (Self::Monitor, Self::Reader);
}

impl<C: Clock> MonitorFactory<C> for () {
    type Monitor = ();
    type Reader = ();

    #[inline]
    fn create(&self, _id: &ServiceId, _clock: &C) -> ((), ()) {
        ((), ())
    }
}

impl<C, F, M> MonitorFactory<C> for F
where
    C: Clock,
    F: Fn(&ServiceId) -> M + Send + Sync + 'static,
    M: PollMonitor + 'static,
{
    type Monitor = M;
    type Reader = ();

    #[inline]
    fn create(&self, id: &ServiceId, _clock: &C) -> (M, ()) {
        (self(id), ())
    }
}

/// Attaches a [`SlowPollMonitor`] to every instance.
#[derive(Debug, Clone, Copy)]
pub struct SlowPolls {
    threshold: Duration,
}

impl SlowPolls {
    /// A poll is slow if it lasts longer than `threshold`.
    pub fn with_threshold(threshold: Duration) -> Self {
        Self { threshold }
    }
}

impl Default for SlowPolls {
    /// The default threshold, 50 µs.
    fn default() -> Self {
        Self::with_threshold(DEFAULT_SLOW_POLL_THRESHOLD)
    }
}

impl<C: Clock> MonitorFactory<C> for SlowPolls {
    type Monitor = SlowPollMonitor;
    type Reader = std::sync::Arc<vigil_monitor::SlowPollMetrics>;

    fn create(&self, _id: &ServiceId, clock: &C) -> (Self::Monitor, Self::Reader) {
        let monitor = SlowPollMonitor::with_threshold(clock, self.threshold);
        let reader = monitor.metrics().clone();
        (monitor, reader)
    }
}

/// Attaches a [`PollHistogramMonitor`] to every instance.
#[derive(Debug, Clone, Copy, Default)]
pub struct PollHistograms;

impl<C: Clock> MonitorFactory<C> for PollHistograms {
    type Monitor = PollHistogramMonitor;
    type Reader = std::sync::Arc<vigil_monitor::PollHistogramMetrics>;

    fn create(&self, _id: &ServiceId, clock: &C) -> (Self::Monitor, Self::Reader) {
        let monitor = PollHistogramMonitor::new(clock);
        let reader = monitor.metrics().clone();
        (monitor, reader)
    }
}

/// Attaches a [`SchedulingMonitor`] to every instance (it wraps the waker: one allocation
/// per instance and a clock read per wake; see `docs/metrics.md`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Scheduling;

impl<C: Clock> MonitorFactory<C> for Scheduling {
    type Monitor = SchedulingMonitor<C>;
    type Reader = std::sync::Arc<vigil_monitor::SchedulingMetrics>;

    fn create(&self, _id: &ServiceId, clock: &C) -> (Self::Monitor, Self::Reader) {
        let monitor = SchedulingMonitor::new(clock);
        let reader = monitor.metrics().clone();
        (monitor, reader)
    }
}

macro_rules! tuple_factory {
    ($($name:ident . $index:tt),+) => {
        /// Each member builds its monitor; the monitors and readers form tuples.
        impl<Clk: Clock, $($name: MonitorFactory<Clk>),+> MonitorFactory<Clk> for ($($name,)+) {
            type Monitor = ($($name::Monitor,)+);
            type Reader = ($($name::Reader,)+);

            #[allow(non_snake_case)] // The bindings are named after the type parameters.
            fn create(&self, id: &ServiceId, clock: &Clk) -> (Self::Monitor, Self::Reader) {
                $(let $name = self.$index.create(id, clock);)+
                (($($name.0,)+), ($($name.1,)+))
            }
        }
    };
}

tuple_factory!(A.0);
tuple_factory!(A.0, B.1);
tuple_factory!(A.0, B.1, D.2);
tuple_factory!(A.0, B.1, D.2, E.3);
