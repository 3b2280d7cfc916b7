//! The supervisor's state machine: one task that owns every spec, observes every ending,
//! schedules restarts, and runs the shutdown.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use vigil_registry::{ServiceId, TaskId};
use vigil_status::{ServiceError, ServiceStatusJoinHandle};

use crate::backoff::BackoffState;
use crate::incarnation::{self, panic_message, Host, Spawned, Watch};
use crate::intensity::IntensityWindow;
use crate::report::{Ending, Exit, ServiceState, ShutdownReport};
use crate::spec::{Factory, Options, Restart};
use crate::supervisor::{Board, Escalation, RECENT_ENDINGS};
use crate::trace::{event, Starter};

/// The supervisor-wide settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) shutdown_timeout: Duration,
    pub(crate) abort_grace: Duration,
    pub(crate) escalation: Escalation,
}

/// What the handles ask of the supervisor's task.
// Not boxed: the box would be allocated by the starting thread and freed by the
// supervisor's, a cross-thread free per start that contends on the allocator (measured).
#[allow(clippy::large_enum_variant)]
pub(crate) enum Command {
    /// Supervise a spec whose first incarnation the caller has started.
    Adopt(Adopt),
    Shutdown,
    ShutdownNow,
    /// Finish once everything has ended, even without a shutdown.
    Wait,
}

pub(crate) struct Adopt {
    pub(crate) index: usize,
    pub(crate) task: TaskId,
    pub(crate) options: Options,
    pub(crate) factory: Arc<dyn Factory>,
    pub(crate) token: CancellationToken,
    pub(crate) first: Spawned,
    pub(crate) starter: Starter,
}

enum Phase {
    Running,
    Stopping { began: Instant, deadline: Instant },
}

/// One started spec.
struct Child {
    task: TaskId,
    options: Options,
    /// `None` once the spec has ended for good (drops a mailbox nobody will read).
    factory: Option<Arc<dyn Factory>>,
    token: CancellationToken,
    backoff: BackoffState,
    window: IntensityWindow,
    restarts: u32,
    live: Option<Live>,
    state: ServiceState,
    /// The last ending was `Completed`.
    last_completed: bool,
    starter: Starter,
}

/// The running incarnation of a spec.
struct Live {
    id: ServiceId,
    status: ServiceStatusJoinHandle,
    started_at: Instant,
    /// Set when the shutdown asked it to stop: when it will be aborted.
    abort_at: Option<Instant>,
    /// Set when the supervisor aborted it.
    aborted_at: Option<Instant>,
}

pub(crate) struct Core {
    handle: Handle,
    /// The supervisor's registry, whatever its type: the state machine is compiled once.
    registry: Arc<dyn Host>,
    config: Config,
    board: Arc<Board>,
    report: watch::Sender<Option<Arc<ShutdownReport>>>,
    children: Vec<Child>,
    watchers: FuturesUnordered<Watch>,
    /// Pending restarts by due time; an entry whose child is no longer backing off until
    /// that time is stale and skipped.
    restarts_due: BinaryHeap<Reverse<(Instant, usize)>>,
    phase: Phase,
    finish_when_idle: bool,
    /// Children with a live incarnation (not abandoned).
    live_count: usize,
    /// Children in `ServiceState::BackingOff`.
    backing_off_count: usize,
    endings: Vec<(ServiceId, Exit)>,
    gave_up: Vec<&'static str>,
}

impl Core {
    pub(crate) fn new(
        handle: Handle,
        registry: Arc<dyn Host>,
        config: Config,
        board: Arc<Board>,
        report: watch::Sender<Option<Arc<ShutdownReport>>>,
    ) -> Self {
        Self {
            handle,
            registry,
            config,
            board,
            report,
            children: Vec::new(),
            watchers: FuturesUnordered::new(),
            restarts_due: BinaryHeap::new(),
            phase: Phase::Running,
            finish_when_idle: false,
            live_count: 0,
            backing_off_count: 0,
            endings: Vec::new(),
            gave_up: Vec::new(),
        }
    }

