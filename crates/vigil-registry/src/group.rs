//! One service name's bookkeeping: instance ids, the live instances with amortized eviction
//! of finished ones, and the name's lifetime counters.

use std::sync::Arc;
use std::time::Duration;

use vigil_monitor::{Lifecycle, RawMetrics, Ticks};
use vigil_status::ServiceStatusJoinHandle;

use crate::id::{InstanceId, ServiceId};
use crate::metrics::Endings;

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
    /// Set by `Registry::record_failure`: a completion counts as `failed`.
    pub(crate) failed: bool,
}

/// The counters of one name that survive its instances: starts, restarts, endings, and the
/// final figures of every instance that ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Lifetime {
    pub(crate) starts: u64,
    pub(crate) restarts: u64,
    pub(crate) endings: Endings,
    /// Polls of ended instances, folded in when each ending was observed.
    pub(crate) ended_poll_count: u64,
    /// Busy time of ended instances, folded in likewise. Each instance's ticks are
    /// converted on their own, exactly as a snapshot converts them while it is live, so the
    /// name's lifetime total never drops by a rounding step when an instance ends.
    pub(crate) ended_busy: Duration,
}

/// The instances of one service name.
///
/// # Guarantees
///
/// - Instance ids start at 0 and increase by one per successful start; none is reused.
/// - `instances` is sorted by id (ids are issued under the group's lock and pushed in order).
/// - Eviction is amortized O(1) per start: a sweep runs only once the stored length has
///   doubled since the last sweep, and costs O(stored length).
/// - An instance's ending is folded into `lifetime` exactly once: by whichever of a sweep or
///   a snapshot first sees it finished, which also removes it, under the group's lock.
#[derive(Debug)]
pub(crate) struct ServiceGroup<R> {
    /// The next id to hand out; `None` once `InstanceId::MAX` has been handed out.
    next_instance_id: Option<InstanceId>,
    instances: Vec<Instance<R>>,
    /// Sweep when `instances.len()` reaches this.
    sweep_at: usize,
    lifetime: Lifetime,
}

impl<R> ServiceGroup<R> {
    pub(crate) fn new() -> Self {
        Self {
            next_instance_id: Some(0),
            instances: Vec::new(),
            sweep_at: MIN_SWEEP_LEN,
            lifetime: Lifetime::default(),
        }
    }

    /// The id the next start will get, if any is left.
    pub(crate) fn peek_instance_id(&self) -> Option<InstanceId> {
        self.next_instance_id
    }

    /// Records a started instance: consumes its id (which must be the peeked one), counts
    /// the start, and evicts finished instances when due.
    pub(crate) fn insert(
        &mut self,
        instance: Instance<R>,
        to_duration: impl Fn(Ticks) -> Duration,
    ) {
        debug_assert_eq!(Some(instance.id.instance_id()), self.next_instance_id);
        self.next_instance_id = instance.id.instance_id().checked_add(1);
        self.lifetime.starts += 1;
        if self.instances.len() >= self.sweep_at {
            self.evict_finished(to_duration);
        }
        self.instances.push(instance);
    }

    /// Folds finished instances into the lifetime counters, drops them, and releases memory
    /// a burst left behind.
    pub(crate) fn evict_finished(&mut self, to_duration: impl Fn(Ticks) -> Duration) {
        let lifetime = &mut self.lifetime;
        self.instances.retain(|instance| {
            let finished = instance.metrics.is_finished();
            if finished {
                fold(lifetime, instance, &to_duration);
            }
            !finished
        });
        let live = self.instances.len();
        self.sweep_at = (live * 2).max(MIN_SWEEP_LEN);
        if self.instances.capacity() > 4 * self.sweep_at {
            self.instances.shrink_to(2 * self.sweep_at);
        }
    }

    /// Visits every stored instance with `visit(instance)` -> `true` if it has finished;
    /// finished ones are folded into the lifetime counters and removed. One pass, in id order.
    pub(crate) fn visit_and_fold(
        &mut self,
        to_duration: impl Fn(Ticks) -> Duration,
        mut visit: impl FnMut(&Instance<R>) -> bool,
    ) {
        let lifetime = &mut self.lifetime;
        self.instances.retain(|instance| {
            if visit(instance) {
                fold(lifetime, instance, &to_duration);
                false
            } else {
                true
            }
        });
    }

    /// Stored instances, live or finished but not yet evicted, in id order.
    pub(crate) fn instances(&self) -> &[Instance<R>] {
        &self.instances
    }

    /// The stored instance `instance_id`, if any.
    pub(crate) fn instance_mut(&mut self, instance_id: InstanceId) -> Option<&mut Instance<R>> {
        let index = self.position(instance_id)?;
        Some(&mut self.instances[index])
    }

    /// The stored instance `instance_id`, if any.
    pub(crate) fn instance(&self, instance_id: InstanceId) -> Option<&Instance<R>> {
        Some(&self.instances[self.position(instance_id)?])
    }

    /// Where instance `instance_id` is stored: `O(log n)`, the instances being sorted by id.
    fn position(&self, instance_id: InstanceId) -> Option<usize> {
        self.instances
            .binary_search_by_key(&instance_id, |instance| instance.id.instance_id())
            .ok()
    }

    /// Counts one restart of this name.
    pub(crate) fn record_restart(&mut self) {
        self.lifetime.restarts += 1;
    }

    /// The lifetime counters: starts, restarts, endings, ended instances' figures.
    pub(crate) fn lifetime(&self) -> Lifetime {
        self.lifetime
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

/// Adds a finished instance's ending and final figures to `lifetime`.
fn fold<R>(
    lifetime: &mut Lifetime,
    instance: &Instance<R>,
    to_duration: impl Fn(Ticks) -> Duration,
) {
    // A finished instance is never inside a poll, so any `now` reads its final figures.
    let sample = instance.metrics.sample(instance.metrics.created_at());
    lifetime.ended_poll_count += sample.poll_count;
    lifetime.ended_busy += to_duration(sample.total_busy_ticks());
    let endings = &mut lifetime.endings;
    match sample.lifecycle {
        Lifecycle::Completed if instance.failed => endings.failed += 1,
        Lifecycle::Completed => endings.completed += 1,
        Lifecycle::Panicked => endings.panicked += 1,
        // `Running` cannot reach here (only finished instances are folded).
        Lifecycle::Dropped | Lifecycle::Running => endings.cancelled += 1,
    }
}
