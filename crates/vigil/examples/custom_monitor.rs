//! A custom monitor: the longest poll of each service instance and when it happened.
//!
//! Shows the whole extension path: implement `PollMonitor` (writer in the future, reader
//! behind an `Arc`), attach it to every instance with a registry factory, and read it next
//! to the registry's own snapshot.
//!
//! Usage: `cargo run --release -p vigil --example custom_monitor`

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use vigil::monitor::{Clock, DefaultClock, PollOutcome, Ticks};
use vigil::prelude::*;

/// The read side: the longest poll, and when (clock ticks) it ended.
#[derive(Debug, Default)]
struct LongestPollMetrics {
    /// Written last, after `ended_at`: see the Release store in `on_poll_end`.
    longest_ticks: AtomicU64,
    ended_at: AtomicU64,
}

impl LongestPollMetrics {
    /// `(longest poll, how long ago it ended)`.
    fn read(&self, clock: &impl Clock) -> (Duration, Duration) {
        // Acquire: pairs with the Release store of `longest_ticks`, so `ended_at` is at least
        // as new as the longest poll it belongs to (a newer record may pair a newer end time
        // with it, which only makes "ago" shorter; good enough for a dashboard).
        let longest = self.longest_ticks.load(Ordering::Acquire);
        // Relaxed: ordered by the Acquire load above.
        let ended_at = self.ended_at.load(Ordering::Relaxed);
        (
            clock.ticks_to_duration(longest),
            clock.ticks_to_duration(clock.now().saturating_sub(ended_at)),
        )
    }
}

/// The writer: lives in the monitored future, keeps the record in a plain field.
#[derive(Debug, Default)]
struct LongestPollMonitor {
    metrics: Arc<LongestPollMetrics>,
    longest_ticks: Ticks,
}

impl PollMonitor for LongestPollMonitor {
    fn on_poll_end(&mut self, start: Ticks, end: Ticks, _outcome: PollOutcome) {
        let ticks = end.saturating_sub(start);
        if ticks > self.longest_ticks {
            self.longest_ticks = ticks;
            // Relaxed: published by the Release store below.
            self.metrics.ended_at.store(end, Ordering::Relaxed);
            // Release: a reader that sees this record also sees its end time.
            self.metrics.longest_ticks.store(ticks, Ordering::Release);
        }
    }
}

/// Readers by instance, filled by the registry's factory.
type Readers = Arc<Mutex<BTreeMap<ServiceId, Arc<LongestPollMetrics>>>>;

fn spin(duration: Duration) {
    let start = Instant::now();
    while start.elapsed() < duration {
        std::hint::spin_loop();
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a tokio runtime");

    let readers: Readers = Arc::default();
    let factory_readers = Arc::clone(&readers);
    let registry = Registry::builder()
        .monitor(move |id: &ServiceId| {
            let monitor = LongestPollMonitor::default();
            factory_readers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(*id, Arc::clone(&monitor.metrics));
            monitor
        })
        .build();

    for (name, poll_ms) in [("parser", 1_u64), ("parser", 3), ("compactor", 12)] {
        registry.start_in(
            runtime.handle(),
            ServiceObj::new(name, async move {
                for round in 0_u64.. {
                    // Every fifth poll is twice as long as the others.
                    let factor = if round % 5 == 4 { 2 } else { 1 };
                    spin(Duration::from_millis(poll_ms * factor));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }),
        );
    }
    std::thread::sleep(Duration::from_millis(600));

    let clock = DefaultClock::new();
    let snapshot = registry.metrics();
    println!(
        "{:<14} {:>6} {:>12} {:>14} {:>12}",
        "service", "polls", "busy", "longest poll", "ended ago"
    );
    let readers = readers.lock().unwrap_or_else(PoisonError::into_inner);
    for (id, metrics) in &snapshot {
        let (longest, ago) = readers[&id].read(&clock);
        println!(
            "{:<14} {:>6} {:>10.1}ms {:>12.1}ms {:>10.0}ms",
            id.to_string(),
            metrics.poll_count,
            metrics.total_busy_duration.as_secs_f64() * 1e3,
            longest.as_secs_f64() * 1e3,
            ago.as_secs_f64() * 1e3,
        );
    }
    runtime.shutdown_background();
}
