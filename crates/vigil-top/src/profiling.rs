//! The dashboard's view of the target's profiler: the stacks of stuck services, and the
//! CPU profile the `p` key records.
//!
//! Plain data like the rest of the state: the fetch threads' answers come in through
//! [`App::on_stacks`] and [`App::on_profile`], and [`App::stack_interest`] tells the
//! poller when a refresh should fetch the stacks too.

use std::time::{Duration, Instant};

use crate::folded::FoldedStack;
use crate::source::{ProfileFailure, ProfileFetched, StacksError, StacksFetched};
use crate::stacks::{StackInterest, StacksDocument};
use crate::state::{App, ServiceState, Severity};

/// How long the `p` key profiles the target.
pub(crate) const PROFILE_SECONDS: u64 = 2;

/// Whether the endpoint serves `/debug/stacks`, as far as vigil-top knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StacksRoute {
    /// Not asked yet.
    Unknown,
    /// It answered (stacks or an error of its own).
    Present,
    /// It answered `404`: no profiler. Never asked again.
    Absent,
}

/// The latest stacks answer.
#[derive(Debug, Clone)]
pub(crate) struct Stacks {
    pub(crate) route: StacksRoute,
    /// The latest document, dropped once no service is stuck (a stack is only shown for
    /// a poll in progress).
    pub(crate) document: Option<StacksDocument>,
    /// Why the latest fetch gave no document (other than `404`).
    pub(crate) error: Option<String>,
}

impl Default for Stacks {
    fn default() -> Self {
        Self {
            route: StacksRoute::Unknown,
            document: None,
            error: None,
        }
    }
}

/// A profile the `p` key asked for: running, or its outcome.
#[derive(Debug, Clone)]
pub(crate) enum ProfileRun {
    /// Asked at `started` for `seconds`.
    Running { started: Instant, seconds: u64 },
    /// The folded stacks of the whole process over `seconds`.
    Done {
        seconds: u64,
        stacks: Vec<FoldedStack>,
    },
    /// Why there is no profile, in one line.
    Failed(String),
}

impl App {
    /// What the poller should know to fetch the stacks only when the detail pane shows a
    /// stuck service: nothing once the endpoint said it has no profiler, or while paused.
    pub(crate) fn stack_interest(&self) -> StackInterest {
        if self.stacks.route == StacksRoute::Absent || self.paused {
            return StackInterest::None;
        }
        match self.selected_row() {
            // The user picked a row: that one.
            Some(row) if self.selected.is_some() => StackInterest::Service(row.name().to_owned()),
            // The pane follows the first row, whichever it will be.
            _ => StackInterest::FirstRow {
                filter: self.filter.clone(),
            },
        }
    }

    /// Takes in one stacks fetch; a `404` is remembered, and the pane shows nothing more.
    pub(crate) fn on_stacks(&mut self, fetched: StacksFetched) {
        if self.paused {
            return;
        }
        match fetched {
            Ok(document) => {
                self.stacks.route = StacksRoute::Present;
                self.stacks.document = Some(document);
                self.stacks.error = None;
            }
            Err(StacksError::NoProfiler) => {
                self.stacks = Stacks {
                    route: StacksRoute::Absent,
                    ..Stacks::default()
                };
            }
            Err(StacksError::Failed(reason)) => self.stacks.error = Some(reason),
        }
    }

    /// Forgets the stacks once no service is stuck, so that the next stuck poll never
    /// shows the previous one's stack.
    pub(crate) fn drop_stale_stacks(&mut self) {
        if !self
            .services
            .values()
            .any(|service| service.state == ServiceState::Stuck)
        {
            self.stacks.document = None;
            self.stacks.error = None;
        }
    }

    /// The `p` key: starts a profile unless one is running. Returns the seconds to record
    /// for, or `None` when one is already running.
    pub(crate) fn request_profile(&mut self, now: Instant) -> Option<u64> {
        if self.profiling_left(now).is_some() {
            self.push_event(
                now,
                Severity::Warning,
                "a profile is already being recorded".to_owned(),
            );
            return None;
        }
        self.profile = Some(ProfileRun::Running {
            started: now,
            seconds: PROFILE_SECONDS,
        });
        self.push_event(
            now,
            Severity::Info,
            format!("profiling… {PROFILE_SECONDS}s (the whole process)"),
        );
        Some(PROFILE_SECONDS)
    }

    /// Takes in a profile's outcome.
    pub(crate) fn on_profile(&mut self, fetched: ProfileFetched, now: Instant) {
        let seconds = match self.profile {
            Some(ProfileRun::Running { seconds, .. }) => seconds,
            _ => PROFILE_SECONDS,
        };
        match fetched {
            Ok(stacks) => {
                let samples: u64 = stacks.iter().map(|stack| stack.count).sum();
                self.push_event(
                    now,
                    Severity::Info,
                    format!("profile: {samples} samples over {seconds}s (Esc closes it)"),
                );
                self.profile = Some(ProfileRun::Done { seconds, stacks });
            }
            Err(failure) => {
                let text = failure.to_string();
                let severity = match failure {
                    ProfileFailure::Busy => Severity::Warning,
                    _ => Severity::Error,
                };
                self.push_event(now, severity, text.clone());
                self.profile = Some(ProfileRun::Failed(text));
            }
        }
    }

    /// While a profile is being recorded: how long until it should be done.
    pub(crate) fn profiling_left(&self, now: Instant) -> Option<Duration> {
        match self.profile {
            Some(ProfileRun::Running { started, seconds }) => Some(
                Duration::from_secs(seconds).saturating_sub(now.saturating_duration_since(started)),
            ),
            _ => None,
        }
    }
}
