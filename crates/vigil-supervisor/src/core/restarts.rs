//! Restart scheduling: how an ending is classified, whether it is restarted (restart type,
//! intensity), after which backoff, and giving up.

use std::cmp::Reverse;

use tokio::time::Instant;
use vigil_registry::ServiceId;
use vigil_status::ServiceError;

use super::state::{Core, Live, Phase};
use crate::config::Escalation;
use crate::incarnation::{self, panic_message, Spawned, Watch};
use crate::report::{Exit, ServiceState};
use crate::spec::Restart;
use crate::trace::event;

impl Core {
    /// An incarnation ended: records how, then restarts it now or after its backoff, gives
    /// up on it, or stops it for good.
    pub(super) fn on_ending(
        &mut self,
        index: usize,
        id: ServiceId,
        result: Result<(), ServiceError>,
    ) {
        let child = &mut self.children[index];
        // An incarnation that was abandoned has already been reported.
        let Some(live) = child.live.take_if(|live| live.id == id) else {
            return;
        };
        self.live_count -= 1;
        let exit = match result {
            // A live incarnation's spec still has its factory.
            Ok(()) => match child.factory.as_ref().and_then(|f| f.failure().take()) {
                Some(text) => Exit::Failed(text),
                None => Exit::Completed,
            },
            Err(error) => match error.try_into_panic() {
                Ok(payload) => Exit::Panicked(panic_message(&*payload)),
                Err(_) if live.aborted_at.is_some() => Exit::Aborted,
                Err(_) => Exit::Cancelled,
            },
        };
        child.last_completed = exit == Exit::Completed;
        let restart = match child.options.restart {
            Restart::Permanent => exit != Exit::Cancelled,
            Restart::Transient => exit.is_failure(),
            Restart::Temporary => false,
        };
        self.record(id, exit);
        let now = Instant::now();
        if matches!(self.phase, Phase::Stopping { .. }) || !restart {
            self.stop_for_good(index, ServiceState::Stopped);
            return;
        }
        let child = &mut self.children[index];
        if let Some(period) = child.options.backoff.reset_after {
            if now.saturating_duration_since(live.started_at) >= period {
                child.backoff.reset();
            }
        }
        if !child.window.try_restart(now) {
            self.give_up(index, id, now);
            return;
        }
        child.restarts = child.restarts.saturating_add(1);
        let delay = child.backoff.next_delay(&child.options.backoff);
        if delay.is_zero() {
            self.restart(index, now);
        } else {
            let until = now + delay;
            let restarts = child.restarts;
            self.restarts_due.push(Reverse((until, index)));
            self.set_state(index, ServiceState::BackingOff { until, restarts });
            event!(info, service = %id, ?delay, restarts, "service restarts after backoff");
        }
    }

    /// Starts every restart whose backoff is over (unless the shutdown began meanwhile).
    pub(super) fn on_timer(&mut self) {
        let now = Instant::now();
        while let Some(&Reverse((until, index))) = self.restarts_due.peek() {
            if until > now {
                break;
            }
            self.restarts_due.pop();
            let due = matches!(
                self.children[index].state,
                ServiceState::BackingOff { until: at, .. } if at == until
            );
            if due && matches!(self.phase, Phase::Running) {
                self.restart(index, now);
            }
        }
    }

    /// Starts the next incarnation of child `index`.
    fn restart(&mut self, index: usize, now: Instant) {
        let child = &mut self.children[index];
        let Some(factory) = &child.factory else {
            return;
        };
        let spawned = incarnation::spawn(
            &self.handle,
            &self.registry,
            child.task,
            factory,
            &child.token,
            child.restarts,
            &child.starter,
        );
        match spawned {
            Ok(Spawned { id, join }) => {
                self.registry.record_restart(child.task.name());
                child.live = Some(Live {
                    id,
                    status: join.status_handle(),
                    started_at: now,
                    abort_at: None,
                    aborted_at: None,
                });
                event!(info, service = %id, restarts = child.restarts, "service restarted");
                self.live_count += 1;
                self.watchers.push(Watch { index, id, join });
                self.set_state(index, ServiceState::Running);
            }
            Err(error) => {
                let id = ServiceId::new(child.task, u64::MAX);
                event!(error, %error, "service cannot be restarted");
                let _ = error;
                self.give_up(index, id, now);
            }
        }
    }

    /// Child `index` was restarted too often: no more restarts; escalate.
    fn give_up(&mut self, index: usize, last: ServiceId, now: Instant) {
        let name = self.children[index].task.name();
        self.gave_up.push(name);
        self.stop_for_good(index, ServiceState::GaveUp);
        event!(
            error,
            service = %last,
            escalation = ?self.config.escalation,
            "service restarted too often; gave up"
        );
        let _ = last;
        if self.config.escalation == Escalation::ShutdownAll {
            self.begin_shutdown(now);
        }
    }
}
