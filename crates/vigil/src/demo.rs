//! Synthetic supervised services that exercise every figure vigil reports (feature `demo`).
//!
//! The `top` example and `vigil-top --demo` run these to show vigil at work without a real
//! workload. Each service stands for something a production process meets:
//!
//! | service | behaviour | what it shows |
//! |---|---|---|
//! | `ingest` | computes in 5 ms slices, yielding between them | ~100 % busy, many polls |
//! | `bursty` | sleeps 1.5 s, then works hard for 1.5 s | utilization rising and falling |
//! | `idle` | waits for the shutdown | 0 % busy, completes on shutdown |
//! | `dispatcher` | starts a short-lived `job` instance every 250 ms (each lives 600 ms) | instance ids that keep growing, endings counted per name |
//! | `crasher` | panics 1.5 s after each start | restarts with exponential backoff, new ids, panic messages |
//! | `flaky_config` | fails at once (`Err`) | failures, then given up after 3 restarts in 30 s |
//! | `stuck` | 3 s after each block, blocks its thread inside one poll for 2.5 s (in `wait_for_legacy_lock`); on shutdown, blocks past the deadline | STUCK while in that poll, and where (its stack); reported `abandoned` with its in-poll time |
//! | `deaf` | ignores the shutdown request | aborted at the shutdown deadline |
//! | `orders` | takes orders from its mailbox of [`ORDERS_CAPACITY`], 10 ms each (waiting on a rate-limited downstream: quick polls) | a mailbox that fills: depth, oldest wait, the *backlogged* verdict |
//! | `order_feed` | `try_send`s 200 orders a second to `orders` | more than it drains: rejections once full |
//! | `batch` | from 8 s after its start, every 20 s, starts one CPU-bound `batch_job` per runtime worker, each for 6 s | the runtime saturating: every other service waits to be polled, the *runtime saturated* verdict |
//!
//! The demo's supervisor ([`supervisor`], a [`DemoSupervisor`]) runs on a registry with
//! [`SlowPolls`] (default 50 µs threshold), [`PollHistograms`] and [`Scheduling`] attached,
//! so every incarnation's figures carry `slow_polls`, `poll_histogram` (poll-duration
//! quantiles) and `scheduling` (wake-to-poll delay): `ingest`'s 5 ms slices and `stuck`'s
//! 2.5 s polls show up there, and every service's wait for the runtime while `batch`
//! saturates it. The registry watches the runtime it is given, as `main`. Within its first
//! 30 s the demo shows each of the three verdicts
//! ([`ServicesMetrics::verdicts_since`](crate::ServicesMetrics::verdicts_since)): `ingest`
//! *polls slow* from the start, `orders` *backlogged* after about 5 s, and, while `batch`
//! runs (from 8 s to 14 s), the services that wait for a worker *runtime saturated*. The process's
//! [`Profiler`] is attached too ([`profiler`] returns it; a disabled one off Linux), so
//! [`Profiler::capture`] shows where `stuck` blocks (`wait_for_legacy_lock`, a function
//! kept out of line so that even a release build without debug information names it) and
//! [`Profiler::profile`] where `ingest` and `bursty` spend their CPU. It keeps the
//! others running when one gives up ([`Escalation::Continue`]) and has a short shutdown:
//! [`SHUTDOWN_TIMEOUT`], then [`ABORT_GRACE`].
//!
//! `stuck` blocks a runtime worker thread on purpose: run the demo on a multi-thread runtime
//! with a few workers, and shut the runtime down with a timeout (or in the background)
//! afterwards, since the abandoned service still holds its thread.
//!
//! ```
//! use std::time::Duration;
//! use vigil::Exit;
//!
//! let runtime = tokio::runtime::Builder::new_multi_thread()
//!     .worker_threads(4)
//!     .enable_time()
//!     .build()
//!     .unwrap();
//! let supervisor = vigil::demo::supervisor(runtime.handle());
//! vigil::demo::start(&supervisor);
//! let (snapshot, report) = runtime.block_on(async {
//!     tokio::time::sleep(Duration::from_millis(300)).await;
//!     (supervisor.registry().metrics(), supervisor.stop().await)
//! });
//! // `ingest` computes in 5 ms polls: slow polls, and poll-duration quantiles.
//! let ingest = snapshot.group("ingest").unwrap();
//! assert!(ingest.slow_polls.unwrap().slow_poll_count > 0);
//! assert!(ingest.poll_histogram.unwrap().quantile(0.99) >= Duration::from_millis(1));
//! // `deaf` never listens: aborted at the deadline.
//! assert!(report.endings().iter().any(|(id, exit)| id.name() == "deaf" && *exit == Exit::Aborted));
//! runtime.shutdown_timeout(Duration::from_secs(5));
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;

