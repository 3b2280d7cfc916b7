//! Instance ids (unique and gapless per name under concurrency), `ServiceId`, snapshot lookups and group aggregates, the `Service` trait.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use tokio::runtime::{Builder, Runtime};
use tokio::sync::{mpsc, oneshot, watch};
use vigil_monitor::{Clock, MockClock};
use vigil_registry::{Registry, Service, ServiceId, ServiceObj, ServicesMetrics, TaskId};
use vigil_status::ServiceJoinHandle;

fn multi_thread() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

fn current_thread() -> Runtime {
    Builder::new_current_thread().build().unwrap()
}

/// A service that stays live until `gate` reads `true`.
fn gated(name: &'static str, gate: &watch::Receiver<bool>) -> ServiceObj {
    let mut gate = gate.clone();
    ServiceObj::new(name, async move {
        gate.wait_for(|open| *open).await.unwrap();
    })
}

fn ids_of(snapshot: &ServicesMetrics, name: &str) -> Vec<u64> {
    snapshot
        .instances_of(name)
        .map(|(id, _)| id.instance_id())
        .collect()
}

fn id(name: &'static str, instance: u64) -> ServiceId {
    ServiceId::new(TaskId::new(name), instance)
}

#[test]
fn ids_are_unique_and_gapless_per_name_under_concurrent_starts() {
    const THREADS: usize = 8;
    const STARTS: usize = 1_000;
    const BETA_EVERY: usize = 4;
    let runtime = multi_thread();
    let registry = Registry::new();
    let (open, gate) = watch::channel(false);
    // All threads start together so the first starts race to create each name's group.
    let barrier = Barrier::new(THREADS);

    let handles: Vec<ServiceJoinHandle> = thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let mut handles = Vec::with_capacity(STARTS + STARTS / BETA_EVERY);
                    for i in 0..STARTS {
                        handles.push(registry.start_in(runtime.handle(), gated("alpha", &gate)));
                        if i % BETA_EVERY == 0 {
                            handles.push(registry.start_in(runtime.handle(), gated("beta", &gate)));
                        }
                    }
                    handles
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect()
    });

    let alpha = THREADS * STARTS;
    let beta = THREADS * STARTS / BETA_EVERY;
    let snapshot = registry.metrics();
    assert_eq!(snapshot.len(), alpha + beta);
    assert_eq!(
        ids_of(&snapshot, "alpha"),
        (0..alpha as u64).collect::<Vec<_>>()
    );
    assert_eq!(
        ids_of(&snapshot, "beta"),
        (0..beta as u64).collect::<Vec<_>>()
    );
    // The whole snapshot iterates in id order: every alpha, then every beta.
    let all: Vec<ServiceId> = snapshot.iter().map(|(id, _)| id).collect();
    assert!(all.windows(2).all(|pair| pair[0] < pair[1]));
    assert_eq!(all[0], id("alpha", 0));
    assert_eq!(all[alpha - 1], id("alpha", alpha as u64 - 1));
    assert_eq!(all[alpha], id("beta", 0));
    assert_eq!(snapshot.group("alpha").unwrap().instances, alpha);
    assert_eq!(snapshot.group("beta").unwrap().instances, beta);
    let names: Vec<&str> = snapshot.groups().map(|group| group.name).collect();
    assert_eq!(names, ["alpha", "beta"]);

    open.send(true).unwrap();
    runtime.block_on(async {
        for handle in handles {
            handle.await.unwrap();
        }
    });
    let snapshot = registry.metrics();
    assert!(snapshot.is_empty(), "{snapshot:?}");
    assert_eq!(snapshot.len(), 0);
    // Every instance ended, yet both names stay, with their lifetime counters.
    let names: Vec<&str> = snapshot.groups().map(|group| group.name).collect();
    assert_eq!(names, ["alpha", "beta"]);
    let alpha_group = snapshot.group("alpha").unwrap();
    assert_eq!(alpha_group.instances, 0);
    assert_eq!(alpha_group.starts, alpha as u64);
    assert_eq!(alpha_group.endings.completed, alpha as u64);
    assert_eq!(alpha_group.endings.total(), alpha as u64);
}

