//! Behaviour of the handles, from `split` and from `spawn`: outcomes, payload delivery, abort, detaching, `is_finished`.

mod support;

use std::future::Future;
use std::pin::Pin;
// Test bookkeeping: every atomic here is SeqCst, the simplest ordering to reason about; no
// hot path depends on it.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

use tokio::sync::{mpsc, oneshot};
use vigil_status::{ServiceError, ServiceJoinHandle, ServiceStatusError, ServiceStatusJoinHandle};

use crate::support::{for_both_starts, poll_once, Start};

/// Starts a service that runs `body` once the returned sender fires (or is
/// dropped).
fn gated<F>(
    start: Start,
    body: F,
) -> (
    oneshot::Sender<()>,
    ServiceStatusJoinHandle,
    ServiceJoinHandle,
)
where
    F: FnOnce() + Send + 'static,
{
    let (release, gate) = oneshot::channel::<()>();
    let (status, owned) = start.start(async move {
        let _ = gate.await;
        body();
    });
    (release, status, owned)
}

/// Starts a service that never ends on its own.
fn forever(start: Start) -> (ServiceStatusJoinHandle, ServiceJoinHandle) {
    start.start(std::future::pending::<()>())
}

/// The kind of ending a status handle reported.
fn status_kind(result: &Result<(), ServiceStatusError>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(err) if err.is_panic() && !err.is_cancelled() => "panicked",
        Err(err) if err.is_cancelled() && !err.is_panic() => "cancelled",
        Err(err) => panic!("inconsistent status error {err:?}"),
    }
}

/// The kind of ending the owned handle reported.
fn owned_kind(result: &Result<(), ServiceError>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(err) if err.is_panic() && !err.is_cancelled() => "panicked",
        Err(err) if err.is_cancelled() && !err.is_panic() => "cancelled",
        Err(err) => panic!("inconsistent service error {err:?}"),
    }
}

/// The panic payload of an owned result, downcast to `T`.
fn payload<T: 'static>(result: Result<(), ServiceError>) -> T {
    let err = result.expect_err("the service should have panicked");
    *err.into_panic()
        .expect("a panic payload")
        .downcast::<T>()
        .expect("the payload type the service panicked with")
}

/// Sets a counter when dropped, to observe when a panic payload is released.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn handles_and_errors_have_the_promised_traits() {
    fn handle<T: Send + Sync + Unpin + std::fmt::Debug + 'static>() {}
    fn error<T: std::error::Error + Send + Sync + 'static>() {}
    fn copy_eq<T: Copy + Eq + std::hash::Hash>() {}
    fn clone<T: Clone>() {}
    handle::<ServiceJoinHandle>();
    handle::<ServiceStatusJoinHandle>();
    clone::<ServiceStatusJoinHandle>();
    error::<ServiceError>();
    error::<ServiceStatusError>();
    copy_eq::<ServiceStatusError>();
}

for_both_starts! {
#[tokio::test(flavor = "current_thread")]
async fn ok_ending_is_reported_by_every_handle(start: Start) {
    let (status, owned) = start.start(async {});
    let mut late = status.clone();
    assert_eq!(status_kind(&status.clone().await), "ok");
    assert!(owned.await.is_ok());
    assert_eq!(status_kind(&(&mut late).await), "ok");
    // A status handle may be polled again after it resolved.
    assert_eq!(status_kind(&late.await), "ok");
    assert!(status.is_finished());
    assert_eq!(
        format!("{status:?}"),
        r#"ServiceStatusJoinHandle { state: "ok" }"#
    );
}
}

