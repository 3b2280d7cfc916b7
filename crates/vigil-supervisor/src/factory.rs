//! The type-erased link between a spec and its incarnations: [`Factory`] builds each
//! incarnation's future; [`Finish`] and [`FailureSlot`] carry an `Err`'s text back to the
//! supervisor.
//!
//! Its own module so that `spec` (which implements [`Factory`]) and `incarnation` (which
//! calls it) both depend on it, never on each other.

use std::sync::{Arc, Mutex, PoisonError};

use vigil_registry::{ServiceFuture, ServiceId};

use crate::context::Context;
use crate::host::Host;

/// Builds the future of each incarnation of one spec; type-erased so the supervisor can hold
/// specs of different closures.
pub(crate) trait Factory: Send + Sync + 'static {
    /// The incarnation's whole future. The user's factory runs *inside* it, so a factory that
    /// panics is a panicking incarnation, never a panicking supervisor.
    fn incarnation(self: Arc<Self>, ctx: Context, finish: Finish) -> ServiceFuture;

    /// Where the last incarnation left its failure text.
    fn failure(&self) -> &FailureSlot;
}

/// Where an incarnation that returned `Err` leaves its text for the supervisor.
///
/// One per spec (inside its factory, so starting costs no extra allocation): incarnations of
/// a spec run one after the other, and the supervisor takes the text when it observes the
/// ending, before it starts the next incarnation.
#[derive(Debug, Default)]
pub(crate) struct FailureSlot(Mutex<Option<String>>);

impl FailureSlot {
    /// Takes the text the last incarnation left, if any.
    pub(crate) fn take(&self) -> Option<String> {
        // A single swap: poisoning cannot leave it half-updated.
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    fn put(&self, text: String) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(text);
    }
}

/// Handed to an incarnation's future: records its `Err` before the future returns.
pub(crate) struct Finish {
    id: ServiceId,
    host: Arc<dyn Host>,
}

impl Finish {
    /// The recorder of incarnation `id`, started through `host`.
    pub(crate) fn new(id: ServiceId, host: Arc<dyn Host>) -> Self {
        Self { id, host }
    }

    /// Leaves the failure text in the spec's `slot` and counts the ending as failed.
    pub(crate) fn record(self, slot: &FailureSlot, result: Result<(), String>) {
        if let Err(text) = result {
            self.host.record_failure(self.id);
            slot.put(text);
        }
    }
}