#[test]
fn many_new_names_created_concurrently_each_count_from_zero() {
    const NAMES: [&str; 12] = [
        "n00", "n01", "n02", "n03", "n04", "n05", "n06", "n07", "n08", "n09", "n10", "n11",
    ];
    const THREADS: usize = 6;
    let runtime = multi_thread();
    let registry = Arc::new(Registry::new());
    let (open, gate) = watch::channel(false);
    let barrier = Arc::new(Barrier::new(THREADS));

    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let registry = Arc::clone(&registry);
            let barrier = Arc::clone(&barrier);
            let handle = runtime.handle().clone();
            let gate = gate.clone();
            thread::spawn(move || {
                barrier.wait();
                // Each thread visits the names in a different rotation.
                (0..NAMES.len())
                    .map(|i| registry.start_in(&handle, gated(NAMES[(i + t) % NAMES.len()], &gate)))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let handles: Vec<ServiceJoinHandle> = workers
        .into_iter()
        .flat_map(|worker| worker.join().unwrap())
        .collect();

    let snapshot = registry.metrics();
    assert_eq!(snapshot.len(), NAMES.len() * THREADS);
    for name in NAMES {
        assert_eq!(
            ids_of(&snapshot, name),
            (0..THREADS as u64).collect::<Vec<_>>()
        );
    }
    let names: Vec<&str> = snapshot.groups().map(|group| group.name).collect();
    assert_eq!(names, NAMES);

    open.send(true).unwrap();
    runtime.block_on(async {
        for handle in handles {
            handle.await.unwrap();
        }
    });
    assert!(registry.metrics().is_empty());
}

#[test]
fn service_id_displays_and_orders_by_name_then_number() {
    assert_eq!(id("name", 3).to_string(), "name#3");
    assert_eq!(id("flusher", 0).to_string(), "flusher#0");
    let here = ServiceId::new(TaskId::here("name"), 3);
    assert_eq!(here.to_string(), "name#3");
    assert_eq!(
        here,
        id("name", 3),
        "the location is not part of the identity"
    );
    assert_eq!(here.name(), "name");
    assert_eq!(here.instance_id(), 3);
    assert_eq!(here.task(), TaskId::new("name"));

    // Numeric, not lexical, within a name; names first.
    assert!(id("a", 2) < id("a", 10));
    assert!(id("a", 10) < id("b", 0));
    assert!(id("a", u64::MAX) < id("aa", 0));
    let mut ids = vec![id("b", 1), id("a", 10), id("a", 2), id("b", 0), id("a", 0)];
    ids.sort();
    assert_eq!(
        ids,
        [id("a", 0), id("a", 2), id("a", 10), id("b", 0), id("b", 1)]
    );
}

#[test]
fn snapshot_lookups_follow_the_live_instances() {
    let runtime = multi_thread();
    let registry = Registry::new();
    let (open, gate) = watch::channel(false);

    let quick = registry.start_in(runtime.handle(), ServiceObj::new("web", async {}));
    let web: Vec<_> = (0..3)
        .map(|_| registry.start_in(runtime.handle(), gated("web", &gate)))
        .collect();
    let db = registry.start_in(runtime.handle(), gated("db", &gate));
    runtime.block_on(quick).unwrap();

    let snapshot = registry.metrics();
    let listed: Vec<String> = snapshot.iter().map(|(id, _)| id.to_string()).collect();
    assert_eq!(listed, ["db#0", "web#1", "web#2", "web#3"]);
    let by_ref: Vec<ServiceId> = (&snapshot).into_iter().map(|(id, _)| id).collect();
    assert_eq!(
        by_ref,
        snapshot.iter().map(|(id, _)| id).collect::<Vec<_>>()
    );
    assert_eq!(ids_of(&snapshot, "web"), [1, 2, 3]);
    assert_eq!(ids_of(&snapshot, "db"), [0]);
    assert_eq!(ids_of(&snapshot, "we"), Vec::<u64>::new());
    assert_eq!(ids_of(&snapshot, "webs"), Vec::<u64>::new());

    assert!(snapshot.get(id("web", 2)).is_some());
    assert!(snapshot.get(id("db", 0)).is_some());
    assert!(snapshot.get(id("web", 0)).is_none(), "finished");
    assert!(snapshot.get(id("web", 4)).is_none(), "never started");
    assert!(snapshot.get(id("nope", 0)).is_none(), "unknown name");
    assert!(snapshot.group("nope").is_none());
    assert_eq!(snapshot.group("web").unwrap().instances, 3);

    open.send(true).unwrap();
    runtime.block_on(async {
        for handle in web {
            handle.await.unwrap();
        }
        db.await.unwrap();
    });
    let snapshot = registry.metrics();
    assert!(snapshot.get(id("web", 2)).is_none());
    assert!(snapshot.get(id("db", 0)).is_none());
    let web_group = snapshot.group("web").unwrap();
    assert_eq!((web_group.instances, web_group.starts), (0, 4));
    assert_eq!(web_group.endings.completed, 4);
}

#[test]
fn group_aggregates_equal_the_per_instance_figures() {
    const STEP: Duration = Duration::from_millis(10);
    let clock = MockClock::new();
    clock.advance(Duration::from_secs(1));
    let registry = Registry::builder()
        .clock(clock.clone())
        .window(Duration::from_secs(1))
        .build();
    let runtime = current_thread();
    let (open, gate) = watch::channel(false);
    let (parked_tx, mut parked_rx) = mpsc::unbounded_channel::<u64>();

    // Instance i yields i times (i + 1 polls), then spends (i + 1) * STEP of mock time in its
    // last poll before parking on the gate.
    let handles: Vec<_> = (0..3_u64)
        .map(|i| {
            let clock = clock.clone();
            let parked = parked_tx.clone();
            let mut gate = gate.clone();
            registry.start_in(
                runtime.handle(),
                ServiceObj::new("worker", async move {
                    for _ in 0..i {
                        tokio::task::yield_now().await;
                    }
                    clock.advance(STEP * (i as u32 + 1));
                    parked.send(i).unwrap();
                    gate.wait_for(|open| *open).await.unwrap();
                }),
            )
        })
        .collect();
    let other = registry.start_in(runtime.handle(), gated("other", &gate));
    // One thread: once the test sees every signal, every instance's parking poll has ended.
    runtime.block_on(async {
        for _ in 0..3 {
            parked_rx.recv().await.unwrap();
        }
    });

    let snapshot = registry.metrics();
    let instances: Vec<_> = snapshot.instances_of("worker").collect();
    assert_eq!(instances.len(), 3);
    let polls: Vec<u64> = instances.iter().map(|(_, m)| m.poll_count).collect();
    assert_eq!(polls, [1, 2, 3]);
    let busy: Vec<Duration> = instances
        .iter()
        .map(|(_, m)| m.total_busy_duration)
        .collect();
    assert_eq!(busy, [STEP, STEP * 2, STEP * 3]);
    // Created at the same mock instant, read 60 ms later: busy / 60 ms, rounded.
    let utilization: Vec<u8> = instances.iter().map(|(_, m)| m.utilization).collect();
    assert_eq!(utilization, [17, 33, 50]);
    for (_, metrics) in &instances {
        assert_eq!(metrics.age, STEP * 6);
        assert_eq!(metrics.current_poll_duration, None);
        assert!(!metrics.is_in_poll());
    }

    let group = snapshot.group("worker").unwrap();
    assert_eq!(group.name, "worker");
    assert_eq!(group.instances, instances.len());
    assert_eq!(
        group.poll_count,
        instances.iter().map(|(_, m)| m.poll_count).sum::<u64>()
    );
    assert_eq!(group.poll_count, 6);
    assert_eq!(group.total_busy_duration, busy.iter().sum::<Duration>());
    assert_eq!(group.max_utilization, *utilization.iter().max().unwrap());
    let mean = utilization.iter().map(|&u| f64::from(u)).sum::<f64>() / 3.0;
    assert!((group.mean_utilization - mean).abs() < 1e-9, "{group:?}");
    assert!(f64::from(group.max_utilization) >= group.mean_utilization);
    assert_eq!(group.in_poll, 0);
    // `groups()` yields the same aggregates, in name order.
    let groups: Vec<_> = snapshot.groups().collect();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].name, "other");
    assert_eq!(groups[0].instances, 1);
    assert_eq!(groups[1], group);

    open.send(true).unwrap();
    runtime.block_on(async {
        for handle in handles {
            handle.await.unwrap();
        }
        other.await.unwrap();
    });
    assert!(registry.metrics().is_empty());
    assert_eq!(registry.clock().now(), clock.now());
}

