//! Per-name figures of a snapshot: each name's lifetime counters and the aggregate of its
//! live instances.

use std::time::Duration;

use vigil_monitor::{MonitorReport, PollHistogram, SchedulingSnapshot, SlowPollSnapshot};

use crate::id::{ServiceId, StaticName};
use crate::metrics::ServiceMetrics;
use crate::watch::MailboxSnapshot;

/// The lifetime counters of one service name, as of a snapshot: what a snapshot keeps per
/// name besides its live instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GroupTotals {
    pub(crate) name: &'static str,
    pub(crate) starts: u64,
    pub(crate) restarts: u64,
    pub(crate) endings: Endings,
    /// Ended instances' final polls plus live instances' current polls.
    pub(crate) poll_count: u64,
    /// Likewise for busy time.
    pub(crate) total_busy_duration: Duration,
    /// The name's mailbox, if a supervisor registered one.
    pub(crate) mailbox: Option<MailboxSnapshot>,
    /// The attached monitors' figures of every instance ever started under the name.
    pub(crate) reports: ReportTotals,
}

impl GroupTotals {
    /// Totals of a name with no history: everything zero.
    pub(crate) fn empty(name: &'static str) -> Self {
        Self {
            name,
            starts: 0,
            restarts: 0,
            endings: Endings::default(),
            poll_count: 0,
            total_busy_duration: Duration::ZERO,
            mailbox: None,
            reports: ReportTotals::default(),
        }
    }
}

/// How many instances of a name have ended, by outcome. Monotonic for the life of the
/// registry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Endings {
    /// Returned (`Ready`) without being marked failed.
    pub completed: u64,
    /// Returned after [`Registry::record_failure`](crate::Registry::record_failure): a
    /// supervised service that returned `Err`.
    pub failed: u64,
    /// Panicked inside a poll.
    pub panicked: u64,
    /// Dropped before completing: aborted, cancelled, or its runtime shut down.
    pub cancelled: u64,
}

impl Endings {
    /// Every ending, whatever the outcome.
    pub fn total(&self) -> u64 {
        self.completed + self.failed + self.panicked + self.cancelled
    }

    /// `(outcome, count)` pairs in a fixed order, for exporters: `completed`, `failed`,
    /// `panicked`, `cancelled`.
    pub fn by_outcome(&self) -> [(&'static str, u64); 4] {
        [
            ("completed", self.completed),
            ("failed", self.failed),
            ("panicked", self.panicked),
            ("cancelled", self.cancelled),
        ]
    }

    /// `self - earlier`, outcome by outcome, saturating at zero.
    pub fn saturating_sub(&self, earlier: &Endings) -> Endings {
        Endings {
            completed: self.completed.saturating_sub(earlier.completed),
            failed: self.failed.saturating_sub(earlier.failed),
            panicked: self.panicked.saturating_sub(earlier.panicked),
            cancelled: self.cancelled.saturating_sub(earlier.cancelled),
        }
    }
}

/// One service name in a snapshot: its lifetime counters (every instance that ever ran
/// under the name, ended ones included) and the aggregate of its live instances.
///
/// The counters (`starts`, `restarts`, `endings`, `poll_count`, `total_busy_duration`) are
/// monotonic across snapshots of one registry: an ended instance's final figures are folded
/// in exactly once, when its ending is first observed, so per-name rates stay right however
/// fast instances come and go. The gauges (`instances`, utilizations, `in_poll`,
/// `longest_in_poll`, `slow_polls`, `poll_histogram`) describe the live instances only.
///
/// With the `serde` feature it is a `groups` entry of the snapshot document
/// (`docs/snapshot-json.md`), durations in integer nanoseconds (`total_busy_ns`,
/// `longest_in_poll_ns`). A snapshot read back keeps the counters it finds there and
/// recomputes the gauges from its instances.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct ServiceGroupMetrics {
    /// The service name.
    #[cfg_attr(
        feature = "serde",
        serde(deserialize_with = "crate::intern::deserialize")
    )]
    pub name: StaticName,
    /// Live instances.
    pub instances: usize,
    /// Instances ever started under the name.
    pub starts: u64,
    /// Restarts counted by a supervisor ([`Registry::record_restart`](crate::Registry::record_restart)).
    pub restarts: u64,
    /// Instances that have ended, by outcome.
    pub endings: Endings,
    /// Completed polls of every instance ever started under the name (ended ones' final
    /// counts plus live ones' current counts). Monotonic.
    pub poll_count: u64,
    /// Time spent inside `poll` by every instance ever started under the name, including
    /// polls in flight. Monotonic.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "total_busy_ns", with = "vigil_monitor::duration_ns")
    )]
    pub total_busy_duration: Duration,
    /// Mean of the instances' utilizations, in percent.
    pub mean_utilization: f64,
    /// Highest utilization of any instance, in percent.
    pub max_utilization: u8,
    /// Live instances inside a poll right now.
    pub in_poll: usize,
    /// The longest poll in flight right now, if any live instance is inside one: the
    /// stuck-service signal.
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "longest_in_poll_ns",
            with = "vigil_monitor::duration_ns::option"
        )
    )]
    pub longest_in_poll: Option<Duration>,
    /// Slow and fast polls summed over the live instances (`None` without
    /// [`SlowPolls`](crate::SlowPolls)).
    pub slow_polls: Option<SlowPollSnapshot>,
    /// The live instances' histograms merged bucket-wise (`None` without
    /// [`PollHistograms`](crate::PollHistograms)).
    pub poll_histogram: Option<PollHistogram>,
    /// The name's mailbox, if a supervisor registered one
    /// ([`Registry::watch_mailbox`](crate::Registry::watch_mailbox)): read with the
    /// snapshot, whether or not an instance is live.
    #[cfg_attr(feature = "serde", serde(default))]
    pub mailbox: Option<MailboxSnapshot>,
    /// Wake-to-poll delay, first-poll delay and idle time of every instance ever started
    /// under the name (`None` without [`Scheduling`](crate::Scheduling)). Counters: see
    /// [`SchedulingTotals`].
    #[cfg_attr(feature = "serde", serde(default))]
    pub scheduling: Option<SchedulingTotals>,
    /// The poll-duration histogram of every instance ever started under the name (`None`
    /// without [`PollHistograms`](crate::PollHistograms)): each bucket a monotonic
    /// counter, ended instances folded in at their ending. The difference between two
    /// snapshots is the interval's histogram (its quantiles: "p99 over the last 10 s").
    #[cfg_attr(feature = "serde", serde(default))]
    pub lifetime_poll_histogram: Option<PollHistogram>,
    /// Slow and fast polls of every instance ever started under the name (`None` without
    /// [`SlowPolls`](crate::SlowPolls)): monotonic counters.
    #[cfg_attr(feature = "serde", serde(default))]
    pub lifetime_slow_polls: Option<SlowPollSnapshot>,
}

