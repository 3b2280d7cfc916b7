//! The atomics of the mailbox figures' lock-free protocol, swapped for loom's under
//! `--cfg loom` so that the models in `loom_models` explore every interleaving of sends,
//! receives and reads, and every value a weak memory model allows, not only what x86 shows.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::AtomicU64;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::AtomicU64;