for_both_starts! {
#[tokio::test(flavor = "current_thread")]
async fn panic_with_str_payload_reaches_the_owned_handle(start: Start) {
    let (status, owned) = start.start(async { panic!("static boom") });
    let result = owned.await;
    assert_eq!(
        result.as_ref().unwrap_err().to_string(),
        "service panicked: static boom"
    );
    assert_eq!(payload::<&'static str>(result), "static boom");
    assert_eq!(status_kind(&status.await), "panicked");
}
}

for_both_starts! {
#[tokio::test(flavor = "current_thread")]
async fn panic_with_string_payload_reaches_the_owned_handle(start: Start) {
    let n = 7;
    let (status, owned) = start.start(async move { panic!("formatted boom {n}") });
    assert_eq!(status_kind(&status.clone().await), "panicked");
    let err = owned.await.unwrap_err();
    assert_eq!(err.status(), status.await.unwrap_err());
    assert_eq!(ServiceStatusError::from(&err), err.status());
    assert_eq!(payload::<String>(Err(err)), "formatted boom 7");
}
}

for_both_starts! {
#[tokio::test(flavor = "current_thread")]
async fn payload_survives_status_handles_awaited_first(start: Start) {
    let (status, owned) = start.start(async { std::panic::panic_any(41_u64 + 1) });
    for _ in 0..3 {
        assert_eq!(status_kind(&status.clone().await), "panicked");
    }
    // A clone made after the ending agrees too.
    let late = status.clone();
    assert_eq!(status_kind(&late.await), "panicked");
    assert_eq!(payload::<u64>(owned.await), 42);
    // ...and so do status handles awaited after the owned handle.
    assert_eq!(status_kind(&status.await), "panicked");
}
}

for_both_starts! {
#[tokio::test(flavor = "current_thread")]
async fn abort_through_the_owned_handle_cancels(start: Start) {
    let (status, owned) = forever(start);
    assert!(!owned.is_finished());
    owned.abort();
    assert_eq!(status_kind(&status.clone().await), "cancelled");
    let result = owned.await;
    assert_eq!(owned_kind(&result), "cancelled");
    let err = result.unwrap_err();
    assert_eq!(err.to_string(), "service was cancelled");
    let err = err
        .try_into_panic()
        .expect_err("a cancelled service has no payload");
    assert!(err.into_panic().is_none());
    assert_eq!(status_kind(&status.await), "cancelled");
}
}

for_both_starts! {
#[tokio::test(flavor = "current_thread")]
async fn abort_through_a_status_clone_cancels(start: Start) {
    let (status, owned) = forever(start);
    status.clone().abort();
    let result = owned.await;
    assert_eq!(owned_kind(&result), "cancelled");
    assert_eq!(status_kind(&status.await), "cancelled");
}
}

for_both_starts! {
#[tokio::test(flavor = "current_thread")]
async fn abort_after_the_ending_changes_nothing(start: Start) {
    let (status, owned) = start.start(async {});
    assert!(status.clone().await.is_ok());
    owned.abort();
    status.abort();
    assert!(owned.await.is_ok());
    assert!(status.await.is_ok());
}
}

for_both_starts! {
#[test]
fn runtime_shutdown_reports_cancelled(start: Start) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (status, owned) = rt.block_on(async { forever(start) });
    drop(rt);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert!(status.is_finished());
    assert_eq!(status_kind(&rt.block_on(status.clone())), "cancelled");
    assert_eq!(owned_kind(&rt.block_on(owned)), "cancelled");
}
}

async fn hundred_concurrent_clones(start: Start, service_panics: bool) {
    let (release, status, owned) = gated(start, move || {
        if service_panics {
            panic!("{}", String::from("late boom"));
        }
    });
    let (polled_tx, mut polled_rx) = mpsc::unbounded_channel();
    let watchers: Vec<_> = (0..100)
        .map(|_| {
            let mut clone = status.clone();
            let polled_tx = polled_tx.clone();
            tokio::spawn(async move {
                // Poll once so this clone is registered while the service
                // is still running, then wait for it to end.
                assert!(poll_once(&mut clone).await.is_pending());
                polled_tx.send(()).unwrap();
                clone.await
            })
        })
        .collect();
    drop(polled_tx);
    for _ in 0..100 {
        polled_rx.recv().await.unwrap();
    }
    assert!(!status.is_finished(), "the service is still gated");

    release.send(()).unwrap();
    let expected = if service_panics { "panicked" } else { "ok" };
    for watcher in watchers {
        assert_eq!(status_kind(&watcher.await.unwrap()), expected);
    }
    let result = owned.await;
    assert_eq!(owned_kind(&result), expected);
    if service_panics {
        assert_eq!(payload::<String>(result), "late boom");
    }
}

for_both_starts! {
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_clones_awaited_concurrently_agree_on_ok(start: Start) {
    hundred_concurrent_clones(start, false).await;
}
}

for_both_starts! {
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_clones_awaited_concurrently_agree_on_panic(start: Start) {
    hundred_concurrent_clones(start, true).await;
}
}

for_both_starts! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn is_finished_goes_from_false_to_true(start: Start) {
    let (release, status, owned) = gated(start, || {});
    let other = status.clone();
    assert!(!status.is_finished());
    assert!(!owned.is_finished());
    assert_eq!(
        format!("{owned:?}"),
        r#"ServiceJoinHandle { state: "running", completed: false }"#
    );

    release.send(()).unwrap();
    assert!(status.await.is_ok());
    assert!(owned.is_finished());
    assert!(other.is_finished());
    assert!(owned.await.is_ok());
}
}

