//! Starting one incarnation through the registry, and reading how it ended.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context as TaskContext, Poll};

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use vigil_registry::{Registry, ServiceId, StartError, TaskId};
use vigil_status::{ServiceError, ServiceJoinHandle};

use crate::context::Context;
use crate::spec::Factory;
use crate::trace::Starter;

/// Handed to an incarnation's future: records its `Err` before the future returns.
pub(crate) struct Finish {
    id: ServiceId,
    registry: Arc<Registry>,
    failure: Arc<OnceLock<String>>,
}

impl Finish {
    /// Keeps the failure text for the supervisor and counts the ending as failed.
    pub(crate) fn record(self, result: Result<(), String>) {
        if let Err(text) = result {
            self.registry.record_failure(self.id);
            // Set once: each incarnation has its own slot and finishes once.
            let _ = self.failure.set(text);
        }
    }
}

/// A started incarnation.
pub(crate) struct Spawned {
    pub(crate) id: ServiceId,
    pub(crate) join: ServiceJoinHandle,
    /// Set (before the incarnation ends) if it returned an `Err`.
    pub(crate) failure: Arc<OnceLock<String>>,
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
    let failure = Arc::new(OnceLock::new());
    let (id, join) = registry.try_start_with(handle, task, |id| {
        let finish = Finish {
            id,
            registry: registry.clone(),
            failure: failure.clone(),
        };
        let context = Context::new(id, restarts, token);
        starter.instrument(id, factory.clone().incarnation(context, finish))
    })?;
    Ok(Spawned { id, join, failure })
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
