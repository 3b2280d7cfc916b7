//! The waiter list of one split, which doubles as the fan-out waker handed to tokio.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Wake, Waker};

/// The wakers of all handles currently waiting, one slot per handle.
///
/// As a [`Wake`] implementation this is the fan-out waker given to tokio.
/// It holds no reference back to [`Shared`](crate::shared::Shared), so the
/// `JoinHandle` (which keeps the fan-out alive) and `Shared` (which keeps
/// the `JoinHandle`) do not form a reference cycle.
#[derive(Default)]
pub(crate) struct Waiters {
    slots: Mutex<Slots>,
}

#[derive(Default)]
struct Slots {
    /// Indexed by key; `None` for a free slot or a waiter already woken.
    wakers: Vec<Option<Waker>>,
    /// Keys of free slots, reused before `wakers` grows.
    free: Vec<usize>,
}

impl Waiters {
    fn lock(&self) -> MutexGuard<'_, Slots> {
        // Only `Vec` operations run under this lock, so a poisoned lock
        // still holds a consistent list.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores `waker` in the slot `key`, allocating a slot if there is none.
    pub(crate) fn register(&self, key: &mut Option<usize>, waker: &Waker) {
        let replaced = {
            let mut slots = self.lock();
            match *key {
                Some(k) => match &mut slots.wakers[k] {
                    // Re-polled from the same task: nothing to do.
                    Some(old) if old.will_wake(waker) => None,
                    // Moved to another task, or woken since: the previous
                    // waker is stale and is replaced, not kept.
                    slot => slot.replace(waker.clone()),
                },
                None => {
                    let k = match slots.free.pop() {
                        Some(k) => {
                            slots.wakers[k] = Some(waker.clone());
                            k
                        }
                        None => {
                            slots.wakers.push(Some(waker.clone()));
                            slots.wakers.len() - 1
                        }
                    };
                    *key = Some(k);
                    None
                }
            }
        };
        // Dropping a waker runs the executor's code: do it unlocked.
        drop(replaced);
    }

    /// Frees the slot `key`.
    pub(crate) fn release(&self, key: usize) {
        let waker = {
            let mut slots = self.lock();
            slots.free.push(key);
            slots.wakers[key].take()
        };
        drop(waker);
    }

    /// Wakes every registered waker, emptying their slots (each waiter
    /// registers again if it is still pending when polled).
    pub(crate) fn wake_all(&self) {
        let wakers: Vec<Waker> = self
            .lock()
            .wakers
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        // Woken unlocked: a waker may run arbitrary code, even poll inline.
        for waker in wakers {
            waker.wake();
        }
    }

    /// How many slots hold a waker.
    #[cfg(test)]
    pub(crate) fn registered(&self) -> usize {
        self.lock().wakers.iter().flatten().count()
    }

    /// How many slots are owned by a handle.
    #[cfg(test)]
    pub(crate) fn allocated(&self) -> usize {
        let slots = self.lock();
        slots.wakers.len() - slots.free.len()
    }

    /// How many slots exist, owned or free.
    #[cfg(test)]
    pub(crate) fn slots(&self) -> usize {
        self.lock().wakers.len()
    }
}

impl Wake for Waiters {
    fn wake(self: Arc<Self>) {
        self.wake_all();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_all();
    }
}
