//! `PollHistogramMonitor`: bucket counts, quantile error bound, merge and constant memory.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{monitored, poll_busy};
use proptest::prelude::*;
use vigil_monitor::{
    BusyMonitor, MockClock, PollHistogram, PollHistogramMetrics, PollHistogramMonitor, Ticks,
    HISTOGRAM_BUCKETS,
};

/// 2^30 ns: the lower bound of the overflow bucket.
const OVERFLOW_NS: u64 = 1 << 30;

/// Records every duration (in ticks = ns of the mock clock) through a monitored future.
fn record(durations: &[Ticks]) -> PollHistogram {
    let clock = MockClock::new();
    let monitor = PollHistogramMonitor::new(&clock);
    let metrics = Arc::clone(monitor.metrics());
    let (mut monitored, script) = monitored(&clock, monitor);
    for &ticks in durations {
        poll_busy(&mut monitored, &script, ticks);
        clock.advance_ticks(1_000);
    }
    metrics.snapshot()
}

/// The bucket of `nanos`, found from the public bounds (not the monitor's arithmetic).
fn reference_bucket(nanos: u64) -> usize {
    let duration = Duration::from_nanos(nanos);
    PollHistogram::bucket_bounds()
        .iter()
        .position(|&(lower, upper)| lower <= duration && duration < upper)
        .expect("the buckets cover every duration")
}

/// The exact nearest-rank `q`-quantile: the value of rank `ceil(q * n)` (at least 1).
fn exact_quantile(sorted: &[u64], q: f64) -> u64 {
    let n = sorted.len() as u64;
    let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
    sorted[rank as usize - 1]
}

/// Durations spread log-uniformly from 0 to about 34 s, so every bucket gets hits.
fn duration_ns() -> impl Strategy<Value = u64> {
    (0_u32..36, any::<u64>()).prop_map(|(bits, noise)| match bits {
        0 => 0,
        bits => {
            let low = 1_u64 << (bits - 1);
            low + noise % low
        }
    })
}

fn histogram_of(durations: &[u64]) -> PollHistogram {
    let mut histogram = PollHistogram::default();
    for &d in durations {
        histogram.buckets[reference_bucket(d)] += 1;
    }
    histogram.max = Duration::from_nanos(durations.iter().copied().max().unwrap_or(0));
    histogram
}

#[test]
fn bucket_bounds_are_contiguous_powers_of_two() {
    let bounds = PollHistogram::bucket_bounds();
    assert_eq!(bounds.len(), HISTOGRAM_BUCKETS);
    assert_eq!(HISTOGRAM_BUCKETS, 24);
    assert_eq!(bounds[0], (Duration::ZERO, Duration::from_nanos(256)));
    for index in 1..HISTOGRAM_BUCKETS - 1 {
        let (lower, upper) = bounds[index];
        assert_eq!(lower, bounds[index - 1].1, "contiguous at {index}");
        assert_eq!(lower, Duration::from_nanos(1 << (index + 7)));
        assert_eq!(upper, lower * 2);
    }
    assert_eq!(
        bounds[HISTOGRAM_BUCKETS - 1],
        (Duration::from_nanos(OVERFLOW_NS), Duration::MAX)
    );
}

#[test]
fn exact_buckets_at_the_edges() {
    let histogram = record(&[
        0,
        255,
        256,
        511,
        512,
        OVERFLOW_NS - 1,
        OVERFLOW_NS,
        u64::MAX / 2,
    ]);
    let mut expected = [0_u64; HISTOGRAM_BUCKETS];
    expected[0] = 2;
    expected[1] = 2;
    expected[2] = 1;
    expected[22] = 1;
    expected[23] = 2;
    assert_eq!(histogram.buckets, expected);
    assert_eq!(histogram.count(), 8);
    assert_eq!(histogram.max, Duration::from_nanos(u64::MAX / 2));
}

#[test]
fn empty_histogram() {
    let histogram = record(&[]);
    assert!(histogram.is_empty());
    assert_eq!(histogram.count(), 0);
    assert_eq!(histogram.max, Duration::ZERO);
    assert_eq!(histogram.quantile(0.5), Duration::ZERO);
    assert_eq!(histogram, PollHistogram::default());
}

#[test]
fn quantiles_of_a_known_distribution() {
    // 90 polls of 300 ns, 9 of 5 µs, 1 of 40 ms.
    let mut durations = vec![300; 90];
    durations.extend([5_000; 9]);
    durations.push(40_000_000);
    let histogram = record(&durations);
    assert_eq!(histogram.quantile(0.0), Duration::from_nanos(512));
    assert_eq!(histogram.quantile(0.5), Duration::from_nanos(512));
    assert_eq!(histogram.quantile(0.9), Duration::from_nanos(512));
    assert_eq!(histogram.quantile(0.91), Duration::from_nanos(8_192));
    assert_eq!(histogram.quantile(0.99), Duration::from_nanos(8_192));
    assert_eq!(histogram.quantile(0.999), Duration::from_millis(40));
    assert_eq!(histogram.quantile(1.0), Duration::from_millis(40));
    assert_eq!(histogram.quantile(f64::NAN), Duration::from_nanos(512));
    assert_eq!(
        histogram.quantile(7.0),
        Duration::from_millis(40),
        "q is clamped"
    );
}