impl ServiceGroupMetrics {
    /// A name with no history and no live instance: every figure zero.
    pub(crate) fn zero(name: &'static str) -> Self {
        Self::aggregate(&GroupTotals::empty(name), std::iter::empty())
    }

    /// `instances` are the live instances of `totals.name`.
    pub(crate) fn aggregate(
        totals: &GroupTotals,
        instances: impl IntoIterator<Item = (ServiceId, ServiceMetrics)>,
    ) -> Self {
        let mut aggregate = Self {
            name: totals.name,
            instances: 0,
            starts: totals.starts,
            restarts: totals.restarts,
            endings: totals.endings,
            poll_count: totals.poll_count,
            total_busy_duration: totals.total_busy_duration,
            mean_utilization: 0.0,
            max_utilization: 0,
            in_poll: 0,
            longest_in_poll: None,
            slow_polls: None,
            poll_histogram: None,
            mailbox: totals.mailbox,
            scheduling: totals.reports.scheduling,
            lifetime_poll_histogram: totals.reports.poll_histogram,
            lifetime_slow_polls: totals.reports.slow_polls,
        };
        let mut utilization_sum = 0_u64;
        for (_, metrics) in instances {
            aggregate.instances += 1;
            utilization_sum += u64::from(metrics.utilization);
            aggregate.max_utilization = aggregate.max_utilization.max(metrics.utilization);
            aggregate.in_poll += usize::from(metrics.is_in_poll());
            aggregate.longest_in_poll =
                aggregate.longest_in_poll.max(metrics.current_poll_duration);
            if let Some(next) = metrics.slow_polls {
                aggregate.slow_polls = Some(match aggregate.slow_polls {
                    None => next,
                    Some(sum) => add_slow_polls(sum, &next),
                });
            }
            if let Some(next) = metrics.poll_histogram {
                aggregate
                    .poll_histogram
                    .get_or_insert_with(PollHistogram::default)
                    .merge(&next);
            }
        }
        aggregate.mean_utilization = utilization_sum as f64 / aggregate.instances.max(1) as f64;
        aggregate
    }
}

/// Scheduling figures of one service name over its lifetime: every instance ever started
/// under it, ended ones' final figures folded in at their ending exactly like busy time.
/// Present with the [`Scheduling`](crate::Scheduling) monitor attached.
///
/// Every field but the maxima is a monotonic counter: the difference between two snapshots
/// gives the interval's figures, e.g. its mean wake-to-poll delay
/// ([`mean_scheduling_delay_since`](SchedulingTotals::mean_scheduling_delay_since)). See
/// [`SchedulingMonitor`](vigil_monitor::SchedulingMonitor) for the definitions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct SchedulingTotals {
    /// Polls that followed a wake.
    pub scheduled_count: u64,
    /// Sum of their wake-to-poll delays.
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "total_scheduling_delay_ns",
            with = "vigil_monitor::duration_ns"
        )
    )]
    pub total_scheduling_delay: Duration,
    /// The longest wake-to-poll delay of any instance (a lifetime maximum, not a counter).
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "max_scheduling_delay_ns",
            with = "vigil_monitor::duration_ns"
        )
    )]
    pub max_scheduling_delay: Duration,
    /// Instances that have been polled at least once.
    pub first_polls: u64,
    /// Sum of their delays from start to first poll.
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "total_first_poll_delay_ns",
            with = "vigil_monitor::duration_ns"
        )
    )]
    pub total_first_poll_delay: Duration,
    /// The longest start-to-first-poll delay.
    #[cfg_attr(
        feature = "serde",
        serde(
            rename = "max_first_poll_delay_ns",
            with = "vigil_monitor::duration_ns"
        )
    )]
    pub max_first_poll_delay: Duration,
    /// Idle periods ended by a wake.
    pub idle_count: u64,
    /// Sum of idle periods.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "total_idle_ns", with = "vigil_monitor::duration_ns")
    )]
    pub total_idle_duration: Duration,
    /// The longest idle period.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "max_idle_ns", with = "vigil_monitor::duration_ns")
    )]
    pub max_idle_duration: Duration,
}

