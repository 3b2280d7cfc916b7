//! Registry snapshots: warm, cold, on a churned heap, against the memory floor; starts under them.
//!
//! Groups (read by `cargo xtask bench`; keep the ids stable). Runtimes are multi-thread with
//! two workers. A group's runtime, registry and live instances are built the first time one
//! of its benchmarks runs (so a filter that skips the group skips the setup too) and torn
//! down after the group, outside the timed regions. Every `registry_snapshot*` group has
//! `Throughput::Elements(10_000)`: divide an estimate by 10k for the cost per live service
//! (the xtask does).
//!
//! - `registry_snapshot/10000`: warm. One iteration is one `metrics()` call (criterion's
//!   `iter`, which also drops the previous result) on a registry with 10k live instances of
//!   one name that park forever, called back to back, so the registry's memory is as cached
//!   as it gets.
//! - `registry_snapshot_cold/10000`: the same registry; one iteration evicts the caches
//!   (untimed: a [`CacheEvictor`] writes and reads 64 MiB, twice the reference VM's 32 MiB
//!   L3) and then times one `metrics()` call (`iter_custom`); the result is dropped untimed.
//! - `registry_snapshot_floor/{warm,cold}`: the memory floor. One iteration is one
//!   sequential read ([`sum_words`]) of `10_000 * Registry::SLOT_BYTES` bytes (a slab slot: the
//!   monitor's `RawMetrics` and the slot's state) from one
//!   `Vec`, the bytes of the per-instance state a snapshot reads today: back to back
//!   (`warm`), or after the same untimed eviction with only the read timed (`cold`).
//! - `registry_snapshot_churned/10000`: warm, as `registry_snapshot`, on a fresh registry and
//!   runtime on which, before the 10k live instances were started, 1,000,000 short-lived
//!   instances of the same name were started and awaited (1,000 at a time; untimed setup,
//!   about a second on the reference VM, printed), so the live instances are allocated from
//!   a heap that many frees in completion order have fragmented, as in a long-running
//!   process, instead of from fresh memory.
//! - `registry_start_under_snapshots/{alone,with_snapshots,with_other_snapshots}`: start
//!   latency while snapshots run, and whose snapshots slow it. Each case starts from a
//!   registry with 10k live parked instances of one name, each polled once (one registry for
//!   all three cases); one std thread starts parked instances of the SAME name on it, one at
//!   a time. One iteration is one start (`ServiceObj::new` and `start_in`); starts are timed
//!   in batches of 100, and after each batch (untimed) its instances are aborted and awaited,
//!   so the name keeps 10k live instances (plus at most one batch) however long criterion
//!   runs. In `alone` nothing else runs. In `with_snapshots` another std thread calls
//!   `metrics()` on the SAME registry back to back (dropping each result) from before the
//!   first timed start to after the last; it is stopped and joined outside the timed region.
//!   In `with_other_snapshots` that thread does exactly the same on ANOTHER registry, built
//!   the same way (10k live parked instances of the same name, each polled once, on its own
//!   undriven current-thread runtime) once, the first time the case runs, outside the timed
//!   region: the starts and those snapshots share no registry state, only the machine. This
//!   case exists to separate the two causes of a slower start: `with_other_snapshots / alone`
//!   is what a second CPU busy with a snapshot's work costs a start on this machine (whatever
//!   the two CPUs share: caches, memory bandwidth, a host core), and `with_snapshots /
//!   with_other_snapshots` is what is left for the registry itself (its locks, the cache
//!   lines a start and a snapshot both touch). The starting thread is pinned to CPU 0 and the
//!   snapshot thread to CPU 1: unpinned, on the 2-core VM, the mean start under snapshots
//!   flipped from one criterion batch to the next between about 1 µs and tens of µs, with
//!   where the OS happened to run the two threads. The instances run on current-thread
//!   runtimes that are never driven while anything is timed (the starter's is driven between
//!   batches, untimed: it polls, aborts and awaits the batch), so no runtime worker competes
//!   with the two measured threads for the two CPUs: with a two-worker runtime, a thread that
//!   only streamed memory (no registry at all) on CPU 1 already made starts 1.6x slower. The
//!   xtask reports `with_snapshots / alone` against the target and `with_snapshots /
//!   with_other_snapshots` next to it. (No throughput: the estimate is already per start.)