#[test]
fn the_estimate_is_clamped_to_the_maximum() {
    // All polls of 300 ns: the bucket's upper bound (512 ns) is above the maximum.
    let histogram = record(&[300; 10]);
    assert_eq!(histogram.quantile(0.5), Duration::from_nanos(300));
}

#[test]
fn memory_is_constant_and_as_documented() {
    // The documented layout: a sequence number, 24 bucket counters and the maximum.
    assert_eq!(std::mem::size_of::<PollHistogramMetrics>(), 208);
    assert_eq!(std::mem::size_of::<PollHistogramMonitor>(), 32);
    assert_eq!(std::mem::size_of::<PollHistogram>(), 24 * 8 + 16);
    // A hundred thousand polls later the state is the same fixed array: nothing was allocated into.
    let clock = MockClock::new();
    let monitor = PollHistogramMonitor::new(&clock);
    let metrics = Arc::clone(monitor.metrics());
    let (mut monitored, script) = monitored(&clock, monitor);
    for i in 0..100_000_u64 {
        poll_busy(
            &mut monitored,
            &script,
            i.wrapping_mul(0x9E37_79B9) % (1 << 32),
        );
    }
    assert_eq!(metrics.snapshot().count(), 100_000);
}

#[test]
fn counts_agree_with_busy_monitor_in_a_stack() {
    let clock = MockClock::new();
    let busy = BusyMonitor::new(&clock);
    let histogram = PollHistogramMonitor::new(&clock);
    let (busy_metrics, histogram_metrics) =
        (Arc::clone(busy.metrics()), Arc::clone(histogram.metrics()));
    let (mut monitored, script) = monitored(&clock, (busy, histogram));
    for ticks in [10, 2_000, 70, 1 << 31] {
        poll_busy(&mut monitored, &script, ticks);
    }
    assert_eq!(
        histogram_metrics.snapshot().count(),
        busy_metrics.snapshot(&clock).poll_count
    );
    assert_eq!(
        histogram_metrics.snapshot().max,
        Duration::from_nanos(1 << 31)
    );
}

proptest! {
    #[test]
    fn bucket_counts_sum_to_poll_count(durations in proptest::collection::vec(duration_ns(), 0..200)) {
        let histogram = record(&durations);
        prop_assert_eq!(histogram.count(), durations.len() as u64);
        prop_assert_eq!(histogram, histogram_of(&durations), "every poll in its bucket");
    }

    #[test]
    fn quantiles_are_monotonic_and_within_the_stated_error(
        durations in proptest::collection::vec(duration_ns(), 1..200),
        extra_qs in proptest::collection::vec(0.0_f64..=1.0, 0..20),
    ) {
        let histogram = record(&durations);
        let mut sorted = durations.clone();
        sorted.sort_unstable();
        let max = *sorted.last().unwrap();
        let mut qs: Vec<f64> = vec![0.0, 0.5, 0.9, 0.99, 0.999, 1.0];
        qs.extend(extra_qs);
        qs.sort_by(f64::total_cmp);
        let mut previous = Duration::ZERO;
        for q in qs {
            let estimate = histogram.quantile(q);
            prop_assert!(estimate >= previous, "not monotonic at q = {}", q);
            previous = estimate;
            let exact = Duration::from_nanos(exact_quantile(&sorted, q));
            prop_assert!(exact <= estimate, "q = {}: {:?} understates {:?}", q, estimate, exact);
            if exact < Duration::from_nanos(OVERFLOW_NS) {
                let bound = (exact * 2).max(Duration::from_nanos(256));
                prop_assert!(estimate <= bound, "q = {}: {:?} above {:?}", q, estimate, bound);
            } else {
                prop_assert_eq!(estimate, Duration::from_nanos(max));
            }
        }
        prop_assert_eq!(histogram.quantile(1.0), Duration::from_nanos(max));
    }

    #[test]
    fn merge_is_the_bucket_wise_sum_and_commutes(
        left in proptest::collection::vec(duration_ns(), 0..100),
        right in proptest::collection::vec(duration_ns(), 0..100),
    ) {
        let (a, b) = (record(&left), record(&right));
        let mut a_then_b = a;
        a_then_b.merge(&b);
        let mut b_then_a = b;
        b_then_a.merge(&a);
        prop_assert_eq!(a_then_b, b_then_a, "commutative");
        for index in 0..HISTOGRAM_BUCKETS {
            prop_assert_eq!(a_then_b.buckets[index], a.buckets[index] + b.buckets[index]);
        }
        prop_assert_eq!(a_then_b.max, a.max.max(b.max));
        // The merge is the histogram of both sets of polls.
        let both: Vec<u64> = left.iter().chain(&right).copied().collect();
        prop_assert_eq!(a_then_b, record(&both));
        // The empty histogram is the identity.
        let mut with_empty = a;
        with_empty.merge(&PollHistogram::default());
        prop_assert_eq!(with_empty, a);
    }
}
