//! What the supervisor's task publishes for the handles to read: every spec's state and the
//! recent endings ([`Board`]).

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::report::{Ending, ServiceState};

/// How many endings [`Supervisor::recent_endings`](crate::Supervisor::recent_endings) keeps.
pub const RECENT_ENDINGS: usize = 128;

/// What the supervisor's task publishes for [`Supervisor::states`](crate::Supervisor::states)
/// and [`Supervisor::recent_endings`](crate::Supervisor::recent_endings). Locked briefly, never
/// across an `.await`.
#[derive(Debug, Default)]
pub(crate) struct Board {
    view: Mutex<View>,
}

/// The published state, behind [`Board::lock`].
#[derive(Debug, Default)]
pub(crate) struct View {
    pub(crate) states: Vec<(&'static str, ServiceState)>,
    pub(crate) recent: VecDeque<Ending>,
    pub(crate) next_seq: u64,
}

impl Board {
    /// The view, for a single read or update.
    pub(crate) fn lock(&self) -> MutexGuard<'_, View> {
        // Every update is a single assignment or push: a poisoned view is still consistent.
        self.view.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
