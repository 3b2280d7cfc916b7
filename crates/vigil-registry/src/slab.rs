//! A name's metrics slab: the figures every snapshot reads, contiguous, at stable addresses.
//!
//! Each instance's [`RawMetrics`] live in a slot of its name's slab, where its monitor writes
//! them on every poll. A snapshot walks the slots in address order, so it reads memory
//! sequentially (the prefetcher streams it) instead of chasing one heap object per instance.
//! Slots are reused after their instance has ended and been folded into the name's lifetime
//! counters, so the slab is as large as the most instances ever stored at once.

use std::ops::Deref;
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_utils::atomic::AtomicCell;
use vigil_monitor::RawMetrics;

use crate::id::{InstanceId, TaskId};
use crate::sync::{AtomicBool, AtomicU64, OnceLock};

/// Index of a slot in a slab.
pub(crate) type SlotIndex = u32;

/// Slots in the first chunk; chunk `k` has `FIRST_CHUNK << k`. (Two in the loom models, so
/// that a handful of instances already cross a chunk boundary.)
const FIRST_CHUNK: usize = if cfg!(loom) { 2 } else { 64 };
/// Chunks in a slab: room for `64 * (2^26 - 1)` slots, every `u32` index but the top 64.
const CHUNKS: usize = 26;

/// [`Slot::state`] of a slot no instance owns.
const FREE: u64 = u64::MAX;
/// [`Slot::state`] of a slot whose instance has not been folded into the lifetime counters:
/// it is live, or it ended and no sweep has seen it yet.
const UNFOLDED: u64 = 0;

/// One instance's place in the slab.
///
/// `repr(C)`: the 32 bytes of slot state come first and `RawMetrics` (itself `repr(C)`,
/// with the fields a reset writes in its first 88 bytes) right after, so a start writes 2-3
/// consecutive cache lines of its slot. (Aligning slots to cache lines, 256 bytes each, made
/// that exactly two, but made starts on a fresh registry 1.6-2.6x slower and cold snapshots
/// 30% slower; measured and reverted.)
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Slot {
    /// `FREE`, `UNFOLDED`, or the generation (>= 1) of the sweep that folded the instance
    /// into its name's lifetime counters; written under the name's lock, read by snapshots
    /// without it.
    state: AtomicU64,
    /// The instance stored here; meaningful unless the slot is `FREE`.
    instance_id: AtomicU64,
    /// Where the instance's service was defined (its `TaskId`'s location): the name is the
    /// slab's.
    location: AtomicCell<Option<&'static Location<'static>>>,
    /// Set by `Registry::record_failure`: a completion counts as `failed`.
    failed: AtomicBool,
    /// Written by the instance's monitor on every poll.
    metrics: RawMetrics,
}

/// What a reader finds in a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotState {
    Free,
    Unfolded(InstanceId),
    /// Folded by the sweep of this generation.
    Folded(InstanceId, u64),
}

impl Slot {
    fn vacant() -> Self {
        Self {
            state: AtomicU64::new(FREE),
            instance_id: AtomicU64::new(0),
            location: AtomicCell::new(None),
            failed: AtomicBool::new(false),
            metrics: RawMetrics::vacant(),
        }
    }

    /// Who owns the slot and whether it has been folded.
    #[inline]
    pub(crate) fn state(&self) -> SlotState {
        // Acquire: pairs with the Release in `occupy`, so an owner's state comes with its id.
        match self.state.load(Ordering::Acquire) {
            FREE => SlotState::Free,
            state => {
                // Relaxed: ordered by the Acquire above; written before the state.
                let id = self.instance_id.load(Ordering::Relaxed);
                if state == UNFOLDED {
                    SlotState::Unfolded(id)
                } else {
                    SlotState::Folded(id, state)
                }
            }
        }
    }

    /// The task id of the instance stored here, a service named `name`.
    pub(crate) fn task(&self, name: &'static str) -> TaskId {
        match self.location.load() {
            Some(location) => TaskId::with_location(name, location),
            None => TaskId::new(name),
        }
    }

    /// The instance's figures, written by its monitor.
    #[inline]
    pub(crate) fn metrics(&self) -> &RawMetrics {
        &self.metrics
    }

    /// `true` if the instance was marked failed.
    pub(crate) fn failed(&self) -> bool {
        // Relaxed: a service marks itself before its final poll returns, and readers see the
        // ending through the lifecycle's Acquire load, which orders this after it.
        self.failed.load(Ordering::Relaxed)
    }

    /// Marks the instance failed; see [`failed`](Slot::failed) for the ordering.
    pub(crate) fn mark_failed(&self) {
        // Relaxed: see `failed`.
        self.failed.store(true, Ordering::Relaxed);
    }

