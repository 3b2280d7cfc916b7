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

/// One handle's place in the list.
#[derive(Default)]
enum Slot {
    /// Owned by no handle; reused before the list grows.
    #[default]
    Free,
    /// Owned by a handle: its waker, or `None` once woken (the handle registers again if
    /// it is still pending when polled).
    Owned(Option<Waker>),
}

/// The slots, keyed by index: key 0 is `first`, key `k > 0` is `more[k - 1]`.
///
/// The first slot is inline because most splits only ever have one waiting handle (the
/// owner, or one status handle): then registering, waking and releasing allocate nothing.
#[derive(Default)]
struct Slots {
    first: Slot,
    more: Vec<Slot>,
}

/// Wakers taken out of the list to be woken unlocked; inline up to this many.
const INLINE_WAKES: usize = 4;

impl Slots {
    fn slot(&mut self, key: usize) -> &mut Slot {
        match key {
            0 => &mut self.first,
            k => &mut self.more[k - 1],
        }
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Slot> {
        std::iter::once(&mut self.first).chain(self.more.iter_mut())
    }

    /// Puts `waker` in a free slot (growing the list if none is free) and returns its key.
    /// A linear scan: the list is as long as the most handles ever waiting at once.
    fn allocate(&mut self, waker: Waker) -> usize {
        let free = self.iter_mut().position(|slot| matches!(slot, Slot::Free));
        let key = free.unwrap_or_else(|| {
            self.more.push(Slot::Free);
            self.more.len()
        });
        *self.slot(key) = Slot::Owned(Some(waker));
        key
    }
}

impl Waiters {
    fn lock(&self) -> MutexGuard<'_, Slots> {
        // Only slot updates run under this lock, so a poisoned lock still holds a
        // consistent list.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores `waker` in the slot `key`, allocating a slot if there is none.
    pub(crate) fn register(&self, key: &mut Option<usize>, waker: &Waker) {
        let replaced = {
            let mut slots = self.lock();
            match *key {
                Some(k) => match slots.slot(k) {
                    // Re-polled from the same task: nothing to do.
                    Slot::Owned(Some(old)) if old.will_wake(waker) => None,
                    // Moved to another task, or woken since: the previous waker is stale
                    // and is replaced, not kept.
                    Slot::Owned(slot) => slot.replace(waker.clone()),
                    Slot::Free => unreachable!("a handle's slot is never freed under it"),
                },
                None => {
                    *key = Some(slots.allocate(waker.clone()));
                    None
                }
            }
        };
        // Dropping a waker runs the executor's code: do it unlocked.
        drop(replaced);
    }

    /// Frees the slot `key`.
    pub(crate) fn release(&self, key: usize) {
        let waker = match std::mem::take(self.lock().slot(key)) {
            Slot::Owned(waker) => waker,
            Slot::Free => None,
        };
        drop(waker);
    }

    /// Wakes every registered waker, emptying their slots (each waiter registers again if
    /// it is still pending when polled).
    pub(crate) fn wake_all(&self) {
        let mut inline: [Option<Waker>; INLINE_WAKES] = Default::default();
        let mut overflow = Vec::new();
        {
            let mut slots = self.lock();
            let taken = slots.iter_mut().filter_map(|slot| match slot {
                Slot::Owned(waker) => waker.take(),
                Slot::Free => None,
            });
            for (index, waker) in taken.enumerate() {
                match inline.get_mut(index) {
                    Some(place) => *place = Some(waker),
                    None => overflow.push(waker),
                }
            }
        }
        // Woken unlocked: a waker may run arbitrary code, even poll inline.
        for waker in inline.into_iter().flatten().chain(overflow) {
            waker.wake();
        }
    }

    /// How many slots hold a waker.
    #[cfg(test)]
    pub(crate) fn registered(&self) -> usize {
        self.lock()
            .iter_mut()
            .filter(|slot| matches!(slot, Slot::Owned(Some(_))))
            .count()
    }

    /// How many slots are owned by a handle.
    #[cfg(test)]
    pub(crate) fn allocated(&self) -> usize {
        self.lock()
            .iter_mut()
            .filter(|slot| matches!(slot, Slot::Owned(_)))
            .count()
    }

    /// How many slots exist, owned or free.
    #[cfg(test)]
    pub(crate) fn slots(&self) -> usize {
        1 + self.lock().more.len()
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
