//! Prometheus / OpenMetrics text of snapshots (feature `prometheus`).
//!
//! The text is encoded by [`prometheus_client`], in either of the two text formats it
//! writes ([`Format`]); nothing here formats exposition text by hand.
//!
//! - [`encode`]: the text of one [`ServicesMetrics`](crate::ServicesMetrics) snapshot, per
//!   service name; [`encode_with`] adds capped per-instance series
//!   ([`Granularity`](crate::export::Granularity)).
//! - [`RegistryCollector`]: a [`prometheus_client::collector::Collector`] that snapshots a
//!   vigil [`Registry`](crate::Registry) at every scrape, to add vigil's metrics to a
//!   `prometheus_client` registry you already serve.
//!
//! To serve `/metrics` over HTTP, use the endpoint of feature `http` (`vigil::http`), which
//! negotiates the format from `Accept` with [`Format::negotiate`].
//!
//! ```
//! use vigil::export::prometheus::{encode, Format};
//! use vigil::prelude::*;
//!
//! let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! let registry = Registry::new();
//! let _consumer = registry.start_in(runtime.handle(), ServiceObj::new("consumer", async {}));
//!
//! let text = encode(&registry.metrics(), Format::Prometheus);
//! assert!(text.contains("vigil_service_starts_total{service=\"consumer\"} 1\n"));
//! assert!(text.contains("vigil_service_instances{service=\"consumer\"} 1\n"));
//! // Not polled yet: the runtime has not run.
//! assert!(text.contains("vigil_service_polls_total{service=\"consumer\"} 0\n"));
//! ```
//!
//! # Series
//!
//! Each snapshot is encoded whole. Times are in seconds and shares are ratios 0..=1
//! (floats), Prometheus' base units. Sample names below are those of both formats
//! (OpenMetrics appends the `_total` of counters to the family name itself). A family with
//! no sample (its monitor is not attached, or the registry never started a service) is
//! left out, descriptor included.
//!
//! Per service name, label `service` (and `outcome` for endings), always. The counters
//! are the registry's lifetime counters: they include ended instances and never decrease;
//! a name stays after its last instance ended.
//!
//! | sample | type | unit | value |
//! |---|---|---|---|
//! | `vigil_service_starts_total` | counter | instances | instances ever started |
//! | `vigil_service_restarts_total` | counter | restarts | restarts counted by a supervisor |
//! | `vigil_service_endings_total{outcome}` | counter | instances | ended instances by outcome: `completed`, `failed`, `panicked`, `cancelled` |
//! | `vigil_service_polls_total` | counter | polls | completed polls of every instance ever started |
//! | `vigil_service_busy_seconds_total` | counter | s | time inside `poll` of every instance ever started, polls in flight included |
//! | `vigil_service_instances` | gauge | instances | live instances |
//! | `vigil_service_instances_in_poll` | gauge | instances | live instances inside a poll now |
//! | `vigil_service_utilization_max_ratio` | gauge | 0..=1 | highest utilization of a live instance over the registry's window |
//! | `vigil_service_utilization_mean_ratio` | gauge | 0..=1 | mean utilization of the live instances |
//! | `vigil_service_longest_poll_in_flight_seconds` | gauge | s | the longest poll in progress; `0` if none: the stuck-service signal |
//!
//! Per service name, with [`SlowPolls`](crate::registry::SlowPolls) or
//! [`PollHistograms`](crate::registry::PollHistograms) attached. These are figures of the
//! *live* instances, which drop when an instance ends, so they are gauges, not counters or
//! a Prometheus histogram (whose `rate()` would read each ending as a reset):
//!
//! | sample | type | unit | value |
//! |---|---|---|---|
//! | `vigil_service_slow_polls_ratio` | gauge | 0..=1 | share of the live instances' completed polls slower than the threshold |
//! | `vigil_service_slow_poll_threshold_seconds` | gauge | s | the threshold |
//! | `vigil_service_poll_duration_quantile_seconds{quantile}` | gauge | s | `0.5`, `0.9`, `0.99` estimates over the live instances' merged histogram (never below the true value, at most twice it) |
//! | `vigil_service_poll_duration_max_seconds` | gauge | s | the longest poll of a live instance |
//!
//! Per instance, only with [`Granularity::PerInstance`](crate::export::Granularity), for at
//! most `max_per_name` live instances per name (the lowest instance ids), labels `service`
//! and `instance_id`:
//!
//! | sample | type | unit | value |
//! |---|---|---|---|
//! | `vigil_service_instance_polls_total` | counter | polls | `poll_count` |
//! | `vigil_service_instance_busy_seconds_total` | counter | s | `total_busy_duration` |
//! | `vigil_service_instance_utilization_ratio` | gauge | 0..=1 | `utilization` |
//! | `vigil_service_instance_in_poll_seconds` | gauge | s | `current_poll_duration`; `0` between polls |
//! | `vigil_service_instance_age_seconds` | gauge | s | `age` |
//! | `vigil_service_instance_slow_polls_total`, `_fast_polls_total` | counter | polls | with `SlowPolls` |
//! | `vigil_service_instance_slow_poll_seconds_total`, `_fast_poll_seconds_total` | counter | s | with `SlowPolls` |
//! | `vigil_service_instance_scheduled_polls_total`, `_idle_periods_total` | counter | count | with `Scheduling` |
//! | `vigil_service_instance_scheduling_delay_seconds_total`, `_idle_seconds_total` | counter | s | with `Scheduling` |
//! | `vigil_service_instance_scheduling_delay_max_seconds`, `_idle_max_seconds`, `_first_poll_delay_seconds` | gauge | s | with `Scheduling` (the last absent until the first poll) |
//! | `vigil_service_instance_poll_duration_seconds_bucket{le}`, `_sum`, `_count` | histogram | s | with `PollHistograms` (below) |
//! | `vigil_service_instance_poll_duration_max_seconds` | gauge | s | with `PollHistograms` |
//!
//! No series has an `instance` or `job` label: Prometheus attaches those to the scraped
//! target.
//!
//! # The per-instance histogram
//!
//! `prometheus_client`'s own `Histogram` takes observations one by one; a snapshot holds
//! [`PollHistogram`](crate::monitor::PollHistogram)'s bucket counts instead. They are
//! written through the crate's encoder API as a true histogram (`MetricEncoder::encode_histogram`
//! with the precomputed counts), so `histogram_quantile` works as usual:
//!
//! - buckets: `le` = each bucket's upper bound in seconds (256 ns, 512 ns, ... , 2^30 ns ≈
//!   1.07 s, then `+Inf`), cumulative counts;
//! - `_count`: the polls in the histogram (the `+Inf` bucket);
//! - `_sum`: the default monitor's busy time of the completed polls
//!   (`total_busy_duration - current_poll_duration`). The two monitors are read one after
//!   the other, so under load `_sum` can lag `_count` by the poll(s) that ended in between.
//!
//! vigil's buckets are `[lower, upper)`: a poll of exactly `upper` is counted in the next
//! bucket, where `le` would include it; with nanosecond resolution that concerns only
//! polls of exactly a power of two nanoseconds.

