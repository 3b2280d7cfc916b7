//! The waiter slots of one service: one slot per waiting handle, kept under the completion lock.

use std::task::Waker;

/// The wakers of all handles currently waiting, one slot per handle, keyed by index: key 0
/// is `first`, key `k > 0` is `more[k - 1]`.
///
/// This is plain data: [`Completion`](crate::completion::Completion) keeps it under its lock
/// and drops or wakes what these methods hand back only after unlocking, because dropping or
/// waking a waker runs the executor's code.
///
/// The first slot is inline because most services only ever have one waiting handle at a time
/// (the owner, or one status handle): then registering, waking and releasing allocate nothing.
#[derive(Default)]
pub(crate) struct Slots {
    first: Slot,
    more: Vec<Slot>,
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

/// Wakers taken out of the list to be woken unlocked; inline up to this many.
const INLINE_WAKES: usize = 4;

impl Slots {
    fn slot(&mut self, key: usize) -> Option<&mut Slot> {
        match key {
            0 => Some(&mut self.first),
            k => self.more.get_mut(k - 1),
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
        if let Some(slot) = self.slot(key) {
            *slot = Slot::Owned(Some(waker));
        }
        key
    }

    /// Stores `waker` in the slot `key`, allocating a slot if there is none. Returns the
    /// stale waker it replaced, for the caller to drop unlocked.
    pub(crate) fn register(&mut self, key: &mut Option<usize>, waker: &Waker) -> Option<Waker> {
        match *key {
            Some(k) => match self.slot(k) {
                // Re-polled from the same task: nothing to do.
                Some(Slot::Owned(Some(old))) if old.will_wake(waker) => None,
                // Moved to another task, or woken since: the previous waker is stale and is
                // replaced, not kept.
                Some(Slot::Owned(slot)) => slot.replace(waker.clone()),
                Some(Slot::Free) | None => unreachable!("a handle's slot is never freed under it"),
            },
            None => {
                *key = Some(self.allocate(waker.clone()));
                None
            }
        }
    }

    /// Frees the slot `key` and returns its waker, for the caller to drop unlocked. A key
    /// the list no longer has (it was taken whole by [`Completion::complete`]) is a no-op.
    ///
    /// [`Completion::complete`]: crate::completion::Completion::complete
    pub(crate) fn release(&mut self, key: usize) -> Option<Waker> {
        match self.slot(key).map(std::mem::take) {
            Some(Slot::Owned(waker)) => waker,
            Some(Slot::Free) | None => None,
        }
    }

    /// Takes every registered waker, leaving each slot owned by its handle (which registers
    /// again if it is still pending when polled). Wake the result unlocked.
    pub(crate) fn take_wakers(&mut self) -> Wakers {
        let mut wakers = Wakers::default();
        let taken = self.iter_mut().filter_map(|slot| match slot {
            Slot::Owned(waker) => waker.take(),
            Slot::Free => None,
        });
        for (index, waker) in taken.enumerate() {
            match wakers.inline.get_mut(index) {
                Some(place) => *place = Some(waker),
                None => wakers.overflow.push(waker),
            }
        }
        wakers
    }

    /// Wakes every waker a list taken whole still holds. Call it unlocked.
    pub(crate) fn wake_all(self) {
        let Slots { first, more } = self;
        for slot in std::iter::once(first).chain(more) {
            if let Slot::Owned(Some(waker)) = slot {
                waker.wake();
            }
        }
    }

    /// How many slots hold a waker.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn registered(&mut self) -> usize {
        self.iter_mut()
            .filter(|slot| matches!(slot, Slot::Owned(Some(_))))
            .count()
    }

    /// How many slots are owned by a handle.
    #[cfg(test)]
    pub(crate) fn allocated(&mut self) -> usize {
        self.iter_mut()
            .filter(|slot| matches!(slot, Slot::Owned(_)))
            .count()
    }

    /// How many slots exist, owned or free.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn len(&self) -> usize {
        1 + self.more.len()
    }
}

/// Wakers taken out of [`Slots`] by [`Slots::take_wakers`], to be woken unlocked.
#[derive(Default)]
pub(crate) struct Wakers {
    inline: [Option<Waker>; INLINE_WAKES],
    overflow: Vec<Waker>,
}

impl Wakers {
    /// Wakes them all. A waker may run arbitrary code, even poll inline: call it unlocked.
    pub(crate) fn wake(self) {
        for waker in self.inline.into_iter().flatten().chain(self.overflow) {
            waker.wake();
        }
    }
}
