//! Supervise and measure long-running async services on tokio.
//!
//! vigil starts each service as a tokio task, times every poll of it, keeps a live registry
//! of every running instance grouped by service name, and reports how each one ended.
//!
//! ```
//! use std::time::Duration;
//! use vigil::prelude::*;
//!
//! let runtime = tokio::runtime::Builder::new_multi_thread()
//!     .worker_threads(2)
//!     .enable_time()
//!     .build()
//!     .unwrap();
//! let registry = Registry::new();
//!
//! // A service that works in small polls until told to stop.
//! let (stop, mut stopped) = tokio::sync::watch::channel(false);
//! let worker = registry.start_in(
//!     runtime.handle(),
//!     ServiceObj::new("worker", async move {
//!         while !*stopped.borrow() {
//!             tokio::time::sleep(Duration::from_millis(1)).await;
//!             let _ = stopped.has_changed();
//!         }
//!     }),
//! );
//! // One that panics.
//! let crasher = registry.start_in(
//!     runtime.handle(),
//!     ServiceObj::new("crasher", async { panic!("bad config") }),
//! );
//!
//! // How it ended, with the payload.
//! let error = runtime.block_on(crasher).unwrap_err();
//! assert!(error.is_panic());
//! assert_eq!(*error.into_panic().unwrap().downcast::<&str>().unwrap(), "bad config");
//!
//! // Who is alive, and how busy: the crasher is gone, the worker is live.
//! let snapshot = registry.metrics();
//! let live: Vec<String> = snapshot.iter().map(|(id, _)| id.to_string()).collect();
//! assert_eq!(live, ["worker#0"]);
//! let (_, metrics) = snapshot.iter().next().unwrap();
//! assert!(metrics.utilization <= 100);
//!
//! stop.send(true).unwrap();
//! runtime.block_on(worker).unwrap();
//! assert!(registry.metrics().is_empty());
//! ```
//!
//! A service process is usually run by a [`Supervisor`]: it starts every incarnation through
//! its registry (so each one is measured and gets a fresh id), restarts failures with
//! backoff, and on shutdown reports how every incarnation ended:
//!
//! ```
//! use std::time::Duration;
//! use vigil::prelude::*;
//!
//! let runtime = tokio::runtime::Builder::new_current_thread()
//!     .enable_time()
//!     .start_paused(true) // deterministic time for this example
//!     .build()
//!     .unwrap();
//! let supervisor = Supervisor::builder().build(runtime.handle());
//!
//! // Panics on its first run, then serves until asked to stop.
//! supervisor.start(
//!     ChildSpec::new("consumer", |ctx: Context| async move {
//!         if ctx.restarts() == 0 {
//!             panic!("lost the broker");
//!         }
//!         ctx.shutdown_requested().await;
//!     })
//!     .backoff(Backoff::exponential(Duration::from_millis(100), Duration::from_secs(5))),
//! );
//!
//! let report = runtime.block_on(async {
//!     tokio::time::sleep(Duration::from_secs(1)).await;
//!     // consumer#0 panicked, consumer#1 replaced it after 100 ms and is measured live.
//!     let snapshot = supervisor.registry().metrics();
//!     let consumer = snapshot.group("consumer").unwrap();
//!     assert_eq!((consumer.instances, consumer.restarts, consumer.endings.panicked), (1, 1, 1));
//!     supervisor.stop().await
//! });
//! let endings: Vec<String> =
//!     report.endings().iter().map(|(id, exit)| format!("{id}: {exit}")).collect();
//! assert_eq!(endings, ["consumer#0: panicked: lost the broker", "consumer#1: completed"]);
//! ```
//!
//! # What lives where
//!
//! The facade holds glue only; every type comes from a crate that can be depended on alone:
//!
//! | crate | what | runtime |
//! |---|---|---|
//! | [`vigil_monitor`] | [`ServiceMonitor`], [`PollMonitor`], [`RawMetrics`], clocks | any executor |
//! | [`vigil_status`] | [`spawn`](status::spawn), [`split`](status::split), [`ServiceJoinHandle`], [`ServiceStatusJoinHandle`] | tokio |
//! | [`vigil_registry`] | [`Registry`], [`ServiceObj`], [`ServiceId`], [`ServicesMetrics`] | tokio |
//! | [`vigil_supervisor`] | [`Supervisor`], [`ChildSpec`], [`Restart`], [`Backoff`], [`ShutdownReport`] | tokio |
//! | `vigil_profile` (feature `profile`) | `Profiler` (stacks of stuck polls, per-service CPU profiles), `StackTrace`, `Profile` | Linux; any executor's threads |
//!
//! The modules [`monitor`], [`status`], [`registry`] and [`supervisor`] (and `profile`, with
//! its feature) re-export each crate whole; the most used items are also at the root and in
//! the [`prelude`].
//!
//! # Feature flags
//!
//! - `quanta` (default): the default clock reads the CPU timestamp counter through the
//!   `quanta` crate (calibrated, with an OS-clock fallback). Without it, the default clock
//!   is `std::time::Instant`.
//! - `serde`: `Serialize` + `Deserialize` for [`ServicesMetrics`] (the snapshot document,
//!   schema version `registry::SCHEMA_VERSION`, specified in `docs/snapshot-json.md`), the
//!   other snapshot types, ids and deltas; durations as integer nanoseconds in `_ns` fields.
//! - `metrics`: `vigil::export::metrics` publishes snapshots through the
//!   [`metrics`](https://docs.rs/metrics) facade crate (adds the `metrics` dependency).
//! - `prometheus`: `vigil::export::prometheus` encodes snapshots as Prometheus / OpenMetrics text
//!   with [`prometheus-client`](https://docs.rs/prometheus-client) (adds `prometheus-client`).
//! - `http` (implies `prometheus` and `serde`): `vigil::http::Endpoint` serves `/metrics`,
//!   `/health` and `/snapshot.json` (of a registry, and optionally a supervisor) over
//!   HTTP/1.1 with [`hyper`](https://docs.rs/hyper) on tokio (adds `hyper`, `hyper-util`,
//!   `http-body-util`, `serde_json`, and tokio's `net` and `time`). No authentication, no
//!   TLS: bind loopback unless the metrics may be public.
//! - `profile`: `vigil::profile` re-exports `vigil-profile`: the stack of a poll in progress
//!   (`Profiler::capture`, `Profiler::stuck`) and CPU profiles attributed to services
//!   (`Profiler::profile`: folded stacks, pprof) on Linux (x86_64 tested, aarch64 compiles);
//!   elsewhere `Profiler::install` answers `Unsupported`. With `http`,
//!   `Endpoint::profiler` adds the debug routes `/debug/stacks`, `/debug/pprof/profile` and
//!   `/debug/pprof/folded` (adds `vigil-profile`, hence `backtrace`, `prost`, `flate2`, `libc`).
//! - `flamegraph` (implies `profile`): `Profile::flamegraph_svg` and, with `http`,
//!   `/debug/flamegraph.svg`, drawn by `inferno` (licensed CDDL-1.0, which is why it is
//!   opt-in).
//! - `demo` (implies `profile`): `vigil::demo` starts synthetic supervised services that
//!   exercise every figure (a crash loop, a given-up service, a stuck poll, a service that
//!   ignores shutdown), on a registry with the profiler attached.
//!
//! # Examples
//!
//! `cargo run --release -p vigil --features demo --example top` shows a live table of
//! services and their metrics, then the supervisor's shutdown report (Ctrl-C or SIGTERM ends
//! it early, as they stop a service process); with `--features demo,http` and
//! `-- --serve 127.0.0.1:9898` it also serves them at `http://127.0.0.1:9898/metrics`.

