//! The `/snapshot.json` document (schema version 1) as vigil-top reads it.
//!
//! These are vigil-top's own types: it never links the monitored process's crates, only
//! the JSON contract. Unknown fields are ignored (serde's default), absent optional fields
//! read as `None`, and a document whose `schema_version` this reader does not know is
//! refused before anything else is read from it.

use std::fmt;

use serde::Deserialize;

/// The only `schema_version` this reader understands.
pub(crate) const SCHEMA_VERSION: u64 = 1;

/// One snapshot of a process's services, as served at `GET /snapshot.json`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Document {
    /// When the snapshot was taken, on the process's monotonic clock (nanoseconds).
    pub(crate) taken_at_ns: u64,
    /// `[lower, upper)` of each poll-histogram bucket; the last upper bound is `None` (infinity).
    #[serde(default)]
    pub(crate) histogram_bounds_ns: Vec<(u64, Option<u64>)>,
    /// One entry per service name (names whose instances all ended stay, with 0 instances).
    #[serde(default)]
    pub(crate) groups: Vec<Group>,
    /// One entry per live instance.
    #[serde(default)]
    pub(crate) instances: Vec<Instance>,
    /// Present when the endpoint was given a supervisor.
    #[serde(default)]
    pub(crate) supervisor: Option<SupervisorSection>,
    /// Set when the endpoint listed fewer instances than are live (its instance limit):
    /// `groups` stay complete, `instances` are the oldest of each name.
    #[serde(default)]
    pub(crate) truncated: Option<Truncated>,
}

/// What a truncated document left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) struct Truncated {
    /// The endpoint's limit on listed instances.
    pub(crate) instance_limit: u64,
    /// Live instances not listed.
    pub(crate) instances_left_out: u64,
}

/// The per-name figures (lifetime counters include ended instances).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Group {
    pub(crate) name: String,
    /// Live instances now.
    pub(crate) instances: u64,
    #[serde(default)]
    pub(crate) restarts: u64,
    #[serde(default)]
    pub(crate) endings: Endings,
    pub(crate) poll_count: u64,
    pub(crate) total_busy_ns: u64,
    #[serde(default)]
    pub(crate) mean_utilization: f64,
    #[serde(default)]
    pub(crate) max_utilization: u8,
    #[serde(default)]
    pub(crate) longest_in_poll_ns: Option<u64>,
    #[serde(default)]
    pub(crate) slow_polls: Option<SlowPolls>,
    #[serde(default)]
    pub(crate) poll_histogram: Option<PollHistogram>,
}

/// Lifetime endings of a name, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct Endings {
    #[serde(default)]
    pub(crate) completed: u64,
    #[serde(default)]
    pub(crate) failed: u64,
    #[serde(default)]
    pub(crate) panicked: u64,
    #[serde(default)]
    pub(crate) cancelled: u64,
}

impl Endings {
    /// All endings, whatever the outcome.
    pub(crate) fn total(&self) -> u64 {
        self.completed
            .saturating_add(self.failed)
            .saturating_add(self.panicked)
            .saturating_add(self.cancelled)
    }
}

/// One live instance of a service.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Instance {
    pub(crate) name: String,
    pub(crate) instance_id: u64,
    pub(crate) poll_count: u64,
    pub(crate) total_busy_ns: u64,
    #[serde(default)]
    pub(crate) utilization: u8,
    /// How long the poll in flight has run, if the instance is inside one.
    #[serde(default)]
    pub(crate) current_poll_ns: Option<u64>,
    #[serde(default)]
    pub(crate) age_ns: Option<u64>,
}

/// The slow-poll monitor's figures (present when that monitor is attached).
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct SlowPolls {
    pub(crate) slow_poll_count: u64,
    #[serde(default)]
    pub(crate) threshold_ns: u64,
}

/// The poll-duration histogram (present when that monitor is attached).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PollHistogram {
    /// Counts per bucket, in the order of `Document::histogram_bounds_ns`.
    pub(crate) buckets: Vec<u64>,
    #[serde(default)]
    pub(crate) max_ns: u64,
}

/// What the supervisor adds: each spec's state and the latest endings.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct SupervisorSection {
    #[serde(default)]
    pub(crate) services: Vec<SupervisedService>,
    /// Oldest first; `seq` increases by one per ending ever.
    #[serde(default)]
    pub(crate) recent_endings: Vec<RecentEnding>,
}

/// One started spec's state.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SupervisedService {
    pub(crate) name: String,
    /// `running`, `backing_off`, `stopping`, `stopped` or `gave_up` (others are shown as is).
    pub(crate) state: String,
    #[serde(default)]
    pub(crate) retry_in_ns: Option<u64>,
}

