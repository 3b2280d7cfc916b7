//! The memory the signal handlers touch: allocated at install, atomics only, never freed.
//!
//! Everything a handler reads or writes lives here and exists before the handler can run:
//! the table of registered threads, the one capture area, and the pool of sample buffers.
//! The handlers find it through one pointer published at install ([`crate::sys`]); they
//! take no lock and allocate nothing, so every field is an atomic (plain loads and stores
//! compile to ordinary moves on x86_64 and aarch64).

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Threads that can be registered at once; a thread past it is not marked (its polls run
/// unmarked and show as `(no service)` in profiles). Slots of exited threads are reused.
pub(crate) const MAX_THREADS: usize = 1024;

/// Frames a handler records per stack (innermost first); deeper stacks are cut there.
pub(crate) const MAX_FRAMES: usize = 128;

/// Bytes of the interrupted stack a capture copies (from the stack pointer up), for DWARF
/// unwinding afterwards: the innermost frames, where the service's own code is.
pub(crate) const STACK_COPY_WORDS: usize = 64 * 1024 / 8;

/// Sample buffers shared by every thread's profiling handler (about 1 KiB each). A profile
/// drains them every 10 ms; at 99 Hz they hold a second of samples of 10 busy threads.
pub(crate) const SAMPLE_BUFFERS: usize = 1024;

/// One registered thread: written by that thread's polls (and registration), read by its
/// own signal handlers and by capture requests from other threads.
#[derive(Debug)]
pub(crate) struct ThreadSlot {
    /// Kernel thread id; `0` while the slot is free.
    pub(crate) tid: AtomicI32,
    /// The key of the instance inside a poll on this thread ([`crate::marker`]), `0` if none.
    pub(crate) current: AtomicU64,
    /// Monitored polls started on this thread: names the poll in progress, so a capture can
    /// prove the stack it took belongs to the poll it was asked about.
    pub(crate) poll_seq: AtomicU64,
    /// The thread's stack, `[stack_low, stack_high)`: every stack read is bounded by it.
    pub(crate) stack_low: AtomicUsize,
    pub(crate) stack_high: AtomicUsize,
    /// The thread's CPU-time clock (`clockid_t`), for per-thread profiling timers.
    pub(crate) cpu_clock: AtomicI32,
    pub(crate) has_cpu_clock: AtomicBool,
}

impl ThreadSlot {
    const fn new() -> Self {
        Self {
            tid: AtomicI32::new(0),
            current: AtomicU64::new(0),
            poll_seq: AtomicU64::new(0),
            stack_low: AtomicUsize::new(0),
            stack_high: AtomicUsize::new(0),
            cpu_clock: AtomicI32::new(0),
            has_cpu_clock: AtomicBool::new(false),
        }
    }
}

/// Return addresses recorded by a handler, innermost first; the first is the interrupted
/// instruction itself.
#[derive(Debug)]
pub(crate) struct Frames {
    count: AtomicUsize,
    addresses: [AtomicUsize; MAX_FRAMES],
}

impl Frames {
    fn new() -> Self {
        Self {
            count: AtomicUsize::new(0),
            addresses: std::array::from_fn(|_| AtomicUsize::new(0)),
        }
    }

    /// Starts a new stack. Relaxed: published by the owner's `Release` state store.
    #[inline]
    pub(crate) fn clear(&self) {
        self.count.store(0, Ordering::Relaxed);
    }

    /// Appends `address`; `false` once full.
    #[inline]
    pub(crate) fn push(&self, address: usize) -> bool {
        // Relaxed: one writer (the handler), published by the owner's `Release` state store.
        let count = self.count.load(Ordering::Relaxed);
        if count >= MAX_FRAMES {
            return false;
        }
        self.addresses[count].store(address, Ordering::Relaxed);
        self.count.store(count + 1, Ordering::Relaxed);
        true
    }

    /// Copies the stack out. Relaxed: the caller has acquired the owner's state first.
    pub(crate) fn to_vec(&self) -> Vec<usize> {
        let count = self.count.load(Ordering::Relaxed).min(MAX_FRAMES);
        self.addresses[..count]
            .iter()
            .map(|address| address.load(Ordering::Relaxed))
            .collect()
    }
}

/// States of a [`SampleBuffer`].
pub(crate) mod phase {
    /// A handler owns the buffer and is writing it.
    pub(crate) const WRITING: u32 = 2;
    /// A sample buffer nobody uses.
    pub(crate) const FREE: u32 = 0;
    /// A sample buffer holding a sample for the profile to read.
    pub(crate) const READY: u32 = 3;
}

/// The one stack capture in progress: the request and its answer ([`Handshake`], whose
/// `Release`/`Acquire` pairs publish the fields below), and what the handler records.
///
/// [`Handshake`]: crate::handshake::Handshake
#[derive(Debug)]
pub(crate) struct CaptureArea {
    pub(crate) handshake: crate::handshake::Handshake,
    pub(crate) frames: Frames,
    /// The interrupted registers: `[pc, sp, fp, lr]` (`lr` is `0` on x86_64).
    pub(crate) registers: [AtomicUsize; 4],
    /// A copy of the stack from `sp` up, for DWARF unwinding; `stack_words` are valid.
    pub(crate) stack: Box<[AtomicU64]>,
    pub(crate) stack_words: AtomicUsize,
}

/// One profiling sample, written by the handler of the thread it was taken on.
#[derive(Debug)]
pub(crate) struct SampleBuffer {
    /// `FREE` → `WRITING` (handler, compare-exchange) → `READY` (handler, `Release`) →
    /// `FREE` (the profile, after copying it out).
    pub(crate) state: AtomicU32,
    /// The instance in a poll on that thread when the sample was taken, `0` if none.
    pub(crate) key: AtomicU64,
    pub(crate) frames: Frames,
}

/// The profiler's process-wide state, leaked at install so that handlers may use it at any
/// time afterwards.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: crate::Config,
    /// Service names, for keys; never touched by a handler.
    pub(crate) names: crate::marker::Names,
    pub(crate) slots: Box<[ThreadSlot]>,
    /// One past the highest slot ever taken: scans stop there.
    pub(crate) slots_in_use: AtomicUsize,
    /// Thread names by slot, for stacks and profiles; never touched by a handler.
    pub(crate) thread_names: Mutex<Vec<Option<String>>>,
    pub(crate) capture: CaptureArea,
    /// Held by the one capture in progress (requesters only, never a handler).
    pub(crate) capture_lock: Mutex<()>,
    /// Whether profiling handlers record samples.
    pub(crate) profiling: AtomicBool,
    /// Set by the one profile in progress.
    pub(crate) profile_busy: AtomicBool,
    pub(crate) samples: Box<[SampleBuffer]>,
    /// Where handlers start looking for a free sample buffer (spreads them out).
    pub(crate) next_sample: AtomicUsize,
    /// Samples dropped because every buffer was full.
    pub(crate) lost_samples: AtomicU64,
}

