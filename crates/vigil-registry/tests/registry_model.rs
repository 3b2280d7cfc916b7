//! Model-based property test: random starts, endings, detaches and snapshots agree with a simple per-name model.

mod common;

use std::collections::BTreeMap;
use std::panic;

use proptest::prelude::*;
use tokio::runtime::{Builder, Runtime};
use tokio::sync::oneshot;
use vigil_registry::{Registry, ServiceId, ServiceObj, TaskId};
use vigil_status::{ServiceJoinHandle, ServiceStatusJoinHandle};

use common::{quiet_model_panics, ModelPanic};

const NAMES: [&str; 3] = ["alpha", "beta", "gamma"];

#[derive(Debug, Clone)]
enum Op {
    Start { name: usize },
    Finish(usize),
    Panic(usize),
    Abort(usize),
    DropHandle(usize),
    Snapshot,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        // Mostly one name, so that it passes the registry's eviction threshold (16 stored
        // instances) in long cases.
        5 => prop_oneof![6 => Just(0), 1 => Just(1), 1 => Just(2)].prop_map(|name| Op::Start { name }),
        2 => any::<usize>().prop_map(Op::Finish),
        1 => any::<usize>().prop_map(Op::Panic),
        1 => any::<usize>().prop_map(Op::Abort),
        1 => any::<usize>().prop_map(Op::DropHandle),
        2 => Just(Op::Snapshot),
    ]
}

/// What a service does when told.
#[derive(Debug)]
enum Command {
    Finish,
    Panic,
}

fn service(name: &'static str, commands: oneshot::Receiver<Command>) -> ServiceObj {
    ServiceObj::new(name, async move {
        match commands.await {
            Ok(Command::Finish) => {}
            Ok(Command::Panic) => panic::panic_any(ModelPanic),
            // Never happens while the test holds the sender: stay until aborted.
            Err(_) => std::future::pending().await,
        }
    })
}

/// A live instance, as the test holds it.
struct Live {
    id: ServiceId,
    commands: oneshot::Sender<Command>,
    /// `None` once detached.
    owned: Option<ServiceJoinHandle>,
    status: ServiceStatusJoinHandle,
}

/// The model: per name, the next id and the live ids.
#[derive(Debug, Default)]
struct Model {
    next: BTreeMap<&'static str, u64>,
    ended: Vec<ServiceId>,
}

fn sid(name: &'static str, instance: u64) -> ServiceId {
    ServiceId::new(TaskId::new(name), instance)
}

fn check_snapshot(registry: &Registry, model: &Model, live: &[Live]) {
    let snapshot = registry.metrics();
    let mut expected: Vec<ServiceId> = live.iter().map(|instance| instance.id).collect();
    expected.sort();
    let actual: Vec<ServiceId> = snapshot.iter().map(|(id, _)| id).collect();
    assert_eq!(actual, expected);
    assert_eq!(snapshot.len(), expected.len());
    assert_eq!(snapshot.is_empty(), expected.is_empty());
    for name in NAMES {
        let ids: Vec<ServiceId> = expected
            .iter()
            .copied()
            .filter(|id| id.name() == name)
            .collect();
        let of: Vec<ServiceId> = snapshot.instances_of(name).map(|(id, _)| id).collect();
        assert_eq!(of, ids, "instances_of({name})");
        // A name is listed from its first start on, live instances or not.
        let started = model.next.get(name).copied().unwrap_or(0);
        match snapshot.group(name) {
            Some(group) => {
                assert_eq!(group.name, name);
                assert_eq!(group.instances, ids.len());
                assert_eq!(group.starts, started);
            }
            None => assert_eq!(started, 0, "group({name}) missing"),
        }
        // Never-issued ids are unknown.
        let next = model.next.get(name).copied().unwrap_or(0);
        assert!(snapshot.get(sid(name, next)).is_none());
    }
    for id in &expected {
        assert!(snapshot.get(*id).is_some(), "get({id})");
    }
    for id in &model.ended {
        assert!(snapshot.get(*id).is_none(), "ended {id} still listed");
    }
    let groups: Vec<&str> = snapshot.groups().map(|group| group.name).collect();
    let names: Vec<&str> = model.next.keys().copied().collect();
    assert_eq!(groups, names);
}