    /// Hands a free slot to `instance_id`. The caller resets the metrics (by creating the
    /// instance's monitor in place) before the instance can be seen by a snapshot, which
    /// happens under the name's lock, as does this.
    pub(crate) fn occupy(&self, task: TaskId, instance_id: InstanceId) {
        // Relaxed (and the cell's own ordering): published by the Release store of the
        // state below.
        self.instance_id.store(instance_id, Ordering::Relaxed);
        self.location.store(task.location());
        self.failed.store(false, Ordering::Relaxed);
        // Release: a reader that sees the slot owned also sees whose it is.
        self.state.store(UNFOLDED, Ordering::Release);
    }

    /// Records that a sweep of `generation` folded the instance into the lifetime counters.
    pub(crate) fn mark_folded(&self, generation: u64) {
        debug_assert!(generation != UNFOLDED && generation != FREE);
        // Release: the fold happened under the lock; readers only compare the generation.
        self.state.store(generation, Ordering::Release);
    }

    /// Gives the slot back; only once no snapshot can still be counting its instance.
    pub(crate) fn release(&self) {
        // Release: orders the release after the fold for a reader that sees `FREE`.
        self.state.store(FREE, Ordering::Release);
    }
}

/// A shared handle to one slot, which keeps its chunk alive: what an instance's monitor
/// writes through. Outlives the registry if the service does.
#[derive(Debug, Clone)]
pub(crate) struct SlotRef {
    chunk: Arc<[Slot]>,
    offset: u32,
}

impl Deref for SlotRef {
    type Target = RawMetrics;

    #[inline]
    fn deref(&self) -> &RawMetrics {
        &self.chunk[self.offset as usize].metrics
    }
}

/// The chunks of one name's slab. Chunks are only added (under the name's lock) and never
/// move, so a snapshot can walk them without the lock.
#[derive(Debug)]
pub(crate) struct Slab {
    chunks: [OnceLock<Arc<[Slot]>>; CHUNKS],
}

