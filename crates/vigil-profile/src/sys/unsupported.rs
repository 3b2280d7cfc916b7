//! Platforms without the profiler: every entry point says so.

use std::io;
use std::time::Duration;

use super::{Module, ThreadInfo};
use crate::state::Shared;
use crate::ProfileError;

/// The signals a default profiler uses (none here).
pub(crate) fn default_signals() -> (i32, i32) {
    (0, 0)
}

pub(crate) fn check_signals(_capture: i32, _profile: i32) -> Result<(), ProfileError> {
    Err(ProfileError::Unsupported)
}

pub(crate) fn install(_shared: &'static Shared) -> Result<(), ProfileError> {
    Err(ProfileError::Unsupported)
}

pub(crate) fn current_thread() -> Option<ThreadInfo> {
    None
}

pub(crate) fn signal_thread(_tid: i32, _signal: i32) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

pub(crate) fn modules() -> Vec<Module> {
    Vec::new()
}

/// A per-thread CPU timer (never created here).
#[derive(Debug)]
pub(crate) struct ThreadTimer(());

impl ThreadTimer {
    pub(crate) fn start(
        _clock: i32,
        _tid: i32,
        _signal: i32,
        _interval: Duration,
    ) -> io::Result<Self> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}
