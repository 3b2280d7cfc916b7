//! What a running incarnation knows about itself: its id, its restart count, the shutdown.

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use vigil_registry::ServiceId;

/// Handed to a service's factory for every incarnation.
///
/// # Examples
///
/// ```
/// use vigil_supervisor::{ChildSpec, Context};
///
/// let spec = ChildSpec::new("ticker", |ctx: Context| async move {
///     // Ends (`Completed`) as soon as the supervisor asks it to stop.
///     ctx.shutdown_requested().await;
/// });
/// # let _ = spec;
/// ```
#[derive(Debug, Clone)]
pub struct Context {
    id: ServiceId,
    restarts: u32,
    token: CancellationToken,
}

impl Context {
    pub(crate) fn new(id: ServiceId, restarts: u32, token: CancellationToken) -> Self {
        Self {
            id,
            restarts,
            token,
        }
    }

    /// This incarnation's id in the registry (`name#instance`): a fresh one per restart.
    pub fn id(&self) -> ServiceId {
        self.id
    }

    /// How many times this service was restarted before this incarnation (0 the first time).
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Resolves once the supervisor asks this service to stop (its stage of a graceful
    /// shutdown has begun); at once if it already has.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future loses nothing, a new one resolves just the same.
    pub fn shutdown_requested(&self) -> WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }

    /// `true` once the supervisor has asked this service to stop.
    pub fn is_shutdown_requested(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The token the supervisor cancels to ask this service to stop; hand child tokens to
    /// the service's own tasks.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }
}
