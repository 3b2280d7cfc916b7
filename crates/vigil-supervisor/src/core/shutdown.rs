//! The shutdown's phases: stop by stage, abort at the deadline, abandon after the grace, and
//! publish the report.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::state::{Core, Phase};
use super::time::later;
use crate::report::{Exit, ServiceState, ShutdownReport};
use crate::trace::event;

impl Core {
    /// Enters the stopping phase (once): pending restarts are dropped, the deadline is set.
    pub(super) fn begin_shutdown(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Stopping { .. }) {
            return;
        }
        self.phase = Phase::Stopping {
            began: now,
            deadline: later(now, self.config.shutdown_timeout),
        };
        self.restarts_due.clear();
        for index in 0..self.children.len() {
            if matches!(self.children[index].state, ServiceState::BackingOff { .. }) {
                self.stop_for_good(index, ServiceState::Stopped);
            }
        }
        event!(
            info,
            timeout = ?self.config.shutdown_timeout,
            "supervisor shutting down"
        );
    }

    /// Asks the next stage to stop, aborts whatever is past its deadline, abandons whatever
    /// outlived its abort by the grace period; repeats until nothing changes at `now`.
    pub(super) fn advance_shutdown(&mut self, now: Instant) {
        let Phase::Stopping { deadline, .. } = self.phase else {
            return;
        };
        let grace = self.config.abort_grace;
        loop {
            let mut changed = false;
            for index in 0..self.children.len() {
                let child = &mut self.children[index];
                let Some(live) = &mut child.live else {
                    continue;
                };
                match live.aborted_at {
                    // `abort_grace` is at least 1 ms, so an abort made now is never
                    // abandoned in the same pass.
                    Some(aborted_at) if now >= later(aborted_at, grace) => {
                        self.abandon(index);
                        changed = true;
                    }
                    Some(_) => {}
                    None if now >= deadline || live.abort_at.is_some_and(|at| now >= at) => {
                        child.token.cancel();
                        live.status.abort();
                        live.aborted_at = Some(now);
                        event!(warn, service = %live.id, "service aborted at its deadline");
                        self.set_state(index, ServiceState::Stopping);
                        changed = true;
                    }
                    None => {}
                }
            }
            // The highest stage with a live service is asked to stop; lower stages wait.
            let top = self
                .children
                .iter()
                .filter(|child| child.live.is_some())
                .map(|child| child.options.stage)
                .max();
            if let Some(top) = top {
                for index in 0..self.children.len() {
                    let child = &mut self.children[index];
                    let Some(live) = &mut child.live else {
                        continue;
                    };
                    if child.options.stage < top || live.abort_at.is_some() {
                        continue;
                    }
                    let own = child
                        .options
                        .stop_timeout
                        .map(|timeout| later(now, timeout));
                    live.abort_at = Some(own.map_or(deadline, |own| own.min(deadline)));
                    child.token.cancel();
                    if live.aborted_at.is_none() {
                        self.set_state(index, ServiceState::Stopping);
                    }
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    /// Child `index` is still running `abort_grace` after its abort: stop waiting for it.
    fn abandon(&mut self, index: usize) {
        let Some(live) = self.children[index].live.take() else {
            return;
        };
        self.live_count -= 1;
        let in_poll = self
            .registry
            .instance_metrics(live.id)
            .and_then(|metrics| metrics.current_poll_duration)
            .unwrap_or_default();
        event!(warn, service = %live.id, ?in_poll, "service abandoned inside a poll");
        self.children[index].last_completed = false;
        self.record(live.id, Exit::Abandoned { in_poll });
        self.stop_for_good(index, ServiceState::Stopped);
    }

    /// Hands the report to every waiting handle; the task ends after this.
    pub(super) fn publish_report(&mut self) {
        let now = Instant::now();
        let elapsed = match self.phase {
            Phase::Running => Duration::ZERO,
            Phase::Stopping { began, .. } => now.saturating_duration_since(began),
        };
        let clean = self.gave_up.is_empty() && self.children.iter().all(|c| c.last_completed);
        let report = ShutdownReport {
            endings: std::mem::take(&mut self.endings),
            gave_up: std::mem::take(&mut self.gave_up),
            elapsed,
            clean,
        };
        event!(info, elapsed = ?elapsed, clean, "supervisor finished");
        self.report.send_replace(Some(Arc::new(report)));
    }
}
