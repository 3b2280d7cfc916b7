//! Service identities: the name of a service and one started instance of it.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::panic::Location;

/// The identity of a service: its name, and optionally where in the source it was defined.
///
/// Equality, ordering and hashing use the name only: the registry groups instances by name,
/// and the location is descriptive.
#[derive(Debug, Clone, Copy)]
pub struct TaskId {
    name: &'static str,
    location: Option<&'static Location<'static>>,
}

impl TaskId {
    /// A task id with a name and no location.
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            location: None,
        }
    }

    /// A task id with a name and the caller's source location.
    #[track_caller]
    pub fn here(name: &'static str) -> Self {
        Self::with_location(name, Location::caller())
    }

    /// A task id with a name and an explicit source location.
    pub const fn with_location(name: &'static str, location: &'static Location<'static>) -> Self {
        Self {
            name,
            location: Some(location),
        }
    }

    /// The service's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Where the service was defined, if known.
    pub const fn location(&self) -> Option<&'static Location<'static>> {
        self.location
    }
}

impl PartialEq for TaskId {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for TaskId {}

impl PartialOrd for TaskId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TaskId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.name.cmp(other.name)
    }
}

impl Hash for TaskId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// A service name, `&'static str`. Fields that serde derives spell it this way because the
/// derive borrows every field written `&str` from its input (so `'de: 'static`), while these
/// names are interned on input instead (`crate::intern`). Rustdoc shows the plain type.
pub(crate) type StaticName = &'static str;

/// The number of one started instance of a service, unique within its name.
///
/// A `u64`: instance ids start at 0 for each name, increase by one per start, and are never
/// reused for the life of a [`Registry`](crate::Registry). Starting 2^64 instances of one
/// name is not possible in practice (585 years at one start per nanosecond), but it is
/// defined: the start after `u64::MAX` fails with
/// [`StartError::InstanceIdsExhausted`](crate::StartError::InstanceIdsExhausted) instead of
/// wrapping around to a duplicate.
pub type InstanceId = u64;

/// One started instance of a service: its [`TaskId`] and its [`InstanceId`].
///
/// Displays as `name#instance`, e.g. `flusher#3`. Ordered by name, then instance id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId {
    task: TaskId,
    instance_id: InstanceId,
}

impl ServiceId {
    /// An id for instance `instance_id` of `task`.
    pub const fn new(task: TaskId, instance_id: InstanceId) -> Self {
        Self { task, instance_id }
    }

    /// The service's name.
    pub const fn name(&self) -> &'static str {
        self.task.name()
    }

    /// The instance number within the name.
    pub const fn instance_id(&self) -> InstanceId {
        self.instance_id
    }

    /// The service's task id.
    pub const fn task(&self) -> TaskId {
        self.task
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.task.name, self.instance_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_name_hash_instance() {
        assert_eq!(
            ServiceId::new(TaskId::new("flusher"), 3).to_string(),
            "flusher#3"
        );
    }

    #[test]
    fn order_is_name_then_instance() {
        let a0 = ServiceId::new(TaskId::new("a"), 0);
        let a10 = ServiceId::new(TaskId::new("a"), 10);
        let b1 = ServiceId::new(TaskId::new("b"), 1);
        let mut ids = vec![b1, a10, a0];
        ids.sort();
        assert_eq!(ids, vec![a0, a10, b1]);
    }

    #[test]
    fn location_does_not_change_identity() {
        let here = TaskId::here("svc");
        assert!(here.location().is_some());
        assert_eq!(here, TaskId::new("svc"));
    }
}
