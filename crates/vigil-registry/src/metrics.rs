//! Point-in-time snapshots of every live instance (per-name figures: `names.rs`).

use std::time::Duration;

use vigil_monitor::{
    utilization_percent, Clock, MonitorReport, MonitorSnapshot, PollHistogram, SchedulingSnapshot,
    SlowPollSnapshot, UsageSample,
};

use crate::id::ServiceId;
use crate::names::{GroupTotals, ServiceGroupMetrics};
use crate::watch::RuntimeSnapshot;

/// The figures of one live service instance at the moment of a snapshot.
///
/// See `docs/metrics.md` for the meaning, unit and known error of every field. With the
/// `serde` feature it (de)serializes as the figures of an `instances` entry of the snapshot
/// document (`docs/snapshot-json.md`): durations as integer nanoseconds (`total_busy_ns`,
/// `current_poll_ns`, `age_ns`), a monitor that is not attached as `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct ServiceMetrics {
    /// Completed polls (including one that panicked); a poll still running is not counted.
    pub poll_count: u64,
    /// Total time spent inside `poll` since the start, including a poll still running.
    /// Monotonic: never reset, never decreases.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "total_busy_ns", with = "vigil_monitor::duration_ns")
    )]
    pub total_busy_duration: Duration,
    /// Percentage (0..=100) of the registry's window (default 5 s) spent inside `poll`.
    pub utilization: u8,
    /// How long the poll in progress has been running, if the instance is inside one now.
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "current_poll_ns",
            with = "vigil_monitor::duration_ns::option"
        )
    )]
    pub current_poll_duration: Option<Duration>,
    /// Time since the instance was started.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "age_ns", with = "vigil_monitor::duration_ns")
    )]
    pub age: Duration,
    /// Slow and fast polls, if the registry attaches
    /// [`SlowPolls`](crate::SlowPolls).
    pub slow_polls: Option<SlowPollSnapshot>,
    /// The poll-duration histogram, if the registry attaches
    /// [`PollHistograms`](crate::PollHistograms).
    pub poll_histogram: Option<PollHistogram>,
    /// Scheduling delay and idle time, if the registry attaches
    /// [`Scheduling`](crate::Scheduling).
    pub scheduling: Option<SchedulingSnapshot>,
}

impl ServiceMetrics {
    /// The default monitor's snapshot plus what the attached monitors reported.
    pub fn new(snapshot: MonitorSnapshot, report: MonitorReport) -> Self {
        CoreMetrics::from(snapshot).with_report(report)
    }

    /// The default monitor's figures and the attached monitors' report.
    #[cfg(any(test, feature = "serde"))]
    fn split(self) -> (CoreMetrics, MonitorReport) {
        let core = CoreMetrics::new(
            self.poll_count,
            self.total_busy_duration,
            self.utilization,
            self.current_poll_duration,
            self.age,
        );
        let mut report = MonitorReport::default();
        report.slow_polls = self.slow_polls;
        report.poll_histogram = self.poll_histogram;
        report.scheduling = self.scheduling;
        (core, report)
    }

    /// `true` if the instance is inside a poll right now.
    pub fn is_in_poll(&self) -> bool {
        self.current_poll_duration.is_some()
    }
}

impl From<MonitorSnapshot> for ServiceMetrics {
    /// Without any attached monitor's figures.
    fn from(snapshot: MonitorSnapshot) -> Self {
        Self::new(snapshot, MonitorReport::default())
    }
}

/// The default monitor's figures of one instance: what every snapshot stores per instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CoreMetrics {
    poll_count: u64,
    /// Nanoseconds, like the two below: 8 bytes each where a `Duration` takes 16, and no
    /// split into seconds while a snapshot is being taken.
    total_busy_ns: u64,
    /// [`NOT_IN_POLL`] between polls.
    current_poll_ns: u64,
    age_ns: u64,
    utilization: u8,
}

/// [`CoreMetrics::current_poll_ns`] of an instance that is not inside a poll.
const NOT_IN_POLL: u64 = u64::MAX;

