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
//! - Built-in opt-in monitors, each a worked example of [`PollMonitor`] with a writer (the
//!   monitor, owned by the future) and a cloneable reader (`Arc` of atomics, `snapshot`):
//!   - [`SlowPollMonitor`] / [`SlowPollMetrics`]: count and total duration of polls longer
//!     than a threshold (default 50 µs), and of the others;
//!   - [`PollHistogramMonitor`] / [`PollHistogramMetrics`]: a fixed, log-scale, lock-free
//!     poll-duration histogram ([`PollHistogram`], 208 bytes per instance) with quantiles;
//!   - [`SchedulingMonitor`] / [`SchedulingMetrics`]: wraps the waker to measure scheduling
//!     delay (wake to poll), idle time (poll end to wake) and the first-poll delay.
//!
//!   Stack them in a tuple, e.g. `(BusyMonitor, SlowPollMonitor, PollHistogramMonitor)`:
//!   every member sees the same two clock readings per poll, and a monitor left out costs
//!   nothing.
//! - [`ReportMetrics`] / [`MonitorReport`]: how a registry keeps the
//!   read side of the built-in monitors and puts their figures in its snapshots.
//! - [`Clock`]: [`DefaultClock`] (TSC through `quanta`, or std), [`StdClock`], [`MockClock`].
//!
//! This crate does not depend on any async runtime.
//!
//! # Feature flags
//!
//! - `quanta` (default): [`DefaultClock`] reads the CPU timestamp counter through the
//!   `quanta` crate; without it, [`DefaultClock`] is `std::time::Instant`.
//! - `serde`: `Serialize` + `Deserialize` for the plain-value snapshots ([`MonitorSnapshot`],
//!   [`Lifecycle`], [`SlowPollSnapshot`], [`PollHistogram`], [`SchedulingSnapshot`],
//!   [`MonitorReport`]), every duration as an integer of nanoseconds in a field named
//!   `..._ns` (`total_busy_ns`, `max_ns`, ...); `duration_ns` holds the helpers, for your
//!   own types too.

mod clock;
#[cfg(feature = "serde")]
pub mod duration_ns;
mod future;
mod histogram;
#[cfg(all(test, loom))]
mod loom_models;
mod monitor;
mod raw;
mod report;
mod scheduling;
mod seqlock;
mod slow_poll;
mod snapshot;
mod sync;

pub use clock::{Clock, DefaultClock, MockClock, StdClock, Ticks};
pub use future::ServiceMonitor;
pub use histogram::{PollHistogram, PollHistogramMetrics, PollHistogramMonitor, HISTOGRAM_BUCKETS};
pub use monitor::{PollMonitor, PollOutcome};
pub use raw::{BusyMonitor, RawMetrics, DEFAULT_WINDOW};
pub use report::{MonitorReport, ReportMetrics};
pub use scheduling::{SchedulingMetrics, SchedulingMonitor, SchedulingSnapshot};
pub use slow_poll::{
    SlowPollMetrics, SlowPollMonitor, SlowPollSnapshot, DEFAULT_SLOW_POLL_THRESHOLD,
};
pub use snapshot::{utilization_percent, Lifecycle, MonitorSnapshot, UsageSample};
