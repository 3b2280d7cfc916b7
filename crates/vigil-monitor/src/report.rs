//! Reports: how the built-in monitors' readers hand their figures to a snapshot.

use std::sync::Arc;

use crate::clock::Clock;
use crate::histogram::{PollHistogram, PollHistogramMetrics};
use crate::scheduling::{SchedulingMetrics, SchedulingSnapshot};
use crate::slow_poll::{SlowPollMetrics, SlowPollSnapshot};

/// The figures of the built-in optional monitors, for one instance; `None` where the
/// monitor is not attached.
///
/// `Copy` (about 300 bytes), so snapshots that carry it stay plain values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct MonitorReport {
    /// From a [`SlowPollMonitor`](crate::SlowPollMonitor).
    pub slow_polls: Option<SlowPollSnapshot>,
    /// From a [`PollHistogramMonitor`](crate::PollHistogramMonitor).
    pub poll_histogram: Option<PollHistogram>,
    /// From a [`SchedulingMonitor`](crate::SchedulingMonitor).
    pub scheduling: Option<SchedulingSnapshot>,
}

/// The read side of a monitor: adds its current figures to a [`MonitorReport`].
///
/// Implemented by the built-in monitors' shared metrics (`Arc<SlowPollMetrics>`, ...), by
/// `()` (reports nothing) and by tuples of readers.
pub trait ReportMetrics: Send + Sync + 'static {
    /// Whether [`report`](ReportMetrics::report) writes anything. `false` lets a registry
    /// skip storing reports altogether (`()` is the only reader that reports nothing).
    const REPORTS: bool = true;

    /// Writes this reader's figures into `report`; `clock` is the monitor's clock.
    fn report<C: Clock>(&self, clock: &C, report: &mut MonitorReport);
}

impl ReportMetrics for () {
    const REPORTS: bool = false;

    #[inline]
    fn report<C: Clock>(&self, _clock: &C, _report: &mut MonitorReport) {}
}

impl ReportMetrics for Arc<SlowPollMetrics> {
    fn report<C: Clock>(&self, clock: &C, report: &mut MonitorReport) {
        report.slow_polls = Some(self.snapshot(clock));
    }
}

impl ReportMetrics for Arc<PollHistogramMetrics> {
    fn report<C: Clock>(&self, _clock: &C, report: &mut MonitorReport) {
        report.poll_histogram = Some(self.snapshot());
    }
}

impl ReportMetrics for Arc<SchedulingMetrics> {
    fn report<C: Clock>(&self, clock: &C, report: &mut MonitorReport) {
        report.scheduling = Some(self.snapshot(clock));
    }
}

macro_rules! tuple_report {
    ($($name:ident . $index:tt),+) => {
        /// Each member reports in order.
        impl<$($name: ReportMetrics),+> ReportMetrics for ($($name,)+) {
            const REPORTS: bool = $($name::REPORTS)||+;

            #[inline]
            fn report<Clk: Clock>(&self, clock: &Clk, report: &mut MonitorReport) {
                $(self.$index.report(clock, report);)+
            }
        }
    };
}

tuple_report!(A.0);
tuple_report!(A.0, B.1);
tuple_report!(A.0, B.1, D.2);
tuple_report!(A.0, B.1, D.2, E.3);
