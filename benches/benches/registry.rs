//! The registry's starts: scaling, against a bare spawn, from N threads at once.
//!
//! Groups (read by `cargo xtask bench`; keep the ids stable). Runtimes are multi-thread with
//! two workers and are built, and torn down, outside the timed regions. The snapshot groups
//! are in `registry_snapshot.rs`.
//!
//! - `registry_start/{1000,10000,100000}`: one iteration starts N instances of one name that
//!   park forever, on a fresh registry and runtime. The criterion estimate is the time of
//!   all N starts (`Throughput::Elements(N)`); divide by N for the per-start time (the
//!   xtask does). Dividing inside `iter_custom` would mislead criterion's iteration-count
//!   planning, which sizes batches from the times it is given.
//! - `registry_start_bare_spawn/{1000,10000,100000}`: the same with a bare `Handle::spawn`
//!   of the same future, the reference for how much of the growth is tokio's own.
//! - `registry_spawn/{bare_spawn,start_in,bare_spawn_await,start_in_await}`: one iteration
//!   is one start of a future that completes at once, issued from a task on a runtime worker
//!   (where services usually start other services, and where a bare spawn is cheapest, so
//!   the ratio is the strict one). `*_await` also awaits the join handle.
//! - `registry_threads/{same_name,different_names}/{1,2,4,8}`: N std threads (not runtime
//!   workers), released together by a barrier, each start parked instances on one shared
//!   fresh registry and runtime; `same_name` gives every thread the same name,
//!   `different_names` one name per thread. One iteration is one start on each of the N
//!   threads; the estimate is the wall time from the first thread's first start to the last
//!   thread's last start, so it is wall time per start per thread (divided by N, the wall
//!   time per start of all the threads together). With one thread both cases are the same
//!   code (two independent measurements of it). On two cores, 4 and 8 threads oversubscribe
//!   the CPUs, which the runtime's two workers also share: that is part of what the figure
//!   shows.

use std::future::{pending, Future};
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use tokio::runtime::{Handle, Runtime};
use vigil_benches::ids::registry as ids;
use vigil_benches::runtime;
use vigil_registry::{Registry, ServiceObj};

/// Starting threads in `registry_threads/*/N`.
/// One name per thread in `registry_threads/different_names/N`.
const THREAD_NAMES: [&str; 8] = [
    "thread_0", "thread_1", "thread_2", "thread_3", "thread_4", "thread_5", "thread_6", "thread_7",
];

fn main() {
    let mut criterion = vigil_benches::criterion();
    start_scaling(&mut criterion);
    start_against_spawn(&mut criterion);
    threads(&mut criterion);
    criterion.final_summary();
}

/// A service that is polled once and then parks forever.
fn parked(name: &'static str) -> ServiceObj {
    ServiceObj::new(name, pending::<()>())
}

fn start_scaling(criterion: &mut Criterion) {
    bench_starts(criterion, ids::START_GROUP, |registry, handle| {
        registry.start_in(handle, parked("parked"))
    });
    // The reference: what tokio alone does with as many tasks (growth of its task list,
    // fresh memory, workers polling the new tasks on the same two cores).
    bench_starts(criterion, ids::START_BARE_SPAWN_GROUP, |_, handle| {
        handle.spawn(pending::<()>())
    });
}

/// `group/N` for each N: one iteration runs `start` N times on a fresh registry and runtime,
/// keeping the join handles (dropped, with the runtime, outside the timed region).
fn bench_starts<H>(criterion: &mut Criterion, group: &str, start: fn(&Registry, &Handle) -> H) {
    let mut group = criterion.benchmark_group(group);
    // One iteration is up to 100k starts plus a runtime: few, flat samples.
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    for services in ids::START_COUNTS {
        group.throughput(Throughput::Elements(services));
        group.bench_with_input(
            BenchmarkId::from_parameter(services),
            &services,
            |b, &services| {
                b.iter_custom(|iters| {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        let runtime = runtime();
                        let registry = Registry::new();
                        let mut handles = Vec::with_capacity(services as usize);
                        let start_time = Instant::now();
                        for _ in 0..services {
                            handles.push(start(&registry, runtime.handle()));
                        }
                        timed += start_time.elapsed();
                        // Untimed: detach the handles, then shut the runtime down.
                        drop(handles);
                        drop(runtime);
                    }
                    timed
                })
            },
        );
    }
    group.finish();
}

