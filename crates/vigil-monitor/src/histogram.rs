//! `PollHistogramMonitor`: a constant-memory, lock-free poll-duration histogram with
//! power-of-two buckets.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, Ticks};
use crate::monitor::{PollMonitor, PollOutcome};
use crate::seqlock::{SeqLock, SeqWriter};

/// Number of buckets of a [`PollHistogram`]: an underflow bucket `[0, 256 ns)`, 22
/// power-of-two buckets `[2^k, 2^(k+1))` ns for `k` in `8..30` (256 ns up to 2^30 ns ≈
/// 1.07 s), and an overflow bucket `[2^30 ns, ∞)`.
pub const HISTOGRAM_BUCKETS: usize = 24;

/// `log2` of the upper bound of the underflow bucket: 2^8 ns = 256 ns.
const FIRST_BOUND_LOG2: u32 = 8;

/// Fixed-point shift of the per-monitor ticks-to-nanoseconds scale.
const SCALE_SHIFT: u32 = 32;

/// Records the duration of every poll in a fixed, log-scale histogram, plus the exact maximum.
///
/// tokio-console's per-task histograms grew without bound with the range of values seen;
/// this one is a fixed array of [`HISTOGRAM_BUCKETS`] counters: memory never grows with
/// time or poll count (see [`PollHistogramMetrics`] for the bytes).
///
/// # Cost per poll
///
/// The clock's ticks are turned into nanoseconds with a fixed-point scale computed once at
/// construction (`ns = ticks * scale >> 32`: one 64×64-bit multiply), and the bucket index is
/// `bit_length(ns) - 8` clamped to the bucket range: one `lzcnt`, no table, no branch, no
/// search. This is cheaper than precomputed tick boundaries, which need a search (five
/// data-dependent branches for 23 boundaries) and 184 bytes of boundaries per monitor, and
/// cheaper than [`Clock::ticks_to_nanos`], which for the default clock also checks a global
/// `OnceLock` and the clock's kind. Then, inside a sequence lock: the bucket's counter is
/// loaded and stored back plus one (this thread is the only writer, so no read-modify-write
/// is needed; the load hits the line the store writes anyway, and keeping a private copy of
/// all buckets instead would cost 192 bytes in every monitored future), and the maximum is
/// stored when it grows. Four to five plain stores in all.
///
/// A poll that panicked is recorded like any other.
///
/// # Examples
///
/// ```
/// use std::task::{Context, Poll, Waker};
/// use std::time::Duration;
/// use vigil_monitor::{MockClock, PollHistogramMonitor, ServiceMonitor};
///
/// let clock = MockClock::new();
/// let ticking = clock.clone();
/// let mut polls = 0_u64;
/// let work = std::future::poll_fn(move |_cx| {
///     polls += 1;
///     // 99 polls of 1 µs, then one of 3 ms.
///     ticking.advance(if polls == 100 { Duration::from_millis(3) } else { Duration::from_micros(1) });
///     Poll::<()>::Pending
/// });
/// let monitor = PollHistogramMonitor::new(&clock);
/// let metrics = monitor.metrics().clone();
/// let mut monitored = Box::pin(ServiceMonitor::with_monitor(work, monitor, clock));
/// for _ in 0..100 {
///     let _ = monitored.as_mut().poll(&mut Context::from_waker(Waker::noop()));
/// }
/// let histogram = metrics.snapshot();
/// assert_eq!(histogram.count(), 100);
/// // 1 µs lies in the bucket [512 ns, 1024 ns): the estimate is its upper bound.
/// assert_eq!(histogram.quantile(0.5), Duration::from_nanos(1024));
/// assert_eq!(histogram.quantile(0.99), Duration::from_nanos(1024));
/// // The top quantile is clamped to the exact maximum.
/// assert_eq!(histogram.quantile(1.0), Duration::from_millis(3));
/// assert_eq!(histogram.max, Duration::from_millis(3));
/// # use std::future::Future;
/// ```
#[derive(Debug)]
pub struct PollHistogramMonitor {
    metrics: Arc<PollHistogramMetrics>,
    /// Nanoseconds per tick, times 2^32.
    nanos_per_tick_scaled: u64,
    writer: SeqWriter,
    max_ns: u64,
}

