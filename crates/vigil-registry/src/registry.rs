//! The registry: starts services on tokio, tracks every live instance, snapshots metrics.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio::runtime::Handle;
use vigil_monitor::{
    BusyMonitor, Clock, DefaultClock, MonitorReport, ReportMetrics, ServiceMonitor, Ticks,
    DEFAULT_WINDOW,
};
use vigil_status::{ServiceJoinHandle, ServiceStatusJoinHandle};

use crate::directory::Directory;
use crate::factory::MonitorFactory;
use crate::group::{Ending, Inner, Instance, Lifetime, ServiceGroup};
use crate::id::{ServiceId, TaskId};
use crate::metrics::{CoreMetrics, ServiceMetrics, ServicesMetrics};
use crate::names::{GroupTotals, ReportTotals};
use crate::service::ServiceObj;
use crate::slab::Slot;
use crate::watch::{MailboxProbe, Watched};

/// Why a service could not be started.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartError {
    /// Every instance id of this name has been handed out (`u64::MAX + 1` starts). Ids are
    /// never reused, so no further instance of the name can start in this registry.
    InstanceIdsExhausted {
        /// The service name.
        name: &'static str,
    },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InstanceIdsExhausted { name } => {
                write!(f, "every instance id of service `{name}` has been used")
            }
        }
    }
}

impl std::error::Error for StartError {}

/// Starts services and keeps a live view of every running instance.
///
/// Each started service runs as its own tokio task, inside
/// [`tokio::task::unconstrained`] (a service drains its backlog before yielding to
/// lower-priority work), wrapped by a [`ServiceMonitor`] that times every poll. Instances
/// are grouped by service name; each gets the next [`InstanceId`](crate::InstanceId) of its
/// name. [`metrics`](Registry::metrics) returns a snapshot of every live instance.
///
/// `Registry` is `Send + Sync`: share it by reference or in an `Arc`. A poisoned internal
/// lock is recovered, never propagated: the state it protects is updated in a single step
/// once nothing can panic any more.
///
/// # Examples
///
/// ```
/// use vigil_registry::{Registry, ServiceObj};
///
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let registry = Registry::new();
///
/// let (tx, rx) = tokio::sync::oneshot::channel::<()>();
/// let handle = registry.start_in(
///     runtime.handle(),
///     ServiceObj::new("consumer", async move {
///         let _ = rx.await;
///     }),
/// );
///
/// let snapshot = registry.metrics();
/// let (id, _metrics) = snapshot.iter().next().unwrap();
/// assert_eq!(id.to_string(), "consumer#0");
///
/// tx.send(()).unwrap();
/// runtime.block_on(handle).unwrap();
/// assert!(registry.metrics().is_empty());
/// ```
pub struct Registry<F = (), C = DefaultClock>
where
    F: MonitorFactory<C>,
    C: Clock,
{
    groups: RwLock<Groups<Reader<F, C>>>,
    /// The same groups, for starts: found without writing to memory shared with the starts
    /// of other names (a read lock of `groups` would be such a write).
    directory: Directory<ServiceGroup<Reader<F, C>>>,
    factory: F,
    clock: C,
    window_ticks: Ticks,
    created_at: Ticks,
    /// Mailboxes and runtimes read at every snapshot.
    watched: Watched,
}

impl Registry {
    /// Bytes each stored instance takes in its name's slab: its monitor's
    /// [`RawMetrics`](vigil_monitor::RawMetrics) and the slot's own state. A snapshot reads
    /// this much per stored instance, sequentially (the same for every monitor factory and clock).
    pub const SLOT_BYTES: usize = std::mem::size_of::<Slot>();

    /// A registry with the default clock, a 5 s utilization window and no custom monitor.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// Configures a registry: window, clock, custom monitors.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder {
            factory: (),
            clock: DefaultClock::new(),
            window: DEFAULT_WINDOW,
        }
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// The reader type a registry keeps per instance.
type Reader<F, C> = <F as MonitorFactory<C>>::Reader;

