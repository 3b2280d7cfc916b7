//! Service names read from a document: each distinct name is leaked once, then reused.
//!
//! [`ServiceId`](crate::ServiceId) and [`ServiceGroupMetrics`](crate::ServiceGroupMetrics)
//! hold their name as a `&'static str` (names are string literals in programs, and copying
//! ids must stay free). A deserialized name has no `'static` home, so it is leaked, once per
//! distinct name for the life of the process: deserializing the same document (or any
//! number of documents of the same services) again allocates nothing more.
//!
//! # Memory
//!
//! Bounded by the distinct names ever deserialized: the sum of their lengths plus a set
//! entry each. A reader that polls one process's snapshots holds that process's names once.
//! A reader fed documents with ever-new names (an attacker, or ids used as names) grows
//! without bound: do not deserialize untrusted documents in a long-lived process.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use serde::de::{self, Deserializer, Visitor};

/// Every name leaked so far.
static NAMES: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

/// The `'static` copy of `name`: the one leaked earlier, or a new one leaked now.
pub(crate) fn intern(name: &str) -> &'static str {
    // A poisoned lock is recovered: the set is only inserted into, so it is consistent.
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(&interned) = names.get(name) {
        return interned;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

/// Deserializes a string as an interned `&'static str` (for `#[serde(deserialize_with)]`).
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<&'static str, D::Error> {
    deserializer.deserialize_str(InternVisitor)
}

/// Interns the string it is given, borrowed or owned: a name already seen costs no
/// allocation.
struct InternVisitor;

impl Visitor<'_> for InternVisitor {
    type Value = &'static str;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a service name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(intern(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_leaked_once() {
        let first = intern(&String::from("interned-once"));
        let second = intern(&String::from("interned-once"));
        assert!(std::ptr::eq(first, second));
        assert_eq!(first, "interned-once");
        assert!(!std::ptr::eq(first, intern("interned-other")));
    }
}
