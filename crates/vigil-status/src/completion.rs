//! How a service ended, who waits for it, and its panic payload: the state machine both sources share.

use std::any::Any;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::PoisonError;
use std::task::{Poll, Waker};

use crate::sync::{fence, AtomicBool, AtomicU8, AtomicWaker, Mutex, MutexGuard};
use crate::waiters::Slots;

/// A panic payload, as caught by `catch_unwind` or returned by `JoinError::into_panic`.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

/// How the service ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Panicked,
    Cancelled,
}

// Encodings of `Option<Outcome>` in `Completion::outcome`.
const PENDING: u8 = 0;
const OK: u8 = 1;
const PANICKED: u8 = 2;
const CANCELLED: u8 = 3;

impl Outcome {
    fn encode(self) -> u8 {
        match self {
            Outcome::Ok => OK,
            Outcome::Panicked => PANICKED,
            Outcome::Cancelled => CANCELLED,
        }
    }

    fn decode(code: u8) -> Option<Self> {
        match code {
            OK => Some(Outcome::Ok),
            PANICKED => Some(Outcome::Panicked),
            CANCELLED => Some(Outcome::Cancelled),
            _ => None,
        }
    }

    /// A short name, for `Debug` output.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Panicked => "panicked",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// The ending of one service as its handles see it. Whoever learns how the service ended
/// calls [`complete`](Self::complete) once: the [`spawn`](crate::spawn) wrapper from inside
/// the task, or for [`split`](crate::split) the handle that read the `JoinHandle`.
///
/// # Protocol
///
/// - `outcome` goes from pending to final once, by a compare-exchange in `complete`; it is
///   read without the lock (the fast path of every poll and `is_finished`).
/// - A handle registers its waker in the slot list only under the lock, after setting
///   `listed` and then re-checking that the outcome is still pending. `complete` sets the
///   outcome and then reads `listed` (each side's store and load separated by a `SeqCst`
///   fence, so at least one side sees the other's write): if it is set, `complete` takes
///   the whole slot list under the lock.
///   So a registration either comes first and is woken by `complete`, or comes second and
///   sees the outcome: no wakeup is lost. After `complete` no slot is ever handed out again,
///   so a handle that sees the outcome just forgets its key, unlocked.
/// - The owned handle of a [`spawn`](crate::spawn) registers in `owner`, an `AtomicWaker`,
///   without the lock, and re-checks the outcome after registering; `complete` wakes it
///   after setting the outcome. So the common life of a service (started, its owner awaits
///   it, it returns) takes no lock at all unless a status handle waits too.
/// - A panic payload is stored under the lock, and only if `owner_gone` is not set when
///   `complete` reads it (after setting the outcome). The owner's drop sets `owner_gone` and
///   then reads the outcome (again a `SeqCst` fence between each side's store and load): if
///   the outcome is a panic, it locks and
///   drops whatever was stored; otherwise no payload can be stored any more, and the drop
///   takes no lock. So a payload is handed to the owner or dropped, exactly once.
/// - Fences, not `SeqCst` accesses, for these two store-then-load handshakes: they are what
///   the C11 model needs, they cost the same on x86 (a fence where a locked store was), and
///   loom models `SeqCst` fences while it treats `SeqCst` accesses as `AcqRel` (its issue
///   #180), which would make every model of this protocol report a false deadlock.
/// - Nothing user-supplied (wakers, payloads) is woken or dropped under the lock.
pub(crate) struct Completion {
    /// `PENDING` until `complete`, then the encoded [`Outcome`].
    outcome: AtomicU8,
    /// Set by every registration in the slot list: until then `complete` has nobody to wake
    /// there and skips the lock.
    listed: AtomicBool,
    /// The waker of a spawned service's owned handle.
    owner: AtomicWaker,
    /// Set when the owned handle is dropped before it resolved: a payload then has no taker.
    owner_gone: AtomicBool,
    state: Mutex<State>,
}

struct State {
    waiters: Slots,
    /// The panic payload, kept until the owned handle takes it.
    payload: Option<Payload>,
}

impl Completion {
    pub(crate) fn new() -> Self {
        Self {
            outcome: AtomicU8::new(PENDING),
            listed: AtomicBool::new(false),
            owner: AtomicWaker::new(),
            owner_gone: AtomicBool::new(false),
            state: Mutex::new(State {
                waiters: Slots::default(),
                payload: None,
            }),
        }
    }

