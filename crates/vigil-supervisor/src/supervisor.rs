//! The [`Supervisor`] handle and its builder: what users call, from any thread.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use vigil_monitor::{Clock, DefaultClock};
use vigil_registry::{MailboxProbe, MonitorFactory, Registry, ServiceId, TaskId};

use crate::board::Board;
use crate::config::{Config, Escalation, DEFAULT_ABORT_GRACE, DEFAULT_SHUTDOWN_TIMEOUT};
use crate::core::{Adopt, Command, Core};
use crate::factory::Factory;
use crate::host::Host;
use crate::incarnation;
use crate::mailbox::{Addr, Slot};
use crate::report::{Ending, ServiceState, ShutdownReport};
use crate::spec::{ChildSpec, Options, WithMailbox};
use crate::trace::Starter;

/// Runs a service process: starts services through a [`Registry`], restarts them by policy,
/// and shuts them down gracefully, reporting every ending.
///
/// `Supervisor` is a cheap handle (`Clone`, `Send + Sync`): clones control the same
/// supervisor. Its state machine runs in one task on the runtime given to
/// [`build`](SupervisorBuilder::build); every method works from any thread, inside or outside
/// that runtime.
///
/// Any registry works: `F` and `C` are the registry's monitor factory and clock (by default
/// a plain [`Registry`]). Give one with monitors attached to
/// [`SupervisorBuilder::registry`], and they measure every incarnation; see
/// [`registry`](SupervisorBuilder::registry) for an example.
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
pub struct Supervisor<F = (), C = DefaultClock>
where
    F: MonitorFactory<C>,
    C: Clock,
{
    shared: Arc<Shared<F, C>>,
}

struct Shared<F: MonitorFactory<C>, C: Clock> {
    control: Control,
    /// The same registry as `control.host`, with its type.
    registry: Arc<Registry<F, C>>,
}

/// Everything a supervisor handle does, independent of the registry's type: the methods of
/// [`Supervisor<F, C>`] delegate here, so they are compiled once.
pub(crate) struct Control {
    handle: Handle,
    host: Arc<dyn Host>,
    commands: mpsc::UnboundedSender<Command>,
    board: Arc<Board>,
    report: watch::Receiver<Option<Arc<ShutdownReport>>>,
}

impl Supervisor {
    /// Configures a supervisor (on a new plain registry unless
    /// [`registry`](SupervisorBuilder::registry) gives one).
    pub fn builder() -> SupervisorBuilder {
        SupervisorBuilder {
            registry: Source::New(new_registry),
            config: Config {
                shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
                abort_grace: DEFAULT_ABORT_GRACE,
                escalation: Escalation::default(),
            },
        }
    }
}

fn new_registry() -> Arc<Registry> {
    Arc::default()
}

impl<F: MonitorFactory<C>, C: Clock> Supervisor<F, C> {
    /// The registry every incarnation is started through.
    pub fn registry(&self) -> &Arc<Registry<F, C>> {
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
        self.control().start(spec)
    }

