//! One service name's bookkeeping: instance ids, the live instances (their figures in the
//! name's slab), amortized eviction of finished ones, and the name's lifetime counters.

use std::sync::PoisonError;
use std::time::Duration;

use vigil_monitor::{Lifecycle, Ticks, UsageSample};
use vigil_status::ServiceStatusJoinHandle;

use crate::id::{InstanceId, ServiceId};
use crate::names::{Endings, ReportTotals};
use crate::slab::{Slab, Slot, SlotAllocator, SlotIndex, SlotRef, SlotState};
use crate::sync::{Mutex, MutexGuard};

/// Below this many stored instances, finished ones are not worth a sweep.
const MIN_SWEEP_LEN: usize = 16;

/// A started instance as the registry keeps it, besides its slot. `S`, its status handle,
/// is only stored for the registry: the loom models, which run no tokio, store `()`.
#[derive(Debug)]
pub(crate) struct Instance<R, S = ServiceStatusJoinHandle> {
    pub(crate) id: ServiceId,
    pub(crate) slot: SlotIndex,
    /// The read side of the factory's monitors.
    pub(crate) reader: R,
    /// Handed out by `Registry::status_handle`; not needed for eviction, which reads the
    /// monitor's lifecycle flag (one atomic load, no lock).
    pub(crate) status: S,
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
    /// The attached monitors' final figures of ended instances, folded in likewise.
    pub(crate) ended_reports: ReportTotals,
}

/// How the figures of an instance that ended are read: ticks to durations (the registry's
/// clock) and the attached monitors' final report.
pub(crate) trait Ending<R> {
    /// `ticks` of the registry's clock as a duration.
    fn to_duration(&self, ticks: Ticks) -> Duration;
    /// Adds the final report of `reader` to `totals`.
    fn fold(&self, reader: &R, totals: &mut ReportTotals);
}

/// A bare conversion: for instances whose monitors report nothing.
impl<R, F: Fn(Ticks) -> Duration> Ending<R> for F {
    fn to_duration(&self, ticks: Ticks) -> Duration {
        self(ticks)
    }

    fn fold(&self, _reader: &R, _totals: &mut ReportTotals) {}
}

impl Lifetime {
    /// Adds the ending and final figures of a finished instance, read as `sample`.
    pub(crate) fn add_ended(
        &mut self,
        sample: &UsageSample,
        failed: bool,
        to_duration: impl Fn(Ticks) -> Duration,
    ) {
        self.ended_poll_count += sample.poll_count;
        self.ended_busy += to_duration(sample.total_busy_ticks());
        let endings = &mut self.endings;
        match sample.lifecycle {
            Lifecycle::Completed if failed => endings.failed += 1,
            Lifecycle::Completed => endings.completed += 1,
            Lifecycle::Panicked => endings.panicked += 1,
            // `Running` cannot reach here (only finished instances are added).
            Lifecycle::Dropped | Lifecycle::Running => endings.cancelled += 1,
        }
    }
}

/// The instances of one service name.
///
/// What every instance's monitor writes (and every snapshot reads) lives in the name's
/// [`Slab`], readable without the lock; the rest (ids, status handles, readers, counters)
/// is under the lock.
///
/// # Guarantees
///
/// - Instance ids start at 0 and increase by one per successful start; none is reused.
/// - `instances` is sorted by id (ids are issued under the lock and pushed in order).
/// - Eviction is amortized O(1) per start: a sweep runs only once the stored length has
///   doubled since the last sweep, and costs O(stored length).
/// - An instance's ending is folded into the lifetime counters exactly once, by the sweep
///   that first sees it finished, under the lock; its slot is marked with the sweep's
///   generation, and freed only once no snapshot that began before that sweep is still
///   reading (see [`Registry::metrics`](crate::Registry::metrics)).
#[derive(Debug)]
pub(crate) struct ServiceGroup<R, S = ServiceStatusJoinHandle> {
    slab: Slab,
    inner: Mutex<Inner<R, S>>,
}

/// The part of a group under its lock.
#[derive(Debug)]
pub(crate) struct Inner<R, S = ServiceStatusJoinHandle> {
    /// The next id to hand out; `None` once `InstanceId::MAX` has been handed out.
    next_instance_id: Option<InstanceId>,
    instances: Vec<Instance<R, S>>,
    slots: SlotAllocator,
    /// Sweep when `instances.len()` reaches this.
    sweep_at: usize,
    lifetime: Lifetime,
    /// Sweeps that folded something; a slot folded by sweep `g` is marked `g`.
    generation: u64,
    /// Snapshots reading the slab without the lock: `(generation they began at, count)`.
    /// A handful at most, and kept allocated: begin and end allocate nothing.
    readers: Vec<(u64, usize)>,
    /// Folded slots not yet free, with their generation: a reader that began before their
    /// sweep may still count them.
    pending: Vec<(SlotIndex, u64)>,
}

