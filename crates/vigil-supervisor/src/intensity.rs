//! Restart intensity: OTP's sliding window of recent restarts.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// The restarts of one service within the last `period`; allows at most `max` of them.
///
/// As in OTP, `max = 3` allows the first run and three restarts within any `period`; the
/// fourth restart within the period is refused (the service gives up). A restart is counted
/// when the supervisor decides it (at the ending), not when the backoff delay has passed, so a
/// crash loop gives up without waiting out a delay it will not use.
#[derive(Debug, Clone)]
pub(crate) struct IntensityWindow {
    max: u32,
    period: Duration,
    /// Times of the restarts still inside the window, oldest first; at most `max` entries.
    restarts: VecDeque<Instant>,
}

impl IntensityWindow {
    pub(crate) fn new(max: u32, period: Duration) -> Self {
        Self {
            max,
            period,
            restarts: VecDeque::new(),
        }
    }

    /// Records a restart at `now` and returns `true`, or returns `false` if it would be more
    /// than `max` within the period ending at `now`.
    pub(crate) fn try_restart(&mut self, now: Instant) -> bool {
        while let Some(&oldest) = self.restarts.front() {
            if now.saturating_duration_since(oldest) >= self.period {
                self.restarts.pop_front();
            } else {
                break;
            }
        }
        if self.restarts.len() >= self.max as usize {
            return false;
        }
        self.restarts.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_max_restarts_per_period() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        let mut window = IntensityWindow::new(2, 10 * second);
        assert!(window.try_restart(start));
        assert!(window.try_restart(start + second));
        assert!(!window.try_restart(start + 2 * second));
        // The first restart leaves the window 10 s after it happened.
        assert!(window.try_restart(start + 10 * second));
        assert!(!window.try_restart(start + 10 * second));
    }

    #[test]
    fn zero_allows_no_restart() {
        let mut window = IntensityWindow::new(0, Duration::from_secs(1));
        assert!(!window.try_restart(Instant::now()));
    }
}
