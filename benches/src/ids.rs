//! The criterion id of every benchmark `cargo xtask bench` reads, and the batch sizes it
//! divides by, in one file.
//!
//! The bench targets register their benchmarks under these names, and xtask (which depends
//! on no bench code, so it includes this file with `#[path]`) reads them under the same
//! names: renaming a benchmark renames it for both. A full `cargo xtask bench` run fails
//! when any id of [`all`] has no result, so a benchmark that stops being registered is an
//! error, never a silent "not run". Constants and std only: it compiles into both crates.

/// `poll_path/<variant>` (one thread) and `poll_path_contended/<variant>` (two threads): one
/// poll per iteration. `benches/benches/poll_path.rs`.
pub mod poll_path {
    /// The one-thread group.
    pub const GROUP: &str = "poll_path";
    /// The two-thread group.
    pub const CONTENDED_GROUP: &str = "poll_path_contended";
    /// The future alone.
    pub const BARE: &str = "bare";
    /// vigil's default monitor.
    pub const VIGIL_DEFAULT: &str = "vigil_default";
    /// The default monitor plus a trivial custom one.
    pub const VIGIL_STACK: &str = "vigil_stack";
    /// The default monitor plus the slow-poll counter and the histogram.
    pub const VIGIL_FULL_STACK: &str = "vigil_full_stack";
    /// The default monitor plus the scheduling monitor.
    pub const VIGIL_SCHEDULING: &str = "vigil_scheduling";
    /// Every shipped monitor at once.
    pub const VIGIL_ALL_MONITORS: &str = "vigil_all_monitors";
    /// The default monitor plus the profiler's poll marker.
    pub const VIGIL_PROFILER: &str = "vigil_profiler";
    /// The classic design: two `Instant::now()` and two shared `fetch_add` per poll.
    pub const CLASSIC: &str = "classic";
    /// `tokio_metrics::TaskMonitor`.
    pub const TOKIO_METRICS: &str = "tokio_metrics";
    /// The default monitor on `std::time::Instant`.
    pub const VIGIL_STD_CLOCK: &str = "vigil_std_clock";
    /// Two clock reads around the poll and nothing else.
    pub const CLOCK_FLOOR: &str = "clock_floor";
    /// The one-thread variants, in table order.
    pub const VARIANTS: [&str; 11] = [
        BARE,
        VIGIL_DEFAULT,
        VIGIL_STACK,
        VIGIL_FULL_STACK,
        VIGIL_SCHEDULING,
        VIGIL_ALL_MONITORS,
        VIGIL_PROFILER,
        CLASSIC,
        TOKIO_METRICS,
        VIGIL_STD_CLOCK,
        CLOCK_FLOOR,
    ];
    /// The two-thread variants, in table order.
    pub const CONTENDED_VARIANTS: [&str; 5] =
        [BARE, VIGIL_DEFAULT, CLASSIC, TOKIO_METRICS, CLOCK_FLOOR];
}

/// `wake_path/<case>/<variant>`: the wake path of a future woken from outside its poll,
/// with and without the scheduling monitor. `benches/benches/poll_path.rs`.
pub mod wake_path {
    pub use super::poll_path::{BARE, TOKIO_METRICS, VIGIL_DEFAULT, VIGIL_SCHEDULING};
    /// The group.
    pub const GROUP: &str = "wake_path";
    /// One poll that no wake preceded: the future parks its waker and stays pending.
    pub const UNWOKEN_POLL: &str = "unwoken_poll";
    /// One wake through the parked waker, from outside the poll, then the poll it leads to.
    pub const WAKE_THEN_POLL: &str = "wake_then_poll";
    /// One more wake of a future already woken and not polled since.
    pub const WAKE_AGAIN: &str = "wake_again";
    /// The cases, in table order (columns).
    pub const CASES: [&str; 3] = [UNWOKEN_POLL, WAKE_THEN_POLL, WAKE_AGAIN];
    /// The variants, in table order (rows).
    pub const VARIANTS: [&str; 4] = [BARE, VIGIL_DEFAULT, VIGIL_SCHEDULING, TOKIO_METRICS];
}

/// `clock/<clock>`: one clock read per iteration. `benches/benches/poll_path.rs`.
pub mod clock {
    /// The group.
    pub const GROUP: &str = "clock";
    /// vigil's production clock.
    pub const DEFAULT_CLOCK: &str = "default_clock";
    /// `std::time::Instant::now()`.
    pub const STD_INSTANT: &str = "std_instant";
    /// `quanta::Clock::raw`.
    pub const QUANTA_RAW: &str = "quanta_raw";
    /// vigil's `StdClock`.
    pub const STD_CLOCK: &str = "std_clock";
    /// Every clock, in registration order.
    pub const CLOCKS: [&str; 4] = [DEFAULT_CLOCK, STD_INSTANT, QUANTA_RAW, STD_CLOCK];
}

