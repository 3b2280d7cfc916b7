//! Starting one incarnation through the registry, and reading how it ended.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll};

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use vigil_monitor::Clock;
use vigil_registry::{
    MonitorFactory, Registry, ServiceFuture, ServiceId, ServiceMetrics, StartError, TaskId,
};
use vigil_status::{ServiceError, ServiceJoinHandle};

use crate::context::Context;
use crate::spec::Factory;
use crate::trace::Starter;

/// What the supervisor needs of its registry, whatever the registry's monitor factory and
/// clock: implemented for every [`Registry<F, C>`] and used as `Arc<dyn Host>` (the same
/// allocation as the user's `Arc<Registry<F, C>>`).
///
/// Object safe on purpose: the state machine ([`Core`](crate::core::Core)), starting an
/// incarnation and [`Finish`] are compiled once, not once per registry type. The dynamic
/// calls happen per start, restart, failure and abandonment, never per poll: the poll path
/// stays inside the registry, fully generic (`try_start_with` is monomorphized per registry
/// type, for a [`ServiceFuture`], which the factories build anyway).
pub(crate) trait Host: Send + Sync + 'static {
    /// [`Registry::try_start_with`]; `make` is called at most once.
    fn try_start(
        &self,
        handle: &Handle,
        task: TaskId,
        make: &mut dyn FnMut(ServiceId) -> ServiceFuture,
    ) -> Result<(ServiceId, ServiceJoinHandle), StartError>;

    /// [`Registry::record_failure`].
    fn record_failure(&self, id: ServiceId) -> bool;

    /// [`Registry::record_restart`].
    fn record_restart(&self, name: &'static str);

    /// [`Registry::instance_metrics`].
    fn instance_metrics(&self, id: ServiceId) -> Option<ServiceMetrics>;
}

impl<F: MonitorFactory<C>, C: Clock> Host for Registry<F, C> {
    fn try_start(
        &self,
        handle: &Handle,
        task: TaskId,
        make: &mut dyn FnMut(ServiceId) -> ServiceFuture,
    ) -> Result<(ServiceId, ServiceJoinHandle), StartError> {
        self.try_start_with(handle, task, make)
    }

    fn record_failure(&self, id: ServiceId) -> bool {
        self.record_failure(id)
    }

    fn record_restart(&self, name: &'static str) {
        self.record_restart(name);
    }

    fn instance_metrics(&self, id: ServiceId) -> Option<ServiceMetrics> {
        self.instance_metrics(id)
    }
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
    /// Leaves the failure text in the spec's `slot` and counts the ending as failed.
    pub(crate) fn record(self, slot: &FailureSlot, result: Result<(), String>) {
        if let Err(text) = result {
            self.host.record_failure(self.id);
            slot.put(text);
        }
    }
}

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
        let finish = Finish {
            id,
            host: Arc::clone(host),
        };
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
