//! CPU-bound work while the profiler samples at 99 Hz, against the same work with no profile.
//!
//! One criterion iteration is one poll of a monitored future (vigil's default monitor plus
//! the profiler's [`PollMarker`](vigil_profile::PollMarker)) whose poll hashes 64 KiB
//! (FNV-1a, one byte at a time: ~50-100 µs). The first poll registers the bench thread with
//! the profiler, so a profile samples it.
//!
//! Group (read by `cargo xtask bench`; keep the ids stable):
//!
//! - `profiling/idle`: no profile running.
//! - `profiling/profiling_99hz`: another thread records profiles back to back
//!   (`Profiler::profile`, 2 s each, the default 99 Hz) for the whole case, then stops.

use std::future::{poll_fn, Future};
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;
use vigil_benches::ids::profiling as ids;
use vigil_monitor::{BusyMonitor, DefaultClock, ServiceMonitor};
use vigil_profile::Profiler;
use vigil_registry::{MonitorFactory, ServiceId, TaskId};

/// Bytes hashed per poll.
const WORK_BYTES: usize = 64 * 1024;
/// Length of each profile of the background thread: it checks its stop flag between them.
const PROFILE_LENGTH: Duration = Duration::from_secs(2);
/// The name the monitored future is marked with.
const SERVICE: &str = "profiling_bench";

fn main() {
    let profiler = Profiler::install().expect("the profiler installs on this platform");
    let mut criterion = vigil_benches::criterion();
    let mut group = criterion.benchmark_group(ids::GROUP);
    bench_work(&mut group, profiler, ids::IDLE);
    let stop = Arc::new(AtomicBool::new(false));
    let profiling = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || record_until(profiler, &stop))
    };
    bench_work(&mut group, profiler, ids::PROFILING_99HZ);
    // Relaxed: a flag; the join below waits for the profile in progress.
    stop.store(true, Ordering::Relaxed);
    let (profiles, samples) = profiling
        .join()
        .expect("the profiling thread does not panic");
    group.finish();
    eprintln!(
        "profiling: {profiles} profiles recorded while `profiling_99hz` ran, \
         {samples} samples of the bench's service"
    );
    criterion.final_summary();
}

/// Records profiles back to back until `stop` is set; returns how many it recorded, and how
/// many samples they attributed to the bench's service.
fn record_until(profiler: Profiler, stop: &AtomicBool) -> (u64, u64) {
    let (mut profiles, mut samples) = (0, 0);
    // Relaxed: a flag, read between profiles.
    while !stop.load(Ordering::Relaxed) {
        let profile = profiler
            .profile(PROFILE_LENGTH)
            .expect("no other profile runs");
        samples += profile
            .samples_by_service()
            .iter()
            .filter(|(service, _)| *service == SERVICE)
            .map(|(_, count)| count)
            .sum::<u64>();
        profiles += 1;
    }
    (profiles, samples)
}

/// Benchmarks one monitored poll that hashes [`WORK_BYTES`] per iteration.
fn bench_work(group: &mut BenchmarkGroup<'_, WallTime>, profiler: Profiler, name: &str) {
    let clock = DefaultClock::new();
    let id = ServiceId::new(TaskId::new(SERVICE), 0);
    let (marker, ()) = MonitorFactory::create(&profiler, &id, &clock);
    let monitors = (BusyMonitor::new(&clock), marker);
    let mut future = pin!(ServiceMonitor::with_monitor(hashing(), monitors, clock));
    let mut cx = Context::from_waker(black_box(Waker::noop()));
    group.bench_function(name, |b| {
        b.iter(|| black_box(future.as_mut()).poll(&mut cx).is_ready())
    });
}

/// A future whose every poll hashes [`WORK_BYTES`] and returns `Pending` (waking itself).
fn hashing() -> impl Future<Output = ()> {
    let data: Vec<u8> = (0..WORK_BYTES).map(|i| (i * 31 % 251) as u8).collect();
    poll_fn(move |cx| {
        black_box(fnv1a(black_box(&data)));
        cx.waker().wake_by_ref();
        Poll::Pending
    })
}

/// FNV-1a over `bytes`, one byte at a time (a dependent multiply per byte).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