use crate::profile::Profiler;
use crate::registry::{PollHistograms, Scheduling, SlowPolls};
use crate::{
    Addr, Backoff, ChildSpec, Clock, Context, Escalation, Mailbox, MonitorFactory, Registry,
    Restart, ServiceObj, Supervisor,
};

/// The demo's supervisor type: on a registry with [`SlowPolls`], [`PollHistograms`],
/// [`Scheduling`] and the [`Profiler`] attached (and the default clock).
pub type DemoSupervisor = Supervisor<(SlowPolls, PollHistograms, Scheduling, Profiler)>;

/// The capacity of `orders`' mailbox.
pub const ORDERS_CAPACITY: usize = 500;

/// How long `orders` takes per order: a wait on a downstream service, not CPU.
const ORDER_TIME: Duration = Duration::from_millis(10);

/// `batch`: when its first run starts after its own start, how long each run lasts, and the
/// time between runs' starts.
const BATCH_FIRST: Duration = Duration::from_secs(8);
const BATCH_RUN: Duration = Duration::from_secs(6);
const BATCH_EVERY: Duration = Duration::from_secs(20);

/// How long the demo's supervisor waits for its services to stop before aborting them.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);

/// How long after an abort a service still inside a poll is reported abandoned.
pub const ABORT_GRACE: Duration = Duration::from_millis(500);

/// One slice of `ingest`'s work: one poll.
const WORK_SLICE: Duration = Duration::from_millis(5);

/// The profiler the demo attaches, installed at the first call of [`supervisor`] or
/// [`profiler`].
static PROFILER: OnceLock<Profiler> = OnceLock::new();

/// The profiler attached to the registries of the demo's supervisors: the process's
/// ([`Profiler::install_or_disabled`]), the same one at every call. Hand it to the endpoint
/// (`vigil::http::Endpoint::profiler`) to serve the stacks and profiles of the demo.
///
/// Where the profiler cannot be installed (not Linux, or its signals are taken), it is
/// [`Profiler::disabled`]: the demo runs all the same, and captures answer why there is no
/// stack.
pub fn profiler() -> Profiler {
    *PROFILER.get_or_init(Profiler::install_or_disabled)
}

/// A supervisor with the demo's settings: a new registry with [`SlowPolls::default`],
/// [`PollHistograms`], [`Scheduling`] (every incarnation's slow polls, poll-duration
/// histogram and wake-to-poll delay) and the [`profiler`] attached, watching the runtime of
/// `handle` as `main`, a 1 s shutdown deadline, a 0.5 s abort grace, and
/// [`Escalation::Continue`] so that `flaky_config` giving up leaves the others running.
pub fn supervisor(handle: &Handle) -> DemoSupervisor {
    let registry = Registry::builder()
        .monitor((SlowPolls::default(), PollHistograms, Scheduling, profiler()))
        .build();
    registry.watch_runtime("main", handle);
    Supervisor::builder()
        .registry(Arc::new(registry))
        .shutdown_timeout(SHUTDOWN_TIMEOUT)
        .abort_grace(ABORT_GRACE)
        .escalation(Escalation::Continue)
        .build(handle)
}

