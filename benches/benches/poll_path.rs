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
use criterion::{BenchmarkGroup, Criterion};
use vigil_benches::ids::{clock as clocks, poll_path as ids};
use vigil_benches::VariantVisitor;
use vigil_benches::{for_each_variant, spinning, Classic, ClassicMetrics, ClockFloor};
use vigil_monitor::{Clock, DefaultClock, ServiceMonitor, StdClock};

fn main() {
    let mut criterion = vigil_benches::criterion();
    poll_path(&mut criterion);
    clock(&mut criterion);
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