/// One incarnation's ending, as the supervisor saw it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RecentEnding {
    pub(crate) seq: u64,
    pub(crate) name: String,
    pub(crate) instance_id: u64,
    /// `completed`, `failed`, `panicked`, `cancelled`, `aborted` or `abandoned`.
    pub(crate) exit: String,
    #[serde(default)]
    pub(crate) message: Option<String>,
    #[serde(default)]
    pub(crate) in_poll_ns: Option<u64>,
}

/// Why a response body is not a document this reader can show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// Not JSON, or JSON not shaped like the schema.
    Malformed(String),
    /// A `schema_version` other than [`SCHEMA_VERSION`] (or none at all).
    UnsupportedVersion(Option<u64>),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(reason) => write!(f, "malformed snapshot document: {reason}"),
            Self::UnsupportedVersion(Some(version)) => write!(
                f,
                "unsupported schema_version {version} (this vigil-top reads {SCHEMA_VERSION}; \
                 upgrade vigil-top)"
            ),
            Self::UnsupportedVersion(None) => write!(
                f,
                "not a vigil snapshot document: no numeric schema_version \
                 (this vigil-top reads {SCHEMA_VERSION})"
            ),
        }
    }
}

/// Only the version, read first so a newer document is refused by its version rather
/// than by whichever field happened to change shape.
#[derive(Deserialize)]
struct VersionProbe {
    #[serde(default)]
    schema_version: Option<serde_json::Value>,
}

/// Reads a document, refusing unknown versions; never panics on any input.
pub(crate) fn parse(body: &[u8]) -> Result<Document, ParseError> {
    let probe: VersionProbe =
        serde_json::from_slice(body).map_err(|error| ParseError::Malformed(error.to_string()))?;
    match probe
        .schema_version
        .as_ref()
        .and_then(serde_json::Value::as_u64)
    {
        Some(SCHEMA_VERSION) => {}
        other => return Err(ParseError::UnsupportedVersion(other)),
    }
    serde_json::from_slice(body).map_err(|error| ParseError::Malformed(error.to_string()))
}

/// A sample document with two names, a stuck instance, a histogram and a supervisor
/// section, for tests across the crate.
#[cfg(test)]
pub(crate) const SAMPLE: &str = r#"{
  "schema_version": 1,
  "taken_at_ns": 5000000000,
  "a_future_field": {"nested": [1, 2, 3]},
  "histogram_bounds_ns": [[0,1000],[1000,10000],[10000,100000],[100000,null]],
  "groups": [
    {"name": "consumer", "instances": 2, "starts": 7, "restarts": 5,
     "endings": {"completed": 0, "failed": 1, "panicked": 4, "cancelled": 0},
     "poll_count": 1000, "total_busy_ns": 1000000000, "mean_utilization": 12.5,
     "max_utilization": 30, "in_poll": 0, "longest_in_poll_ns": null,
     "slow_polls": {"slow_poll_count": 3, "total_slow_poll_ns": 1, "fast_poll_count": 2,
                    "total_fast_poll_ns": 1, "threshold_ns": 1000000},
     "poll_histogram": {"buckets": [10, 80, 9, 1], "max_ns": 300000}},
    {"name": "stuck", "instances": 1, "starts": 1, "restarts": 0,
     "endings": {"completed": 0, "failed": 0, "panicked": 0, "cancelled": 0},
     "poll_count": 3, "total_busy_ns": 2500000000, "mean_utilization": 100.0,
     "max_utilization": 100, "in_poll": 1, "longest_in_poll_ns": 2500000000,
     "slow_polls": null, "poll_histogram": null}
  ],
  "instances": [
    {"name": "consumer", "instance_id": 6, "poll_count": 120, "total_busy_ns": 5000000,
     "utilization": 5, "current_poll_ns": null, "age_ns": 3000000000,
     "slow_polls": null, "poll_histogram": null, "scheduling": null},
    {"name": "consumer", "instance_id": 7, "poll_count": 20, "total_busy_ns": 500000,
     "utilization": 30, "current_poll_ns": null, "age_ns": 1000000000},
    {"name": "stuck", "instance_id": 0, "poll_count": 3, "total_busy_ns": 2500000000,
     "utilization": 100, "current_poll_ns": 2500000000, "age_ns": 4000000000}
  ],
  "supervisor": {
    "services": [{"name": "consumer", "state": "backing_off", "restarts": 3, "retry_in_ns": 400000000},
                 {"name": "stuck", "state": "running", "restarts": null, "retry_in_ns": null}],
    "recent_endings": [{"seq": 17, "name": "consumer", "instance_id": 5, "exit": "panicked",
                        "message": "boom", "in_poll_ns": null}]
  }
}"#;