/// What a snapshot needs to read a group's slab without its lock: the state it began at.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadStart {
    pub(crate) lifetime: Lifetime,
    generation: u64,
    /// Ids below this were issued before the read began.
    next_instance_id: Option<InstanceId>,
    used: SlotIndex,
    /// Instances stored when the read began: at most this many are live.
    pub(crate) stored: usize,
}

impl<R, S> ServiceGroup<R, S> {
    pub(crate) fn new() -> Self {
        Self {
            slab: Slab::new(),
            inner: Mutex::new(Inner {
                next_instance_id: Some(0),
                instances: Vec::new(),
                slots: SlotAllocator::default(),
                sweep_at: MIN_SWEEP_LEN,
                lifetime: Lifetime::default(),
                generation: 0,
                readers: Vec::new(),
                pending: Vec::new(),
            }),
        }
    }

    /// The name's lock. A poisoned lock is recovered: every update under it leaves a
    /// consistent state (the user's closures run before anything is changed).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner<R, S>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(all(test, not(loom)))]
    pub(crate) fn is_poisoned(&self) -> bool {
        self.inner.is_poisoned()
    }

    /// The slot of a stored instance.
    pub(crate) fn slot(&self, index: SlotIndex) -> &Slot {
        self.slab.slot(index)
    }

    /// Begins a read of the slab without the lock: takes the lifetime counters and registers
    /// the reader, so that no slot it may still count is reused under it. The reader is
    /// unregistered when the returned guard is dropped, also by a panic in the middle of
    /// the read (a user's `Clock` or monitor reader): a reader left registered would keep
    /// every slot folded after it from being reused, for good.
    pub(crate) fn begin_read(&self) -> Reading<'_, R, S> {
        let mut inner = self.lock();
        let start = ReadStart {
            lifetime: inner.lifetime,
            generation: inner.generation,
            next_instance_id: inner.next_instance_id,
            used: inner.slots.used(),
            stored: inner.instances.len(),
        };
        match inner
            .readers
            .iter_mut()
            .find(|(generation, _)| *generation == start.generation)
        {
            Some((_, count)) => *count += 1,
            None => inner.readers.push((start.generation, 1)),
        }
        Reading { group: self, start }
    }

    /// Ends a read begun by [`begin_read`](ServiceGroup::begin_read): what dropping its
    /// guard does.
    fn end_read(&self, start: &ReadStart) {
        let mut inner = self.lock();
        if let Some(index) = inner
            .readers
            .iter()
            .position(|(generation, _)| *generation == start.generation)
        {
            inner.readers[index].1 -= 1;
            if inner.readers[index].1 == 0 {
                inner.readers.swap_remove(index);
            }
        }
        inner.release_pending(&self.slab);
    }

    /// A slot for a new instance, and a handle to it for the instance's monitor.
    pub(crate) fn allocate(&self, inner: &mut Inner<R, S>) -> (SlotIndex, SlotRef) {
        let index = inner.slots.allocate(&self.slab);
        (index, self.slab.slot_ref(index))
    }

    /// Records a started instance (its slot already reset by its monitor): occupies the
    /// slot, consumes the id (which must be the peeked one), counts the start, and evicts
    /// finished instances when due.
    pub(crate) fn insert(
        &self,
        inner: &mut Inner<R, S>,
        instance: Instance<R, S>,
        ending: &impl Ending<R>,
    ) {
        let instance_id = instance.id.instance_id();
        debug_assert_eq!(Some(instance_id), inner.next_instance_id);
        self.slab
            .slot(instance.slot)
            .occupy(instance.id.task(), instance_id);
        inner.next_instance_id = instance_id.checked_add(1);
        inner.lifetime.starts += 1;
        if inner.instances.len() >= inner.sweep_at {
            self.evict_finished(inner, ending);
        }
        inner.instances.push(instance);
    }

    /// Folds finished instances into the lifetime counters, forgets them, and frees their
    /// slots (at once, or once the snapshots that might still count them are done).
    pub(crate) fn evict_finished(&self, inner: &mut Inner<R, S>, ending: &impl Ending<R>) {
        let generation = inner.generation + 1;
        let Inner {
            instances,
            lifetime,
            pending,
            ..
        } = inner;
        let before = instances.len();
        instances.retain(|instance| {
            let slot = self.slab.slot(instance.slot);
            if !slot.metrics().is_finished() {
                return true;
            }
            // A finished instance is never inside a poll, so any `now` reads its final
            // figures.
            let sample = slot.metrics().sample(slot.metrics().created_at());
            lifetime.add_ended(&sample, slot.failed(), |ticks| ending.to_duration(ticks));
            ending.fold(&instance.reader, &mut lifetime.ended_reports);
            slot.mark_folded(generation);
            pending.push((instance.slot, generation));
            false
        });
        if instances.len() < before {
            inner.generation = generation;
        }
        inner.release_pending(&self.slab);
        let live = inner.instances.len();
        inner.sweep_at = (live * 2).max(MIN_SWEEP_LEN);
        if inner.instances.capacity() > 4 * inner.sweep_at {
            inner.instances.shrink_to(2 * inner.sweep_at);
        }
    }
}