for_both_starts! {
#[tokio::test(flavor = "current_thread")]
async fn is_finished_before_any_handle_is_polled(start: Start) {
    let (status, owned) = start.start(async {});
    // On a current-thread runtime the service runs as soon as we yield; no
    // handle is polled here. After a split only tokio knows it has ended;
    // the spawn wrapper has recorded how.
    let mut yields = 0;
    while !status.is_finished() {
        assert!(yields < 1_000, "the service never ran");
        tokio::task::yield_now().await;
        yields += 1;
    }
    assert!(owned.is_finished());
    let state = match start {
        Start::Split => "finished",
        Start::Spawn => "ok",
    };
    assert_eq!(
        format!("{status:?}"),
        format!("ServiceStatusJoinHandle {{ state: {state:?} }}")
    );
    assert!(owned.await.is_ok());
}
}

for_both_starts! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_owned_handle_detaches_the_service(start: Start) {
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let (release, status, owned) = gated(start, move || done_tx.send(42).unwrap());
    drop(owned);
    assert!(
        !status.is_finished(),
        "dropping the owned handle must not abort"
    );
    release.send(()).unwrap();
    assert!(status.clone().await.is_ok());
    assert_eq!(done_rx.recv().await, Some(42), "the service ran to its end");
    assert!(status.await.is_ok());
}
}

for_both_starts! {
#[tokio::test(flavor = "current_thread")]
async fn detached_panic_payload_is_dropped_once_seen(start: Start) {
    let drops = Arc::new(AtomicUsize::new(0));
    let counter = DropCounter(Arc::clone(&drops));
    let (release, status, owned) = gated(start, move || std::panic::panic_any(counter));
    drop(owned);
    release.send(()).unwrap();
    assert_eq!(status_kind(&status.await), "panicked");
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "nobody can take it: dropped"
    );
}
}

for_both_starts! {
#[tokio::test(flavor = "current_thread")]
async fn payload_is_kept_for_the_owned_handle_until_taken(start: Start) {
    let drops = Arc::new(AtomicUsize::new(0));
    let counter = DropCounter(Arc::clone(&drops));
    let (status, owned) = start.start(async move { std::panic::panic_any(counter) });
    assert_eq!(status_kind(&status.await), "panicked");
    assert_eq!(drops.load(Ordering::SeqCst), 0, "kept for the owned handle");

    // Dropping the owned handle without awaiting it releases the payload.
    drop(owned);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}
}

/// Lives inside a service until the service is dropped, and notes whether the service's
/// handles could already see the ending at that moment.
struct Witness {
    status: Arc<OnceLock<ServiceStatusJoinHandle>>,
    /// 0: not dropped yet; 1: dropped before any handle could see the ending; 2: after.
    dropped: Arc<AtomicUsize>,
}

impl Drop for Witness {
    fn drop(&mut self) {
        let finished = self.status.get().expect("set after starting").is_finished();
        let seen = if finished { 2 } else { 1 };
        self.dropped.store(seen, Ordering::SeqCst);
    }
}

/// How a [`Holder`] service ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HolderEnding {
    Returns,
    Panics,
    IsAborted,
}

/// A service that keeps its [`Witness`] in its own state (not in an async block's locals,
/// which are gone before `Ready`), so the witness is dropped when the service is. It waits
/// (yielding) until the witness holds a status handle, then ends.
struct Holder {
    witness: Witness,
    ending: HolderEnding,
}

impl Future for Holder {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.witness.status.get().is_none() || self.ending == HolderEnding::IsAborted {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        match self.ending {
            HolderEnding::Returns => Poll::Ready(()),
            _ => panic!("holder panics"),
        }
    }
}

for_both_starts! {
/// When a handle resolves, the service has been dropped (its resources released), however
/// it ended: as with tokio's `JoinHandle`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_is_dropped_before_its_handles_resolve(start: Start) {
    let endings = [HolderEnding::Returns, HolderEnding::Panics, HolderEnding::IsAborted];
    for ending in endings {
        let status_cell = Arc::new(OnceLock::new());
        let dropped = Arc::new(AtomicUsize::new(0));
        let witness = Witness {
            status: Arc::clone(&status_cell),
            dropped: Arc::clone(&dropped),
        };
        let (status, owned) = start.start(Holder { witness, ending });
        status_cell.set(status.clone()).unwrap();
        if ending == HolderEnding::IsAborted {
            owned.abort();
        }
        let result = owned.await;
        assert_eq!(result.is_ok(), ending == HolderEnding::Returns, "{ending:?}");
        assert_eq!(dropped.load(Ordering::SeqCst), 1, "{ending:?}");
        assert_eq!(status.await.is_ok(), ending == HolderEnding::Returns, "{ending:?}");
    }
}
}

