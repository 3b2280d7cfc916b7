//! The supervisor task's state: every child, its live incarnation, the phase, and the
//! counters and board kept in step with them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use futures_util::stream::FuturesUnordered;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use vigil_registry::{ServiceId, TaskId};
use vigil_status::ServiceStatusJoinHandle;

use crate::backoff::BackoffState;
use crate::board::{Board, RECENT_ENDINGS};
use crate::config::Config;
use crate::factory::Factory;
use crate::host::Host;
use crate::incarnation::Watch;
use crate::intensity::IntensityWindow;
use crate::report::{Ending, Exit, ServiceState, ShutdownReport};
use crate::spec::Options;
use crate::trace::Starter;

/// Whether the shutdown has begun, and when it must be over.
pub(super) enum Phase {
    Running,
    Stopping { began: Instant, deadline: Instant },
}

/// One started spec.
pub(super) struct Child {
    pub(super) task: TaskId,
    pub(super) options: Options,
    /// `None` once the spec has ended for good (drops a mailbox nobody will read).
    pub(super) factory: Option<Arc<dyn Factory>>,
    pub(super) token: CancellationToken,
    pub(super) backoff: BackoffState,
    pub(super) window: IntensityWindow,
    pub(super) restarts: u32,
    pub(super) live: Option<Live>,
    pub(super) state: ServiceState,
    /// The last ending was `Completed`.
    pub(super) last_completed: bool,
    pub(super) starter: Starter,
}

/// The running incarnation of a spec.
pub(super) struct Live {
    pub(super) id: ServiceId,
    pub(super) status: ServiceStatusJoinHandle,
    pub(super) started_at: Instant,
    /// Set when the shutdown asked it to stop: when it will be aborted.
    pub(super) abort_at: Option<Instant>,
    /// Set when the supervisor aborted it.
    pub(super) aborted_at: Option<Instant>,
}

/// The supervisor's task: every spec, every live incarnation, the pending restarts and the
/// shutdown's progress, owned by one task so none of it needs a lock.
pub(crate) struct Core {
    pub(super) handle: Handle,
    /// The supervisor's registry, whatever its type: the state machine is compiled once.
    pub(super) registry: Arc<dyn Host>,
    pub(super) config: Config,
    pub(super) board: Arc<Board>,
    pub(super) report: watch::Sender<Option<Arc<ShutdownReport>>>,
    pub(super) children: Vec<Child>,
    pub(super) watchers: FuturesUnordered<Watch>,
    /// Pending restarts by due time; an entry whose child is no longer backing off until
    /// that time is stale and skipped.
    pub(super) restarts_due: BinaryHeap<Reverse<(Instant, usize)>>,
    pub(super) phase: Phase,
    pub(super) finish_when_idle: bool,
    /// Children with a live incarnation (not abandoned).
    pub(super) live_count: usize,
    /// Children in `ServiceState::BackingOff`.
    pub(super) backing_off_count: usize,
    pub(super) endings: Vec<(ServiceId, Exit)>,
    pub(super) gave_up: Vec<&'static str>,
}

impl Core {
    /// The state of a supervisor with no spec yet.
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

    /// No more incarnations of child `index`: drops its factory (and a mailbox with it).
    pub(super) fn stop_for_good(&mut self, index: usize, state: ServiceState) {
        self.children[index].factory = None;
        self.set_state(index, state);
    }

    /// Sets child `index`'s state, in the board too, keeping the backing-off count in step.
    pub(super) fn set_state(&mut self, index: usize, state: ServiceState) {
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

    /// Records an ending for the report and the board's recent endings.
    pub(super) fn record(&mut self, id: ServiceId, exit: Exit) {
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
}