use std::future::pending;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, Once};
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput};
use tokio::runtime::{Builder, Handle, Runtime};
use vigil_benches::ids::snapshot as ids;
use vigil_benches::{
    floor_words, pin_current_thread, runtime, sum_words, CacheEvictor, EVICTION_BYTES,
};
use vigil_registry::{Registry, ServiceObj};

/// Live services in every snapshot benchmark.
const SNAPSHOT_SERVICES: u64 = ids::SERVICES;
/// Short-lived services started and finished before `registry_snapshot_churned` starts its
/// live ones.
const CHURNED_SERVICES: u64 = ids::CHURNED_SERVICES;
/// Short-lived services started before awaiting them, during the churn.
const CHURN_BATCH: u64 = 1_000;
/// The one name of the snapshot registries' services.
const NAME: &str = "snapshot";
/// Starts timed together in `registry_start_under_snapshots`, then aborted untimed.
const START_BATCH: usize = 100;
/// The CPU of the thread that starts services in `registry_start_under_snapshots`.
const STARTER_CPU: usize = 0;
/// The CPU of the thread that takes snapshots back to back, apart from the starting thread's,
/// as on any host with a core to spare.
const SNAPSHOT_CPU: usize = 1;

fn main() {
    let mut criterion = vigil_benches::criterion();
    snapshot_warm_and_cold(&mut criterion);
    snapshot_floor(&mut criterion);
    snapshot_churned(&mut criterion);
    start_under_snapshots(&mut criterion);
    criterion.final_summary();
}

/// A runtime and a registry with live instances, kept together until dropped.
struct LiveRegistry<H> {
    registry: Registry,
    /// The live instances' join handles: dropping them detaches the instances.
    _handles: Vec<H>,
    /// Declared last: shut down after the registry and the handles are gone.
    runtime: Runtime,
}

/// Starts [`SNAPSHOT_SERVICES`] instances of [`NAME`] that park forever on `registry`.
fn with_live_services(runtime: Runtime, registry: Registry) -> LiveRegistry<impl Sized> {
    let handles: Vec<_> = (0..SNAPSHOT_SERVICES)
        .map(|_| registry.start_in(runtime.handle(), ServiceObj::new(NAME, pending::<()>())))
        .collect();
    assert_eq!(registry.metrics().len() as u64, SNAPSHOT_SERVICES);
    LiveRegistry {
        registry,
        _handles: handles,
        runtime,
    }
}

fn snapshot_group<'a>(criterion: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = criterion.benchmark_group(name);
    group.throughput(Throughput::Elements(SNAPSHOT_SERVICES));
    group
}

/// `registry_snapshot/10000` and `registry_snapshot_cold/10000`, on one registry.
fn snapshot_warm_and_cold(criterion: &mut Criterion) {
    let mut live = None;
    let id = BenchmarkId::from_parameter(SNAPSHOT_SERVICES);

    let mut group = snapshot_group(criterion, ids::WARM_GROUP);
    // One call is ~0.1-1 ms: 50 samples fit the default measurement time.
    group.sample_size(50);
    group.bench_function(id.clone(), |b| {
        let live = live.get_or_insert_with(|| with_live_services(runtime(), Registry::new()));
        b.iter(|| live.registry.metrics())
    });
    group.finish();

    let mut evictor = None;
    let mut group = snapshot_group(criterion, ids::COLD_GROUP);
    cold_sampling(&mut group);
    group.bench_function(id, |b| {
        let live = live.get_or_insert_with(|| with_live_services(runtime(), Registry::new()));
        let evictor = evictor.get_or_insert_with(|| CacheEvictor::new(EVICTION_BYTES));
        b.iter_custom(|iters| {
            time_cold(evictor, iters, || {
                let started = Instant::now();
                let metrics = live.registry.metrics();
                (started.elapsed(), metrics)
            })
        })
    });
    group.finish();
}

