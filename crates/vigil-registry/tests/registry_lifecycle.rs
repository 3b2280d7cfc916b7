//! Instance lifecycles: every way of ending removes an instance from snapshots; detach, stuck polls, custom monitors, mock-clock figures, sharing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use tokio::runtime::{Builder, Runtime};
use tokio::sync::{mpsc, oneshot, watch};
use vigil_monitor::{MockClock, PollMonitor, PollOutcome, Ticks};
use vigil_registry::{InstanceId, Registry, ServiceId, ServiceObj, ServicesMetrics, TaskId};

fn multi_thread() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

fn current_thread() -> Runtime {
    Builder::new_current_thread().build().unwrap()
}

fn id(name: &'static str, instance: u64) -> ServiceId {
    ServiceId::new(TaskId::new(name), instance)
}

fn listed(snapshot: &ServicesMetrics) -> Vec<String> {
    snapshot.iter().map(|(id, _)| id.to_string()).collect()
}

/// A service that parks until `rx` fires (or its sender is dropped).
fn parked(name: &'static str, rx: oneshot::Receiver<()>) -> ServiceObj {
    ServiceObj::new(name, async move {
        let _ = rx.await;
    })
}

fn basic_start_complete_absent(runtime: &Runtime) {
    let registry = Registry::new();
    let (tx_a, rx_a) = oneshot::channel();
    let (tx_b, rx_b) = oneshot::channel();
    let a = registry.start_in(runtime.handle(), parked("svc", rx_a));
    let b = registry.start_in(runtime.handle(), parked("svc", rx_b));
    let done = registry.start_in(runtime.handle(), ServiceObj::new("svc", async {}));
    assert!(registry.metrics().get(id("svc", 0)).is_some());
    assert!(registry.metrics().get(id("svc", 1)).is_some());

    runtime.block_on(done).unwrap();
    assert_eq!(listed(&registry.metrics()), ["svc#0", "svc#1"]);

    tx_a.send(()).unwrap();
    runtime.block_on(a).unwrap();
    assert_eq!(listed(&registry.metrics()), ["svc#1"]);

    tx_b.send(()).unwrap();
    runtime.block_on(b).unwrap();
    assert!(registry.metrics().is_empty());
}

#[test]
fn basic_flow_on_a_current_thread_runtime() {
    basic_start_complete_absent(&current_thread());
}

#[test]
fn basic_flow_on_a_multi_thread_runtime() {
    basic_start_complete_absent(&multi_thread());
}

#[derive(Debug, PartialEq)]
struct Boom(u32);

#[test]
fn a_panicked_instance_is_absent_and_its_owned_handle_has_the_payload() {
    let runtime = multi_thread();
    let registry = Registry::new();
    let (keep_tx, keep_rx) = oneshot::channel();
    let keep = registry.start_in(runtime.handle(), parked("svc", keep_rx));
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let typed = registry.start_in(
        runtime.handle(),
        ServiceObj::new("svc", async move {
            go_rx.await.unwrap();
            std::panic::panic_any(Boom(7));
        }),
    );
    let text = registry.start_in(
        runtime.handle(),
        ServiceObj::new("other", async { panic!("plain message") }),
    );
    let status = typed.status_handle();
    assert!(registry.metrics().get(id("svc", 1)).is_some());

    go_tx.send(()).unwrap();
    let error = runtime.block_on(typed).unwrap_err();
    assert!(error.is_panic());
    assert!(!error.is_cancelled());
    let payload = error.into_panic().unwrap();
    assert_eq!(*payload.downcast::<Boom>().unwrap(), Boom(7));
    assert!(runtime.block_on(status).unwrap_err().is_panic());

    let error = runtime.block_on(text).unwrap_err();
    let payload = error.into_panic().unwrap();
    assert_eq!(*payload.downcast::<&str>().unwrap(), "plain message");

    let snapshot = registry.metrics();
    assert_eq!(listed(&snapshot), ["svc#0"]);
    assert!(snapshot.get(id("svc", 1)).is_none());
    // The panicked name stays, with no live instance and its ending counted.
    let other = snapshot.group("other").unwrap();
    assert_eq!((other.instances, other.endings.panicked), (0, 1));

    keep_tx.send(()).unwrap();
    runtime.block_on(keep).unwrap();
    assert!(registry.metrics().is_empty());
}