    /// Starts a spec built by [`ChildSpec::with_mailbox`] with a mailbox of `capacity`
    /// messages; returns the service's address, valid across restarts.
    ///
    /// Messages sent while the service is down (backing off) wait for the next incarnation.
    /// Only a message that a failed incarnation had already received can be lost.
    ///
    /// The registry watches the mailbox under the spec's name for as long as it exists
    /// ([`Registry::watch_mailbox`]): its capacity, depth, sent, received and rejected
    /// counts and the oldest message's wait are in every snapshot, as
    /// `registry().metrics().group(name).mailbox`.
    ///
    /// ```
    /// use vigil_supervisor::{ChildSpec, Supervisor};
    ///
    /// let runtime = tokio::runtime::Builder::new_current_thread()
    ///     .enable_time()
    ///     .build()
    ///     .unwrap();
    /// let supervisor = Supervisor::builder().build(runtime.handle());
    /// let addr = supervisor.start_with_mailbox(
    ///     ChildSpec::with_mailbox("jobs", |_ctx, mut mailbox| async move {
    ///         while let Some(job) = mailbox.recv().await {
    ///             let _: u32 = job;
    ///         }
    ///     }),
    ///     2,
    /// );
    /// // Not polled yet: both wait, and a third does not fit.
    /// addr.try_send(1).unwrap();
    /// addr.try_send(2).unwrap();
    /// assert!(addr.try_send(3).is_err());
    /// let jobs = supervisor.registry().metrics().group("jobs").unwrap().mailbox.unwrap();
    /// assert_eq!((jobs.capacity, jobs.depth, jobs.sent, jobs.rejected), (2, 2, 2, 1));
    /// drop(addr); // the service ends once it has drained its mailbox
    /// # drop(runtime.block_on(supervisor.stop()));
    /// ```
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
        self.control().start_with_mailbox(spec, capacity)
    }

    /// Begins a graceful shutdown (if none has begun): no more restarts, pending backoffs
    /// are cancelled, and every service is asked to stop, higher stages first. Returns at
    /// once; [`wait`](Self::wait) for the report.
    pub fn shutdown(&self) {
        self.control().shutdown();
    }

    /// Begins a shutdown if none has begun, and aborts every service still running now,
    /// without waiting for any deadline (what a second signal does).
    pub fn shutdown_now(&self) {
        self.control().shutdown_now();
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
    pub fn wait(&self) -> impl Future<Output = ShutdownReport> + Send + '_ {
        self.control().wait()
    }

    /// [`shutdown`](Self::shutdown), then [`wait`](Self::wait).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the shutdown goes on if the future is dropped.
    pub fn stop(&self) -> impl Future<Output = ShutdownReport> + Send + '_ {
        self.control().stop()
    }

    /// One entry per started spec, in start order: its name and what it is doing now.
    pub fn states(&self) -> Vec<(&'static str, ServiceState)> {
        self.control().states()
    }

    /// The last (up to [`RECENT_ENDINGS`](crate::RECENT_ENDINGS)) endings, oldest first.
    pub fn recent_endings(&self) -> Vec<Ending> {
        self.control().recent_endings()
    }

    pub(crate) fn control(&self) -> &Control {
        &self.shared.control
    }
}

impl Control {
    #[track_caller]
    fn start(&self, spec: ChildSpec) -> ServiceId {
        self.adopt(spec.task, spec.options, spec.kind.factory)
    }