/// Starts every demo service under `supervisor` (see the module docs for the list): usually
/// the one [`supervisor`] builds, but any supervisor works (its registry's monitors then
/// decide which figures the services carry).
pub fn start<F: MonitorFactory<C>, C: Clock>(supervisor: &Supervisor<F, C>) {
    supervisor.start(ChildSpec::new("ingest", ingest));
    supervisor.start(ChildSpec::new("bursty", bursty));
    supervisor.start(ChildSpec::new("idle", |ctx: Context| async move {
        ctx.shutdown_requested().await;
    }));
    let registry = Arc::clone(supervisor.registry());
    supervisor.start(ChildSpec::new("dispatcher", move |ctx| {
        dispatcher(ctx, Arc::clone(&registry))
    }));
    supervisor.start(
        ChildSpec::new("crasher", crasher).backoff(Backoff::exponential(
            Duration::from_millis(200),
            Duration::from_secs(3),
        )),
    );
    supervisor.start(
        ChildSpec::new("flaky_config", |_ctx: Context| async {
            Err::<(), _>("config file /etc/flaky.toml not found")
        })
        .backoff(Backoff::exponential(
            Duration::from_millis(300),
            Duration::from_secs(2),
        ))
        .intensity(3, Duration::from_secs(30)),
    );
    supervisor.start(ChildSpec::new("stuck", stuck).restart(Restart::Permanent));
    supervisor.start(ChildSpec::new("deaf", deaf));
    let orders =
        supervisor.start_with_mailbox(ChildSpec::with_mailbox("orders", orders), ORDERS_CAPACITY);
    supervisor.start(ChildSpec::new("order_feed", move |ctx| {
        order_feed(ctx, orders.clone())
    }));
    let registry = Arc::clone(supervisor.registry());
    supervisor.start(ChildSpec::new("batch", move |ctx| {
        batch(ctx, Arc::clone(&registry))
    }));
}

/// One order: its number.
#[derive(Debug)]
struct Order(u64);

async fn orders(ctx: Context, mut mailbox: Mailbox<Order>) {
    loop {
        let order = tokio::select! {
            () = ctx.shutdown_requested() => return,
            order = mailbox.recv() => order,
        };
        let Some(Order(_number)) = order else { return };
        // The downstream call: quick polls, a timer in between.
        tokio::time::sleep(ORDER_TIME).await;
    }
}

async fn order_feed(ctx: Context, orders: Addr<Order>) {
    // 20 orders every 100 ms: twice what `orders` drains.
    let mut every = tokio::time::interval(Duration::from_millis(100));
    let mut number = 0;
    loop {
        tokio::select! {
            () = ctx.shutdown_requested() => return,
            _ = every.tick() => {}
        }
        for _ in 0..20 {
            number += 1;
            // Full: the order is refused (and counted); the feed does not wait.
            let _ = orders.try_send(Order(number));
        }
    }
}

async fn batch<F: MonitorFactory<C>, C: Clock>(ctx: Context, registry: Arc<Registry<F, C>>) {
    let handle = Handle::current();
    let mut next = tokio::time::Instant::now() + BATCH_FIRST;
    loop {
        tokio::select! {
            () = ctx.shutdown_requested() => return,
            () = tokio::time::sleep_until(next) => {}
        }
        next += BATCH_EVERY;
        // One CPU-bound job per worker: every worker busy, everything else waits its turn.
        let stop = Arc::new(AtomicBool::new(false));
        let jobs: Vec<_> = (0..handle.metrics().num_workers())
            .map(|_| {
                let stop = Arc::clone(&stop);
                registry.start_in(
                    &handle,
                    ServiceObj::new("batch_job", async move {
                        let started = Instant::now();
                        // Relaxed: a stop request, no data passed with it.
                        while started.elapsed() < BATCH_RUN && !stop.load(Ordering::Relaxed) {
                            spin(Duration::from_millis(20));
                            tokio::task::yield_now().await;
                        }
                    }),
                )
            })
            .collect();
        tokio::select! {
            () = ctx.shutdown_requested() => {
                // Relaxed: as above.
                stop.store(true, Ordering::Relaxed);
                return;
            }
            () = async {
                for job in jobs {
                    let _ = job.await;
                }
            } => {}
        }
    }
}

