//! The snapshot document (feature `serde`): [`ServicesMetrics`] and [`ServiceId`] as serde
//! data, schema version [`SCHEMA_VERSION`].
//!
//! The layout is specified field by field in `docs/snapshot-json.md`; in short:
//!
//! ```json
//! {
//!   "schema_version": 2,
//!   "taken_at_ns": 5023000000,
//!   "truncated": null,
//!   "histogram_bounds_ns": [[0, 256], [256, 512], "...", [1073741824, null]],
//!   "groups": [{"name": "consumer", "instances": 2, "poll_count": 1234, "...": "..."}],
//!   "instances": [{"name": "consumer", "instance_id": 3, "poll_count": 120, "...": "..."}]
//! }
//! ```
//!
//! Serde does the work: this module only arranges the snapshot's parts under those keys
//! (all of them, or at most a given number of instances:
//! [`ServicesMetrics::limited_document`]) and checks a document before a snapshot is
//! rebuilt from it.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use vigil_monitor::{duration_ns, PollHistogram, HISTOGRAM_BUCKETS};

use crate::delta::ServiceGroupDelta;
use crate::id::{InstanceId, ServiceId, StaticName, TaskId};
use crate::metrics::{ServiceMetrics, ServicesMetrics};
use crate::names::{GroupTotals, ReportTotals, ServiceGroupMetrics};
use crate::watch::RuntimeSnapshot;

/// The version of the snapshot document this crate writes.
///
/// It changes when the document changes shape or meaning; adding a field within a version
/// does not change it (readers ignore fields they do not know). This crate reads versions
/// [`OLDEST_READ_SCHEMA_VERSION`] to `SCHEMA_VERSION`; deserializing a document of any
/// other version fails with an error naming the versions it reads.
///
/// Version 2 (migration from 1 in `docs/snapshot-json.md`) adds the `runtime` member and,
/// per `groups` entry, `mailbox`, `scheduling`, `lifetime_poll_histogram` and
/// `lifetime_slow_polls`; nothing was removed or changed meaning, so a version 1 document
/// reads as a version 2 one without those members. Fields added within version 1:
/// `truncated`.
pub const SCHEMA_VERSION: u32 = 2;

/// The oldest snapshot document version this crate still reads (see [`SCHEMA_VERSION`]).
pub const OLDEST_READ_SCHEMA_VERSION: u32 = 1;

/// A [`ServiceId`] as the document writes it: `{"name": "flusher", "instance_id": 3}`.
///
/// The task id's source location is descriptive and not written.
#[derive(Serialize, Deserialize)]
#[serde(rename = "ServiceId")]
struct IdFields {
    #[serde(deserialize_with = "crate::intern::deserialize")]
    name: StaticName,
    instance_id: InstanceId,
}

/// `{"name": "flusher", "instance_id": 3}`. A deserialized name is interned: see
/// [`ServicesMetrics`]'s `Deserialize` notes on memory.
impl Serialize for ServiceId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        IdFields {
            name: self.name(),
            instance_id: self.instance_id(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ServiceId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = IdFields::deserialize(deserializer)?;
        Ok(ServiceId::new(TaskId::new(fields.name), fields.instance_id))
    }
}

/// One entry of `instances`: the id's fields and the figures, side by side in one object.
#[derive(Serialize, Deserialize)]
struct Instance {
    #[serde(flatten)]
    id: ServiceId,
    #[serde(flatten)]
    metrics: ServiceMetrics,
}

/// `truncated`: how a [limited document](ServicesMetrics::limited_document) falls short
/// of its snapshot. `null` in a document that lists every live instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Truncation {
    /// The most instances the document was allowed to list.
    instance_limit: u64,
    /// Live instances of the snapshot that `instances` does not list (`groups` still
    /// counts them).
    instances_left_out: u64,
}

/// What a snapshot serializes as; borrows the snapshot.
///
/// `truncated` comes before the lists, so that a reader that streams the document knows
/// before `instances` that the list is partial.
#[derive(Serialize)]
struct DocumentOut<'a> {
    schema_version: u32,
    #[serde(rename = "taken_at_ns", with = "duration_ns")]
    taken_at: Duration,
    truncated: Option<Truncation>,
    histogram_bounds_ns: [(u64, Option<u64>); HISTOGRAM_BUCKETS],
    runtime: &'a [RuntimeSnapshot],
    groups: Groups<'a>,
    instances: Instances<'a>,
}