fn start_against_spawn(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group(ids::SPAWN_GROUP);
    let runtime = runtime();
    let registry = Arc::new(Registry::new());

    group.bench_function(ids::BARE_SPAWN, |b| {
        b.iter_custom(|iters| {
            time_on_worker(&runtime, iters, |handle, _| {
                drop(black_box(handle.spawn(async {})));
                async {}
            })
        })
    });
    let shared = registry.clone();
    group.bench_function(ids::START_IN, |b| {
        b.iter_custom(|iters| {
            let registry = shared.clone();
            time_on_worker(&runtime, iters, move |handle, _| {
                let service = ServiceObj::new("spawned", async {});
                drop(black_box(registry.start_in(handle, service)));
                async {}
            })
        })
    });
    group.bench_function(ids::BARE_SPAWN_AWAIT, |b| {
        b.iter_custom(|iters| {
            time_on_worker(&runtime, iters, |handle, _| {
                let join = handle.spawn(async {});
                async move { black_box(join.await).expect("task failed") }
            })
        })
    });
    let shared = registry.clone();
    group.bench_function(ids::START_IN_AWAIT, |b| {
        b.iter_custom(|iters| {
            let registry = shared.clone();
            time_on_worker(&runtime, iters, move |handle, _| {
                let service = ServiceObj::new("awaited", async {});
                let join = registry.start_in(handle, service);
                async move { black_box(join.await).expect("service failed") }
            })
        })
    });
    group.finish();
}

/// Runs `iters` rounds of `round` (which starts something, returning what to await) from a
/// task on a runtime worker, and returns the time they took.
fn time_on_worker<R, W>(runtime: &Runtime, iters: u64, mut round: R) -> Duration
where
    R: FnMut(&Handle, u64) -> W + Send + 'static,
    W: Future<Output = ()> + Send,
{
    let driver = runtime.spawn(async move {
        let handle = Handle::current();
        let start = Instant::now();
        for i in 0..iters {
            round(&handle, i).await;
        }
        start.elapsed()
    });
    runtime.block_on(driver).expect("benchmark driver panicked")
}

fn threads(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group(ids::THREADS_GROUP);
    for (case, same_name) in [(ids::SAME_NAME, true), (ids::DIFFERENT_NAMES, false)] {
        for threads in ids::THREAD_COUNTS {
            let names: Vec<&'static str> = if same_name {
                vec!["shared"; threads]
            } else {
                THREAD_NAMES[..threads].to_vec()
            };
            group.bench_function(BenchmarkId::new(case, threads), |b| {
                b.iter_custom(|iters| {
                    let runtime = runtime();
                    let registry = Registry::new();
                    let elapsed = concurrent_starts(&registry, runtime.handle(), &names, iters);
                    // Untimed: the instances die with the runtime.
                    drop(runtime);
                    elapsed
                })
            });
        }
    }
    group.finish();
}

/// One thread per entry of `names` starts `iters` parked instances of that name, all
/// released by one barrier; returns the wall time from the earliest thread's first start to
/// the latest thread's last (a thread the OS schedules late still counts in full).
fn concurrent_starts(
    registry: &Registry,
    handle: &Handle,
    names: &[&'static str],
    iters: u64,
) -> Duration {
    let barrier = &Barrier::new(names.len());
    thread::scope(|scope| {
        let threads: Vec<_> = names
            .iter()
            .map(|&name| {
                scope.spawn(move || {
                    let mut handles = Vec::with_capacity(iters as usize);
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..iters {
                        handles.push(registry.start_in(handle, parked(name)));
                    }
                    // The handles go back to be detached once every thread is done.
                    (start, Instant::now(), handles)
                })
            })
            .collect();
        let spans: Vec<_> = threads
            .into_iter()
            .map(|thread| thread.join().expect("starting thread panicked"))
            .collect();
        let first_start = spans.iter().map(|(start, _, _)| *start).min();
        let last_end = spans.iter().map(|(_, end, _)| *end).max();
        match (first_start, last_end) {
            (Some(first_start), Some(last_end)) => last_end.duration_since(first_start),
            _ => Duration::ZERO,
        }
    })
}
