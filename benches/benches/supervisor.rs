//! The supervisor: a supervised start against `Registry::start_in`, and restart latency.
//!
//! Groups (keep the ids stable for `cargo xtask bench`). Runtimes are multi-thread with two
//! workers and time enabled, built and torn down outside the timed regions.
//!
//! - `supervisor_start/{start_in,supervised}`: one iteration starts 1,000 services that park
//!   forever, from the bench thread, on a fresh registry (and supervisor) and runtime:
//!   `Registry::start_in` of a `ServiceObj`, against `Supervisor::start` of a `ChildSpec`
//!   (build the spec, start the first incarnation through the registry, hand it to the
//!   supervisor's task). `Throughput::Elements(1000)`: divide by 1,000 for one start.
//! - `supervisor_restart/panic_to_next_poll`: one iteration makes a service with
//!   `Backoff::none()` panic and measures from just before the `panic!` to the first poll
//!   of the next incarnation (unwind, ending observed by the supervisor, restart through
//!   the registry, first poll).

use std::future::pending;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use vigil_benches::ids::supervisor as ids;
use vigil_benches::runtime_with_time;
use vigil_registry::{Registry, ServiceObj};
use vigil_supervisor::{Backoff, ChildSpec, Supervisor};

/// Services started per iteration of `supervisor_start`.
const STARTS: u64 = ids::STARTS;

fn main() {
    let mut criterion = vigil_benches::criterion();
    start(&mut criterion);
    restart(&mut criterion);
    criterion.final_summary();
}

fn start(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group(ids::START_GROUP);
    group.sample_size(20).sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(STARTS));
    group.bench_function(ids::START_IN, |b| {
        b.iter_custom(|iters| {
            time_starts(iters, |runtime| {
                let registry = Registry::new();
                let started = Instant::now();
                let handles: Vec<_> = (0..STARTS)
                    .map(|_| {
                        registry.start_in(runtime.handle(), ServiceObj::new("parked", pending()))
                    })
                    .collect();
                let elapsed = started.elapsed();
                drop(black_box(handles));
                elapsed
            })
        })
    });
    group.bench_function(ids::SUPERVISED, |b| {
        b.iter_custom(|iters| {
            time_starts(iters, |runtime| {
                let supervisor = Supervisor::builder().build(runtime.handle());
                let started = Instant::now();
                let ids: Vec<_> = (0..STARTS)
                    .map(|_| supervisor.start(ChildSpec::new("parked", |_ctx| pending::<()>())))
                    .collect();
                let elapsed = started.elapsed();
                drop(black_box(ids));
                elapsed
            })
        })
    });
    group.finish();
}

/// Sums `round` over `iters` fresh runtimes; each runtime is dropped untimed.
fn time_starts(iters: u64, mut round: impl FnMut(&Runtime) -> Duration) -> Duration {
    (0..iters)
        .map(|_| {
            let runtime = runtime_with_time();
            let elapsed = round(&runtime);
            drop(runtime);
            elapsed
        })
        .sum()
}

fn restart(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group(ids::RESTART_GROUP);
    let runtime = runtime_with_time();
    let supervisor = Supervisor::builder().build(runtime.handle());
    let panicked_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let (latency_tx, mut latencies) = mpsc::unbounded_channel();
    let shared = panicked_at.clone();
    let crash = supervisor.start_with_mailbox(
        ChildSpec::with_mailbox("crasher", move |_ctx, mut crash_requests| {
            let panicked_at = shared.clone();
            let latency_tx = latency_tx.clone();
            async move {
                if let Some(at) = panicked_at.lock().unwrap().take() {
                    let _ = latency_tx.send(at.elapsed());
                }
                if crash_requests.recv().await.is_some() {
                    *panicked_at.lock().unwrap() = Some(Instant::now());
                    panic!("restart me");
                }
            }
        })
        .backoff(Backoff::none())
        .intensity(u32::MAX, Duration::from_secs(1)),
        1,
    );
    // Millions of panics: the default hook would print each one.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    group.bench_function(ids::PANIC_TO_NEXT_POLL, |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    crash.send(()).await.expect("the crasher is gone");
                    total += latencies.recv().await.expect("no latency reported");
                }
                total
            })
        })
    });
    std::panic::set_hook(hook);
    group.finish();
    drop(runtime.block_on(supervisor.stop()));
}