/// Each iteration of a cold group evicts tens of MiB, milliseconds: few, flat samples.
/// Criterion sizes them from the wall time of each call, eviction included, so the group
/// still takes about its measurement time.
fn cold_sampling(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.sample_size(20).sampling_mode(SamplingMode::Flat);
}

/// Runs `timed` `iters` times, each after an untimed eviction, and sums the times it
/// reports; what it returns is dropped untimed.
fn time_cold<T>(
    evictor: &mut CacheEvictor,
    iters: u64,
    mut timed: impl FnMut() -> (Duration, T),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        evictor.evict();
        let (elapsed, output) = timed();
        total += elapsed;
        drop(black_box(output));
    }
    total
}

/// `registry_snapshot_floor/{warm,cold}`.
fn snapshot_floor(criterion: &mut Criterion) {
    let bytes = SNAPSHOT_SERVICES as usize * Registry::SLOT_BYTES;
    let mut words = None;
    let mut group = snapshot_group(criterion, ids::FLOOR_GROUP);
    group.bench_function(ids::FLOOR_WARM, |b| {
        let words = words.get_or_insert_with(|| floor_words(bytes));
        b.iter(|| sum_words(black_box(words)))
    });
    let mut evictor = None;
    cold_sampling(&mut group);
    group.bench_function(ids::FLOOR_COLD, |b| {
        let words = words.get_or_insert_with(|| floor_words(bytes));
        let evictor = evictor.get_or_insert_with(|| CacheEvictor::new(EVICTION_BYTES));
        b.iter_custom(|iters| {
            time_cold(evictor, iters, || {
                let started = Instant::now();
                let sum = sum_words(black_box(words));
                (started.elapsed(), sum)
            })
        })
    });
    group.finish();
}

/// `registry_snapshot_churned/10000`.
fn snapshot_churned(criterion: &mut Criterion) {
    let mut live = None;
    let mut group = snapshot_group(criterion, ids::CHURNED_GROUP);
    group.sample_size(50);
    group.bench_function(BenchmarkId::from_parameter(SNAPSHOT_SERVICES), |b| {
        let live = live.get_or_insert_with(|| {
            let runtime = runtime();
            let registry = Registry::new();
            let started = Instant::now();
            churn(&runtime, &registry);
            eprintln!(
                "registry_snapshot_churned: {CHURNED_SERVICES} short-lived services started \
                 and finished in {:.1} s (untimed setup)",
                started.elapsed().as_secs_f64()
            );
            with_live_services(runtime, registry)
        });
        b.iter(|| live.registry.metrics())
    });
    group.finish();
}

/// Starts and awaits [`CHURNED_SERVICES`] services of [`NAME`] that end at once,
/// [`CHURN_BATCH`] at a time, from the runtime's `block_on` thread.
fn churn(runtime: &Runtime, registry: &Registry) {
    runtime.block_on(async {
        let handle = Handle::current();
        let mut batch = Vec::with_capacity(CHURN_BATCH as usize);
        for _ in 0..CHURNED_SERVICES / CHURN_BATCH {
            batch.extend(
                (0..CHURN_BATCH)
                    .map(|_| registry.start_in(&handle, ServiceObj::new(NAME, async {}))),
            );
            for join in batch.drain(..) {
                join.await.expect("a short-lived service failed");
            }
        }
    });
}

/// Which registry, if any, the second thread of `registry_start_under_snapshots` takes
/// snapshots of while the first one starts instances.
#[derive(Debug, Clone, Copy)]
enum SnapshotsOf {
    /// No second thread.
    Nothing,
    /// The registry the starts go to.
    TheStartsRegistry,
    /// A registry of its own, with as many live instances: only the machine is shared.
    AnotherRegistry,
}