/// A duration in whole nanoseconds, saturating (at 584 years).
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl From<MonitorSnapshot> for CoreMetrics {
    fn from(snapshot: MonitorSnapshot) -> Self {
        Self::new(
            snapshot.poll_count,
            snapshot.total_busy_duration,
            snapshot.utilization,
            snapshot.current_poll_duration,
            snapshot.age,
        )
    }
}

impl CoreMetrics {
    fn new(
        poll_count: u64,
        total_busy: Duration,
        utilization: u8,
        current_poll: Option<Duration>,
        age: Duration,
    ) -> Self {
        Self {
            poll_count,
            total_busy_ns: nanos(total_busy),
            current_poll_ns: current_poll
                .map_or(NOT_IN_POLL, |duration| nanos(duration).min(NOT_IN_POLL - 1)),
            age_ns: nanos(age),
            utilization,
        }
    }

    /// The figures of a live instance's `sample`, converted with its monitor's `clock`: the
    /// same values as `sample.to_snapshot(clock)`, without building durations.
    #[inline]
    pub(crate) fn from_sample<C: Clock>(sample: &UsageSample, clock: &C) -> Self {
        Self {
            poll_count: sample.poll_count,
            total_busy_ns: clock.ticks_to_nanos(sample.total_busy_ticks()),
            current_poll_ns: sample.current_poll_ticks().map_or(NOT_IN_POLL, |ticks| {
                clock.ticks_to_nanos(ticks).min(NOT_IN_POLL - 1)
            }),
            age_ns: clock.ticks_to_nanos(sample.now.saturating_sub(sample.created_at)),
            utilization: utilization_percent(sample),
        }
    }

    /// Polls so far.
    pub(crate) fn poll_count(&self) -> u64 {
        self.poll_count
    }

    /// Busy time so far, in nanoseconds.
    pub(crate) fn total_busy_ns(&self) -> u64 {
        self.total_busy_ns
    }

    fn with_report(self, report: MonitorReport) -> ServiceMetrics {
        ServiceMetrics {
            poll_count: self.poll_count,
            total_busy_duration: Duration::from_nanos(self.total_busy_ns),
            utilization: self.utilization,
            current_poll_duration: (self.current_poll_ns != NOT_IN_POLL)
                .then(|| Duration::from_nanos(self.current_poll_ns)),
            age: Duration::from_nanos(self.age_ns),
            slow_polls: report.slow_polls,
            poll_histogram: report.poll_histogram,
            scheduling: report.scheduling,
        }
    }
}

/// A point-in-time snapshot of every live instance of a [`Registry`](crate::Registry).
///
/// All instances are read against one clock reading, so their figures are comparable.
/// Finished instances (completed, panicked, cancelled) are never included.
///
/// # Layout
///
/// Taking a snapshot of many instances is bound by memory traffic, so it stores 96 bytes per
/// instance (id and the default monitor's figures), plus the attached monitors' reports
/// (about 330 bytes) only when the registry has monitors that report. [`ServiceMetrics`]
/// values are assembled when read.
#[derive(Debug, Clone, Default)]
pub struct ServicesMetrics {
    /// Sorted by `ServiceId` (name, then instance id).
    entries: Vec<(ServiceId, CoreMetrics)>,
    /// Empty, or one report per entry, in the same order.
    reports: Vec<MonitorReport>,
    /// Every name the registry knows, live instances or not, sorted by name.
    totals: Vec<GroupTotals>,
    taken_at: Duration,
    /// The watched runtimes, in the order they were first watched.
    runtimes: Vec<RuntimeSnapshot>,
}

impl ServicesMetrics {
    /// Builds a snapshot from entries sorted by id, their reports (empty, or one each), and
    /// the lifetime totals of every known name, sorted by name (a superset of the entries'
    /// names).
    pub(crate) fn from_parts(
        entries: Vec<(ServiceId, CoreMetrics)>,
        reports: Vec<MonitorReport>,
        totals: Vec<GroupTotals>,
        taken_at: Duration,
    ) -> Self {
        debug_assert!(entries.windows(2).all(|pair| pair[0].0 < pair[1].0));
        debug_assert!(reports.is_empty() || reports.len() == entries.len());
        debug_assert!(totals.windows(2).all(|pair| pair[0].name < pair[1].name));
        Self {
            entries,
            reports,
            totals,
            taken_at,
            runtimes: Vec::new(),
        }
    }

