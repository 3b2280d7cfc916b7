//! Randomised interleavings of endings, aborts and observers, from `split` and `spawn`; every observer must agree.

mod support;

// Test bookkeeping: every atomic here is SeqCst, the simplest ordering to reason about; no
// hot path depends on it.
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::runtime::{Builder, Runtime};
use tokio::task::yield_now;
use vigil_status::ServiceError;

use crate::support::{for_both_starts, Boom, Kind, Rng, Start};

const ITERATIONS: u64 = 2_000;

#[derive(Clone, Copy, Debug)]
enum Body {
    /// Ends (ok or panicking) after this many yields; 0 ends on first poll.
    Ends { yields: u64, panics: bool },
    /// Never ends on its own.
    Forever,
}

#[derive(Clone, Copy, Debug)]
enum OwnedMode {
    AwaitInMain,
    AwaitInTask,
    Detach,
}

async fn yield_times(n: u64) {
    for _ in 0..n {
        yield_now().await;
    }
}

/// Runs one randomised scenario; returns the outcome and whether an abort
/// was issued.
async fn one_iteration(iteration: u64, start: Start) -> (Kind, bool) {
    let mut rng = Rng::new(iteration.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x5EED);
    let body = match rng.below(5) {
        4 => Body::Forever,
        _ => Body::Ends {
            yields: if rng.chance(2) { 0 } else { rng.below(4) },
            panics: rng.chance(2),
        },
    };
    // A service that never ends must be aborted; others sometimes are.
    let abort = matches!(body, Body::Forever) || rng.chance(3);
    let abort_from_status = rng.chance(2);
    let abort_after_yields = rng.below(4);
    let watchers = rng.below(7);
    let owned_mode = match rng.below(3) {
        0 => OwnedMode::AwaitInMain,
        1 => OwnedMode::AwaitInTask,
        _ => OwnedMode::Detach,
    };
    let status_in_main_first = rng.chance(2);
    let context =
        format!("{start:?} iteration {iteration}: {body:?}, abort {abort}, {owned_mode:?}");

    let drops = Arc::new(AtomicUsize::new(0));
    let ran_to_end = Arc::new(AtomicBool::new(false));
    let (status, owned) = {
        let drops = Arc::clone(&drops);
        let ran_to_end = Arc::clone(&ran_to_end);
        start.start(async move {
            match body {
                Body::Forever => std::future::pending().await,
                Body::Ends { yields, panics } => {
                    yield_times(yields).await;
                    ran_to_end.store(true, Ordering::SeqCst);
                    if panics {
                        std::panic::panic_any(Boom {
                            id: iteration,
                            drops,
                        });
                    }
                }
            }
        })
    };

    // Observers start before the abort, so they race with it and with the
    // ending.
    let mut tasks = Vec::new();
    for w in 0..watchers {
        let status = status.clone();
        tasks.push(tokio::spawn(async move {
            yield_times(w % 3).await;
            Kind::of_status(&status.await)
        }));
    }
    // Abort either through a status clone from another task, or through the
    // owned handle from this one; either way it races with the ending.
    let aborter = (abort && abort_from_status).then(|| {
        let status = status.clone();
        tokio::spawn(async move {
            yield_times(abort_after_yields).await;
            status.abort();
        })
    });
    if abort && !abort_from_status {
        yield_times(abort_after_yields).await;
        owned.abort();
    }

    let mut main_status = None;
    if status_in_main_first {
        main_status = Some(Kind::of_status(&status.clone().await));
    }
    let owned_result: Option<Result<(), ServiceError>> = match owned_mode {
        OwnedMode::AwaitInMain => Some(owned.await),
        OwnedMode::AwaitInTask => Some(tokio::spawn(owned).await.unwrap()),
        OwnedMode::Detach => {
            drop(owned);
            None
        }
    };
    let kind = Kind::of_status(&status.clone().await);
    if let Some(first) = main_status {
        assert_eq!(first, kind, "{context}");
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), kind, "{context}: a watcher disagrees");
    }
    if let Some(aborter) = aborter {
        aborter.await.unwrap();
    }
    assert!(status.is_finished(), "{context}");

    // The outcome matches what the service did.
    assert_eq!(
        ran_to_end.load(Ordering::SeqCst),
        kind != Kind::Cancelled,
        "{context}: {kind:?}"
    );
    match (body, abort) {
        (Body::Forever, _) => assert_eq!(kind, Kind::Cancelled, "{context}"),
        (Body::Ends { panics, .. }, false) => {
            let expected = if panics { Kind::Panicked } else { Kind::Ok };
            assert_eq!(kind, expected, "{context}");
        }
        (Body::Ends { panics, .. }, true) => {
            let finished = if panics { Kind::Panicked } else { Kind::Ok };
            assert!(
                kind == finished || kind == Kind::Cancelled,
                "{context}: {kind:?}"
            );
        }
    }

    // The owned handle gets the payload exactly when the outcome is a panic.
    if let Some(result) = owned_result {
        assert_eq!(
            Kind::of_owned(&result),
            kind,
            "{context}: the owned handle disagrees"
        );
        let payload = result.err().and_then(ServiceError::into_panic);
        assert_eq!(payload.is_some(), kind == Kind::Panicked, "{context}");
        if let Some(payload) = payload {
            assert_eq!(drops.load(Ordering::SeqCst), 0, "{context}: dropped early");
            let boom = payload.downcast::<Boom>().expect("the service's payload");
            assert_eq!(boom.id, iteration, "{context}");
        }
    }
    let expected_drops = usize::from(kind == Kind::Panicked);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        expected_drops,
        "{context}: payload drops"
    );
    (kind, abort)
}

