//! The [`Supervisor`] handle and its builder: what users call, from any thread.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use vigil_registry::{Registry, ServiceId, TaskId};

use crate::core::{Adopt, Command, Config, Core};
use crate::incarnation;
use crate::mailbox::{Addr, Slot};
use crate::report::{Ending, ServiceState, ShutdownReport};
use crate::spec::{ChildSpec, Factory, Options, WithMailbox};
use crate::trace::Starter;

/// How many endings [`Supervisor::recent_endings`] keeps.
pub const RECENT_ENDINGS: usize = 128;

/// Default [`SupervisorBuilder::shutdown_timeout`]: 10 s.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Default [`SupervisorBuilder::abort_grace`]: 1 s.
pub const DEFAULT_ABORT_GRACE: Duration = Duration::from_secs(1);

/// What happens when a service gives up (restarted too often within its intensity period).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Escalation {
    /// Shut the whole supervisor down gracefully (OTP's behaviour). The default.
    #[default]
    ShutdownAll,
    /// Keep the other services running; the given-up service stays in
    /// [`ServiceState::GaveUp`].
    Continue,
}

/// Runs a service process: starts services through a [`Registry`], restarts them by policy,
/// and shuts them down gracefully, reporting every ending.
///
/// `Supervisor` is a cheap handle (`Clone`, `Send + Sync`): clones control the same
/// supervisor. Its state machine runs in one task on the runtime given to
/// [`build`](SupervisorBuilder::build); every method works from any thread, inside or outside
/// that runtime.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use vigil_supervisor::{ChildSpec, Exit, Supervisor};
///
/// let runtime = tokio::runtime::Builder::new_current_thread()
///     .enable_time()
///     .build()
///     .unwrap();
/// let supervisor = Supervisor::builder().build(runtime.handle());
/// supervisor.start(ChildSpec::new("ticker", |ctx| async move {
///     ctx.shutdown_requested().await;
/// }));
///
/// let report = runtime.block_on(supervisor.stop());
/// assert_eq!(report.endings()[0].1, Exit::Completed);
/// assert!(report.is_clean());
/// ```
#[derive(Clone)]
pub struct Supervisor {
    shared: Arc<Shared>,
}

struct Shared {
    handle: Handle,
    registry: Arc<Registry>,
    commands: mpsc::UnboundedSender<Command>,
    board: Arc<Board>,
    report: watch::Receiver<Option<Arc<ShutdownReport>>>,
}

/// What the supervisor's task publishes for [`Supervisor::states`] and
/// [`Supervisor::recent_endings`]. Locked briefly, never across an `.await`.
#[derive(Debug, Default)]
pub(crate) struct Board {
    view: Mutex<View>,
}

#[derive(Debug, Default)]
pub(crate) struct View {
    pub(crate) states: Vec<(&'static str, ServiceState)>,
    pub(crate) recent: VecDeque<Ending>,
    pub(crate) next_seq: u64,
}

impl Board {
    pub(crate) fn lock(&self) -> MutexGuard<'_, View> {
        // Every update is a single assignment or push: a poisoned view is still consistent.
        self.view.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Supervisor {
    /// Configures a supervisor.
    pub fn builder() -> SupervisorBuilder {
        SupervisorBuilder {
            registry: None,
            config: Config {
                shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
                abort_grace: DEFAULT_ABORT_GRACE,
                escalation: Escalation::default(),
            },
        }
    }

    /// The registry every incarnation is started through.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.shared.registry
    }

    /// Starts `spec`'s first incarnation now and supervises it; returns its id.
    ///
    /// Names may repeat: several specs under one name are instances of that name. A spec
    /// started after a shutdown began is asked to stop at once (in its stage's turn); one
    /// started after the supervisor finished (its report is out) is aborted at once and
    /// appears in no report.
    ///
    /// # Panics
    ///
    /// If every instance id of the name has been used (after 2^64 starts).
    #[track_caller]
    pub fn start(&self, spec: ChildSpec) -> ServiceId {
        self.adopt(spec.task, spec.options, spec.kind.factory)
    }

    /// Starts a spec built by [`ChildSpec::with_mailbox`] with a mailbox of `capacity`
    /// messages; returns the service's address, valid across restarts.
    ///
    /// Messages sent while the service is down (backing off) wait for the next incarnation.
    /// Only a message that a failed incarnation had already received can be lost.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0, or as [`start`](Self::start).
    #[track_caller]
    pub fn start_with_mailbox<M: Send + 'static>(
        &self,
        spec: ChildSpec<WithMailbox<M>>,
        capacity: usize,
    ) -> Addr<M> {
        assert!(capacity > 0, "a mailbox needs a capacity of at least 1");
        let (addr, slot) = Slot::channel(capacity);
        let factory = (spec.kind.bind)(slot);
        self.adopt(spec.task, spec.options, factory);
        addr
    }

    #[track_caller]
    fn adopt(&self, task: TaskId, options: Options, factory: Arc<dyn Factory>) -> ServiceId {
        let shared = &*self.shared;
        let token = CancellationToken::new();
        let starter = Starter::current();
        let first = incarnation::spawn(
            &shared.handle,
            &shared.registry,
            task,
            &factory,
            token.clone(),
            0,
            &starter,
        )
        .unwrap_or_else(|error| panic!("{error}"));
        let id = first.id;
        // The index is taken and the command sent under one lock, so the supervisor's task
        // receives specs in index order.
        let mut view = shared.board.lock();
        let index = view.states.len();
        view.states.push((task.name(), ServiceState::Running));
        let adopt = Adopt {
            index,
            task,
            options,
            factory,
            token,
            first,
            starter,
        };
        if let Err(mpsc::error::SendError(Command::Adopt(adopt))) =
            shared.commands.send(Command::Adopt(adopt))
        {
            // The supervisor has finished: nothing would watch this incarnation.
            adopt.first.join.abort();
            view.states[index].1 = ServiceState::Stopped;
        }
        id
    }