/// `registry_start_under_snapshots/{alone,with_snapshots,with_other_snapshots}`.
fn start_under_snapshots(criterion: &mut Criterion) {
    let mut live = None;
    let mut other = None;
    let unpinned = Once::new();
    let mut group = criterion.benchmark_group(ids::UNDER_SNAPSHOTS_GROUP);
    for (case, snapshots_of) in [
        (ids::ALONE, SnapshotsOf::Nothing),
        (ids::WITH_SNAPSHOTS, SnapshotsOf::TheStartsRegistry),
        (ids::WITH_OTHER_SNAPSHOTS, SnapshotsOf::AnotherRegistry),
    ] {
        group.bench_function(case, |b| {
            let live = &*live.get_or_insert_with(parked_on_undriven_runtime);
            let (runtime, registry) = (&live.runtime, &live.registry);
            let snapshotted = match snapshots_of {
                SnapshotsOf::Nothing => None,
                SnapshotsOf::TheStartsRegistry => Some(registry),
                SnapshotsOf::AnotherRegistry => Some(
                    &other
                        .get_or_insert_with(parked_on_undriven_runtime)
                        .registry,
                ),
            };
            b.iter_custom(|iters| {
                let stop = AtomicBool::new(false);
                let ready = Barrier::new(if snapshotted.is_some() { 2 } else { 1 });
                let pin = |cpu| {
                    if !pin_current_thread(cpu) {
                        unpinned.call_once(|| {
                            eprintln!(
                                "registry_start_under_snapshots: could not pin threads to CPUs \
                                 (taskset); the figures depend on where the OS runs them"
                            )
                        });
                    }
                };
                thread::scope(|scope| {
                    let snapshots = snapshotted.map(|snapshotted| {
                        scope.spawn(|| {
                            pin(SNAPSHOT_CPU);
                            ready.wait();
                            // Relaxed: a stop request, no data rides on it.
                            while !stop.load(Ordering::Relaxed) {
                                drop(black_box(snapshotted.metrics()));
                            }
                        })
                    });
                    let starter = scope.spawn(|| {
                        pin(STARTER_CPU);
                        ready.wait();
                        let elapsed = timed_starts(runtime, registry, iters);
                        // Untimed: stop the snapshots; the one in progress ends before the join.
                        stop.store(true, Ordering::Relaxed);
                        elapsed
                    });
                    let elapsed = starter.join().expect("starting thread panicked");
                    if let Some(snapshots) = snapshots {
                        snapshots.join().expect("snapshot thread panicked");
                    }
                    elapsed
                })
            })
        });
    }
    group.finish();
}

/// A registry with [`SNAPSHOT_SERVICES`] parked instances of [`NAME`], each polled once, on a
/// current-thread runtime that is then driven only when its owner asks (`block_on`): no
/// worker thread competes with the measured threads for this machine's two CPUs.
fn parked_on_undriven_runtime() -> LiveRegistry<impl Sized> {
    let undriven = Builder::new_current_thread()
        .build()
        .expect("failed to build the benchmark runtime");
    let live = with_live_services(undriven, Registry::new());
    // Every poll of a parked instance returns `Pending` and nothing wakes it: once all are
    // polled, the name's poll count is the number of instances.
    let polled = || {
        let metrics = live.registry.metrics();
        metrics.group(NAME).map_or(0, |group| group.poll_count)
    };
    live.runtime.block_on(async {
        while polled() < SNAPSHOT_SERVICES {
            tokio::task::yield_now().await;
        }
    });
    assert_eq!(polled(), SNAPSHOT_SERVICES);
    live
}

/// Starts `iters` parked instances of [`NAME`] one at a time from this thread, timed in
/// batches of [`START_BATCH`]; after each batch, untimed, aborts its instances and waits
/// until they have ended, so the name's live count comes back to where it was.
fn timed_starts(runtime: &Runtime, registry: &Registry, iters: u64) -> Duration {
    let mut timed = Duration::ZERO;
    let mut batch = Vec::with_capacity(START_BATCH);
    let mut remaining = iters;
    while remaining > 0 {
        let count = remaining.min(START_BATCH as u64);
        let started = Instant::now();
        for _ in 0..count {
            batch.push(registry.start_in(runtime.handle(), ServiceObj::new(NAME, pending::<()>())));
        }
        timed += started.elapsed();
        runtime.block_on(async {
            for join in &batch {
                join.abort();
            }
            for join in batch.drain(..) {
                join.await
                    .expect_err("a parked service can only end by being aborted");
            }
        });
        remaining -= count;
    }
    timed
}
