//! The handlers allocate nothing: a counting allocator counts, per thread, every allocation;
//! a service whose own poll allocates nothing is captured and sampled hundreds of times
//! while it spins, and its thread's count does not move. (The handlers run on that thread.)
#![cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
// The counting allocator below is this crate's (the one allowed `unsafe`) test-only unsafe
// code: it must count from inside the service's own thread, around a signal handler.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_profile::Profiler;
use vigil_registry::{Registry, ServiceObj};

/// Counts allocations of the calling thread, then allocates with the system allocator.
struct Counting;

thread_local! {
    /// Const-initialised without a destructor: usable from inside the allocator.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to `System` unchanged; only counts on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: the caller upholds `alloc`'s contract, which `System` requires too.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: as above.
        unsafe { System.realloc(pointer, layout, size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

#[test]
fn captures_and_samples_allocate_nothing_on_the_interrupted_thread() {
    let profiler = Profiler::install().unwrap();
    let registry = Registry::builder().monitor(profiler).build();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let in_poll = Arc::new(AtomicBool::new(false));
    // What the service's thread allocated while it spun, published when it stops.
    let allocated = Arc::new(AtomicU64::new(u64::MAX));
    let (id, handle) = registry
        .try_start_in(runtime.handle(), {
            let (stop, in_poll, allocated) = (stop.clone(), in_poll.clone(), allocated.clone());
            ServiceObj::new("allocation_free", async move {
                let before = ALLOCATIONS.with(Cell::get);
                in_poll.store(true, Ordering::Release);
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
                let after = ALLOCATIONS.with(Cell::get);
                allocated.store(after - before, Ordering::Release);
            })
        })
        .unwrap();
    while !in_poll.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(1));
    }

    let mut captured = 0;
    for _ in 0..300 {
        if profiler.capture(id).is_ok() {
            captured += 1;
        }
    }
    // And CPU samples on the same thread, for a second of its spinning.
    let started = Instant::now();
    let profile = profiler.profile(Duration::from_secs(1)).unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    runtime.block_on(handle).unwrap();

    assert_eq!(captured, 300);
    let samples = profile
        .samples_by_service()
        .into_iter()
        .find(|(service, _)| *service == "allocation_free")
        .map_or(0, |(_, samples)| samples);
    // Sampling runs on CPU time: on a loaded machine the spinning thread gets a share of a
    // core, so ask only for enough samples to have run the handler many times.
    assert!(samples >= 10, "{samples} samples");
    assert_eq!(
        allocated.load(Ordering::Acquire),
        0,
        "the handlers allocated"
    );
}
