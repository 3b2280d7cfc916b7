//! The `/snapshot.json` document (schema versions 1 and 2) as vigil-top reads it.
//!
//! These are vigil-top's own types: it never links the monitored process's crates, only
//! the JSON contract. Unknown fields are ignored (serde's default), absent optional fields
//! read as `None`, and a document whose `schema_version` this reader does not know is
//! refused before anything else is read from it. Version 2 only adds members (`runtime`,
//! and per group `mailbox`, `scheduling`, `lifetime_poll_histogram`,
//! `lifetime_slow_polls`), so a version 1 document reads as a version 2 one without them;
//! `verdicts` came within version 2 and is absent from older processes' documents.

use std::fmt;

use serde::Deserialize;

/// The newest `schema_version` this reader understands.
pub(crate) const SCHEMA_VERSION: u64 = 2;
/// The oldest `schema_version` this reader understands.
pub(crate) const OLDEST_SCHEMA_VERSION: u64 = 1;

/// One snapshot of a process's services, as served at `GET /snapshot.json`.
#[derive(Debug, Clone, Default, Deserialize)]
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
    /// One entry per tokio runtime the process watches (version 2; empty in version 1).
    #[serde(default)]
    pub(crate) runtime: Vec<Runtime>,
    /// The services the process judges lagging over its last interval, and why (absent
    /// from processes that do not compute them).
    #[serde(default)]
    pub(crate) verdicts: Vec<Verdict>,
}

/// One watched tokio runtime: stable tokio metrics only.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Runtime {
    pub(crate) name: String,
    /// Spawned tasks not finished yet (services and everything else).
    #[serde(default)]
    pub(crate) alive_tasks: u64,
    /// Tasks waiting in the global (injection) queue.
    #[serde(default)]
    pub(crate) global_queue_depth: u64,
    /// One entry per worker thread, in worker order.
    #[serde(default)]
    pub(crate) workers: Vec<Worker>,
}

/// The lifetime counters of one worker thread.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct Worker {
    /// Time spent running tasks since the runtime started: a counter.
    pub(crate) busy_ns: u64,
    /// Times the worker parked.
    #[serde(default)]
    #[allow(dead_code)] // no view shows it yet: read so the model is the whole schema
    pub(crate) park_count: u64,
    /// Times it parked or unparked: odd while it is parked.
    #[serde(default)]
    #[allow(dead_code)] // no view shows it yet: read so the model is the whole schema
    pub(crate) park_unpark_count: u64,
}

/// Why one service lags, as the process judged it between two of its snapshots.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Verdict {
    pub(crate) name: String,
    /// `backlogged`, `polls_slow` or `runtime_saturated` (others are shown as is).
    #[serde(default)]
    pub(crate) cause: String,
    /// The sentence to show, e.g. `backlogged (mailbox 1000/1000, oldest 3.2 s)`.
    #[serde(default)]
    pub(crate) text: String,
}

impl Verdict {
    /// The process's sentence, or the cause in words when it sent none.
    pub(crate) fn sentence(&self) -> String {
        if self.text.is_empty() {
            self.cause.replace('_', " ")
        } else {
            self.text.clone()
        }
    }
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
#[derive(Debug, Clone, Default, Deserialize)]
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
    /// The name's mailbox, if a supervisor registered one (version 2).
    #[serde(default)]
    pub(crate) mailbox: Option<Mailbox>,
    /// Lifetime scheduling counters, with the scheduling monitor attached (version 2).
    #[serde(default)]
    pub(crate) scheduling: Option<Scheduling>,
    /// Rates a source computed itself (Prometheus' `rate()`): when set, the dashboard
    /// shows them instead of differencing two documents. Never in a snapshot document.
    #[serde(skip)]
    pub(crate) rates: Option<Rates>,
    /// The poll histogram of every instance ever started under the name (version 2).
    #[serde(default)]
    #[allow(dead_code)] // no view shows it yet: read so the model is the whole schema
    pub(crate) lifetime_poll_histogram: Option<PollHistogram>,
    /// Slow polls of every instance ever started under the name (version 2).
    #[serde(default)]
    #[allow(dead_code)] // no view shows it yet: read so the model is the whole schema
    pub(crate) lifetime_slow_polls: Option<SlowPolls>,
}

