//! Clock abstraction: raw monotonic ticks on the hot path, nanoseconds off it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// A raw reading of a [`Clock`]: an opaque, monotonic tick count.
///
/// Ticks are only meaningful for the clock that produced them. Convert a *difference* of
/// two readings to time with [`Clock::ticks_to_nanos`]; this is done when metrics are read,
/// never on the poll path.
pub type Ticks = u64;

/// A monotonic time source for monitors.
///
/// The wrapper reads the clock exactly twice per poll (once at each edge) and hands the same
/// readings to every monitor, so the cost of [`now`](Clock::now) is the floor of the
/// per-poll overhead. Implementations must be cheap to clone (they are stored in every
/// monitored future) and must never go backwards on one thread.
pub trait Clock: Clone + Send + Sync + 'static {
    /// Reads the current time in raw ticks.
    fn now(&self) -> Ticks;

    /// Converts a tick *difference* to nanoseconds.
    fn ticks_to_nanos(&self, ticks: Ticks) -> u64;

    /// Converts nanoseconds to a tick difference (used once, when monitors are built, to turn
    /// thresholds and windows into ticks).
    fn nanos_to_ticks(&self, nanos: u64) -> Ticks;

    /// Converts a tick difference to a [`Duration`].
    #[inline]
    fn ticks_to_duration(&self, ticks: Ticks) -> Duration {
        Duration::from_nanos(self.ticks_to_nanos(ticks))
    }

    /// Converts a [`Duration`] to a tick difference, saturating at `u64::MAX` ticks.
    #[inline]
    fn duration_to_ticks(&self, duration: Duration) -> Ticks {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.nanos_to_ticks(nanos)
    }
}

/// The production clock: the cheapest monotonic source measured on the target hardware.
///
/// With the default `quanta` feature this reads the CPU timestamp counter through
/// [`quanta`](https://docs.rs/quanta) (calibrated once per process against the OS monotonic
/// clock, with an automatic fallback to the OS clock where the counter is not usable).
/// Without it, it is [`StdClock`]. See `docs/benchmarks.md` for the measurements behind the
/// choice.
///
/// Each value holds its own copy of the process-wide calibration (about 40 bytes), so a read
/// is the counter read itself, with no check of a lazily initialized global. Build it with
/// [`DefaultClock::new`] (or `Default`); the first one in a process calibrates the counter
/// (a few milliseconds), later ones copy the result.
#[derive(Debug, Clone, Default)]
pub struct DefaultClock {
    #[cfg(feature = "quanta")]
    tsc: tsc::Calibrated,
}

impl DefaultClock {
    /// The default clock, calibrated.
    pub fn new() -> Self {
        Self::default()
    }
}

#[cfg(feature = "quanta")]
mod tsc {
    use super::Ticks;
    use std::sync::OnceLock;

    /// The calibrated clock and its inverse scale, computed once per process.
    pub(super) struct Global {
        pub(super) clock: quanta::Clock,
        /// Ticks per 2^32 nanoseconds, for the (cold) nanos -> ticks conversion.
        pub(super) ticks_per_2p32_nanos: u128,
    }

    static GLOBAL: OnceLock<Global> = OnceLock::new();

    /// A copy of the calibrated clock.
    #[derive(Debug, Clone)]
    pub(super) struct Calibrated(pub(super) quanta::Clock);

    impl Default for Calibrated {
        fn default() -> Self {
            Self(global().clock.clone())
        }
    }

    #[inline]
    pub(super) fn global() -> &'static Global {
        GLOBAL.get_or_init(|| {
            let clock = quanta::Clock::new();
            // Scale a large tick count once so the inverse conversion keeps full precision.
            const PROBE_TICKS: Ticks = 1 << 40;
            let probe_nanos = clock.delta_as_nanos(0, PROBE_TICKS).max(1);
            let ticks_per_2p32_nanos = (u128::from(PROBE_TICKS) << 32) / u128::from(probe_nanos);
            Global {
                clock,
                ticks_per_2p32_nanos,
            }
        })
    }
}

impl Clock for DefaultClock {
    #[cfg(feature = "quanta")]
    #[inline]
    fn now(&self) -> Ticks {
        self.tsc.0.raw()
    }

    #[cfg(not(feature = "quanta"))]
    #[inline]
    fn now(&self) -> Ticks {
        StdClock.now()
    }

