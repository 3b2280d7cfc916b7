//! Capturing stacks of polls in progress: real threads, real signals, one process.
#![cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
// libc calls a test needs (the crate allows `unsafe` in `src/sys/` and its tests only).
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_profile::{CaptureError, Profiler};
use vigil_registry::{Registry, ServiceId, ServiceObj, TaskId};

/// Stops the test's services when the test ends, also when it fails: a failed assertion
/// must not leave the runtime's drop waiting forever for a thread stuck in a poll.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Waits until `id` has been inside one poll for a while (it is then blocking or spinning).
fn wait_until_in_poll<F, C>(registry: &Registry<F, C>, id: ServiceId)
where
    F: vigil_registry::MonitorFactory<C>,
    C: vigil_monitor::Clock,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while registry
        .instance_metrics(id)
        .and_then(|metrics| metrics.current_poll_duration)
        .is_none_or(|in_poll| in_poll < Duration::from_millis(20))
    {
        assert!(
            Instant::now() < deadline,
            "{id} never entered its long poll"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[inline(never)]
fn block_on_the_legacy_client(stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn sleeping_service(stop: Arc<AtomicBool>) {
    block_on_the_legacy_client(&stop);
}

#[inline(never)]
fn compute_checksums(stop: &AtomicBool) -> u64 {
    let mut checksum = 0u64;
    while !stop.load(Ordering::Relaxed) {
        for block in 0..256u64 {
            checksum = checksum.rotate_left(7) ^ block.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    checksum
}

async fn spinning_service(stop: Arc<AtomicBool>) {
    std::hint::black_box(compute_checksums(&stop));
}

#[test]
fn a_blocked_and_a_spinning_poll_show_their_functions_within_a_second() {
    let profiler = Profiler::install().unwrap();
    let registry = Registry::builder().monitor(profiler).build();
    let runtime = runtime(3);
    let stop = Arc::new(AtomicBool::new(false));
    let _stop = StopOnDrop(Arc::clone(&stop));
    let (sleeper, sleeping) = registry
        .try_start_in(
            runtime.handle(),
            ServiceObj::new("capture_sleeper", sleeping_service(Arc::clone(&stop))),
        )
        .unwrap();
    let (spinner, spinning) = registry
        .try_start_in(
            runtime.handle(),
            ServiceObj::new("capture_spinner", spinning_service(Arc::clone(&stop))),
        )
        .unwrap();
    wait_until_in_poll(&registry, sleeper);
    wait_until_in_poll(&registry, spinner);

    let asked = Instant::now();
    let stack = profiler.capture(sleeper).unwrap();
    assert!(asked.elapsed() < Duration::from_secs(1));
    assert!(stack.contains_function("nanosleep"), "{stack}");
    assert!(
        stack.contains_function("block_on_the_legacy_client"),
        "{stack}"
    );
    assert!(stack
        .thread_name()
        .is_some_and(|name| name.contains("tokio")));

    let asked = Instant::now();
    let stack = profiler.capture(spinner).unwrap();
    assert!(asked.elapsed() < Duration::from_secs(1));
    assert!(stack.contains_function("compute_checksums"), "{stack}");
    // The first frame is the interrupted instruction, inside the service's own code.
    assert!(stack.frames()[0].function().is_some(), "{stack}");

    stop.store(true, Ordering::Relaxed);
    runtime.block_on(sleeping).unwrap();
    runtime.block_on(spinning).unwrap();
    // Ended: not in a poll any more.
    assert_eq!(
        profiler.capture(sleeper),
        Err(CaptureError::NotInPoll(sleeper))
    );
}

#[test]
fn a_parked_instance_an_unknown_id_and_an_unmonitored_name_are_errors_at_once() {
    let profiler = Profiler::install().unwrap();
    let registry = Registry::builder().monitor(profiler).build();
    let runtime = runtime(1);
    let (release, parked) = tokio::sync::oneshot::channel::<()>();
    let (id, handle) = registry
        .try_start_in(
            runtime.handle(),
            ServiceObj::new("capture_parked", async move {
                let _ = parked.await;
            }),
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));

    let asked = Instant::now();
    let error = profiler.capture(id).unwrap_err();
    assert_eq!(error, CaptureError::NotInPoll(id));
    assert!(error
        .to_string()
        .contains("capture_parked#0 is not inside a poll"));

    let unknown = ServiceId::new(TaskId::new("capture_parked"), 999);
    assert_eq!(
        profiler.capture(unknown),
        Err(CaptureError::NotInPoll(unknown))
    );

    let unmonitored = ServiceId::new(TaskId::new("never_started_anywhere"), 0);
    let error = profiler.capture(unmonitored).unwrap_err();
    assert_eq!(error, CaptureError::NotMonitored(unmonitored));
    assert!(error.to_string().contains("profiler attached"), "{error}");
    // None of them waited for a thread.
    assert!(asked.elapsed() < profiler.capture_timeout());

    release.send(()).unwrap();
    runtime.block_on(handle).unwrap();
}

// Each spins in its own body: the innermost frame of the service's own code is the one a
// frame-pointer walk always recovers, whatever the code was built with. Their durations
// differ so that the optimizer cannot fold them into one function (one name).
#[inline(never)]
fn work_of_alpha() {
    let started = Instant::now();
    while started.elapsed() < Duration::from_micros(300) {
        std::hint::spin_loop();
    }
}

#[inline(never)]
fn work_of_beta() {
    let started = Instant::now();
    while started.elapsed() < Duration::from_micros(200) {
        std::hint::spin_loop();
    }
}

#[test]
fn a_capture_racing_the_end_of_a_poll_never_returns_another_polls_stack() {
    let profiler = Profiler::install().unwrap();
    let registry = Arc::new(Registry::builder().monitor(profiler).build());
    // One thread polls both, alternately: every end of an `alpha` poll is followed at once
    // by a `beta` poll on the same thread, the stack a careless capture would return.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    let mut ids = Vec::new();
    for (name, work) in [
        ("race_alpha", work_of_alpha as fn()),
        ("race_beta", work_of_beta),
    ] {
        let stop = Arc::clone(&stop);
        let (id, handle) = registry
            .try_start_in(
                runtime.handle(),
                ServiceObj::new(name, async move {
                    while !stop.load(Ordering::Relaxed) {
                        work();
                        tokio::task::yield_now().await;
                    }
                }),
            )
            .unwrap();
        ids.push(id);
        handles.push(handle);
    }
    let driver = std::thread::spawn(move || {
        runtime.block_on(async {
            for handle in handles {
                handle.await.unwrap();
            }
        });
    });

    // Both are polled by now.
    let deadline = Instant::now() + Duration::from_secs(10);
    while ids.iter().any(|id| {
        registry
            .instance_metrics(*id)
            .is_none_or(|m| m.poll_count < 10)
    }) {
        assert!(Instant::now() < deadline, "the services were not polled");
        std::thread::sleep(Duration::from_millis(5));
    }
    let (mut captured, mut not_in_poll) = (0, 0);
    let mut round = 0;
    while (captured < 100 || not_in_poll == 0)
        && Instant::now() < deadline + Duration::from_secs(10)
    {
        round += 1;
        let id = ids[round % 2];
        let (own, other) = if round % 2 == 0 {
            ("work_of_alpha", "work_of_beta")
        } else {
            ("work_of_beta", "work_of_alpha")
        };
        match profiler.capture(id) {
            Ok(stack) => {
                assert!(
                    !stack.contains_function(other),
                    "{id} got the other poll's stack:\n{stack}"
                );
                if stack.contains_function(own) {
                    captured += 1;
                }
            }
            Err(CaptureError::NotInPoll(_)) => not_in_poll += 1,
            Err(error) => panic!("{error}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    driver.join().unwrap();
    // Both answers happen: the race is real, and the captures that land name their poll.
    assert!(
        captured > 0 && not_in_poll > 0,
        "captured {captured}, not in poll {not_in_poll}"
    );
}

#[test]
fn a_thread_that_blocks_the_capture_signal_times_out_instead_of_hanging() {
    let profiler = Profiler::install().unwrap();
    let registry = Registry::builder().monitor(profiler).build();
    let runtime = runtime(2);
    let (capture_signal, _) = profiler.signals().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = Arc::clone(&stop);
    let (id, handle) = registry
        .try_start_in(
            runtime.handle(),
            ServiceObj::new("capture_deaf", async move {
                let set = signal_set(capture_signal);
                // SAFETY: `set` is a valid, initialised signal set; blocking a signal on
                // this thread only delays its delivery.
                unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
                while !stopping.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
                // SAFETY: as above; the pending capture signal is delivered now, and its
                // handler finds no request.
                unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
            }),
        )
        .unwrap();
    wait_until_in_poll(&registry, id);

    let asked = Instant::now();
    let error = profiler.capture(id).unwrap_err();
    let waited = asked.elapsed();
    assert!(
        matches!(error, CaptureError::Timeout { id: timed_out, .. } if timed_out == id),
        "{error}"
    );
    assert!(waited >= profiler.capture_timeout());
    assert!(
        waited < profiler.capture_timeout() + Duration::from_secs(2),
        "{waited:?}"
    );
    assert!(
        error.to_string().contains("blocks the capture signal"),
        "{error}"
    );

    stop.store(true, Ordering::Relaxed);
    runtime.block_on(handle).unwrap();
    // The late signal found nothing to answer; the next capture answers as usual.
    assert_eq!(profiler.capture(id), Err(CaptureError::NotInPoll(id)));
}

fn signal_set(signal: i32) -> libc::sigset_t {
    // SAFETY: zeroed is a valid `sigset_t`, which `sigemptyset` initialises.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, exclusively borrowed set.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
    }
    set
}

#[inline(never)]
fn churn_the_heap(round: u64) -> usize {
    let mut kept = Vec::new();
    for size in 1..64usize {
        let mut bytes = vec![round as u8; size * 64];
        bytes.push(1);
        kept.push(bytes.into_boxed_slice());
        if size % 3 == 0 {
            kept.swap_remove(0);
        }
    }
    kept.len()
}

#[test]
fn hundreds_of_captures_while_polls_allocate_free_panic_and_unwind() {
    let profiler = Profiler::install().unwrap();
    let registry = Registry::builder().monitor(profiler).build();
    let runtime = runtime(2);
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = Arc::clone(&stop);
    let (id, handle) = registry
        .try_start_in(
            runtime.handle(),
            ServiceObj::new("capture_chaos", async move {
                let mut round = 0u64;
                // One long poll that allocates, frees, panics and unwinds throughout.
                while !stopping.load(Ordering::Relaxed) {
                    round += 1;
                    std::hint::black_box(churn_the_heap(round));
                    let caught = std::panic::catch_unwind(|| {
                        let _ = churn_the_heap(round);
                        panic!("unwinding through a capture, round {round}");
                    });
                    assert!(caught.is_err());
                }
            }),
        )
        .unwrap();
    // The service's own panics would fill the output: print every other panic only.
    let print = std::sync::Arc::new(std::panic::take_hook());
    let printing = std::sync::Arc::clone(&print);
    std::panic::set_hook(Box::new(move |info| {
        let own = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|message| message.starts_with("unwinding through a capture"));
        if !own {
            printing(info);
        }
    }));
    wait_until_in_poll(&registry, id);
    let mut captured = 0;
    for _ in 0..300 {
        match profiler.capture(id) {
            Ok(stack) => {
                assert!(!stack.frames().is_empty());
                captured += 1;
            }
            Err(error) => panic!("{error}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    runtime.block_on(handle).unwrap();
    let _ = std::panic::take_hook();
    drop(print);
    assert_eq!(captured, 300);
}
