//! Runtime-agnostic poll timing for long-running futures.
//!
//! Wrap a future in a [`ServiceMonitor`] and every poll of it is timed: poll count, total
//! busy time, utilization over a recent window, and the start of a poll that is still
//! running, all readable at any moment from any thread through [`RawMetrics`].
//!
//! ```
//! use std::time::Duration;
//! use vigil_monitor::{BusyMonitor, MockClock, ServiceMonitor};
//!
//! // A deterministic clock: each poll of this future "takes" 3 ms.
//! let clock = MockClock::new();
//! let ticking = clock.clone();
//! let work = std::future::poll_fn(move |cx| {
//!     ticking.advance(Duration::from_millis(3));
//!     cx.waker().wake_by_ref();
//!     std::task::Poll::<()>::Pending
//! });
//!
//! let monitor = BusyMonitor::new(&clock);
//! let metrics = monitor.metrics().clone();
//! let mut monitored = Box::pin(ServiceMonitor::with_monitor(work, monitor, clock.clone()));
//!
//! let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
//! for _ in 0..4 {
//!     let _ = monitored.as_mut().poll(&mut cx);
//! }
//!
//! let snapshot = metrics.snapshot(&clock);
//! assert_eq!(snapshot.poll_count, 4);
//! assert_eq!(snapshot.total_busy_duration, Duration::from_millis(12));
//! assert_eq!(snapshot.utilization, 100); // never idle between polls
//! # use std::future::Future;
//! ```
//!
//! # What lives here
//!
//! - [`ServiceMonitor`]: the wrapper; reads the [`Clock`] once per poll edge.
//! - [`PollMonitor`]: the hook trait for custom monitors; tuples of monitors compose.
//! - [`BusyMonitor`] / [`RawMetrics`]: the default monitor and its shared state.
//! - [`Clock`]: [`DefaultClock`] (TSC through `quanta`, or std), [`StdClock`], [`MockClock`].
//!
//! This crate does not depend on any async runtime.
//!
//! # Feature flags
//!
//! - `quanta` (default): [`DefaultClock`] reads the CPU timestamp counter through the
//!   `quanta` crate; without it, [`DefaultClock`] is `std::time::Instant`.

mod clock;
mod future;
mod monitor;
mod raw;
mod snapshot;

pub use clock::{Clock, DefaultClock, MockClock, StdClock, Ticks};
pub use future::ServiceMonitor;
pub use monitor::{PollMonitor, PollOutcome};
pub use raw::{BusyMonitor, RawMetrics, DEFAULT_WINDOW};
pub use snapshot::{utilization_percent, Lifecycle, MonitorSnapshot, UsageSample};
