//! Run a tokio service process: restarts with backoff and intensity limits, mailboxes that
//! survive restarts, and a graceful shutdown that reports every ending.
//!
//! ```
//! use std::time::Duration;
//! use vigil_supervisor::{Backoff, ChildSpec, Restart, Supervisor};
//!
//! let runtime = tokio::runtime::Builder::new_current_thread()
//!     .enable_time()
//!     .build()
//!     .unwrap();
//! let supervisor = Supervisor::builder().build(runtime.handle());
//!
//! // Fails twice (restarted after 10 ms, then 20 ms), then finishes its work.
//! supervisor.start(
//!     ChildSpec::new("migrate", |ctx| async move {
//!         if ctx.restarts() < 2 {
//!             return Err(format!("database unreachable (attempt {})", ctx.restarts()));
//!         }
//!         Ok(())
//!     })
//!     .restart(Restart::Transient)
//!     .backoff(Backoff::exponential(Duration::from_millis(10), Duration::from_secs(1))),
//! );
//!
//! // Everything has ended and no restart is pending: `wait` returns the report.
//! let report = runtime.block_on(supervisor.wait());
//! let endings: Vec<String> = report
//!     .endings()
//!     .iter()
//!     .map(|(id, exit)| format!("{id} {exit}"))
//!     .collect();
//! assert_eq!(
//!     endings,
//!     [
//!         "migrate#0 failed: database unreachable (attempt 0)",
//!         "migrate#1 failed: database unreachable (attempt 1)",
//!         "migrate#2 completed",
//!     ]
//! );
//! assert!(report.is_clean());
//! print!("{report}");
//! ```
//!
//! # Any registry
//!
//! Every incarnation is started through the supervisor's registry, and any registry works:
//! [`SupervisorBuilder::registry`] takes an `Arc<Registry<F, C>>` of any monitor factory and
//! clock (e.g. `Registry::builder().monitor((SlowPolls::default(), PollHistograms))`), giving
//! a `Supervisor<F, C>`. The monitors attached to it measure every incarnation, restarts
//! included: each one's figures (`slow_polls`, `poll_histogram`, ...) are in the registry's
//! snapshots under its own id. The default, `Supervisor` (= `Supervisor<(), DefaultClock>`),
//! runs on a plain registry. The supervisor's own task is compiled once whatever the
//! registry's type.
//!
//! # What lives here
//!
//! - [`Supervisor`] (built by [`SupervisorBuilder`]): [`start`](Supervisor::start),
//!   [`start_with_mailbox`](Supervisor::start_with_mailbox), [`shutdown`](Supervisor::shutdown),
//!   [`wait`](Supervisor::wait), [`stop`](Supervisor::stop),
//!   [`run_until_signal`](Supervisor::run_until_signal), [`states`](Supervisor::states),
//!   [`recent_endings`](Supervisor::recent_endings).
//! - [`ChildSpec`]: a service's factory and policies: [`Restart`], [`Backoff`] ([`Jitter`]),
//!   intensity, stop timeout, stage. [`IntoExit`]: what a service may return.
//! - [`Context`]: what an incarnation knows (id, restarts, the shutdown request).
//! - [`Mailbox`] and [`Addr`]: a service's queue, surviving its restarts; its figures
//!   (depth, sent, received, rejected, oldest wait) are in the registry's snapshots.
//! - [`ShutdownReport`], [`Exit`], [`Ending`], [`ServiceState`]: how things ended and stand.
//!
//! See `docs/supervision.md` for the policies and the shutdown sequence in detail.
//!
//! # Feature flags
//!
//! - `quanta` (default): forwarded to `vigil-registry` and `vigil-monitor`; the default
//!   clock reads the CPU timestamp counter.
//! - `tracing`: each incarnation runs in a `service` span (fields `name` and `instance`)
//!   created with no parent and following from the span that started the spec; restarts,
//!   give-ups, aborts and the shutdown are logged as events.

mod backoff;
mod board;
mod config;
mod context;
mod core;
mod factory;
mod host;
mod incarnation;
mod intensity;
#[cfg(all(test, loom))]
mod loom_models;
mod mailbox;
mod mailbox_figures;
mod report;
// tokio has no `signal` module under `--cfg loom`; the models need none of it.
#[cfg(not(loom))]
mod signal;
mod spec;
mod supervisor;
mod sync;
mod trace;

pub use backoff::{Backoff, Jitter};
pub use board::RECENT_ENDINGS;
pub use config::{Escalation, DEFAULT_ABORT_GRACE, DEFAULT_SHUTDOWN_TIMEOUT};
pub use context::Context;
pub use mailbox::{Addr, Mailbox};
pub use report::{Ending, Exit, ServiceState, ShutdownReport};
pub use spec::{ChildSpec, IntoExit, Plain, Restart, WithMailbox, DEFAULT_INTENSITY};
pub use supervisor::{Supervisor, SupervisorBuilder};
