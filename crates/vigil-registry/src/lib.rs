//! Start services on tokio, group their instances by name, and snapshot their metrics.
//!
//! ```
//! use std::time::Duration;
//! use vigil_registry::{Registry, ServiceObj};
//!
//! let runtime = tokio::runtime::Builder::new_multi_thread()
//!     .worker_threads(2)
//!     .enable_time()
//!     .build()
//!     .unwrap();
//! let registry = Registry::new();
//!
//! for _ in 0..3 {
//!     registry.start_in(
//!         runtime.handle(),
//!         ServiceObj::new("ticker", async {
//!             loop {
//!                 tokio::time::sleep(Duration::from_millis(1)).await;
//!             }
//!         }),
//!     );
//! }
//!
//! let snapshot = registry.metrics();
//! let names: Vec<String> = snapshot.iter().map(|(id, _)| id.to_string()).collect();
//! assert_eq!(names, ["ticker#0", "ticker#1", "ticker#2"]);
//! assert_eq!(snapshot.group("ticker").unwrap().instances, 3);
//! ```
//!
//! # What lives here
//!
//! - [`ServiceObj`] and the [`Service`] trait: what can be started.
//! - [`TaskId`], [`ServiceId`], [`InstanceId`]: who is running.
//! - [`Registry`]: [`start_in`](Registry::start_in) and [`metrics`](Registry::metrics);
//!   [`RegistryBuilder`] for the window, the clock and custom monitors ([`MonitorFactory`]).
//! - [`ServicesMetrics`], [`ServiceMetrics`], [`ServiceGroupMetrics`]: snapshots;
//!   [`ServicesDelta`] from [`ServicesMetrics::delta_since`]: what changed between two.
//!
//! # Feature flags
//!
//! - `quanta` (default): forwarded to `vigil-monitor`; the default clock reads the CPU
//!   timestamp counter.
//! - `serde`: `Serialize` + `Deserialize` for [`ServicesMetrics`] (the snapshot document,
//!   schema version `SCHEMA_VERSION`, specified in `docs/snapshot-json.md`),
//!   [`ServiceMetrics`], [`ServiceGroupMetrics`], [`ServiceId`] and the deltas, and for
//!   `vigil-monitor`'s snapshots. Every duration is an integer of nanoseconds in a field
//!   named `..._ns`. Deserialized service names are leaked once per distinct name (see
//!   [`ServicesMetrics`]'s `Deserialize` impl).

mod delta;
mod directory;
#[cfg(feature = "serde")]
mod document;
mod factory;
mod group;
mod id;
#[cfg(feature = "serde")]
mod intern;
#[cfg(all(test, loom))]
mod loom_models;
mod metrics;
mod names;
mod registry;
mod service;
mod slab;
mod sync;
pub mod verdict;
mod watch;

#[cfg(all(test, not(loom)))]
mod tests;

pub use delta::{ServiceDelta, ServiceGroupDelta, ServicesDelta};
#[cfg(feature = "serde")]
pub use document::{OLDEST_READ_SCHEMA_VERSION, SCHEMA_VERSION};
pub use factory::{MonitorFactory, PollHistograms, Scheduling, SlowPolls};
pub use id::{InstanceId, ServiceId, TaskId};
pub use metrics::{Iter, ServiceMetrics, ServicesMetrics};
pub use names::{Endings, SchedulingTotals, ServiceGroupMetrics};
pub use registry::{Registry, RegistryBuilder, StartError};
pub use service::{Service, ServiceFuture, ServiceObj};
pub use verdict::{Cause, Verdict};
pub use watch::{MailboxProbe, MailboxSnapshot, RuntimeSnapshot, WorkerSnapshot};
