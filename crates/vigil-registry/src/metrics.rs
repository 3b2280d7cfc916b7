//! Point-in-time snapshots of every live instance, and per-name aggregates.

use std::time::Duration;

use vigil_monitor::{
    MonitorReport, MonitorSnapshot, PollHistogram, SchedulingSnapshot, SlowPollSnapshot,
};

use crate::id::ServiceId;

/// The figures of one live service instance at the moment of a snapshot.
///
/// See `docs/metrics.md` for the meaning, unit and known error of every field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceMetrics {
    /// Completed polls (including one that panicked); a poll still running is not counted.
    pub poll_count: u64,
    /// Total time spent inside `poll` since the start, including a poll still running.
    /// Monotonic: never reset, never decreases.
    pub total_busy_duration: Duration,
    /// Percentage (0..=100) of the registry's window (default 5 s) spent inside `poll`.
    pub utilization: u8,
    /// How long the poll in progress has been running, if the instance is inside one now.
    pub current_poll_duration: Option<Duration>,
    /// Time since the instance was started.
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
        Self {
            poll_count: snapshot.poll_count,
            total_busy_duration: snapshot.total_busy_duration,
            utilization: snapshot.utilization,
            current_poll_duration: snapshot.current_poll_duration,
            age: snapshot.age,
            slow_polls: report.slow_polls,
            poll_histogram: report.poll_histogram,
            scheduling: report.scheduling,
        }
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

/// A point-in-time snapshot of every live instance of a [`Registry`](crate::Registry).
///
/// All instances are read against one clock reading, so their figures are comparable.
/// Finished instances (completed, panicked, cancelled) are never included.
#[derive(Debug, Clone, Default)]
pub struct ServicesMetrics {
    /// Sorted by `ServiceId` (name, then instance id).
    entries: Vec<(ServiceId, ServiceMetrics)>,
    taken_at: Duration,
}

impl ServicesMetrics {
    /// Builds a snapshot from entries already sorted by id.
    pub(crate) fn from_sorted(
        entries: Vec<(ServiceId, ServiceMetrics)>,
        taken_at: Duration,
    ) -> Self {
        debug_assert!(entries.windows(2).all(|pair| pair[0].0 < pair[1].0));
        Self { entries, taken_at }
    }

    /// When the snapshot was taken, as time since the registry was created (on the
    /// registry's clock). The difference between two snapshots' `taken_at` is the interval
    /// [`delta_since`](ServicesMetrics::delta_since) covers.
    pub fn taken_at(&self) -> Duration {
        self.taken_at
    }

    /// Every live instance, in id order (name, then instance id).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (ServiceId, ServiceMetrics)> + '_ {
        self.entries.iter().copied()
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
            .map(|index| self.entries[index].1)
    }

    /// The live instances of one service name, in instance order.
    pub fn instances_of<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = (ServiceId, ServiceMetrics)> + 'a {
        let start = self.entries.partition_point(|(id, _)| id.name() < name);
        self.entries[start..]
            .iter()
            .take_while(move |(id, _)| id.name() == name)
            .copied()
    }

    /// Aggregates per service name, in name order.
    pub fn groups(&self) -> impl Iterator<Item = ServiceGroupMetrics> + '_ {
        self.entries
            .chunk_by(|(a, _), (b, _)| a.name() == b.name())
            .map(ServiceGroupMetrics::aggregate)
    }

    /// The aggregate of one service name, if any instance of it was live.
    pub fn group(&self, name: &str) -> Option<ServiceGroupMetrics> {
        let start = self.entries.partition_point(|(id, _)| id.name() < name);
        let len = self.entries[start..]
            .iter()
            .take_while(|(id, _)| id.name() == name)
            .count();
        (len > 0).then(|| ServiceGroupMetrics::aggregate(&self.entries[start..start + len]))
    }
}

impl<'a> IntoIterator for &'a ServicesMetrics {
    type Item = (ServiceId, ServiceMetrics);
    type IntoIter = std::iter::Copied<std::slice::Iter<'a, (ServiceId, ServiceMetrics)>>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().copied()
    }
}

/// The live instances of one service name, summed.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct ServiceGroupMetrics {
    /// The service name.
    pub name: &'static str,
    /// Live instances.
    pub instances: usize,
    /// Sum of the instances' poll counts.
    pub poll_count: u64,
    /// Sum of the instances' busy durations.
    pub total_busy_duration: Duration,
    /// Mean of the instances' utilizations, in percent.
    pub mean_utilization: f64,
    /// Highest utilization of any instance, in percent.
    pub max_utilization: u8,
    /// Instances inside a poll right now.
    pub in_poll: usize,
    /// Slow and fast polls summed over the instances (`None` without
    /// [`SlowPolls`](crate::SlowPolls)).
    pub slow_polls: Option<SlowPollSnapshot>,
    /// The instances' histograms merged bucket-wise (`None` without
    /// [`PollHistograms`](crate::PollHistograms)).
    pub poll_histogram: Option<PollHistogram>,
}

impl ServiceGroupMetrics {
    /// `instances` is non-empty and holds one name.
    fn aggregate(instances: &[(ServiceId, ServiceMetrics)]) -> Self {
        let utilization_sum: u64 = instances
            .iter()
            .map(|(_, m)| u64::from(m.utilization))
            .sum();
        Self {
            name: instances[0].0.name(),
            instances: instances.len(),
            poll_count: instances.iter().map(|(_, m)| m.poll_count).sum(),
            total_busy_duration: instances.iter().map(|(_, m)| m.total_busy_duration).sum(),
            mean_utilization: utilization_sum as f64 / instances.len() as f64,
            max_utilization: instances
                .iter()
                .map(|(_, m)| m.utilization)
                .max()
                .unwrap_or(0),
            in_poll: instances.iter().filter(|(_, m)| m.is_in_poll()).count(),
            slow_polls: instances.iter().filter_map(|(_, m)| m.slow_polls).reduce(
                |mut sum, next| {
                    sum.slow_poll_count += next.slow_poll_count;
                    sum.total_slow_poll_duration += next.total_slow_poll_duration;
                    sum.fast_poll_count += next.fast_poll_count;
                    sum.total_fast_poll_duration += next.total_fast_poll_duration;
                    sum
                },
            ),
            poll_histogram: instances
                .iter()
                .filter_map(|(_, m)| m.poll_histogram)
                .reduce(|mut sum, next| {
                    sum.merge(&next);
                    sum
                }),
        }
    }
}
