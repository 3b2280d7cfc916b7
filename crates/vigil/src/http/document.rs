//! `/snapshot.json`: the registry's snapshot document, with the supervisor's section.

use std::time::Duration;

use serde::Serialize;
use vigil_supervisor::{Ending, Exit, ServiceState};

use super::verdicts::VerdictEntry;
use super::SupervisorView;

/// The document `/snapshot.json` serves: the snapshot's document (schema version
/// [`SCHEMA_VERSION`](crate::registry::SCHEMA_VERSION), at most the endpoint's instance
/// limit of instances: [`limited_document`](crate::ServicesMetrics::limited_document))
/// with `supervisor` and `verdicts` members added.
#[derive(Serialize)]
pub(super) struct Document<S> {
    #[serde(flatten)]
    pub(super) snapshot: S,
    /// `null` unless the endpoint was given a supervisor.
    pub(super) supervisor: Option<SupervisorSection>,
    /// The lagging services between the endpoint's baseline and this snapshot, in name
    /// order; empty without a baseline (see `verdicts.rs`).
    pub(super) verdicts: Vec<VerdictEntry>,
}

/// `supervisor`: what every started spec is doing, and the last endings.
#[derive(Serialize)]
pub(super) struct SupervisorSection {
    services: Vec<SpecState>,
    recent_endings: Vec<EndingEntry>,
}

/// One entry of `supervisor.services`.
#[derive(Serialize)]
struct SpecState {
    name: &'static str,
    /// [`ServiceState::kind`]: `running`, `backing_off`, `stopping`, `stopped`, `gave_up`.
    state: &'static str,
    /// The number of the pending restart; `backing_off` only.
    restarts: Option<u32>,
    /// Time until that restart; `backing_off` only.
    #[serde(rename = "retry_in_ns", with = "vigil_monitor::duration_ns::option")]
    retry_in: Option<Duration>,
}

/// One entry of `supervisor.recent_endings`.
#[derive(Serialize)]
struct EndingEntry {
    seq: u64,
    name: &'static str,
    instance_id: u64,
    /// [`Exit::kind`]: `completed`, `failed`, `panicked`, `cancelled`, `aborted`, `abandoned`.
    exit: &'static str,
    /// The failure text or panic message.
    message: Option<String>,
    /// `abandoned` only: how long it had been inside one poll.
    #[serde(rename = "in_poll_ns", with = "vigil_monitor::duration_ns::option")]
    in_poll: Option<Duration>,
}

impl SupervisorSection {
    /// The supervisor's states and recent endings now.
    pub(super) fn of(supervisor: &dyn SupervisorView) -> Self {
        let now = tokio::time::Instant::now();
        let services = supervisor
            .states()
            .into_iter()
            .map(|(name, state)| {
                let (restarts, retry_in) = match state {
                    ServiceState::BackingOff { until, restarts } => {
                        (Some(restarts), Some(until.saturating_duration_since(now)))
                    }
                    _ => (None, None),
                };
                SpecState {
                    name,
                    state: state.kind(),
                    restarts,
                    retry_in,
                }
            })
            .collect();
        let recent_endings = supervisor
            .recent_endings()
            .into_iter()
            .map(|Ending { seq, id, exit, .. }| EndingEntry {
                seq,
                name: id.name(),
                instance_id: id.instance_id(),
                exit: exit.kind(),
                message: exit.message().map(str::to_owned),
                in_poll: match exit {
                    Exit::Abandoned { in_poll } => Some(in_poll),
                    _ => None,
                },
            })
            .collect();
        Self {
            services,
            recent_endings,
        }
    }
}

/// The JSON text of `document`.
pub(super) fn to_json<S: Serialize>(document: &Document<S>) -> serde_json::Result<String> {
    serde_json::to_string(document)
}