#[test]
fn an_aborted_instance_is_absent_once_its_handle_resolves_cancelled() {
    let runtime = multi_thread();
    let registry = Registry::new();
    let (_never_tx, never_rx) = oneshot::channel();
    let (keep_tx, keep_rx) = oneshot::channel();
    let aborted = registry.start_in(runtime.handle(), parked("svc", never_rx));
    let keep = registry.start_in(runtime.handle(), parked("svc", keep_rx));
    let status = aborted.status_handle();
    assert_eq!(listed(&registry.metrics()), ["svc#0", "svc#1"]);

    aborted.abort();
    let error = runtime.block_on(aborted).unwrap_err();
    assert!(error.is_cancelled());
    assert!(error.into_panic().is_none());
    assert!(runtime.block_on(status).unwrap_err().is_cancelled());
    assert_eq!(listed(&registry.metrics()), ["svc#1"]);

    // Aborting through a status handle, before the service was ever polled.
    let pending = current_thread();
    let (_never_tx2, never_rx2) = oneshot::channel();
    let unpolled = registry.start_in(pending.handle(), parked("svc", never_rx2));
    assert_eq!(listed(&registry.metrics()), ["svc#1", "svc#2"]);
    unpolled.status_handle().abort();
    assert!(pending.block_on(unpolled).unwrap_err().is_cancelled());
    assert_eq!(listed(&registry.metrics()), ["svc#1"]);

    keep_tx.send(()).unwrap();
    runtime.block_on(keep).unwrap();
    assert!(registry.metrics().is_empty());
}

fn shutdown_drops_instances(runtime: Runtime) {
    let registry = Registry::new();
    let mut senders = Vec::new();
    let mut handles = Vec::new();
    for name in ["a", "b", "a"] {
        let (tx, rx) = oneshot::channel::<()>();
        senders.push(tx);
        handles.push(registry.start_in(runtime.handle(), parked(name, rx)));
    }
    // Let them be polled at least once on flavours that only run inside `block_on`.
    runtime.block_on(tokio::task::yield_now());
    assert_eq!(listed(&registry.metrics()), ["a#0", "a#1", "b#0"]);

    drop(runtime);
    assert!(registry.metrics().is_empty());
    // The owned handles report the cancellation, awaited from another runtime.
    let other = current_thread();
    for handle in handles {
        assert!(other.block_on(handle).unwrap_err().is_cancelled());
    }
    // The services' futures (and their receivers) were dropped.
    for tx in senders {
        assert!(tx.is_closed());
    }
}

#[test]
fn runtime_shutdown_removes_instances_current_thread() {
    shutdown_drops_instances(current_thread());
}

#[test]
fn runtime_shutdown_removes_instances_multi_thread() {
    shutdown_drops_instances(multi_thread());
}

#[test]
fn dropping_the_owned_handle_detaches_the_service() {
    let runtime = multi_thread();
    let registry = Registry::new();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (ping_tx, mut ping_rx) = mpsc::channel::<oneshot::Sender<u32>>(1);
    let owned = registry.start_in(
        runtime.handle(),
        ServiceObj::new("detached", async move {
            let mut answered = 0;
            let mut stop_rx = stop_rx;
            loop {
                tokio::select! {
                    _ = &mut stop_rx => break,
                    Some(reply) = ping_rx.recv() => {
                        answered += 1;
                        reply.send(answered).unwrap();
                    }
                }
            }
        }),
    );
    let status = owned.status_handle();
    drop(owned);

    // Still running: it answers, and it is still listed.
    for expected in 1..=3 {
        let (reply_tx, reply_rx) = oneshot::channel();
        ping_tx.blocking_send(reply_tx).unwrap();
        assert_eq!(runtime.block_on(reply_rx).unwrap(), expected);
        assert!(!status.is_finished());
        assert_eq!(listed(&registry.metrics()), ["detached#0"]);
    }

    stop_tx.send(()).unwrap();
    runtime.block_on(status.clone()).unwrap();
    assert!(status.is_finished());
    assert!(registry.metrics().is_empty());
}