impl<'a> DocumentOut<'a> {
    /// The document of `snapshot` listing at most `instance_limit` instances.
    fn new(snapshot: &'a ServicesMetrics, instance_limit: usize) -> Self {
        let (truncated, quotas) = if snapshot.len() <= instance_limit {
            (None, None)
        } else {
            let truncation = Truncation {
                instance_limit: instance_limit as u64,
                instances_left_out: (snapshot.len() - instance_limit) as u64,
            };
            (
                Some(truncation),
                Some(fair_quotas(snapshot, instance_limit)),
            )
        };
        Self {
            schema_version: SCHEMA_VERSION,
            taken_at: snapshot.taken_at(),
            truncated,
            histogram_bounds_ns: histogram_bounds_ns(),
            runtime: snapshot.runtimes(),
            groups: Groups(snapshot),
            instances: Instances { snapshot, quotas },
        }
    }
}

/// How many instances of each name a document limited to `instance_limit` lists: an
/// equal share of the limit per name with live instances, a name with fewer instances than
/// its share giving the rest to the others (max-min fairness), the last units of the limit
/// going to the first names in name order. So every name keeps at least one instance when
/// the limit allows, a name with a million instances cannot crowd out the others, and the
/// quotas add up to exactly `instance_limit` (which must be below the number of instances).
///
/// In name order, names with no live instance left out.
fn fair_quotas(snapshot: &ServicesMetrics, instance_limit: usize) -> Vec<(&'static str, usize)> {
    let live: Vec<(&'static str, usize)> = snapshot
        .groups()
        .filter(|group| group.instances > 0)
        .map(|group| (group.name, group.instances))
        .collect();
    // Water-filling: the smallest names first, each taking all of its instances while
    // that is no more than an equal share of what is left.
    let mut ascending: Vec<usize> = live.iter().map(|&(_, live)| live).collect();
    ascending.sort_unstable();
    let (mut left, mut names_left) = (instance_limit, ascending.len());
    for &count in &ascending {
        if count > left / names_left {
            break;
        }
        left -= count;
        names_left -= 1;
    }
    // Every name still counted gets `share`, and the first `extra` of them one more.
    let share = left / names_left.max(1);
    let mut extra = left % names_left.max(1);
    live.into_iter()
        .map(|(name, count)| {
            if count <= share {
                return (name, count);
            }
            let quota = share + usize::from(extra > 0);
            extra = extra.saturating_sub(1);
            (name, quota.min(count))
        })
        .collect()
}

/// `groups`: the per-name aggregates, in name order.
struct Groups<'a>(&'a ServicesMetrics);

impl Serialize for Groups<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.groups())
    }
}

/// `instances`: every live instance, or with `quotas` the lowest instance ids of each name
/// up to its quota; in id order.
struct Instances<'a> {
    snapshot: &'a ServicesMetrics,
    quotas: Option<Vec<(&'static str, usize)>>,
}

impl Serialize for Instances<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let instance = |(id, metrics)| Instance { id, metrics };
        match &self.quotas {
            None => serializer.collect_seq(self.snapshot.iter().map(instance)),
            // Names in name order, each name's instances in instance order: id order.
            Some(quotas) => serializer.collect_seq(quotas.iter().flat_map(|&(name, quota)| {
                self.snapshot.instances_of(name).take(quota).map(instance)
            })),
        }
    }
}

/// `[lower, upper]` of every histogram bucket in nanoseconds; `null` for the overflow
/// bucket's infinite upper bound.
fn histogram_bounds_ns() -> [(u64, Option<u64>); HISTOGRAM_BUCKETS] {
    PollHistogram::bucket_bounds().map(|(lower, upper)| {
        let upper = (upper != Duration::MAX).then(|| duration_ns::to_nanos(upper));
        (duration_ns::to_nanos(lower), upper)
    })
}

