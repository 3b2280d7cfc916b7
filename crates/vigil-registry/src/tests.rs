//! Internal tests: storage bounds under churn, id exhaustion, lock poisoning.

use std::panic::{catch_unwind, AssertUnwindSafe};

use vigil_monitor::Clock;

use crate::{MonitorFactory, Registry, ServiceObj, StartError};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

/// Starts `starts` instances of `name` that return at once, `batch` at a time, each batch
/// awaited before the next (so at most one batch is live, and the bounds tests draw from it
/// do not depend on how fast the workers run). Returns the most `(stored instances, slots
/// in use)` seen after a batch.
fn churn<F: MonitorFactory<C>, C: Clock>(
    registry: &Registry<F, C>,
    runtime: &tokio::runtime::Runtime,
    name: &'static str,
    starts: usize,
    batch: usize,
) -> (usize, usize) {
    let (mut max_len, mut max_slots) = (0, 0);
    let mut handles = Vec::with_capacity(batch);
    for _ in 0..starts / batch {
        for _ in 0..batch {
            handles.push(registry.start_in(runtime.handle(), ServiceObj::new(name, async {})));
        }
        runtime.block_on(async {
            for handle in handles.drain(..) {
                handle.await.unwrap();
            }
        });
        let (len, slots) = registry.with_group_for_test(name, |group| group.storage());
        max_len = max_len.max(len);
        max_slots = max_slots.max(slots);
    }
    (max_len, max_slots)
}

#[test]
fn eviction_keeps_storage_bounded_over_a_million_short_lived_starts() {
    const BATCH: usize = 1_000;
    const STARTS: usize = 1_000_000;
    let runtime = runtime();
    let registry = Registry::new();
    let (max_len, max_capacity) = churn(&registry, &runtime, "short", STARTS, BATCH);
    // Live <= BATCH at the last sweep, so the sweep threshold is <= 2 * BATCH; one more
    // batch of pushes can land before the next sweep.
    assert!(max_len <= 3 * BATCH, "stored length reached {max_len}");
    assert!(max_capacity <= 8 * BATCH, "capacity reached {max_capacity}");
    assert!(registry.metrics().is_empty());
    let next = registry.with_group_for_test("short", |group| group.peek_instance_id());
    assert_eq!(next, Some(STARTS as u64));
}

#[test]
fn exhausted_instance_ids_fail_instead_of_wrapping() {
    let runtime = runtime();
    let registry = Registry::new();
    registry.with_group_for_test("svc", |group| group.set_next_instance_id(Some(u64::MAX)));

    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let last = registry.start_in(
        runtime.handle(),
        ServiceObj::new("svc", async move {
            let _ = rx.await;
        }),
    );
    let ids: Vec<u64> = registry
        .metrics()
        .iter()
        .map(|(id, _)| id.instance_id())
        .collect();
    assert_eq!(ids, [u64::MAX]);

    let error = registry
        .try_start_in(runtime.handle(), ServiceObj::new("svc", async {}))
        .unwrap_err();
    assert_eq!(error, StartError::InstanceIdsExhausted { name: "svc" });
    assert!(error.to_string().contains("svc"));
    let panic = catch_unwind(AssertUnwindSafe(|| {
        registry.start_in(runtime.handle(), ServiceObj::new("svc", async {}))
    }))
    .unwrap_err();
    assert!(panic.downcast_ref::<String>().unwrap().contains("svc"));

    // Other names are unaffected, and the live instance is still reported once.
    registry.start_in(runtime.handle(), ServiceObj::new("other", async {}));
    tx.send(()).unwrap();
    runtime.block_on(last).unwrap();
    assert!(registry.metrics().iter().all(|(id, _)| id.name() != "svc"));
}

#[test]
fn a_panicking_monitor_factory_poisons_nothing_and_burns_no_id() {
    let runtime = runtime();
    let registry = Registry::builder()
        .monitor(|id: &crate::ServiceId| {
            assert_ne!(id.instance_id(), 1, "factory refuses instance 1");
        })
        .build();
    let keep = |registry: &Registry<_>| {
        registry.start_in(
            runtime.handle(),
            ServiceObj::new("svc", std::future::pending()),
        )
    };
    let _first = keep(&registry);
    let panicked = catch_unwind(AssertUnwindSafe(|| keep(&registry)));
    assert!(panicked.is_err());
    // The group's lock was poisoned by the panic; the registry recovers it below.
    assert!(registry.group_is_poisoned_for_test("svc"));
    let ids: Vec<u64> = registry
        .metrics()
        .iter()
        .map(|(id, _)| id.instance_id())
        .collect();
    assert_eq!(ids, [0]);
    let next = registry.with_group_for_test("svc", |group| group.peek_instance_id());
    assert_eq!(next, Some(1));
}

