//! Graceful shutdown: early return, deadlines and aborts, abandoned blocking services,
//! cancelled backoffs, stages in order, every incarnation accounted for.

mod supervisor_fixture;

use std::future::pending;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::time::{sleep, Instant};
use vigil_supervisor::{Backoff, ChildSpec, Exit, Restart, ServiceState, Supervisor};

use supervisor_fixture::{endings, exits, supervisor, Log, MS};

/// Waits for the shutdown request, then takes `linger` to finish.
fn polite(name: &'static str, linger: Duration) -> ChildSpec {
    ChildSpec::new(name, move |ctx| async move {
        ctx.shutdown_requested().await;
        sleep(linger).await;
    })
}

/// Ignores the shutdown request.
fn stubborn(name: &'static str) -> ChildSpec {
    ChildSpec::new(name, |_ctx| pending::<()>())
}

#[tokio::test(start_paused = true)]
async fn returns_as_soon_as_everything_has_stopped() {
    let supervisor = Supervisor::builder()
        .shutdown_timeout(Duration::from_secs(30))
        .build(&Handle::current());
    supervisor.start(polite("a", 100 * MS));
    supervisor.start(polite("b", 250 * MS));
    let began = Instant::now();
    let report = supervisor.stop().await;
    // Paused time: had `wait` slept out the timeout, 30 s would have passed.
    assert_eq!(began.elapsed(), 250 * MS);
    assert_eq!(report.elapsed(), 250 * MS);
    assert_eq!(endings(&report), ["a#0 completed", "b#0 completed"]);
    assert!(report.is_clean());
}

#[tokio::test(start_paused = true)]
async fn a_straggler_is_aborted_at_the_deadline() {
    let supervisor = Supervisor::builder()
        .shutdown_timeout(Duration::from_secs(2))
        .build(&Handle::current());
    supervisor.start(polite("polite", 10 * MS));
    supervisor.start(stubborn("stubborn"));
    let report = supervisor.stop().await;
    assert_eq!(
        endings(&report),
        ["polite#0 completed", "stubborn#0 aborted"]
    );
    assert_eq!(report.elapsed(), Duration::from_secs(2));
    assert!(!report.is_clean());
    assert!(supervisor.registry().metrics().is_empty());
}