/// The registry's start costs. `benches/benches/registry.rs`.
pub mod registry {
    /// `registry_start/<N>`: N starts of one name per iteration.
    pub const START_GROUP: &str = "registry_start";
    /// `registry_start_bare_spawn/<N>`: N bare `Handle::spawn` per iteration, the reference.
    pub const START_BARE_SPAWN_GROUP: &str = "registry_start_bare_spawn";
    /// The N of both start groups.
    pub const START_COUNTS: [u64; 3] = [1_000, 10_000, 100_000];
    /// `registry_spawn/<case>`: one start against one bare spawn.
    pub const SPAWN_GROUP: &str = "registry_spawn";
    /// A bare `Handle::spawn`.
    pub const BARE_SPAWN: &str = "bare_spawn";
    /// `Registry::start_in`.
    pub const START_IN: &str = "start_in";
    /// A bare spawn, then awaiting it.
    pub const BARE_SPAWN_AWAIT: &str = "bare_spawn_await";
    /// `start_in`, then awaiting it.
    pub const START_IN_AWAIT: &str = "start_in_await";
    /// `registry_threads/<case>/<threads>`: starts from several threads at once.
    pub const THREADS_GROUP: &str = "registry_threads";
    /// Every thread starts instances of one shared name.
    pub const SAME_NAME: &str = "same_name";
    /// Each thread starts instances of its own name.
    pub const DIFFERENT_NAMES: &str = "different_names";
    /// The thread counts of `registry_threads`.
    pub const THREAD_COUNTS: [usize; 4] = [1, 2, 4, 8];
}

/// Snapshots, and starts while snapshots run. `benches/benches/registry_snapshot.rs`.
pub mod snapshot {
    /// `registry_snapshot/<SERVICES>`: `metrics()` back to back.
    pub const WARM_GROUP: &str = "registry_snapshot";
    /// `registry_snapshot_cold/<SERVICES>`: `metrics()` after evicting the caches.
    pub const COLD_GROUP: &str = "registry_snapshot_cold";
    /// `registry_snapshot_churned/<SERVICES>`: warm, on a heap churned by
    /// [`CHURNED_SERVICES`] short-lived services.
    pub const CHURNED_GROUP: &str = "registry_snapshot_churned";
    /// `registry_snapshot_floor/{warm,cold}`: a sequential read of as many bytes.
    pub const FLOOR_GROUP: &str = "registry_snapshot_floor";
    /// The floor, back to back.
    pub const FLOOR_WARM: &str = "warm";
    /// The floor, after evicting the caches.
    pub const FLOOR_COLD: &str = "cold";
    /// Live services during every snapshot benchmark.
    pub const SERVICES: u64 = 10_000;
    /// Short-lived services started and finished before the churned group starts its live
    /// ones.
    pub const CHURNED_SERVICES: u64 = 1_000_000;
    /// `registry_start_under_snapshots/<case>`: one start of a name with [`SERVICES`] live
    /// instances.
    pub const UNDER_SNAPSHOTS_GROUP: &str = "registry_start_under_snapshots";
    /// Nothing else running.
    pub const ALONE: &str = "alone";
    /// Another thread takes snapshots of the same registry back to back.
    pub const WITH_SNAPSHOTS: &str = "with_snapshots";
    /// Another thread takes snapshots of another registry back to back.
    pub const WITH_OTHER_SNAPSHOTS: &str = "with_other_snapshots";
}

/// Supervised starts and restarts. `benches/benches/supervisor.rs`.
pub mod supervisor {
    /// `supervisor_start/<case>`: [`STARTS`] starts from the bench thread per iteration.
    pub const START_GROUP: &str = "supervisor_start";
    /// `Registry::start_in`, the reference.
    pub const START_IN: &str = "start_in";
    /// `Supervisor::start`.
    pub const SUPERVISED: &str = "supervised";
    /// Starts per iteration of the start group.
    pub const STARTS: u64 = 1_000;
    /// `supervisor_restart/panic_to_next_poll`: from a `panic!` to the next first poll.
    pub const RESTART_GROUP: &str = "supervisor_restart";
    /// The one restart case.
    pub const PANIC_TO_NEXT_POLL: &str = "panic_to_next_poll";
}

