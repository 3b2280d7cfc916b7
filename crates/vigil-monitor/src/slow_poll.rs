//! `SlowPollMonitor`: count and total duration of polls longer than a threshold, and of the rest.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, Ticks};
use crate::monitor::{PollMonitor, PollOutcome};
use crate::seqlock::{SeqLock, SeqWriter};

/// The default slow-poll threshold: 50 µs, as in `tokio-metrics`.
pub const DEFAULT_SLOW_POLL_THRESHOLD: Duration = Duration::from_micros(50);

/// Splits polls into slow ones (longer than a threshold) and fast ones, counting each.
///
/// A poll is *slow* if it lasted strictly longer than the threshold, `end - start >
/// threshold`; a poll of exactly the threshold is *fast*. (`tokio-metrics` counts `>=` as
/// slow; "longer than" is the contract here, and with nanosecond ticks the two differ only on
/// polls of exactly the threshold.) A poll that panicked is counted like any other.
///
/// The threshold is converted to ticks once, when the monitor is built: the poll path is one
/// subtraction, one comparison and four plain stores.
///
/// This is the writer: owned by the monitored future. Read the figures through
/// [`metrics`](SlowPollMonitor::metrics), from any thread.
///
/// # Examples
///
/// ```
/// use std::task::{Context, Poll, Waker};
/// use std::time::Duration;
/// use vigil_monitor::{MockClock, ServiceMonitor, SlowPollMonitor};
///
/// let clock = MockClock::new();
/// let ticking = clock.clone();
/// // Polls alternately take 10 µs and 80 µs of mock time.
/// let mut long = false;
/// let work = std::future::poll_fn(move |_cx| {
///     long = !long;
///     ticking.advance(Duration::from_micros(if long { 80 } else { 10 }));
///     Poll::<()>::Pending
/// });
/// let monitor = SlowPollMonitor::new(&clock); // threshold 50 µs
/// let metrics = monitor.metrics().clone();
/// let mut monitored = Box::pin(ServiceMonitor::with_monitor(work, monitor, clock.clone()));
/// for _ in 0..4 {
///     let _ = monitored.as_mut().poll(&mut Context::from_waker(Waker::noop()));
/// }
/// let snapshot = metrics.snapshot(&clock);
/// assert_eq!(snapshot.slow_poll_count, 2);
/// assert_eq!(snapshot.total_slow_poll_duration, Duration::from_micros(160));
/// assert_eq!(snapshot.fast_poll_count, 2);
/// assert_eq!(snapshot.total_fast_poll_duration, Duration::from_micros(20));
/// # use std::future::Future;
/// ```
#[derive(Debug)]
pub struct SlowPollMonitor {
    metrics: Arc<SlowPollMetrics>,
    threshold_ticks: Ticks,
    writer: SeqWriter,
    slow_poll_count: u64,
    slow_poll_ticks: Ticks,
    fast_poll_count: u64,
    fast_poll_ticks: Ticks,
}

/// The shared, read-only-to-readers side of a [`SlowPollMonitor`].
///
/// # Guarantees
///
/// A snapshot reflects one poll edge: counts and totals are never torn across polls (a
/// sequence lock; the writer never waits, a reader that overlapped a write retries).
///
/// # Layout
///
/// 56 bytes (`size_of::<SlowPollMetrics>()`: a sequence number, four `u64` counters and the
/// threshold as a `Duration`), in one `Arc` allocation per instance made when the monitor is
/// built. Constant: it never grows with time or poll count.
#[derive(Debug)]
pub struct SlowPollMetrics {
    lock: SeqLock,
    slow_poll_count: AtomicU64,
    /// Sum of slow polls' durations, in ticks.
    slow_poll_ticks: AtomicU64,
    fast_poll_count: AtomicU64,
    /// Sum of fast polls' durations, in ticks.
    fast_poll_ticks: AtomicU64,
    threshold: Duration,
}

/// The figures of a [`SlowPollMonitor`], in plain units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct SlowPollSnapshot {
    /// Completed polls (including one that panicked) that lasted longer than `threshold`.
    pub slow_poll_count: u64,
    /// Total time spent in those polls.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "total_slow_poll_ns", with = "crate::duration_ns")
    )]
    pub total_slow_poll_duration: Duration,
    /// Completed polls that lasted `threshold` or less.
    pub fast_poll_count: u64,
    /// Total time spent in those polls.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "total_fast_poll_ns", with = "crate::duration_ns")
    )]
    pub total_fast_poll_duration: Duration,
    /// The threshold: a poll is slow if it lasted strictly longer.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "threshold_ns", with = "crate::duration_ns")
    )]
    pub threshold: Duration,
}

