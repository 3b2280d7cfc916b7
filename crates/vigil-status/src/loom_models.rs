//! Loom models of the completion protocol, driven through the real handles and the real
//! wrapper of a spawned service (no tokio: the wrapper is polled by hand, as a worker would).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p vigil-status --release loom` (`.ci/run`
//! bounds them with `LOOM_MAX_PREEMPTIONS`). A handle waits with `loom::future::block_on`,
//! which parks its thread until woken: a lost wakeup leaves every thread blocked, which loom
//! reports as a deadlock. Each model was checked against deliberate breaks of the code,
//! named in its doc comment: with the break, the model fails.

use std::future::Future;
use std::panic;
use std::pin::Pin;
// Test bookkeeping, read after the threads joined: SeqCst, the simplest to reason about.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::task::{Context, Poll, Waker};

use loom::future::block_on;
use loom::thread;

use crate::completion::Outcome;
use crate::shared::Source;
use crate::spawned::Spawned;
use crate::{ServiceError, ServiceStatusError};

/// How the service ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Returns,
    Panics,
    /// Dropped before it ends, as tokio does on abort or runtime shutdown.
    IsDropped,
}

/// The panic payload: counts its drops.
struct Boom(Arc<AtomicUsize>);

impl Drop for Boom {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// `Pending` once, then its ending.
struct Service {
    polled: bool,
    ending: Ending,
    boom: Option<Boom>,
}

impl Future for Service {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if !std::mem::replace(&mut self.polled, true) {
            return Poll::Pending;
        }
        match self.ending {
            Ending::Returns => Poll::Ready(()),
            Ending::Panics => panic::panic_any(self.boom.take().expect("panics once")),
            Ending::IsDropped => Poll::Pending,
        }
    }
}

/// Keeps the expected panics (the service's `Boom`) quiet.
fn quiet_expected_panics() {
    static QUIET: Once = Once::new();
    QUIET.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<Boom>() {
                previous(info);
            }
        }));
    });
}

fn status_kind(result: &Result<(), ServiceStatusError>) -> Ending {
    match result {
        Ok(()) => Ending::Returns,
        Err(error) if error.is_panic() => Ending::Panics,
        Err(_) => Ending::IsDropped,
    }
}

fn owned_kind(result: &Result<(), ServiceError>) -> Ending {
    status_kind(&result.as_ref().map(|_| ()).map_err(ServiceError::status))
}

/// A waker that counts its wakeups.
#[derive(Default)]
struct Wakes(AtomicUsize);

impl std::task::Wake for Wakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// What the owned handle does.
#[derive(Debug, Clone, Copy)]
enum Owner {
    /// Awaits the ending, and takes the payload of a panic.
    Awaits,
    /// Is dropped without waiting: a payload then has no taker.
    Leaves,
}

/// One service ending as `ending`, polled to its end (or dropped) on one thread, its owned
/// handle on a second, a status handle awaiting on a third (the model's main thread).
///
/// Checks: every handle that waits is woken (else loom reports a deadlock) and sees the
/// ending the service had; the payload goes to an owner that awaited, or is dropped as soon
/// as the owner is gone and the ending known (never kept, never dropped twice); a handle
/// that resolved holds nothing, and nothing leaks.
fn model(ending: Ending, owner: Owner) {
    model_with(ending, owner, false);
}

