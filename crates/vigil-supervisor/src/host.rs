//! What the supervisor needs of its registry, behind one object-safe trait ([`Host`]).

use std::sync::Arc;

use tokio::runtime::Handle;
use vigil_monitor::Clock;
use vigil_registry::{
    MailboxProbe, MonitorFactory, Registry, ServiceFuture, ServiceId, ServiceMetrics, StartError,
    TaskId,
};
use vigil_status::ServiceJoinHandle;

/// What the supervisor needs of its registry, whatever the registry's monitor factory and
/// clock: implemented for every [`Registry<F, C>`] and used as `Arc<dyn Host>` (the same
/// allocation as the user's `Arc<Registry<F, C>>`).
///
/// Object safe on purpose: the state machine ([`Core`](crate::core::Core)), starting an
/// incarnation and [`Finish`](crate::factory::Finish) are compiled once, not once per registry type. The dynamic
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

    /// [`Registry::watch_mailbox`].
    fn watch_mailbox(&self, name: &'static str, probe: &Arc<dyn MailboxProbe>);
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

    fn watch_mailbox(&self, name: &'static str, probe: &Arc<dyn MailboxProbe>) {
        self.watch_mailbox(name, probe);
    }
}