    /// The outcome, once [`complete`](Self::complete) has recorded it.
    #[inline]
    pub(crate) fn outcome(&self) -> Option<Outcome> {
        // Acquire pairs with the Release store in `complete`: whoever sees the outcome also
        // sees everything the service did before it ended.
        Outcome::decode(self.outcome.load(Ordering::Acquire))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No user code runs under this lock and every update leaves a consistent state, so a
        // poisoned lock is safe to keep using; propagating the poison would turn one panic
        // into a panic in every handle.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records how the service ended, keeps the payload for the owned handle (or drops it if
    /// that handle is gone), and wakes every waiting handle. The first call wins; a later
    /// one changes nothing (and drops its payload).
    pub(crate) fn complete(&self, outcome: Outcome, payload: Option<Payload>) {
        debug_assert_eq!(payload.is_some(), outcome == Outcome::Panicked);
        let unclaimed = match payload {
            // The payload lives under the lock: a panic takes it.
            Some(payload) => {
                let mut state = self.lock();
                // Not the first ending, or the owner is gone: nobody will take it.
                // Relaxed: after `set_outcome`'s SeqCst fence, against the one in
                // `release_owner`; the payload itself passes under the lock.
                if !self.set_outcome(outcome) || self.owner_gone.load(Ordering::Relaxed) {
                    Some(payload)
                } else {
                    state.payload = Some(payload);
                    None
                }
            }
            None if !self.set_outcome(outcome) => return,
            None => None,
        };
        // Relaxed: after `set_outcome`'s SeqCst fence, against the one in `poll`; the
        // wakers themselves pass under the lock.
        let waiters = if self.listed.load(Ordering::Relaxed) {
            // Taken whole: no handle registers after the outcome, so the list is done with.
            mem::take(&mut self.lock().waiters)
        } else {
            Slots::default()
        };
        drop_payload(unclaimed);
        self.owner.wake();
        waiters.wake_all();
    }

    /// Moves the outcome from pending to `outcome`; `false` if it was already final.
    fn set_outcome(&self, outcome: Outcome) -> bool {
        // AcqRel: publishes the service's last effects (for the Acquire in `outcome`).
        let set = self
            .outcome
            .compare_exchange(
                PENDING,
                outcome.encode(),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
        if set {
            // SeqCst fence: orders the store above before `complete`'s loads of `listed`
            // and `owner_gone`, against the fences in `poll` and `release_owner`.
            fence(Ordering::SeqCst);
        }
        set
    }

    /// The outcome if recorded; otherwise registers `waker` in the slot `key` (allocating
    /// one if `key` is `None`) and returns `Pending`. On `Ready`, `key` is `None`.
    pub(crate) fn poll(&self, key: &mut Option<usize>, waker: &Waker) -> Poll<Outcome> {
        if let Some(outcome) = self.outcome() {
            // `complete` took the slot list; nothing to release.
            *key = None;
            return Poll::Ready(outcome);
        }
        let replaced = {
            let mut state = self.lock();
            // Relaxed, then a SeqCst fence: orders this store before the re-check of the
            // outcome below, against the fence in `complete`.
            self.listed.store(true, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            if let Some(outcome) = self.outcome() {
                *key = None;
                return Poll::Ready(outcome);
            }
            state.waiters.register(key, waker)
        };
        drop(replaced);
        Poll::Pending
    }

    /// [`poll`](Self::poll) for the owned handle of a spawned service: registers `waker` in
    /// the owner's own slot, without the lock.
    pub(crate) fn poll_owner(&self, waker: &Waker) -> Poll<Outcome> {
        if let Some(outcome) = self.outcome() {
            return Poll::Ready(outcome);
        }
        self.owner.register(waker);
        // Re-checked after registering: `complete` sets the outcome before it wakes `owner`.
        match self.outcome() {
            Some(outcome) => {
                // Resolved: the waker is not needed. (If `complete` already took it, it was
                // woken once for nothing, which the `Future` contract allows.)
                drop(self.owner.take());
                Poll::Ready(outcome)
            }
            None => Poll::Pending,
        }
    }

    /// Frees the slot `key`, if any: the handle stops waiting (it resolved, or was dropped).
    pub(crate) fn forget(&self, key: &mut Option<usize>) {
        let Some(k) = key.take() else { return };
        if self.outcome().is_some() {
            // `complete` took the slot list, and no slot is handed out after it.
            return;
        }
        let waker = self.lock().waiters.release(k);
        drop(waker);
    }

    /// Wakes every waiting handle without recording anything; each registers again if it is
    /// still pending when polled. The split's fan-out waker calls this when tokio wakes it.
    pub(crate) fn wake_waiting(&self) {
        let wakers = self.lock().waiters.take_wakers();
        wakers.wake();
    }

    /// Takes the stored panic payload; for the owned handle, once.
    pub(crate) fn take_payload(&self) -> Option<Payload> {
        self.lock().payload.take()
    }

    /// Called when the owned handle is dropped before it resolved: frees its slot `key`, and
    /// from now on nobody can take a payload, so drop any stored one and store no more.
    pub(crate) fn release_owner(&self, key: &mut Option<usize>) {
        // The owner's own slot, if it waited there.
        drop(self.owner.take());
        // Relaxed, then a SeqCst fence: orders this store before the read of the outcome
        // below, against the fence in `complete`.
        self.owner_gone.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        // Relaxed: only tells whether to lock; the payload passes under the lock.
        let panicked = self.outcome.load(Ordering::Relaxed) == PANICKED;
        // Without a panic no payload is stored now or later, and a split's owner that never
        // waited has no slot: nothing needs the lock.
        if !panicked && key.is_none() {
            return;
        }
        let (payload, waker) = {
            let mut state = self.lock();
            (
                state.payload.take(),
                key.take().and_then(|k| state.waiters.release(k)),
            )
        };
        drop(waker);
        drop_payload(payload);
    }

    /// Whether the owned handle is still alive, for tests.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn owner_alive(&self) -> bool {
        // SeqCst: test bookkeeping.
        !self.owner_gone.load(Ordering::SeqCst)
    }

    /// How many handles have a waker registered right now, for tests.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn registered(&self) -> usize {
        self.lock().waiters.registered()
    }

    /// How many handles own a slot right now, for tests.
    #[cfg(test)]
    pub(crate) fn allocated(&self) -> usize {
        self.lock().waiters.allocated()
    }

    /// How many slots the list has, owned or free, for tests.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn slots(&self) -> usize {
        self.lock().waiters.len()
    }
}

/// Drops a payload nobody will read. Its destructor is arbitrary user code that may panic;
/// that must not unwind out of a poll, a completion or a `Drop`, so the panic is swallowed
/// (as tokio does for task output it drops).
pub(crate) fn drop_payload(payload: Option<Payload>) {
    if let Some(payload) = payload {
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
    }
}

#[cfg(all(test, not(loom)))]
pub(crate) mod tests {
    use super::*;
    // Test bookkeeping: SeqCst, the simplest ordering to reason about.
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::task::Wake;