for_both_starts! {
#[tokio::test(flavor = "current_thread")]
async fn dropping_a_pending_status_future_loses_nothing(start: Start) {
    let (release, status, owned) = gated(start, || panic!("after a select"));
    let mut loser = status.clone();
    tokio::select! {
        biased;
        _ = std::future::ready(()) => {}
        _ = &mut loser => unreachable!("the service is gated"),
    }
    assert!(poll_once(&mut loser).await.is_pending());
    drop(loser);
    release.send(()).unwrap();
    assert_eq!(status_kind(&status.await), "panicked");
    assert_eq!(payload::<&str>(owned.await), "after a select");
}
}

for_both_starts! {
#[tokio::test(flavor = "current_thread")]
async fn owned_handle_is_cancel_safe_in_a_select_loop(start: Start) {
    let (release, status, mut owned) = gated(start, || {});
    let mut release = Some(release);
    let result = loop {
        tokio::select! {
            result = &mut owned => break result,
            _ = tokio::task::yield_now() => {
                if let Some(release) = release.take() {
                    release.send(()).unwrap();
                }
            }
        }
    };
    assert!(result.is_ok());
    assert!(status.await.is_ok());
}
}

/// Uses up the current task's coop budget without yielding.
async fn exhaust_coop_budget() {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    for _ in 0..1_000 {
        tx.send(()).unwrap();
    }
    // Receiving from a ready channel spends one unit of budget per poll and
    // does not yield on its own; it returns `Pending` once the budget is
    // gone, long before the channel is empty.
    let mut received = 0;
    while poll_once(&mut Box::pin(rx.recv())).await.is_ready() {
        received += 1;
    }
    assert!(received < 1_000, "coop budget was not enforced");
}

/// With no coop budget left, a split's handle that would poll tokio's
/// `JoinHandle` yields (returns `Pending` and is polled again soon), even when
/// the task has ended, and then resolves. A spawned service's handles never
/// poll tokio: once the service has ended they are ready, budget or not.
async fn exhausted_coop_budget_yields_then_resolves(start: Start) {
    let yields = start == Start::Split;
    let (status_a, _owned_a) = start.start(async {});
    let (status_b, mut owned_b) = start.start(async {});
    // Let both services end first, so that a `Pending` below can only come
    // from the exhausted budget. No handle has polled tokio yet.
    while !(status_a.is_finished() && status_b.is_finished()) {
        tokio::task::yield_now().await;
    }

    let mut status = status_a.clone();
    exhaust_coop_budget().await;
    assert_eq!(poll_once(&mut status).await.is_pending(), yields);
    assert!(status.await.is_ok());

    exhaust_coop_budget().await;
    let result = match poll_once(&mut owned_b).await {
        Poll::Pending => {
            assert!(yields, "pending although the outcome is recorded");
            owned_b.await
        }
        Poll::Ready(result) => {
            assert!(!yields, "ready without budget");
            result
        }
    };
    assert!(result.is_ok());
    assert!(status_b.await.is_ok());
}

for_both_starts! {
#[tokio::test(flavor = "current_thread")]
async fn exhausted_coop_budget_yields_then_resolves_on_current_thread(start: Start) {
    exhausted_coop_budget_yields_then_resolves(start).await;
}
}

for_both_starts! {
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_coop_budget_yields_then_resolves_on_multi_thread(start: Start) {
    exhausted_coop_budget_yields_then_resolves(start).await;
}
}

/// A waker that counts its wakeups.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

for_both_starts! {
/// Yielding for lack of budget must not wake the other waiting handles.
/// (Tokio's `JoinHandle`, polled with no budget, would wake the fan-out; in
/// the body of a multi-thread `block_on` it even does so synchronously.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_coop_budget_does_not_wake_other_waiters(start: Start) {
    let (release, status, owned) = gated(start, || {});
    let counter = Arc::new(CountingWaker::default());
    let mut other = status.clone();
    let other_waker = Waker::from(Arc::clone(&counter));
    let poll = Pin::new(&mut other).poll(&mut Context::from_waker(&other_waker));
    assert!(poll.is_pending());

    let mut mine = status.clone();
    exhaust_coop_budget().await;
    assert!(poll_once(&mut mine).await.is_pending(), "budget exhausted");
    assert_eq!(counter.0.load(Ordering::SeqCst), 0, "spurious wakeup");

    release.send(()).unwrap();
    assert!(mine.await.is_ok());
    assert_eq!(counter.0.load(Ordering::SeqCst), 1, "woken by the ending");
    assert!(owned.await.is_ok());
}
}

for_both_starts! {
#[tokio::test(flavor = "current_thread")]
#[should_panic(expected = "`ServiceJoinHandle` polled after completion")]
async fn polling_the_owned_handle_after_completion_panics(start: Start) {
    let (_status, mut owned) = start.start(async {});
    assert!((&mut owned).await.is_ok());
    let _ = poll_once(&mut owned).await;
}
}
