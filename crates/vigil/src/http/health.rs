//! `/health`: is any service stuck inside one poll, or given up by its supervisor? And
//! which services lag (which does not make the process unhealthy)?

use std::fmt;
use std::time::Duration;

use vigil_supervisor::ServiceState;

use super::SupervisorView;
use crate::registry::Verdict;
use crate::{ServiceId, ServicesMetrics};

/// What `/health` found: healthy when the lists are empty.
#[derive(Debug, Default)]
pub(super) struct Report {
    /// Live instances inside one poll for longer than the threshold, with that time.
    stuck: Vec<(ServiceId, Duration)>,
    /// The threshold the stuck ones passed.
    stuck_after: Duration,
    /// Services the supervisor gave up restarting, one entry per spec.
    gave_up: Vec<&'static str>,
    /// Lagging services and the verdict's sentence: reported, but healthy all the same.
    lagging: Vec<(&'static str, String)>,
}

/// The live instances of `snapshot` that have been inside one poll for longer than
/// `stuck_after`, and the specs of `supervisor` in state [`ServiceState::GaveUp`]; with
/// the `lagging` services' verdicts.
pub(super) fn check(
    snapshot: &ServicesMetrics,
    stuck_after: Duration,
    supervisor: Option<&dyn SupervisorView>,
    lagging: &[Verdict],
) -> Report {
    let stuck = snapshot
        .iter()
        .filter_map(|(id, metrics)| {
            let in_poll = metrics.current_poll_duration?;
            (in_poll > stuck_after).then_some((id, in_poll))
        })
        .collect();
    let gave_up = supervisor
        .map(SupervisorView::states)
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, state)| *state == ServiceState::GaveUp)
        .map(|(name, _)| name)
        .collect();
    let lagging = lagging
        .iter()
        .map(|verdict| (verdict.name, verdict.to_string()))
        .collect();
    Report {
        stuck,
        stuck_after,
        gave_up,
        lagging,
    }
}

impl Report {
    /// `true` if nothing is stuck or given up (lagging services do not count).
    pub(super) fn is_healthy(&self) -> bool {
        self.stuck.is_empty() && self.gave_up.is_empty()
    }
}

/// `ok`, or one line per problem; then one line per lagging service.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_healthy() {
            writeln!(f, "ok")?;
        }
        for (id, in_poll) in &self.stuck {
            writeln!(
                f,
                "stuck: {id} inside one poll for {in_poll:.3?} (threshold {:?})",
                self.stuck_after
            )?;
        }
        for name in &self.gave_up {
            writeln!(
                f,
                "gave up: {name} (restarted too often; not restarted again)"
            )?;
        }
        for (name, verdict) in &self.lagging {
            writeln!(f, "lagging: {name}: {verdict}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_registry_is_healthy() {
        let report = check(
            &crate::Registry::new().metrics(),
            Duration::from_secs(1),
            None,
            &[],
        );
        assert!(report.is_healthy());
        assert_eq!(report.to_string(), "ok\n");
    }
}