    /// The same snapshot with the watched runtimes' figures.
    pub(crate) fn with_runtimes(mut self, runtimes: Vec<RuntimeSnapshot>) -> Self {
        self.runtimes = runtimes;
        self
    }

    /// Builds a snapshot from full entries sorted by id and the totals of every name, sorted
    /// by name (a superset of the entries' names).
    #[cfg(any(test, feature = "serde"))]
    pub(crate) fn from_full(
        entries: Vec<(ServiceId, ServiceMetrics)>,
        totals: Vec<GroupTotals>,
        taken_at: Duration,
    ) -> Self {
        let (entries, reports): (_, Vec<MonitorReport>) = entries
            .into_iter()
            .map(|(id, metrics)| {
                let (core, report) = metrics.split();
                ((id, core), report)
            })
            .unzip();
        // Reports that say nothing are not stored, as by a registry without reporting
        // monitors.
        let reports = if reports
            .iter()
            .all(|report| *report == MonitorReport::default())
        {
            Vec::new()
        } else {
            reports
        };
        Self::from_parts(entries, reports, totals, taken_at)
    }

    /// Builds a snapshot from full entries sorted by id.
    #[cfg(test)]
    pub(crate) fn from_sorted(
        entries: Vec<(ServiceId, ServiceMetrics)>,
        taken_at: Duration,
    ) -> Self {
        // Every instance counted as started once, nothing ended.
        let mut totals: Vec<GroupTotals> = Vec::new();
        for (id, core) in &entries {
            if totals.last().map(|last| last.name) != Some(id.name()) {
                totals.push(GroupTotals::empty(id.name()));
            }
            let last = totals.last_mut().expect("pushed above");
            last.starts += 1;
            last.poll_count += core.poll_count;
            last.total_busy_duration += core.total_busy_duration;
        }
        Self::from_full(entries, totals, taken_at)
    }

    /// The full figures of the entry at `index`.
    fn entry(&self, index: usize) -> (ServiceId, ServiceMetrics) {
        let (id, core) = self.entries[index];
        let report = self.reports.get(index).copied().unwrap_or_default();
        (id, core.with_report(report))
    }

    /// When the snapshot was taken, as time since the registry was created (on the
    /// registry's clock). The difference between two snapshots' `taken_at` is the interval
    /// [`delta_since`](ServicesMetrics::delta_since) covers.
    pub fn taken_at(&self) -> Duration {
        self.taken_at
    }

    /// The same snapshot without its instances: every name's lifetime counters, mailbox
    /// and the runtimes, as when no instance was live. What the earlier side of interval
    /// figures needs ([`verdicts_since`](ServicesMetrics::verdicts_since), per-name deltas)
    /// at a few hundred bytes per name (about 1 KiB with a lifetime histogram), where the
    /// whole snapshot keeps 96 bytes or more per live instance: keep this as a baseline.
    pub fn without_instances(&self) -> ServicesMetrics {
        Self {
            entries: Vec::new(),
            reports: Vec::new(),
            totals: self.totals.clone(),
            taken_at: self.taken_at,
            runtimes: self.runtimes.clone(),
        }
    }

    /// The runtimes the registry watches
    /// ([`Registry::watch_runtime`](crate::Registry::watch_runtime)), read with the
    /// snapshot, in the order they were first watched; empty if it watches none.
    pub fn runtimes(&self) -> &[RuntimeSnapshot] {
        &self.runtimes
    }

    /// The watched runtime named `name`, if any.
    pub fn runtime(&self, name: &str) -> Option<&RuntimeSnapshot> {
        self.runtimes.iter().find(|runtime| runtime.name == name)
    }

