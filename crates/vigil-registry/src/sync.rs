//! The primitives of the slab's protocol and of the name table, swapped for loom's under
//! `--cfg loom` so that the models in `loom_models` explore every interleaving of starts,
//! sweeps and snapshots.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64};
#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64};
#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard, OnceLock};

/// std's `OnceLock` as loom sees it: initialized by one thread at a time (a loom mutex), and
/// published by a Release store that `get` Acquires, which is the contract std's keeps (the
/// models trust std for the rest). Loom runs one model thread at a time, so the inner std
/// cell is never contended.
#[cfg(loom)]
pub(crate) struct OnceLock<T> {
    value: std::sync::OnceLock<T>,
    ready: AtomicBool,
    init: Mutex<()>,
}

#[cfg(loom)]
impl<T> OnceLock<T> {
    pub(crate) fn new() -> Self {
        Self {
            value: std::sync::OnceLock::new(),
            ready: AtomicBool::new(false),
            init: Mutex::new(()),
        }
    }

    pub(crate) fn get(&self) -> Option<&T> {
        // Acquire: pairs with the Release below, as std's `get` does with its initializer.
        if self.ready.load(std::sync::atomic::Ordering::Acquire) {
            self.value.get()
        } else {
            None
        }
    }

    pub(crate) fn get_or_init(&self, init: impl FnOnce() -> T) -> &T {
        if let Some(value) = self.get() {
            return value;
        }
        let _one_at_a_time = self.init.lock().unwrap();
        let value = self.value.get_or_init(init);
        // Release: publishes the value to `get`.
        self.ready.store(true, std::sync::atomic::Ordering::Release);
        value
    }
}

#[cfg(loom)]
impl<T: std::fmt::Debug> std::fmt::Debug for OnceLock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("OnceLock").field(&self.get()).finish()
    }
}