/// A read of a group's slab without its lock, registered as a reader until dropped.
#[derive(Debug)]
pub(crate) struct Reading<'a, R, S = ServiceStatusJoinHandle> {
    group: &'a ServiceGroup<R, S>,
    start: ReadStart,
}

impl<R, S> Reading<'_, R, S> {
    /// The state the read began at.
    pub(crate) fn start(&self) -> &ReadStart {
        &self.start
    }

    /// Visits, in slot order and without the lock, every instance this read must count
    /// besides its lifetime counters: those started before it began and not folded into
    /// those counters by then. Each is either still live or has ended since (its lifecycle
    /// tells which).
    #[inline]
    pub(crate) fn visit(&self, mut visit: impl FnMut(InstanceId, &Slot)) {
        let start = &self.start;
        self.group.slab.for_each(start.used, |_, slot| {
            if let Some(id) = counted(start, slot) {
                visit(id, slot);
            }
        });
    }
}

impl<R, S> Drop for Reading<'_, R, S> {
    fn drop(&mut self) {
        self.group.end_read(&self.start);
    }
}

/// The instance in `slot`, if a read begun with `start` counts it.
#[inline]
fn counted(start: &ReadStart, slot: &Slot) -> Option<InstanceId> {
    let (id, folded_at) = match slot.state() {
        SlotState::Free => return None,
        SlotState::Unfolded(id) => (id, None),
        SlotState::Folded(id, generation) => (id, Some(generation)),
    };
    // Started after the read began: the counters it began with do not count it either (and
    // a slot free then may have been reused since).
    if start.next_instance_id.is_some_and(|next| id >= next) {
        return None;
    }
    // Folded at or before the read began: already in its lifetime counters.
    if folded_at.is_some_and(|generation| generation <= start.generation) {
        return None;
    }
    Some(id)
}

impl<R, S> Inner<R, S> {
    /// The id the next start will get, if any is left.
    pub(crate) fn peek_instance_id(&self) -> Option<InstanceId> {
        self.next_instance_id
    }

    /// Frees the pending slots no running read can still count: those folded at or before
    /// the generation the oldest reader began at.
    fn release_pending(&mut self, slab: &Slab) {
        if self.pending.is_empty() {
            return;
        }
        let oldest_reader = self.readers.iter().map(|&(generation, _)| generation).min();
        let slots = &mut self.slots;
        self.pending.retain(|&(index, generation)| {
            let free = oldest_reader.is_none_or(|oldest| generation <= oldest);
            if free {
                slab.slot(index).release();
                slots.free(index);
            }
            !free
        });
    }

    /// Stored instances, live or finished but not yet evicted, in id order.
    pub(crate) fn instances(&self) -> &[Instance<R, S>] {
        &self.instances
    }

    /// The stored instance `instance_id`, if any: `O(log n)`, the instances being sorted
    /// by id.
    pub(crate) fn instance(&self, instance_id: InstanceId) -> Option<&Instance<R, S>> {
        let index = self
            .instances
            .binary_search_by_key(&instance_id, |instance| instance.id.instance_id())
            .ok()?;
        Some(&self.instances[index])
    }

    /// Counts one restart of this name.
    pub(crate) fn record_restart(&mut self) {
        self.lifetime.restarts += 1;
    }

    /// The lifetime counters: starts, restarts, endings, ended instances' figures.
    pub(crate) fn lifetime(&self) -> Lifetime {
        self.lifetime
    }

    /// `(stored instances, slots in use)`.
    #[cfg(test)]
    pub(crate) fn storage(&self) -> (usize, usize) {
        (self.instances.len(), self.slots.used() as usize)
    }

    #[cfg(all(test, not(loom)))]
    pub(crate) fn set_next_instance_id(&mut self, next: Option<InstanceId>) {
        self.next_instance_id = next;
    }
}