/// The shared, read-only-to-readers side of a [`PollHistogramMonitor`].
///
/// # Guarantees
///
/// A snapshot reflects one poll edge: the buckets and the maximum are never torn across
/// polls (a sequence lock; the writer never waits, a reader that overlapped a write retries).
///
/// # Layout
///
/// 208 bytes (`size_of::<PollHistogramMetrics>()`: a sequence number, 24 `u64` bucket counters
/// and the maximum), in one `Arc` allocation per instance made when the monitor is built.
/// Constant: it never grows with time or poll count. The writer adds 32 bytes to the
/// monitored future.
#[derive(Debug)]
pub struct PollHistogramMetrics {
    lock: SeqLock,
    buckets: [AtomicU64; HISTOGRAM_BUCKETS],
    /// The longest poll, in nanoseconds.
    max_ns: AtomicU64,
}

/// A poll-duration histogram in plain units: the snapshot of a [`PollHistogramMonitor`], or a
/// [`merge`](PollHistogram::merge) of several.
///
/// Bucket `i` counts polls whose duration `d` lies in `bucket_bounds()[i]`: `[0, 256 ns)` for
/// `i = 0`, `[2^(i+7), 2^(i+8))` ns for `i` in `1..23`, and `[2^30 ns, ∞)` for the last one.
///
/// # Quantile error
///
/// [`quantile(q)`](PollHistogram::quantile) returns, for the poll of rank `⌈q·count⌉` (the
/// *nearest-rank* `q`-quantile `v`), the exclusive upper bound of its bucket, clamped to
/// [`max`](PollHistogram::max). Hence, exactly:
///
/// - `v <= estimate` always: the estimate never understates;
/// - `estimate <= max(2·v, 256 ns)` if `v < 2^30 ns` (about 1.07 s): within a factor of two,
///   or within 256 ns below 256 ns;
/// - `estimate == max` if `v >= 2^30 ns` (the overflow bucket has no upper bound).
///
/// `quantile(1.0)` is the exact maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct PollHistogram {
    /// Polls per bucket; see [`bucket_bounds`](PollHistogram::bucket_bounds).
    pub buckets: [u64; HISTOGRAM_BUCKETS],
    /// The longest poll recorded (zero if none).
    #[cfg_attr(
        feature = "serde",
        serde(rename = "max_ns", with = "crate::duration_ns")
    )]
    pub max: Duration,
}

/// The bucket of a duration in nanoseconds: `bit_length(ns) - 8`, clamped.
#[inline]
fn bucket_index(ns: u64) -> usize {
    let bit_length = u64::BITS - ns.leading_zeros();
    bit_length
        .saturating_sub(FIRST_BOUND_LOG2)
        .min(HISTOGRAM_BUCKETS as u32 - 1) as usize
}

/// Exclusive upper bound of bucket `index`, in nanoseconds (`u64::MAX` for the overflow one).
const fn bucket_upper_ns(index: usize) -> u64 {
    if index + 1 >= HISTOGRAM_BUCKETS {
        u64::MAX
    } else {
        1 << (FIRST_BOUND_LOG2 + index as u32)
    }
}

impl PollHistogramMonitor {
    /// A monitor on `clock`.
    ///
    /// `clock` must be the clock of the [`ServiceMonitor`](crate::ServiceMonitor) this
    /// monitor goes into; it is used once, here, to compute the ticks-to-nanoseconds scale.
    pub fn new<C: Clock>(clock: &C) -> Self {
        Self {
            metrics: Arc::new(PollHistogramMetrics {
                lock: SeqLock::default(),
                buckets: Default::default(),
                max_ns: AtomicU64::new(0),
            }),
            nanos_per_tick_scaled: clock.ticks_to_nanos(1 << SCALE_SHIFT),
            writer: SeqWriter::default(),
            max_ns: 0,
        }
    }

    /// The shared histogram this monitor writes; clone the `Arc` to read it elsewhere.
    #[inline]
    pub fn metrics(&self) -> &Arc<PollHistogramMetrics> {
        &self.metrics
    }

    #[inline]
    fn ticks_to_nanos(&self, ticks: Ticks) -> u64 {
        let nanos = (u128::from(ticks) * u128::from(self.nanos_per_tick_scaled)) >> SCALE_SHIFT;
        u64::try_from(nanos).unwrap_or(u64::MAX)
    }
}

