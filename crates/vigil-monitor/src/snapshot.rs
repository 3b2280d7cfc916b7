//! Plain-value views of [`RawMetrics`](crate::RawMetrics), and the utilization estimate.

use std::fmt;
use std::time::Duration;

use crate::clock::{Clock, Ticks};

/// How a monitored future has ended, as far as its monitor saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[repr(u8)]
pub enum Lifecycle {
    /// Not finished: still being polled or waiting to be.
    Running = 0,
    /// A poll returned `Ready`.
    Completed = 1,
    /// A poll panicked.
    Panicked = 2,
    /// Dropped before completing: cancelled, aborted, or its runtime shut down.
    Dropped = 3,
}

impl Lifecycle {
    pub(crate) fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Running,
            1 => Self::Completed,
            2 => Self::Panicked,
            _ => Self::Dropped,
        }
    }

    /// `true` for every state but [`Running`](Lifecycle::Running).
    pub fn is_finished(self) -> bool {
        self != Self::Running
    }
}

impl fmt::Display for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Panicked => "panicked",
            Self::Dropped => "dropped",
        })
    }
}

/// One consistent reading of [`RawMetrics`](crate::RawMetrics), still in raw ticks.
///
/// This is what readers derive every figure from; it is public so that exporters and tests
/// can do their own arithmetic without another read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct UsageSample {
    /// The time the sample was taken for.
    pub now: Ticks,
    /// When the monitor was created.
    pub created_at: Ticks,
    /// The utilization window.
    pub window_ticks: Ticks,
    /// Completed polls (including one that panicked).
    pub poll_count: u64,
    /// Sum of completed polls' durations.
    pub busy_ticks: Ticks,
    /// Start of the poll in progress, if any.
    pub in_poll_since: Option<Ticks>,
    /// End of the last completed poll (`created_at` before the first).
    pub last_poll_end: Ticks,
    /// Time of the checkpoint the window is measured from.
    pub checkpoint_time: Ticks,
    /// Busy total at that checkpoint.
    pub checkpoint_busy: Ticks,
    /// The checkpoint after it, as `(time, busy total)`, if one was written.
    pub next_checkpoint: Option<(Ticks, Ticks)>,
    /// How the future has ended so far.
    pub lifecycle: Lifecycle,
}

impl UsageSample {
    /// Duration of the poll in progress at `now`, in ticks.
    pub fn current_poll_ticks(&self) -> Option<Ticks> {
        self.in_poll_since
            .map(|since| self.now.saturating_sub(since))
    }

    /// Busy total including the poll in progress, in ticks.
    pub fn total_busy_ticks(&self) -> Ticks {
        self.busy_ticks + self.current_poll_ticks().unwrap_or(0)
    }

    /// Converts to plain units with the monitor's clock.
    pub fn to_snapshot<C: Clock>(&self, clock: &C) -> MonitorSnapshot {
        MonitorSnapshot {
            poll_count: self.poll_count,
            total_busy_duration: clock.ticks_to_duration(self.total_busy_ticks()),
            utilization: utilization_percent(self),
            current_poll_duration: self
                .current_poll_ticks()
                .map(|ticks| clock.ticks_to_duration(ticks)),
            age: clock.ticks_to_duration(self.now.saturating_sub(self.created_at)),
            lifecycle: self.lifecycle,
        }
    }
}

