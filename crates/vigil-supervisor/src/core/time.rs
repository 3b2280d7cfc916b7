//! Deadlines on tokio's clock that saturate instead of overflowing, and the task's idle timer.

use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// `now + duration`, or a time too far away to matter if that overflows.
pub(super) fn later(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration).unwrap_or_else(|| far_future(now))
}

/// The supervisor's one timer, unarmed. Must be called inside the supervisor's runtime;
/// panics (with tokio's message) if its time driver is not enabled.
pub(crate) fn idle_timer() -> Sleep {
    tokio::time::sleep_until(far_future(Instant::now()))
}

/// About thirty years from `now`: "never" for a timer.
fn far_future(now: Instant) -> Instant {
    now + Duration::from_secs(30 * 365 * 24 * 60 * 60)
}