impl SchedulingTotals {
    /// Adds one instance's figures.
    pub(crate) fn add(&mut self, instance: &SchedulingSnapshot) {
        self.scheduled_count += instance.scheduled_count;
        self.total_scheduling_delay += instance.total_scheduling_delay;
        self.max_scheduling_delay = self.max_scheduling_delay.max(instance.max_scheduling_delay);
        if let Some(delay) = instance.first_poll_delay {
            self.first_polls += 1;
            self.total_first_poll_delay += delay;
            self.max_first_poll_delay = self.max_first_poll_delay.max(delay);
        }
        self.idle_count += instance.idle_count;
        self.total_idle_duration += instance.total_idle_duration;
        self.max_idle_duration = self.max_idle_duration.max(instance.max_idle_duration);
    }

    /// Adds another total (of other instances).
    fn merge(&mut self, other: &Self) {
        self.scheduled_count += other.scheduled_count;
        self.total_scheduling_delay += other.total_scheduling_delay;
        self.max_scheduling_delay = self.max_scheduling_delay.max(other.max_scheduling_delay);
        self.first_polls += other.first_polls;
        self.total_first_poll_delay += other.total_first_poll_delay;
        self.max_first_poll_delay = self.max_first_poll_delay.max(other.max_first_poll_delay);
        self.idle_count += other.idle_count;
        self.total_idle_duration += other.total_idle_duration;
        self.max_idle_duration = self.max_idle_duration.max(other.max_idle_duration);
    }

    /// The mean wake-to-poll delay of the polls scheduled between `earlier` and `self`
    /// (two snapshots of the same name); `None` if none was.
    pub fn mean_scheduling_delay_since(&self, earlier: &Self) -> Option<Duration> {
        let polls = self.scheduled_count.checked_sub(earlier.scheduled_count)?;
        let delay = self
            .total_scheduling_delay
            .checked_sub(earlier.total_scheduling_delay)?;
        (polls > 0).then(|| delay / u32::try_from(polls).unwrap_or(u32::MAX))
    }
}

/// The attached monitors' figures of a set of instances, added up: scheduling totals,
/// merged poll histograms, slow polls. `None` where the monitor is not attached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ReportTotals {
    pub(crate) scheduling: Option<SchedulingTotals>,
    pub(crate) poll_histogram: Option<PollHistogram>,
    pub(crate) slow_polls: Option<SlowPollSnapshot>,
}

impl ReportTotals {
    /// Adds one instance's report.
    pub(crate) fn add(&mut self, report: &MonitorReport) {
        if let Some(scheduling) = &report.scheduling {
            self.scheduling
                .get_or_insert_with(SchedulingTotals::default)
                .add(scheduling);
        }
        if let Some(histogram) = &report.poll_histogram {
            self.poll_histogram
                .get_or_insert_with(PollHistogram::default)
                .merge(histogram);
        }
        if let Some(slow) = report.slow_polls {
            self.slow_polls = Some(match self.slow_polls {
                None => slow,
                Some(sum) => add_slow_polls(sum, &slow),
            });
        }
    }

    /// `self + other`.
    pub(crate) fn merged(mut self, other: &Self) -> Self {
        if let Some(scheduling) = &other.scheduling {
            self.scheduling
                .get_or_insert_with(SchedulingTotals::default)
                .merge(scheduling);
        }
        if let Some(histogram) = &other.poll_histogram {
            self.poll_histogram
                .get_or_insert_with(PollHistogram::default)
                .merge(histogram);
        }
        if let Some(slow) = other.slow_polls {
            self.slow_polls = Some(match self.slow_polls {
                None => slow,
                Some(sum) => add_slow_polls(sum, &slow),
            });
        }
        self
    }
}

/// Slow and fast polls of two sets of instances added up (the threshold is the first's).
fn add_slow_polls(mut sum: SlowPollSnapshot, next: &SlowPollSnapshot) -> SlowPollSnapshot {
    sum.slow_poll_count += next.slow_poll_count;
    sum.total_slow_poll_duration += next.total_slow_poll_duration;
    sum.fast_poll_count += next.fast_poll_count;
    sum.total_fast_poll_duration += next.total_fast_poll_duration;
    sum
}