/// The snapshot document of schema version [`SCHEMA_VERSION`]: see `docs/snapshot-json.md`
/// for every field.
///
/// `histogram_bounds_ns` is computed on output (the bounds are fixed by
/// [`PollHistogram::bucket_bounds`]) and ignored on input.
impl Serialize for ServicesMetrics {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        DocumentOut::new(self, usize::MAX).serialize(serializer)
    }
}

impl ServicesMetrics {
    /// The snapshot document with at most `instance_limit` entries in `instances` (feature
    /// `serde`): what an endpoint serves when a process may run more instances than a
    /// reader wants to download, a few hundred bytes each.
    ///
    /// Within the limit it is the same document as the snapshot's own serde form. Past it,
    /// `groups` is still complete (every name's counters and gauges cover all its live
    /// instances), `instances` lists the lowest instance ids of each name (the oldest, so
    /// the set is stable while they live) with the limit shared fairly between names (a
    /// name with fewer instances than an equal share lists them all, the others split the
    /// rest), and `truncated` says so:
    /// `{"instance_limit": 10000, "instances_left_out": 90000}` (`null` otherwise).
    ///
    /// A truncated document does not deserialize into a `ServicesMetrics` (a snapshot holds
    /// every live instance): read it as JSON, or raise the limit.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use vigil_registry::{Registry, ServiceObj};
    ///
    /// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let registry = Registry::new();
    /// for name in ["consumer", "consumer", "consumer", "flusher"] {
    ///     registry.start_in(runtime.handle(), ServiceObj::new(name, std::future::pending()));
    /// }
    /// let snapshot = registry.metrics();
    /// let document = serde_json::to_value(snapshot.limited_document(2)).unwrap();
    /// assert_eq!(document["instances"].as_array().unwrap().len(), 2);
    /// assert_eq!(document["instances"][0]["name"], "consumer");
    /// assert_eq!(document["instances"][1]["name"], "flusher");
    /// assert_eq!(document["truncated"]["instances_left_out"], 2);
    /// assert_eq!(document["groups"][0]["instances"], 3);
    /// ```
    pub fn limited_document(&self, instance_limit: usize) -> impl Serialize + '_ {
        DocumentOut::new(self, instance_limit)
    }
}

/// What a snapshot deserializes from. Fields it does not know are ignored.
#[derive(Deserialize)]
struct DocumentIn {
    /// Checked as soon as it is read: writers put it first, so a document of another
    /// version is refused before its other fields are interpreted.
    #[serde(rename = "schema_version", deserialize_with = "schema_version")]
    _schema_version: u32,
    #[serde(rename = "taken_at_ns", with = "duration_ns")]
    taken_at: Duration,
    /// Absent in documents written before it was added: complete.
    #[serde(default)]
    truncated: Option<Truncation>,
    #[serde(default)]
    groups: Vec<ServiceGroupMetrics>,
    #[serde(default)]
    instances: Vec<Instance>,
    /// Absent in version 1 documents: no runtime watched.
    #[serde(default)]
    runtime: Vec<RuntimeSnapshot>,
}

/// Reads `schema_version` and refuses any version this crate does not read.
fn schema_version<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let version = u64::deserialize(deserializer)?;
    match u32::try_from(version) {
        Ok(version @ OLDEST_READ_SCHEMA_VERSION..=SCHEMA_VERSION) => Ok(version),
        _ => Err(de::Error::custom(format_args!(
            "unsupported snapshot schema_version {version}: this reader knows versions \
             {OLDEST_READ_SCHEMA_VERSION} to {SCHEMA_VERSION}"
        ))),
    }
}

/// Why a document does not describe a snapshot.
enum Inconsistent {
    Truncated(Truncation),
    DuplicateInstance(ServiceId),
    DuplicateGroup(&'static str),
    NoGroup(ServiceId),
}

impl fmt::Display for Inconsistent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated(truncation) => write!(
                f,
                "the document is truncated ({} live instances left out, instance limit {}): \
                 a snapshot holds every live instance",
                truncation.instances_left_out, truncation.instance_limit
            ),
            Self::DuplicateInstance(id) => {
                write!(f, "instance {id} is listed twice in `instances`")
            }
            Self::DuplicateGroup(name) => write!(f, "name {name:?} is listed twice in `groups`"),
            Self::NoGroup(id) => write!(f, "instance {id} has no entry in `groups`"),
        }
    }
}

