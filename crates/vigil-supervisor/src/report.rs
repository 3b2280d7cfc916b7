//! How incarnations ended: [`Exit`], [`Ending`], and the [`ShutdownReport`].

use std::fmt;
use std::time::Duration;

use vigil_registry::ServiceId;

/// How one incarnation of a service ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// It returned `()` or `Ok(())`, also after a shutdown request.
    Completed,
    /// It returned an `Err`, whose text this is.
    Failed(String),
    /// It panicked; the message of a `&str` or `String` payload, else `"Box<dyn Any>"`.
    Panicked(String),
    /// It was cancelled by someone other than the supervisor (e.g. a user's `abort`).
    Cancelled,
    /// The supervisor aborted it at its shutdown deadline.
    Aborted,
    /// It was still inside one poll (blocking its thread) `abort_grace` after it was
    /// aborted; the supervisor stopped waiting for it.
    Abandoned {
        /// How long it had been inside that poll when it was abandoned.
        in_poll: Duration,
    },
}

impl Exit {
    /// `true` for the endings that restart a [`Transient`](crate::Restart::Transient)
    /// service: [`Failed`](Exit::Failed) and [`Panicked`](Exit::Panicked).
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Failed(_) | Self::Panicked(_))
    }

    /// One lowercase word: `completed`, `failed`, `panicked`, `cancelled`, `aborted`,
    /// `abandoned`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed(_) => "failed",
            Self::Panicked(_) => "panicked",
            Self::Cancelled => "cancelled",
            Self::Aborted => "aborted",
            Self::Abandoned { .. } => "abandoned",
        }
    }

    /// The failure text or panic message, if any.
    pub fn message(&self) -> Option<&str> {
        match self {
            Self::Failed(text) | Self::Panicked(text) => Some(text),
            _ => None,
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(text) | Self::Panicked(text) => write!(f, "{}: {text}", self.kind()),
            Self::Abandoned { in_poll } => {
                write!(f, "abandoned, {:?} inside one poll", micros(*in_poll))
            }
            _ => f.write_str(self.kind()),
        }
    }
}

/// One ending as [`Supervisor::recent_endings`](crate::Supervisor::recent_endings) lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ending {
    /// Increases by one per ending the supervisor ever observed, from 0.
    pub seq: u64,
    /// The incarnation.
    pub id: ServiceId,
    /// How it ended.
    pub exit: Exit,
}

/// Every incarnation's ending, in the order the supervisor observed them, and what gave up.
///
/// Nothing is left out: the number of endings equals the number of incarnations started.
/// `Display` prints a table an operator can paste into an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownReport {
    pub(crate) endings: Vec<(ServiceId, Exit)>,
    pub(crate) gave_up: Vec<&'static str>,
    pub(crate) elapsed: Duration,
    pub(crate) clean: bool,
}

impl ShutdownReport {
    /// Every incarnation's ending, in ending order.
    pub fn endings(&self) -> &[(ServiceId, Exit)] {
        &self.endings
    }

    /// The services that gave up (restarted too often), in the order they did.
    pub fn gave_up(&self) -> &[&'static str] {
        &self.gave_up
    }

    /// How long the shutdown took, from its beginning (`shutdown()`, a signal, or an
    /// escalation) to the last ending; zero if every service ended before any shutdown.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// `true` if every service's last incarnation returned normally
    /// ([`Completed`](Exit::Completed)) and no service gave up. Failures that were followed
    /// by a restart do not count: they are history, still listed in
    /// [`endings`](Self::endings).
    pub fn is_clean(&self) -> bool {
        self.clean
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.clean { "clean" } else { "NOT clean" };
        writeln!(
            f,
            "shutdown in {:?}: {} endings, {} gave up, {verdict}",
            micros(self.elapsed),
            self.endings.len(),
            self.gave_up.len()
        )?;
        let ids: Vec<String> = self.endings.iter().map(|(id, _)| id.to_string()).collect();
        let width = ids.iter().map(String::len).chain([7]).max().unwrap_or(7);
        writeln!(f, "  {:<width$}  {:<9}  detail", "service", "ending")?;
        for (id, (_, exit)) in ids.iter().zip(&self.endings) {
            let detail = match exit {
                Exit::Failed(text) | Exit::Panicked(text) => text.clone(),
                Exit::Aborted => "did not stop by the deadline".to_owned(),
                Exit::Abandoned { in_poll } => format!("{:?} inside one poll", micros(*in_poll)),
                _ => String::new(),
            };
            let line = format!("  {id:<width$}  {:<9}  {detail}", exit.kind());
            writeln!(f, "{}", line.trim_end())?;
        }
        if !self.gave_up.is_empty() {
            writeln!(f, "gave up: {}", self.gave_up.join(", "))?;
        }
        Ok(())
    }
}

/// `duration` truncated to whole microseconds, so `Debug` prints no nanosecond noise.
fn micros(duration: Duration) -> Duration {
    Duration::from_micros(u64::try_from(duration.as_micros()).unwrap_or(u64::MAX))
}

/// What one started spec is doing now, as [`Supervisor::states`](crate::Supervisor::states)
/// lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceState {
    /// An incarnation is running.
    Running,
    /// The last incarnation ended and a restart is scheduled.
    BackingOff {
        /// When the restart is due.
        until: tokio::time::Instant,
        /// The number of the pending restart (the next incarnation's
        /// [`Context::restarts`](crate::Context::restarts)).
        restarts: u32,
    },
    /// Asked to stop by a shutdown; still running.
    Stopping,
    /// Ended for good (not restarted, or stopped by the shutdown).
    Stopped,
    /// Restarted too often within the intensity period: no more restarts.
    GaveUp,
}

impl ServiceState {
    /// One lowercase word: `running`, `backing_off`, `stopping`, `stopped`, `gave_up`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::BackingOff { .. } => "backing_off",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::GaveUp => "gave_up",
        }
    }
}

impl fmt::Display for ServiceState {
    /// `running`, `backing off (restart 3)`, `stopping`, `stopped`, `gave up`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BackingOff { restarts, .. } => write!(f, "backing off (restart {restarts})"),
            Self::GaveUp => f.write_str("gave up"),
            _ => f.write_str(self.kind()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_registry::TaskId;

    #[test]
    fn display_is_a_table() {
        let id = |name, n| ServiceId::new(TaskId::new(name), n);
        let report = ShutdownReport {
            endings: vec![
                (id("crasher", 0), Exit::Panicked("boom".into())),
                (id("ticker", 0), Exit::Completed),
                (
                    id("stuck", 0),
                    Exit::Abandoned {
                        in_poll: Duration::from_nanos(1_500_000_999),
                    },
                ),
            ],
            gave_up: vec!["crasher"],
            elapsed: Duration::from_millis(20),
            clean: false,
        };
        let text = report.to_string();
        assert_eq!(
            text,
            "shutdown in 20ms: 3 endings, 1 gave up, NOT clean\n\
             \x20 service    ending     detail\n\
             \x20 crasher#0  panicked   boom\n\
             \x20 ticker#0   completed\n\
             \x20 stuck#0    abandoned  1.5s inside one poll\n\
             gave up: crasher\n"
        );
    }

    #[test]
    fn states_display_in_words() {
        let until = tokio::time::Instant::now();
        let backing_off = ServiceState::BackingOff { until, restarts: 3 };
        assert_eq!(backing_off.to_string(), "backing off (restart 3)");
        assert_eq!(ServiceState::GaveUp.to_string(), "gave up");
        assert_eq!(ServiceState::Running.to_string(), "running");
    }
}