    /// Runs until every service has ended with no restart pending, after a shutdown began or
    /// a `wait` (or the last handle was dropped); then publishes the report.
    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        timer: Sleep,
    ) {
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        let mut commands_open = true;
        while !self.is_finished() {
            let wake = self.next_wakeup();
            if wake != armed {
                if let Some(at) = wake {
                    timer.as_mut().reset(at);
                }
                armed = wake;
            }
            tokio::select! {
                biased;
                command = commands.recv(), if commands_open => match command {
                    Some(command) => self.on_command(command),
                    None => {
                        // Nobody can shut down or wait any more: finish once all has ended.
                        commands_open = false;
                        self.finish_when_idle = true;
                    }
                },
                Some((index, id, result)) = self.watchers.next(), if !self.watchers.is_empty() => {
                    self.on_ending(index, id, result);
                }
                () = &mut timer, if armed.is_some() => {
                    armed = None;
                    self.on_timer();
                }
                else => break,
            }
            self.advance_shutdown(Instant::now());
        }
        // Specs started after this point are aborted by their starter (the send fails); abort
        // those already queued, which nothing would watch.
        commands.close();
        while let Ok(command) = commands.try_recv() {
            if let Command::Adopt(adopt) = command {
                adopt.first.join.abort();
                self.board.lock().states[adopt.index].1 = ServiceState::Stopped;
            }
        }
        self.publish_report();
    }

    fn on_command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Adopt(adopt) => self.adopt(adopt, now),
            Command::Shutdown => self.begin_shutdown(now),
            Command::ShutdownNow => {
                self.begin_shutdown(now);
                if let Phase::Stopping { deadline, .. } = &mut self.phase {
                    *deadline = now;
                }
            }
            Command::Wait => self.finish_when_idle = true,
        }
    }

    fn adopt(&mut self, adopt: Adopt, now: Instant) {
        debug_assert_eq!(
            adopt.index,
            self.children.len(),
            "specs arrive in index order"
        );
        let Adopt {
            index: _,
            task,
            options,
            factory,
            token,
            first,
            starter,
        } = adopt;
        let index = self.children.len();
        let Spawned { id, join } = first;
        self.children.push(Child {
            task,
            backoff: BackoffState::new(&options.backoff),
            window: IntensityWindow::new(options.intensity_max, options.intensity_period),
            options,
            factory: Some(factory),
            token,
            restarts: 0,
            live: Some(Live {
                id,
                status: join.status_handle(),
                started_at: now,
                abort_at: None,
                aborted_at: None,
            }),
            state: ServiceState::Running,
            last_completed: false,
            starter,
        });
        self.live_count += 1;
        self.watchers.push(Watch { index, id, join });
    }

    fn on_ending(&mut self, index: usize, id: ServiceId, result: Result<(), ServiceError>) {
        let child = &mut self.children[index];
        // An incarnation that was abandoned has already been reported.
        let Some(live) = child.live.take_if(|live| live.id == id) else {
            return;
        };
        self.live_count -= 1;
        let exit = match result {
            // A live incarnation's spec still has its factory.
            Ok(()) => match child.factory.as_ref().and_then(|f| f.failure().take()) {
                Some(text) => Exit::Failed(text),
                None => Exit::Completed,
            },
            Err(error) => match error.try_into_panic() {
                Ok(payload) => Exit::Panicked(panic_message(&*payload)),
                Err(_) if live.aborted_at.is_some() => Exit::Aborted,
                Err(_) => Exit::Cancelled,
            },
        };
        child.last_completed = exit == Exit::Completed;
        let restart = match child.options.restart {
            Restart::Permanent => exit != Exit::Cancelled,
            Restart::Transient => exit.is_failure(),
            Restart::Temporary => false,
        };
        self.record(id, exit);
        let now = Instant::now();
        if matches!(self.phase, Phase::Stopping { .. }) || !restart {
            self.stop_for_good(index, ServiceState::Stopped);
            return;
        }
        let child = &mut self.children[index];
        if let Some(period) = child.options.backoff.reset_after {
            if now.saturating_duration_since(live.started_at) >= period {
                child.backoff.reset();
            }
        }
        if !child.window.try_restart(now) {
            self.give_up(index, id, now);
            return;
        }
        child.restarts = child.restarts.saturating_add(1);
        let delay = child.backoff.next_delay(&child.options.backoff);
        if delay.is_zero() {
            self.restart(index, now);
        } else {
            let until = now + delay;
            let restarts = child.restarts;
            self.restarts_due.push(Reverse((until, index)));
            self.set_state(index, ServiceState::BackingOff { until, restarts });
            event!(info, service = %id, ?delay, restarts, "service restarts after backoff");
        }
    }

    fn on_timer(&mut self) {
        let now = Instant::now();
        while let Some(&Reverse((until, index))) = self.restarts_due.peek() {
            if until > now {
                break;
            }
            self.restarts_due.pop();
            let due = matches!(
                self.children[index].state,
                ServiceState::BackingOff { until: at, .. } if at == until
            );
            if due && matches!(self.phase, Phase::Running) {
                self.restart(index, now);
            }
        }
    }

    /// Starts the next incarnation of child `index`.
    fn restart(&mut self, index: usize, now: Instant) {
        let child = &mut self.children[index];
        let Some(factory) = &child.factory else {
            return;
        };
        let spawned = incarnation::spawn(
            &self.handle,
            &self.registry,
            child.task,
            factory,
            &child.token,
            child.restarts,
            &child.starter,
        );
        match spawned {
            Ok(Spawned { id, join }) => {
                self.registry.record_restart(child.task.name());
                child.live = Some(Live {
                    id,
                    status: join.status_handle(),
                    started_at: now,
                    abort_at: None,
                    aborted_at: None,
                });
                event!(info, service = %id, restarts = child.restarts, "service restarted");
                self.live_count += 1;
                self.watchers.push(Watch { index, id, join });
                self.set_state(index, ServiceState::Running);
            }
            Err(error) => {
                let id = ServiceId::new(child.task, u64::MAX);
                event!(error, %error, "service cannot be restarted");
                let _ = error;
                self.give_up(index, id, now);
            }
        }
    }

    /// Child `index` was restarted too often: no more restarts; escalate.
    fn give_up(&mut self, index: usize, last: ServiceId, now: Instant) {
        let name = self.children[index].task.name();
        self.gave_up.push(name);
        self.stop_for_good(index, ServiceState::GaveUp);
        event!(
            error,
            service = %last,
            escalation = ?self.config.escalation,
            "service restarted too often; gave up"
        );
        let _ = last;
        if self.config.escalation == Escalation::ShutdownAll {
            self.begin_shutdown(now);
        }
    }

    fn stop_for_good(&mut self, index: usize, state: ServiceState) {
        self.children[index].factory = None;
        self.set_state(index, state);
    }

    fn begin_shutdown(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Stopping { .. }) {
            return;
        }
        self.phase = Phase::Stopping {
            began: now,
            deadline: later(now, self.config.shutdown_timeout),
        };
        self.restarts_due.clear();
        for index in 0..self.children.len() {
            if matches!(self.children[index].state, ServiceState::BackingOff { .. }) {
                self.stop_for_good(index, ServiceState::Stopped);
            }
        }
        event!(
            info,
            timeout = ?self.config.shutdown_timeout,
            "supervisor shutting down"
        );
    }

    /// Asks the next stage to stop, aborts whatever is past its deadline, abandons whatever
    /// outlived its abort by the grace period; repeats until nothing changes at `now`.
    fn advance_shutdown(&mut self, now: Instant) {
        let Phase::Stopping { deadline, .. } = self.phase else {
            return;
        };
        let grace = self.config.abort_grace;
        loop {
            let mut changed = false;
            for index in 0..self.children.len() {
                let child = &mut self.children[index];
                let Some(live) = &mut child.live else {
                    continue;
                };
                match live.aborted_at {
                    // `abort_grace` is at least 1 ms, so an abort made now is never
                    // abandoned in the same pass.
                    Some(aborted_at) if now >= later(aborted_at, grace) => {
                        self.abandon(index);
                        changed = true;
                    }
                    Some(_) => {}
                    None if now >= deadline || live.abort_at.is_some_and(|at| now >= at) => {
                        child.token.cancel();
                        live.status.abort();
                        live.aborted_at = Some(now);
                        event!(warn, service = %live.id, "service aborted at its deadline");
                        self.set_state(index, ServiceState::Stopping);
                        changed = true;
                    }
                    None => {}
                }
            }
            // The highest stage with a live service is asked to stop; lower stages wait.
            let top = self
                .children
                .iter()
                .filter(|child| child.live.is_some())
                .map(|child| child.options.stage)
                .max();
            if let Some(top) = top {
                for index in 0..self.children.len() {
                    let child = &mut self.children[index];
                    let Some(live) = &mut child.live else {
                        continue;
                    };
                    if child.options.stage < top || live.abort_at.is_some() {
                        continue;
                    }
                    let own = child
                        .options
                        .stop_timeout
                        .map(|timeout| later(now, timeout));
                    live.abort_at = Some(own.map_or(deadline, |own| own.min(deadline)));
                    child.token.cancel();
                    if live.aborted_at.is_none() {
                        self.set_state(index, ServiceState::Stopping);
                    }
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    /// Child `index` is still running `abort_grace` after its abort: stop waiting for it.
    fn abandon(&mut self, index: usize) {
        let Some(live) = self.children[index].live.take() else {
            return;
        };
        self.live_count -= 1;
        let in_poll = self
            .registry
            .instance_metrics(live.id)
            .and_then(|metrics| metrics.current_poll_duration)
            .unwrap_or_default();
        event!(warn, service = %live.id, ?in_poll, "service abandoned inside a poll");
        self.children[index].last_completed = false;
        self.record(live.id, Exit::Abandoned { in_poll });
        self.stop_for_good(index, ServiceState::Stopped);
    }

    /// The next time something is due: a restart, an abort, an abandonment. Everything due
    /// at or before now has been handled by the time this is called.
    fn next_wakeup(&self) -> Option<Instant> {
        match self.phase {
            Phase::Running => self.restarts_due.peek().map(|Reverse((until, _))| *until),
            Phase::Stopping { deadline, .. } => self
                .children
                .iter()
                .filter_map(|child| child.live.as_ref())
                .map(|live| match live.aborted_at {
                    Some(aborted_at) => later(aborted_at, self.config.abort_grace),
                    None => live.abort_at.map_or(deadline, |at| at.min(deadline)),
                })
                .min(),
        }
    }

    /// O(1): checked after every event.
    fn is_finished(&self) -> bool {
        if !self.finish_when_idle && matches!(self.phase, Phase::Running) {
            return false;
        }
        debug_assert_eq!(
            (self.live_count, self.backing_off_count),
            (
                self.children.iter().filter(|c| c.live.is_some()).count(),
                self.children
                    .iter()
                    .filter(|c| matches!(c.state, ServiceState::BackingOff { .. }))
                    .count()
            ),
            "counters out of step"
        );
        self.live_count == 0 && self.backing_off_count == 0
    }

    fn set_state(&mut self, index: usize, state: ServiceState) {
        let backing_off = |state: &ServiceState| matches!(state, ServiceState::BackingOff { .. });
        match (
            backing_off(&self.children[index].state),
            backing_off(&state),
        ) {
            (false, true) => self.backing_off_count += 1,
            (true, false) => self.backing_off_count -= 1,
            _ => {}
        }
        self.children[index].state = state;
        self.board.lock().states[index].1 = state;
    }

    fn record(&mut self, id: ServiceId, exit: Exit) {
        {
            let mut view = self.board.lock();
            let seq = view.next_seq;
            view.next_seq += 1;
            if view.recent.len() == RECENT_ENDINGS {
                view.recent.pop_front();
            }
            view.recent.push_back(Ending {
                seq,
                id,
                exit: exit.clone(),
            });
        }
        self.endings.push((id, exit));
    }

    fn publish_report(&mut self) {
        let now = Instant::now();
        let elapsed = match self.phase {
            Phase::Running => Duration::ZERO,
            Phase::Stopping { began, .. } => now.saturating_duration_since(began),
        };
        let clean = self.gave_up.is_empty() && self.children.iter().all(|c| c.last_completed);
        let report = ShutdownReport {
            endings: std::mem::take(&mut self.endings),
            gave_up: std::mem::take(&mut self.gave_up),
            elapsed,
            clean,
        };
        event!(info, elapsed = ?elapsed, clean, "supervisor finished");
        self.report.send_replace(Some(Arc::new(report)));
    }
}

/// `now + duration`, or a time too far away to matter if that overflows.
fn later(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration).unwrap_or_else(|| far_future(now))
}

/// The supervisor's one timer, unarmed. Must be called inside the supervisor's runtime;
/// panics (with tokio's message) if its time driver is not enabled.
pub(crate) fn idle_timer() -> Sleep {
    tokio::time::sleep_until(far_future(Instant::now()))
}

/// About thirty years from `now`: "never" for a timer.
fn far_future(now: Instant) -> Instant {
    now + Duration::from_secs(30 * 365 * 24 * 60 * 60)
}