impl SlowPollMonitor {
    /// A monitor on `clock` with the default threshold, [`DEFAULT_SLOW_POLL_THRESHOLD`].
    pub fn new<C: Clock>(clock: &C) -> Self {
        Self::with_threshold(clock, DEFAULT_SLOW_POLL_THRESHOLD)
    }

    /// A monitor on `clock` where a poll is slow if it lasts longer than `threshold`.
    ///
    /// `clock` must be the clock of the [`ServiceMonitor`](crate::ServiceMonitor) this
    /// monitor goes into; it is used once, here, to convert `threshold` to ticks.
    pub fn with_threshold<C: Clock>(clock: &C, threshold: Duration) -> Self {
        Self {
            metrics: Arc::new(SlowPollMetrics {
                lock: SeqLock::default(),
                slow_poll_count: AtomicU64::new(0),
                slow_poll_ticks: AtomicU64::new(0),
                fast_poll_count: AtomicU64::new(0),
                fast_poll_ticks: AtomicU64::new(0),
                threshold,
            }),
            threshold_ticks: clock.duration_to_ticks(threshold),
            writer: SeqWriter::default(),
            slow_poll_count: 0,
            slow_poll_ticks: 0,
            fast_poll_count: 0,
            fast_poll_ticks: 0,
        }
    }

    /// The shared metrics this monitor writes; clone the `Arc` to read them elsewhere.
    #[inline]
    pub fn metrics(&self) -> &Arc<SlowPollMetrics> {
        &self.metrics
    }

    /// The threshold in ticks of the clock the monitor was built with.
    #[inline]
    pub fn threshold_ticks(&self) -> Ticks {
        self.threshold_ticks
    }
}

impl PollMonitor for SlowPollMonitor {
    #[inline]
    fn on_poll_end(&mut self, start: Ticks, end: Ticks, _outcome: PollOutcome) {
        let ticks = end.saturating_sub(start);
        let metrics = &*self.metrics;
        if ticks > self.threshold_ticks {
            self.slow_poll_count += 1;
            self.slow_poll_ticks = self.slow_poll_ticks.saturating_add(ticks);
            let (count, total) = (self.slow_poll_count, self.slow_poll_ticks);
            self.writer.write(&metrics.lock, || {
                // Relaxed: published by the sequence lock's Release store.
                metrics.slow_poll_count.store(count, Ordering::Relaxed);
                metrics.slow_poll_ticks.store(total, Ordering::Relaxed);
            });
        } else {
            self.fast_poll_count += 1;
            self.fast_poll_ticks = self.fast_poll_ticks.saturating_add(ticks);
            let (count, total) = (self.fast_poll_count, self.fast_poll_ticks);
            self.writer.write(&metrics.lock, || {
                // Relaxed: published by the sequence lock's Release store.
                metrics.fast_poll_count.store(count, Ordering::Relaxed);
                metrics.fast_poll_ticks.store(total, Ordering::Relaxed);
            });
        }
    }
}

impl SlowPollMetrics {
    /// The threshold: a poll is slow if it lasts strictly longer.
    pub fn threshold(&self) -> Duration {
        self.threshold
    }

    /// The figures in plain units; `clock` must be the clock the monitor was built with.
    pub fn snapshot<C: Clock>(&self, clock: &C) -> SlowPollSnapshot {
        let [slow_count, slow_ticks, fast_count, fast_ticks] = self.lock.read(|| {
            // Relaxed: validated by the sequence lock.
            [
                self.slow_poll_count.load(Ordering::Relaxed),
                self.slow_poll_ticks.load(Ordering::Relaxed),
                self.fast_poll_count.load(Ordering::Relaxed),
                self.fast_poll_ticks.load(Ordering::Relaxed),
            ]
        });
        SlowPollSnapshot {
            slow_poll_count: slow_count,
            total_slow_poll_duration: clock.ticks_to_duration(slow_ticks),
            fast_poll_count: fast_count,
            total_fast_poll_duration: clock.ticks_to_duration(fast_ticks),
            threshold: self.threshold,
        }
    }
}
