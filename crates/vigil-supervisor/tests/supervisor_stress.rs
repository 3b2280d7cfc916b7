//! Stress: 1,000 transient services panicking at random on a multi-thread runtime, then a
//! stop. The report accounts for every incarnation and the registry ends empty.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::sleep;
use vigil_supervisor::{Backoff, ChildSpec, Exit, Jitter, ServiceState, Supervisor};

const SERVICES: u64 = 1_000;

/// xorshift64: a different, reproducible sequence per seed.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn a_thousand_random_crashers_are_all_accounted_for() {
    // Tens of thousands of panics: keep the test's output readable.
    std::panic::set_hook(Box::new(|_| {}));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let supervisor = Supervisor::builder().build(runtime.handle());
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
                    if next(&mut random) % 4 == 0 {
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
    let report = runtime.block_on(async {
        sleep(Duration::from_secs(2)).await;
        supervisor.stop().await
    });
    let _ = std::panic::take_hook();

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
