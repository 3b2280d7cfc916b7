//! One service name's bookkeeping: instance ids and the live instances, with amortized
//! eviction of finished ones.

use std::sync::Arc;

use vigil_monitor::RawMetrics;
use vigil_status::ServiceStatusJoinHandle;

use crate::id::{InstanceId, ServiceId};

/// Below this many stored instances, finished ones are not worth a sweep.
const MIN_SWEEP_LEN: usize = 16;

/// A started instance as the registry keeps it.
#[derive(Debug)]
pub(crate) struct Instance<R> {
    pub(crate) id: ServiceId,
    pub(crate) metrics: Arc<RawMetrics>,
    /// The read side of the factory's monitors.
    pub(crate) reader: R,
    /// Handed out by `Registry::status_handle`; not needed for eviction, which reads the
    /// monitor's lifecycle flag (one atomic load, no lock).
    pub(crate) status: ServiceStatusJoinHandle,
}

/// The instances of one service name.
///
/// # Guarantees
///
/// - Instance ids start at 0 and increase by one per successful start; none is reused.
/// - `instances` is sorted by id (ids are issued under the group's lock and pushed in order).
/// - Eviction is amortized O(1) per start: a sweep runs only once the stored length has
///   doubled since the last sweep, and costs O(stored length).
#[derive(Debug)]
pub(crate) struct ServiceGroup<R> {
    /// The next id to hand out; `None` once `InstanceId::MAX` has been handed out.
    next_instance_id: Option<InstanceId>,
    instances: Vec<Instance<R>>,
    /// Sweep when `instances.len()` reaches this.
    sweep_at: usize,
}

impl<R> ServiceGroup<R> {
    pub(crate) fn new() -> Self {
        Self {
            next_instance_id: Some(0),
            instances: Vec::new(),
            sweep_at: MIN_SWEEP_LEN,
        }
    }

    /// The id the next start will get, if any is left.
    pub(crate) fn peek_instance_id(&self) -> Option<InstanceId> {
        self.next_instance_id
    }

    /// Records a started instance: consumes its id (which must be the peeked one) and
    /// evicts finished instances when due.
    pub(crate) fn insert(&mut self, instance: Instance<R>) {
        debug_assert_eq!(Some(instance.id.instance_id()), self.next_instance_id);
        self.next_instance_id = instance.id.instance_id().checked_add(1);
        if self.instances.len() >= self.sweep_at {
            self.evict_finished();
        }
        self.instances.push(instance);
    }

    /// Drops finished instances and releases memory a burst left behind.
    pub(crate) fn evict_finished(&mut self) {
        self.instances
            .retain(|instance| !instance.metrics.is_finished());
        let live = self.instances.len();
        self.sweep_at = (live * 2).max(MIN_SWEEP_LEN);
        if self.instances.capacity() > 4 * self.sweep_at {
            self.instances.shrink_to(2 * self.sweep_at);
        }
    }

    /// Stored instances, live or finished but not yet evicted, in id order.
    pub(crate) fn instances(&self) -> &[Instance<R>] {
        &self.instances
    }

    #[cfg(test)]
    pub(crate) fn storage(&self) -> (usize, usize) {
        (self.instances.len(), self.instances.capacity())
    }

    #[cfg(test)]
    pub(crate) fn set_next_instance_id(&mut self, next: Option<InstanceId>) {
        self.next_instance_id = next;
    }
}