/// Mailboxes: tokio's bounded mpsc alone against vigil's `Addr` and `Mailbox` (which count
/// and stamp every message). `benches/benches/mailbox.rs`.
pub mod mailbox {
    /// `mailbox/<case>`: one message per iteration (sent into an empty mailbox, then
    /// received), or a burst of [`BURST`] sent then [`BURST`] received.
    pub const GROUP: &str = "mailbox";
    /// tokio: `Sender::send(..).await`, then `Receiver::recv().await`.
    pub const TOKIO_SEND_RECV: &str = "tokio_send_recv";
    /// vigil: `Addr::send(..).await`, then `Mailbox::recv().await`.
    pub const VIGIL_SEND_RECV: &str = "vigil_send_recv";
    /// tokio: `Sender::try_send`, then `Receiver::recv().await`.
    pub const TOKIO_TRY_SEND_RECV: &str = "tokio_try_send_recv";
    /// vigil: `Addr::try_send`, then `Mailbox::recv().await`.
    pub const VIGIL_TRY_SEND_RECV: &str = "vigil_try_send_recv";
    /// tokio: [`BURST`] `try_send`, then [`BURST`] `recv().await`.
    pub const TOKIO_BURST: &str = "tokio_burst";
    /// vigil: the same through `Addr` and `Mailbox`.
    pub const VIGIL_BURST: &str = "vigil_burst";
    /// `(what, tokio case, vigil case, messages per iteration)`, in table order.
    pub const PAIRS: [(&str, &str, &str, u64); 3] = [
        ("send + recv", TOKIO_SEND_RECV, VIGIL_SEND_RECV, 1),
        (
            "try_send + recv",
            TOKIO_TRY_SEND_RECV,
            VIGIL_TRY_SEND_RECV,
            1,
        ),
        (
            "burst: 64 try_send, then 64 recv",
            TOKIO_BURST,
            VIGIL_BURST,
            BURST,
        ),
    ];
    /// Messages per iteration of the burst cases.
    pub const BURST: u64 = 64;
    /// Capacity of both mailboxes.
    pub const CAPACITY: usize = 1024;
}

/// CPU-bound work in a monitored poll, idle and while profiling. `benches/benches/profiling.rs`.
pub mod profiling {
    /// The group.
    pub const GROUP: &str = "profiling";
    /// No profile running.
    pub const IDLE: &str = "idle";
    /// Profiles at 99 Hz back to back on another thread.
    pub const PROFILING_99HZ: &str = "profiling_99hz";
}

/// `group/function`, as criterion names a benchmark's directory.
pub fn id(group: &str, function: impl std::fmt::Display) -> String {
    format!("{group}/{function}")
}

/// Every id a full run registers, in registration order.
pub fn all() -> Vec<String> {
    let mut ids = Vec::new();
    let mut group = |group: &str, functions: &[String]| {
        ids.extend(functions.iter().map(|function| id(group, function)));
    };
    let strings = |names: &[&str]| {
        names
            .iter()
            .map(|name| name.to_string())
            .collect::<Vec<_>>()
    };
    let starts: Vec<String> = registry::START_COUNTS.iter().map(u64::to_string).collect();
    let threads = |case: &str| {
        registry::THREAD_COUNTS
            .iter()
            .map(|threads| format!("{case}/{threads}"))
            .collect::<Vec<_>>()
    };
    let snapshot = [snapshot::SERVICES.to_string()];
    group(poll_path::GROUP, &strings(&poll_path::VARIANTS));
    group(clock::GROUP, &strings(&clock::CLOCKS));
    let wakes: Vec<String> = wake_path::VARIANTS
        .iter()
        .flat_map(|variant| {
            wake_path::CASES
                .iter()
                .map(move |case| format!("{case}/{variant}"))
        })
        .collect();
    group(wake_path::GROUP, &wakes);
    group(
        poll_path::CONTENDED_GROUP,
        &strings(&poll_path::CONTENDED_VARIANTS),
    );
    group(registry::START_GROUP, &starts);
    group(registry::START_BARE_SPAWN_GROUP, &starts);
    group(
        registry::SPAWN_GROUP,
        &strings(&[
            registry::BARE_SPAWN,
            registry::START_IN,
            registry::BARE_SPAWN_AWAIT,
            registry::START_IN_AWAIT,
        ]),
    );
    group(registry::THREADS_GROUP, &threads(registry::SAME_NAME));
    group(registry::THREADS_GROUP, &threads(registry::DIFFERENT_NAMES));
    group(snapshot::WARM_GROUP, &snapshot);
    group(snapshot::COLD_GROUP, &snapshot);
    group(
        snapshot::FLOOR_GROUP,
        &strings(&[snapshot::FLOOR_WARM, snapshot::FLOOR_COLD]),
    );
    group(snapshot::CHURNED_GROUP, &snapshot);
    group(
        snapshot::UNDER_SNAPSHOTS_GROUP,
        &strings(&[
            snapshot::ALONE,
            snapshot::WITH_SNAPSHOTS,
            snapshot::WITH_OTHER_SNAPSHOTS,
        ]),
    );
    group(
        supervisor::START_GROUP,
        &strings(&[supervisor::START_IN, supervisor::SUPERVISED]),
    );
    group(
        supervisor::RESTART_GROUP,
        &strings(&[supervisor::PANIC_TO_NEXT_POLL]),
    );
    group(
        profiling::GROUP,
        &strings(&[profiling::IDLE, profiling::PROFILING_99HZ]),
    );
    let mailboxes: Vec<String> = mailbox::PAIRS
        .iter()
        .flat_map(|&(_, tokio, vigil, _)| [tokio.to_string(), vigil.to_string()])
        .collect();
    group(mailbox::GROUP, &mailboxes);
    ids
}
