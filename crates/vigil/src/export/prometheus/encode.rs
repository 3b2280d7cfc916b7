//! Encoding snapshots with `prometheus_client`: entry points and the collector.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use vigil_monitor::{Clock, DefaultClock};

use super::families::{encode_instance_families, encode_name_families};
use super::lifetime::{encode_lifetime_families, NameLifetime};
use super::watched::{encode_mailbox_families, encode_runtime_families};
use super::Format;
use crate::export::Granularity;
use crate::{MonitorFactory, Registry, ServiceGroupMetrics, ServicesMetrics};

/// Encodes `snapshot` as `format` text, one set of series per service name.
///
/// Same as [`encode_with`] with [`Granularity::PerName`]. See the [module docs](super) for
/// the series. The text is complete: in [`Format::OpenMetrics`] it ends with `# EOF`.
pub fn encode(snapshot: &ServicesMetrics, format: Format) -> String {
    encode_with(snapshot, format, Granularity::PerName)
}

/// Encodes `snapshot` as `format` text, with per-instance series as `granularity` asks.
///
/// ```
/// use vigil::export::prometheus::{encode_with, Format};
/// use vigil::export::Granularity;
/// use vigil::prelude::*;
///
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let registry = Registry::new();
/// for _ in 0..3 {
///     registry.start_in(runtime.handle(), ServiceObj::new("consumer", std::future::pending()));
/// }
///
/// let text = encode_with(&registry.metrics(), Format::Prometheus, Granularity::per_instance(2));
/// assert!(text.contains("vigil_service_instances{service=\"consumer\"} 3\n"));
/// assert!(text.contains("vigil_service_instance_polls_total{service=\"consumer\",instance_id=\"1\"} 0\n"));
/// // Past the cap of 2 per name: only in the per-name series.
/// assert!(!text.contains("instance_id=\"2\""));
/// ```
pub fn encode_with(snapshot: &ServicesMetrics, format: Format, granularity: Granularity) -> String {
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(Box::new(SnapshotCollector {
        snapshot: snapshot.clone(),
        granularity,
    }));
    let mut text = String::new();
    let result = match format {
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut text, &registry),
        Format::Prometheus => {
            prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
        }
    };
    // Writing to a `String` cannot fail, and the families only fail when the writer does.
    result.expect("encoding into a String cannot fail");
    text
}

/// A [`Collector`] that snapshots a vigil [`Registry`] at every scrape: adds vigil's metrics
/// to a `prometheus_client` registry that you already serve.
///
/// Per service name by default; [`granularity`](RegistryCollector::granularity) opts in to
/// capped per-instance series.
///
/// ```
/// use std::sync::Arc;
/// use vigil::export::prometheus::RegistryCollector;
/// use vigil::prelude::*;
///
/// let services = Arc::new(Registry::new());
/// let mut metrics = prometheus_client::registry::Registry::default();
/// metrics.register_collector(Box::new(RegistryCollector::new(Arc::clone(&services))));
///
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let _consumer = services.start_in(runtime.handle(), ServiceObj::new("consumer", async {}));
///
/// let mut text = String::new();
/// prometheus_client::encoding::text::encode(&mut text, &metrics).unwrap();
/// assert!(text.contains("vigil_service_instances{service=\"consumer\"} 1\n"));
/// assert!(text.contains("vigil_service_starts_total{service=\"consumer\"} 1\n"));
/// ```
pub struct RegistryCollector<F = (), C = DefaultClock>
where
    F: MonitorFactory<C>,
    C: Clock,
{
    registry: Arc<Registry<F, C>>,
    granularity: Granularity,
}

impl<F: MonitorFactory<C>, C: Clock> RegistryCollector<F, C> {
    /// A collector reading `registry`, per service name.
    pub fn new(registry: Arc<Registry<F, C>>) -> Self {
        Self {
            registry,
            granularity: Granularity::PerName,
        }
    }

    /// Sets which series each scrape writes (default [`Granularity::PerName`]).
    #[must_use]
    pub fn granularity(mut self, granularity: Granularity) -> Self {
        self.granularity = granularity;
        self
    }
}

impl<F: MonitorFactory<C>, C: Clock> fmt::Debug for RegistryCollector<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryCollector")
            .field("registry", &self.registry)
            .field("granularity", &self.granularity)
            .finish()
    }
}

impl<F: MonitorFactory<C>, C: Clock> Collector for RegistryCollector<F, C> {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        encode_families(&self.registry.metrics(), self.granularity, &mut encoder)
    }
}

/// A [`Collector`] for one snapshot: what [`encode_with`] registers.
#[derive(Debug)]
struct SnapshotCollector {
    snapshot: ServicesMetrics,
    granularity: Granularity,
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        encode_families(&self.snapshot, self.granularity, &mut encoder)
    }
}

/// Writes every family of `snapshot`: the per-name ones, the mailboxes and runtimes, then
/// the per-instance ones that `granularity` asks for.
fn encode_families(
    snapshot: &ServicesMetrics,
    granularity: Granularity,
    encoder: &mut DescriptorEncoder<'_>,
) -> fmt::Result {
    let groups: Vec<ServiceGroupMetrics> = snapshot.groups().collect();
    encode_name_families(&groups, encoder)?;
    let lifetimes: Vec<NameLifetime> = groups
        .iter()
        .map(|group| NameLifetime {
            group: *group,
            completed_busy: if group.lifetime_poll_histogram.is_some() {
                crate::export::completed_busy_of_name(snapshot, group)
            } else {
                std::time::Duration::ZERO
            },
        })
        .collect();
    encode_lifetime_families(&lifetimes, encoder)?;
    encode_mailbox_families(&groups, encoder)?;
    encode_runtime_families(snapshot.runtimes(), encoder)?;
    let instances = granularity.exported_instances(snapshot, &groups);
    encode_instance_families(&instances, encoder)
}
