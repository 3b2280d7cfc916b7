//! Restart delays: exponential backoff capped at a maximum, with optional (seedable) full jitter.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Whether restart delays are randomized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Jitter {
    /// Every delay is exactly `min·factor^n`, capped at `max`.
    #[default]
    None,
    /// "Full jitter": every delay is drawn uniformly from `0..=min·factor^n` (capped at
    /// `max`), so services that crashed together do not restart in lock step.
    Full,
}

/// How long the supervisor waits before restarting a service: `min·factor^n` capped at
/// `max`, where `n` counts the restarts since the sequence last started (or was reset).
///
/// The computation is our own (about twenty lines, see `delay`): the crates we looked at
/// either are unmaintained (`backoff`) or grow the delay in ways that surprise
/// (`tokio-retry`'s `ExponentialBackoff` multiplies the base by itself). Delays are computed
/// in whole nanoseconds, so with [`Jitter::None`] and an integer factor they are exact.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use vigil_supervisor::Backoff;
///
/// let backoff = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(1));
/// let delays: Vec<_> = (0..6).map(|n| backoff.delay(n).as_millis()).collect();
/// assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    factor: f64,
    jitter: Jitter,
    pub(crate) reset_after: Option<Duration>,
    seed: Option<u64>,
}

impl Backoff {
    /// Delays `min, min·2, min·4, …`, capped at `max` (raised to `min` if smaller); no jitter,
    /// never reset (see [`reset_after`](Self::reset_after)).
    pub fn exponential(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            factor: 2.0,
            jitter: Jitter::None,
            reset_after: None,
            seed: None,
        }
    }

    /// No delay at all: a service is restarted as soon as its ending is observed.
    pub fn none() -> Self {
        Self::exponential(Duration::ZERO, Duration::ZERO)
    }

    /// Multiplies the delay by `factor` after every restart (default 2.0).
    ///
    /// # Panics
    ///
    /// If `factor` is not a finite number of at least 1.0.
    pub fn factor(mut self, factor: f64) -> Self {
        assert!(
            factor.is_finite() && factor >= 1.0,
            "backoff factor must be finite and at least 1.0, got {factor}"
        );
        self.factor = factor;
        self
    }

    /// Randomizes delays (default [`Jitter::None`]).
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Starts the sequence over (next delay `min`) when an incarnation has run at least
    /// `period` before it ended.
    pub fn reset_after(mut self, period: Duration) -> Self {
        self.reset_after = Some(period);
        self
    }

    /// Seeds the jitter's random numbers, so a run is reproducible (tests). Without a seed,
    /// every service draws its own from the process's random hash keys.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The delay before restart number `n + 1` (0 is the first restart), without jitter.
    pub fn delay(&self, n: u32) -> Duration {
        let max_ns = self.max.as_nanos() as f64;
        // `powi` takes an i32; past 2^31 restarts the cap has long been reached.
        let exponent = i32::try_from(n).unwrap_or(i32::MAX);
        let scaled_ns = self.min.as_nanos() as f64 * self.factor.powi(exponent);
        // Infinity (and NaN, from 0 · inf) is not below the cap either.
        if scaled_ns.partial_cmp(&max_ns) != Some(std::cmp::Ordering::Less) {
            return self.max;
        }
        // Below `max_ns` (a `Duration` of at most ~584 years in nanoseconds fits in u64 for
        // any `max` one would configure); the cast saturates otherwise.
        Duration::from_nanos(scaled_ns.round() as u64).min(self.max)
    }
}

impl Default for Backoff {
    /// 100 ms doubling to at most 10 s, no jitter, reset after an incarnation ran 60 s.
    fn default() -> Self {
        Self::exponential(Duration::from_millis(100), Duration::from_secs(10))
            .reset_after(Duration::from_secs(60))
    }
}

/// One service's position in its backoff sequence, and its jitter generator.
#[derive(Debug, Clone)]
pub(crate) struct BackoffState {
    attempt: u32,
    random: SplitMix64,
}

impl BackoffState {
    pub(crate) fn new(backoff: &Backoff) -> Self {
        let seed = backoff.seed.unwrap_or_else(|| {
            let mut hasher = RandomState::new().build_hasher();
            hasher.write_u64(0);
            hasher.finish()
        });
        Self {
            attempt: 0,
            random: SplitMix64(seed),
        }
    }

    /// The delay before the next restart; advances the sequence.
    pub(crate) fn next_delay(&mut self, backoff: &Backoff) -> Duration {
        let delay = backoff.delay(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        match backoff.jitter {
            Jitter::None => delay,
            Jitter::Full => {
                let bound = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
                // Uniform in 0..=bound by multiply-shift (no modulo bias worth the name).
                let draw = (u128::from(self.random.next()) * (u128::from(bound) + 1)) >> 64;
                Duration::from_nanos(draw as u64)
            }
        }
    }

    /// Starts the sequence over.
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Steele, Lea and Flood's SplitMix64: tiny, fast, and good enough for jitter.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn exponential_doubles_up_to_the_cap() {
        let backoff = Backoff::exponential(10 * MS, 100 * MS);
        let delays: Vec<_> = (0..6).map(|n| backoff.delay(n)).collect();
        assert_eq!(
            delays,
            [10 * MS, 20 * MS, 40 * MS, 80 * MS, 100 * MS, 100 * MS]
        );
        assert_eq!(backoff.delay(u32::MAX), 100 * MS);
    }

    #[test]
    fn factor_and_none() {
        let backoff = Backoff::exponential(MS, Duration::from_secs(1)).factor(3.0);
        assert_eq!(backoff.delay(3), 27 * MS);
        assert_eq!(Backoff::none().delay(0), Duration::ZERO);
        assert_eq!(Backoff::none().delay(u32::MAX), Duration::ZERO);
    }

    #[test]
    fn max_below_min_is_raised() {
        assert_eq!(Backoff::exponential(5 * MS, MS).delay(0), 5 * MS);
    }

    #[test]
    #[should_panic(expected = "at least 1.0")]
    fn factor_below_one_panics() {
        let _ = Backoff::none().factor(0.5);
    }

    #[test]
    fn state_walks_the_sequence_and_resets() {
        let backoff = Backoff::exponential(MS, 4 * MS);
        let mut state = BackoffState::new(&backoff);
        let first: Vec<_> = (0..4).map(|_| state.next_delay(&backoff)).collect();
        assert_eq!(first, [MS, 2 * MS, 4 * MS, 4 * MS]);
        state.reset();
        assert_eq!(state.next_delay(&backoff), MS);
    }

    #[test]
    fn full_jitter_is_bounded_and_reproducible() {
        let backoff = Backoff::exponential(MS, 64 * MS)
            .jitter(Jitter::Full)
            .seed(7);
        let mut a = BackoffState::new(&backoff);
        let mut b = BackoffState::new(&backoff);
        for n in 0..50 {
            let delay = a.next_delay(&backoff);
            assert!(
                delay <= backoff.delay(n),
                "{delay:?} > {:?}",
                backoff.delay(n)
            );
            assert_eq!(delay, b.next_delay(&backoff));
        }
    }
}
