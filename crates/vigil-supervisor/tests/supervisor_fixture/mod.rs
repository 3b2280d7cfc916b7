//! Helpers shared by the supervisor tests: a recorder of instants and a log of events.

#![allow(dead_code)] // Each test file uses a different part.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use vigil_supervisor::{Exit, ShutdownReport, Supervisor};

pub(crate) const MS: Duration = Duration::from_millis(1);

/// A list several services push to, in order.
#[derive(Debug)]
pub(crate) struct Log<T>(Arc<Mutex<Vec<T>>>);

impl<T> Clone for Log<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Clone> Log<T> {
    pub(crate) fn new() -> Self {
        Self(Arc::new(Mutex::new(Vec::new())))
    }

    pub(crate) fn push(&self, item: T) {
        self.0.lock().unwrap().push(item);
    }

    pub(crate) fn items(&self) -> Vec<T> {
        self.0.lock().unwrap().clone()
    }
}

/// A supervisor on the current runtime.
pub(crate) fn supervisor() -> Supervisor {
    Supervisor::builder().build(&tokio::runtime::Handle::current())
}

/// `"id kind"` per ending, e.g. `"crasher#0 failed"`.
pub(crate) fn endings(report: &ShutdownReport) -> Vec<String> {
    report
        .endings()
        .iter()
        .map(|(id, exit)| format!("{id} {}", exit.kind()))
        .collect()
}

/// The exits only.
pub(crate) fn exits(report: &ShutdownReport) -> Vec<Exit> {
    report
        .endings()
        .iter()
        .map(|(_, exit)| exit.clone())
        .collect()
}

/// Differences between consecutive instants.
pub(crate) fn gaps(instants: &[Instant]) -> Vec<Duration> {
    instants.windows(2).map(|pair| pair[1] - pair[0]).collect()
}
