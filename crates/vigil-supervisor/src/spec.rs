//! What to run and how to treat its endings: [`ChildSpec`], [`Restart`], [`IntoExit`].

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use vigil_registry::{ServiceFuture, TaskId};

use crate::backoff::Backoff;
use crate::context::Context;
use crate::factory::{Factory, FailureSlot, Finish};
use crate::mailbox::{Mailbox, Slot};

/// Which endings a service is restarted after (OTP's restart types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Restart {
    /// Always restarted, even after returning normally.
    Permanent,
    /// Restarted after a failure only: an `Err` or a panic. The default.
    #[default]
    Transient,
    /// Never restarted.
    Temporary,
}

/// What a service's future may return: `()` (always a normal ending) or
/// `Result<(), E: Display>` (an `Err` is a failure whose text the report keeps).
pub trait IntoExit: Send + 'static {
    /// `Err(text)` if this output is a failure.
    ///
    /// # Errors
    ///
    /// The failure's text, for the report.
    fn into_exit(self) -> Result<(), String>;
}

impl IntoExit for () {
    fn into_exit(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: fmt::Display + Send + 'static> IntoExit for Result<(), E> {
    fn into_exit(self) -> Result<(), String> {
        self.map_err(|error| error.to_string())
    }
}

/// A factory `FnMut(Context) -> Fut`.
struct PlainFactory<F> {
    // Locked only while the factory runs (synchronously), never across an `.await`.
    make: Mutex<F>,
    failure: FailureSlot,
}

impl<F, Fut> Factory for PlainFactory<F>
where
    F: FnMut(Context) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoExit,
{
    fn incarnation(self: Arc<Self>, ctx: Context, finish: Finish) -> ServiceFuture {
        Box::pin(async move {
            let future = {
                let mut make = self.make.lock().unwrap_or_else(PoisonError::into_inner);
                (make)(ctx)
            };
            finish.record(&self.failure, future.await.into_exit());
        })
    }

    fn failure(&self) -> &FailureSlot {
        &self.failure
    }
}

/// A factory `FnMut(Context, Mailbox<M>) -> Fut`, with the slot of its mailbox.
struct MailboxFactory<F, M> {
    make: Mutex<F>,
    failure: FailureSlot,
    slot: Arc<Slot<M>>,
}

impl<F, M, Fut> Factory for MailboxFactory<F, M>
where
    F: FnMut(Context, Mailbox<M>) -> Fut + Send + 'static,
    M: Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoExit,
{
    fn incarnation(self: Arc<Self>, ctx: Context, finish: Finish) -> ServiceFuture {
        Box::pin(async move {
            // The lease is taken inside the incarnation: it is dropped (returned) with the
            // incarnation's future however that ends.
            let mailbox = Mailbox::lease(self.slot.clone());
            let future = {
                let mut make = self.make.lock().unwrap_or_else(PoisonError::into_inner);
                (make)(ctx, mailbox)
            };
            finish.record(&self.failure, future.await.into_exit());
        })
    }

    fn failure(&self) -> &FailureSlot {
        &self.failure
    }
}

/// A spec without a mailbox: start it with [`Supervisor::start`](crate::Supervisor::start).
pub struct Plain {
    pub(crate) factory: Arc<dyn Factory>,
}

/// A spec whose service has a mailbox of `M`: start it with
/// [`Supervisor::start_with_mailbox`](crate::Supervisor::start_with_mailbox).
pub struct WithMailbox<M> {
    #[allow(clippy::type_complexity)] // One use: turns the mailbox's slot into the factory.
    pub(crate) bind: Box<dyn FnOnce(Arc<Slot<M>>) -> Arc<dyn Factory> + Send>,
}

/// How to run one service under a supervisor: its name, its factory, and its policies.
///
/// The factory is called once per incarnation (inside that incarnation's task) with a
/// [`Context`], and returns the incarnation's future, whose output is `()` or
/// `Result<(), E: Display>`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use vigil_supervisor::{Backoff, ChildSpec, Restart};
///
/// let spec = ChildSpec::new("consumer", |ctx| async move {
///     ctx.shutdown_requested().await;
///     Ok::<(), std::io::Error>(())
/// })
/// .restart(Restart::Permanent)
/// .backoff(Backoff::exponential(Duration::from_millis(50), Duration::from_secs(5)))
/// .intensity(5, Duration::from_secs(60))
/// .stop_timeout(Duration::from_secs(2))
/// .stage(1);
/// assert_eq!(spec.name(), "consumer");
/// ```
pub struct ChildSpec<K = Plain> {
    pub(crate) task: TaskId,
    pub(crate) kind: K,
    pub(crate) options: Options,
}

/// A spec's policies, shared by both kinds of spec.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) restart: Restart,
    pub(crate) backoff: Backoff,
    pub(crate) intensity_max: u32,
    pub(crate) intensity_period: Duration,
    pub(crate) stop_timeout: Option<Duration>,
    pub(crate) stage: u8,
}