/// How often each situation came up, to check the generator covers them all.
#[derive(Debug, Default)]
struct Tally {
    ok: u32,
    panicked: u32,
    cancelled: u32,
    /// An abort was issued but the service ended on its own first.
    abort_lost_the_race: u32,
}

impl Tally {
    fn add(&mut self, (kind, aborted): (Kind, bool)) {
        match kind {
            Kind::Ok => self.ok += 1,
            Kind::Panicked => self.panicked += 1,
            Kind::Cancelled => self.cancelled += 1,
        }
        if aborted && kind != Kind::Cancelled {
            self.abort_lost_the_race += 1;
        }
    }

    fn assert_covers_everything(&self) {
        let Tally {
            ok,
            panicked,
            cancelled,
            abort_lost_the_race,
        } = *self;
        assert!(
            ok > 0 && panicked > 0 && cancelled > 0 && abort_lost_the_race > 0,
            "some situation never came up: {self:?}"
        );
    }
}

fn stress(rt: &Runtime, salt: u64, start: Start) {
    let tally = rt.block_on(async {
        let mut tally = Tally::default();
        for i in 0..ITERATIONS {
            tally.add(one_iteration(i ^ salt, start).await);
        }
        tally
    });
    tally.assert_covers_everything();
}

for_both_starts! {
#[test]
fn stress_on_a_multi_thread_runtime(start: Start) {
    let rt = Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    stress(&rt, 0, start);
}
}

for_both_starts! {
#[test]
fn stress_on_a_current_thread_runtime(start: Start) {
    let rt = Builder::new_current_thread().build().unwrap();
    stress(&rt, 1 << 32, start);
}
}

for_both_starts! {
/// Many scenarios at once, so that owned handles and status clones of
/// different services are polled from different worker threads while their
/// services end.
#[test]
fn concurrent_scenarios_on_a_multi_thread_runtime(start: Start) {
    let rt = Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    let tally = rt.block_on(async {
        let mut tally = Tally::default();
        for round in 0..20_u64 {
            let scenarios: Vec<_> = (0..50)
                .map(|i| tokio::spawn(one_iteration((round * 1_000 + i) ^ (1 << 40), start)))
                .collect();
            for scenario in scenarios {
                tally.add(scenario.await.unwrap());
            }
        }
        tally
    });
    tally.assert_covers_everything();
}
}
