//! Restart intensity: give-up past the limit, both escalations, and the sliding window
//! against a simple model (proptest).

mod supervisor_fixture;

use std::time::Duration;

use proptest::prelude::*;
use tokio::runtime::Handle;
use tokio::time::sleep;
use vigil_supervisor::{Backoff, ChildSpec, Escalation, Exit, ServiceState, Supervisor};

use supervisor_fixture::{endings, Log, MS};

fn always_failing(calls: &Log<u32>) -> ChildSpec {
    let calls = calls.clone();
    ChildSpec::new("crasher", move |ctx| {
        calls.push(ctx.restarts());
        async { Err::<(), _>("boom") }
    })
    .backoff(Backoff::none())
    .intensity(3, Duration::from_secs(1))
}

fn bystander() -> ChildSpec {
    ChildSpec::new("bystander", |ctx| async move {
        ctx.shutdown_requested().await;
    })
}

#[tokio::test(start_paused = true)]
async fn past_the_limit_gives_up_and_shuts_everything_down() {
    let supervisor = Supervisor::builder().build(&Handle::current());
    let calls = Log::new();
    supervisor.start(bystander());
    supervisor.start(always_failing(&calls));

    // No shutdown is requested: the give-up escalates to one.
    let report = supervisor.wait().await;
    // `intensity(3, _)`: the first run and three restarts.
    assert_eq!(calls.items(), [0, 1, 2, 3]);
    assert_eq!(report.gave_up(), ["crasher"]);
    assert_eq!(
        endings(&report),
        [
            "crasher#0 failed",
            "crasher#1 failed",
            "crasher#2 failed",
            "crasher#3 failed",
            "bystander#0 completed",
        ]
    );
    assert!(!report.is_clean());
    assert_eq!(
        supervisor.states(),
        [
            ("bystander", ServiceState::Stopped),
            ("crasher", ServiceState::GaveUp)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn continue_keeps_the_others_running() {
    let supervisor = Supervisor::builder()
        .escalation(Escalation::Continue)
        .build(&Handle::current());
    let calls = Log::new();
    supervisor.start(bystander());
    supervisor.start(always_failing(&calls));
    sleep(Duration::from_secs(10)).await;
    assert_eq!(calls.items(), [0, 1, 2, 3]);
    assert_eq!(
        supervisor.states(),
        [
            ("bystander", ServiceState::Running),
            ("crasher", ServiceState::GaveUp)
        ]
    );

    let report = supervisor.stop().await;
    assert_eq!(report.gave_up(), ["crasher"]);
    assert_eq!(report.endings().last().unwrap().1, Exit::Completed);
    assert_eq!(report.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn restarts_spread_over_more_than_the_period_never_give_up() {
    let supervisor = supervisor_fixture::supervisor();
    let calls = Log::new();
    let log = calls.clone();
    supervisor.start(
        ChildSpec::new("slow-crasher", move |ctx| {
            log.push(ctx.restarts());
            async {
                sleep(400 * MS).await;
                Err::<(), _>("boom")
            }
        })
        .backoff(Backoff::none())
        // A restart every 400 ms: never more than 3 within any 1 s.
        .intensity(3, Duration::from_secs(1)),
    );
    // Incarnations start at 0, 400, …, 9600 ms.
    sleep(9_900 * MS).await;
    let report = supervisor.stop().await;
    assert!(report.gave_up().is_empty());
    assert_eq!(calls.items().len(), 25);
}

/// The model: OTP's intensity over the restarts' times. Returns how many incarnations run
/// before the service gives up, or `None` if it never does.
fn model(max: u32, period_ms: u64, lifetimes_ms: &[u64]) -> Option<usize> {
    let mut now = 0;
    let mut restarts: Vec<u64> = Vec::new();
    for (index, lifetime) in lifetimes_ms.iter().enumerate() {
        now += lifetime;
        let recent = restarts.iter().filter(|&&at| now - at < period_ms).count();
        if recent >= max as usize {
            return Some(index + 1);
        }
        restarts.push(now);
    }
    None
}

fn run(max: u32, period_ms: u64, lifetimes_ms: Vec<u64>) -> (usize, Vec<&'static str>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let supervisor = Supervisor::builder()
        .escalation(Escalation::Continue)
        .build(runtime.handle());
    let total: u64 = lifetimes_ms.iter().sum();
    let failures = lifetimes_ms.len() as u32;
    supervisor.start(
        ChildSpec::new("model", move |ctx| {
            let lifetime = lifetimes_ms.get(ctx.restarts() as usize).copied();
            async move {
                match lifetime {
                    Some(ms) => {
                        sleep(Duration::from_millis(ms)).await;
                        Err("boom")
                    }
                    None => {
                        ctx.shutdown_requested().await;
                        Ok(())
                    }
                }
            }
        })
        .backoff(Backoff::none())
        .intensity(max, Duration::from_millis(period_ms)),
    );
    let report = runtime.block_on(async {
        sleep(Duration::from_millis(total + 1)).await;
        supervisor.stop().await
    });
    let failed = report
        .endings()
        .iter()
        .filter(|(_, e)| e.is_failure())
        .count();
    assert!(failed <= failures as usize);
    (report.endings().len(), report.gave_up().to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sliding_window_matches_the_model(
        max in 0_u32..4,
        period_ms in 1_u64..200,
        lifetimes_ms in prop::collection::vec(0_u64..100, 1..16),
    ) {
        let expected = model(max, period_ms, &lifetimes_ms);
        let (incarnations, gave_up) = run(max, period_ms, lifetimes_ms.clone());
        match expected {
            Some(count) => {
                prop_assert_eq!(incarnations, count);
                prop_assert_eq!(gave_up, ["model"]);
            }
            None => {
                prop_assert_eq!(incarnations, lifetimes_ms.len() + 1);
                prop_assert!(gave_up.is_empty());
            }
        }
    }
}
