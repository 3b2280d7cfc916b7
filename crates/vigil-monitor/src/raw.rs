//! The default monitor: poll count, busy time, in-flight poll and lifecycle, published
//! through a seqlock so readers always see one consistent poll edge.

use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, Ticks};
use crate::monitor::{PollMonitor, PollOutcome};
use crate::seqlock::{SeqLock, SeqWriter};
use crate::snapshot::{utilization_percent, Lifecycle, MonitorSnapshot, UsageSample};
use crate::sync::{AtomicU64, AtomicU8};

/// The default utilization window.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(5);

/// Number of `(time, busy)` checkpoints kept per instance for utilization.
///
/// With checkpoints at least a quarter window apart, eight cover at least 1.75 windows, so a
/// reader always finds a checkpoint at or before the start of its window.
pub(crate) const CHECKPOINTS: usize = 8;
const CHECKPOINTS_PER_WINDOW: u64 = 4;

/// `in_poll_since` value meaning "not inside a poll".
const NOT_IN_POLL: Ticks = u64::MAX;

/// The shared, read-only-to-readers state of one monitored future.
///
/// Written only by the thread currently polling the future (a future is polled by one thread
/// at a time), with plain stores: no read-modify-write on the hot path. Readers take
/// [`snapshot`](RawMetrics::snapshot)s at any time from any thread.
///
/// # Guarantees
///
/// - A snapshot reflects one poll edge: poll count, busy time, checkpoints and the in-flight
///   poll are never torn across edges (a sequence lock around the end-of-poll stores; the
///   reader retries, the writer never waits).
/// - A poll that is still running is visible: [`MonitorSnapshot::current_poll_duration`]
///   and the busy total include it.
///
/// # Storage
///
/// A monitor either owns its `RawMetrics` in an `Arc` ([`BusyMonitor::new`], [`at`]), or
/// writes into one that lives elsewhere, e.g. a slot of a registry's contiguous slab
/// ([`BusyMonitor::in_place`]), so that a snapshot of many instances reads memory
/// sequentially. A slot is reused by resetting it in place once its previous monitor has
/// finished; readers racing with a reset see either the old or the new figures, never a mix
/// (the reset is one sequence-locked update).
///
/// # Layout
///
/// 200 bytes, not cache-padded: a 128-byte-aligned allocation measured ~74 ns against
/// ~11 ns, paid on every start, while false sharing only costs when two hot instances land
/// on one line *and* a reader is scanning; see `docs/benchmarks.md`. `repr(C)` keeps what
/// every read needs in the first 72 bytes and each checkpoint's two halves side by side, so
/// a snapshot of many instances touches as few cache lines as possible (it is bound by
/// memory, not arithmetic).
///
/// [`at`]: BusyMonitor::at
#[derive(Debug)]
#[repr(C)]
pub struct RawMetrics {
    /// Guards the end-of-poll stores.
    lock: SeqLock,
    poll_count: AtomicU64,
    /// Sum of completed polls' durations, in ticks.
    busy_ticks: AtomicU64,
    /// Start of the poll in progress, or `NOT_IN_POLL`.
    in_poll_since: AtomicU64,
    /// End of the last completed poll (`created_at` before the first).
    last_poll_end: AtomicU64,
    /// Number of checkpoints ever written; the newest is at `(written - 1) % CHECKPOINTS`.
    checkpoints_written: AtomicU64,
    /// Atomics, not plain fields, only so that a slot can be reset in place for its next
    /// monitor: written once per reset, inside the sequence lock.
    created_at: AtomicU64,
    window_ticks: AtomicU64,
    lifecycle: AtomicU8,
    /// `(time, busy)` pairs, a ring.
    checkpoints: [Checkpoint; CHECKPOINTS],
}

/// One `(time, busy total)` point of the busy curve.
#[derive(Debug, Default)]
#[repr(C)]
struct Checkpoint {
    time: AtomicU64,
    busy: AtomicU64,
}

