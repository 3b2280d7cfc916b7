//! Interval deltas between two snapshots of one registry.

use std::time::Duration;

use vigil_monitor::{PollHistogram, SlowPollSnapshot};

use crate::id::{ServiceId, StaticName};
use crate::metrics::{ServiceMetrics, ServicesMetrics};
use crate::names::{Endings, ServiceGroupMetrics};

/// What happened to one instance between two snapshots.
///
/// With the `serde` feature: the fields by name, `busy_ns` for `busy_duration`, `current`
/// as an `instances` entry's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct ServiceDelta {
    /// `true` if the instance was not in the earlier snapshot: it started within the
    /// interval, and the figures below count from its start, not from the interval's.
    pub started_within: bool,
    /// Polls completed within the interval (since the start for a new instance).
    pub poll_count: u64,
    /// Busy time within the interval (since the start for a new instance), including the
    /// part of a poll still running.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "busy_ns", with = "vigil_monitor::duration_ns")
    )]
    pub busy_duration: Duration,
    /// Slow and fast polls within the interval (counts and durations differenced; the
    /// threshold is the monitor's), if [`SlowPolls`](crate::SlowPolls) is attached.
    pub slow_polls: Option<SlowPollSnapshot>,
    /// Polls within the interval, bucket by bucket, if
    /// [`PollHistograms`](crate::PollHistograms) is attached. `max` stays the lifetime
    /// maximum: the longest poll of the interval alone is not recorded.
    pub poll_histogram: Option<PollHistogram>,
    /// The later snapshot's figures, for gauges (utilization, in-poll time) that have no
    /// meaningful difference.
    pub current: ServiceMetrics,
}

/// What happened to one service name between two snapshots: differences of its lifetime
/// counters. Unlike [`ServiceDelta`], this includes the work of instances that ended within
/// the interval (their final figures were folded into the name's counters), so a per-name
/// rate computed from it is exact however fast instances come and go.
///
/// With the `serde` feature: the fields by name, `busy_ns` for `busy_duration`, `current`
/// as a `groups` entry of the snapshot document.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct ServiceGroupDelta {
    /// The service name.
    #[cfg_attr(
        feature = "serde",
        serde(deserialize_with = "crate::intern::deserialize")
    )]
    pub name: StaticName,
    /// `true` if the name was not in the earlier snapshot: the counters below count from
    /// its first start.
    pub started_within: bool,
    /// Instances started within the interval.
    pub starts: u64,
    /// Restarts counted within the interval.
    pub restarts: u64,
    /// Instances that ended within the interval, by outcome.
    pub endings: Endings,
    /// Polls completed within the interval by any instance of the name.
    pub poll_count: u64,
    /// Busy time within the interval of any instance of the name.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "busy_ns", with = "vigil_monitor::duration_ns")
    )]
    pub busy_duration: Duration,
    /// The later snapshot's entry for the name, for its gauges.
    pub current: ServiceGroupMetrics,
}

impl ServiceGroupDelta {
    fn between(current: ServiceGroupMetrics, before: Option<ServiceGroupMetrics>) -> Self {
        let zero = ServiceGroupMetrics::zero(current.name);
        let earlier = before.unwrap_or(zero);
        Self {
            name: current.name,
            started_within: before.is_none(),
            starts: current.starts.saturating_sub(earlier.starts),
            restarts: current.restarts.saturating_sub(earlier.restarts),
            endings: current.endings.saturating_sub(&earlier.endings),
            poll_count: current.poll_count.saturating_sub(earlier.poll_count),
            busy_duration: current
                .total_busy_duration
                .saturating_sub(earlier.total_busy_duration),
            current,
        }
    }
}

/// `later - earlier`, field by field, saturating at zero.
fn slow_polls_since(later: SlowPollSnapshot, earlier: SlowPollSnapshot) -> SlowPollSnapshot {
    let mut delta = later;
    delta.slow_poll_count = later
        .slow_poll_count
        .saturating_sub(earlier.slow_poll_count);
    delta.total_slow_poll_duration = later
        .total_slow_poll_duration
        .saturating_sub(earlier.total_slow_poll_duration);
    delta.fast_poll_count = later
        .fast_poll_count
        .saturating_sub(earlier.fast_poll_count);
    delta.total_fast_poll_duration = later
        .total_fast_poll_duration
        .saturating_sub(earlier.total_fast_poll_duration);
    delta
}

/// `later - earlier`, bucket by bucket, saturating at zero.
pub(crate) fn histogram_since(later: PollHistogram, earlier: PollHistogram) -> PollHistogram {
    let mut delta = later;
    for (bucket, before) in delta.buckets.iter_mut().zip(earlier.buckets) {
        *bucket = bucket.saturating_sub(before);
    }
    delta
}

