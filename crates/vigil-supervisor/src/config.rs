//! The supervisor-wide settings: [`Escalation`], the default deadlines, and [`Config`], what
//! the builder hands to the supervisor's task.

use std::time::Duration;

/// Default [`SupervisorBuilder::shutdown_timeout`](crate::SupervisorBuilder::shutdown_timeout):
/// 10 s.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Default [`SupervisorBuilder::abort_grace`](crate::SupervisorBuilder::abort_grace): 1 s.
pub const DEFAULT_ABORT_GRACE: Duration = Duration::from_secs(1);

/// What happens when a service gives up (restarted too often within its intensity period).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Escalation {
    /// Shut the whole supervisor down gracefully (OTP's behaviour). The default.
    #[default]
    ShutdownAll,
    /// Keep the other services running; the given-up service stays in
    /// [`ServiceState::GaveUp`](crate::ServiceState::GaveUp).
    Continue,
}

/// The supervisor-wide settings, as the builder set them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) shutdown_timeout: Duration,
    pub(crate) abort_grace: Duration,
    pub(crate) escalation: Escalation,
}
