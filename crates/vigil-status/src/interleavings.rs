//! Seeded interleavings of the completion handshake on std threads, without tokio.
//!
//! A spawned service's wrapper is driven by hand on one thread (polled to its end, or
//! dropped as an abort would), while other threads await, drop or abandon the owned handle
//! and status handles. Every thread, and every step inside [`Completion`], pauses for a
//! seeded random while (nothing, a spin, or a yield), so thousands of seeds reach the narrow
//! windows between a lock-free read and the locked update that follows it.
//!
//! [`Completion`]: crate::completion::Completion

use std::cell::Cell;
use std::future::Future;
use std::panic;
use std::pin::Pin;
// Test bookkeeping: every atomic here is SeqCst, the simplest ordering to reason about; no
// hot path depends on it.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crate::completion::Outcome;

// The integration tests' generator, shared rather than copied; `chance` is theirs only.
#[allow(dead_code)]
#[path = "../tests/support/rng.rs"]
mod rng;

use crate::shared::Source;
use crate::spawned::Spawned;
use crate::{ServiceError, ServiceStatusError};
use rng::Rng;

const SEEDS: u64 = 3_000;

/// Longer than any seed takes by orders of magnitude: only a lost wakeup reaches it.
const HANG: Duration = Duration::from_secs(20);

thread_local! {
    /// The pause generator of this thread; `None` (no pauses) outside these tests.
    static PAUSES: Cell<Option<Rng>> = const { Cell::new(None) };
}

/// Pauses the current thread for a while chosen by its seeded generator, if it has one.
pub(crate) fn pause() {
    let Some(mut rng) = PAUSES.get() else { return };
    match rng.below(8) {
        0..=3 => {}
        4..=5 => (0..rng.below(64)).for_each(|_| std::hint::spin_loop()),
        6 => thread::yield_now(),
        _ => (0..rng.below(2_000)).for_each(|_| std::hint::spin_loop()),
    }
    PAUSES.set(Some(rng));
}

/// Gives the current thread its pause generator.
fn pause_with(seed: u64) {
    PAUSES.set(Some(Rng::new(seed)));
}

/// How the service ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    Returns,
    Panics,
    /// Dropped before it ends, as tokio does on abort or runtime shutdown.
    IsDropped,
}

/// The panic payload: counts its drops, and may panic in its destructor.
struct Boom {
    drops: Arc<AtomicUsize>,
    panics_on_drop: bool,
}

const BOOM_DESTRUCTOR: &str = "Boom's destructor panics";

impl Drop for Boom {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if self.panics_on_drop {
            panic!("{BOOM_DESTRUCTOR}");
        }
    }
}

/// The service: `Pending` for a number of polls, then its ending.
struct Service {
    pending_polls: u64,
    ending: Ending,
    boom: Option<Boom>,
}

impl Future for Service {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.pending_polls > 0 {
            self.pending_polls -= 1;
            return Poll::Pending;
        }
        match self.ending {
            Ending::Returns => Poll::Ready(()),
            Ending::Panics => panic::panic_any(self.boom.take().expect("polled once more")),
            Ending::IsDropped => Poll::Pending,
        }
    }
}

/// A waker that counts its wakeups and unparks its thread.
struct ThreadWaker {
    thread: Thread,
    wakes: AtomicUsize,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.thread.unpark();
    }
}

impl ThreadWaker {
    fn for_this_thread() -> Arc<Self> {
        Arc::new(Self {
            thread: thread::current(),
            wakes: AtomicUsize::new(0),
        })
    }

    fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }
}

/// One handle's experience on its thread, handed back to the main thread to be checked once
/// every thread (in particular the one that completes) has finished.
struct Observed<F: Future> {
    plan: Plan,
    result: Option<F::Output>,
    /// The handle, kept alive if it resolved: it must hold no waker even so.
    handle: Option<F>,
    pendings: usize,
    waker: Arc<ThreadWaker>,
}

/// What one handle does with its future on its thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    /// Polls until ready, waiting for a wakeup after every `Pending`.
    Await,
    /// Polls once, and drops the handle if that was `Pending`.
    PollOnceThenDrop,
    /// Drops the handle without polling it.
    Drop,
}

