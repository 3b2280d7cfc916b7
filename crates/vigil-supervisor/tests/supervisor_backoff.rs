//! Restart delays under paused time: exact exponential sequence, jitter bounds, reset_after.

mod supervisor_fixture;

use std::time::Duration;

use tokio::time::{sleep, Instant};
use vigil_supervisor::{Backoff, ChildSpec, Jitter, ServiceState};

use supervisor_fixture::{endings, gaps, supervisor, Log, MS};

/// Fails at once for its first `failures` incarnations (recording when each started), then
/// runs until shutdown.
fn failing(name: &'static str, failures: u32, starts: &Log<Instant>) -> ChildSpec {
    let starts = starts.clone();
    ChildSpec::new(name, move |ctx| {
        let starts = starts.clone();
        async move {
            starts.push(Instant::now());
            if ctx.restarts() < failures {
                return Err("boom");
            }
            ctx.shutdown_requested().await;
            Ok(())
        }
    })
    .intensity(100, Duration::from_secs(60))
}

#[tokio::test(start_paused = true)]
async fn delays_double_up_to_the_cap() {
    let supervisor = supervisor();
    let starts = Log::new();
    supervisor
        .start(failing("crasher", 7, &starts).backoff(Backoff::exponential(10 * MS, 80 * MS)));
    sleep(Duration::from_secs(5)).await;
    let report = supervisor.stop().await;

    assert_eq!(
        gaps(&starts.items()),
        [
            10 * MS,
            20 * MS,
            40 * MS,
            80 * MS,
            80 * MS,
            80 * MS,
            80 * MS
        ]
    );
    assert_eq!(report.endings().len(), 8);
    assert_eq!(endings(&report)[7], "crasher#7 completed");
}

#[tokio::test(start_paused = true)]
async fn backing_off_is_visible_in_states() {
    let supervisor = supervisor();
    let starts = Log::new();
    let started = Instant::now();
    supervisor.start(
        failing("crasher", 2, &starts)
            .backoff(Backoff::exponential(100 * MS, Duration::from_secs(1))),
    );
    sleep(50 * MS).await;
    assert_eq!(
        supervisor.states(),
        [(
            "crasher",
            ServiceState::BackingOff {
                until: started + 100 * MS,
                restarts: 1
            }
        )]
    );
    sleep(100 * MS).await; // 150 ms: the second incarnation failed at 100, retries at 300.
    assert_eq!(
        supervisor.states(),
        [(
            "crasher",
            ServiceState::BackingOff {
                until: started + 300 * MS,
                restarts: 2
            }
        )]
    );
    sleep(200 * MS).await;
    assert_eq!(supervisor.states(), [("crasher", ServiceState::Running)]);
    supervisor.stop().await;
    assert_eq!(supervisor.states(), [("crasher", ServiceState::Stopped)]);
}

async fn jittered_gaps(seed: u64) -> Vec<Duration> {
    let supervisor = supervisor();
    let starts = Log::new();
    let backoff = Backoff::exponential(10 * MS, 640 * MS)
        .jitter(Jitter::Full)
        .seed(seed);
    supervisor.start(failing("jittery", 8, &starts).backoff(backoff));
    sleep(Duration::from_secs(10)).await;
    supervisor.stop().await;
    gaps(&starts.items())
}

#[tokio::test(start_paused = true)]
async fn full_jitter_stays_within_the_nominal_delay_and_is_reproducible() {
    let nominal: Vec<Duration> = [10, 20, 40, 80, 160, 320, 640, 640]
        .iter()
        .map(|&ms| ms * MS)
        .collect();
    let first = jittered_gaps(42).await;
    assert_eq!(first.len(), nominal.len());
    for (gap, bound) in first.iter().zip(&nominal) {
        assert!(gap <= bound, "{gap:?} > {bound:?}");
    }
    assert_ne!(first, nominal, "jitter changed nothing");
    // The same seed gives the same delays; another seed other delays.
    assert_eq!(jittered_gaps(42).await, first);
    assert_ne!(jittered_gaps(43).await, first);
}

#[tokio::test(start_paused = true)]
async fn reset_after_starts_the_sequence_over() {
    let supervisor = supervisor();
    // (start, end) of every incarnation.
    let runs = Log::new();
    let log = runs.clone();
    supervisor.start(
        ChildSpec::new("flaky", move |ctx| {
            let log = log.clone();
            async move {
                let start = Instant::now();
                match ctx.restarts() {
                    // Incarnation 3 runs long enough to reset the sequence before failing.
                    3 => sleep(100 * MS).await,
                    5 => {
                        ctx.shutdown_requested().await;
                        return Ok(());
                    }
                    _ => {}
                }
                log.push((start, Instant::now()));
                Err("boom")
            }
        })
        .backoff(Backoff::exponential(10 * MS, Duration::from_secs(1)).reset_after(50 * MS)),
    );
    sleep(Duration::from_secs(1)).await;
    supervisor.stop().await;

    let runs = runs.items();
    let delays: Vec<Duration> = runs.windows(2).map(|pair| pair[1].0 - pair[0].1).collect();
    // Without the reset the fourth delay would be 80 ms.
    assert_eq!(delays, [10 * MS, 20 * MS, 40 * MS, 10 * MS]);
}

#[tokio::test(start_paused = true)]
async fn backoff_none_restarts_at_once() {
    let supervisor = supervisor();
    let starts = Log::new();
    supervisor.start(failing("eager", 3, &starts).backoff(Backoff::none()));
    sleep(MS).await;
    supervisor.stop().await;
    assert_eq!(gaps(&starts.items()), [Duration::ZERO; 3]);
}
