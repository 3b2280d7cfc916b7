//! Heap allocations per service, counted by a global allocator: `spawn` costs one more than a bare `Handle::spawn`.
//!
//! Counts are per thread, so tests running in parallel do not see each other's allocations;
//! a current-thread runtime runs every task on the thread that calls `block_on`, so a
//! service's whole life is counted on that thread.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};

use tokio::runtime::{Builder, Handle, Runtime};
use tokio::task::yield_now;

/// How many allocations this thread made while running `f`, and what `f` returned.
/// (`allocation-counter`, a dev-dependency, is this test binary's global allocator and
/// counts per thread.)
fn allocations_during<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let mut result = None;
    let info = allocation_counter::measure(|| result = Some(f()));
    (info.count_total as usize, result.expect("measured"))
}

/// How many allocations this thread made while `runtime` ran `f` to its end.
fn allocations_running(runtime: &Runtime, f: impl Future<Output = ()>) -> usize {
    allocations_during(|| runtime.block_on(f)).0
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
/// than a bare `Handle::spawn` of the same service and an await of its `JoinHandle` (each
/// run by the same `block_on`, whose own allocations, if any, both include).
fn assert_a_life_allocates(extra: usize, life: impl AsyncFn(&Handle)) {
    let runtime = runtime();
    let handle = runtime.handle().clone();
    runtime.block_on(warm_up(&handle));
    for _ in 0..ROUNDS {
        let bare = allocations_running(&runtime, async {
            handle.spawn(service()).await.unwrap();
        });
        let ours = allocations_running(&runtime, life(&handle));
        assert_eq!(
            ours,
            bare + extra,
            "ours: {ours}, bare spawn and await: {bare}"
        );
    }
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