/// Starts `stuck#0`, whose first poll blocks its worker thread until the returned sender is
/// used; returns once that poll has begun.
fn start_stuck<F: vigil_registry::MonitorFactory<C>, C: vigil_monitor::Clock>(
    registry: &Registry<F, C>,
    runtime: &Runtime,
) -> (vigil_status::ServiceJoinHandle, std_mpsc::Sender<()>) {
    let (entered_tx, entered_rx) = std_mpsc::channel::<()>();
    let (release_tx, release_rx) = std_mpsc::channel::<()>();
    let stuck = registry.start_in(
        runtime.handle(),
        ServiceObj::new("stuck", async move {
            entered_tx.send(()).unwrap();
            // Blocks the worker thread inside the first poll.
            release_rx.recv().unwrap();
        }),
    );
    entered_rx.recv().unwrap();
    (stuck, release_tx)
}

#[test]
fn a_stuck_first_poll_is_visible_while_it_blocks_its_worker() {
    let runtime = multi_thread();
    let registry = Registry::new();
    let (stuck, release_tx) = start_stuck(&registry, &runtime);
    for _ in 0..3 {
        let snapshot = registry.metrics();
        let metrics = snapshot.get(id("stuck", 0)).unwrap();
        assert!(metrics.is_in_poll(), "{metrics:?}");
        assert!(metrics.current_poll_duration.is_some());
        assert_eq!(metrics.poll_count, 0);
        assert!(metrics.total_busy_duration >= metrics.current_poll_duration.unwrap());
        let group = snapshot.group("stuck").unwrap();
        assert_eq!(group.in_poll, 1);
        assert_eq!(group.poll_count, 0);
    }

    release_tx.send(()).unwrap();
    runtime.block_on(stuck).unwrap();
    assert!(registry.metrics().is_empty());
}

#[test]
fn a_stuck_poll_on_a_mock_clock_reports_exact_durations() {
    let clock = MockClock::new();
    clock.advance(Duration::from_secs(3));
    let registry = Registry::builder()
        .clock(clock.clone())
        .window(Duration::from_millis(100))
        .build();
    let runtime = multi_thread();
    let (stuck, release_tx) = start_stuck(&registry, &runtime);
    clock.advance(Duration::from_millis(7));

    let metrics = registry.metrics().get(id("stuck", 0)).unwrap();
    assert_eq!(metrics.poll_count, 0);
    assert_eq!(
        metrics.current_poll_duration,
        Some(Duration::from_millis(7))
    );
    assert_eq!(metrics.total_busy_duration, Duration::from_millis(7));
    assert_eq!(metrics.age, Duration::from_millis(7));
    assert_eq!(metrics.utilization, 100);

    clock.advance(Duration::from_millis(193));
    let metrics = registry.metrics().get(id("stuck", 0)).unwrap();
    assert_eq!(
        metrics.current_poll_duration,
        Some(Duration::from_millis(200))
    );
    assert_eq!(metrics.utilization, 100, "busy for the whole window");

    release_tx.send(()).unwrap();
    runtime.block_on(stuck).unwrap();
    assert!(registry.metrics().is_empty());
}

/// Per-instance counters the test keeps, written by [`Counting`].
#[derive(Debug, Default, Clone)]
struct Counters {
    starts: Arc<AtomicU64>,
    polls: Arc<AtomicU64>,
    ready: Arc<AtomicU64>,
    panicked: Arc<AtomicU64>,
    drops: Arc<AtomicU64>,
    drops_completed: Arc<AtomicU64>,
}

fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::SeqCst)
}

#[derive(Debug)]
struct Counting {
    counters: Counters,
    last_start: Option<Ticks>,
}

impl PollMonitor for Counting {
    fn on_poll_start(&mut self, start: Ticks) {
        self.last_start = Some(start);
        self.counters.starts.fetch_add(1, Ordering::SeqCst);
    }

    fn on_poll_end(&mut self, start: Ticks, end: Ticks, outcome: PollOutcome) {
        if self.last_start == Some(start) && start <= end {
            self.counters.polls.fetch_add(1, Ordering::SeqCst);
        }
        match outcome {
            PollOutcome::Pending => {}
            PollOutcome::Ready => {
                self.counters.ready.fetch_add(1, Ordering::SeqCst);
            }
            PollOutcome::Panicked => {
                self.counters.panicked.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    fn on_drop(&mut self, completed: bool) {
        self.counters.drops.fetch_add(1, Ordering::SeqCst);
        if completed {
            self.counters.drops_completed.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Ending {
    Complete,
    Abort,
    Panic,
}

#[test]
fn custom_monitors_see_every_poll_and_one_drop_per_instance() {
    let by_id: Arc<Mutex<HashMap<InstanceId, Counters>>> = Arc::default();
    let factory_map = Arc::clone(&by_id);
    let registry = Registry::builder()
        .monitor(move |id: &ServiceId| {
            let counters = Counters::default();
            let previous = factory_map
                .lock()
                .unwrap()
                .insert(id.instance_id(), counters.clone());
            assert!(previous.is_none(), "factory called twice for {id}");
            Counting {
                counters,
                last_start: None,
            }
        })
        .build();
    let runtime = current_thread();
    let endings = [
        Ending::Complete,
        Ending::Abort,
        Ending::Complete,
        Ending::Panic,
    ];
    let (parked_tx, mut parked_rx) = mpsc::unbounded_channel::<()>();
    let mut gates = Vec::new();
    let mut handles = Vec::new();
    for (i, _) in endings.iter().enumerate() {
        let (go_tx, go_rx) = oneshot::channel::<bool>();
        gates.push(go_tx);
        let parked = parked_tx.clone();
        handles.push(registry.start_in(
            runtime.handle(),
            ServiceObj::new("custom", async move {
                for _ in 0..i {
                    tokio::task::yield_now().await;
                }
                parked.send(()).unwrap();
                if go_rx.await.unwrap() {
                    panic!("custom monitor test panic");
                }
            }),
        ));
    }
    assert_eq!(by_id.lock().unwrap().len(), endings.len());

    // On one thread, the signals arrive only after each instance's parking poll ended.
    runtime.block_on(async {
        for _ in &endings {
            parked_rx.recv().await.unwrap();
        }
    });
    let snapshot = registry.metrics();
    let mut parked_polls = Vec::new();
    for (i, _) in endings.iter().enumerate() {
        let registry_polls = snapshot.get(id("custom", i as u64)).unwrap().poll_count;
        let counters = by_id.lock().unwrap()[&(i as u64)].clone();
        assert_eq!(registry_polls, i as u64 + 1);
        assert_eq!(read(&counters.polls), registry_polls, "instance {i}");
        assert_eq!(read(&counters.starts), registry_polls, "instance {i}");
        assert_eq!(read(&counters.drops), 0);
        parked_polls.push(registry_polls);
    }

    for ((gate, handle), ending) in gates.into_iter().zip(handles).zip(endings) {
        match ending {
            Ending::Complete => {
                gate.send(false).unwrap();
                runtime.block_on(handle).unwrap();
            }
            Ending::Panic => {
                gate.send(true).unwrap();
                assert!(runtime.block_on(handle).unwrap_err().is_panic());
            }
            Ending::Abort => {
                handle.abort();
                assert!(runtime.block_on(handle).unwrap_err().is_cancelled());
                drop(gate);
            }
        }
    }
    assert!(registry.metrics().is_empty());

    let by_id = by_id.lock().unwrap();
    assert_eq!(by_id.len(), endings.len());
    for (i, ending) in endings.iter().enumerate() {
        let counters = &by_id[&(i as u64)];
        let parked = parked_polls[i];
        assert_eq!(read(&counters.drops), 1, "instance {i}: on_drop once");
        assert_eq!(read(&counters.starts), read(&counters.polls));
        match ending {
            Ending::Complete => {
                // Exactly one more poll: the one that received the command and returned.
                assert_eq!(read(&counters.polls), parked + 1, "instance {i}");
                assert_eq!(read(&counters.ready), 1);
                assert_eq!(read(&counters.panicked), 0);
                assert_eq!(read(&counters.drops_completed), 1);
            }
            Ending::Panic => {
                assert_eq!(read(&counters.polls), parked + 1, "instance {i}");
                assert_eq!(read(&counters.ready), 0);
                assert_eq!(read(&counters.panicked), 1);
                assert_eq!(read(&counters.drops_completed), 1);
            }
            Ending::Abort => {
                // Cancelled while parked: never polled again, dropped unfinished.
                assert_eq!(read(&counters.polls), parked, "instance {i}");
                assert_eq!(read(&counters.ready), 0);
                assert_eq!(read(&counters.panicked), 0);
                assert_eq!(read(&counters.drops_completed), 0);
            }
        }
    }
}

#[test]
fn mock_clock_age_busy_and_utilization_are_exact() {
    let clock = MockClock::new();
    clock.advance(Duration::from_secs(1));
    let registry = Registry::builder()
        .clock(clock.clone())
        .window(Duration::from_millis(100))
        .build();
    let runtime = current_thread();
    let (parked_tx, parked_rx) = oneshot::channel::<()>();
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let busy_clock = clock.clone();
    let handle = registry.start_in(
        runtime.handle(),
        ServiceObj::new("svc", async move {
            // The first poll "takes" 4 ms.
            busy_clock.advance(Duration::from_millis(4));
            parked_tx.send(()).unwrap();
            go_rx.await.unwrap();
        }),
    );
    let read = || registry.metrics().get(id("svc", 0)).unwrap();

    // Not polled yet (nothing drives a current-thread runtime outside `block_on`).
    let metrics = read();
    assert_eq!(metrics.poll_count, 0);
    assert_eq!(metrics.age, Duration::ZERO);
    assert_eq!(metrics.total_busy_duration, Duration::ZERO);
    assert_eq!(metrics.utilization, 0);
    assert_eq!(metrics.current_poll_duration, None);

    clock.advance(Duration::from_millis(6));
    assert_eq!(read().age, Duration::from_millis(6));

    runtime.block_on(parked_rx).unwrap();
    let metrics = read();
    assert_eq!(metrics.poll_count, 1);
    assert_eq!(metrics.age, Duration::from_millis(10));
    assert_eq!(metrics.total_busy_duration, Duration::from_millis(4));
    assert_eq!(metrics.current_poll_duration, None);
    assert_eq!(metrics.utilization, 40);

    clock.advance(Duration::from_millis(10));
    let metrics = read();
    assert_eq!(metrics.age, Duration::from_millis(20));
    assert_eq!(metrics.total_busy_duration, Duration::from_millis(4));
    assert_eq!(metrics.utilization, 20);

    clock.advance(Duration::from_millis(80));
    let metrics = read();
    assert_eq!(metrics.age, Duration::from_millis(100));
    assert_eq!(metrics.utilization, 4);

    // The last poll ended more than a window ago: idle.
    clock.advance(Duration::from_millis(200));
    let metrics = read();
    assert_eq!(metrics.age, Duration::from_millis(300));
    assert_eq!(metrics.total_busy_duration, Duration::from_millis(4));
    assert_eq!(metrics.utilization, 0);
    assert_eq!(metrics.poll_count, 1);

    go_tx.send(()).unwrap();
    runtime.block_on(handle).unwrap();
    assert!(registry.metrics().is_empty());
}

#[test]
fn registry_is_send_and_sync_and_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    let plain = Registry::new();
    let mocked = Registry::builder().clock(MockClock::new()).build();
    let custom = Registry::builder()
        .monitor(|_: &ServiceId| Counting {
            counters: Counters::default(),
            last_start: None,
        })
        .build();
    assert_send_sync(&plain);
    assert_send_sync(&mocked);
    assert_send_sync(&custom);
    assert_send_sync(&plain.metrics());

    const THREADS: usize = 4;
    const EACH: usize = 100;
    const OWN: [&str; THREADS] = ["t0", "t1", "t2", "t3"];
    let runtime = multi_thread();
    let registry = Arc::new(plain);
    let (open, gate) = watch::channel(false);
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let registry = Arc::clone(&registry);
            let handle = runtime.handle().clone();
            let gate = gate.clone();
            thread::spawn(move || {
                let mut handles = Vec::new();
                for _ in 0..EACH {
                    for name in ["shared", OWN[t]] {
                        let mut gate = gate.clone();
                        handles.push(registry.start_in(
                            &handle,
                            ServiceObj::new(name, async move {
                                gate.wait_for(|open| *open).await.unwrap();
                            }),
                        ));
                    }
                }
                handles
            })
        })
        .collect();
    let handles: Vec<_> = workers
        .into_iter()
        .flat_map(|worker| worker.join().unwrap())
        .collect();

    let snapshot = registry.metrics();
    assert_eq!(snapshot.len(), 2 * THREADS * EACH);
    let shared: Vec<u64> = snapshot
        .instances_of("shared")
        .map(|(id, _)| id.instance_id())
        .collect();
    assert_eq!(shared, (0..(THREADS * EACH) as u64).collect::<Vec<_>>());
    for name in OWN {
        let own: Vec<u64> = snapshot
            .instances_of(name)
            .map(|(id, _)| id.instance_id())
            .collect();
        assert_eq!(own, (0..EACH as u64).collect::<Vec<_>>(), "{name}");
    }

    open.send(true).unwrap();
    runtime.block_on(async {
        for handle in handles {
            handle.await.unwrap();
        }
    });
    assert!(registry.metrics().is_empty());
}

#[test]
fn status_handles_from_the_registry_report_endings_by_id() {
    let runtime = multi_thread();
    let registry = Registry::new();
    let (release, gate) = tokio::sync::oneshot::channel::<()>();
    let (ok_id, ok_handle) = registry
        .try_start_in(
            runtime.handle(),
            ServiceObj::new("status_ok", async move {
                let _ = gate.await;
            }),
        )
        .unwrap();
    let (aborted_id, _detached) = registry
        .try_start_in(
            runtime.handle(),
            ServiceObj::new("status_aborted", async {
                std::future::pending::<()>().await;
            }),
        )
        .unwrap();

    // Watchers that only know the ids.
    let ok_status = registry.status_handle(ok_id).expect("live instance");
    let aborted_status = registry.status_handle(aborted_id).expect("live instance");
    assert!(!ok_status.is_finished());
    let ok_watcher = runtime.spawn(ok_status);

    aborted_status.abort();
    let ended = runtime.block_on(aborted_status).unwrap_err();
    assert!(ended.is_cancelled());

    release.send(()).unwrap();
    runtime.block_on(ok_handle).unwrap();
    assert_eq!(runtime.block_on(ok_watcher).unwrap(), Ok(()));

    // Unknown ids give nothing.
    let unknown = vigil_registry::ServiceId::new(vigil_registry::TaskId::new("nobody"), 0);
    assert!(registry.status_handle(unknown).is_none());
    let later = vigil_registry::ServiceId::new(ok_id.task(), ok_id.instance_id() + 1);
    assert!(registry.status_handle(later).is_none());
}