/// A service name's mailbox now: `sent`, `received`, `rejected` are lifetime counters,
/// `depth` and `oldest_wait_ns` gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct Mailbox {
    #[serde(default)]
    pub(crate) capacity: u64,
    #[serde(default)]
    pub(crate) depth: u64,
    #[serde(default)]
    pub(crate) sent: u64,
    #[serde(default)]
    pub(crate) received: u64,
    /// `try_send` calls refused because the mailbox was full.
    #[serde(default)]
    pub(crate) rejected: u64,
    /// How long the oldest waiting message has waited (0 when none waits).
    #[serde(default)]
    pub(crate) oldest_wait_ns: u64,
}

impl Mailbox {
    /// `depth / capacity` in percent, at most 100 (0 for a mailbox of no capacity).
    pub(crate) fn fill_percent(&self) -> f64 {
        if self.capacity == 0 {
            return 0.0;
        }
        #[allow(clippy::cast_precision_loss)] // a display figure
        let percent = self.depth as f64 * 100.0 / self.capacity as f64;
        percent.min(100.0)
    }
}

/// A service name's lifetime scheduling counters (the maxima are lifetime maxima).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct Scheduling {
    /// Polls that followed a wake.
    #[serde(default)]
    pub(crate) scheduled_count: u64,
    /// Sum of their wake-to-poll delays.
    #[serde(default)]
    pub(crate) total_scheduling_delay_ns: u64,
    #[serde(default)]
    pub(crate) max_scheduling_delay_ns: u64,
    #[serde(default)]
    pub(crate) first_polls: u64,
    #[serde(default)]
    pub(crate) total_first_poll_delay_ns: u64,
    #[serde(default)]
    pub(crate) max_first_poll_delay_ns: u64,
    #[serde(default)]
    pub(crate) idle_count: u64,
    #[serde(default)]
    pub(crate) total_idle_ns: u64,
    #[serde(default)]
    pub(crate) max_idle_ns: u64,
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