    /// Every live instance, in id order (name, then instance id).
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            snapshot: self,
            range: 0..self.entries.len(),
        }
    }

    /// Number of live instances.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` if no instance was live.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The figures of one instance, if it was live. `O(log n)`.
    pub fn get(&self, id: ServiceId) -> Option<ServiceMetrics> {
        self.entries
            .binary_search_by(|(entry, _)| entry.cmp(&id))
            .ok()
            .map(|index| self.entry(index).1)
    }

    /// The entries of one service name: `start..end`.
    fn range_of(&self, name: &str) -> std::ops::Range<usize> {
        let start = self.entries.partition_point(|(id, _)| id.name() < name);
        let end = self.entries.partition_point(|(id, _)| id.name() <= name);
        start..end
    }

    /// The live instances of one service name, in instance order.
    pub fn instances_of(&self, name: &str) -> Iter<'_> {
        Iter {
            snapshot: self,
            range: self.range_of(name),
        }
    }

    /// One entry per service name the registry has ever started (or counted a restart
    /// of), in name order: its lifetime counters and the aggregate of its live instances. A
    /// name whose instances have all ended stays, with `instances == 0`.
    pub fn groups(&self) -> impl ExactSizeIterator<Item = ServiceGroupMetrics> + '_ {
        self.totals.iter().map(|totals| self.aggregate(totals))
    }

    /// The entry of one service name, if the registry has ever started it. `O(log n)` plus
    /// the name's live instances.
    pub fn group(&self, name: &str) -> Option<ServiceGroupMetrics> {
        let index = self
            .totals
            .binary_search_by(|totals| totals.name.cmp(name))
            .ok()?;
        Some(self.aggregate(&self.totals[index]))
    }

    fn aggregate(&self, totals: &GroupTotals) -> ServiceGroupMetrics {
        ServiceGroupMetrics::aggregate(
            totals,
            Iter {
                snapshot: self,
                range: self.range_of(totals.name),
            },
        )
    }
}

/// Equal if taken at the same time, holding the same instances with the same figures and
/// the same lifetime counters per name.
impl PartialEq for ServicesMetrics {
    fn eq(&self, other: &Self) -> bool {
        self.taken_at == other.taken_at
            && self.totals == other.totals
            && self.runtimes == other.runtimes
            && self.iter().eq(other.iter())
    }
}

/// Iterator over the instances of a [`ServicesMetrics`], in id order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    snapshot: &'a ServicesMetrics,
    range: std::ops::Range<usize>,
}

impl Iterator for Iter<'_> {
    type Item = (ServiceId, ServiceMetrics);

    fn next(&mut self) -> Option<Self::Item> {
        self.range.next().map(|index| self.snapshot.entry(index))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.range.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.range
            .next_back()
            .map(|index| self.snapshot.entry(index))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a ServicesMetrics {
    type Item = (ServiceId, ServiceMetrics);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use vigil_monitor::{BusyMonitor, DefaultClock, MonitorReport, PollMonitor, PollOutcome};

    use super::{CoreMetrics, ServiceMetrics};

    proptest! {
        /// A snapshot's compact entry, read back, is exactly what the monitor's own
        /// `to_snapshot` gives for the same sample: in a poll or between polls, on the TSC
        /// clock's real conversion.
        #[test]
        fn compact_entries_read_back_as_the_monitor_snapshot(
            polls in proptest::collection::vec((0_u64..5_000_000, 0_u64..5_000_000), 0..40),
            in_flight in proptest::option::of(0_u64..5_000_000),
            later in 0_u64..50_000_000,
            window in 1_u64..20_000_000,
        ) {
            let clock = DefaultClock::new();
            let mut monitor = BusyMonitor::at(1_000, window);
            let mut now = 1_000;
            for (gap, busy) in polls {
                now += gap;
                monitor.on_poll_start(now);
                monitor.on_poll_end(now, now + busy, PollOutcome::Pending);
                now += busy;
            }
            if let Some(gap) = in_flight {
                now += gap;
                monitor.on_poll_start(now);
            }
            let sample = monitor.metrics().sample(now + later);
            let compact = CoreMetrics::from_sample(&sample, &clock);
            prop_assert_eq!(
                compact.with_report(MonitorReport::default()),
                ServiceMetrics::new(sample.to_snapshot(&clock), MonitorReport::default())
            );
        }
    }
}
