//! Runtime figures (`Registry::watch_runtime`) against runtimes the tests drive: idle
//! workers, a blocked worker, tasks waiting in the global queue, two runtimes apart.

use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};
use vigil_registry::{Registry, RuntimeSnapshot};

fn multi_thread(workers: usize) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_time()
        .build()
        .unwrap()
}

/// The runtime `name` in a fresh snapshot.
fn read(registry: &Registry, name: &str) -> RuntimeSnapshot {
    registry.metrics().runtime(name).unwrap().clone()
}

#[test]
fn idle_workers_read_almost_no_busy_time() {
    let runtime = multi_thread(2);
    let registry = Registry::new();
    registry.watch_runtime("main", runtime.handle());
    // Let the workers start and park.
    std::thread::sleep(Duration::from_millis(50));
    let before = read(&registry, "main");
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    let after = read(&registry, "main");
    let ratios = after.busy_ratios_since(&before, started.elapsed());
    assert_eq!(ratios.len(), 2);
    for ratio in ratios {
        assert!(ratio < 0.1, "an idle worker read {ratio} busy");
    }
    assert_eq!(after.alive_tasks, 0);
    assert_eq!(after.global_queue_depth, 0);
}

#[test]
fn a_worker_blocked_300_ms_reads_busy_for_that_time() {
    let runtime = multi_thread(1);
    let registry = Registry::new();
    registry.watch_runtime("main", runtime.handle());
    std::thread::sleep(Duration::from_millis(50));
    let before = read(&registry, "main");
    let started = Instant::now();
    let (done, finished) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        // Blocks the only worker: what a service that blocks in a poll does.
        std::thread::sleep(Duration::from_millis(300));
        done.send(()).unwrap();
    });
    finished.recv().unwrap();
    // tokio adds a worker's busy time when it parks after running its tasks: wait for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let after = read(&registry, "main");
        if after.total_busy() - before.total_busy() >= Duration::from_millis(300)
            || Instant::now() > deadline
        {
            break after;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let interval = started.elapsed();
    let busy = after.workers[0].busy - before.workers[0].busy;
    assert!(busy >= Duration::from_millis(300), "busy {busy:?}");
    assert!(busy <= interval, "busy {busy:?} within {interval:?}");
    let ratio = after.busy_ratios_since(&before, interval)[0];
    assert!(
        ratio >= busy.as_secs_f64() / interval.as_secs_f64() - 1e-9,
        "{ratio}"
    );
    assert!(after.workers[0].park_count > before.workers[0].park_count);
}

#[test]
fn the_global_queue_counts_tasks_spawned_from_outside_until_they_run() {
    // Not driven until `block_on`: tasks spawned from this thread wait in its global queue.
    let runtime = Builder::new_current_thread().build().unwrap();
    let registry = Registry::new();
    registry.watch_runtime("main", runtime.handle());
    let handles: Vec<_> = (0..5).map(|_| runtime.spawn(async {})).collect();
    let waiting = read(&registry, "main");
    assert_eq!(waiting.global_queue_depth, 5);
    assert_eq!(waiting.alive_tasks, 5);
    assert_eq!(waiting.workers.len(), 1);
    runtime.block_on(async {
        for handle in handles {
            handle.await.unwrap();
        }
    });
    let ran = read(&registry, "main");
    assert_eq!(ran.global_queue_depth, 0);
    assert_eq!(ran.alive_tasks, 0);
}

#[test]
fn several_runtimes_are_named_and_read_apart() {
    let main = multi_thread(2);
    let dedicated = Builder::new_current_thread().build().unwrap();
    let registry = Registry::new();
    registry.watch_runtime("main", main.handle());
    registry.watch_runtime("dedicated", dedicated.handle());
    let _pending = dedicated.spawn(std::future::pending::<()>());
    let snapshot = registry.metrics();
    let names: Vec<_> = snapshot
        .runtimes()
        .iter()
        .map(|runtime| runtime.name)
        .collect();
    assert_eq!(names, ["main", "dedicated"]);
    assert_eq!(snapshot.runtime("main").unwrap().workers.len(), 2);
    assert_eq!(snapshot.runtime("dedicated").unwrap().workers.len(), 1);
    assert_eq!(snapshot.runtime("dedicated").unwrap().global_queue_depth, 1);
    assert_eq!(snapshot.runtime("main").unwrap().global_queue_depth, 0);
    // Watching a name again points it at the other runtime.
    registry.watch_runtime("main", dedicated.handle());
    let snapshot = registry.metrics();
    assert_eq!(snapshot.runtimes().len(), 2);
    assert_eq!(snapshot.runtime("main").unwrap().workers.len(), 1);
}

#[cfg(feature = "serde")]
#[test]
fn runtimes_round_trip_through_the_document() {
    let runtime = multi_thread(2);
    let registry = Registry::new();
    registry.watch_runtime("main", runtime.handle());
    let snapshot = registry.metrics();
    let value = serde_json::to_value(&snapshot).unwrap();
    let runtime = &value["runtime"][0];
    assert_eq!(runtime["name"], "main");
    assert_eq!(runtime["workers"].as_array().unwrap().len(), 2);
    assert!(runtime["workers"][0]["busy_ns"].is_u64());
    assert!(runtime["workers"][0]["park_count"].is_u64());
    assert!(runtime["global_queue_depth"].is_u64());
    let back: vigil_registry::ServicesMetrics = serde_json::from_value(value).unwrap();
    assert_eq!(back, snapshot);
}
