//! The supervisor's state machine: one task that owns every spec, observes every ending,
//! schedules restarts, and runs the shutdown.
//!
//! The task's state is [`state`]; what an ending leads to is [`restarts`]; the stages,
//! deadlines and report of a shutdown are [`shutdown`]; this module is the event loop that
//! drives them. `restarts` uses `shutdown` (escalation begins one), both use `state` and
//! `time`; none uses this module.

mod restarts;
mod shutdown;
mod state;
mod time;

use std::cmp::Reverse;
use std::sync::Arc;

use futures_util::stream::StreamExt;
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use vigil_registry::TaskId;

use self::state::{Child, Live, Phase};
use self::time::later;
use crate::backoff::BackoffState;
use crate::factory::Factory;
use crate::incarnation::{Spawned, Watch};
use crate::intensity::IntensityWindow;
use crate::report::ServiceState;
use crate::spec::Options;
use crate::trace::Starter;

pub(crate) use self::state::Core;
pub(crate) use self::time::idle_timer;

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

impl Core {
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

    /// Does what a handle asked.
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

    /// Takes over a spec whose first incarnation the starting thread has spawned.
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
}