    #[cfg(feature = "quanta")]
    #[inline]
    fn ticks_to_nanos(&self, ticks: Ticks) -> u64 {
        self.tsc.0.delta_as_nanos(0, ticks)
    }

    #[cfg(not(feature = "quanta"))]
    #[inline]
    fn ticks_to_nanos(&self, ticks: Ticks) -> u64 {
        StdClock.ticks_to_nanos(ticks)
    }

    #[cfg(feature = "quanta")]
    fn nanos_to_ticks(&self, nanos: u64) -> Ticks {
        let ticks = (u128::from(nanos) * tsc::global().ticks_per_2p32_nanos) >> 32;
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }

    #[cfg(not(feature = "quanta"))]
    fn nanos_to_ticks(&self, nanos: u64) -> Ticks {
        StdClock.nanos_to_ticks(nanos)
    }
}

/// `std::time::Instant`, expressed as nanoseconds since a process-wide origin.
///
/// Portable and always available; on the reference VM one read costs about 2.5x a TSC read
/// (see `docs/benchmarks.md`). Ticks are nanoseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdClock;

fn std_origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

impl Clock for StdClock {
    #[inline]
    fn now(&self) -> Ticks {
        // 2^64 ns is 584 years of process uptime: the truncation cannot happen in practice.
        Instant::now().duration_since(std_origin()).as_nanos() as u64
    }

    #[inline]
    fn ticks_to_nanos(&self, ticks: Ticks) -> u64 {
        ticks
    }

    #[inline]
    fn nanos_to_ticks(&self, nanos: u64) -> Ticks {
        nanos
    }
}

/// A clock that only moves when told to: deterministic tests and doctests.
///
/// Clones share the same time. Ticks are nanoseconds.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use vigil_monitor::{Clock, MockClock};
///
/// let clock = MockClock::new();
/// let t0 = clock.now();
/// clock.advance(Duration::from_millis(3));
/// assert_eq!(clock.ticks_to_duration(clock.now() - t0), Duration::from_millis(3));
/// ```
#[derive(Debug, Clone, Default)]
pub struct MockClock {
    nanos: Arc<AtomicU64>,
}

impl MockClock {
    /// Creates a mock clock reading zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // Relaxed: the value is the only shared state; tests order their threads themselves.
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Moves the clock forward by `ticks` (nanoseconds).
    pub fn advance_ticks(&self, ticks: Ticks) {
        // Relaxed: as in `advance`.
        self.nanos.fetch_add(ticks, Ordering::Relaxed);
    }

    /// Sets the clock to an absolute reading.
    pub fn set(&self, ticks: Ticks) {
        // Relaxed: as in `advance`.
        self.nanos.store(ticks, Ordering::Relaxed);
    }
}

impl Clock for MockClock {
    #[inline]
    fn now(&self) -> Ticks {
        // Relaxed: see `advance`.
        self.nanos.load(Ordering::Relaxed)
    }

    #[inline]
    fn ticks_to_nanos(&self, ticks: Ticks) -> u64 {
        ticks
    }

    #[inline]
    fn nanos_to_ticks(&self, nanos: u64) -> Ticks {
        nanos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_clock_round_trips_durations() {
        let clock = DefaultClock::new();
        for millis in [1_u64, 50, 5_000] {
            let ticks = clock.nanos_to_ticks(millis * 1_000_000);
            let back = clock.ticks_to_nanos(ticks);
            let error = back.abs_diff(millis * 1_000_000);
            // The calibrated scale is exact to well under 0.1 %.
            assert!(
                error <= millis * 1_000,
                "{millis} ms -> {ticks} ticks -> {back} ns"
            );
        }
    }

    #[test]
    fn default_clock_is_monotonic_on_one_thread() {
        let clock = DefaultClock::new();
        let mut last = clock.now();
        for _ in 0..10_000 {
            let now = clock.now();
            assert!(now >= last);
            last = now;
        }
    }

    #[test]
    fn mock_clock_is_shared_between_clones() {
        let clock = MockClock::new();
        let other = clock.clone();
        clock.advance(Duration::from_nanos(7));
        assert_eq!(other.now(), 7);
        other.set(100);
        assert_eq!(clock.now(), 100);
    }
}