/// A well-formed document whose every figure is at its type's extreme, for tests that
/// nothing overflows or panics.
#[cfg(test)]
pub(crate) fn extreme_document() -> String {
    let max = u64::MAX;
    format!(
        r#"{{"schema_version":1,"taken_at_ns":{max},
           "histogram_bounds_ns":[[0,1],[1,null]],
           "groups":[{{"name":"a","instances":{max},"restarts":{max},
              "endings":{{"completed":{max},"failed":{max},"panicked":{max},"cancelled":{max}}},
              "poll_count":{max},"total_busy_ns":{max},"mean_utilization":1e308,
              "max_utilization":255,"longest_in_poll_ns":{max},
              "slow_polls":{{"slow_poll_count":{max},"threshold_ns":{max}}},
              "poll_histogram":{{"buckets":[{max},{max},{max}],"max_ns":{max}}}}},
             {{"name":"b","instances":0,"poll_count":{max},"total_busy_ns":{max}}}],
           "instances":[{{"name":"a","instance_id":{max},"poll_count":{max},
              "total_busy_ns":{max},"utilization":255,"current_poll_ns":{max},"age_ns":{max}}}],
           "supervisor":{{"services":[{{"name":"a","state":"exploded","retry_in_ns":{max}}}],
              "recent_endings":[{{"seq":{max},"name":"a","instance_id":{max},"exit":"??",
                 "message":"","in_poll_ns":{max}}}]}}}}"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_sample_document_and_ignores_unknown_fields() {
        let document = parse(SAMPLE.as_bytes()).expect("the sample parses");
        assert_eq!(document.taken_at_ns, 5_000_000_000);
        assert_eq!(document.histogram_bounds_ns.len(), 4);
        assert_eq!(document.histogram_bounds_ns[3], (100_000, None));
        assert_eq!(document.groups.len(), 2);
        let consumer = &document.groups[0];
        assert_eq!(consumer.name, "consumer");
        assert_eq!(consumer.restarts, 5);
        assert_eq!(consumer.endings.panicked, 4);
        assert_eq!(consumer.endings.total(), 5);
        assert_eq!(
            consumer.slow_polls.map(|slow| slow.slow_poll_count),
            Some(3)
        );
        assert_eq!(
            consumer.poll_histogram.as_ref().map(|h| h.buckets.clone()),
            Some(vec![10, 80, 9, 1])
        );
        assert_eq!(document.groups[1].longest_in_poll_ns, Some(2_500_000_000));
        assert_eq!(document.instances.len(), 3);
        assert_eq!(document.instances[2].current_poll_ns, Some(2_500_000_000));
        let supervisor = document.supervisor.expect("a supervisor section");
        assert_eq!(supervisor.services[0].state, "backing_off");
        assert_eq!(supervisor.recent_endings[0].seq, 17);
        assert_eq!(
            supervisor.recent_endings[0].message.as_deref(),
            Some("boom")
        );
    }

    #[test]
    fn a_minimal_document_without_supervisor_parses() {
        let document = parse(
            br#"{"schema_version":1,"taken_at_ns":1,"groups":[],"instances":[],"supervisor":null}"#,
        )
        .expect("a minimal document parses");
        assert!(document.supervisor.is_none());
        let document = parse(br#"{"schema_version":1,"taken_at_ns":1}"#).expect("absent lists");
        assert!(document.groups.is_empty());
    }

    #[test]
    fn an_unknown_schema_version_is_refused_with_a_clear_error() {
        let error = parse(br#"{"schema_version":2,"taken_at_ns":1,"groups":"changed shape"}"#)
            .expect_err("version 2 is refused");
        assert_eq!(error, ParseError::UnsupportedVersion(Some(2)));
        assert!(error.to_string().contains("unsupported schema_version 2"));
        let error = parse(br#"{"taken_at_ns":1}"#).expect_err("no version is refused");
        assert_eq!(error, ParseError::UnsupportedVersion(None));
        let error = parse(br#"{"schema_version":"1"}"#).expect_err("a string version");
        assert_eq!(error, ParseError::UnsupportedVersion(None));
    }

    #[test]
    fn malformed_input_is_an_error_never_a_panic() {
        for body in [
            &b""[..],
            b"not json",
            b"{\"schema_version\":1,",
            b"[1,2,3]",
            b"{\"schema_version\":1,\"taken_at_ns\":-5}",
            b"{\"schema_version\":1,\"taken_at_ns\":1,\"groups\":[{\"name\":3}]}",
            b"\xff\xfe",
        ] {
            let error = parse(body).expect_err("malformed input is refused");
            assert!(
                matches!(error, ParseError::Malformed(_)),
                "{body:?} gave {error:?}"
            );
            assert!(error.to_string().starts_with("malformed snapshot document"));
        }
    }
}
