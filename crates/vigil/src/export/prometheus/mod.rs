//! Prometheus / OpenMetrics text of snapshots (feature `prometheus`).
//!
//! The text is encoded by [`prometheus_client`], in either of the two text formats it
//! writes ([`Format`]); nothing here formats exposition text by hand.
//!
//! - [`encode`]: the text of one [`ServicesMetrics`](crate::ServicesMetrics) snapshot.
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
//! // Not polled yet: the runtime has not run.
//! assert!(text.contains("vigil_service_polls_total{service=\"consumer\",instance=\"0\"} 0\n"));
//! assert!(text.contains("vigil_service_instances{service=\"consumer\"} 1\n"));
//! ```
//!
//! # Metrics
//!
//! Each snapshot is encoded whole: the text lists the instances live when it was taken, and
//! an instance that ended is simply absent from the next scrape (Prometheus marks its
//! series stale). Per-instance series carry the labels `service` (the service name) and
//! `instance` (the instance id in decimal); times are in seconds (floats), as Prometheus
//! recommends. Sample names below are those of both formats (OpenMetrics appends the
//! `_total` of counters to the family name itself).
//!
//! Per service name:
//!
//! | sample | type | unit | value |
//! |---|---|---|---|
//! | `vigil_service_instances{service}` | gauge | instances | live instances of the name |
//!
//! Per instance, always (the registry's default monitor):
//!
//! | sample | type | unit | value |
//! |---|---|---|---|
//! | `vigil_service_polls_total` | counter | polls | `poll_count`: completed polls |
//! | `vigil_service_busy_seconds_total` | counter | s | `total_busy_duration`, including the poll in progress |
//! | `vigil_service_utilization_percent` | gauge | percent, 0..=100 | `utilization` over the registry's window |
//! | `vigil_service_in_poll_seconds` | gauge | s | `current_poll_duration`; `0` between polls |
//! | `vigil_service_age_seconds` | gauge | s | `age`: time since the instance started |
//!
//! With [`SlowPolls`](crate::registry::SlowPolls) attached:
//!
//! | sample | type | unit | value |
//! |---|---|---|---|
//! | `vigil_service_slow_polls_total` | counter | polls | polls longer than the threshold |
//! | `vigil_service_slow_poll_seconds_total` | counter | s | time spent in those |
//! | `vigil_service_fast_polls_total` | counter | polls | the other polls |
//! | `vigil_service_fast_poll_seconds_total` | counter | s | time spent in those |
//! | `vigil_service_slow_poll_threshold_seconds` | gauge | s | the threshold |
//!
//! With [`Scheduling`](crate::registry::Scheduling) attached:
//!
//! | sample | type | unit | value |
//! |---|---|---|---|
//! | `vigil_service_scheduled_polls_total` | counter | polls | polls that followed a wake |
//! | `vigil_service_scheduling_delay_seconds_total` | counter | s | sum of wake-to-poll delays |
//! | `vigil_service_scheduling_delay_max_seconds` | gauge | s | the longest of them |
//! | `vigil_service_idle_periods_total` | counter | periods | idle periods ended by a wake |
//! | `vigil_service_idle_seconds_total` | counter | s | sum of idle periods |
//! | `vigil_service_idle_max_seconds` | gauge | s | the longest of them |
//! | `vigil_service_first_poll_delay_seconds` | gauge | s | start to first poll; absent until the first poll |
//!
//! With [`PollHistograms`](crate::registry::PollHistograms) attached:
//!
//! | sample | type | unit | value |
//! |---|---|---|---|
//! | `vigil_service_poll_duration_seconds_bucket{le}`, `_sum`, `_count` | histogram | s | the poll-duration histogram |
//! | `vigil_service_poll_duration_max_seconds` | gauge | s | the longest poll |
//!
//! A family with no sample (its monitor is not attached, or no instance is live) is left
//! out, descriptor included.
//!
//! # The histogram
//!
//! `prometheus_client`'s own `Histogram` takes observations one by one; a snapshot holds
//! [`PollHistogram`](crate::monitor::PollHistogram)'s bucket counts instead. They are
//! written through the crate's encoder API as a true histogram (`MetricEncoder::encode_histogram`
//! with the precomputed counts), so the exposition is a native Prometheus histogram that
//! `histogram_quantile` and aggregation across instances handle as usual:
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

pub use encode::{encode, RegistryCollector};

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