/// Utilization in percent (0..=100) over the window ending at `sample.now`.
///
/// The window is `[now - window, now]`, clipped to the monitor's lifetime. Busy time inside
/// it has two parts:
///
/// - the poll in progress, if any: exactly its overlap with the window;
/// - completed polls: the busy total is known exactly at each checkpoint and at the last poll
///   end `e`, and is taken as growing linearly between consecutive ones. With `c` the newest
///   checkpoint at or before the window start and `n` the next checkpoint (or `e` if there is
///   none), the busy time completed between `c` and `n` is counted in the proportion
///   `(n - window_start) / (n - c.time)`, and everything completed after `n` in full. It is
///   zero once `e` falls out of the window.
///
/// The last rule is why an idle service reads 0 % one window after its last poll without
/// being polled again. Checkpoints are taken at poll edges, at least a quarter window apart:
/// at the first poll start or end at least a quarter window after the previous checkpoint (a
/// start is recorded when its poll ends). So after its first quarter window, the span from
/// `c` to `n` holds no poll edge: it is all idle or all inside one poll. The estimate is exact
/// for evenly spread work and for idle or stuck services; for bursty work its error is at
/// most a quarter of the span from `c` to `n`, and at most a quarter window.
pub fn utilization_percent(sample: &UsageSample) -> u8 {
    let now = sample.now;
    let window_start = now
        .saturating_sub(sample.window_ticks)
        .max(sample.created_at);
    let span = now.saturating_sub(window_start);
    if span == 0 {
        return 0;
    }
    let in_flight = sample
        .in_poll_since
        .map_or(0, |since| now.saturating_sub(since.max(window_start)));
    let completed_since_checkpoint = sample.busy_ticks.saturating_sub(sample.checkpoint_busy);
    let last_end = sample.last_poll_end;
    let completed = if completed_since_checkpoint == 0 || last_end <= window_start {
        0
    } else if sample.checkpoint_time >= window_start {
        completed_since_checkpoint
    } else {
        // The segment of the busy curve holding the window start: from the checkpoint to the
        // next one, or to the last poll end. Its end is after the window start.
        let (next_time, next_busy) = sample
            .next_checkpoint
            .unwrap_or((last_end, sample.busy_ticks));
        let segment_busy = next_busy.saturating_sub(sample.checkpoint_busy);
        let inside = next_time.saturating_sub(window_start);
        let spread = next_time.saturating_sub(sample.checkpoint_time).max(1);
        // `inside < spread` here, so the quotient fits in u64.
        let segment_inside = mul_div(segment_busy, inside, spread);
        segment_inside.saturating_add(sample.busy_ticks.saturating_sub(next_busy))
    };
    let busy = completed.saturating_add(in_flight).min(span);
    // Rounded to the nearest percent; `busy <= span`, so the result is at most 100.
    let percent = match busy.checked_mul(100).and_then(|h| h.checked_add(span / 2)) {
        Some(rounded) => rounded / span,
        None => ((u128::from(busy) * 100 + u128::from(span / 2)) / u128::from(span)) as u64,
    };
    percent.min(100) as u8
}

/// `a * b / c` without overflow; the 64-bit path is the common one (a 128-bit division
/// costs several times more, and a snapshot does this for every instance).
#[inline]
fn mul_div(a: u64, b: u64, c: u64) -> u64 {
    match a.checked_mul(b) {
        Some(product) => product / c,
        None => (u128::from(a) * u128::from(b) / u128::from(c)) as u64,
    }
}

/// The default monitor's figures for one future, in plain units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct MonitorSnapshot {
    /// Completed polls, including one that panicked. A poll still running is not counted.
    pub poll_count: u64,
    /// Total time spent inside `poll`, including the poll in progress. Never decreases.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "total_busy_ns", with = "crate::duration_ns")
    )]
    pub total_busy_duration: Duration,
    /// Percentage (0..=100) of the recent window spent inside `poll`; see
    /// [`utilization_percent`].
    pub utilization: u8,
    /// How long the poll in progress has been running, if one is.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "current_poll_ns", with = "crate::duration_ns::option")
    )]
    pub current_poll_duration: Option<Duration>,
    /// Time since the monitor was created.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "age_ns", with = "crate::duration_ns")
    )]
    pub age: Duration,
    /// How the future has ended so far.
    pub lifecycle: Lifecycle,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> UsageSample {
        UsageSample {
            now: 1_000,
            created_at: 0,
            window_ticks: 1_000,
            poll_count: 0,
            busy_ticks: 0,
            in_poll_since: None,
            last_poll_end: 0,
            checkpoint_time: 0,
            checkpoint_busy: 0,
            next_checkpoint: None,
            lifecycle: Lifecycle::Running,
        }
    }

    #[test]
    fn never_polled_is_zero() {
        assert_eq!(utilization_percent(&sample()), 0);
    }

    #[test]
    fn zero_length_window_is_zero() {
        let s = UsageSample { now: 0, ..sample() };
        assert_eq!(utilization_percent(&s), 0);
    }

    #[test]
    fn in_flight_poll_is_clipped_to_the_window() {
        let s = UsageSample {
            now: 5_000,
            in_poll_since: Some(100),
            ..sample()
        };
        assert_eq!(utilization_percent(&s), 100);
        let s = UsageSample {
            now: 1_000,
            in_poll_since: Some(750),
            ..sample()
        };
        assert_eq!(utilization_percent(&s), 25);
    }

    #[test]
    fn completed_busy_spreads_over_the_checkpoint_span() {
        // 400 busy ticks between t=0 and t=2000; the window [1000, 2000] holds half of them.
        let s = UsageSample {
            now: 2_000,
            busy_ticks: 400,
            last_poll_end: 2_000,
            ..sample()
        };
        assert_eq!(utilization_percent(&s), 20);
    }

    #[test]
    fn lifecycle_round_trips_through_u8() {
        for state in [
            Lifecycle::Running,
            Lifecycle::Completed,
            Lifecycle::Panicked,
            Lifecycle::Dropped,
        ] {
            assert_eq!(Lifecycle::from_u8(state as u8), state);
        }
    }
}
