//! The classic poll monitor, re-implemented as the reference the benchmarks compare against.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

/// The classic design's utilization window, recomputed inside `poll`.
pub const CLASSIC_WINDOW: Duration = Duration::from_secs(5);

/// The classic design's metrics, shared by every future of a service (read-modify-writes
/// from every polling thread).
#[derive(Debug, Default)]
pub struct ClassicMetrics {
    /// Polls, all futures together.
    pub poll_count: AtomicU64,
    /// Time inside `poll`, in nanoseconds.
    pub busy_ns: AtomicU64,
    /// Utilization over the last full window, in percent; updated only inside `poll`.
    pub utilization_percent: AtomicU64,
}

pin_project! {
    /// The classic monitor: two `Instant::now()` and two `fetch_add(Relaxed)` per poll, and
    /// utilization recomputed inside `poll` once a window has elapsed (checked every poll).
    ///
    /// The window bookkeeping is kept per future, the cheapest place for it, so the reference
    /// is never slower than the design it stands for.
    #[derive(Debug)]
    pub struct Classic<F> {
        #[pin]
        future: F,
        metrics: Arc<ClassicMetrics>,
        window_start: Instant,
        busy_ns_at_window_start: u64,
    }
}

impl<F> Classic<F> {
    /// Wraps `future`, reporting to `metrics`.
    pub fn new(future: F, metrics: Arc<ClassicMetrics>) -> Self {
        Self {
            future,
            metrics,
            window_start: Instant::now(),
            busy_ns_at_window_start: 0,
        }
    }
}

impl<F: Future> Future for Classic<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let start = Instant::now();
        let poll = this.future.poll(cx);
        let end = Instant::now();
        let busy_ns = end.saturating_duration_since(start).as_nanos() as u64;
        // Relaxed: independent counters, as in the classic design.
        this.metrics.poll_count.fetch_add(1, Ordering::Relaxed);
        let busy_total = this.metrics.busy_ns.fetch_add(busy_ns, Ordering::Relaxed) + busy_ns;
        let elapsed = end.saturating_duration_since(*this.window_start);
        if elapsed >= CLASSIC_WINDOW {
            let busy_in_window = busy_total.saturating_sub(*this.busy_ns_at_window_start);
            let percent = (u128::from(busy_in_window) * 100 / elapsed.as_nanos()).min(100);
            this.metrics
                .utilization_percent
                .store(percent as u64, Ordering::Relaxed);
            *this.window_start = end;
            *this.busy_ns_at_window_start = busy_total;
        }
        poll
    }
}