    /// A waker that counts how often it was woken.
    #[derive(Default)]
    pub(crate) struct Counter(AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Counter {
        pub(crate) fn count(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// A counter and a waker that counts into it.
    pub(crate) fn counter_waker() -> (Arc<Counter>, Waker) {
        let counter = Arc::new(Counter::default());
        let waker = Waker::from(Arc::clone(&counter));
        (counter, waker)
    }

    #[test]
    fn waker_of_a_moved_handle_is_replaced_not_kept() {
        let completion = Completion::new();
        let ((a, waker_a), (b, waker_b)) = (counter_waker(), counter_waker());
        let mut key = None;
        assert!(completion.poll(&mut key, &waker_a).is_pending());
        assert!(completion.poll(&mut key, &waker_b).is_pending());
        assert_eq!(completion.registered(), 1);
        assert_eq!(Arc::strong_count(&a), 2, "the stale waker was dropped");

        completion.complete(Outcome::Ok, None);
        assert_eq!((a.count(), b.count()), (0, 1), "only the latest is woken");
        assert_eq!(
            completion.poll(&mut key, &waker_b),
            Poll::Ready(Outcome::Ok)
        );
        assert_eq!(key, None);
        assert_eq!(completion.allocated(), 0);
        assert_eq!(Arc::strong_count(&b), 2, "no clone kept after the ending");
    }

    #[test]
    fn a_forgotten_slot_is_reused_and_not_woken() {
        let completion = Completion::new();
        let (counter, waker) = counter_waker();
        for _ in 0..10 {
            let mut key = None;
            assert!(completion.poll(&mut key, &waker).is_pending());
            assert_eq!(completion.allocated(), 1);
            completion.forget(&mut key);
        }
        assert_eq!(completion.allocated(), 0);
        assert_eq!(completion.slots(), 1, "each handle reused the freed slot");
        completion.complete(Outcome::Cancelled, None);
        assert_eq!(counter.count(), 0, "forgotten handles are not woken");
    }

    #[test]
    fn every_waiting_handle_is_woken_once_by_the_ending() {
        let completion = Completion::new();
        let waiters: Vec<_> = (0..6).map(|_| counter_waker()).collect();
        let mut keys = vec![None; waiters.len()];
        for (key, (_, waker)) in keys.iter_mut().zip(&waiters) {
            assert!(completion.poll(key, waker).is_pending());
        }
        assert_eq!(completion.slots(), 6);
        completion.complete(Outcome::Ok, None);
        assert!(waiters.iter().all(|(c, _)| c.count() == 1));
        // A second completion changes nothing and wakes nobody.
        completion.complete(Outcome::Cancelled, None);
        for (key, (counter, waker)) in keys.iter_mut().zip(&waiters) {
            assert_eq!(completion.poll(key, waker), Poll::Ready(Outcome::Ok));
            assert_eq!(counter.count(), 1);
            assert_eq!(Arc::strong_count(counter), 2);
        }
    }

    #[test]
    fn the_fan_out_wakes_without_freeing_slots() {
        let completion = Completion::new();
        let (counter, waker) = counter_waker();
        let mut key = None;
        assert!(completion.poll(&mut key, &waker).is_pending());
        completion.wake_waiting();
        assert_eq!(counter.count(), 1);
        assert_eq!((completion.allocated(), completion.registered()), (1, 0));
        assert!(completion.poll(&mut key, &waker).is_pending());
        assert_eq!(completion.registered(), 1, "registered again in its slot");
        completion.forget(&mut key);
        assert_eq!(completion.allocated(), 0);
    }

    #[test]
    fn payload_is_kept_for_the_owner_and_dropped_without_one() {
        struct Flag(Arc<AtomicUsize>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }

        // The owner goes before the ending, after it, or never.
        for owner_leaves_first in [Some(true), Some(false), None] {
            let completion = Completion::new();
            let drops = Arc::new(AtomicUsize::new(0));
            if owner_leaves_first == Some(true) {
                completion.release_owner(&mut None);
            }
            completion.complete(Outcome::Panicked, Some(Box::new(Flag(Arc::clone(&drops)))));
            match owner_leaves_first {
                Some(true) => assert_eq!(drops.load(Ordering::SeqCst), 1, "no taker"),
                Some(false) => {
                    assert_eq!(drops.load(Ordering::SeqCst), 0, "kept for the owner");
                    completion.release_owner(&mut None);
                    assert!(!completion.owner_alive());
                }
                None => {
                    let payload = completion.take_payload().expect("kept for the owner");
                    assert!(payload.is::<Flag>());
                    drop(payload);
                }
            }
            assert_eq!(drops.load(Ordering::SeqCst), 1);
            assert!(completion.take_payload().is_none());
        }
    }

    #[test]
    fn a_panicking_payload_destructor_is_swallowed() {
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("payload destructor");
            }
        }
        let completion = Completion::new();
        completion.release_owner(&mut None);
        completion.complete(Outcome::Panicked, Some(Box::new(Bomb)));
        assert_eq!(completion.outcome(), Some(Outcome::Panicked));
    }
}
