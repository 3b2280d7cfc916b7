//! The profiler's monitor: marks, on each thread, which instance is inside a poll there.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{compiler_fence, Ordering};
use std::sync::{PoisonError, RwLock};

use vigil_monitor::{Clock, PollMonitor, PollOutcome, Ticks};
use vigil_registry::{MonitorFactory, ServiceId};

use crate::state::{Shared, ThreadSlot};
use crate::{sys, Profiler};

/// Bits of a key that hold the instance id; the bits above hold the name's index + 1.
const INSTANCE_BITS: u32 = 40;
const INSTANCE_MASK: u64 = (1 << INSTANCE_BITS) - 1;

/// Service names seen by the profiler, each with a small index that goes into keys.
#[derive(Debug, Default)]
pub(crate) struct Names {
    table: RwLock<NameTable>,
}

#[derive(Debug, Default)]
struct NameTable {
    index: HashMap<&'static str, u32>,
    names: Vec<&'static str>,
}

impl Names {
    /// The key of instance `id`: never `0`, equal for equal ids.
    ///
    /// Instance ids are folded to their low 40 bits: two instances of one name a trillion
    /// starts apart share a key (see `docs/where.md`).
    pub(crate) fn key_of(&self, id: &ServiceId) -> u64 {
        let index = self
            .index_of(id.name())
            .unwrap_or_else(|| self.intern(id.name()));
        Self::key(index, id.instance_id())
    }

    /// The key of `id` if its name was ever started under the profiler.
    pub(crate) fn existing_key(&self, id: &ServiceId) -> Option<u64> {
        self.index_of(id.name())
            .map(|index| Self::key(index, id.instance_id()))
    }

    /// The service name a key stands for.
    pub(crate) fn name_of(&self, key: u64) -> Option<&'static str> {
        let index = (key >> INSTANCE_BITS).checked_sub(1)?;
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        table.names.get(usize::try_from(index).ok()?).copied()
    }

    fn key(index: u32, instance_id: u64) -> u64 {
        ((u64::from(index) + 1) << INSTANCE_BITS) | (instance_id & INSTANCE_MASK)
    }

    fn index_of(&self, name: &str) -> Option<u32> {
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        table.index.get(name).copied()
    }

    fn intern(&self, name: &'static str) -> u32 {
        let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(&index) = table.index.get(name) {
            return index;
        }
        let index = u32::try_from(table.names.len()).expect("fewer than 2^24 service names");
        table.names.push(name);
        table.index.insert(name, index);
        index
    }
}

/// Where this thread stands with the profiler.
#[derive(Debug, Clone, Copy)]
enum Registration {
    /// No monitored poll ran here yet.
    Unregistered,
    /// This thread's slot.
    Registered(&'static ThreadSlot),
    /// Cannot be marked (unsupported platform, every slot taken, thread exiting).
    Unavailable,
}

thread_local! {
    /// Const-initialised and without a destructor: a poll reads it with one plain load.
    static REGISTRATION: Cell<Registration> = const { Cell::new(Registration::Unregistered) };
    /// Gives the slot back when the thread exits.
    static RELEASE: SlotRelease = const { SlotRelease(Cell::new(None)) };
}

/// Frees a thread's slot when the thread exits.
struct SlotRelease(Cell<Option<(&'static Shared, &'static ThreadSlot)>>);

impl Drop for SlotRelease {
    fn drop(&mut self) {
        if let Some((shared, slot)) = self.0.take() {
            // Later polls on this exiting thread (other destructors) stay unmarked.
            REGISTRATION.with(|registration| registration.set(Registration::Unavailable));
            shared.release_slot(slot);
        }
    }
}

/// This thread's slot, registering the thread on its first call.
#[inline]
fn thread_slot(shared: &'static Shared) -> Option<&'static ThreadSlot> {
    match REGISTRATION.with(Cell::get) {
        Registration::Registered(slot) => Some(slot),
        Registration::Unavailable => None,
        Registration::Unregistered => register(shared),
    }
}

#[cold]
#[inline(never)]
fn register(shared: &'static Shared) -> Option<&'static ThreadSlot> {
    let slot = sys::current_thread().and_then(|info| shared.take_slot(&info).map(|(_, slot)| slot));
    let slot = slot.filter(|&slot| {
        // A thread that is already tearing down its thread-locals cannot be released later:
        // give the slot back at once and leave the thread unmarked.
        let armed = RELEASE
            .try_with(|release| release.0.set(Some((shared, slot))))
            .is_ok();
        if !armed {
            shared.release_slot(slot);
        }
        armed
    });
    REGISTRATION.with(|registration| {
        registration.set(slot.map_or(Registration::Unavailable, Registration::Registered));
    });
    slot
}

/// The monitor a [`Profiler`] attaches to each instance: at every poll start it marks the
/// thread's slot with the instance (and counts the poll), at the poll's end it restores
/// what was there (`0`, or the instance of an enclosing poll).
///
/// Per poll: one thread-local load, three stores into the thread's own slot, no lock, no
/// allocation, no read-modify-write. A thread registers itself at its first monitored poll.
#[derive(Debug)]
pub struct PollMarker {
    /// `None` from a disabled profiler: the marker then does nothing.
    shared: Option<&'static Shared>,
    key: u64,
    /// The slot marked by the poll in progress.
    marked: Option<&'static ThreadSlot>,
    /// The mark the poll in progress replaced (a nested poll's enclosing instance).
    previous: u64,
}

impl PollMonitor for PollMarker {
    #[inline]
    fn on_poll_start(&mut self, _start: Ticks) {
        let Some(slot) = self.shared.and_then(thread_slot) else {
            return;
        };
        // Relaxed: only this thread writes its slot's sequence and mark.
        let poll_seq = slot.poll_seq.load(Ordering::Relaxed).wrapping_add(1);
        slot.poll_seq.store(poll_seq, Ordering::Relaxed);
        self.previous = slot.current.load(Ordering::Relaxed);
        // Release: a capture that reads this mark (Acquire) reads this poll's sequence or a
        // later one, never an earlier one.
        slot.current.store(self.key, Ordering::Release);
        // The handler runs on this thread: keep the poll's own code after the mark.
        compiler_fence(Ordering::SeqCst);
        self.marked = Some(slot);
    }

    #[inline]
    fn on_poll_end(&mut self, _start: Ticks, _end: Ticks, _outcome: PollOutcome) {
        if let Some(slot) = self.marked.take() {
            // Keep the poll's own code before the mark is taken down.
            compiler_fence(Ordering::SeqCst);
            // Release: as at the start, for readers on other threads.
            slot.current.store(self.previous, Ordering::Release);
        }
    }
}

impl<C: Clock> MonitorFactory<C> for Profiler {
    type Monitor = PollMarker;
    type Reader = ();

    fn create(&self, id: &ServiceId, _clock: &C) -> (PollMarker, ()) {
        let shared = self.shared();
        let marker = PollMarker {
            shared,
            key: shared.map_or(0, |shared| shared.names.key_of(id)),
            marked: None,
            previous: 0,
        };
        (marker, ())
    }
}
