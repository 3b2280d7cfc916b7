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
//! [`PollHistograms`](crate::registry::PollHistograms) attached, figures of the *live*
//! instances (they drop when an instance ends, so they are gauges):
//!
//! | sample | type | unit | value |
//! |---|---|---|---|
//! | `vigil_service_slow_polls_ratio` | gauge | 0..=1 | share of the live instances' completed polls slower than the threshold |
//! | `vigil_service_slow_poll_threshold_seconds` | gauge | s | the threshold |
//! | `vigil_service_poll_duration_max_seconds` | gauge | s | the longest poll of a live instance |
//!
//! Per service name, lifetime counters of the attached monitors: every instance ever
//! started under the name, ended ones folded in at their ending like busy time, so they
//! never decrease and `rate()` over them stays exact however instances churn:
//!
//! | sample | type | unit | value |
//! |---|---|---|---|
//! | `vigil_service_scheduled_polls_total` | counter | polls | with [`Scheduling`](crate::registry::Scheduling): polls that followed a wake |
//! | `vigil_service_scheduling_delay_seconds_total` | counter | s | with `Scheduling`: their wake-to-poll delays, summed (`rate(delay) / rate(scheduled)`: the mean delay) |
//! | `vigil_service_scheduling_delay_max_seconds` | gauge | s | with `Scheduling`: the longest wake-to-poll delay of any instance ever started (a lifetime maximum) |
//! | `vigil_service_first_polls_total` | counter | instances | with `Scheduling`: instances polled at least once |
//! | `vigil_service_first_poll_delay_seconds_total` | counter | s | with `Scheduling`: their start-to-first-poll delays, summed |
//! | `vigil_service_idle_periods_total` | counter | periods | with `Scheduling`: idle periods ended by a wake |
//! | `vigil_service_idle_seconds_total` | counter | s | with `Scheduling`: those idle periods, summed |
//! | `vigil_service_poll_duration_seconds_bucket{le}`, `_sum`, `_count` | histogram | s | with `PollHistograms`: every completed poll (below) |
//! | `vigil_service_slow_polls_total`, `vigil_service_fast_polls_total` | counter | polls | with `SlowPolls`: polls slower than the threshold, and the others |
//!
//! Per service name with a mailbox (a supervisor registers it:
//! [`Registry::watch_mailbox`](crate::Registry::watch_mailbox)), label `service`:
//!
//! | sample | type | unit | value |
//! |---|---|---|---|
//! | `vigil_mailbox_capacity` | gauge | messages | messages it holds at most |
//! | `vigil_mailbox_depth` | gauge | messages | messages waiting now |
//! | `vigil_mailbox_oldest_wait_seconds` | gauge | s | how long the oldest waiting message has waited; `0` when none waits |
//! | `vigil_mailbox_sent_total` | counter | messages | messages ever accepted |
//! | `vigil_mailbox_received_total` | counter | messages | messages the service ever took out |
//! | `vigil_mailbox_rejected_total` | counter | sends | `try_send` calls refused because it was full |
//!
//! Per watched runtime ([`Registry::watch_runtime`](crate::Registry::watch_runtime)), label
//! `runtime`, and `worker` (the worker's index, from `0`) for the per-worker series; from
//! tokio's stable metrics API:
//!
//! | sample | type | unit | value |
//! |---|---|---|---|
//! | `vigil_runtime_workers` | gauge | threads | worker threads (1 for a current-thread runtime) |
//! | `vigil_runtime_alive_tasks` | gauge | tasks | tasks spawned and not finished, services and all others |
//! | `vigil_runtime_global_queue_depth` | gauge | tasks | tasks waiting in the global (injection) queue |
//! | `vigil_runtime_worker_busy_seconds_total{worker}` | counter | s | time the worker ran tasks (`rate()`: its busy ratio) |
//! | `vigil_runtime_worker_parks_total{worker}` | counter | parks | times the worker went to sleep for lack of work |
//! | `vigil_runtime_worker_park_unparks_total{worker}` | counter | transitions | parks and unparks: odd while parked |
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
//! # The poll-duration histograms
//!
//! `prometheus_client`'s own `Histogram` takes observations one by one; a snapshot holds
//! [`PollHistogram`](crate::monitor::PollHistogram)'s bucket counts instead. They are
//! written through the crate's encoder API as true histograms (`MetricEncoder::encode_histogram`
//! with the precomputed counts), so `histogram_quantile` works as usual, and a fleet can
//! `sum by (le)` them across processes:
//!
//! - buckets: `le` = each bucket's upper bound in seconds (256 ns, 512 ns, ... , 2^30 ns ≈
//!   1.07 s, then `+Inf`), cumulative counts;
//! - `_count`: the polls in the histogram (the `+Inf` bucket). Per name it is the name's
//!   lifetime histogram ([`ServiceGroupMetrics::lifetime_poll_histogram`](crate::ServiceGroupMetrics::lifetime_poll_histogram)),
//!   so with `PollHistograms` attached from the start it equals `vigil_service_polls_total`;
//! - `_sum`: an exact figure, not an estimate from the buckets: the default monitor's busy
//!   time of the completed polls, per instance `total_busy_duration - current_poll_duration`,
//!   per name the name's lifetime busy time (`vigil_service_busy_seconds_total`) minus the
//!   polls its live instances have in progress. The two monitors are read one after the
//!   other, so under load `_sum` and `_count` can disagree by the poll(s) that ended in
//!   between; both stay monotonic.
//!
//! vigil's buckets are `[lower, upper)`: a poll of exactly `upper` is counted in the next
//! bucket, where `le` would include it; with nanosecond resolution that concerns only
//! polls of exactly a power of two nanoseconds.
//!
//! Native (sparse) histograms are not written: `prometheus_client` 0.26 encodes them only
//! in its protobuf format (feature `prometheus_protobuf`), not in either text format, and
//! vigil's bucket bounds (powers of two of nanoseconds) are not those of a native schema
//! (powers of two of seconds).

mod encode;
mod families;
mod lifetime;
mod watched;

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