#[cfg(feature = "demo")]
pub mod demo;
#[cfg(any(feature = "metrics", feature = "prometheus"))]
pub mod export;
#[cfg(feature = "http")]
pub mod http;

/// The poll-timing monitor: everything in [`vigil_monitor`].
pub mod monitor {
    #[doc(inline)]
    pub use vigil_monitor::*;
}

/// The join-handle split: everything in [`vigil_status`].
pub mod status {
    #[doc(inline)]
    pub use vigil_status::*;
}

/// Services, ids, the registry and snapshots: everything in [`vigil_registry`].
pub mod registry {
    #[doc(inline)]
    pub use vigil_registry::*;
}

/// Restarts, backoff, mailboxes and graceful shutdown: everything in [`vigil_supervisor`].
pub mod supervisor {
    #[doc(inline)]
    pub use vigil_supervisor::*;
}

/// Where a service is stuck and where its CPU goes: everything in [`vigil_profile`]
/// (feature `profile`).
#[cfg(feature = "profile")]
pub mod profile {
    #[doc(inline)]
    pub use vigil_profile::*;
}

#[doc(inline)]
pub use vigil_monitor::{
    Clock, DefaultClock, PollMonitor, PollOutcome, RawMetrics, ServiceMonitor,
};
#[doc(inline)]
pub use vigil_registry::{
    MonitorFactory, Registry, Service, ServiceGroupMetrics, ServiceId, ServiceMetrics, ServiceObj,
    ServicesMetrics, TaskId,
};
#[doc(inline)]
pub use vigil_status::{
    ServiceError, ServiceJoinHandle, ServiceStatusError, ServiceStatusJoinHandle,
};
#[doc(inline)]
pub use vigil_supervisor::{
    Addr, Backoff, ChildSpec, Context, Escalation, Exit, Jitter, Mailbox, Restart, ServiceState,
    ShutdownReport, Supervisor,
};

/// The names most programs need: `use vigil::prelude::*;`.
pub mod prelude {
    #[doc(no_inline)]
    pub use crate::{
        Addr, Backoff, ChildSpec, Context, Exit, Mailbox, PollMonitor, Registry, Restart, Service,
        ServiceError, ServiceId, ServiceJoinHandle, ServiceObj, ServiceStatusJoinHandle,
        ServicesMetrics, ShutdownReport, Supervisor,
    };
}

/// The README's code blocks, compiled and run as doctests so they cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
