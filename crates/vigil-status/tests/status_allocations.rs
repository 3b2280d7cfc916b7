//! Heap allocations per service, counted by a global allocator: `spawn` costs one more than a bare `Handle::spawn`.
//!
//! Counts are per thread, so tests running in parallel do not see each other's allocations;
//! a current-thread runtime runs every task on the thread that calls `block_on`, so a
//! service's whole life is counted on that thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use tokio::runtime::{Builder, Handle, Runtime};
use tokio::task::yield_now;

/// A `System` allocator that counts, per thread, every allocation and reallocation.
struct CountingAllocator;

thread_local! {
    /// Const-initialised and without a destructor: reading it never allocates.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: a thread being torn down may still allocate; that is not counted.
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
}

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; counting only touches a const-initialised thread-local `Cell`,
// which neither allocates nor unwinds.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller upholds `alloc`'s contract, passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller upholds `alloc_zeroed`'s contract, passed on unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: the caller upholds `realloc`'s contract, passed on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `dealloc`'s contract, passed on unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// How many allocations this thread made while running `f`, and what `f` returned.
fn allocations_during<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCATIONS.get();
    let result = f();
    (ALLOCATIONS.get() - before, result)
}

/// How many allocations this thread made while awaiting `f`.
async fn allocations_awaiting(f: impl Future<Output = ()>) -> usize {
    let before = ALLOCATIONS.get();
    f.await;
    ALLOCATIONS.get() - before
}

/// The service every measurement starts: it waits once, so its handles wait too.
fn service() -> impl Future<Output = ()> + Send + 'static {
    yield_now()
}

fn runtime() -> Runtime {
    Builder::new_current_thread().build().unwrap()
}

/// Starts and ends a few services every way first, so the runtime's own queues have grown
/// to size before anything is counted.
async fn warm_up(handle: &Handle) {
    for _ in 0..64 {
        handle.spawn(service()).await.unwrap();
        vigil_status::spawn(handle, service()).1.await.unwrap();
        vigil_status::split(handle.spawn(service()))
            .1
            .await
            .unwrap();
    }
}

const ROUNDS: usize = 10;

#[test]
fn spawn_allocates_one_more_than_a_bare_spawn() {
    runtime().block_on(async {
        let handle = Handle::current();
        warm_up(&handle).await;
        for _ in 0..ROUNDS {
            let (bare, join) = allocations_during(|| handle.spawn(service()));
            join.await.unwrap();
            let (spawn, (_status, owned)) =
                allocations_during(|| vigil_status::spawn(&handle, service()));
            owned.await.unwrap();
            assert_eq!(spawn, bare + 1, "spawn: {spawn}, bare spawn: {bare}");
        }
    });
}

/// After a warm-up, checks `ROUNDS` times that a service's `life` allocates `extra` more
/// than a bare `Handle::spawn` of the same service and an await of its `JoinHandle`.
fn assert_a_life_allocates(extra: usize, life: impl AsyncFn(&Handle)) {
    runtime().block_on(async {
        let handle = Handle::current();
        warm_up(&handle).await;
        for _ in 0..ROUNDS {
            let bare = allocations_awaiting(async {
                handle.spawn(service()).await.unwrap();
            })
            .await;
            let ours = allocations_awaiting(life(&handle)).await;
            assert_eq!(
                ours,
                bare + extra,
                "ours: {ours}, bare spawn and await: {bare}"
            );
        }
    });
}

/// Start, clone status handles, await the owned handle while the service runs (it registers
/// its waker), then the status handles after the ending.
#[test]
fn a_whole_life_allocates_one_more_than_a_bare_spawn() {
    assert_a_life_allocates(1, async |handle| {
        let (status, owned) = vigil_status::spawn(handle, service());
        let clones = [status.clone(), status.clone(), status.clone()];
        owned.await.unwrap();
        for clone in clones {
            clone.await.unwrap();
        }
        status.await.unwrap();
    });
}

/// `split` keeps its mechanism, which costs one more: the fan-out waker it gives tokio.
#[test]
fn split_allocates_two_more_than_a_bare_spawn() {
    assert_a_life_allocates(2, async |handle| {
        let (status, owned) = vigil_status::split(handle.spawn(service()));
        owned.await.unwrap();
        status.await.unwrap();
    });
}

struct NoopWake;

impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

#[test]
fn status_clones_and_waiting_do_not_allocate() {
    runtime().block_on(async {
        let handle = Handle::current();
        warm_up(&handle).await;
        let (status, mut owned) = vigil_status::spawn(&handle, std::future::pending());
        let waker = Waker::from(Arc::new(NoopWake));
        let mut context = Context::from_waker(&waker);
        let (allocations, mut clones) =
            allocations_during(|| (0..100).map(|_| status.clone()).collect::<Vec<_>>());
        assert_eq!(allocations, 1, "only the Vec that holds the clones");
        let (allocations, ()) = allocations_during(|| {
            // One waiting handle at a time uses the inline slot, however often it waits.
            for clone in &mut clones {
                assert!(std::pin::Pin::new(&mut *clone)
                    .poll(&mut context)
                    .is_pending());
                drop(std::mem::replace(clone, status.clone()));
            }
            assert!(std::pin::Pin::new(&mut owned)
                .poll(&mut context)
                .is_pending());
        });
        assert_eq!(allocations, 0);
        owned.abort();
        assert!(owned.await.unwrap_err().is_cancelled());
    });
}
