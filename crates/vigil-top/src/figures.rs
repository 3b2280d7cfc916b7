//! Numbers as people read them: quantiles from a bucketed histogram, durations, rates.

use std::time::Duration;

use crate::model::{Mailbox, PollHistogram, Truncated};

/// The upper bound of the bucket holding quantile `q` (0..=1) of `histogram`, capped at
/// the largest poll seen; `None` for an empty histogram or mismatched bounds.
///
/// A bucketed histogram only knows ranges, so this is an upper estimate: "at least 99 %
/// of polls took at most this long".
pub(crate) fn quantile(
    histogram: &PollHistogram,
    bounds_ns: &[(u64, Option<u64>)],
    q: f64,
) -> Option<Duration> {
    let total = histogram
        .buckets
        .iter()
        .fold(0u64, |sum, count| sum.saturating_add(*count));
    if total == 0 || bounds_ns.len() < histogram.buckets.len() {
        return None;
    }
    // The rank of the quantile, 1-based: the smallest count that covers `q` of the polls.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // 0 < q·total <= total
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
    let mut seen = 0u64;
    for (count, (_, upper)) in histogram.buckets.iter().zip(bounds_ns) {
        seen = seen.saturating_add(*count);
        if seen >= rank {
            let upper = upper.unwrap_or(histogram.max_ns);
            let capped = if histogram.max_ns > 0 {
                upper.min(histogram.max_ns)
            } else {
                upper
            };
            return Some(Duration::from_nanos(capped));
        }
    }
    None
}

/// " (N not listed)" after the live count when the endpoint's instance limit cut the list.
pub(crate) fn unlisted(truncated: Option<Truncated>) -> String {
    truncated.map_or_else(String::new, |cut| {
        format!(
            " ({} not listed: limit {})",
            cut.instances_left_out, cut.instance_limit
        )
    })
}

/// A mailbox's fill as `depth/capacity`: `1000/1000`.
pub(crate) fn mailbox(mailbox: &Mailbox) -> String {
    format!("{}/{}", mailbox.depth, mailbox.capacity)
}

/// A duration in the unit that keeps it short: `850ns`, `12.3µs`, `4.0ms`, `2.50s`, `3m05s`.
pub(crate) fn duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos < 1_000 {
        format!("{nanos}ns")
    } else if nanos < 1_000_000 {
        format!("{:.1}µs", duration.as_secs_f64() * 1e6)
    } else if nanos < 1_000_000_000 {
        format!("{:.1}ms", duration.as_secs_f64() * 1e3)
    } else if duration < Duration::from_secs(60) {
        format!("{:.2}s", duration.as_secs_f64())
    } else if duration < Duration::from_secs(3600) {
        let seconds = duration.as_secs();
        format!("{}m{:02}s", seconds / 60, seconds % 60)
    } else {
        let seconds = duration.as_secs();
        format!("{}h{:02}m", seconds / 3600, (seconds % 3600) / 60)
    }
}

/// A bucket's lower bound as a short axis label: `0`, `256n`, `4µ`, `1m`, `2s`.
pub(crate) fn bound_label(nanos: u64) -> String {
    match nanos {
        0 => "0".to_owned(),
        n if n < 1_000 => format!("{n}n"),
        n if n < 1_000_000 => format!("{}µ", n / 1_000),
        n if n < 1_000_000_000 => format!("{}m", n / 1_000_000),
        n => format!("{}s", n / 1_000_000_000),
    }
}

/// A rate per second: `0`, `3.5`, `120`, `4.2k`, `1.3M`.
pub(crate) fn rate(per_second: f64) -> String {
    if per_second >= 999_500.0 {
        format!("{:.1}M", per_second / 1e6)
    } else if per_second >= 9_999.5 {
        format!("{:.1}k", per_second / 1e3)
    } else if per_second >= 99.5 || per_second == 0.0 {
        format!("{per_second:.0}")
    } else {
        format!("{per_second:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> Vec<(u64, Option<u64>)> {
        vec![
            (0, Some(1_000)),
            (1_000, Some(10_000)),
            (10_000, Some(100_000)),
            (100_000, None),
        ]
    }

    #[test]
    fn quantiles_come_from_cumulative_bucket_counts() {
        let histogram = PollHistogram {
            buckets: vec![10, 80, 9, 1],
            max_ns: 300_000,
        };
        let at = |q| quantile(&histogram, &bounds(), q);
        assert_eq!(at(0.05), Some(Duration::from_nanos(1_000)));
        assert_eq!(at(0.5), Some(Duration::from_nanos(10_000)));
        assert_eq!(at(0.99), Some(Duration::from_nanos(100_000)));
        // The open last bucket reads as the largest poll seen.
        assert_eq!(at(1.0), Some(Duration::from_nanos(300_000)));
    }

    #[test]
    fn an_empty_or_mismatched_histogram_has_no_quantile() {
        let empty = PollHistogram {
            buckets: vec![0; 4],
            max_ns: 0,
        };
        assert_eq!(quantile(&empty, &bounds(), 0.99), None);
        let long = PollHistogram {
            buckets: vec![1; 5],
            max_ns: 1,
        };
        assert_eq!(quantile(&long, &bounds(), 0.99), None);
    }

    #[test]
    fn durations_and_rates_stay_short() {
        assert_eq!(duration(Duration::from_nanos(850)), "850ns");
        assert_eq!(duration(Duration::from_micros(12)), "12.0µs");
        assert_eq!(duration(Duration::from_millis(4)), "4.0ms");
        assert_eq!(duration(Duration::from_millis(2_500)), "2.50s");
        assert_eq!(duration(Duration::from_secs(185)), "3m05s");
        assert_eq!(rate(0.0), "0");
        assert_eq!(rate(3.46), "3.5");
        assert_eq!(rate(120.2), "120");
        assert_eq!(rate(42_000.0), "42.0k");
        assert_eq!(bound_label(4_096), "4µ");
    }
}
