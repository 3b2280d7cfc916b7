//! The atomics of the lock-free protocols (the sequence lock and what it guards), swapped
//! for loom's under `--cfg loom` so that the models in `loom_models` explore every
//! interleaving and every value a weak memory model allows, not only what x86 shows.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU64, AtomicU8};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU64, AtomicU8};

/// A reader's wait while a writer is inside an update: spins briefly, then gives the CPU
/// away. Under loom, always a yield: a model must tell the scheduler that this thread waits
/// for another one, or it would explore the spin forever.
#[inline]
pub(crate) fn wait(spins: u32) {
    #[cfg(loom)]
    {
        let _ = spins;
        loom::thread::yield_now();
    }
    #[cfg(not(loom))]
    if spins < 64 {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}