impl Slab {
    pub(crate) fn new() -> Self {
        Self {
            chunks: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// `(chunk, offset)` of slot `index`: chunk `k` holds indices
    /// `64 * (2^k - 1) .. 64 * (2^(k+1) - 1)`.
    #[inline]
    fn locate(index: SlotIndex) -> (usize, usize) {
        let index = index as usize;
        let chunk = (index / FIRST_CHUNK + 1).ilog2() as usize;
        (chunk, index - FIRST_CHUNK * ((1 << chunk) - 1))
    }

    /// The chunk `k`, created if it does not exist yet.
    fn chunk(&self, k: usize) -> &Arc<[Slot]> {
        self.chunks[k].get_or_init(|| (0..FIRST_CHUNK << k).map(|_| Slot::vacant()).collect())
    }

    /// Slot `index`, which must have been handed out by [`SlotAllocator`]: its chunk exists.
    pub(crate) fn slot(&self, index: SlotIndex) -> &Slot {
        let (chunk, offset) = Self::locate(index);
        &self.chunk(chunk)[offset]
    }

    /// A handle to slot `index` for its monitor.
    pub(crate) fn slot_ref(&self, index: SlotIndex) -> SlotRef {
        let (chunk, offset) = Self::locate(index);
        SlotRef {
            chunk: Arc::clone(self.chunk(chunk)),
            offset: offset as u32,
        }
    }

    /// Calls `visit(index, slot)` for slots `0..len` in address order.
    #[inline]
    pub(crate) fn for_each(&self, len: SlotIndex, mut visit: impl FnMut(SlotIndex, &Slot)) {
        let mut index: SlotIndex = 0;
        for cell in &self.chunks {
            if index >= len {
                return;
            }
            let Some(chunk) = cell.get() else { return };
            let take = chunk.len().min((len - index) as usize);
            for slot in &chunk[..take] {
                visit(index, slot);
                index += 1;
            }
        }
    }
}

/// Which slots are free: the name's lock guards it.
///
/// The lowest free slot is always taken first, so the live instances stay packed at the
/// front of the slab: a start writes into the part of the slab in use (warm), and after a
/// burst has ended, `used` comes back down and snapshots read only that part again.
#[derive(Debug, Default)]
pub(crate) struct SlotAllocator {
    /// Bit `i % 64` of word `i / 64` is set if slot `i < used` is free.
    free: Vec<u64>,
    /// Bit `w % 64` of word `w / 64` is set if `free[w]` has a set bit: the lowest free
    /// slot is found in a few words even with millions of slots.
    summary: Vec<u64>,
    /// Slots `0..used` may be occupied; a snapshot reads `0..used()`.
    used: SlotIndex,
}

impl SlotAllocator {
    /// The lowest free slot of `slab`, growing it if none is free.
    ///
    /// # Panics
    ///
    /// With more than 4 billion instances of one name stored at once.
    pub(crate) fn allocate(&mut self, slab: &Slab) -> SlotIndex {
        if let Some(word) = lowest_set(&self.summary) {
            let bit = self.free[word].trailing_zeros() as usize;
            let index = word * 64 + bit;
            self.set_free(index, false);
            return index as SlotIndex;
        }
        let index = self.used;
        let (chunk, _) = Slab::locate(index);
        assert!(
            chunk < CHUNKS,
            "more than 4 billion stored instances of one name"
        );
        slab.chunk(chunk);
        self.used += 1;
        let words = (self.used as usize).div_ceil(64);
        if self.free.len() < words {
            self.free.resize(words, 0);
            self.summary.resize(words.div_ceil(64), 0);
        }
        index
    }

    /// Makes `index` available again; if it was the last slot in use, `used` shrinks past
    /// every free slot at the end.
    pub(crate) fn free(&mut self, index: SlotIndex) {
        debug_assert!(index < self.used);
        self.set_free(index as usize, true);
        while self.used > 0 && self.is_free(self.used as usize - 1) {
            self.used -= 1;
            self.set_free(self.used as usize, false);
        }
    }

    /// Slots handed out and not all freed since: a snapshot reads `0..used()`.
    pub(crate) fn used(&self) -> SlotIndex {
        self.used
    }

    fn is_free(&self, index: usize) -> bool {
        self.free[index / 64] & (1 << (index % 64)) != 0
    }

    fn set_free(&mut self, index: usize, free: bool) {
        let word = index / 64;
        if free {
            self.free[word] |= 1 << (index % 64);
        } else {
            self.free[word] &= !(1 << (index % 64));
        }
        let has_free = u64::from(self.free[word] != 0);
        let summary = &mut self.summary[word / 64];
        *summary = (*summary & !(1 << (word % 64))) | (has_free << (word % 64));
    }
}

/// The index of the lowest set bit in `words`.
fn lowest_set(words: &[u64]) -> Option<usize> {
    let (at, word) = words.iter().enumerate().find(|(_, word)| **word != 0)?;
    Some(at * 64 + word.trailing_zeros() as usize)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn slot_indices_map_to_chunks_without_gaps() {
        let mut expected = 0_usize;
        for k in 0..6 {
            for offset in 0..FIRST_CHUNK << k {
                assert_eq!(Slab::locate(expected as SlotIndex), (k, offset));
                expected += 1;
            }
        }
        let last = Slab::locate(u32::MAX - 64);
        assert_eq!(last.0, CHUNKS - 1);
    }

    #[test]
    fn for_each_walks_every_handed_out_slot_in_order() {
        let slab = Slab::new();
        let mut slots = SlotAllocator::default();
        for expected in 0..200 {
            assert_eq!(slots.allocate(&slab), expected);
        }
        let mut seen = Vec::new();
        slab.for_each(slots.used(), |index, slot| {
            assert!(std::ptr::eq(slot, slab.slot(index)));
            seen.push(index);
        });
        assert_eq!(seen, (0..200).collect::<Vec<_>>());
    }

    #[test]
    fn the_lowest_free_slot_is_reused_before_the_slab_grows() {
        let slab = Slab::new();
        let mut slots = SlotAllocator::default();
        for _ in 0..10 {
            slots.allocate(&slab);
        }
        for index in [7, 2, 5] {
            slots.free(index);
        }
        assert_eq!(
            (0..4).map(|_| slots.allocate(&slab)).collect::<Vec<_>>(),
            [2, 5, 7, 10]
        );
    }

    #[test]
    fn used_shrinks_back_when_the_last_slots_are_freed() {
        let slab = Slab::new();
        let mut slots = SlotAllocator::default();
        for _ in 0..10_000 {
            slots.allocate(&slab);
        }
        // A burst ends: everything but slot 3 is freed, in no particular order.
        for index in (4..10_000).rev().chain([0, 1, 2]) {
            slots.free(index);
        }
        assert_eq!(slots.used(), 4);
        assert_eq!(slots.allocate(&slab), 0);
        slots.free(3);
        assert_eq!(slots.used(), 1, "only slot 0 is left in use");
        assert_eq!(slots.allocate(&slab), 1);
    }

    proptest::proptest! {
        /// Against a model (a sorted set of free slots below `used`): every allocation is
        /// the lowest free slot, or `used` when none is free; `used` is one past the highest
        /// slot in use.
        #[test]
        fn allocations_match_a_model(ops in proptest::collection::vec(0_u16..1_000, 1..400)) {
            let slab = Slab::new();
            let mut slots = SlotAllocator::default();
            let mut in_use = std::collections::BTreeSet::new();
            for op in ops {
                if op % 3 == 0 && !in_use.is_empty() {
                    // Free one in use, picked by the op.
                    let index = *in_use.iter().nth(op as usize % in_use.len()).unwrap();
                    in_use.remove(&index);
                    slots.free(index);
                } else {
                    let expected = (0..).find(|index| !in_use.contains(index)).unwrap();
                    proptest::prop_assert_eq!(slots.allocate(&slab), expected);
                    in_use.insert(expected);
                }
                let used = in_use.iter().next_back().map_or(0, |last| last + 1);
                proptest::prop_assert_eq!(slots.used(), used);
            }
        }
    }
}
