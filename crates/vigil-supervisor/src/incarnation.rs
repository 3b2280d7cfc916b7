//! Starting one incarnation through the registry, and reading how it ended.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use vigil_registry::{ServiceId, StartError, TaskId};
use vigil_status::{ServiceError, ServiceJoinHandle};

use crate::context::Context;
use crate::factory::{Factory, Finish};
use crate::host::Host;
use crate::trace::Starter;

/// A started incarnation.
pub(crate) struct Spawned {
    pub(crate) id: ServiceId,
    pub(crate) join: ServiceJoinHandle,
}

/// Starts one incarnation of `task` through `host`, with a fresh instance id.
pub(crate) fn spawn(
    handle: &Handle,
    host: &Arc<dyn Host>,
    task: TaskId,
    factory: &Arc<dyn Factory>,
    token: &CancellationToken,
    restarts: u32,
    starter: &Starter,
) -> Result<Spawned, StartError> {
    let (id, join) = host.try_start(handle, task, &mut |id| {
        let finish = Finish::new(id, Arc::clone(host));
        let context = Context::new(id, restarts, token.clone());
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