impl RawMetrics {
    /// Metrics that no monitor has written yet: a slot for [`BusyMonitor::in_place`].
    /// Until then it reads as a finished instance created at tick 0, with no polls.
    pub fn vacant() -> Self {
        Self {
            lock: SeqLock::default(),
            poll_count: AtomicU64::new(0),
            busy_ticks: AtomicU64::new(0),
            in_poll_since: AtomicU64::new(NOT_IN_POLL),
            last_poll_end: AtomicU64::new(0),
            checkpoints_written: AtomicU64::new(1),
            created_at: AtomicU64::new(0),
            window_ticks: AtomicU64::new(1),
            lifecycle: AtomicU8::new(Lifecycle::Dropped as u8),
            checkpoints: Default::default(),
        }
    }

    /// Starts the figures over for a monitor created at `created_at`, as one update of the
    /// sequence lock (continued from where the previous writer left it), and returns the
    /// writer half for that monitor.
    fn reset(&self, created_at: Ticks, window_ticks: Ticks) -> SeqWriter {
        let mut writer = SeqWriter::resume(&self.lock);
        writer.write(&self.lock, || {
            // Relaxed data stores: published by the sequence lock's closing Release store.
            self.poll_count.store(0, Ordering::Relaxed);
            self.busy_ticks.store(0, Ordering::Relaxed);
            self.in_poll_since.store(NOT_IN_POLL, Ordering::Relaxed);
            self.last_poll_end.store(created_at, Ordering::Relaxed);
            self.checkpoints_written.store(1, Ordering::Relaxed);
            self.created_at.store(created_at, Ordering::Relaxed);
            self.window_ticks
                .store(window_ticks.max(1), Ordering::Relaxed);
            self.checkpoints[0]
                .time
                .store(created_at, Ordering::Relaxed);
            self.checkpoints[0].busy.store(0, Ordering::Relaxed);
            self.lifecycle
                .store(Lifecycle::Running as u8, Ordering::Relaxed);
        });
        writer
    }

    /// When the monitor was created, in ticks of its clock.
    pub fn created_at(&self) -> Ticks {
        // Relaxed: set by the reset that happened before this monitor was handed out.
        self.created_at.load(Ordering::Relaxed)
    }

    /// The utilization window, in ticks of the monitor's clock.
    pub fn window_ticks(&self) -> Ticks {
        // Relaxed: as `created_at`.
        self.window_ticks.load(Ordering::Relaxed)
    }

    /// How the monitored future has ended so far.
    #[inline]
    pub fn lifecycle(&self) -> Lifecycle {
        // Acquire: pairs with the Release store in `set_lifecycle`, so a reader that sees an
        // ending also sees the final poll's figures.
        Lifecycle::from_u8(self.lifecycle.load(Ordering::Acquire))
    }

    /// `true` once the future completed, panicked, or was dropped. A single atomic load.
    #[inline]
    pub fn is_finished(&self) -> bool {
        self.lifecycle() != Lifecycle::Running
    }

    /// Reads a consistent sample at time `now` (ticks of the monitor's clock).
    pub fn sample(&self, now: Ticks) -> UsageSample {
        self.lock.read(|| self.read_fields(now))
    }

