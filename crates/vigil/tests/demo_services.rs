//! `vigil::demo`: every demo service ends the way its documentation says, and every incarnation is reported.

use std::time::{Duration, Instant};

use vigil::registry::Cause;
use vigil::{Exit, ServiceState, ShutdownReport};

fn exits_of<'a>(report: &'a ShutdownReport, name: &str) -> Vec<&'a Exit> {
    report
        .endings()
        .iter()
        .filter(|(id, _)| id.name() == name)
        .map(|(_, exit)| exit)
        .collect()
}

/// Keeps the demo crasher's panics out of the test output.
fn quiet_demo_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload().downcast_ref::<String>();
        if !message.is_some_and(|text| text.starts_with("lost connection to the broker")) {
            default(info);
        }
    }));
}

/// Longest the tests wait for the demo's events, which take 2 to 6 s on an idle machine:
/// only a hang gets near it.
const EVENTS_DEADLINE: Duration = Duration::from_secs(60);

/// Whether `crasher` has crashed and runs again, `flaky_config` is given up, and the
/// dispatcher has started 8 jobs.
fn has_shown_every_ending(supervisor: &vigil::demo::DemoSupervisor) -> bool {
    let snapshot = supervisor.registry().metrics();
    let states = supervisor.states();
    let state = |name: &str| {
        states
            .iter()
            .find(|(spec, _)| *spec == name)
            .map(|(_, state)| *state)
    };
    snapshot
        .group("crasher")
        .is_some_and(|group| group.endings.panicked >= 1)
        && state("crasher") == Some(ServiceState::Running)
        && state("flaky_config") == Some(ServiceState::GaveUp)
        && snapshot.group("job").is_some_and(|group| group.starts >= 8)
}

/// The demo's services, started on a runtime of their own, as the `top` example runs them.
fn running_demo() -> (tokio::runtime::Runtime, vigil::demo::DemoSupervisor) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap();
    let supervisor = vigil::demo::supervisor(runtime.handle());
    vigil::demo::start(&supervisor);
    (runtime, supervisor)
}