/// Carries out `plan` for `handle` on the current thread.
fn observe<F: Future + Unpin>(seed: u64, mut handle: F, plan: Plan) -> Observed<F> {
    let waker = ThreadWaker::for_this_thread();
    let as_waker = Waker::from(Arc::clone(&waker));
    let mut result = None;
    let mut pendings = 0;
    let deadline = Instant::now() + HANG;
    let polls = match plan {
        Plan::Await => usize::MAX,
        Plan::PollOnceThenDrop => 1,
        Plan::Drop => 0,
    };
    for _ in 0..polls {
        pause();
        let seen = waker.wakes();
        match Pin::new(&mut handle).poll(&mut Context::from_waker(&as_waker)) {
            Poll::Ready(output) => {
                result = Some(output);
                break;
            }
            Poll::Pending => pendings += 1,
        }
        if plan == Plan::Await {
            // The registration above promises a wakeup: wait for it.
            while waker.wakes() == seen {
                assert!(Instant::now() < deadline, "seed {seed}: lost wakeup");
                thread::park_timeout(Duration::from_millis(10));
            }
        }
    }
    pause();
    let handle = result.is_some().then_some(handle);
    Observed {
        plan,
        result,
        handle,
        pendings,
        waker,
    }
}

impl<F: Future> Observed<F> {
    /// A handle that waited was woken exactly once per `Pending`; one dropped after a
    /// `Pending` at most once (the ending may have come before the drop); and none keeps a
    /// clone of its waker, resolved (and still alive) or dropped.
    ///
    /// `lock_free` is for the owned handle, whose slot is an `AtomicWaker`: registering and
    /// re-checking the outcome are two steps, so an ending between them wakes a handle that
    /// then resolves at once. That one extra wakeup is allowed (the `Future` contract
    /// permits spurious wakeups); a missing one never is.
    fn check_wakes(&self, context: &str, lock_free: bool) {
        let wakes = self.waker.wakes();
        let pendings = self.pendings;
        let extra = usize::from(lock_free);
        match self.plan {
            Plan::Await if lock_free => assert!(
                (pendings..=pendings + extra).contains(&wakes),
                "{context}: {self:?}"
            ),
            Plan::Await => assert_eq!(wakes, pendings, "{context}: {self:?}"),
            Plan::PollOnceThenDrop | Plan::Drop => {
                assert!(wakes <= pendings + extra, "{context}: {self:?}");
            }
        }
        // Ours, and the `Waker` made of it in `observe`, which is gone by now.
        assert_eq!(
            Arc::strong_count(&self.waker),
            1,
            "{context}: a waker was kept"
        );
    }
}

impl<F: Future> std::fmt::Debug for Observed<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observed")
            .field("plan", &self.plan)
            .field("resolved", &self.result.is_some())
            .field("pendings", &self.pendings)
            .field("wakes", &self.waker.wakes())
            .finish()
    }
}

fn status_kind(result: &Result<(), ServiceStatusError>) -> Ending {
    match result {
        Ok(()) => Ending::Returns,
        Err(err) if err.is_panic() => Ending::Panics,
        Err(_) => Ending::IsDropped,
    }
}

fn owned_kind(result: &Result<(), ServiceError>) -> Ending {
    match result {
        Ok(()) => Ending::Returns,
        Err(err) if err.is_panic() => Ending::Panics,
        Err(_) => Ending::IsDropped,
    }
}

fn plan(rng: &mut Rng) -> Plan {
    match rng.below(6) {
        0 => Plan::Drop,
        1 => Plan::PollOnceThenDrop,
        _ => Plan::Await,
    }
}

/// Keeps the expected panics of these tests (the service's `Boom`, its destructor) quiet.
fn quiet_expected_panics() {
    static QUIET: Once = Once::new();
    QUIET.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let expected = payload.is::<Boom>()
                || payload
                    .downcast_ref::<String>()
                    .is_some_and(|message| message == BOOM_DESTRUCTOR);
            if !expected {
                previous(info);
            }
        }));
    });
}