    fn read_fields(&self, now: Ticks) -> UsageSample {
        // Relaxed loads throughout: validated by the sequence lock in `sample`.
        let in_poll_since = self.in_poll_since.load(Ordering::Relaxed);
        let written = self.checkpoints_written.load(Ordering::Relaxed);
        let window_ticks = self.window_ticks.load(Ordering::Relaxed);
        let created_at = self.created_at.load(Ordering::Relaxed);
        let window_start = now.saturating_sub(window_ticks);
        // Newest checkpoint at or before the window start; else the oldest one kept.
        let oldest = written.saturating_sub(CHECKPOINTS as u64);
        let mut index = written - 1;
        let (checkpoint_time, checkpoint_busy) = loop {
            let slot = (index % CHECKPOINTS as u64) as usize;
            let time = self.checkpoints[slot].time.load(Ordering::Relaxed);
            if time <= window_start || index == oldest {
                break (time, self.checkpoints[slot].busy.load(Ordering::Relaxed));
            }
            index -= 1;
        };
        // The checkpoint after it, if any: the other end of the span holding the window start.
        let next_checkpoint = (index + 1 < written).then(|| {
            let slot = ((index + 1) % CHECKPOINTS as u64) as usize;
            (
                self.checkpoints[slot].time.load(Ordering::Relaxed),
                self.checkpoints[slot].busy.load(Ordering::Relaxed),
            )
        });
        UsageSample {
            now,
            created_at,
            window_ticks,
            poll_count: self.poll_count.load(Ordering::Relaxed),
            busy_ticks: self.busy_ticks.load(Ordering::Relaxed),
            in_poll_since: (in_poll_since != NOT_IN_POLL).then_some(in_poll_since),
            last_poll_end: self.last_poll_end.load(Ordering::Relaxed),
            checkpoint_time,
            checkpoint_busy,
            next_checkpoint,
            lifecycle: self.lifecycle(),
        }
    }

    /// A snapshot in plain units, reading `now` from `clock` (which must be the clock the
    /// monitor was built with).
    pub fn snapshot<C: Clock>(&self, clock: &C) -> MonitorSnapshot {
        self.snapshot_at(clock, clock.now())
    }

    /// A snapshot in plain units at an explicit time `now` (ticks of `clock`). Taking one
    /// `now` for many instances makes their figures comparable.
    pub fn snapshot_at<C: Clock>(&self, clock: &C, now: Ticks) -> MonitorSnapshot {
        self.sample(now).to_snapshot(clock)
    }

    /// The utilization (0..=100) over the window ending at `now`.
    pub fn utilization_at(&self, now: Ticks) -> u8 {
        utilization_percent(&self.sample(now))
    }

    fn set_lifecycle(&self, lifecycle: Lifecycle) {
        // Release: publishes the final poll's figures to readers that Acquire the ending.
        self.lifecycle.store(lifecycle as u8, Ordering::Release);
    }
}

/// The default monitor: writes [`RawMetrics`] for one future.
///
/// Keeps private copies of every counter so that each poll edge is plain stores, never a
/// load or a read-modify-write of shared memory. Per poll: one store at the start, seven at
/// the end (three more per utilization checkpoint: one at the poll's end when a quarter window
/// has passed since the last checkpoint, and one at its start when that much had passed before
/// the poll began).
///
/// `M` is where the [`RawMetrics`] live: an `Arc` of its own by default, or any shared
/// handle to one (see [`in_place`](BusyMonitor::in_place)).
#[derive(Debug)]
pub struct BusyMonitor<M = Arc<RawMetrics>> {
    metrics: M,
    writer: SeqWriter,
    poll_count: u64,
    busy_ticks: Ticks,
    checkpoints_written: u64,
    next_checkpoint_at: Ticks,
    checkpoint_interval: Ticks,
}

impl BusyMonitor {
    /// A monitor created now on `clock`, with the default 5 s utilization window.
    pub fn new<C: Clock>(clock: &C) -> Self {
        Self::with_window(clock, DEFAULT_WINDOW)
    }

    /// A monitor created now on `clock`, with utilization averaged over `window`.
    pub fn with_window<C: Clock>(clock: &C, window: Duration) -> Self {
        Self::at(clock.now(), clock.duration_to_ticks(window))
    }

    /// A monitor created at `created_at` with a window of `window_ticks` (raw ticks).
    pub fn at(created_at: Ticks, window_ticks: Ticks) -> Self {
        Self::in_place(Arc::new(RawMetrics::vacant()), created_at, window_ticks)
    }
}

