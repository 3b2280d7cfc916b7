//! What the registry starts: a named, boxed service future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::id::TaskId;

/// The boxed future of a service.
pub type ServiceFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A named, boxed `Send + 'static` future of `()`: a service ready to be started.
pub struct ServiceObj {
    task: TaskId,
    future: ServiceFuture,
}

impl ServiceObj {
    /// A service named `name` running `future`; records the caller's source location.
    #[track_caller]
    pub fn new<F>(name: &'static str, future: F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        Self::with_task_id(TaskId::here(name), future)
    }

    /// A service with an explicit [`TaskId`].
    pub fn with_task_id<F>(task: TaskId, future: F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        Self {
            task,
            future: Box::pin(future),
        }
    }

    /// The service's identity.
    pub fn task_id(&self) -> TaskId {
        self.task
    }

    /// The service's name.
    pub fn name(&self) -> &'static str {
        self.task.name()
    }

    /// Splits into the task id and the future.
    pub fn into_parts(self) -> (TaskId, ServiceFuture) {
        (self.task, self.future)
    }
}

impl fmt::Debug for ServiceObj {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceObj")
            .field("task", &self.task)
            .finish_non_exhaustive()
    }
}

/// A long-running service, as a type.
///
/// # Examples
///
/// ```
/// use vigil_registry::{Service, ServiceObj};
///
/// struct Flusher {
///     batches: u32,
/// }
///
/// impl Service for Flusher {
///     async fn run(self) {
///         for _ in 0..self.batches {
///             // flush a batch
///         }
///     }
/// }
///
/// let service = ServiceObj::from(Flusher { batches: 3 });
/// assert_eq!(service.name(), "Flusher");
/// ```
pub trait Service: Send + Sized + 'static {
    /// The name instances are grouped under: by default the type's name without its module
    /// path.
    fn name() -> &'static str {
        short_type_name(std::any::type_name::<Self>())
    }

    /// Runs the service to completion.
    fn run(self) -> impl Future<Output = ()> + Send + 'static;
}

impl<S: Service> From<S> for ServiceObj {
    #[track_caller]
    fn from(service: S) -> Self {
        Self::with_task_id(TaskId::here(S::name()), service.run())
    }
}

/// `a::b::Foo<c::Bar>` -> `Foo<c::Bar>`: drops the module path of the outer type only.
fn short_type_name(full: &'static str) -> &'static str {
    let generics = full.find('<').unwrap_or(full.len());
    let start = full[..generics].rfind("::").map_or(0, |colons| colons + 2);
    &full[start..]
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    #[test]
    fn short_type_name_drops_the_outer_module_path() {
        assert_eq!(short_type_name("Foo"), "Foo");
        assert_eq!(short_type_name("a::b::Foo"), "Foo");
        assert_eq!(short_type_name("a::Foo<b::Bar>"), "Foo<b::Bar>");
    }
}
