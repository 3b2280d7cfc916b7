//! `/snapshot.json`: the registry's snapshot document, with the supervisor's section.

use serde::Serialize;

use crate::ServicesMetrics;

/// The document `/snapshot.json` serves: the snapshot's own serde form (schema version
/// [`SCHEMA_VERSION`](crate::registry::SCHEMA_VERSION)) with a `supervisor` member added.
#[derive(Serialize)]
pub(super) struct Document<'a> {
    #[serde(flatten)]
    pub(super) snapshot: &'a ServicesMetrics,
    /// `null` unless the endpoint was given a supervisor.
    pub(super) supervisor: Option<()>,
}

/// The JSON text of `document`.
pub(super) fn to_json(document: &Document<'_>) -> serde_json::Result<String> {
    serde_json::to_string(document)
}
