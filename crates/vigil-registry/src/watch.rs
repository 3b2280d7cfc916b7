//! What a snapshot reads besides the services themselves: the mailboxes a supervisor
//! registers per service name, and the tokio runtimes the services run on.

use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use tokio::runtime::Handle;

use crate::id::StaticName;

/// The figures of one service's mailbox at the moment of a snapshot.
///
/// `sent`, `received` and `rejected` are lifetime counters of the mailbox (it survives its
/// service's restarts); `depth` and `oldest_wait` are gauges. With the `serde` feature it is
/// the `mailbox` member of a `groups` entry of the snapshot document, `oldest_wait` as
/// `oldest_wait_ns`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct MailboxSnapshot {
    /// Messages the mailbox holds at most.
    pub capacity: u64,
    /// Messages waiting now: sent (or being sent with room reserved) and not yet received.
    pub depth: u64,
    /// Messages ever accepted.
    pub sent: u64,
    /// Messages ever taken out by the service.
    pub received: u64,
    /// `try_send` calls refused because the mailbox was full.
    pub rejected: u64,
    /// How long the oldest waiting message has waited; zero when none waits.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "oldest_wait_ns", with = "vigil_monitor::duration_ns")
    )]
    pub oldest_wait: Duration,
}

impl MailboxSnapshot {
    /// The figures of a mailbox: what a [`MailboxProbe`] returns.
    pub fn new(
        capacity: u64,
        depth: u64,
        sent: u64,
        received: u64,
        rejected: u64,
        oldest_wait: Duration,
    ) -> Self {
        Self {
            capacity,
            depth,
            sent,
            received,
            rejected,
            oldest_wait,
        }
    }

    /// `depth / capacity`, 0..=1 (0 for a mailbox of no capacity).
    pub fn fill_ratio(&self) -> f64 {
        if self.capacity == 0 {
            return 0.0;
        }
        (self.depth as f64 / self.capacity as f64).min(1.0)
    }

    /// Two mailboxes of one name read as one: counts added, the older wait kept.
    fn merge(&mut self, other: &Self) {
        self.capacity += other.capacity;
        self.depth += other.depth;
        self.sent += other.sent;
        self.received += other.received;
        self.rejected += other.rejected;
        self.oldest_wait = self.oldest_wait.max(other.oldest_wait);
    }
}

/// Reads a mailbox for snapshots: a supervisor implements it for the mailboxes it owns and
/// registers them with [`Registry::watch_mailbox`](crate::Registry::watch_mailbox).
///
/// `read` runs inside every snapshot, on the snapshotting thread: keep it to a few atomic
/// loads, never block.
pub trait MailboxProbe: Send + Sync + 'static {
    /// The mailbox's figures now.
    fn read(&self) -> MailboxSnapshot;
}

/// The figures of one tokio runtime at the moment of a snapshot, from tokio's **stable**
/// metrics API (no `tokio_unstable` needed).
///
/// With the `serde` feature it is an entry of the snapshot document's `runtime` member.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct RuntimeSnapshot {
    /// The name it was watched under ([`Registry::watch_runtime`](crate::Registry::watch_runtime)).
    #[cfg_attr(
        feature = "serde",
        serde(deserialize_with = "crate::intern::deserialize")
    )]
    pub name: StaticName,
    /// Alive tasks: spawned and not yet finished, services and everything else.
    pub alive_tasks: u64,
    /// Tasks waiting in the runtime's global (injection) queue: scheduled from outside a
    /// worker, not yet picked up by one.
    pub global_queue_depth: u64,
    /// One entry per worker thread (one for a current-thread runtime), in worker order.
    pub workers: Vec<WorkerSnapshot>,
}

/// The lifetime counters of one worker thread of a runtime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct WorkerSnapshot {
    /// Time the worker has spent running tasks (not parked), since the runtime started.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "busy_ns", with = "vigil_monitor::duration_ns")
    )]
    pub busy: Duration,
    /// Times the worker parked (went to sleep for lack of work).
    pub park_count: u64,
    /// Times the worker parked or unparked: odd while it is parked.
    pub park_unpark_count: u64,
}

impl RuntimeSnapshot {
    /// Reads the runtime behind `handle` now.
    pub fn read(name: &'static str, handle: &Handle) -> Self {
        let metrics = handle.metrics();
        Self {
            name,
            alive_tasks: metrics.num_alive_tasks() as u64,
            global_queue_depth: metrics.global_queue_depth() as u64,
            workers: (0..metrics.num_workers())
                .map(|worker| read_worker(&metrics, worker))
                .collect(),
        }
    }