#[tokio::test(start_paused = true)]
async fn stop_timeout_aborts_one_service_earlier() {
    let supervisor = Supervisor::builder()
        .shutdown_timeout(Duration::from_secs(10))
        .build(&Handle::current());
    supervisor.start(stubborn("quick").stop_timeout(300 * MS));
    supervisor.start(polite("slow", Duration::from_secs(1)));
    let report = supervisor.stop().await;
    assert_eq!(endings(&report), ["quick#0 aborted", "slow#0 completed"]);
    assert_eq!(report.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn shutdown_now_aborts_without_waiting() {
    let supervisor = Supervisor::builder()
        .shutdown_timeout(Duration::from_secs(3600))
        .build(&Handle::current());
    supervisor.start(stubborn("stubborn"));
    supervisor.shutdown();
    sleep(Duration::from_secs(1)).await;
    assert_eq!(supervisor.states(), [("stubborn", ServiceState::Stopping)]);
    supervisor.shutdown_now();
    let report = supervisor.wait().await;
    assert_eq!(exits(&report), [Exit::Aborted]);
    assert_eq!(report.elapsed(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn shutdown_cancels_a_pending_backoff() {
    let supervisor = supervisor();
    let calls = Log::new();
    let log = calls.clone();
    supervisor.start(
        ChildSpec::new("crasher", move |_ctx| {
            log.push(());
            async { Err::<(), _>("boom") }
        })
        .backoff(Backoff::exponential(
            Duration::from_secs(10),
            Duration::from_secs(10),
        )),
    );
    sleep(Duration::from_secs(1)).await;
    assert!(matches!(
        supervisor.states()[0].1,
        ServiceState::BackingOff { restarts: 1, .. }
    ));
    let report = supervisor.stop().await;
    assert_eq!(report.elapsed(), Duration::ZERO);
    assert_eq!(endings(&report), ["crasher#0 failed"]);
    assert_eq!(supervisor.states(), [("crasher", ServiceState::Stopped)]);
    // The restart that was due at 10 s never happens.
    sleep(Duration::from_secs(60)).await;
    assert_eq!(calls.items().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn stages_stop_highest_first_each_after_the_previous_ended() {
    let supervisor = supervisor();
    let log = Log::new();
    let origin = Instant::now();
    // Started in mixed order; stage 2 first, then 1, then 0.
    for (name, stage, linger) in [
        ("ingest", 2, 30),
        ("worker", 1, 10),
        ("flusher", 0, 5),
        ("ingest-b", 2, 50),
        ("worker-b", 1, 20),
    ] {
        let log = log.clone();
        supervisor.start(
            ChildSpec::new(name, move |ctx| {
                let log = log.clone();
                async move {
                    ctx.shutdown_requested().await;
                    log.push(format!("{name} asked at {:?}", origin.elapsed()));
                    sleep(linger * MS).await;
                    log.push(format!("{name} done"));
                }
            })
            .stage(stage),
        );
    }
    let report = supervisor.stop().await;
    assert_eq!(
        log.items(),
        [
            "ingest asked at 0ns",
            "ingest-b asked at 0ns",
            "ingest done",
            "ingest-b done",
            "worker asked at 50ms",
            "worker-b asked at 50ms",
            "worker done",
            "worker-b done",
            "flusher asked at 70ms",
            "flusher done",
        ]
    );
    assert_eq!(report.elapsed(), 75 * MS);
    assert!(report.is_clean());
}

#[tokio::test(start_paused = true)]
async fn a_deadline_aborts_the_stages_not_yet_asked() {
    let supervisor = Supervisor::builder()
        .shutdown_timeout(Duration::from_secs(1))
        .build(&Handle::current());
    supervisor.start(stubborn("front").stage(1));
    supervisor.start(polite("back", MS));
    let report = supervisor.stop().await;
    // `back` was never asked (its stage's turn never came) and is aborted with `front`.
    assert_eq!(endings(&report), ["front#0 aborted", "back#0 aborted"]);
}

#[tokio::test(start_paused = true)]
async fn endings_equal_incarnations() {
    let supervisor = supervisor();
    let incarnations = Log::new();
    for (name, restart) in [
        ("permanent", Restart::Permanent),
        ("transient", Restart::Transient),
        ("temporary", Restart::Temporary),
    ] {
        let incarnations = incarnations.clone();
        supervisor.start(
            ChildSpec::new(name, move |ctx| {
                incarnations.push(ctx.id());
                async move {
                    sleep(Duration::from_millis(3 + ctx.id().instance_id() % 7 * 3)).await;
                    match ctx.restarts() % 3 {
                        0 => Ok(()),
                        1 => Err("failed"),
                        _ => panic!("panicked"),
                    }
                }
            })
            .restart(restart)
            .backoff(Backoff::exponential(MS, 5 * MS))
            .intensity(1_000, Duration::from_secs(1)),
        );
    }
    supervisor.start(stubborn("stubborn"));
    sleep(Duration::from_secs(1)).await;
    let report = supervisor.stop().await;

    let mut started = incarnations.items();
    started.push(report.endings().last().unwrap().0); // `stubborn` is aborted, never logs.
    let mut ended: Vec<_> = report.endings().iter().map(|(id, _)| *id).collect();
    started.sort();
    ended.sort();
    assert_eq!(started, ended);
    let registry = supervisor.registry().metrics();
    let starts: u64 = registry.groups().map(|group| group.starts).sum();
    assert_eq!(starts as usize, report.endings().len());
    assert!(registry.is_empty());
}

#[tokio::test(start_paused = true)]
async fn nothing_to_stop_is_a_clean_empty_report() {
    let report = supervisor().stop().await;
    assert!(report.endings().is_empty());
    assert!(report.is_clean());
    assert_eq!(report.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn the_report_is_kept_for_every_later_wait() {
    let supervisor = supervisor();
    supervisor.start(polite("a", MS));
    let first = supervisor.stop().await;
    assert_eq!(supervisor.clone().wait().await, first);
    // A spec started after the end is aborted at once and never reported.
    supervisor.start(polite("late", MS));
    assert_eq!(supervisor.wait().await, first);
    assert_eq!(
        supervisor.states(),
        [
            ("a", ServiceState::Stopped),
            ("late", ServiceState::Stopped)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_spec_started_during_the_shutdown_is_asked_to_stop() {
    let supervisor = supervisor();
    supervisor.start(polite("first", 100 * MS));
    supervisor.shutdown();
    sleep(10 * MS).await;
    supervisor.start(polite("late", 10 * MS));
    let report = supervisor.wait().await;
    assert_eq!(endings(&report), ["late#0 completed", "first#0 completed"]);
}

#[test]
fn a_service_blocking_its_thread_is_abandoned_with_its_time_in_poll() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let supervisor = Supervisor::builder()
        .shutdown_timeout(20 * MS)
        .abort_grace(20 * MS)
        .build(runtime.handle());
    let (entered_tx, entered) = std_mpsc::channel();
    let (release, released) = std_mpsc::channel::<()>();
    let released = std::sync::Mutex::new(Some(released));
    supervisor.start(ChildSpec::new("stuck", move |_ctx| {
        let entered_tx = entered_tx.clone();
        let released = released.lock().unwrap().take();
        async move {
            // Leave the spawning worker's LIFO slot before blocking.
            tokio::task::yield_now().await;
            entered_tx.send(()).unwrap();
            // Blocks this worker thread inside one poll until the test releases it.
            if let Some(released) = released {
                let _ = released.recv();
            }
        }
    }));
    entered.recv().unwrap();
    let report = runtime.block_on(supervisor.stop());
    let [(id, Exit::Abandoned { in_poll })] = report.endings() else {
        panic!("not abandoned: {report}");
    };
    assert_eq!(id.to_string(), "stuck#0");
    assert!(*in_poll > Duration::ZERO);
    assert!(!report.is_clean());
    assert_eq!(supervisor.states(), [("stuck", ServiceState::Stopped)]);
    // Still stuck: the registry still shows it inside its poll.
    let metrics = supervisor.registry().instance_metrics(*id).unwrap();
    assert!(metrics.current_poll_duration.unwrap() >= *in_poll);
    release.send(()).unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_stubborn_stage_holds_the_next_one_only_until_its_stop_timeout() {
    let supervisor = Supervisor::builder()
        .shutdown_timeout(Duration::from_secs(10))
        .build(&Handle::current());
    let asked = Log::new();
    let origin = Instant::now();
    supervisor.start(stubborn("front").stage(1).stop_timeout(100 * MS));
    let log = asked.clone();
    supervisor.start(ChildSpec::new("back", move |ctx| {
        let log = log.clone();
        async move {
            ctx.shutdown_requested().await;
            log.push(origin.elapsed());
        }
    }));
    let report = supervisor.stop().await;
    assert_eq!(asked.items(), [100 * MS]);
    assert_eq!(endings(&report), ["front#0 aborted", "back#0 completed"]);
}

#[tokio::test(start_paused = true)]
async fn a_zero_stop_timeout_aborts_as_soon_as_the_stage_is_asked() {
    let supervisor = supervisor();
    supervisor.start(stubborn("impatient").stop_timeout(Duration::ZERO));
    let report = supervisor.stop().await;
    assert_eq!(exits(&report), [Exit::Aborted]);
    assert_eq!(report.elapsed(), Duration::ZERO);
}
