//! Stress: 1,000 transient services panicking at random, then a stop. The report accounts
//! for every incarnation and the registry ends empty.
//!
//! On both runtime flavours, without racing the wall clock: on a multi-thread runtime the
//! stop comes after a number of panics, however long a loaded machine takes to reach it;
//! on a current-thread runtime with tokio's clock paused, the services' random sleeps and
//! backoffs run in virtual time and the stop comes after two virtual seconds.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::time::sleep;
use vigil_supervisor::{
    Backoff, ChildSpec, Exit, Jitter, ServiceState, ShutdownReport, Supervisor,
};

const SERVICES: u64 = 1_000;

/// Panics the multi-thread run waits for before it stops: five per service on average.
const PANICS_BEFORE_STOP: u64 = 5 * SERVICES;

/// Longest the multi-thread run waits for them: only a hang gets near it (a 2-core
/// machine under load gets there in a few seconds).
const PANICS_DEADLINE: Duration = Duration::from_secs(120);

/// Deadline of the shutdown: every service listens, so only a hang reaches it, and then
/// the aborted services fail the test.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(60);

/// xorshift64: a different, reproducible sequence per seed.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Starts the crashers: each sleeps 1 to 20 ms at random, then panics one time in four,
/// and is restarted after a jittered backoff of up to 10 ms.
fn start_crashers(supervisor: &Supervisor) {
    for service in 0..SERVICES {
        supervisor.start(
            ChildSpec::new("crasher", move |ctx| async move {
                let mut random = (service << 32 | ctx.id().instance_id()) | 1;
                loop {
                    tokio::select! {
                        biased;
                        () = ctx.shutdown_requested() => return,
                        () = sleep(Duration::from_millis(1 + next(&mut random) % 20)) => {}
                    }
                    // One time in four (the low two bits; not `is_multiple_of`, which
                    // needs Rust 1.87 where the workspace declares 1.85).
                    if next(&mut random) & 3 == 0 {
                        panic!("random failure");
                    }
                }
            })
            .backoff(
                Backoff::exponential(Duration::from_millis(1), Duration::from_millis(10))
                    .jitter(Jitter::Full),
            )
            .intensity(10_000, Duration::from_secs(1)),
        );
    }
}

/// Keeps the crashers' tens of thousands of panics out of the test output; other panics
/// (a failed assertion) are printed as usual. Installed once for the whole test binary,
/// since its tests run at the same time.
fn quiet_random_failures() {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&"random failure") {
                default(info);
            }
        }));
    });
}

/// Runs the crashers on `runtime` until `until_stop` completes, stops, and checks that the
/// report and the registry account for every incarnation.
fn run_and_check(runtime: &Runtime, until_stop: impl AsyncFnOnce(&Supervisor)) {
    quiet_random_failures();
    let supervisor = Supervisor::builder()
        .shutdown_timeout(SHUTDOWN_TIMEOUT)
        .build(runtime.handle());
    start_crashers(&supervisor);
    let report: ShutdownReport = runtime.block_on(async {
        until_stop(&supervisor).await;
        supervisor.stop().await
    });

    let mut kinds = BTreeMap::new();
    for (_, exit) in report.endings() {
        assert!(
            matches!(exit, Exit::Completed) || *exit == Exit::Panicked("random failure".into()),
            "{exit}"
        );
        *kinds.entry(exit.kind()).or_insert(0_u64) += 1;
    }
    let (completed, panicked) = (kinds["completed"], kinds["panicked"]);
    assert!(report.gave_up().is_empty());
    assert!(
        panicked > SERVICES,
        "only {panicked} panics: the test did not stress"
    );
    // Every spec ends for good once: by completing on the shutdown, or by a panic whose
    // restart the shutdown cancelled.
    assert!(completed <= SERVICES && completed > 0);

    // Every incarnation the registry started has exactly one ending, under its own id.
    let snapshot = supervisor.registry().metrics();
    let group = snapshot.group("crasher").unwrap();
    let mut ids: Vec<u64> = report
        .endings()
        .iter()
        .map(|(id, _)| id.instance_id())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..group.starts).collect::<Vec<_>>());
    assert_eq!(group.restarts, group.starts - SERVICES);
    assert_eq!(
        (group.endings.completed, group.endings.panicked),
        (completed, panicked)
    );
    assert!(snapshot.is_empty());
    assert_eq!(group.instances, 0);
    assert!(supervisor
        .states()
        .iter()
        .all(|(_, state)| *state == ServiceState::Stopped));
}

#[test]
fn a_thousand_random_crashers_are_all_accounted_for_on_a_multi_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    run_and_check(&runtime, async |supervisor| {
        // Polled on the wall clock, but only to look: the stop waits for the panics.
        let waited = std::time::Instant::now();
        while supervisor
            .registry()
            .metrics()
            .group("crasher")
            .map_or(0, |group| group.endings.panicked)
            < PANICS_BEFORE_STOP
        {
            assert!(
                waited.elapsed() < PANICS_DEADLINE,
                "fewer than {PANICS_BEFORE_STOP} panics in {PANICS_DEADLINE:?}"
            );
            sleep(Duration::from_millis(10)).await;
        }
    });
}

#[test]
fn a_thousand_random_crashers_are_all_accounted_for_in_paused_time() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    run_and_check(&runtime, async |_supervisor| {
        // Virtual time: tokio advances its clock whenever every task waits on a timer.
        sleep(Duration::from_secs(2)).await;
    });
}
