//! The hot poll path: ns per poll of a monitored future, vigil against its peers, in one run.
//!
//! Every variant polls the same future, one that wakes itself and returns `Pending`, in a
//! tight loop with a no-op waker (hidden behind `black_box`, as is the pinned future, so the
//! compiler can neither delete the bare loop nor hoist work out of it). One criterion
//! iteration is one poll.
//!
//! Groups (read by `cargo xtask bench`; keep the ids stable):
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
    let mut group = criterion.benchmark_group("poll_path");
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
    let mut group = criterion.benchmark_group("clock");
    let quanta_clock = quanta::Clock::new();
    let default_clock = DefaultClock::new();
    group.bench_function("default_clock", |b| b.iter(|| default_clock.now()));
    group.bench_function("std_instant", |b| b.iter(Instant::now));
    group.bench_function("quanta_raw", |b| b.iter(|| quanta_clock.raw()));
    group.bench_function("std_clock", |b| b.iter(|| StdClock.now()));
    group.finish();
}

fn poll_path_contended(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("poll_path_contended");
    bench_contended(&mut group, "bare", spinning);
    bench_contended(&mut group, "vigil_default", || {
        ServiceMonitor::wrap(spinning())
    });
    let classic = Arc::new(ClassicMetrics::default());
    bench_contended(&mut group, "classic", || {
        Classic::new(spinning(), classic.clone())
    });
    let task_monitor = tokio_metrics::TaskMonitor::new();
    bench_contended(&mut group, "tokio_metrics", || {
        task_monitor.instrument(spinning())
    });
    bench_contended(&mut group, "clock_floor", || ClockFloor::new(spinning()));
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
