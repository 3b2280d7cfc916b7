//! The `tracing` feature: a `service` span per incarnation, and events; nothing without it.

#[cfg(feature = "tracing")]
use tracing::Instrument;
use vigil_registry::{ServiceFuture, ServiceId};

/// Logs an event at `$level` (`info`, `warn`, `error`) with the `tracing` feature; expands to
/// nothing without it (its arguments are then not evaluated).
macro_rules! event {
    ($level:ident, $($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        {
            tracing::$level!($($arg)*);
        }
    };
}
pub(crate) use event;

/// The span current where a spec was started: each incarnation's span follows from it.
#[derive(Debug, Clone)]
pub(crate) struct Starter {
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

impl Starter {
    /// The caller's current span.
    pub(crate) fn current() -> Self {
        Self {
            #[cfg(feature = "tracing")]
            span: tracing::Span::current(),
        }
    }

    /// Runs `future` in a new `service` span with `name` and `instance` fields, created with no
    /// parent (the starter's span must not stay open for the service's life) and
    /// `follows_from` the starter's span.
    pub(crate) fn instrument(&self, id: ServiceId, future: ServiceFuture) -> ServiceFuture {
        #[cfg(feature = "tracing")]
        {
            let span = tracing::info_span!(
                parent: None,
                "service",
                name = id.name(),
                instance = id.instance_id()
            );
            span.follows_from(&self.span);
            Box::pin(future.instrument(span))
        }
        #[cfg(not(feature = "tracing"))]
        {
            let _ = id;
            future
        }
    }
}