impl Shared {
    pub(crate) fn new(config: crate::Config) -> Self {
        Self {
            config,
            names: crate::marker::Names::default(),
            slots: (0..MAX_THREADS).map(|_| ThreadSlot::new()).collect(),
            slots_in_use: AtomicUsize::new(0),
            thread_names: Mutex::new(vec![None; MAX_THREADS]),
            capture: CaptureArea {
                handshake: crate::handshake::Handshake::new(),
                frames: Frames::new(),
                registers: std::array::from_fn(|_| AtomicUsize::new(0)),
                stack: (0..STACK_COPY_WORDS).map(|_| AtomicU64::new(0)).collect(),
                stack_words: AtomicUsize::new(0),
            },
            capture_lock: Mutex::new(()),
            profiling: AtomicBool::new(false),
            profile_busy: AtomicBool::new(false),
            samples: (0..SAMPLE_BUFFERS)
                .map(|_| SampleBuffer {
                    state: AtomicU32::new(phase::FREE),
                    key: AtomicU64::new(0),
                    frames: Frames::new(),
                })
                .collect(),
            next_sample: AtomicUsize::new(0),
            lost_samples: AtomicU64::new(0),
        }
    }

    /// The slot of the thread `tid`, and its index. Lock-free, allocation-free: handlers
    /// call it to find their own thread.
    #[inline]
    pub(crate) fn slot_of(&self, tid: i32) -> Option<(usize, &ThreadSlot)> {
        // Acquire: pairs with the `Release` in `take_slot`, so the slot's fields are set.
        let in_use = self.slots_in_use.load(Ordering::Acquire).min(MAX_THREADS);
        self.slots[..in_use]
            .iter()
            .enumerate()
            .find(|(_, slot)| slot.tid.load(Ordering::Acquire) == tid)
    }

    /// Takes a free slot for the calling thread; `None` if all are in use.
    pub(crate) fn take_slot(&self, info: &crate::sys::ThreadInfo) -> Option<(usize, &ThreadSlot)> {
        for (index, slot) in self.slots.iter().enumerate() {
            // Relaxed on failure: the slot is someone else's; Acquire on success: after a
            // thread released it (`Release` in `release_slot`), its last stores are done.
            if slot
                .tid
                .compare_exchange(0, -1, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            // Relaxed: published by the `Release` store of `tid` below.
            slot.current.store(0, Ordering::Relaxed);
            slot.stack_low.store(info.stack.start, Ordering::Relaxed);
            slot.stack_high.store(info.stack.end, Ordering::Relaxed);
            slot.cpu_clock
                .store(info.cpu_clock.unwrap_or(0), Ordering::Relaxed);
            slot.has_cpu_clock
                .store(info.cpu_clock.is_some(), Ordering::Relaxed);
            if let Ok(mut names) = self.thread_names.lock() {
                names[index] = info.name.clone();
            }
            // Release: a reader that sees the tid sees the fields above.
            slot.tid.store(info.tid, Ordering::Release);
            // Release, pairing with the Acquire in `slot_of`: the new bound covers a slot
            // whose tid is already published.
            self.slots_in_use.fetch_max(index + 1, Ordering::Release);
            return Some((index, slot));
        }
        None
    }

    /// Frees the slot of an exiting thread.
    pub(crate) fn release_slot(&self, slot: &ThreadSlot) {
        // Relaxed: no poll runs on an exiting thread any more.
        slot.current.store(0, Ordering::Relaxed);
        // Release: the next owner (Acquire in `take_slot`) starts after these stores.
        slot.tid.store(0, Ordering::Release);
    }

    /// The thread name registered for slot `index`.
    pub(crate) fn thread_name(&self, index: usize) -> Option<String> {
        self.thread_names
            .lock()
            .ok()
            .and_then(|names| names.get(index).cloned().flatten())
    }
}
