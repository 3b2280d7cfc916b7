//! Serde helpers (feature `serde`): a [`Duration`] as an integer number of nanoseconds.
//!
//! vigil's snapshot documents carry every duration as a JSON integer of nanoseconds in a
//! field whose name ends in `_ns`, so any reader can use them without knowing serde's own
//! `{secs, nanos}` form of `Duration`. Use the module with `#[serde(with = ...)]`:
//!
//! ```
//! use std::time::Duration;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Figures {
//!     #[serde(rename = "busy_ns", with = "vigil_monitor::duration_ns")]
//!     busy: Duration,
//!     #[serde(rename = "in_poll_ns", with = "vigil_monitor::duration_ns::option")]
//!     in_poll: Option<Duration>,
//! }
//!
//! let figures = Figures { busy: Duration::from_micros(3), in_poll: None };
//! let json = serde_json::to_string(&figures).unwrap();
//! assert_eq!(json, r#"{"busy_ns":3000,"in_poll_ns":null}"#);
//! let back: Figures = serde_json::from_str(&json).unwrap();
//! assert_eq!(back.busy, Duration::from_micros(3));
//! ```
//!
//! # Range
//!
//! A `u64` of nanoseconds covers 584 years. Longer durations (only
//! [`Duration::MAX`]-like sentinels reach that) serialize as `u64::MAX`, so a round trip is
//! exact for every duration up to 584 years.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

/// `duration` in whole nanoseconds, saturating at `u64::MAX` (584 years).
pub fn to_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Serializes `duration` as an integer of nanoseconds (saturating at `u64::MAX`).
pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(to_nanos(*duration))
}

/// Deserializes an integer of nanoseconds.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    u64::deserialize(deserializer).map(Duration::from_nanos)
}

