//! Exporters: publish registry snapshots to monitoring systems (features `metrics`, `prometheus`).
//!
//! Both exporters read a [`ServicesMetrics`] snapshot and write **one set of series per
//! service name** (label `service`), built with the ecosystem's crates:
//!
//! - `export::metrics` (feature `metrics`): through the `metrics` facade crate, to whatever
//!   recorder the program installed. Call `export::metrics::publish` periodically.
//! - `export::prometheus` (feature `prometheus`): Prometheus / OpenMetrics text encoded by
//!   `prometheus-client`, from a snapshot or on every scrape; feature `http` serves it at
//!   `/metrics` (`vigil::http`).
//!
//! # Series that stay true when instances come and go
//!
//! The per-name counters (`vigil_service_starts_total`, `vigil_service_endings_total`,
//! `vigil_service_polls_total`, busy time, `vigil_service_restarts_total`) are the registry's
//! lifetime counters ([`ServiceGroupMetrics`]): they include every instance that ever ran
//! under the name, ended ones too, so they never decrease for the life of the registry and
//! `rate()` over them is exact however fast instances churn. A
//! name stays exported after its last instance ends (with 0 live instances). The number of
//! series is bounded by the number of names, not of instances.
//!
//! # Per-instance series: opt-in and capped
//!
//! [`Granularity::PerInstance`] adds series for individual instances, labelled `service` and
//! `instance_id`, under names of their own (`vigil_service_instance_*`, so that summing a
//! per-name series never double-counts). At most `max_per_name` instances per name get
//! them: the oldest live ones (lowest instance ids), so the set is stable while they live;
//! instances past the cap are only in the per-name series. No series carries an `instance`
//! or `job` label: Prometheus attaches those to every scraped target.
//!
//! The two exporters differ where their crates do: `metrics` counters are integers, so its
//! time counters are in nanoseconds (`*_nanoseconds_total`), while the Prometheus exporter
//! uses float seconds (`*_seconds_total`); both name the unit in the metric name. See each
//! module for its full list of series, and `docs/metrics.md` for the cardinality rules and
//! query recipes.

#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "prometheus")]
pub mod prometheus;

use crate::{ServiceGroupMetrics, ServiceId, ServiceMetrics, ServicesMetrics};

/// Which series the exporters write: per service name only (the default), or also per
/// instance, capped.
///
/// ```
/// use vigil::export::Granularity;
///
/// assert_eq!(Granularity::default(), Granularity::PerName);
/// let capped = Granularity::per_instance(10);
/// assert_eq!(capped, Granularity::PerInstance { max_per_name: 10 });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Granularity {
    /// One set of series per service name, labelled `service`: bounded by the number of
    /// names, whatever the number of instances.
    #[default]
    PerName,
    /// The per-name series, plus `vigil_service_instance_*` series labelled `service` and
    /// `instance_id` for at most `max_per_name` live instances of each name (the lowest
    /// instance ids). At most `names × max_per_name` instances are exported.
    PerInstance {
        /// Instances of one name that get their own series.
        max_per_name: usize,
    },
}

impl Granularity {
    /// [`Granularity::PerInstance`] with the given cap.
    pub const fn per_instance(max_per_name: usize) -> Self {
        Self::PerInstance { max_per_name }
    }

    /// The instances that get their own series, in id order: none for
    /// [`PerName`](Granularity::PerName), else the first `max_per_name` live instances of
    /// each of `groups` (the snapshot's names).
    fn exported_instances(
        self,
        snapshot: &ServicesMetrics,
        groups: &[ServiceGroupMetrics],
    ) -> Vec<(ServiceId, ServiceMetrics)> {
        match self {
            Self::PerName => Vec::new(),
            Self::PerInstance { max_per_name } => groups
                .iter()
                .flat_map(|group| snapshot.instances_of(group.name).take(max_per_name))
                .collect(),
        }
    }
}

/// Busy time of the *completed* polls: the total minus the poll in progress, which is what a
/// poll-duration histogram's sum covers (a poll is recorded in the histogram when it ends).
fn completed_busy_duration(metrics: &ServiceMetrics) -> std::time::Duration {
    metrics
        .total_busy_duration
        .saturating_sub(metrics.current_poll_duration.unwrap_or_default())
}

/// Busy time of the completed polls of every instance ever started under `group`'s name:
/// the name's lifetime busy time minus its live instances' polls in progress. What the
/// per-name lifetime histogram's sum covers (the default monitor's figure of the same polls
/// the histogram counts; read one after the other, so a poll that ends in between may be in
/// one and not yet in the other).
fn completed_busy_of_name(
    snapshot: &ServicesMetrics,
    group: &ServiceGroupMetrics,
) -> std::time::Duration {
    let in_flight: std::time::Duration = snapshot
        .instances_of(group.name)
        .filter_map(|(_, metrics)| metrics.current_poll_duration)
        .sum();
    group.total_busy_duration.saturating_sub(in_flight)
}
