//! The two error types: [`ServiceError`] (with the panic payload) and [`ServiceStatusError`] (kind only).

use std::any::Any;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use crate::completion::Payload;

/// Why a service did not end normally, as seen by its owned [`ServiceJoinHandle`].
///
/// Unlike [`ServiceStatusError`] this carries the panic payload, so there is
/// exactly one per service ending and it is handed to the owned handle only.
///
/// `ServiceError` is `Send + Sync`, so it can be boxed into
/// `Box<dyn Error + Send + Sync>` like [`tokio::task::JoinError`].
///
/// [`ServiceJoinHandle`]: crate::ServiceJoinHandle
pub struct ServiceError {
    repr: Repr,
}

enum Repr {
    /// The payload sits behind a `Mutex` only to make the error `Sync`
    /// without `unsafe`: `Box<dyn Any + Send>` is not `Sync`, and a `Mutex`
    /// of a `Send` value is. It is locked only to format the message.
    Panicked(Mutex<Payload>),
    Cancelled,
}

impl ServiceError {
    pub(crate) fn panicked(payload: Payload) -> Self {
        Self {
            repr: Repr::Panicked(Mutex::new(payload)),
        }
    }

    pub(crate) fn cancelled() -> Self {
        Self {
            repr: Repr::Cancelled,
        }
    }

    /// Returns `true` if the service panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panicked(_))
    }

    /// Returns `true` if the service was cancelled (aborted, or dropped by a
    /// runtime shutdown) before it finished.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The kind of ending, without the payload; the same value every
    /// [`ServiceStatusJoinHandle`](crate::ServiceStatusJoinHandle) of this
    /// service reports.
    pub fn status(&self) -> ServiceStatusError {
        ServiceStatusError {
            kind: match self.repr {
                Repr::Panicked(_) => Kind::Panicked,
                Repr::Cancelled => Kind::Cancelled,
            },
        }
    }

    /// Consumes the error, returning the panic payload if the service panicked
    /// and `None` if it was cancelled.
    ///
    /// The payload is the value the service passed to `panic!` (a
    /// `&'static str` or a `String` for the formatting forms) or to
    /// [`std::panic::panic_any`]; downcast it, or pass it to
    /// [`std::panic::resume_unwind`] to continue the panic in the caller.
    pub fn into_panic(self) -> Option<Box<dyn Any + Send + 'static>> {
        self.try_into_panic().ok()
    }

    /// Consumes the error, returning the panic payload if the service
    /// panicked, and the error itself otherwise.
    ///
    /// # Errors
    ///
    /// Returns `Err(self)` if the service was cancelled rather than panicked.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, ServiceError> {
        match self.repr {
            Repr::Panicked(payload) => {
                Ok(payload.into_inner().unwrap_or_else(PoisonError::into_inner))
            }
            Repr::Cancelled => Err(self),
        }
    }
}

/// The message of a panic payload, when it is one of the two types `panic!`
/// produces.
fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

impl fmt::Debug for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Panicked(payload) => {
                let payload = payload.lock().unwrap_or_else(PoisonError::into_inner);
                match panic_message(&**payload) {
                    Some(msg) => f.debug_tuple("ServiceError::Panicked").field(&msg).finish(),
                    None => f.write_str("ServiceError::Panicked(..)"),
                }
            }
            Repr::Cancelled => f.write_str("ServiceError::Cancelled"),
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Panicked(payload) => {
                let payload = payload.lock().unwrap_or_else(PoisonError::into_inner);
                match panic_message(&**payload) {
                    Some(msg) => write!(f, "service panicked: {msg}"),
                    None => f.write_str("service panicked"),
                }
            }
            Repr::Cancelled => f.write_str("service was cancelled"),
        }
    }
}

impl std::error::Error for ServiceError {}

/// Why a service did not end normally, as seen by a
/// [`ServiceStatusJoinHandle`](crate::ServiceStatusJoinHandle): the kind of
/// ending only, never the panic payload (that goes to the owned
/// [`ServiceJoinHandle`](crate::ServiceJoinHandle)).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServiceStatusError {
    kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Panicked,
    Cancelled,
}

impl ServiceStatusError {
    pub(crate) const PANICKED: Self = Self {
        kind: Kind::Panicked,
    };

    pub(crate) const CANCELLED: Self = Self {
        kind: Kind::Cancelled,
    };

    /// Returns `true` if the service panicked.
    pub fn is_panic(&self) -> bool {
        self.kind == Kind::Panicked
    }

    /// Returns `true` if the service was cancelled (aborted, or dropped by a
    /// runtime shutdown) before it finished.
    pub fn is_cancelled(&self) -> bool {
        self.kind == Kind::Cancelled
    }
}

impl fmt::Debug for ServiceStatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Panicked => f.write_str("ServiceStatusError::Panicked"),
            Kind::Cancelled => f.write_str("ServiceStatusError::Cancelled"),
        }
    }
}

impl fmt::Display for ServiceStatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Panicked => f.write_str("service panicked"),
            Kind::Cancelled => f.write_str("service was cancelled"),
        }
    }
}

impl std::error::Error for ServiceStatusError {}

impl From<&ServiceError> for ServiceStatusError {
    fn from(err: &ServiceError) -> Self {
        err.status()
    }
}

impl From<ServiceError> for ServiceStatusError {
    /// Keeps the kind of ending and drops the panic payload.
    fn from(err: ServiceError) -> Self {
        err.status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_uses_str_and_string_payloads() {
        let err = ServiceError::panicked(Box::new("boom"));
        assert_eq!(err.to_string(), "service panicked: boom");
        assert_eq!(format!("{err:?}"), r#"ServiceError::Panicked("boom")"#);

        let err = ServiceError::panicked(Box::new(String::from("bang 7")));
        assert_eq!(err.to_string(), "service panicked: bang 7");
    }

    #[test]
    fn display_without_a_string_payload() {
        let err = ServiceError::panicked(Box::new(42_u32));
        assert_eq!(err.to_string(), "service panicked");
        assert_eq!(format!("{err:?}"), "ServiceError::Panicked(..)");
        assert_eq!(*err.into_panic().unwrap().downcast::<u32>().unwrap(), 42);
    }

    #[test]
    fn cancelled_has_no_payload() {
        let err = ServiceError::cancelled();
        assert!(err.is_cancelled() && !err.is_panic());
        assert_eq!(err.to_string(), "service was cancelled");
        let err = err.try_into_panic().unwrap_err();
        assert!(err.is_cancelled());
        assert!(err.into_panic().is_none());
    }

    #[test]
    fn status_error_matches_the_owned_error() {
        let panicked = ServiceError::panicked(Box::new("x"));
        assert_eq!(panicked.status(), ServiceStatusError::PANICKED);
        assert_eq!(
            ServiceStatusError::from(&panicked),
            ServiceStatusError::PANICKED
        );
        assert_eq!(
            ServiceStatusError::from(ServiceError::cancelled()),
            ServiceStatusError::CANCELLED
        );
        assert!(ServiceStatusError::PANICKED.is_panic());
        assert!(!ServiceStatusError::PANICKED.is_cancelled());
        assert!(ServiceStatusError::CANCELLED.is_cancelled());
        assert_eq!(ServiceStatusError::PANICKED.to_string(), "service panicked");
        assert_eq!(
            ServiceStatusError::CANCELLED.to_string(),
            "service was cancelled"
        );
    }
}
