//! Per-instance custom monitors attached to every service a registry starts.

use vigil_monitor::PollMonitor;

use crate::id::ServiceId;

/// Builds the custom monitor of each instance a [`Registry`](crate::Registry) starts.
///
/// The registry always runs its own [`BusyMonitor`](vigil_monitor::BusyMonitor); the
/// factory's monitor runs beside it, with the same timestamps, as the tuple
/// `(BusyMonitor, F::Monitor)`. The type is fixed per registry, so the poll path stays
/// generic: no `dyn` call per poll. `()` attaches nothing and costs nothing.
///
/// Any `Fn(&ServiceId) -> M` is a factory; keep the read side of `M` (its shared state) in
/// the closure's environment to read it later.
///
/// The factory runs while the registry holds the service name's lock: keep it short. If it
/// panics, the start fails with that panic and no instance id is consumed.
pub trait MonitorFactory: Send + Sync + 'static {
    /// The per-instance monitor.
    type Monitor: PollMonitor + 'static;

    /// Builds the monitor of the instance `id`, which is about to start.
    fn create(&self, id: &ServiceId) -> Self::Monitor;
}

impl MonitorFactory for () {
    type Monitor = ();

    #[inline]
    fn create(&self, _id: &ServiceId) -> Self::Monitor {}
}

impl<F, M> MonitorFactory for F
where
    F: Fn(&ServiceId) -> M + Send + Sync + 'static,
    M: PollMonitor + 'static,
{
    type Monitor = M;

    #[inline]
    fn create(&self, id: &ServiceId) -> M {
        self(id)
    }
}