impl DocumentIn {
    /// The snapshot the document describes, if it is consistent.
    fn into_snapshot(self) -> Result<ServicesMetrics, Inconsistent> {
        if let Some(truncation) = self.truncated {
            return Err(Inconsistent::Truncated(truncation));
        }
        let mut entries: Vec<(ServiceId, ServiceMetrics)> = self
            .instances
            .into_iter()
            .map(|instance| (instance.id, instance.metrics))
            .collect();
        entries.sort_by_key(|(id, _)| *id);
        if let Some(pair) = entries.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(Inconsistent::DuplicateInstance(pair[0].0));
        }
        // The counters are kept; the gauges are the instances' and recomputed from them.
        let mut totals: Vec<GroupTotals> = self
            .groups
            .iter()
            .map(|group| GroupTotals {
                name: group.name,
                starts: group.starts,
                restarts: group.restarts,
                endings: group.endings,
                poll_count: group.poll_count,
                total_busy_duration: group.total_busy_duration,
                mailbox: group.mailbox,
                reports: ReportTotals {
                    scheduling: group.scheduling,
                    poll_histogram: group.lifetime_poll_histogram,
                    slow_polls: group.lifetime_slow_polls,
                },
            })
            .collect();
        totals.sort_by_key(|totals| totals.name);
        if let Some(pair) = totals.windows(2).find(|pair| pair[0].name == pair[1].name) {
            return Err(Inconsistent::DuplicateGroup(pair[0].name));
        }
        if let Some((id, _)) = entries.iter().find(|(id, _)| {
            totals
                .binary_search_by(|totals| totals.name.cmp(id.name()))
                .is_err()
        }) {
            return Err(Inconsistent::NoGroup(*id));
        }
        Ok(ServicesMetrics::from_full(entries, totals, self.taken_at).with_runtimes(self.runtime))
    }
}

/// Reads the snapshot document of schema versions [`OLDEST_READ_SCHEMA_VERSION`] to
/// [`SCHEMA_VERSION`].
///
/// Instances and groups may come in any order (they are sorted). A snapshot read back keeps
/// the groups' lifetime counters (`starts`, `restarts`, `endings`, `poll_count`,
/// `total_busy_ns`) and recomputes their gauges (`instances`, utilizations, `in_poll`,
/// `longest_in_poll_ns`, `slow_polls`, `poll_histogram`) from its instances, so that the
/// two cannot disagree. Errors: a missing or other `schema_version`, a `truncated`
/// document (see [`ServicesMetrics::limited_document`]), an instance or a name listed
/// twice, an instance whose name has no entry in `groups`.
///
/// # Memory
///
/// Service names are `&'static str`: each distinct name read is leaked once for the life of
/// the process and reused by every later document, so memory grows with the number of
/// distinct names ever read, not with the number of documents. Do not deserialize
/// documents with unbounded sets of names in a long-lived process.
impl<'de> Deserialize<'de> for ServicesMetrics {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        DocumentIn::deserialize(deserializer)?
            .into_snapshot()
            .map_err(de::Error::custom)
    }
}

/// `ServicesDelta`'s `instances`: flat objects, sorted by id on input.
pub(crate) mod delta_instances {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::{ServiceDelta, ServiceId};

    /// One entry: the id's fields and the delta's, side by side.
    #[derive(Serialize, Deserialize)]
    struct Entry {
        #[serde(flatten)]
        id: ServiceId,
        #[serde(flatten)]
        delta: ServiceDelta,
    }