impl<M: Deref<Target = RawMetrics>> BusyMonitor<M> {
    /// A monitor created at `created_at` (window `window_ticks`, raw ticks) that writes into
    /// the `RawMetrics` behind `metrics`, resetting them first.
    ///
    /// The previous monitor of those metrics, if any, must have finished (its
    /// [`RawMetrics::is_finished`] is `true`, as for a [`vacant`](RawMetrics::vacant) slot)
    /// and must never write again: two live monitors on one `RawMetrics` would mix their
    /// figures (safely, but uselessly).
    pub fn in_place(metrics: M, created_at: Ticks, window_ticks: Ticks) -> Self {
        let writer = metrics.reset(created_at, window_ticks);
        let checkpoint_interval = (metrics.window_ticks() / CHECKPOINTS_PER_WINDOW).max(1);
        Self {
            metrics,
            writer,
            poll_count: 0,
            busy_ticks: 0,
            checkpoints_written: 1,
            next_checkpoint_at: created_at.saturating_add(checkpoint_interval),
            checkpoint_interval,
        }
    }

    /// The shared metrics this monitor writes.
    #[inline]
    pub fn metrics(&self) -> &M {
        &self.metrics
    }

    /// Stores a `(time, busy)` checkpoint; only from `on_poll_end`, inside the sequence lock.
    #[inline]
    fn write_checkpoint(&mut self, time: Ticks, busy: Ticks) {
        let metrics = &*self.metrics;
        let slot = (self.checkpoints_written % CHECKPOINTS as u64) as usize;
        // Relaxed: published by the sequence lock's closing Release store in `on_poll_end`.
        metrics.checkpoints[slot]
            .time
            .store(time, Ordering::Relaxed);
        metrics.checkpoints[slot]
            .busy
            .store(busy, Ordering::Relaxed);
        self.checkpoints_written += 1;
        metrics
            .checkpoints_written
            .store(self.checkpoints_written, Ordering::Relaxed);
        self.next_checkpoint_at = time.saturating_add(self.checkpoint_interval);
    }
}

impl<M: Deref<Target = RawMetrics> + Send> PollMonitor for BusyMonitor<M> {
    #[inline]
    fn on_poll_start(&mut self, start: Ticks) {
        // Release, outside the sequence lock: a single field changes on this edge, so any
        // reader sees either the state before the poll or the one inside it, both consistent.
        self.metrics.in_poll_since.store(start, Ordering::Release);
    }

    #[inline]
    fn on_poll_end(&mut self, start: Ticks, end: Ticks, outcome: PollOutcome) {
        let metrics = &*self.metrics;
        self.poll_count += 1;
        self.busy_ticks += end.saturating_sub(start);
        self.writer.begin(&metrics.lock);
        // Relaxed data stores: published by the sequence lock's closing Release store.
        metrics.poll_count.store(self.poll_count, Ordering::Relaxed);
        metrics.busy_ticks.store(self.busy_ticks, Ordering::Relaxed);
        metrics.last_poll_end.store(end, Ordering::Relaxed);
        metrics.in_poll_since.store(NOT_IN_POLL, Ordering::Relaxed);
        // `start <= end`, so the common case (no checkpoint due) is one comparison.
        if end >= self.next_checkpoint_at {
            if start >= self.next_checkpoint_at {
                // A checkpoint fell due while the service was idle: record this poll's start
                // too, so that the idle gap before it and its busy time never share one
                // checkpoint span.
                let busy_before = self.busy_ticks - end.saturating_sub(start);
                self.write_checkpoint(start, busy_before);
            }
            if end >= self.next_checkpoint_at {
                self.write_checkpoint(end, self.busy_ticks);
            }
        }
        let metrics = &*self.metrics;
        self.writer.end(&metrics.lock);
        match outcome {
            PollOutcome::Pending => {}
            PollOutcome::Ready => metrics.set_lifecycle(Lifecycle::Completed),
            PollOutcome::Panicked => metrics.set_lifecycle(Lifecycle::Panicked),
        }
    }

    #[inline]
    fn on_drop(&mut self, completed: bool) {
        if !completed {
            self.metrics.set_lifecycle(Lifecycle::Dropped);
        }
    }
}