/// Per-second figures over a window, as a source that computes rates hands them in.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Rates {
    pub(crate) polls_per_second: f64,
    /// Busy time per second, in percent of one thread.
    pub(crate) busy_percent: f64,
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
    /// A `schema_version` outside [`OLDEST_SCHEMA_VERSION`]..=[`SCHEMA_VERSION`] (or none).
    UnsupportedVersion(Option<u64>),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(reason) => write!(f, "malformed snapshot document: {reason}"),
            Self::UnsupportedVersion(Some(version)) => write!(
                f,
                "unsupported schema_version {version} (this vigil-top reads \
                 {OLDEST_SCHEMA_VERSION} to {SCHEMA_VERSION}; upgrade vigil-top)"
            ),
            Self::UnsupportedVersion(None) => write!(
                f,
                "not a vigil snapshot document: no numeric schema_version \
                 (this vigil-top reads {OLDEST_SCHEMA_VERSION} to {SCHEMA_VERSION})"
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
        Some(OLDEST_SCHEMA_VERSION..=SCHEMA_VERSION) => {}
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

/// A version 2 document: two watched runtimes, three services with mailboxes (full,
/// 60 % and 1 % full) each lagging for one of the three causes, and one without a mailbox.
#[cfg(test)]
pub(crate) const SAMPLE_V2: &str = r#"{
  "schema_version": 2,
  "taken_at_ns": 10000000000,
  "truncated": null,
  "histogram_bounds_ns": [[0,1000],[1000,10000],[10000,100000],[100000,null]],
  "runtime": [
    {"name": "main", "alive_tasks": 1234, "global_queue_depth": 0,
     "workers": [{"busy_ns": 5000000000, "park_count": 4, "park_unpark_count": 8},
                 {"busy_ns": 6000000000, "park_count": 2, "park_unpark_count": 5}]},
    {"name": "blocking-io", "alive_tasks": 3, "global_queue_depth": 7,
     "workers": [{"busy_ns": 1000000000, "park_count": 10, "park_unpark_count": 20}]}
  ],
  "groups": [
    {"name": "ingest", "instances": 1, "starts": 1, "restarts": 0,
     "poll_count": 500, "total_busy_ns": 100000000, "mean_utilization": 10.0,
     "max_utilization": 10, "in_poll": 0, "longest_in_poll_ns": null,
     "slow_polls": null, "poll_histogram": null,
     "mailbox": {"capacity": 1000, "depth": 1000, "sent": 9000, "received": 8000,
                 "rejected": 12, "oldest_wait_ns": 3200000000},
     "scheduling": {"scheduled_count": 400, "total_scheduling_delay_ns": 400000000,
                    "max_scheduling_delay_ns": 9000000, "first_polls": 1,
                    "total_first_poll_delay_ns": 1000, "max_first_poll_delay_ns": 1000,
                    "idle_count": 399, "total_idle_ns": 5000000000, "max_idle_ns": 100000000},
     "lifetime_poll_histogram": {"buckets": [400, 100, 0, 0], "max_ns": 9000},
     "lifetime_slow_polls": {"slow_poll_count": 0, "threshold_ns": 1000000}},
    {"name": "parser", "instances": 1, "poll_count": 100, "total_busy_ns": 900000000,
     "mailbox": {"capacity": 1000, "depth": 600, "sent": 700, "received": 100,
                 "rejected": 0, "oldest_wait_ns": 200000000},
     "scheduling": null},
    {"name": "writer", "instances": 1, "poll_count": 100, "total_busy_ns": 1000000,
     "mailbox": {"capacity": 1000, "depth": 10, "sent": 100, "received": 90,
                 "rejected": 0, "oldest_wait_ns": 1000000}},
    {"name": "idle", "instances": 1, "poll_count": 1, "total_busy_ns": 1000,
     "mailbox": null, "scheduling": null, "lifetime_poll_histogram": null,
     "lifetime_slow_polls": null}
  ],
  "instances": [
    {"name": "ingest", "instance_id": 0, "poll_count": 500, "total_busy_ns": 100000000,
     "age_ns": 10000000000},
    {"name": "parser", "instance_id": 0, "poll_count": 100, "total_busy_ns": 900000000},
    {"name": "writer", "instance_id": 0, "poll_count": 100, "total_busy_ns": 1000000},
    {"name": "idle", "instance_id": 0, "poll_count": 1, "total_busy_ns": 1000}
  ],
  "verdicts": [
    {"name": "ingest", "cause": "backlogged",
     "text": "backlogged (mailbox 1000/1000, oldest 3.2 s)"},
    {"name": "parser", "cause": "polls_slow", "text": "polls slow (p99 8 ms)"},
    {"name": "writer", "cause": "runtime_saturated",
     "text": "runtime saturated (2/2 workers 99 % busy, wake-to-poll 40 ms)"}
  ]
}"#;