/// Service groups by name; name order is snapshot order. In an `Arc` so that a snapshot
/// can read them without holding the map's lock, which a new name's first start needs.
type Groups<R> = BTreeMap<&'static str, Arc<ServiceGroup<R>>>;

impl<F: MonitorFactory<C>, C: Clock> fmt::Debug for Registry<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let groups = read(&self.groups);
        f.debug_struct("Registry")
            .field("services", &groups.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl<F: MonitorFactory<C>, C: Clock> Registry<F, C> {
    /// Starts `service` on the runtime behind `handle` and returns its owned join handle.
    ///
    /// Dropping the returned handle detaches the service: it keeps running and stays in the
    /// registry until it ends.
    ///
    /// # Panics
    ///
    /// If every instance id of the service's name has been used (see
    /// [`try_start_in`](Registry::try_start_in)), or if the custom monitor factory panics.
    #[track_caller]
    pub fn start_in(&self, handle: &Handle, service: ServiceObj) -> ServiceJoinHandle {
        match self.try_start_in(handle, service) {
            Ok((_id, join)) => join,
            Err(error) => panic!("{error}"),
        }
    }

    /// Starts `service` like [`start_in`](Registry::start_in), and also returns the new
    /// instance's id; reports id exhaustion as an error instead of a panic.
    ///
    /// # Panics
    ///
    /// If the custom monitor factory panics.
    pub fn try_start_in(
        &self,
        handle: &Handle,
        service: ServiceObj,
    ) -> Result<(ServiceId, ServiceJoinHandle), StartError> {
        let (task, future) = service.into_parts();
        self.try_start_with(handle, task, move |_id| future)
    }

    /// Starts a service whose future is built by `make` from the id the new instance gets,
    /// so that the service can know its own id (a supervisor hands it to the service's
    /// context). Otherwise like [`try_start_in`](Registry::try_start_in).
    ///
    /// `make` is called once, while the name's lock is held: it must not start services of
    /// the same name nor take snapshots of this registry (that would deadlock), only build
    /// the future. If it panics, nothing is started and the id is not consumed.
    ///
    /// # Panics
    ///
    /// If `make` or the custom monitor factory panics.
    pub fn try_start_with<Fut>(
        &self,
        handle: &Handle,
        task: TaskId,
        make: impl FnOnce(ServiceId) -> Fut,
    ) -> Result<(ServiceId, ServiceJoinHandle), StartError>
    where
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.with_group(task.name(), |group, inner| {
            let instance_id = inner
                .peek_instance_id()
                .ok_or(StartError::InstanceIdsExhausted { name: task.name() })?;
            let id = ServiceId::new(task, instance_id);
            // Everything that can panic (the user's closures) happens before the group is
            // touched, so a panic leaves it as it was.
            let future = make(id);
            let (custom, reader) = self.factory.create(&id, &self.clock);
            let (slot, metrics) = group.allocate(inner);
            let busy = BusyMonitor::in_place(metrics, self.clock.now(), self.window_ticks);
            let monitored = ServiceMonitor::with_monitor(
                tokio::task::unconstrained(future),
                (busy, custom),
                self.clock.clone(),
            );
            let (status, owned) = vigil_status::spawn(handle, monitored);
            group.insert(
                inner,
                Instance {
                    id,
                    slot,
                    reader,
                    status,
                },
                &Ended(&self.clock),
            );
            Ok((id, owned))
        })
    }

    /// Marks the live instance `id` as failed: when its ending is observed it is counted
    /// under [`Endings::failed`](crate::Endings::failed) instead of `completed`. A supervisor
    /// calls it from inside the service, just before a service that returned `Err` completes.
    ///
    /// Returns `false` (and counts nothing) if `id` is not a stored instance of this registry.
    pub fn record_failure(&self, id: ServiceId) -> bool {
        let Some(group) = self.group(id.name()) else {
            return false;
        };
        let inner = group.lock();
        match inner.instance(id.instance_id()) {
            Some(instance) => {
                group.slot(instance.slot).mark_failed();
                true
            }
            None => false,
        }
    }

    /// Counts one restart of `name` in its lifetime counters
    /// ([`ServiceGroupMetrics::restarts`](crate::ServiceGroupMetrics::restarts)); a
    /// supervisor calls it when it starts a replacement incarnation.
    pub fn record_restart(&self, name: &'static str) {
        self.with_group(name, |_, inner| inner.record_restart());
    }

    /// The figures of the live instance `id` now, without taking a whole snapshot; `None`
    /// if it is not live (never started here, or ended).
    pub fn instance_metrics(&self, id: ServiceId) -> Option<ServiceMetrics> {
        let group = self.group(id.name())?;
        let inner = group.lock();
        let instance = inner.instance(id.instance_id())?;
        let sample = group.slot(instance.slot).metrics().sample(self.clock.now());
        if sample.lifecycle.is_finished() {
            return None;
        }
        let mut report = MonitorReport::default();
        if <Reader<F, C> as ReportMetrics>::REPORTS {
            instance.reader.report(&self.clock, &mut report);
        }
        Some(ServiceMetrics::new(sample.to_snapshot(&self.clock), report))
    }

    /// A point-in-time snapshot of every live instance, in id order, and the lifetime
    /// counters of every name.
    ///
    /// It never waits for a service to be polled, and never makes a start wait for it:
    /// each name's lock is taken twice, for a few instructions, around a sequential read of
    /// the name's slab of figures. (With monitors attached that report into snapshots,
    /// their readers are kept under the lock, which is then held for the read.)
    ///
    /// Lifetime counters stay exact under churn: a snapshot takes a name's counters as they
    /// were when it began reading the name, plus every instance started before then that
    /// they did not count yet, live (current figures) or ended since (final figures and
    /// ending). The slot of such an instance is not reused until the snapshot is done.
    pub fn metrics(&self) -> ServicesMetrics {
        let now = self.clock.now();
        let groups: Vec<_> = read(&self.groups)
            .iter()
            .map(|(&name, group)| (name, Arc::clone(group)))
            .collect();
        let mut entries = Vec::new();
        let mut reports = Vec::new();
        let mut totals = Vec::with_capacity(groups.len());
        let mailboxes = self.watched.read_mailboxes();
        for (name, group) in &groups {
            let first = entries.len();
            let mut tally = Tally::default();
            if <Reader<F, C> as ReportMetrics>::REPORTS {
                let inner = group.lock();
                tally.lifetime = inner.lifetime();
                entries.reserve(inner.instances().len());
                reports.reserve(inner.instances().len());
                for instance in inner.instances() {
                    let slot = group.slot(instance.slot);
                    let core = tally.count(&self.clock, now, slot);
                    // Ended or live, the instance's figures count in the name's totals.
                    let mut report = MonitorReport::default();
                    instance.reader.report(&self.clock, &mut report);
                    tally.reports.add(&report);
                    if let Some(core) = core {
                        reports.push(report);
                        entries.push((instance.id, core));
                    }
                }
            } else {
                // Unregisters on drop, also if the clock or a monitor panics mid-read.
                let reading = group.begin_read();
                tally.lifetime = reading.start().lifetime;
                // Growing the entries as they come would copy them and touch fresh pages
                // on every doubling: more than the read itself costs.
                entries.reserve(reading.start().stored);
                let mut sorted = true;
                let mut last = None;
                reading.visit(|instance_id, slot| {
                    if let Some(core) = tally.count(&self.clock, now, slot) {
                        sorted &= last < Some(instance_id);
                        last = Some(instance_id);
                        entries.push((ServiceId::new(slot.task(name), instance_id), core));
                    }
                });
                drop(reading);
                // A reused slot can hold a newer instance before an older one.
                if !sorted {
                    entries[first..].sort_by_key(|(id, _)| id.instance_id());
                }
            }
            let lifetime = tally.lifetime;
            totals.push(GroupTotals {
                name,
                starts: lifetime.starts,
                restarts: lifetime.restarts,
                endings: lifetime.endings,
                poll_count: lifetime.ended_poll_count + tally.live_poll_count,
                total_busy_duration: lifetime.ended_busy + Duration::from_nanos(tally.live_busy_ns),
                mailbox: mailboxes
                    .binary_search_by(|(watched, _)| watched.cmp(name))
                    .ok()
                    .map(|index| mailboxes[index].1),
                reports: lifetime.ended_reports.merged(&tally.reports),
            });
        }
        let taken_at = self
            .clock
            .ticks_to_duration(now.saturating_sub(self.created_at));
        ServicesMetrics::from_parts(entries, reports, totals, taken_at)
            .with_runtimes(self.watched.read_runtimes())
    }

    /// A status handle of the live instance `id`: await it to learn how the instance ends
    /// (ok, panicked, cancelled), from any task, without owning it.
    ///
    /// `None` if `id` was never started here or has already been evicted after ending (an
    /// instance that ended but is not yet evicted still gives a handle, which resolves at
    /// once). To learn the endings of every instance, keep the handles `start_in` returns.
    pub fn status_handle(&self, id: ServiceId) -> Option<ServiceStatusJoinHandle> {
        let group = self.group(id.name())?;
        let inner = group.lock();
        Some(inner.instance(id.instance_id())?.status.clone())
    }

    /// Reads `probe` at every snapshot as the mailbox of the service `name`
    /// ([`ServiceGroupMetrics::mailbox`](crate::ServiceGroupMetrics::mailbox)); a
    /// supervisor calls it for each mailbox it creates. The name is listed from now on, even
    /// before its first start.
    ///
    /// The registry keeps a weak reference: once every strong one is dropped (the
    /// supervisor dropped the mailbox), the mailbox leaves snapshots. Several mailboxes of
    /// one name read as one (counts added, the oldest wait kept).
    pub fn watch_mailbox(&self, name: &'static str, probe: &Arc<dyn MailboxProbe>) {
        self.with_group(name, |_, _| ());
        self.watched.add_mailbox(name, probe);
    }

    /// Reads the tokio runtime behind `handle` at every snapshot under `name`
    /// ([`ServicesMetrics::runtimes`]): workers, alive tasks, global queue depth, each
    /// worker's busy time and parks, from tokio's stable metrics API. Watch each runtime
    /// the services run on (a main one and a dedicated one, say) under its own name;
    /// watching a name again points it at `handle`.
    ///
    /// The registry keeps the handle: a watched runtime that shuts down keeps reading its
    /// last figures (its workers stay at their final counts).
    pub fn watch_runtime(&self, name: &'static str, handle: &Handle) {
        self.watched.add_runtime(name, handle);
    }

    /// The clock the registry's monitors read.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The group of `name`, if it has been used.
    fn group(&self, name: &str) -> Option<Arc<ServiceGroup<Reader<F, C>>>> {
        match self.directory.find(name) {
            Some(group) => Some(Arc::clone(group)),
            None => read(&self.groups).get(name).cloned(),
        }
    }

    /// Runs `f` on the group of `name` under its lock, creating the group on first use.
    fn with_group<T>(
        &self,
        name: &'static str,
        f: impl FnOnce(&ServiceGroup<Reader<F, C>>, &mut Inner<Reader<F, C>>) -> T,
    ) -> T {
        // The common case borrows the group from the directory: no reference count touched.
        if let Some(group) = self.directory.find(name) {
            return f(group, &mut group.lock());
        }
        let group = self.group(name).unwrap_or_else(|| {
            let mut groups = self.groups.write().unwrap_or_else(PoisonError::into_inner);
            let group = groups.entry(name).or_insert_with(|| {
                let group = Arc::new(ServiceGroup::new());
                // Under the map's write lock: each name is added to the directory once.
                self.directory.insert(name, &group);
                group
            });
            Arc::clone(group)
        });
        let mut inner = group.lock();
        f(&group, &mut inner)
    }

    #[cfg(all(test, not(loom)))]
    pub(crate) fn with_group_for_test<T>(
        &self,
        name: &'static str,
        f: impl FnOnce(&mut Inner<Reader<F, C>>) -> T,
    ) -> T {
        self.with_group(name, |_, inner| f(inner))
    }

    #[cfg(all(test, not(loom)))]
    pub(crate) fn group_is_poisoned_for_test(&self, name: &'static str) -> bool {
        read(&self.groups)[name].is_poisoned()
    }
}