/// Default restart intensity: more than 10 restarts within 60 s gives a service up.
pub const DEFAULT_INTENSITY: (u32, Duration) = (10, Duration::from_secs(60));

impl Default for Options {
    fn default() -> Self {
        Self {
            restart: Restart::default(),
            backoff: Backoff::default(),
            intensity_max: DEFAULT_INTENSITY.0,
            intensity_period: DEFAULT_INTENSITY.1,
            stop_timeout: None,
            stage: 0,
        }
    }
}

impl ChildSpec<Plain> {
    /// A service named `name` whose incarnations `factory` builds; records the caller's
    /// source location in the service's [`TaskId`].
    #[track_caller]
    pub fn new<F, Fut>(name: &'static str, factory: F) -> Self
    where
        F: FnMut(Context) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExit,
    {
        Self {
            task: TaskId::here(name),
            kind: Plain {
                factory: Arc::new(PlainFactory {
                    make: Mutex::new(factory),
                    failure: FailureSlot::default(),
                }),
            },
            options: Options::default(),
        }
    }
}

impl<M: Send + 'static> ChildSpec<WithMailbox<M>> {
    /// A service named `name` with a mailbox of `M`: `factory` gets each incarnation's lease
    /// on it. Start it with [`Supervisor::start_with_mailbox`](crate::Supervisor::start_with_mailbox).
    #[track_caller]
    pub fn with_mailbox<F, Fut>(name: &'static str, factory: F) -> Self
    where
        F: FnMut(Context, Mailbox<M>) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExit,
    {
        Self {
            task: TaskId::here(name),
            kind: WithMailbox {
                bind: Box::new(move |slot| {
                    Arc::new(MailboxFactory {
                        make: Mutex::new(factory),
                        failure: FailureSlot::default(),
                        slot,
                    })
                }),
            },
            options: Options::default(),
        }
    }
}

impl<K> ChildSpec<K> {
    /// The service's name.
    pub fn name(&self) -> &'static str {
        self.task.name()
    }

    /// Which endings restart the service (default [`Restart::Transient`]).
    pub fn restart(mut self, restart: Restart) -> Self {
        self.options.restart = restart;
        self
    }

    /// The delay before each restart (default [`Backoff::default`]: 100 ms doubling to 10 s,
    /// reset after 60 s of running).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.options.backoff = backoff;
        self
    }

    /// Gives the service up when it would be restarted more than `max` times within any
    /// `period` (OTP's intensity: `intensity(3, p)` allows the first run and 3 restarts).
    /// Default [`DEFAULT_INTENSITY`]: 10 restarts within 60 s.
    pub fn intensity(mut self, max: u32, period: Duration) -> Self {
        self.options.intensity_max = max;
        self.options.intensity_period = period;
        self
    }

    /// During a shutdown, aborts this service if it has not stopped `timeout` after it was
    /// asked to (default: only the supervisor's `shutdown_timeout` bounds it).
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.options.stop_timeout = Some(timeout);
        self
    }

    /// The shutdown stage (default 0): higher stages are asked to stop first, and a stage is
    /// asked only after every service of the higher stages has ended.
    pub fn stage(mut self, stage: u8) -> Self {
        self.options.stage = stage;
        self
    }
}

impl<K> fmt::Debug for ChildSpec<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("task", &self.task)
            .field("restart", &self.options.restart)
            .field("backoff", &self.options.backoff)
            .field("intensity_max", &self.options.intensity_max)
            .field("intensity_period", &self.options.intensity_period)
            .field("stop_timeout", &self.options.stop_timeout)
            .field("stage", &self.options.stage)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Plain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Plain")
    }
}

impl<M> fmt::Debug for WithMailbox<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WithMailbox")
    }
}
