//! Exporters: publish registry snapshots to monitoring systems (features `metrics`, `prometheus`).
//!
//! Both exporters read a [`ServicesMetrics`](crate::ServicesMetrics) snapshot and write every
//! live instance's figures as series labelled `service` (the service name) and `instance`
//! (the instance id, in decimal), built with the ecosystem's crates:
//!
//! - `export::metrics` (feature `metrics`): through the `metrics` facade crate, to whatever
//!   recorder the program installed. Call `export::metrics::publish` periodically.
//! - `export::prometheus` (feature `prometheus`): Prometheus / OpenMetrics text encoded by
//!   `prometheus-client`, from a snapshot or on every scrape; feature `http` serves it at
//!   `/metrics` (`vigil::http`).
//!
//! The two differ where their crates do: `metrics` counters are integers, so its time
//! counters are in nanoseconds (`*_nanoseconds_total`), while the Prometheus exporter uses
//! float seconds (`*_seconds_total`); both name the unit in the metric name. See each
//! module for its full list of metrics, and `docs/metrics.md` for what every figure means.
//!
//! Only live instances are exported: an instance that ended is absent from the next
//! snapshot, so the Prometheus text simply stops listing it, and the `metrics` series of it
//! stop being updated (what happens to them then is the recorder's business).

#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "prometheus")]
pub mod prometheus;

use crate::ServiceMetrics;

/// Busy time of the *completed* polls: the total minus the poll in progress, which is what a
/// poll-duration histogram's sum covers (a poll is recorded in the histogram when it ends).
fn completed_busy_duration(metrics: &ServiceMetrics) -> std::time::Duration {
    metrics
        .total_busy_duration
        .saturating_sub(metrics.current_poll_duration.unwrap_or_default())
}