/// A well-formed document whose every figure is at its type's extreme, for tests that
/// nothing overflows or panics.
#[cfg(test)]
pub(crate) fn extreme_document() -> String {
    let max = u64::MAX;
    format!(
        r#"{{"schema_version":2,"taken_at_ns":{max},
           "histogram_bounds_ns":[[0,1],[1,null]],
           "runtime":[{{"name":"r","alive_tasks":{max},"global_queue_depth":{max},
              "workers":[{{"busy_ns":{max},"park_count":{max},"park_unpark_count":{max}}},
                         {{"busy_ns":0}}]}}],
           "verdicts":[{{"name":"a","cause":"?","text":""}}],
           "groups":[{{"name":"a","instances":{max},"restarts":{max},
              "endings":{{"completed":{max},"failed":{max},"panicked":{max},"cancelled":{max}}},
              "poll_count":{max},"total_busy_ns":{max},"mean_utilization":1e308,
              "max_utilization":255,"longest_in_poll_ns":{max},
              "slow_polls":{{"slow_poll_count":{max},"threshold_ns":{max}}},
              "poll_histogram":{{"buckets":[{max},{max},{max}],"max_ns":{max}}},
              "mailbox":{{"capacity":{max},"depth":{max},"sent":{max},"received":{max},
                 "rejected":{max},"oldest_wait_ns":{max}}},
              "scheduling":{{"scheduled_count":{max},"total_scheduling_delay_ns":{max},
                 "max_scheduling_delay_ns":{max}}}}},
             {{"name":"b","instances":0,"poll_count":{max},"total_busy_ns":{max},
              "mailbox":{{"capacity":0,"depth":{max}}}}}],
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
        let error = parse(br#"{"schema_version":3,"taken_at_ns":1,"groups":"changed shape"}"#)
            .expect_err("version 3 is refused");
        assert_eq!(error, ParseError::UnsupportedVersion(Some(3)));
        assert!(error.to_string().contains("unsupported schema_version 3"));
        assert!(error.to_string().contains("reads 1 to 2"), "{error}");
        let error = parse(br#"{"schema_version":0,"taken_at_ns":1}"#).expect_err("version 0");
        assert_eq!(error, ParseError::UnsupportedVersion(Some(0)));
        let error = parse(br#"{"taken_at_ns":1}"#).expect_err("no version is refused");
        assert_eq!(error, ParseError::UnsupportedVersion(None));
        let error = parse(br#"{"schema_version":"1"}"#).expect_err("a string version");
        assert_eq!(error, ParseError::UnsupportedVersion(None));
    }

    #[test]
    fn version_1_and_version_2_documents_are_both_read() {
        // Version 1: none of the version 2 members.
        let v1 = parse(SAMPLE.as_bytes()).expect("version 1");
        assert!(v1.runtime.is_empty() && v1.verdicts.is_empty());
        assert!(v1.groups.iter().all(|group| group.mailbox.is_none()
            && group.scheduling.is_none()
            && group.lifetime_poll_histogram.is_none()));
        // Version 2: every new member.
        let v2 = parse(SAMPLE_V2.as_bytes()).expect("version 2");
        assert_eq!(v2.runtime.len(), 2);
        let main = &v2.runtime[0];
        assert_eq!(
            (
                main.name.as_str(),
                main.alive_tasks,
                main.global_queue_depth
            ),
            ("main", 1234, 0)
        );
        assert_eq!(main.workers[1].busy_ns, 6_000_000_000);
        assert_eq!(main.workers[1].park_unpark_count, 5);
        let ingest = &v2.groups[0];
        let mailbox = ingest.mailbox.expect("a mailbox");
        assert_eq!((mailbox.depth, mailbox.capacity), (1000, 1000));
        assert_eq!(
            (mailbox.rejected, mailbox.oldest_wait_ns),
            (12, 3_200_000_000)
        );
        assert!((mailbox.fill_percent() - 100.0).abs() < f64::EPSILON);
        let scheduling = ingest.scheduling.expect("scheduling");
        assert_eq!(scheduling.scheduled_count, 400);
        assert_eq!(scheduling.total_scheduling_delay_ns, 400_000_000);
        assert_eq!(
            ingest
                .lifetime_poll_histogram
                .as_ref()
                .map(|h| h.buckets.clone()),
            Some(vec![400, 100, 0, 0])
        );
        assert_eq!(
            ingest.lifetime_slow_polls.map(|s| s.slow_poll_count),
            Some(0)
        );
        // Absent and null members read as none.
        assert!(v2.groups[2].scheduling.is_none());
        assert!(v2.groups[3].mailbox.is_none());
        let causes: Vec<&str> = v2.verdicts.iter().map(|v| v.cause.as_str()).collect();
        assert_eq!(causes, ["backlogged", "polls_slow", "runtime_saturated"]);
        assert_eq!(
            v2.verdicts[0].text,
            "backlogged (mailbox 1000/1000, oldest 3.2 s)"
        );
        // A version 2 document without the optional members is still a document.
        let bare = parse(br#"{"schema_version":2,"taken_at_ns":1}"#).expect("bare version 2");
        assert!(bare.runtime.is_empty() && bare.groups.is_empty());
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