fn one_seed(seed: u64) -> Ending {
    let mut rng = Rng::new(seed);
    let ending = match rng.below(3) {
        0 => Ending::Returns,
        1 => Ending::Panics,
        _ => Ending::IsDropped,
    };
    let drops = Arc::new(AtomicUsize::new(0));
    let panics_on_drop = rng.below(4) == 0;
    let service = Service {
        pending_polls: rng.below(3),
        ending,
        boom: Some(Boom {
            drops: Arc::clone(&drops),
            panics_on_drop,
        }),
    };
    let owner_plan = plan(&mut rng);
    let status_plans: Vec<Plan> = (0..1 + rng.below(3)).map(|_| plan(&mut rng)).collect();
    let context =
        format!("seed {seed}: {ending:?}, owner {owner_plan:?}, statuses {status_plans:?}");

    let (shared, tracked) = Spawned::track(service);
    let (status, owned) = crate::handles(Source::Spawned(Arc::clone(&shared)));
    let (owner, statuses) = thread::scope(|scope| {
        let service = scope.spawn(move || {
            pause_with(seed ^ 0x5E41);
            let mut tracked = Box::pin(tracked);
            let waker = Waker::noop();
            loop {
                pause();
                let done = tracked.as_mut().poll(&mut Context::from_waker(waker));
                if done.is_ready() || (ending == Ending::IsDropped && rng.below(3) == 0) {
                    break;
                }
            }
            pause();
            drop(tracked);
        });
        let owner = scope.spawn(move || {
            pause_with(seed ^ 0x0F0F);
            observe(seed, owned, owner_plan)
        });
        let statuses: Vec<_> = status_plans
            .iter()
            .enumerate()
            .map(|(i, &plan)| {
                let status = status.clone();
                scope.spawn(move || {
                    pause_with(seed ^ ((i as u64 + 1) << 32));
                    observe(seed, status, plan)
                })
            })
            .collect();
        service.join().expect("the service thread");
        let owner = owner.join().expect("the owner thread");
        let statuses: Vec<_> = statuses
            .into_iter()
            .map(|thread| thread.join().expect("a status thread"))
            .collect();
        (owner, statuses)
    });

    // Everyone agrees with what the service did, including a handle that never waited. A
    // destructor that panics as the service is dropped makes the ending a panic, as in tokio.
    let recorded = shared.completion().outcome().map(|outcome| match outcome {
        Outcome::Ok => Ending::Returns,
        Outcome::Panicked => Ending::Panics,
        Outcome::Cancelled => Ending::IsDropped,
    });
    let expected = if panics_on_drop && ending != Ending::Panics {
        Ending::Panics
    } else {
        ending
    };
    assert_eq!(recorded, Some(expected), "{context}");
    assert!(status.is_finished(), "{context}");
    let late = observe(seed, status, Plan::Await);
    assert_eq!(
        late.result.as_ref().map(status_kind),
        Some(expected),
        "{context}"
    );
    assert_eq!(late.pendings, 0, "{context}");

    // Every registration was woken exactly once, and no handle kept a waker.
    for observed in &statuses {
        observed.check_wakes(&context, false);
        if let Some(result) = &observed.result {
            assert_eq!(status_kind(result), expected, "{context}");
        }
    }
    owner.check_wakes(&context, true);
    late.check_wakes(&context, false);
    if let Some(result) = &owner.result {
        assert_eq!(owned_kind(result), expected, "{context}");
    }

    // The payload goes to an owner that saw the end, or is dropped: once either way.
    let owner_resolved = owner.result.is_some();
    let payload = owner
        .result
        .and_then(Result::err)
        .and_then(ServiceError::into_panic);
    assert_eq!(
        payload.is_some(),
        owner_resolved && expected == Ending::Panics,
        "{context}"
    );
    if let Some(payload) = payload {
        // The service's own payload, or what its destructor panicked with.
        let is_boom = payload.is::<Boom>();
        assert_eq!(is_boom, ending == Ending::Panics, "{context}");
        if is_boom {
            assert_eq!(drops.load(Ordering::SeqCst), 0, "{context}: dropped early");
        }
        let _ = panic::catch_unwind(panic::AssertUnwindSafe(move || drop(payload)));
    }
    assert_eq!(drops.load(Ordering::SeqCst), 1, "{context}: payload drops");

    drop((owner.handle, late.handle));
    drop(statuses);
    assert_eq!(
        Arc::strong_count(&shared),
        1,
        "{context}: a handle or the wrapper leaked"
    );
    expected
}

#[test]
fn completion_handshake_under_seeded_interleavings() {
    quiet_expected_panics();
    let mut endings = [0_u32; 3];
    for seed in 0..SEEDS {
        let index = match one_seed(seed) {
            Ending::Returns => 0,
            Ending::Panics => 1,
            Ending::IsDropped => 2,
        };
        endings[index] += 1;
    }
    assert!(
        endings.iter().all(|&n| n > 0),
        "every ending came up: {endings:?}"
    );
}