/// Burns CPU for `duration` without yielding: one long poll.
fn spin(duration: Duration) {
    let start = Instant::now();
    while start.elapsed() < duration {
        std::hint::spin_loop();
    }
}

async fn ingest(ctx: Context) {
    while !ctx.is_shutdown_requested() {
        spin(WORK_SLICE);
        tokio::task::yield_now().await;
    }
}

async fn bursty(ctx: Context) {
    const PHASE: Duration = Duration::from_millis(1_500);
    loop {
        tokio::select! {
            () = ctx.shutdown_requested() => return,
            () = tokio::time::sleep(PHASE) => {}
        }
        let burst = Instant::now();
        while burst.elapsed() < PHASE {
            if ctx.is_shutdown_requested() {
                return;
            }
            spin(Duration::from_millis(2));
            tokio::task::yield_now().await;
        }
    }
}

async fn dispatcher<F: MonitorFactory<C>, C: Clock>(ctx: Context, registry: Arc<Registry<F, C>>) {
    let handle = Handle::current();
    let mut every = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            () = ctx.shutdown_requested() => return,
            _ = every.tick() => {}
        }
        // A job is measured like any service but not supervised: it ends by itself.
        registry.start_in(
            &handle,
            ServiceObj::new("job", async {
                spin(Duration::from_micros(300));
                tokio::time::sleep(Duration::from_millis(600)).await;
            }),
        );
    }
}

async fn crasher(ctx: Context) {
    tokio::select! {
        () = ctx.shutdown_requested() => {}
        () = tokio::time::sleep(Duration::from_millis(1_500)) => {
            panic!("lost connection to the broker (run {})", ctx.restarts());
        }
    }
}

async fn deaf(_ctx: Context) {
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn stuck(ctx: Context) {
    loop {
        tokio::select! {
            () = ctx.shutdown_requested() => break,
            () = tokio::time::sleep(Duration::from_secs(3)) => {}
        }
        leave_worker().await;
        // A synchronous call that hangs now and then: past the usual 1 s stuck threshold
        // for 1.5 s of every 5.5 s, so a dashboard refreshing every second sees it.
        wait_for_legacy_lock(Duration::from_millis(2_500));
    }
    leave_worker().await;
    // Its "flush on shutdown" hangs past the deadline and the abort grace: an abort cannot
    // interrupt a poll, so the supervisor reports it abandoned, with the time in this poll.
    wait_for_legacy_lock(SHUTDOWN_TIMEOUT + ABORT_GRACE + Duration::from_secs(1));
}

/// `stuck`'s blocking call: a synchronous lock of some legacy library, held by someone else
/// for `duration`. Never inlined, so that a captured stack names it (from the symbol table)
/// even in a release build without debug information: the frame a reader of
/// `/debug/stacks` looks for.
#[inline(never)]
fn wait_for_legacy_lock(duration: Duration) {
    let released = Instant::now() + duration;
    // A loop, as a lock's wait is, rather than one `sleep` as the last call: that would be
    // compiled as a jump (a tail call), and this function would leave no frame to capture.
    while let Some(left) = released
        .checked_duration_since(Instant::now())
        .filter(|left| !left.is_zero())
    {
        std::thread::sleep(left);
    }
}

/// Yields once before `stuck` blocks its thread, so that it blocks the thread of a fresh
/// poll rather than that of whichever task woke it: woken into that worker's LIFO slot, it
/// would block the worker while it still holds the other tasks it deferred (`ingest`'s
/// `yield_now`), which no other worker can take, and `ingest` would miss the shutdown.
async fn leave_worker() {
    tokio::task::yield_now().await;
}