mod encode;
mod families;

pub use encode::{encode, encode_with, RegistryCollector};

/// The text formats [`encode`] can produce, both written by `prometheus_client`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// OpenMetrics 1.0.0 text: counters declared by family name (`# TYPE x counter`, samples
    /// `x_total`), `# UNIT` lines, ending with `# EOF`.
    OpenMetrics,
    /// The Prometheus text format 0.0.4, which every Prometheus-compatible scraper reads.
    Prometheus,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        }
    }

    /// The format to answer a request with the given `Accept` header value.
    ///
    /// OpenMetrics if the client lists `application/openmetrics-text` with a quality (`q`,
    /// default 1) greater than zero and at least that of `text/plain` (or `text/*`, `*/*`);
    /// otherwise the Prometheus text format, which is also the answer without an `Accept`
    /// header. Prometheus servers ask for OpenMetrics first by default; `curl` gets the
    /// classic text.
    ///
    /// ```
    /// use vigil::export::prometheus::Format;
    ///
    /// let prometheus_server = "application/openmetrics-text;version=1.0.0;q=0.5,\
    ///     text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    /// assert_eq!(Format::negotiate(Some(prometheus_server)), Format::OpenMetrics);
    /// assert_eq!(Format::negotiate(Some("*/*")), Format::Prometheus);
    /// assert_eq!(Format::negotiate(None), Format::Prometheus);
    /// ```
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return Self::Prometheus;
        };
        let mut openmetrics_quality = 0.0_f64;
        let mut text_quality = 0.0_f64;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media_type = parts.next().unwrap_or_default().to_ascii_lowercase();
            let quality = parts
                .filter_map(|parameter| parameter.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
                .map_or(1.0, |(_, value)| value.trim().parse().unwrap_or(0.0));
            match media_type.as_str() {
                "application/openmetrics-text" => {
                    openmetrics_quality = openmetrics_quality.max(quality);
                }
                "text/plain" | "text/*" | "*/*" => text_quality = text_quality.max(quality),
                _ => {}
            }
        }
        if openmetrics_quality > 0.0 && openmetrics_quality >= text_quality {
            Self::OpenMetrics
        } else {
            Self::Prometheus
        }
    }
}
