//! Starting one incarnation through the registry, and reading how it ended.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll};

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use vigil_registry::{Registry, ServiceId, StartError, TaskId};
use vigil_status::{ServiceError, ServiceJoinHandle};

use crate::context::Context;
use crate::spec::Factory;
use crate::trace::Starter;

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
    registry: Arc<Registry>,
}

impl Finish {
    /// Leaves the failure text in the spec's `slot` and counts the ending as failed.
    pub(crate) fn record(self, slot: &FailureSlot, result: Result<(), String>) {
        if let Err(text) = result {
            self.registry.record_failure(self.id);
            slot.put(text);
        }
    }
}

/// A started incarnation.
pub(crate) struct Spawned {
    pub(crate) id: ServiceId,
    pub(crate) join: ServiceJoinHandle,
}

/// Starts one incarnation of `task` through `registry`, with a fresh instance id.
pub(crate) fn spawn(
    handle: &Handle,
    registry: &Arc<Registry>,
    task: TaskId,
    factory: &Arc<dyn Factory>,
    token: CancellationToken,
    restarts: u32,
    starter: &Starter,
) -> Result<Spawned, StartError> {
    let (id, join) = registry.try_start_with(handle, task, |id| {
        let finish = Finish {
            id,
            registry: registry.clone(),
        };
        let context = Context::new(id, restarts, token);
        starter.instrument(id, factory.clone().incarnation(context, finish))
    })?;
    Ok(Spawned { id, join })
}

/// Awaits one incarnation's owned join handle inside the supervisor's task.
pub(crate) struct Watch {
    pub(crate) index: usize,
    pub(crate) id: ServiceId,
    pub(crate) join: ServiceJoinHandle,
}

impl Future for Watch {
    type Output = (usize, ServiceId, Result<(), ServiceError>);

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        Pin::new(&mut this.join)
            .poll(cx)
            .map(|result| (this.index, this.id, result))
    }
}

/// The message of a panic payload: `&str` and `String` payloads (what `panic!` produces) give
/// their text, anything else `"Box<dyn Any>"`.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&'static str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn panic_messages() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("formatted")), "formatted");
        assert_eq!(panic_message(&42_u32), "Box<dyn Any>");
    }
}