#[test]
fn slots_are_reused_and_counters_exact_while_snapshots_run_back_to_back() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    const BATCH: usize = 500;
    const STARTS: usize = 100_000;
    let runtime = runtime();
    let registry = Arc::new(Registry::new());
    let done = Arc::new(AtomicBool::new(false));
    // Two readers, so that snapshots overlap with each other as well as with sweeps: the
    // oldest running snapshot decides which folded slots may be reused.
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let registry = Arc::clone(&registry);
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let (mut starts, mut endings, mut polls, mut snapshots) = (0, 0, 0, 0_u64);
                // Relaxed: a stop flag; the join below orders everything else.
                while !done.load(Ordering::Relaxed) {
                    let snapshot = registry.metrics();
                    let ids: Vec<_> = snapshot.iter().map(|(id, _)| id).collect();
                    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
                    if let Some(group) = snapshot.group("churn") {
                        // Every start is live or ended, never both, never neither.
                        assert_eq!(group.starts, group.instances as u64 + group.endings.total());
                        assert!(group.starts >= starts && group.endings.total() >= endings);
                        assert!(group.poll_count >= polls, "poll count went backwards");
                        (starts, endings, polls) =
                            (group.starts, group.endings.total(), group.poll_count);
                    }
                    snapshots += 1;
                }
                snapshots
            })
        })
        .collect();
    let mut max_slots = 0;
    let mut batch = Vec::with_capacity(BATCH);
    for _ in 0..STARTS / BATCH {
        for i in 0..BATCH {
            let service = if i % 2 == 0 {
                ServiceObj::new("churn", async {})
            } else {
                ServiceObj::new("churn", async { tokio::task::yield_now().await })
            };
            batch.push(registry.start_in(runtime.handle(), service));
        }
        runtime.block_on(async {
            for handle in batch.drain(..) {
                handle.await.unwrap();
            }
        });
        let (_, slots) = registry.with_group_for_test("churn", |group| group.storage());
        max_slots = max_slots.max(slots);
    }
    done.store(true, Ordering::Relaxed);
    for reader in readers {
        assert!(reader.join().unwrap() > 0);
    }
    // Slots are reused: the slab stays as large as the instances stored at once plus the
    // slots folded while the oldest running snapshot read (how many depends on how long the
    // scheduler leaves a reader descheduled), far below the instances ever started.
    assert!(max_slots < STARTS / 4, "the slab grew to {max_slots} slots");
    let snapshot = registry.metrics();
    let group = snapshot.group("churn").unwrap();
    assert!(snapshot.is_empty());
    assert_eq!(group.starts, STARTS as u64);
    assert_eq!(group.endings.completed, STARTS as u64);
    assert_eq!(group.poll_count, (STARTS + STARTS / 2) as u64);
}

#[test]
fn names_beyond_the_start_directory_are_still_found() {
    let runtime = runtime();
    let registry = Registry::new();
    // More names than the directory has cells: the rest go through the ordered map.
    let names: Vec<&'static str> = (0..600)
        .map(|i| &*Box::leak(format!("name-{i:03}").into_boxed_str()))
        .collect();
    for round in 0..2 {
        for &name in &names {
            let (id, _handle) = registry
                .try_start_in(
                    runtime.handle(),
                    ServiceObj::new(name, std::future::pending()),
                )
                .unwrap();
            assert_eq!((id.name(), id.instance_id()), (name, round));
            assert!(registry.status_handle(id).is_some());
        }
    }
    let snapshot = registry.metrics();
    assert_eq!(snapshot.len(), 2 * names.len());
    for &name in &names {
        assert_eq!(snapshot.group(name).unwrap().starts, 2);
    }
}

/// A clock that panics on a chosen conversion, as a user's `Clock` might.
#[derive(Clone, Default)]
struct PanickyClock {
    inner: vigil_monitor::StdClock,
    /// Conversions left before the panic; `usize::MAX` when disarmed.
    fuse: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl vigil_monitor::Clock for PanickyClock {
    fn now(&self) -> vigil_monitor::Ticks {
        self.inner.now()
    }

    fn ticks_to_nanos(&self, ticks: vigil_monitor::Ticks) -> u64 {
        use std::sync::atomic::Ordering;
        // SeqCst: test bookkeeping.
        let left = self.fuse.load(Ordering::SeqCst);
        if left != usize::MAX {
            assert!(left > 0, "the clock's conversion panics");
            self.fuse.store(left - 1, Ordering::SeqCst);
        }
        self.inner.ticks_to_nanos(ticks)
    }

    fn nanos_to_ticks(&self, nanos: u64) -> vigil_monitor::Ticks {
        self.inner.nanos_to_ticks(nanos)
    }
}

#[test]
fn a_snapshot_that_panics_mid_read_does_not_pin_slots_forever() {
    use std::sync::atomic::Ordering;

    const BATCH: usize = 200;
    const STARTS: usize = 10_000;
    let runtime = runtime();
    let clock = PanickyClock {
        fuse: std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(usize::MAX)),
        ..PanickyClock::default()
    };
    let registry = Registry::builder().clock(clock.clone()).build();
    // Live instances, so that the read has slots to convert figures of.
    let (stop, stopped) = tokio::sync::watch::channel(());
    let live: Vec<_> = (0..4)
        .map(|_| {
            let mut stopped = stopped.clone();
            registry.start_in(
                runtime.handle(),
                ServiceObj::new("churn", async move {
                    let _ = stopped.changed().await;
                }),
            )
        })
        .collect();
    // The third conversion of the read panics: after it began, before it ended.
    clock.fuse.store(3, Ordering::SeqCst);
    let panicked = catch_unwind(AssertUnwindSafe(|| registry.metrics()));
    assert!(panicked.is_err(), "the clock panicked inside the snapshot");
    clock.fuse.store(usize::MAX, Ordering::SeqCst);

    let (_, max_slots) = churn(&registry, &runtime, "churn", STARTS, BATCH);
    // Had the panicked read stayed registered, no slot folded after it would ever be freed:
    // the slab would hold all 10,000.
    assert!(
        max_slots <= 3 * BATCH + 4,
        "the slab grew to {max_slots} slots"
    );
    drop(stop);
    runtime.block_on(async {
        for handle in live {
            handle.await.unwrap();
        }
    });
    assert_eq!(registry.metrics().len(), 0);
}
