//! What one row, instance and event of the dashboard shows: the view types of the state.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::model::{Endings, Mailbox, PollHistogram, Scheduling, Verdict};

/// How the last fetch went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Connection {
    /// No answer yet.
    Connecting,
    /// The last fetch returned a document.
    Connected,
    /// The target did not answer; the poller keeps trying.
    Disconnected(String),
    /// The target answered with something that is not a document this reader shows.
    Invalid(String),
}

/// A service name's state, worst first (the order used to sort the state column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ServiceState {
    /// Its longest in-flight poll is over the threshold: blocking its worker thread.
    Stuck,
    /// Its process does not answer (several processes on one screen): the figures are
    /// the last ones read.
    Down,
    /// The supervisor stopped restarting it.
    GaveUp,
    /// Waiting for a restart.
    BackingOff,
    /// Shutting down.
    Stopping,
    /// Stopped by the supervisor.
    Stopped,
    /// Live instances, none stuck.
    Running,
    /// No live instance (and no supervisor state to say more).
    Ended,
}

impl ServiceState {
    /// The word shown in the state column.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Stuck => "STUCK",
            Self::Down => "down",
            Self::GaveUp => "gave up",
            Self::BackingOff => "backing off",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Running => "running",
            Self::Ended => "ended",
        }
    }

    /// The state a supervisor section names, if it is one this reader knows.
    pub(crate) fn from_supervisor(state: &str) -> Option<Self> {
        match state {
            "running" => Some(Self::Running),
            "backing_off" => Some(Self::BackingOff),
            "stopping" => Some(Self::Stopping),
            "stopped" => Some(Self::Stopped),
            "gave_up" => Some(Self::GaveUp),
            _ => None,
        }
    }
}

/// One row per service name.
#[derive(Debug, Clone)]
pub(crate) struct ServiceView {
    pub(crate) name: String,
    pub(crate) instances: u64,
    pub(crate) state: ServiceState,
    /// Polls per second over the last interval (`None` until two documents are seen).
    pub(crate) polls_per_second: Option<f64>,
    /// Busy time over the last interval as a percentage of one thread (instances add up).
    pub(crate) busy_percent: Option<f64>,
    pub(crate) mean_utilization: f64,
    pub(crate) max_utilization: u8,
    /// Busy % per document, oldest first, at most [`HISTORY_SAMPLES`](crate::state::HISTORY_SAMPLES).
    pub(crate) history: VecDeque<u64>,
    pub(crate) longest_in_poll: Option<Duration>,
    pub(crate) slow_polls: Option<u64>,
    /// The slow-poll monitor's threshold.
    pub(crate) slow_threshold: Option<Duration>,
    pub(crate) p99: Option<Duration>,
    pub(crate) histogram: Option<PollHistogram>,
    pub(crate) restarts: u64,
    pub(crate) endings: Endings,
    /// When backing off: how long until the next start.
    pub(crate) retry_in: Option<Duration>,
    /// The name's mailbox now, if a supervisor registered one.
    pub(crate) mailbox: Option<Mailbox>,
    /// Lifetime scheduling counters, with the scheduling monitor attached.
    pub(crate) scheduling: Option<Scheduling>,
    /// The mean wake-to-poll delay of the last interval's scheduled polls (`None` before
    /// two documents, without the scheduling monitor, or when no poll followed a wake).
    pub(crate) wake_to_poll: Option<Duration>,
    /// Why the process judges the service lagging, if it does.
    pub(crate) verdict: Option<Verdict>,
    /// The process it runs in, when the screen shows several (`name` is then
    /// `process/service`, unique across them).
    pub(crate) process: Option<String>,
}

impl ServiceView {
    /// The service's own name, without its process.
    pub(crate) fn service_name(&self) -> &str {
        self.process
            .as_deref()
            .and_then(|process| self.name.strip_prefix(process))
            .and_then(|rest| rest.strip_prefix('/'))
            .unwrap_or(&self.name)
    }
}

/// The processes behind a screen that shows several.
#[derive(Debug, Clone, Default)]
pub(crate) struct FleetView {
    /// Every process, in label order, with why it is down (`None`: it answers).
    pub(crate) processes: Vec<(String, Option<String>)>,
}

impl FleetView {
    /// The processes that are down, with the last error of each.
    pub(crate) fn down(&self) -> impl Iterator<Item = (&str, &str)> {
        self.processes
            .iter()
            .filter_map(|(label, down)| Some((label.as_str(), down.as_deref()?)))
    }

    /// The widest process label, for the `process` column.
    pub(crate) fn label_width(&self) -> usize {
        self.processes
            .iter()
            .map(|(label, _)| label.chars().count())
            .max()
            .unwrap_or(0)
    }
}

/// Where a replay is: shown in the header while replaying.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ReplayStatus {
    /// Fetches played so far, and in the recording.
    pub(crate) played: usize,
    pub(crate) total: usize,
    /// Playback speed (1 = as recorded).
    pub(crate) speed: f64,
    pub(crate) paused: bool,
}

/// One instance row (shown when its name is expanded, and in the detail pane).
#[derive(Debug, Clone)]
pub(crate) struct InstanceView {
    pub(crate) instance_id: u64,
    pub(crate) poll_count: u64,
    pub(crate) total_busy: Duration,
    pub(crate) utilization: u8,
    pub(crate) in_poll: Option<Duration>,
    pub(crate) age: Option<Duration>,
    /// When it left the document; it lingers for [`LINGER`](crate::state::LINGER), then leaves.
    pub(crate) ended_at: Option<Instant>,
}

/// How much an event matters (its colour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Severity {
    Info,
    Warning,
    Error,
}

/// One line of the events pane.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    /// Since vigil-top started; `None` for endings that happened before it attached (the
    /// supervisor's backlog in the first document).
    pub(crate) at: Option<Duration>,
    pub(crate) severity: Severity,
    pub(crate) text: String,
}

/// A column the table can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SortColumn {
    Name,
    Instances,
    State,
    PollsPerSecond,
    Busy,
    Utilization,
    InPoll,
    SlowPolls,
    P99,
    Mailbox,
    Restarts,
    Endings,
}

impl SortColumn {
    /// Left to right, as the columns are drawn.
    pub(crate) const ALL: [Self; 12] = [
        Self::Name,
        Self::Instances,
        Self::State,
        Self::PollsPerSecond,
        Self::Busy,
        Self::Utilization,
        Self::InPoll,
        Self::SlowPolls,
        Self::P99,
        Self::Mailbox,
        Self::Restarts,
        Self::Endings,
    ];

    /// The column header.
    pub(crate) fn title(self) -> &'static str {
        match self {
            Self::Name => "service",
            Self::Instances => "inst",
            Self::State => "state",
            Self::PollsPerSecond => "polls/s",
            Self::Busy => "busy%",
            Self::Utilization => "util",
            Self::InPoll => "in poll",
            Self::SlowPolls => "slow",
            Self::P99 => "p99",
            Self::Mailbox => "mailbox",
            Self::Restarts => "restarts",
            Self::Endings => "endings",
        }
    }

    pub(crate) fn index(self) -> usize {
        Self::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
}

/// A row of the table: a service name, or one of its instances when expanded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum RowKey {
    Service(String),
    Instance(String, u64),
}

impl RowKey {
    /// The service name the row belongs to.
    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Service(name) | Self::Instance(name, _) => name,
        }
    }
}