    pub(crate) fn serialize<S: Serializer>(
        entries: &[(ServiceId, ServiceDelta)],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(entries.iter().map(|&(id, delta)| Entry { id, delta }))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<(ServiceId, ServiceDelta)>, D::Error> {
        let mut entries: Vec<(ServiceId, ServiceDelta)> = Vec::<Entry>::deserialize(deserializer)?
            .into_iter()
            .map(|entry| (entry.id, entry.delta))
            .collect();
        entries.sort_by_key(|(id, _)| *id);
        Ok(entries)
    }
}

/// `ServicesDelta`'s `ended`, sorted on input.
pub(crate) fn sorted_ids<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<ServiceId>, D::Error> {
    let mut ids = Vec::<ServiceId>::deserialize(deserializer)?;
    ids.sort();
    Ok(ids)
}

/// `ServicesDelta`'s `groups`, sorted by name on input.
pub(crate) fn sorted_group_deltas<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<ServiceGroupDelta>, D::Error> {
    let mut groups = Vec::<ServiceGroupDelta>::deserialize(deserializer)?;
    groups.sort_by_key(|group| group.name);
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::*;

    /// Names with characters JSON must escape, and non-ASCII ones; in name order, so that
    /// instances keyed by `(index, instance id)` are in id order.
    const NAMES: [&str; 4] = ["a \"quoted\"\\name\n", "consumer", "flusher", "größe"];

    /// Durations up to 2^56 ns (2.3 years), so per-name sums of 40 stay in range.
    fn duration_ns() -> impl Strategy<Value = u64> {
        prop_oneof![0..1_000_000_u64, 0..1_u64 << 56]
    }

    /// Counts up to 2^48, so per-name sums stay in range.
    fn count() -> impl Strategy<Value = u64> {
        prop_oneof![0..1_000_u64, 0..1_u64 << 48]
    }

    /// The monitors' figures as the document writes them (their types are
    /// `#[non_exhaustive]` in `vigil-monitor`, so built here from their serde form).
    fn monitors() -> impl Strategy<Value = Value> {
        let slow = (
            count(),
            duration_ns(),
            count(),
            duration_ns(),
            duration_ns(),
        )
            .prop_map(|(slow, slow_ns, fast, fast_ns, threshold)| {
                json!({"slow_poll_count": slow, "total_slow_poll_ns": slow_ns,
                       "fast_poll_count": fast, "total_fast_poll_ns": fast_ns,
                       "threshold_ns": threshold})
            });
        let histogram = (
            proptest::collection::vec(count(), HISTOGRAM_BUCKETS),
            duration_ns(),
        )
            .prop_map(|(buckets, max)| json!({"buckets": buckets, "max_ns": max}));
        let scheduling = (
            (count(), duration_ns(), duration_ns()),
            (count(), duration_ns(), duration_ns()),
            proptest::option::of(duration_ns()),
        )
            .prop_map(
                |((count, total, max), (idle, idle_total, idle_max), first)| {
                    json!({"scheduled_count": count, "total_scheduling_delay_ns": total,
                       "max_scheduling_delay_ns": max, "idle_count": idle,
                       "total_idle_ns": idle_total, "max_idle_ns": idle_max,
                       "first_poll_delay_ns": first})
                },
            );
        (
            proptest::option::of(slow),
            proptest::option::of(histogram),
            proptest::option::of(scheduling),
        )
            .prop_map(|(slow, histogram, scheduling)| {
                json!({"slow_polls": slow, "poll_histogram": histogram, "scheduling": scheduling})
            })
    }

    fn metrics(with_monitors: bool) -> impl Strategy<Value = ServiceMetrics> {
        (
            count(),
            duration_ns(),
            0..=100_u8,
            proptest::option::of(duration_ns()),
            duration_ns(),
            monitors(),
        )
            .prop_map(move |(polls, busy, utilization, in_poll, age, monitors)| {
                let mut figures = json!({
                    "poll_count": polls, "total_busy_ns": busy, "utilization": utilization,
                    "current_poll_ns": in_poll, "age_ns": age,
                });
                if with_monitors {
                    let figures = figures.as_object_mut().unwrap();
                    figures.extend(monitors.as_object().unwrap().clone());
                }
                serde_json::from_value(figures).expect("valid figures")
            })
    }

    /// Lifetime counters of a name: history beyond its live instances (ended instances'
    /// work, restarts), possibly with no live instance at all.
    fn history() -> impl Strategy<Value = (u64, u64, [u64; 4], u64, u64)> {
        (
            count(),
            count(),
            [count(), count(), count(), count()],
            count(),
            duration_ns(),
        )
    }

    /// Random snapshots: 0..40 instances of up to four names, with or without monitors,
    /// and each name with or without history (a name may have history and no instance).
    fn snapshot() -> impl Strategy<Value = ServicesMetrics> {
        any::<bool>()
            .prop_flat_map(|with_monitors| {
                (
                    proptest::collection::btree_map(
                        (0..NAMES.len(), any::<u64>()),
                        metrics(with_monitors),
                        0..40,
                    ),
                    proptest::collection::vec(proptest::option::of(history()), NAMES.len()),
                    duration_ns(),
                )
            })
            .prop_map(|(instances, histories, taken_at)| {
                let entries: Vec<(ServiceId, ServiceMetrics)> = instances
                    .into_iter()
                    .map(|((name, instance), metrics)| {
                        (ServiceId::new(TaskId::new(NAMES[name]), instance), metrics)
                    })
                    .collect();
                let mut totals = Vec::new();
                for (name, history) in NAMES.iter().zip(histories) {
                    let live: Vec<&ServiceMetrics> = entries
                        .iter()
                        .filter(|(id, _)| id.name() == *name)
                        .map(|(_, metrics)| metrics)
                        .collect();
                    if live.is_empty() && history.is_none() {
                        continue;
                    }
                    let (
                        ended_starts,
                        restarts,
                        [completed, failed, panicked, cancelled],
                        polls,
                        busy,
                    ) = history.unwrap_or_default();
                    let mut group = GroupTotals::empty(name);
                    group.starts = live.len() as u64 + ended_starts;
                    group.restarts = restarts;
                    group.endings.completed = completed;
                    group.endings.failed = failed;
                    group.endings.panicked = panicked;
                    group.endings.cancelled = cancelled;
                    group.poll_count = polls + live.iter().map(|m| m.poll_count).sum::<u64>();
                    group.total_busy_duration = Duration::from_nanos(busy)
                        + live.iter().map(|m| m.total_busy_duration).sum::<Duration>();
                    totals.push(group);
                }
                ServicesMetrics::from_full(entries, totals, Duration::from_nanos(taken_at))
            })
    }

    proptest! {
        #[test]
        fn snapshots_round_trip_through_json(snapshot in snapshot()) {
            let json = serde_json::to_string(&snapshot).unwrap();
            let back: ServicesMetrics = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&back, &snapshot);
            prop_assert_eq!(back.groups().collect::<Vec<_>>(), snapshot.groups().collect::<Vec<_>>());
            // And the document is stable: written again, it is the same text.
            prop_assert_eq!(serde_json::to_string(&back).unwrap(), json);
        }
    }