    #[track_caller]
    fn start_with_mailbox<M: Send + 'static>(
        &self,
        spec: ChildSpec<WithMailbox<M>>,
        capacity: usize,
    ) -> Addr<M> {
        assert!(capacity > 0, "a mailbox needs a capacity of at least 1");
        let (addr, slot) = Slot::channel(capacity);
        // The registry keeps a weak reference: the figures leave its snapshots with the slot.
        let probe: Arc<dyn MailboxProbe> = slot.clone();
        self.host.watch_mailbox(spec.task.name(), &probe);
        let factory = (spec.kind.bind)(slot);
        self.adopt(spec.task, spec.options, factory);
        addr
    }

    #[track_caller]
    fn adopt(&self, task: TaskId, options: Options, factory: Arc<dyn Factory>) -> ServiceId {
        let token = CancellationToken::new();
        let starter = Starter::current();
        let first = incarnation::spawn(
            &self.handle,
            &self.host,
            task,
            &factory,
            &token,
            0,
            &starter,
        )
        .unwrap_or_else(|error| panic!("{error}"));
        let id = first.id;
        // The index is taken and the command sent under one lock, so the supervisor's task
        // receives specs in index order.
        let mut view = self.board.lock();
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
            self.commands.send(Command::Adopt(adopt))
        {
            // The supervisor has finished: nothing would watch this incarnation.
            adopt.first.join.abort();
            view.states[index].1 = ServiceState::Stopped;
        }
        id
    }

    pub(crate) fn shutdown(&self) {
        // Fails only once the supervisor has finished, when there is nothing to shut down.
        let _ = self.commands.send(Command::Shutdown);
    }

    pub(crate) fn shutdown_now(&self) {
        let _ = self.commands.send(Command::ShutdownNow);
    }

    pub(crate) async fn wait(&self) -> ShutdownReport {
        // Fails only once the supervisor has finished; its report is then stored.
        let _ = self.commands.send(Command::Wait);
        let mut report = self.report.clone();
        let report = report
            .wait_for(Option::is_some)
            .await
            .expect("the supervisor's runtime shut down before the supervisor finished");
        let report: &ShutdownReport = report.as_ref().expect("waited for Some");
        report.clone()
    }

    async fn stop(&self) -> ShutdownReport {
        self.shutdown();
        self.wait().await
    }

    fn states(&self) -> Vec<(&'static str, ServiceState)> {
        self.board.lock().states.clone()
    }

    fn recent_endings(&self) -> Vec<Ending> {
        self.board.lock().recent.iter().cloned().collect()
    }

    /// The runtime the services run on; signal handling registers on it (not built under
    /// `--cfg loom`, whose tokio has no signals).
    #[cfg(not(loom))]
    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl<F: MonitorFactory<C>, C: Clock> Clone for Supervisor<F, C> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<F: MonitorFactory<C>, C: Clock> fmt::Debug for Supervisor<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let control = self.control();
        f.debug_struct("Supervisor")
            .field("services", &control.board.lock().states.len())
            .field("finished", &control.report.borrow().is_some())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Supervisor`]; see [`Supervisor::builder`].
pub struct SupervisorBuilder<F = (), C = DefaultClock>
where
    F: MonitorFactory<C>,
    C: Clock,
{
    registry: Source<F, C>,
    config: Config,
}

/// Where a builder's registry comes from.
enum Source<F: MonitorFactory<C>, C: Clock> {
    /// Made by `build` (a plain registry, unless the builder was given one).
    New(fn() -> Arc<Registry<F, C>>),
    Given(Arc<Registry<F, C>>),
}

impl<F: MonitorFactory<C>, C: Clock> SupervisorBuilder<F, C> {
    /// Starts services through `registry` (default: a new plain [`Registry`]), whose monitor
    /// factory and clock may be any: the monitors attached to it measure every incarnation.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use vigil_registry::{PollHistograms, Registry, SlowPolls};
    /// use vigil_supervisor::Supervisor;
    ///
    /// let runtime = tokio::runtime::Builder::new_current_thread()
    ///     .enable_time()
    ///     .build()
    ///     .unwrap();
    /// let registry = Arc::new(
    ///     Registry::builder()
    ///         .monitor((SlowPolls::default(), PollHistograms))
    ///         .build(),
    /// );
    /// let supervisor: Supervisor<(SlowPolls, PollHistograms)> = Supervisor::builder()
    ///     .registry(registry)
    ///     .build(runtime.handle());
    /// // Every incarnation's figures carry `slow_polls` and `poll_histogram`.
    /// # let _ = supervisor;
    /// ```
    pub fn registry<F2, C2>(self, registry: Arc<Registry<F2, C2>>) -> SupervisorBuilder<F2, C2>
    where
        F2: MonitorFactory<C2>,
        C2: Clock,
    {
        SupervisorBuilder {
            registry: Source::Given(registry),
            config: self.config,
        }
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
    pub fn build(self, handle: &Handle) -> Supervisor<F, C> {
        let registry = match self.registry {
            Source::New(new) => new(),
            Source::Given(registry) => registry,
        };
        let host: Arc<dyn Host> = registry.clone();
        Supervisor {
            shared: Arc::new(Shared {
                control: Control::spawn(handle, host, self.config),
                registry,
            }),
        }
    }
}

impl Control {
    /// Spawns the supervisor's task on `handle`'s runtime; the handle side of it.
    fn spawn(handle: &Handle, host: Arc<dyn Host>, config: Config) -> Self {
        let (commands, receiver) = mpsc::unbounded_channel();
        let (report_tx, report) = watch::channel(None);
        let board = Arc::new(Board::default());
        let core = Core::new(
            handle.clone(),
            host.clone(),
            config,
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
        Self {
            handle: handle.clone(),
            host,
            commands,
            board,
            report,
        }
    }
}

impl<F: MonitorFactory<C>, C: Clock> fmt::Debug for SupervisorBuilder<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let registry: &dyn fmt::Debug = match &self.registry {
            Source::New(_) => &"new",
            Source::Given(registry) => registry,
        };
        f.debug_struct("SupervisorBuilder")
            .field("registry", registry)
            .field("config", &self.config)
            .finish()
    }
}

#[allow(dead_code)] // Compile-time assertions only.
fn assert_supervisor_and_its_futures_are_send<F: MonitorFactory<C>, C: Clock>(
    supervisor: &Supervisor<F, C>,
) {
    fn is_send_sync<T: Send + Sync>() {}
    fn is_send<T: Send>(_: &T) {}
    is_send_sync::<Supervisor<F, C>>();
    is_send_sync::<SupervisorBuilder<F, C>>();
    is_send(&supervisor.wait());
    is_send(&supervisor.stop());
    #[cfg(not(loom))]
    is_send(&supervisor.run_until_signal());
}