/// [`model`], and with `quitter` a fourth thread: a status handle polled once and dropped
/// (a `select!` that took another branch), racing the ending for its slot.
fn model_with(ending: Ending, owner: Owner, quitter: bool) {
    quiet_expected_panics();
    let mut builder = loom::model::Builder::new();
    if quitter {
        // Four threads: two preemptions explore it in seconds, three take minutes.
        builder.preemption_bound = Some(2);
    }
    builder.check(move || {
        let drops = Arc::new(AtomicUsize::new(0));
        let service = Service {
            polled: false,
            ending,
            boom: Some(Boom(Arc::clone(&drops))),
        };
        let (shared, tracked) = Spawned::track(service);
        let (status, owned) = crate::handles(Source::Spawned(Arc::clone(&shared)));

        let worker = thread::spawn(move || {
            let mut tracked = Box::pin(tracked);
            let mut cx = Context::from_waker(Waker::noop());
            for _ in 0..2 {
                if tracked.as_mut().poll(&mut cx).is_ready() {
                    return;
                }
            }
            // Still pending after its last poll: aborted.
            drop(tracked);
        });
        let owner_thread = thread::spawn(move || match owner {
            Owner::Awaits => Some(block_on(owned)),
            Owner::Leaves => {
                drop(owned);
                None
            }
        });
        let quitter = quitter.then(|| {
            let (mut status, shared) = (status.clone(), Arc::clone(&shared));
            thread::spawn(move || {
                let wakes = Arc::new(Wakes::default());
                let waker = Waker::from(Arc::clone(&wakes));
                let _ = Pin::new(&mut status).poll(&mut Context::from_waker(&waker));
                drop(status);
                // Still pending after the drop: the ending comes later, and must not wake a
                // handle that is gone. (If it came first, its wakeup may land after the drop.)
                let gone_first = shared.completion().outcome().is_none();
                (gone_first, wakes)
            })
        });
        let seen = block_on(status.clone());
        if let Some(quitter) = quitter {
            let (gone_first, wakes) = quitter.join().unwrap();
            if gone_first {
                assert_eq!(
                    wakes.0.load(Ordering::SeqCst),
                    0,
                    "a handle that gave up was woken"
                );
            }
        }
        worker.join().unwrap();
        let owned_result = owner_thread.join().unwrap();

        assert_eq!(status_kind(&seen), ending);
        assert!(status.is_finished());
        let expected_outcome = match ending {
            Ending::Returns => Outcome::Ok,
            Ending::Panics => Outcome::Panicked,
            Ending::IsDropped => Outcome::Cancelled,
        };
        assert_eq!(shared.completion().outcome(), Some(expected_outcome));
        if let Some(result) = owned_result {
            assert_eq!(owned_kind(&result), ending);
            if let Some(payload) = result.err().and_then(ServiceError::into_panic) {
                assert!(payload.is::<Boom>());
                assert_eq!(
                    drops.load(Ordering::SeqCst),
                    0,
                    "dropped before it was taken"
                );
            }
        }
        // Every path has dropped the payload by now, exactly once: the owner's copy just
        // above, or the completion's, with the status handle still alive.
        assert_eq!(drops.load(Ordering::SeqCst), 1, "payload drops");
        assert!(shared.completion().take_payload().is_none());
        assert_eq!(
            shared.completion().allocated(),
            0,
            "a resolved handle kept its slot"
        );
        drop(status);
        assert_eq!(
            Arc::strong_count(&shared),
            1,
            "a handle or the wrapper leaked"
        );
    });
}

/// Caught: `Completion::poll` without its re-check of the outcome after setting `listed`
/// (a status handle registers in a list `complete` has already taken: its next poll finds
/// its slot gone, which `Slots::register` treats as unreachable).
#[test]
fn loom_status_and_owner_see_a_return() {
    model(Ending::Returns, Owner::Awaits);
}

/// Caught: `Completion::poll_owner` without its re-check after registering (the owner is
/// never woken: deadlock).
#[test]
fn loom_status_and_owner_see_a_panic_and_the_owner_takes_the_payload() {
    model(Ending::Panics, Owner::Awaits);
}

/// Caught: `complete` storing the payload without reading `owner_gone` (kept after the
/// owner left, until the last handle goes: the drop count is 0 when checked).
#[test]
fn loom_a_payload_nobody_will_take_is_dropped_once() {
    model(Ending::Panics, Owner::Leaves);
}

#[test]
fn loom_status_and_owner_see_a_cancellation() {
    model(Ending::IsDropped, Owner::Awaits);
}

/// Caught: `Completion::forget` returning without freeing the slot while the ending is
/// pending (the ending then wakes the waker of a handle that is gone).
#[test]
fn loom_a_status_handle_that_gives_up_frees_its_slot() {
    model_with(Ending::Returns, Owner::Awaits, true);
}