fn runtime(multi_thread: bool) -> Runtime {
    if multi_thread {
        Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap()
    } else {
        Builder::new_current_thread().build().unwrap()
    }
}

fn run(multi_thread: bool, ops: Vec<Op>) {
    quiet_model_panics();
    let runtime = runtime(multi_thread);
    let registry = Registry::new();
    let mut model = Model::default();
    let mut live: Vec<Live> = Vec::new();
    let mut issued: BTreeMap<&'static str, Vec<u64>> = BTreeMap::new();

    for op in ops {
        match op {
            Op::Start { name } => {
                let name = NAMES[name];
                let (commands, receiver) = oneshot::channel();
                let owned = registry.start_in(runtime.handle(), service(name, receiver));
                let next = model.next.entry(name).or_insert(0);
                let id = sid(name, *next);
                *next += 1;
                // The new instance is the newest live one of its name.
                let newest = registry
                    .metrics()
                    .instances_of(name)
                    .next_back()
                    .map(|(id, _)| id);
                assert_eq!(newest, Some(id));
                issued
                    .entry(name)
                    .or_default()
                    .push(newest.unwrap().instance_id());
                live.push(Live {
                    id,
                    commands,
                    status: owned.status_handle(),
                    owned: Some(owned),
                });
            }
            Op::Finish(index) | Op::Panic(index) | Op::Abort(index) if !live.is_empty() => {
                let instance = live.remove(index % live.len());
                let Live {
                    id,
                    commands,
                    owned,
                    status,
                } = instance;
                match op {
                    Op::Finish(_) => {
                        commands.send(Command::Finish).unwrap();
                        match owned {
                            Some(owned) => runtime.block_on(owned).unwrap(),
                            None => runtime.block_on(status.clone()).unwrap(),
                        }
                        runtime.block_on(status).unwrap();
                    }
                    Op::Panic(_) => {
                        commands.send(Command::Panic).unwrap();
                        if let Some(owned) = owned {
                            let payload = runtime.block_on(owned).unwrap_err().into_panic();
                            assert!(payload.unwrap().downcast::<ModelPanic>().is_ok());
                        }
                        assert!(runtime.block_on(status).unwrap_err().is_panic());
                    }
                    _ => {
                        match owned {
                            Some(owned) => {
                                owned.abort();
                                assert!(runtime.block_on(owned).unwrap_err().is_cancelled());
                            }
                            None => status.abort(),
                        }
                        assert!(runtime.block_on(status).unwrap_err().is_cancelled());
                        drop(commands);
                    }
                }
                model.ended.push(id);
            }
            Op::DropHandle(index) if !live.is_empty() => {
                let len = live.len();
                let instance = &mut live[index % len];
                drop(instance.owned.take());
                // Detached, not ended.
                assert!(!instance.status.is_finished());
            }
            Op::Finish(_) | Op::Panic(_) | Op::Abort(_) | Op::DropHandle(_) => {}
            Op::Snapshot => check_snapshot(&registry, &model, &live),
        }
    }
    check_snapshot(&registry, &model, &live);

    // End everything that is left, detached or not.
    for instance in live.drain(..) {
        instance.commands.send(Command::Finish).unwrap();
        runtime.block_on(instance.status).unwrap();
        model.ended.push(instance.id);
    }
    check_snapshot(&registry, &model, &live);
    assert!(registry.metrics().is_empty());

    // Ids were issued gapless from 0 per name, and the next start continues the sequence.
    for name in NAMES {
        let ids = issued.remove(name).unwrap_or_default();
        let count = model.next.get(name).copied().unwrap_or(0);
        assert_eq!(ids, (0..count).collect::<Vec<_>>(), "{name}");
        let (commands, receiver) = oneshot::channel();
        let last = registry.start_in(runtime.handle(), service(name, receiver));
        let listed: Vec<u64> = registry
            .metrics()
            .instances_of(name)
            .map(|(id, _)| id.instance_id())
            .collect();
        assert_eq!(listed, [count], "{name}");
        commands.send(Command::Finish).unwrap();
        runtime.block_on(last).unwrap();
    }
    assert!(registry.metrics().is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    })]

    #[test]
    fn registry_agrees_with_the_model(
        multi_thread in any::<bool>(),
        ops in proptest::collection::vec(op(), 0..60),
    ) {
        run(multi_thread, ops);
    }
}
