//! Stopping on SIGINT/SIGTERM: the first signal shuts down gracefully, a second aborts.

use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};

use tokio::signal::unix::{signal, Signal, SignalKind};
use vigil_monitor::Clock;
use vigil_registry::MonitorFactory;

use crate::incarnation::panic_message;
use crate::report::ShutdownReport;
use crate::supervisor::{Control, Supervisor};
use crate::trace::event;

impl<F: MonitorFactory<C>, C: Clock> Supervisor<F, C> {
    /// Runs until every service has ended (see [`wait`](Self::wait)) and stops on SIGINT or
    /// SIGTERM: the first signal begins a graceful [`shutdown`](Self::shutdown), a second one
    /// [`shutdown_now`](Self::shutdown_now). Returns the report.
    ///
    /// The handlers are registered when this method is called (not when the future is first
    /// polled), on the supervisor's runtime, so a signal that arrives after the call is never
    /// missed. As with any tokio signal handling, the process keeps them: SIGINT no longer
    /// kills it by default afterwards.
    ///
    /// # Errors
    ///
    /// If the handlers cannot be registered, e.g. because the supervisor's runtime was built
    /// without its IO driver (`enable_io`/`enable_all`); the error is returned at once instead
    /// of waiting for a signal that would never be seen.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops listening for signals; nothing else is affected.
    pub fn run_until_signal(&self) -> impl Future<Output = io::Result<ShutdownReport>> + '_ {
        self.control().run_until_signal()
    }
}

impl Control {
    fn run_until_signal(&self) -> impl Future<Output = io::Result<ShutdownReport>> + '_ {
        let signals = self.register_signals();
        async move {
            let (mut interrupt, mut terminate) = signals?;
            let wait = self.wait();
            tokio::pin!(wait);
            let mut received = 0_u32;
            loop {
                tokio::select! {
                    report = &mut wait => return Ok(report),
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
                received += 1;
                if received == 1 {
                    event!(info, "signal received: shutting down gracefully");
                    self.shutdown();
                } else {
                    event!(warn, "second signal received: aborting every service");
                    self.shutdown_now();
                }
            }
        }
    }

    fn register_signals(&self) -> io::Result<(Signal, Signal)> {
        let _runtime = self.handle().enter();
        // tokio panics (instead of returning an error) when the runtime has no IO driver.
        catch_unwind(AssertUnwindSafe(|| {
            Ok((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            ))
        }))
        .unwrap_or_else(|payload| {
            Err(io::Error::other(format!(
                "cannot register signal handlers: {}",
                panic_message(&*payload)
            )))
        })
    }
}