/// The per-instance differences between two snapshots of the same registry; see
/// [`ServicesMetrics::delta_since`].
///
/// Three kinds of instance, reported explicitly rather than folded into one number:
///
/// - live in both snapshots: counters are the difference over the interval;
/// - started within the interval (live only in the later one): counters count from the
///   instance's start, flagged by [`ServiceDelta::started_within`];
/// - ended within the interval (live only in the earlier one): listed by
///   [`ended`](ServicesDelta::ended) with no figures, because the work it did between the
///   earlier snapshot and its ending was not observed. An instance that both started and
///   ended within the interval appears in neither snapshot, so not here either.
///
/// Per name, [`groups`](ServicesDelta::groups) differences the lifetime counters, which do
/// include the work of instances that ended within the interval.
///
/// With the `serde` feature it is an object `{"interval_ns", "instances", "ended",
/// "groups"}`: `instances` are flat objects (`name`, `instance_id`, then the
/// [`ServiceDelta`] fields), `ended` a list of ids, `groups` the [`ServiceGroupDelta`]s.
/// Reading one back sorts each list.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ServicesDelta {
    #[cfg_attr(
        feature = "serde",
        serde(rename = "interval_ns", with = "vigil_monitor::duration_ns")
    )]
    interval: Duration,
    #[cfg_attr(
        feature = "serde",
        serde(rename = "instances", with = "crate::document::delta_instances")
    )]
    entries: Vec<(ServiceId, ServiceDelta)>,
    #[cfg_attr(
        feature = "serde",
        serde(deserialize_with = "crate::document::sorted_ids")
    )]
    ended: Vec<ServiceId>,
    #[cfg_attr(
        feature = "serde",
        serde(deserialize_with = "crate::document::sorted_group_deltas")
    )]
    groups: Vec<ServiceGroupDelta>,
}

impl ServicesDelta {
    /// Time between the two snapshots.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Every instance live in the later snapshot, in id order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (ServiceId, ServiceDelta)> + '_ {
        self.entries.iter().copied()
    }

    /// Number of instances live in the later snapshot.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` if no instance was live in the later snapshot.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The delta of one instance, if it was live in the later snapshot.
    pub fn get(&self, id: ServiceId) -> Option<ServiceDelta> {
        self.entries
            .binary_search_by(|(entry, _)| entry.cmp(&id))
            .ok()
            .map(|index| self.entries[index].1)
    }

    /// Instances live in the earlier snapshot and not in the later one, in id order.
    pub fn ended(&self) -> &[ServiceId] {
        &self.ended
    }

    /// Per-name differences, one per name of the later snapshot, in name order.
    pub fn groups(&self) -> &[ServiceGroupDelta] {
        &self.groups
    }

    /// The per-name difference of `name`, if the later snapshot has the name.
    pub fn group(&self, name: &str) -> Option<&ServiceGroupDelta> {
        self.groups
            .binary_search_by(|group| group.name.cmp(name))
            .ok()
            .map(|index| &self.groups[index])
    }
}