    /// Begins a graceful shutdown (if none has begun): no more restarts, pending backoffs
    /// are cancelled, and every service is asked to stop, higher stages first. Returns at
    /// once; [`wait`](Self::wait) for the report.
    pub fn shutdown(&self) {
        // Fails only once the supervisor has finished, when there is nothing to shut down.
        let _ = self.shared.commands.send(Command::Shutdown);
    }

    /// Begins a shutdown if none has begun, and aborts every service still running now,
    /// without waiting for any deadline (what a second signal does).
    pub fn shutdown_now(&self) {
        let _ = self.shared.commands.send(Command::ShutdownNow);
    }

    /// Waits until every service has ended and no restart is pending, and returns the
    /// report. Resolves as soon as that is the case, never by sleeping out a timeout.
    ///
    /// Waiting also declares that the supervisor may finish once everything has ended on
    /// its own (without a shutdown): start every service before the last one can end.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future loses nothing; the report stays available to every
    /// later call.
    ///
    /// # Panics
    ///
    /// If the supervisor's runtime shut down before the supervisor finished.
    pub async fn wait(&self) -> ShutdownReport {
        // Fails only once the supervisor has finished; its report is then stored.
        let _ = self.shared.commands.send(Command::Wait);
        let mut report = self.shared.report.clone();
        let report = report
            .wait_for(Option::is_some)
            .await
            .expect("the supervisor's runtime shut down before the supervisor finished");
        let report: &ShutdownReport = report.as_ref().expect("waited for Some");
        report.clone()
    }

    /// [`shutdown`](Self::shutdown), then [`wait`](Self::wait).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the shutdown goes on if the future is dropped.
    pub async fn stop(&self) -> ShutdownReport {
        self.shutdown();
        self.wait().await
    }

    /// One entry per started spec, in start order: its name and what it is doing now.
    pub fn states(&self) -> Vec<(&'static str, ServiceState)> {
        self.shared.board.lock().states.clone()
    }

    /// The last (up to [`RECENT_ENDINGS`]) endings, oldest first.
    pub fn recent_endings(&self) -> Vec<Ending> {
        self.shared.board.lock().recent.iter().cloned().collect()
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.shared.handle
    }
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("services", &self.shared.board.lock().states.len())
            .field("finished", &self.shared.report.borrow().is_some())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Supervisor`]; see [`Supervisor::builder`].
#[derive(Debug)]
pub struct SupervisorBuilder {
    registry: Option<Arc<Registry>>,
    config: Config,
}

impl SupervisorBuilder {
    /// Starts services through `registry` (default: a new one).
    pub fn registry(mut self, registry: Arc<Registry>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// How long a graceful shutdown may take before the services still running are aborted
    /// (default [`DEFAULT_SHUTDOWN_TIMEOUT`], 10 s), counted from its beginning.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.shutdown_timeout = timeout;
        self
    }

    /// How long to wait for an aborted service to end before reporting it
    /// [`Abandoned`](crate::Exit::Abandoned) (default [`DEFAULT_ABORT_GRACE`], 1 s; at least
    /// 1 ms). Only a service stuck inside one poll outlives its abort by more than a moment.
    pub fn abort_grace(mut self, grace: Duration) -> Self {
        self.config.abort_grace = grace.max(Duration::from_millis(1));
        self
    }

    /// What a service giving up does to the others (default [`Escalation::ShutdownAll`]).
    pub fn escalation(mut self, escalation: Escalation) -> Self {
        self.config.escalation = escalation;
        self
    }

    /// Builds the supervisor; its task runs on `handle`'s runtime, which needs its time
    /// driver enabled (and its IO driver for [`run_until_signal`](Supervisor::run_until_signal)).
    ///
    /// # Panics
    ///
    /// If the runtime's time driver is not enabled (`enable_time`/`enable_all`).
    pub fn build(self, handle: &Handle) -> Supervisor {
        let registry = self.registry.unwrap_or_default();
        let (commands, receiver) = mpsc::unbounded_channel();
        let (report_tx, report) = watch::channel(None);
        let board = Arc::new(Board::default());
        let core = Core::new(
            handle.clone(),
            registry.clone(),
            self.config,
            board.clone(),
            report_tx,
        );
        // Created here, not in the task: a runtime without its time driver panics now, in
        // the caller, with tokio's message, instead of killing the supervisor's task.
        let timer = {
            let _runtime = handle.enter();
            crate::core::idle_timer()
        };
        handle.spawn(core.run(receiver, timer));
        Supervisor {
            shared: Arc::new(Shared {
                handle: handle.clone(),
                registry,
                commands,
                board,
                report,
            }),
        }
    }
}

#[allow(dead_code)] // Compile-time assertions only.
fn assert_supervisor_and_its_futures_are_send(supervisor: &Supervisor) {
    fn is_send_sync<T: Send + Sync>() {}
    fn is_send<T: Send>(_: &T) {}
    is_send_sync::<Supervisor>();
    is_send(&supervisor.wait());
    is_send(&supervisor.stop());
    is_send(&supervisor.run_until_signal());
}