/// An `Option<Duration>` as an integer of nanoseconds, or `null` for `None`.
pub mod option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes `Some(duration)` as an integer of nanoseconds, `None` as none (`null`).
    pub fn serialize<S: Serializer>(
        duration: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match duration {
            Some(duration) => serializer.serialize_some(&super::to_nanos(*duration)),
            None => serializer.serialize_none(),
        }
    }

    /// Deserializes an integer of nanoseconds, or none (`null`).
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<u64>::deserialize(deserializer).map(|nanos| nanos.map(Duration::from_nanos))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use crate::{
        Lifecycle, MonitorReport, MonitorSnapshot, PollHistogram, SchedulingSnapshot,
        SlowPollSnapshot, HISTOGRAM_BUCKETS,
    };

    /// Durations that fit the `u64` of nanoseconds: the range a round trip is exact on.
    fn duration() -> impl Strategy<Value = Duration> {
        any::<u64>().prop_map(Duration::from_nanos)
    }

    fn slow_polls() -> impl Strategy<Value = SlowPollSnapshot> {
        (
            any::<u64>(),
            duration(),
            any::<u64>(),
            duration(),
            duration(),
        )
            .prop_map(
                |(slow, slow_time, fast, fast_time, threshold)| SlowPollSnapshot {
                    slow_poll_count: slow,
                    total_slow_poll_duration: slow_time,
                    fast_poll_count: fast,
                    total_fast_poll_duration: fast_time,
                    threshold,
                },
            )
    }

    fn histogram() -> impl Strategy<Value = PollHistogram> {
        (any::<[u64; HISTOGRAM_BUCKETS]>(), duration())
            .prop_map(|(buckets, max)| PollHistogram { buckets, max })
    }

    fn scheduling() -> impl Strategy<Value = SchedulingSnapshot> {
        (
            (any::<u64>(), duration(), duration()),
            (any::<u64>(), duration(), duration()),
            proptest::option::of(duration()),
        )
            .prop_map(
                |((scheduled, delay, delay_max), (idle, idle_time, idle_max), first)| {
                    SchedulingSnapshot {
                        scheduled_count: scheduled,
                        total_scheduling_delay: delay,
                        max_scheduling_delay: delay_max,
                        idle_count: idle,
                        total_idle_duration: idle_time,
                        max_idle_duration: idle_max,
                        first_poll_delay: first,
                    }
                },
            )
    }

    fn lifecycle() -> impl Strategy<Value = Lifecycle> {
        prop_oneof![
            Just(Lifecycle::Running),
            Just(Lifecycle::Completed),
            Just(Lifecycle::Panicked),
            Just(Lifecycle::Dropped),
        ]
    }

    fn round_trip<T>(value: &T) -> T
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        let json = serde_json::to_string(value).expect("serializes");
        serde_json::from_str(&json).unwrap_or_else(|error| panic!("{error}: {json}"))
    }

    proptest! {
        #[test]
        fn snapshots_round_trip_through_json(
            (poll_count, busy, utilization, in_poll, age, state) in
                (any::<u64>(), duration(), 0..=100_u8, proptest::option::of(duration()), duration(), lifecycle()),
            slow in proptest::option::of(slow_polls()),
            histogram in proptest::option::of(histogram()),
            scheduling in proptest::option::of(scheduling()),
        ) {
            let snapshot = MonitorSnapshot {
                poll_count,
                total_busy_duration: busy,
                utilization,
                current_poll_duration: in_poll,
                age,
                lifecycle: state,
            };
            prop_assert_eq!(round_trip(&snapshot), snapshot);
            let report = MonitorReport { slow_polls: slow, poll_histogram: histogram, scheduling };
            prop_assert_eq!(round_trip(&report), report);
        }
    }

    #[test]
    fn field_names_carry_the_unit() {
        let slow = SlowPollSnapshot {
            slow_poll_count: 2,
            total_slow_poll_duration: Duration::from_millis(7),
            fast_poll_count: 1,
            total_fast_poll_duration: Duration::from_micros(1),
            threshold: Duration::from_millis(1),
        };
        assert_eq!(
            serde_json::to_value(slow).unwrap(),
            serde_json::json!({
                "slow_poll_count": 2, "total_slow_poll_ns": 7_000_000,
                "fast_poll_count": 1, "total_fast_poll_ns": 1_000, "threshold_ns": 1_000_000,
            })
        );
        let scheduling = SchedulingSnapshot {
            scheduled_count: 2,
            total_scheduling_delay: Duration::from_nanos(1_500),
            max_scheduling_delay: Duration::from_nanos(1_000),
            idle_count: 1,
            total_idle_duration: Duration::from_nanos(6),
            max_idle_duration: Duration::from_nanos(4),
            first_poll_delay: None,
        };
        assert_eq!(
            serde_json::to_value(scheduling).unwrap(),
            serde_json::json!({
                "scheduled_count": 2, "total_scheduling_delay_ns": 1_500,
                "max_scheduling_delay_ns": 1_000, "idle_count": 1, "total_idle_ns": 6,
                "max_idle_ns": 4, "first_poll_delay_ns": null,
            })
        );
        let mut histogram = PollHistogram::default();
        histogram.buckets[3] = 5;
        histogram.max = Duration::from_nanos(1_500);
        let mut buckets = vec![0; HISTOGRAM_BUCKETS];
        buckets[3] = 5;
        assert_eq!(
            serde_json::to_value(histogram).unwrap(),
            serde_json::json!({ "buckets": buckets, "max_ns": 1_500 })
        );
        assert_eq!(
            serde_json::to_value(Lifecycle::Dropped).unwrap(),
            serde_json::json!("dropped")
        );
    }

    #[test]
    fn durations_beyond_u64_nanoseconds_saturate() {
        assert_eq!(super::to_nanos(Duration::MAX), u64::MAX);
        assert_eq!(
            serde_json::to_string(&super::to_nanos(Duration::from_secs(1))).unwrap(),
            "1000000000"
        );
    }
}
