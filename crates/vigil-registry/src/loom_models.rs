//! Loom models of a name's slab (the exactly-once fold of ended instances, reader
//! generations, slot reuse) and of the write-once name table.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p vigil-registry --release loom` (`.ci/run`
//! bounds them with `LOOM_MAX_PREEMPTIONS`). The monitors are the real ones, writing into
//! the slab's slots through vigil-monitor's sequence lock (itself on loom's atomics). Each
//! model was checked against deliberate breaks of the code, named in its doc comment: with
//! the break, the model fails.

use std::sync::Arc;
use std::time::Duration;

use loom::thread;
use vigil_monitor::{BusyMonitor, PollMonitor, PollOutcome, Ticks};

use crate::directory::{same_start, Directory};
use crate::group::{Instance, Reading, ServiceGroup};
use crate::id::{InstanceId, ServiceId, TaskId};
use crate::slab::SlotRef;
use crate::sync::Mutex;

/// A group as the registry keeps one, without readers or status handles (no tokio here).
type Group = ServiceGroup<(), ()>;

fn to_duration(ticks: Ticks) -> Duration {
    Duration::from_nanos(ticks)
}

/// Each instance's creation time says who it is, so a reader can tell whose figures it read.
fn created_at(id: InstanceId) -> Ticks {
    100 * (id + 1)
}

/// Starts the next instance as `Registry::start` does (under the name's lock: id, slot,
/// monitor reset in place, insert) and returns its monitor.
fn start(group: &Group) -> BusyMonitor<SlotRef> {
    let mut inner = group.lock();
    let id = inner.peek_instance_id().expect("ids left");
    let (slot, metrics) = group.allocate(&mut inner);
    let monitor = BusyMonitor::in_place(metrics, created_at(id), 1_000);
    let instance = Instance {
        id: ServiceId::new(TaskId::new("svc"), id),
        slot,
        reader: (),
        status: (),
    };
    group.insert(&mut inner, instance, &to_duration);
    monitor
}

/// The instance's one poll, which completes it.
fn finish(mut monitor: BusyMonitor<SlotRef>) {
    let begun = monitor.metrics().created_at() + 1;
    monitor.on_poll_start(begun);
    monitor.on_poll_end(begun, begun + 10, PollOutcome::Ready);
    monitor.on_drop(true);
}

/// An eviction sweep, as a start that finds the name's instances due for one runs it.
fn sweep(group: &Group) {
    group.evict_finished(&mut group.lock(), &to_duration);
}

/// Finishes `reading` as `Registry::metrics` does, and checks what a
/// snapshot must: every instance started before the read began is counted exactly once,
/// either in the lifetime counters it began with or as a slot it visits, and the figures it
/// reads in a slot are those of the instance it counts there.
fn finish_read(reading: Reading<'_, (), ()>) {
    let mut visited = Vec::new();
    reading.visit(|id, slot| {
        let sample = slot.metrics().sample(10_000);
        assert_eq!(
            sample.created_at,
            created_at(id),
            "the slot of instance {id} was reused under a reader"
        );
        visited.push(id);
    });
    let lifetime = reading.start().lifetime;
    drop(reading);
    let mut distinct = visited.clone();
    distinct.dedup();
    assert_eq!(distinct, visited, "an instance visited twice");
    assert_eq!(
        lifetime.starts,
        lifetime.endings.total() + visited.len() as u64,
        "not counted exactly once: {lifetime:?}, visited {visited:?}"
    );
}

/// Starts, endings and sweeps on one thread; on another, one read that spans a second,
/// complete one (snapshots overlap in a process scraped by two clients).
///
/// Caught, each a deliberate break checked on 2026-12-03: `release_pending` freeing every
/// pending slot whatever the readers (the second instance reuses the first one's slot under
/// the outer read, which then misses the first instance or reads the second's figures);
/// `counted` without its generation check (the inner read counts the folded instance
/// twice); `evict_finished` without `mark_folded` (likewise).
#[test]
fn loom_an_ended_instance_is_counted_exactly_once() {
    loom::model(|| {
        let group = Arc::new(Group::new());
        let churn = {
            let group = Arc::clone(&group);
            thread::spawn(move || {
                finish(start(&group));
                sweep(&group);
                finish(start(&group));
                sweep(&group);
            })
        };
        let outer = group.begin_read();
        let inner = group.begin_read();
        finish_read(inner);
        finish_read(outer);
        churn.join().unwrap();

        // Afterwards: both ended and folded, and no slot is held for a reader.
        let last = group.begin_read();
        assert_eq!(last.start().lifetime.starts, 2);
        finish_read(last);
        sweep(&group);
        assert_eq!(group.lock().storage(), (0, 0), "a slot was never freed");
    });
}

/// Two names whose probe sequences start at the same cell.
fn colliding_names() -> (&'static str, &'static str) {
    let names: Vec<&'static str> = ["a", "b", "c", "d", "e", "f", "g", "h", "i"].into();
    for (i, first) in names.iter().enumerate() {
        for second in &names[i + 1..] {
            if same_start(first, second) {
                return (first, second);
            }
        }
    }
    unreachable!("nine names over four cells: two share one")
}

/// Names added under the map's lock while another thread looks them up: a lookup finds
/// nothing or the right group (a cell is written once and read whole), and a name the
/// table took is found once its insert is done, also when the two names collide.
///
/// Caught: `Directory::insert` answering `true` for a probe cell that holds another name
/// (the registry would then never look for it in the map: lost).
#[test]
fn loom_the_name_table_is_written_once_and_read_whole() {
    let (first, second) = colliding_names();
    loom::model(move || {
        let directory = Arc::new(Directory::new());
        let map_lock = Arc::new(Mutex::new(()));
        let inserts: Vec<_> = [first, second]
            .into_iter()
            .map(|name| {
                let (directory, map_lock) = (Arc::clone(&directory), Arc::clone(&map_lock));
                thread::spawn(move || {
                    let _map = map_lock.lock().unwrap();
                    let taken = directory.insert(name, &Arc::new(name));
                    if taken {
                        assert_eq!(directory.find(name).map(|group| **group), Some(name));
                    }
                    taken
                })
            })
            .collect();
        for name in [first, second, "absent"] {
            if let Some(group) = directory.find(name) {
                assert_eq!(**group, name, "a lookup found another name's group");
            }
        }
        for (name, insert) in [first, second].into_iter().zip(inserts) {
            if insert.join().unwrap() {
                assert_eq!(directory.find(name).map(|group| **group), Some(name));
            }
        }
    });
}