/// What a snapshot adds up for one name besides its live entries.
#[derive(Default)]
struct Tally {
    /// The name's lifetime counters, plus the endings of instances the snapshot saw ended.
    lifetime: Lifetime,
    live_poll_count: u64,
    /// Nanoseconds: each instance's busy time converted on its own, exactly as its entry
    /// shows it.
    live_busy_ns: u64,
    /// The attached monitors' figures of the instances this snapshot read (live, or ended
    /// and not yet folded into `lifetime`).
    reports: ReportTotals,
}

/// How a registry reads an ended instance: its clock, and its monitors' readers.
struct Ended<'a, C>(&'a C);

impl<R: ReportMetrics, C: Clock> Ending<R> for Ended<'_, C> {
    fn to_duration(&self, ticks: Ticks) -> Duration {
        self.0.ticks_to_duration(ticks)
    }

    fn fold(&self, reader: &R, totals: &mut ReportTotals) {
        if R::REPORTS {
            let mut report = MonitorReport::default();
            reader.report(self.0, &mut report);
            totals.add(&report);
        }
    }
}

impl Tally {
    /// Counts the instance in `slot` at `now`: its figures if it is live (returned for its
    /// entry), its ending and final figures if it has ended.
    #[inline]
    fn count<C: Clock>(&mut self, clock: &C, now: Ticks, slot: &Slot) -> Option<CoreMetrics> {
        let sample = slot.metrics().sample(now);
        if sample.lifecycle.is_finished() {
            self.lifetime.add_ended(&sample, slot.failed(), |ticks| {
                clock.ticks_to_duration(ticks)
            });
            return None;
        }
        let core = CoreMetrics::from_sample(&sample, clock);
        self.live_poll_count += core.poll_count();
        self.live_busy_ns = self.live_busy_ns.saturating_add(core.total_busy_ns());
        Some(core)
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// Builds a [`Registry`]; see [`Registry::builder`].
#[derive(Debug)]
pub struct RegistryBuilder<F = (), C = DefaultClock> {
    factory: F,
    clock: C,
    window: Duration,
}

impl<F: MonitorFactory<C>, C: Clock> RegistryBuilder<F, C> {
    /// Averages utilization over `window` (default 5 s).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Reads time from `clock` (default [`DefaultClock`]); e.g. a
    /// [`MockClock`](vigil_monitor::MockClock) in tests.
    pub fn clock<C2: Clock>(self, clock: C2) -> RegistryBuilder<F, C2>
    where
        F: MonitorFactory<C2>,
    {
        RegistryBuilder {
            factory: self.factory,
            clock,
            window: self.window,
        }
    }

    /// Attaches a custom monitor, built by `factory`, to every instance started from now on.
    pub fn monitor<F2: MonitorFactory<C>>(self, factory: F2) -> RegistryBuilder<F2, C> {
        RegistryBuilder {
            factory,
            clock: self.clock,
            window: self.window,
        }
    }

    /// Builds the registry.
    pub fn build(self) -> Registry<F, C> {
        let window_ticks = self.clock.duration_to_ticks(self.window);
        Registry {
            created_at: self.clock.now(),
            groups: RwLock::new(BTreeMap::new()),
            directory: Directory::new(),
            factory: self.factory,
            clock: self.clock,
            window_ticks,
            watched: Watched::default(),
        }
    }
}

#[allow(dead_code)] // Compile-time assertion only.
fn assert_registry_is_send_sync() {
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<Registry>();
    is_send_sync::<TaskId>();
}