impl ServicesMetrics {
    /// The per-instance differences from `previous` (an earlier snapshot of the same
    /// registry) to `self`. Both are sorted by id, so this is one linear merge.
    ///
    /// Counters never go backwards, so a difference is never negative; if `previous` is in
    /// fact the later snapshot, differences saturate at zero and the interval is zero.
    pub fn delta_since(&self, previous: &ServicesMetrics) -> ServicesDelta {
        let mut entries = Vec::with_capacity(self.len());
        let mut ended = Vec::new();
        let mut earlier = previous.iter().peekable();
        for (id, current) in self.iter() {
            while let Some((gone, _)) = earlier.next_if(|(old, _)| *old < id) {
                ended.push(gone);
            }
            let delta = match earlier.next_if(|(old, _)| *old == id) {
                Some((_, before)) => ServiceDelta {
                    started_within: false,
                    poll_count: current.poll_count.saturating_sub(before.poll_count),
                    busy_duration: current
                        .total_busy_duration
                        .saturating_sub(before.total_busy_duration),
                    slow_polls: current.slow_polls.map(|later| match before.slow_polls {
                        Some(earlier) => slow_polls_since(later, earlier),
                        None => later,
                    }),
                    poll_histogram: current.poll_histogram.map(|later| {
                        match before.poll_histogram {
                            Some(earlier) => histogram_since(later, earlier),
                            None => later,
                        }
                    }),
                    current,
                },
                None => ServiceDelta {
                    started_within: true,
                    poll_count: current.poll_count,
                    busy_duration: current.total_busy_duration,
                    slow_polls: current.slow_polls,
                    poll_histogram: current.poll_histogram,
                    current,
                },
            };
            entries.push((id, delta));
        }
        ended.extend(earlier.map(|(gone, _)| gone));
        let mut earlier_groups = previous.groups().peekable();
        let groups = self
            .groups()
            .map(|current| {
                while earlier_groups
                    .next_if(|old| old.name < current.name)
                    .is_some()
                {}
                let before = earlier_groups.next_if(|old| old.name == current.name);
                ServiceGroupDelta::between(current, before)
            })
            .collect();
        ServicesDelta {
            interval: self.taken_at().saturating_sub(previous.taken_at()),
            entries,
            ended,
            groups,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::id::TaskId;

    const NAMES: [&str; 3] = ["a", "b", "c"];

    fn metrics(poll_count: u64, busy_ms: u64) -> ServiceMetrics {
        ServiceMetrics {
            poll_count,
            total_busy_duration: Duration::from_millis(busy_ms),
            utilization: 0,
            current_poll_duration: None,
            age: Duration::ZERO,
            slow_polls: None,
            poll_histogram: None,
            scheduling: None,
        }
    }

    fn snapshot(map: &BTreeMap<ServiceId, (u64, u64)>, at_ms: u64) -> ServicesMetrics {
        let entries = map
            .iter()
            .map(|(id, (polls, busy))| (*id, metrics(*polls, *busy)))
            .collect();
        ServicesMetrics::from_sorted(entries, Duration::from_millis(at_ms))
    }

    fn id(name: usize, instance: u64) -> ServiceId {
        ServiceId::new(TaskId::new(NAMES[name]), instance)
    }

    proptest! {
        /// Each instance is classified exactly once: continuing (difference), started
        /// (counts since start) or ended (listed), whatever the overlap of the two snapshots.
        #[test]
        fn delta_classifies_every_instance(
            before in proptest::collection::btree_map((0..3_usize, 0..20_u64), (0..1_000_u64, 0..1_000_u64), 0..30),
            growth in proptest::collection::vec((0..100_u64, 0..100_u64), 30),
            keep in proptest::collection::vec(any::<bool>(), 30),
            new in proptest::collection::btree_map((0..3_usize, 20..40_u64), (0..1_000_u64, 0..1_000_u64), 0..10),
        ) {
            let earlier: BTreeMap<ServiceId, (u64, u64)> =
                before.iter().map(|(&(n, i), &v)| (id(n, i), v)).collect();
            let mut later = BTreeMap::new();
            for (index, (sid, (polls, busy))) in earlier.iter().enumerate() {
                if keep[index] {
                    let (more_polls, more_busy) = growth[index];
                    later.insert(*sid, (polls + more_polls, busy + more_busy));
                }
            }
            for (&(n, i), &v) in &new {
                later.insert(id(n, i), v);
            }
            let delta = snapshot(&later, 1_500).delta_since(&snapshot(&earlier, 1_000));

            prop_assert_eq!(delta.interval(), Duration::from_millis(500));
            prop_assert_eq!(delta.len(), later.len());
            for (sid, entry) in delta.iter() {
                let (polls, busy) = later[&sid];
                match earlier.get(&sid) {
                    Some(&(old_polls, old_busy)) => {
                        prop_assert!(!entry.started_within);
                        prop_assert_eq!(entry.poll_count, polls - old_polls);
                        prop_assert_eq!(entry.busy_duration, Duration::from_millis(busy - old_busy));
                    }
                    None => {
                        prop_assert!(entry.started_within);
                        prop_assert_eq!(entry.poll_count, polls);
                        prop_assert_eq!(entry.busy_duration, Duration::from_millis(busy));
                    }
                }
                prop_assert_eq!(delta.get(sid), Some(entry));
            }
            let expected_ended: Vec<ServiceId> =
                earlier.keys().filter(|sid| !later.contains_key(sid)).copied().collect();
            prop_assert_eq!(delta.ended(), &expected_ended[..]);
        }
    }

    #[test]
    fn reversed_snapshots_saturate_instead_of_underflowing() {
        let mut map = BTreeMap::new();
        map.insert(id(0, 0), (10, 10));
        let later = snapshot(&map, 2_000);
        map.insert(id(0, 0), (5, 5));
        let earlier = snapshot(&map, 1_000);
        let delta = earlier.delta_since(&later);
        assert_eq!(delta.interval(), Duration::ZERO);
        assert_eq!(delta.get(id(0, 0)).unwrap().poll_count, 0);
    }
}