struct Flusher {
    batches: u32,
    done: oneshot::Sender<u32>,
    gate: watch::Receiver<bool>,
}

impl Service for Flusher {
    async fn run(mut self) {
        self.gate.wait_for(|open| *open).await.unwrap();
        let _ = self.done.send(self.batches);
    }
}

struct Renamed;

impl Service for Renamed {
    fn name() -> &'static str {
        "custom-name"
    }

    async fn run(self) {}
}

struct Wrapper<T>(T);

impl<T: Send + 'static> Service for Wrapper<T> {
    async fn run(self) {
        drop(self.0);
    }
}

#[test]
fn service_trait_names_default_to_the_short_type_name() {
    let (_open, gate) = watch::channel(false);
    let (done, _) = oneshot::channel();
    let flusher = ServiceObj::from(Flusher {
        batches: 1,
        done,
        gate,
    });
    assert_eq!(flusher.name(), "Flusher");
    assert_eq!(flusher.task_id(), TaskId::new("Flusher"));
    assert!(flusher.task_id().location().is_some());
    assert_eq!(<Flusher as Service>::name(), "Flusher");

    assert_eq!(ServiceObj::from(Renamed).name(), "custom-name");
    assert_eq!(<Renamed as Service>::name(), "custom-name");

    let wrapper = ServiceObj::from(Wrapper(Renamed)).name();
    assert!(wrapper.starts_with("Wrapper<"), "{wrapper}");
    assert!(wrapper.ends_with("Renamed>"), "{wrapper}");
    assert!(!wrapper.starts_with("registry_ids::"), "{wrapper}");
}