impl PollMonitor for PollHistogramMonitor {
    #[inline]
    fn on_poll_end(&mut self, start: Ticks, end: Ticks, _outcome: PollOutcome) {
        let nanos = self.ticks_to_nanos(end.saturating_sub(start));
        let bucket = &self.metrics.buckets[bucket_index(nanos)];
        let max_ns = &self.metrics.max_ns;
        let new_max = nanos > self.max_ns;
        if new_max {
            self.max_ns = nanos;
        }
        let max = self.max_ns;
        self.writer.write(&self.metrics.lock, || {
            // Relaxed load: this thread (or the previous poller, ordered before this poll by
            // the executor) made the last store. Relaxed stores: published by the lock.
            bucket.store(bucket.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            if new_max {
                max_ns.store(max, Ordering::Relaxed);
            }
        });
    }
}

impl PollHistogramMetrics {
    /// The histogram so far. Durations are recorded in nanoseconds, so no clock is needed.
    pub fn snapshot(&self) -> PollHistogram {
        let (buckets, max_ns) = self.lock.read(|| {
            // Relaxed: validated by the sequence lock.
            let buckets = std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed));
            (buckets, self.max_ns.load(Ordering::Relaxed))
        });
        PollHistogram {
            buckets,
            max: Duration::from_nanos(max_ns),
        }
    }
}

impl PollHistogram {
    /// The bounds of every bucket, `(inclusive lower, exclusive upper)`; the overflow bucket's
    /// upper bound is `Duration::MAX`.
    pub fn bucket_bounds() -> [(Duration, Duration); HISTOGRAM_BUCKETS] {
        std::array::from_fn(|index| {
            let lower = if index == 0 {
                Duration::ZERO
            } else {
                Duration::from_nanos(bucket_upper_ns(index - 1))
            };
            let upper = match bucket_upper_ns(index) {
                u64::MAX => Duration::MAX,
                nanos => Duration::from_nanos(nanos),
            };
            (lower, upper)
        })
    }

    /// The number of polls recorded: the sum of the buckets.
    pub fn count(&self) -> u64 {
        self.buckets
            .iter()
            .fold(0_u64, |sum, &count| sum.saturating_add(count))
    }

    /// `true` if no poll was recorded.
    pub fn is_empty(&self) -> bool {
        self.buckets.iter().all(|&count| count == 0)
    }

    /// Adds `other` into `self`: bucket-wise sum (saturating) and the larger maximum. This is
    /// the histogram of both sets of polls, exactly; the operation is commutative and
    /// associative, so per-name aggregates can merge instances in any order.
    pub fn merge(&mut self, other: &PollHistogram) {
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets) {
            *mine = mine.saturating_add(theirs);
        }
        self.max = self.max.max(other.max);
    }

    /// Estimates the `q`-quantile (`q` in `0.0..=1.0`, clamped; NaN reads as 0) of the poll
    /// durations: the upper bound of the bucket holding the poll of rank `⌈q·count⌉` (at
    /// least 1), clamped to [`max`](PollHistogram::max). Zero for an empty histogram.
    ///
    /// See the [type docs](PollHistogram#quantile-error) for the exact error bound. The
    /// estimate is non-decreasing in `q`.
    pub fn quantile(&self, q: f64) -> Duration {
        let count = self.count();
        if count == 0 {
            return Duration::ZERO;
        }
        // `as` saturates: NaN and negatives give 0, hence rank 1.
        let rank = ((q.clamp(0.0, 1.0) * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0_u64;
        for (index, &bucket) in self.buckets.iter().enumerate() {
            seen = seen.saturating_add(bucket);
            if seen >= rank {
                return match bucket_upper_ns(index) {
                    u64::MAX => self.max,
                    nanos => Duration::from_nanos(nanos).min(self.max),
                };
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_index_follows_the_bounds() {
        let bounds = PollHistogram::bucket_bounds();
        for (index, (lower, upper)) in bounds.iter().enumerate() {
            let lower_ns = lower.as_nanos() as u64;
            assert_eq!(bucket_index(lower_ns), index, "lower bound of {index}");
            if *upper != Duration::MAX {
                let upper_ns = upper.as_nanos() as u64;
                assert_eq!(bucket_index(upper_ns - 1), index, "upper bound of {index}");
                assert_eq!(upper_ns, 2 * lower_ns.max(128), "power-of-two buckets");
            }
        }
        assert_eq!(bounds[1].0, Duration::from_nanos(256));
        assert_eq!(
            bounds[HISTOGRAM_BUCKETS - 1].0,
            Duration::from_nanos(1 << 30)
        );
        assert_eq!(bucket_index(u64::MAX), HISTOGRAM_BUCKETS - 1);
        assert_eq!(bucket_index(0), 0);
    }

    #[test]
    fn scale_is_exact_for_nanosecond_clocks() {
        let monitor = PollHistogramMonitor::new(&crate::MockClock::new());
        for ticks in [0, 1, 255, 256, 1 << 30, u64::MAX / 3, u64::MAX] {
            assert_eq!(monitor.ticks_to_nanos(ticks), ticks);
        }
    }

    #[test]
    fn writer_is_small() {
        assert_eq!(std::mem::size_of::<PollHistogramMonitor>(), 32);
    }
}
