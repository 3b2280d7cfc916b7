//! Why the profiler could not install, profile, or capture a stack.

use std::fmt;
use std::io;
use std::time::Duration;

use vigil_registry::ServiceId;

/// Why [`Profiler::install`](crate::Profiler::install) or
/// [`Profiler::profile`](crate::Profiler::profile) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProfileError {
    /// Not Linux on x86_64 or aarch64.
    Unsupported,
    /// Another handler is already installed for `signal`: the profiler never replaces one.
    /// Choose other signals with [`ProfilerBuilder`](crate::ProfilerBuilder).
    SignalInUse {
        /// The signal number.
        signal: i32,
    },
    /// `signal` cannot carry the profiler's handler (out of range, `SIGKILL`, `SIGSTOP`, or
    /// the same signal given for capture and profiling).
    InvalidSignal {
        /// The signal number.
        signal: i32,
    },
    /// Another profile is being recorded; one runs at a time.
    Busy,
    /// The sampling frequency is `0` or above 1000 Hz.
    InvalidFrequency {
        /// The frequency asked for, in Hz.
        hz: u32,
    },
    /// The operating system refused (a timer or a handler).
    Os(io::Error),
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unsupported => f.write_str("the profiler needs Linux on x86_64 or aarch64"),
            Self::SignalInUse { signal } => write!(
                f,
                "signal {signal} already has a handler that is not the profiler's; \
                 choose other signals with Profiler::builder()"
            ),
            Self::InvalidSignal { signal } => {
                write!(f, "signal {signal} cannot be used by the profiler")
            }
            Self::Busy => f.write_str("another profile is being recorded; try again when it ends"),
            Self::InvalidFrequency { hz } => {
                write!(f, "a sampling frequency of {hz} Hz is not within 1..=1000")
            }
            Self::Os(error) => write!(f, "the operating system refused: {error}"),
        }
    }
}

impl std::error::Error for ProfileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Os(error) => Some(error),
            _ => None,
        }
    }
}

/// Why [`Profiler::capture`](crate::Profiler::capture) returned no stack.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaptureError {
    /// The instance is not inside a poll on any thread now: it is parked (waiting to be
    /// woken), it has ended, or no instance has this id. Also the answer when the poll
    /// ended while the capture was on its way: never another poll's stack.
    NotInPoll(ServiceId),
    /// No service of this name was ever started by a registry with the profiler attached
    /// (`Registry::builder().monitor(profiler)`), so none of its polls are marked.
    NotMonitored(ServiceId),
    /// The thread did not answer within the capture timeout: it blocks the capture signal,
    /// or is stopped (a debugger, `SIGSTOP`).
    Timeout {
        /// The instance asked about.
        id: ServiceId,
        /// How long the capture waited.
        waited: Duration,
        /// The thread that did not answer.
        thread_id: i32,
    },
    /// The profiler does not run on this platform.
    Unsupported,
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInPoll(id) => write!(
                f,
                "{id} is not inside a poll (parked, ended, or no such instance)"
            ),
            Self::NotMonitored(id) => write!(
                f,
                "{id}: no service named `{}` was started by a registry with the profiler attached",
                id.name()
            ),
            Self::Timeout {
                id,
                waited,
                thread_id,
            } => write!(
                f,
                "thread {thread_id} polling {id} did not answer within {waited:?} \
                 (it blocks the capture signal, or is stopped)"
            ),
            Self::Unsupported => f.write_str("stack capture needs Linux on x86_64 or aarch64"),
        }
    }
}

impl std::error::Error for CaptureError {}
