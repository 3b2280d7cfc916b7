//! Restart types, what an ending is (failure text, panic message, user abort), fresh ids per
//! incarnation, registry counters, states and recent endings, use from outside the runtime.

mod supervisor_fixture;

use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::time::sleep;
use vigil_registry::{PollHistograms, Registry, SlowPolls};
use vigil_supervisor::{Backoff, ChildSpec, Exit, Restart, ServiceState, Supervisor};

use supervisor_fixture::{endings, exits, supervisor, Log, MS};

/// Ends with `exit` once per incarnation (after 1 ms), for `incarnations` incarnations, then
/// waits for the shutdown.
fn ending_with(
    name: &'static str,
    restart: Restart,
    exit: fn() -> Result<(), String>,
) -> ChildSpec {
    ChildSpec::new(name, move |ctx| async move {
        if ctx.restarts() >= 2 {
            ctx.shutdown_requested().await;
            return Ok(());
        }
        sleep(MS).await;
        exit()
    })
    .restart(restart)
    .backoff(Backoff::none())
}

#[tokio::test(start_paused = true)]
async fn permanent_restarts_after_any_ending() {
    let supervisor = supervisor();
    supervisor.start(ending_with("p", Restart::Permanent, || Ok(())));
    sleep(Duration::from_secs(1)).await;
    let report = supervisor.stop().await;
    assert_eq!(
        endings(&report),
        ["p#0 completed", "p#1 completed", "p#2 completed"]
    );
}

#[tokio::test(start_paused = true)]
async fn transient_restarts_after_failures_only() {
    let supervisor = supervisor();
    supervisor.start(ending_with("ok", Restart::Transient, || Ok(())));
    supervisor.start(ending_with("err", Restart::Transient, || {
        Err("broken".into())
    }));
    sleep(Duration::from_secs(1)).await;
    assert_eq!(
        supervisor.states(),
        [
            ("ok", ServiceState::Stopped),
            ("err", ServiceState::Running)
        ]
    );
    let report = supervisor.stop().await;
    assert_eq!(
        exits(&report),
        [
            Exit::Completed,
            Exit::Failed("broken".into()),
            Exit::Failed("broken".into()),
            Exit::Completed,
        ]
    );
    assert_eq!(
        endings(&report),
        [
            "ok#0 completed",
            "err#0 failed",
            "err#1 failed",
            "err#2 completed"
        ]
    );
    assert!(report.is_clean(), "restarted failures are history");
}

/// Panics; returns `()` as far as the type checker is concerned.
fn boom() {
    panic!("boom")
}

#[tokio::test(start_paused = true)]
async fn temporary_is_never_restarted() {
    let supervisor = supervisor();
    supervisor.start(ChildSpec::new("once", |_ctx| async { boom() }).restart(Restart::Temporary));
    let report = supervisor.wait().await;
    assert_eq!(exits(&report), [Exit::Panicked("boom".into())]);
    assert!(!report.is_clean());
    assert_eq!(report.elapsed(), Duration::ZERO, "no shutdown was needed");
}