#[test]
fn service_trait_instances_are_started_grouped_and_run() {
    let runtime = multi_thread();
    let registry = Registry::new();
    let (open, gate) = watch::channel(false);

    let mut receivers = Vec::new();
    let mut handles = Vec::new();
    for batches in [5, 7] {
        let (done, received) = oneshot::channel();
        receivers.push(received);
        let service = Flusher {
            batches,
            done,
            gate: gate.clone(),
        };
        handles.push(registry.start_in(runtime.handle(), ServiceObj::from(service)));
    }
    let renamed = registry.start_in(runtime.handle(), Renamed.into());

    runtime.block_on(renamed).unwrap();
    let listed: Vec<String> = registry
        .metrics()
        .iter()
        .map(|(id, _)| id.to_string())
        .collect();
    assert_eq!(listed, ["Flusher#0", "Flusher#1"]);

    open.send(true).unwrap();
    let batches = runtime.block_on(async {
        for handle in handles {
            handle.await.unwrap();
        }
        let mut batches = Vec::new();
        for received in receivers {
            batches.push(received.await.unwrap());
        }
        batches
    });
    assert_eq!(batches, [5, 7], "each instance ran its own `run(self)`");
    assert!(registry.metrics().is_empty());

    // The overridden name got its own sequence.
    let again = registry.start_in(runtime.handle(), ServiceObj::from(Renamed));
    runtime.block_on(again).unwrap();
    let (open2, gate2) = watch::channel(false);
    let parked = registry.start_in(runtime.handle(), gated("custom-name", &gate2));
    assert_eq!(ids_of(&registry.metrics(), "custom-name"), [2]);
    open2.send(true).unwrap();
    runtime.block_on(parked).unwrap();
}