    proptest! {
        /// Deltas between two random snapshots round-trip too.
        #[test]
        fn deltas_round_trip_through_json(earlier in snapshot(), later in snapshot()) {
            let delta = later.delta_since(&earlier);
            let json = serde_json::to_string(&delta).unwrap();
            let back: crate::ServicesDelta = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, delta);
        }
    }

    proptest! {
        /// A limited document lists exactly `min(limit, live)` instances, each name's
        /// lowest ids in id order, shared fairly between names, and says what it left out;
        /// within the limit it is the full document.
        #[test]
        fn limited_documents_list_a_fair_prefix_and_say_what_they_left_out(
            snapshot in snapshot(),
            limit in prop_oneof![0..45_usize, Just(usize::MAX)],
        ) {
            let limited = serde_json::to_value(snapshot.limited_document(limit)).unwrap();
            let full = document(&snapshot);
            if snapshot.len() <= limit {
                prop_assert_eq!(limited, full);
                return Ok(());
            }
            prop_assert_eq!(
                &limited["truncated"],
                &json!({"instance_limit": limit, "instances_left_out": snapshot.len() - limit})
            );
            prop_assert_eq!(&limited["groups"], &full["groups"], "groups stay complete");
            let listed = limited["instances"].as_array().unwrap();
            prop_assert_eq!(listed.len(), limit);
            let ids: Vec<(String, u64)> = listed
                .iter()
                .map(|entry| {
                    (entry["name"].as_str().unwrap().to_owned(), entry["instance_id"].as_u64().unwrap())
                })
                .collect();
            prop_assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "id order: {:?}", ids);
            // Per name: a prefix of its live instances; fair: a name listed two fewer than
            // another is listed whole.
            let per_name: Vec<(usize, usize)> = snapshot
                .groups()
                .map(|group| {
                    let expected: Vec<Value> = full["instances"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|entry| entry["name"] == group.name)
                        .cloned()
                        .collect();
                    let got: Vec<Value> = listed
                        .iter()
                        .filter(|entry| entry["name"] == group.name)
                        .cloned()
                        .collect();
                    assert_eq!(got[..], expected[..got.len()], "{}", group.name);
                    (got.len(), group.instances)
                })
                .collect();
            for &(listed_a, live_a) in &per_name {
                for &(listed_b, _) in &per_name {
                    prop_assert!(listed_a + 1 >= listed_b || listed_a == live_a, "{:?}", per_name);
                }
            }
        }
    }

    #[test]
    fn a_truncated_document_is_refused_as_a_snapshot() {
        let snapshot = one_instance();
        let mut value = serde_json::to_value(snapshot.limited_document(0)).unwrap();
        assert_eq!(
            value["truncated"],
            json!({"instance_limit": 0, "instances_left_out": 1})
        );
        assert_eq!(value["instances"], json!([]));
        assert_eq!(value["groups"][0]["instances"], 1);
        let error = serde_json::from_value::<ServicesMetrics>(value.clone()).unwrap_err();
        assert!(
            error.to_string().contains(
                "the document is truncated (1 live instances left out, instance limit 0)"
            ),
            "{error}"
        );
        // A document written before `truncated` existed is complete.
        value.as_object_mut().unwrap().remove("truncated");
        value["instances"] = document(&snapshot)["instances"].clone();
        let back: ServicesMetrics = serde_json::from_value(value).unwrap();
        assert_eq!(back, snapshot);
    }

    fn document(snapshot: &ServicesMetrics) -> Value {
        serde_json::to_value(snapshot).unwrap()
    }

    fn one_instance() -> ServicesMetrics {
        let metrics: ServiceMetrics = serde_json::from_value(json!({
            "poll_count": 120, "total_busy_ns": 5_000_000, "utilization": 5,
            "current_poll_ns": null, "age_ns": 3_000_000_000_u64,
            "slow_polls": null, "poll_histogram": null, "scheduling": null,
        }))
        .unwrap();
        let id = ServiceId::new(TaskId::new("consumer"), 3);
        ServicesMetrics::from_sorted(vec![(id, metrics)], Duration::from_millis(5_023))
    }

    #[test]
    fn the_document_has_the_contract_layout() {
        let value = document(&one_instance());
        assert_eq!(value["schema_version"], 2);
        assert_eq!(value["runtime"], json!([]));
        assert_eq!(value["taken_at_ns"], 5_023_000_000_u64);
        assert_eq!(value["truncated"], Value::Null);
        let bounds = value["histogram_bounds_ns"].as_array().unwrap();
        assert_eq!(bounds.len(), HISTOGRAM_BUCKETS);
        assert_eq!(bounds[0], json!([0, 256]));
        assert_eq!(bounds[1], json!([256, 512]));
        assert_eq!(bounds[HISTOGRAM_BUCKETS - 1], json!([1_u64 << 30, null]));
        assert_eq!(
            value["instances"],
            json!([{
                "name": "consumer", "instance_id": 3,
                "poll_count": 120, "total_busy_ns": 5_000_000, "utilization": 5,
                "current_poll_ns": null, "age_ns": 3_000_000_000_u64,
                "slow_polls": null, "poll_histogram": null, "scheduling": null,
            }])
        );
        assert_eq!(
            value["groups"],
            json!([{
                "name": "consumer", "instances": 1, "starts": 1, "restarts": 0,
                "endings": {"completed": 0, "failed": 0, "panicked": 0, "cancelled": 0},
                "poll_count": 120, "total_busy_ns": 5_000_000, "mean_utilization": 5.0,
                "max_utilization": 5, "in_poll": 0, "longest_in_poll_ns": null,
                "slow_polls": null, "poll_histogram": null, "mailbox": null,
                "scheduling": null, "lifetime_poll_histogram": null, "lifetime_slow_polls": null,
            }])
        );
    }

    #[test]
    fn a_version_1_document_reads_as_version_2_without_its_members() {
        let snapshot = one_instance();
        let mut value = document(&snapshot);
        value["schema_version"] = json!(1);
        value.as_object_mut().unwrap().remove("runtime");
        for member in [
            "mailbox",
            "scheduling",
            "lifetime_poll_histogram",
            "lifetime_slow_polls",
        ] {
            value["groups"][0].as_object_mut().unwrap().remove(member);
        }
        let back: ServicesMetrics = serde_json::from_value(value).unwrap();
        assert_eq!(back, snapshot);
    }

    #[test]
    fn another_schema_version_is_refused_with_a_clear_error() {
        let mut value = document(&one_instance());
        for refused in [0, 3] {
            value["schema_version"] = json!(refused);
            let error = serde_json::from_value::<ServicesMetrics>(value.clone()).unwrap_err();
            assert!(
                error.to_string().contains(&format!(
                    "unsupported snapshot schema_version {refused}: this reader knows versions \
                     1 to 2"
                )),
                "{error}"
            );
        }
        // Refused before a field the reader cannot interpret is looked at.
        let text = r#"{"schema_version": 3, "taken_at_ns": "later", "instances": 7}"#;
        let error = serde_json::from_str::<ServicesMetrics>(text).unwrap_err();
        assert!(error.to_string().contains("schema_version 3"), "{error}");

        value.as_object_mut().unwrap().remove("schema_version");
        let error = serde_json::from_value::<ServicesMetrics>(value).unwrap_err();
        assert!(error.to_string().contains("schema_version"), "{error}");
    }

    #[test]
    fn unknown_fields_are_ignored_and_instances_sorted() {
        let mut value = document(&one_instance());
        value["supervisor"] = json!({"services": []});
        value["instances"][0]["added_in_a_later_version"] = json!(true);
        let mut second = value["instances"][0].clone();
        second["instance_id"] = json!(1);
        value["instances"].as_array_mut().unwrap().push(second);
        let back: ServicesMetrics = serde_json::from_value(value.clone()).unwrap();
        let ids: Vec<String> = back.iter().map(|(id, _)| id.to_string()).collect();
        assert_eq!(ids, ["consumer#1", "consumer#3"]);

        value["instances"][1]["instance_id"] = json!(3);
        let error = serde_json::from_value::<ServicesMetrics>(value.clone()).unwrap_err();
        assert!(
            error.to_string().contains("consumer#3 is listed twice"),
            "{error}"
        );

        value["instances"][1]["instance_id"] = json!(1);
        value["groups"][0]["name"] = json!("other");
        let error = serde_json::from_value::<ServicesMetrics>(value).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("consumer#1 has no entry in `groups`"),
            "{error}"
        );
    }

    #[test]
    fn groups_keep_their_counters_and_recompute_their_gauges() {
        let mut value = document(&one_instance());
        value["groups"][0]["starts"] = json!(9);
        value["groups"][0]["endings"]["panicked"] = json!(8);
        value["groups"][0]["instances"] = json!(500);
        value["groups"].as_array_mut().unwrap().push(json!({
            "name": "ended", "instances": 0, "starts": 2, "restarts": 1,
            "endings": {"completed": 1, "failed": 1, "panicked": 0, "cancelled": 0},
            "poll_count": 10, "total_busy_ns": 20, "mean_utilization": 0.0,
            "max_utilization": 0, "in_poll": 0, "longest_in_poll_ns": null,
            "slow_polls": null, "poll_histogram": null,
        }));
        let back: ServicesMetrics = serde_json::from_value(value).unwrap();
        let consumer = back.group("consumer").unwrap();
        assert_eq!((consumer.starts, consumer.endings.panicked), (9, 8));
        assert_eq!(consumer.instances, 1, "recomputed from `instances`");
        let ended = back.group("ended").unwrap();
        assert_eq!((ended.instances, ended.starts, ended.restarts), (0, 2, 1));
        assert_eq!(ended.endings.failed, 1);
        assert_eq!(ended.total_busy_duration, Duration::from_nanos(20));
        assert_eq!(back.groups().count(), 2);
    }

    #[test]
    fn service_ids_are_name_and_instance_id() {
        let id = ServiceId::new(TaskId::here("flusher"), 7);
        let value = serde_json::to_value(id).unwrap();
        assert_eq!(value, json!({"name": "flusher", "instance_id": 7}));
        let back: ServiceId = serde_json::from_value(value).unwrap();
        assert_eq!(back, id);
        assert_eq!(back.task().location(), None, "the location is not written");
    }
}