#[tokio::test(start_paused = true)]
async fn panic_messages_and_failure_texts_are_kept() {
    let supervisor = supervisor();
    let spec = |name, ending: fn(u32) -> Result<(), String>| {
        ChildSpec::new(name, move |ctx| async move { ending(ctx.restarts()) })
            .restart(Restart::Temporary)
    };
    supervisor.start(spec("str", |_| panic!("static text")));
    supervisor.start(spec("string", |n| panic!("formatted {n}")));
    supervisor.start(spec("any", |_| std::panic::panic_any(42_u8)));
    supervisor.start(spec("err", |n| Err(format!("error {n}"))));
    let report = supervisor.wait().await;
    let mut exits = exits(&report);
    exits.sort_by_key(|exit| exit.to_string());
    assert_eq!(
        exits,
        [
            Exit::Failed("error 0".into()),
            Exit::Panicked("Box<dyn Any>".into()),
            Exit::Panicked("formatted 0".into()),
            Exit::Panicked("static text".into()),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_factory_is_a_panicking_incarnation() {
    let supervisor = supervisor();
    supervisor.start(
        ChildSpec::new("factory", |ctx| {
            assert!(ctx.restarts() > 0, "first factory call fails");
            async move { ctx.shutdown_requested().await }
        })
        .backoff(Backoff::none()),
    );
    sleep(MS).await;
    let report = supervisor.stop().await;
    assert_eq!(
        endings(&report),
        ["factory#0 panicked", "factory#1 completed"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_users_abort_is_cancelled_and_not_restarted() {
    let supervisor = supervisor();
    let id = supervisor
        .start(ChildSpec::new("victim", |_ctx| pending::<()>()).restart(Restart::Permanent));
    supervisor.registry().status_handle(id).unwrap().abort();
    let report = supervisor.wait().await;
    assert_eq!(exits(&report), [Exit::Cancelled]);
    assert_eq!(supervisor.states(), [("victim", ServiceState::Stopped)]);
}

#[tokio::test(start_paused = true)]
async fn every_incarnation_has_a_fresh_id_and_counts_in_the_registry() {
    let supervisor = supervisor();
    let seen = Log::new();
    let log = seen.clone();
    let first = supervisor.start(
        ChildSpec::new("consumer", move |ctx| {
            log.push((ctx.id().to_string(), ctx.restarts()));
            async move {
                match ctx.restarts() {
                    0 => panic!("boom"),
                    1 => Err("bad".to_owned()),
                    _ => {
                        ctx.shutdown_requested().await;
                        Ok(())
                    }
                }
            }
        })
        .backoff(Backoff::none()),
    );
    assert_eq!(first.to_string(), "consumer#0");
    sleep(MS).await;
    assert_eq!(
        seen.items(),
        [
            ("consumer#0".to_owned(), 0),
            ("consumer#1".to_owned(), 1),
            ("consumer#2".to_owned(), 2)
        ]
    );
    let group = supervisor.registry().metrics().group("consumer").unwrap();
    assert_eq!((group.starts, group.restarts, group.instances), (3, 2, 1));
    assert_eq!((group.endings.panicked, group.endings.failed), (1, 1));

    let recent = supervisor.recent_endings();
    let listed: Vec<_> = recent
        .iter()
        .map(|ending| (ending.seq, ending.id.to_string(), ending.exit.kind()))
        .collect();
    assert_eq!(
        listed,
        [
            (0, "consumer#0".to_owned(), "panicked"),
            (1, "consumer#1".to_owned(), "failed")
        ]
    );
    supervisor.stop().await;
    assert_eq!(supervisor.recent_endings().last().unwrap().seq, 2);
}

#[tokio::test(start_paused = true)]
async fn recent_endings_keep_the_last_128() {
    let supervisor = supervisor();
    supervisor.start(
        ChildSpec::new("loop", |ctx| async move {
            if ctx.restarts() < 200 {
                return Err("again");
            }
            ctx.shutdown_requested().await;
            Ok(())
        })
        .backoff(Backoff::none())
        .intensity(1_000, Duration::from_secs(1)),
    );
    sleep(MS).await;
    let recent = supervisor.recent_endings();
    assert_eq!(recent.len(), 128);
    assert_eq!((recent[0].seq, recent[127].seq), (72, 199));
    assert_eq!(recent[127].id.to_string(), "loop#199");
    supervisor.stop().await;
}

#[test]
fn works_from_threads_outside_the_runtime() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let supervisor = Supervisor::builder().build(runtime.handle());
    let remote = supervisor.clone();
    std::thread::spawn(move || {
        remote.start(ChildSpec::new("remote", |ctx| async move {
            ctx.shutdown_requested().await;
        }));
        remote.shutdown();
    })
    .join()
    .unwrap();
    let report = runtime.block_on(supervisor.wait());
    assert_eq!(endings(&report), ["remote#0 completed"]);
}

#[test]
#[should_panic(expected = "timers are disabled")]
fn a_runtime_without_time_is_refused_when_building() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _ = Supervisor::builder().build(runtime.handle());
}

#[tokio::test(start_paused = true)]
async fn the_monitors_of_any_registry_measure_every_incarnation() {
    let registry = Arc::new(
        Registry::builder()
            .monitor((SlowPolls::default(), PollHistograms))
            .build(),
    );
    let supervisor: Supervisor<(SlowPolls, PollHistograms)> = Supervisor::builder()
        .registry(Arc::clone(&registry))
        .build(&Handle::current());
    assert!(Arc::ptr_eq(supervisor.registry(), &registry));
    supervisor.start(
        ChildSpec::new("consumer", |ctx| async move {
            // One poll far above the 50 µs slow-poll threshold, in every incarnation.
            std::thread::sleep(2 * MS);
            tokio::task::yield_now().await;
            if ctx.restarts() == 0 {
                return Err("bad".to_owned());
            }
            ctx.shutdown_requested().await;
            Ok(())
        })
        .backoff(Backoff::none()),
    );
    sleep(MS).await;

    let snapshot = registry.metrics();
    let group = snapshot.group("consumer").unwrap();
    assert_eq!((group.starts, group.restarts, group.instances), (2, 1, 1));
    assert_eq!(group.endings.failed, 1);
    let (id, metrics) = snapshot.iter().next().unwrap();
    assert_eq!(id.to_string(), "consumer#1");
    let slow = metrics
        .slow_polls
        .expect("the registry's SlowPolls monitor");
    assert!(slow.slow_poll_count >= 1, "{slow:?}");
    assert!(slow.total_slow_poll_duration >= 2 * MS, "{slow:?}");
    let histogram = metrics
        .poll_histogram
        .expect("the registry's PollHistograms");
    assert!(histogram.count() >= 2, "{histogram:?}");
    assert!(histogram.max >= 2 * MS, "{histogram:?}");
    // The same figures through the supervisor's handle on the registry.
    let live = supervisor.registry().instance_metrics(id).unwrap();
    assert!(live.slow_polls.is_some() && live.poll_histogram.is_some());

    let report = supervisor.stop().await;
    assert_eq!(
        endings(&report),
        ["consumer#0 failed", "consumer#1 completed"]
    );
    assert!(registry.metrics().is_empty());
}