#[test]
fn the_demo_crashes_gives_up_gets_stuck_and_reports_every_ending() {
    quiet_demo_panics();
    let (runtime, supervisor) = running_demo();
    let (live, report, snapshot) = runtime.block_on(async {
        // Until what the assertions below need has happened, however long a loaded machine
        // takes: a crash and its restart, flaky_config's 3 restarts used up (backoff 0.3 +
        // 0.6 + 1.2 s), 8 jobs. Then stop while `crasher` runs (it panics 1.5 s after each
        // start), so that every start it had is an incarnation the report holds.
        let waited = Instant::now();
        while !has_shown_every_ending(&supervisor) {
            assert!(
                waited.elapsed() < EVENTS_DEADLINE,
                "not seen within {EVENTS_DEADLINE:?}: {:?}",
                supervisor.states()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let live = supervisor.registry().metrics();
        let report = supervisor.stop().await;
        (live, report, supervisor.registry().metrics())
    });
    runtime.shutdown_timeout(Duration::from_secs(10));

    // The crash loop: panicked with its message, restarted under a new id.
    let crasher = exits_of(&report, "crasher");
    assert!(matches!(crasher[0], Exit::Panicked(text) if text.starts_with("lost connection")));
    assert!(crasher.len() >= 2, "{report}");
    // flaky_config failed four times (the first run and 3 restarts), then was given up.
    let flaky = exits_of(&report, "flaky_config");
    assert_eq!(flaky.len(), 4, "{report}");
    assert!(flaky
        .iter()
        .all(|exit| matches!(exit, Exit::Failed(text) if text.contains("not found"))));
    assert_eq!(report.gave_up(), ["flaky_config"]);
    // The ones that listen complete; `deaf` is aborted; `stuck` is abandoned inside its poll.
    for name in [
        "ingest",
        "bursty",
        "idle",
        "dispatcher",
        "orders",
        "order_feed",
        "batch",
    ] {
        assert_eq!(
            exits_of(&report, name),
            [&Exit::Completed],
            "{name}: {report}"
        );
    }
    assert_eq!(exits_of(&report, "deaf"), [&Exit::Aborted], "{report}");
    match exits_of(&report, "stuck")[..] {
        [Exit::Abandoned { in_poll }] => assert!(*in_poll >= vigil::demo::ABORT_GRACE),
        ref other => panic!("stuck ended {other:?}: {report}"),
    }
    assert!(!report.is_clean());

    // Counters agree with the report: every incarnation started was reported once.
    let starts: u64 = snapshot
        .groups()
        .filter(|group| group.name != "job" && group.name != "batch_job")
        .map(|group| group.starts)
        .sum();
    assert_eq!(starts, report.endings().len() as u64, "{report}");
    let crasher = snapshot.group("crasher").unwrap();
    assert_eq!(crasher.restarts, crasher.starts - 1);
    assert!(crasher.endings.panicked >= 1);
    assert_eq!(snapshot.group("flaky_config").unwrap().endings.failed, 4);
    // The demo's registry measures slow polls and poll durations of every instance, restarted
    // incarnations included; `ingest` polls in 5 ms slices.
    assert!(!live.is_empty());
    for (id, metrics) in &live {
        assert!(metrics.slow_polls.is_some(), "{id}");
        assert!(metrics.poll_histogram.is_some(), "{id}");
        assert!(metrics.scheduling.is_some(), "{id}");
    }
    // The runtime it runs on is watched, and `orders`' mailbox is listed under its name.
    assert_eq!(live.runtime("main").unwrap().workers.len(), 4);
    let orders = live.group("orders").unwrap().mailbox.unwrap();
    assert_eq!(orders.capacity, vigil::demo::ORDERS_CAPACITY as u64);
    assert!(orders.sent >= orders.received);
    let ingest = live.group("ingest").unwrap();
    assert!(ingest.slow_polls.unwrap().slow_poll_count > 0);
    let histogram = ingest.poll_histogram.unwrap();
    assert!(
        histogram.quantile(0.5) >= Duration::from_millis(1),
        "{histogram:?}"
    );
    // The dispatcher's unsupervised jobs are counted by name too.
    assert!(snapshot.group("job").unwrap().starts >= 8);
}

#[test]
fn the_stuck_service_is_captured_inside_wait_for_legacy_lock() {
    quiet_demo_panics();
    let profiler = vigil::demo::profiler();
    if !profiler.is_enabled() {
        eprintln!("skipped: no profiler on this platform");
        return;
    }
    let (runtime, supervisor) = running_demo();
    // `stuck` blocks 3 s after it starts, for 2.5 s, every 5.5 s. A capture may miss (on a
    // loaded machine the thread may not answer in time, or the poll ends meanwhile): try
    // again until one has a stack.
    let waited = Instant::now();
    let mut missed = Vec::new();
    let stuck = loop {
        let stuck = profiler.stuck(supervisor.registry(), Duration::from_millis(200));
        if let Some(stuck) = stuck.into_iter().find(|stuck| stuck.id.name() == "stuck") {
            if stuck.stack.is_ok() {
                break stuck;
            }
            missed.push(stuck.to_string());
        }
        assert!(
            waited.elapsed() < EVENTS_DEADLINE,
            "stuck never captured blocked; missed: {missed:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let stack = stuck.stack.as_ref().expect("a stack");
    assert!(stack.contains_function("wait_for_legacy_lock"), "{stuck}");
    supervisor.shutdown_now();
    runtime.shutdown_timeout(Duration::from_secs(10));
}

/// Within its first 30 s (60 s on a loaded machine) the demo gives each of the three
/// verdicts, to the services built for them: `ingest`'s polls are slow, `orders` is
/// backlogged, and while `batch` saturates the runtime some service waits for it.
#[test]
fn the_demo_shows_each_verdict() {
    quiet_demo_panics();
    let (runtime, supervisor) = running_demo();
    let seen = runtime.block_on(async {
        let mut seen: Vec<(&'static str, Cause, String)> = Vec::new();
        let has = |seen: &[(&str, Cause, String)], name: Option<&str>, cause: Cause| {
            seen.iter().any(|(service, seen_cause, _)| {
                *seen_cause == cause && name.is_none_or(|name| name == *service)
            })
        };
        let started = Instant::now();
        let mut earlier = supervisor.registry().metrics();
        while !(has(&seen, Some("ingest"), Cause::PollsSlow)
            && has(&seen, Some("orders"), Cause::Backlogged)
            && has(&seen, None, Cause::RuntimeSaturated))
        {
            assert!(
                started.elapsed() < EVENTS_DEADLINE,
                "not every verdict within {EVENTS_DEADLINE:?}: {seen:?}"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
            let later = supervisor.registry().metrics();
            for verdict in later.verdicts_since(&earlier) {
                seen.push((verdict.name, verdict.cause, verdict.to_string()));
            }
            earlier = later;
        }
        supervisor.stop().await;
        seen
    });
    runtime.shutdown_timeout(Duration::from_secs(10));
    let sentence = |name: &str, cause: Cause| {
        seen.iter()
            .find(|(service, seen_cause, _)| *service == name && *seen_cause == cause)
            .map(|(_, _, text)| text.clone())
            .unwrap()
    };
    assert!(sentence("ingest", Cause::PollsSlow).starts_with("polls slow (p99 "));
    assert!(sentence("orders", Cause::Backlogged).starts_with("backlogged (mailbox "));
    let (_, _, saturated) = seen
        .iter()
        .find(|(_, cause, _)| *cause == Cause::RuntimeSaturated)
        .unwrap();
    assert!(saturated.contains("workers"), "{saturated}");
    // `idle` never lags.
    assert!(seen.iter().all(|(name, _, _)| *name != "idle"), "{seen:?}");
}
