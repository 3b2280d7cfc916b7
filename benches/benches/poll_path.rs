//! The hot poll path: ns per poll of a monitored future, vigil against its peers, in one run.
//!
//! Every variant polls the same future, one that wakes itself and returns `Pending`, in a
//! tight loop with a no-op waker (hidden behind `black_box`, as is the pinned future, so the
//! compiler can neither delete the bare loop nor hoist work out of it). One criterion
//! iteration is one poll.
//!
//! Groups (read by `cargo xtask bench`; the ids are in [`vigil_benches::ids`]):
//!
//! - `poll_path/*`: one thread; the variants of [`vigil_benches::for_each_variant`] (`bare`,
//!   `vigil_default`, `vigil_stack`, `vigil_full_stack`, `vigil_scheduling`,
//!   `vigil_all_monitors`, `vigil_profiler`, `classic`, `tokio_metrics`, `vigil_std_clock`,
//!   `clock_floor`).
//! - `clock/*`: one clock read per iteration: `default_clock` (vigil's production clock),
//!   `std_instant`, `quanta_raw`, `std_clock` (vigil's `StdClock`).
//! - `wake_path/<case>/<variant>`: a future that parks its waker and stays pending, woken
//!   from outside its poll through the parked waker (as an I/O driver or a channel's sender
//!   wakes a task), for the variants of [`vigil_benches::for_each_wake_variant`] (`bare`,
//!   `vigil_default`, `vigil_scheduling`, `tokio_metrics`). Cases, one iteration each:
//!   `unwoken_poll` is one poll with no wake before it; `wake_then_poll` is one wake, then
//!   the poll it leads to (the cycle of a service woken by I/O); `wake_again` is one more
//!   wake of a future already woken and not polled since.
//! - `poll_path_contended/*`: two threads, each polling its own future; the estimate is wall
//!   time per poll per thread. vigil uses one monitor instance per future, allocated one
//!   after the other as the registry does; the classic design and `TaskMonitor` share one
//!   metrics struct between both futures, as those designs are used.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::{Arc, Barrier};
use std::task::{Context, Waker};
use std::thread;
use std::time::Instant;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion};
use vigil_benches::ids::{clock as clocks, poll_path as ids, wake_path as wakes};
use vigil_benches::{for_each_variant, spinning, Classic, ClassicMetrics, ClockFloor};
use vigil_benches::{for_each_wake_variant, parked, ParkedWaker, VariantVisitor};
use vigil_monitor::{Clock, DefaultClock, ServiceMonitor, StdClock};

fn main() {
    let mut criterion = vigil_benches::criterion();
    poll_path(&mut criterion);
    clock(&mut criterion);
    wake_path(&mut criterion);
    poll_path_contended(&mut criterion);
    criterion.final_summary();
}

fn poll_path(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group(ids::GROUP);
    for_each_variant(&mut BenchPoll { group: &mut group });
    group.finish();
}

/// Benchmarks one poll of each variant per iteration.
struct BenchPoll<'a, 'b> {
    group: &'a mut BenchmarkGroup<'b, WallTime>,
}

impl VariantVisitor for BenchPoll<'_, '_> {
    fn visit<F: Future>(&mut self, name: &'static str, future: F) {
        let mut future = pin!(future);
        let mut cx = Context::from_waker(black_box(Waker::noop()));
        self.group.bench_function(name, |b| {
            b.iter(|| black_box(future.as_mut()).poll(&mut cx).is_ready())
        });
    }
}

fn clock(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group(clocks::GROUP);
    let quanta_clock = quanta::Clock::new();
    let default_clock = DefaultClock::new();
    group.bench_function(clocks::DEFAULT_CLOCK, |b| b.iter(|| default_clock.now()));
    group.bench_function(clocks::STD_INSTANT, |b| b.iter(Instant::now));
    group.bench_function(clocks::QUANTA_RAW, |b| b.iter(|| quanta_clock.raw()));
    group.bench_function(clocks::STD_CLOCK, |b| b.iter(|| StdClock.now()));
    group.finish();
}

fn wake_path(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group(wakes::GROUP);
    let parked_waker = ParkedWaker::default();
    let mut bench = BenchWake {
        group: &mut group,
        parked: parked_waker.clone(),
    };
    for_each_wake_variant(&mut bench, || parked(parked_waker.clone()));
    group.finish();
}

/// Benchmarks each wake case of each variant; `parked` is where the visited future parks its
/// waker.
struct BenchWake<'a, 'b> {
    group: &'a mut BenchmarkGroup<'b, WallTime>,
    parked: ParkedWaker,
}

impl VariantVisitor for BenchWake<'_, '_> {
    fn visit<F: Future>(&mut self, name: &'static str, future: F) {
        let mut future = pin!(future);
        let mut cx = Context::from_waker(black_box(Waker::noop()));
        let parked = &self.parked;
        let mut poll = move || black_box(future.as_mut()).poll(&mut cx).is_ready();
        // The first poll parks this variant's waker and takes its one-time set-up.
        poll();
        self.group
            .bench_function(BenchmarkId::new(wakes::UNWOKEN_POLL, name), |b| {
                b.iter(&mut poll)
            });
        self.group
            .bench_function(BenchmarkId::new(wakes::WAKE_THEN_POLL, name), |b| {
                b.iter(|| {
                    parked.wake_by_ref();
                    poll()
                })
            });
        // Woken once here, and never polled again: every iteration is a repeated wake.
        parked.wake_by_ref();
        self.group
            .bench_function(BenchmarkId::new(wakes::WAKE_AGAIN, name), |b| {
                b.iter(|| parked.wake_by_ref())
            });
    }
}

fn poll_path_contended(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group(ids::CONTENDED_GROUP);
    bench_contended(&mut group, ids::BARE, spinning);
    bench_contended(&mut group, ids::VIGIL_DEFAULT, || {
        ServiceMonitor::wrap(spinning())
    });
    let classic = Arc::new(ClassicMetrics::default());
    bench_contended(&mut group, ids::CLASSIC, || {
        Classic::new(spinning(), classic.clone())
    });
    let task_monitor = tokio_metrics::TaskMonitor::new();
    bench_contended(&mut group, ids::TOKIO_METRICS, || {
        task_monitor.instrument(spinning())
    });
    bench_contended(&mut group, ids::CLOCK_FLOOR, || ClockFloor::new(spinning()));
    group.finish();
}

/// Benchmarks two threads polling one future each; `make` builds both futures on the calling
/// thread before they move out.
fn bench_contended<F, M>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, make: M)
where
    F: Future + Send,
    M: Fn() -> F,
{
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let futures = [make(), make()];
            let barrier = &Barrier::new(futures.len());
            thread::scope(|scope| {
                let threads = futures.map(|future| {
                    scope.spawn(move || {
                        let mut future = pin!(future);
                        let mut cx = Context::from_waker(black_box(Waker::noop()));
                        barrier.wait();
                        let start = Instant::now();
                        for _ in 0..iters {
                            black_box(black_box(future.as_mut()).poll(&mut cx).is_ready());
                        }
                        start.elapsed()
                    })
                });
                // Wall time per poll per thread: the slower thread's time for `iters` polls.
                threads
                    .into_iter()
                    .map(|thread| thread.join().expect("polling thread panicked"))
                    .max()
                    .unwrap_or_default()
            })
        })
    });
}