    /// Each worker's busy share of the interval from `earlier` to `self`, 0..=1 (`interval`
    /// is the time between the two readings). A worker new since `earlier` reads from zero.
    pub fn busy_ratios_since(&self, earlier: &Self, interval: Duration) -> Vec<f64> {
        self.workers
            .iter()
            .enumerate()
            .map(|(index, worker)| {
                let before = earlier
                    .workers
                    .get(index)
                    .map_or(Duration::ZERO, |earlier| earlier.busy);
                busy_ratio(worker.busy.saturating_sub(before), interval)
            })
            .collect()
    }

    /// Time every worker spent busy, summed.
    pub fn total_busy(&self) -> Duration {
        self.workers.iter().map(|worker| worker.busy).sum()
    }
}

/// `busy / interval`, clamped to 0..=1 (0 for an empty interval).
fn busy_ratio(busy: Duration, interval: Duration) -> f64 {
    if interval.is_zero() {
        return 0.0;
    }
    (busy.as_secs_f64() / interval.as_secs_f64()).clamp(0.0, 1.0)
}

#[cfg(target_has_atomic = "64")]
fn read_worker(metrics: &tokio::runtime::RuntimeMetrics, worker: usize) -> WorkerSnapshot {
    WorkerSnapshot {
        busy: metrics.worker_total_busy_duration(worker),
        park_count: metrics.worker_park_count(worker),
        park_unpark_count: metrics.worker_park_unpark_count(worker),
    }
}

/// tokio keeps per-worker counters only where 64-bit atomics exist.
#[cfg(not(target_has_atomic = "64"))]
fn read_worker(_metrics: &tokio::runtime::RuntimeMetrics, _worker: usize) -> WorkerSnapshot {
    WorkerSnapshot::default()
}

/// The mailboxes and runtimes a registry reads at every snapshot.
#[derive(Default)]
pub(crate) struct Watched {
    /// Sorted by name; a name may have several. Weak: a mailbox its supervisor dropped
    /// disappears from snapshots, and is pruned at the next registration.
    mailboxes: RwLock<Vec<(&'static str, Weak<dyn MailboxProbe>)>>,
    runtimes: RwLock<Vec<(&'static str, Handle)>>,
}

impl Watched {
    pub(crate) fn add_mailbox(&self, name: &'static str, probe: &Arc<dyn MailboxProbe>) {
        let mut mailboxes = self
            .mailboxes
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        mailboxes.retain(|(_, probe)| probe.strong_count() > 0);
        let at = mailboxes.partition_point(|(watched, _)| *watched <= name);
        mailboxes.insert(at, (name, Arc::downgrade(probe)));
    }

    /// Adds `handle`'s runtime under `name`, or points `name` at it if it was watched.
    pub(crate) fn add_runtime(&self, name: &'static str, handle: &Handle) {
        let mut runtimes = self
            .runtimes
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        match runtimes.iter_mut().find(|(watched, _)| *watched == name) {
            Some((_, watched)) => *watched = handle.clone(),
            None => runtimes.push((name, handle.clone())),
        }
    }

    /// Every watched mailbox read now, merged per name, sorted by name.
    pub(crate) fn read_mailboxes(&self) -> Vec<(&'static str, MailboxSnapshot)> {
        let mailboxes = self
            .mailboxes
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut read: Vec<(&'static str, MailboxSnapshot)> = Vec::new();
        for (name, probe) in mailboxes.iter() {
            let Some(probe) = probe.upgrade() else {
                continue;
            };
            let figures = probe.read();
            match read.last_mut() {
                Some((last, merged)) if last == name => merged.merge(&figures),
                _ => read.push((name, figures)),
            }
        }
        read
    }

    /// Every watched runtime read now, in the order they were first watched.
    pub(crate) fn read_runtimes(&self) -> Vec<RuntimeSnapshot> {
        let runtimes = self.runtimes.read().unwrap_or_else(PoisonError::into_inner);
        runtimes
            .iter()
            .map(|(name, handle)| RuntimeSnapshot::read(name, handle))
            .collect()
    }
}

impl std::fmt::Debug for Watched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let runtimes = self.runtimes.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Watched")
            .field(
                "runtimes",
                &runtimes.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}
