//! What the screen shows, derived from consecutive documents: rates, history rings, events.
//!
//! Everything here is plain data driven by [`App::on_fetch`] (a document or an error, with
//! the time it arrived) and by the key handler in `keys.rs`; nothing touches a terminal, so
//! tests drive it directly. Memory is bounded: per-name histories are fixed rings, the
//! event list is capped, and ended instances linger for [`LINGER`] and then leave.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::figures;
use crate::model::{Document, Endings, Group, Scheduling, Truncated};
use crate::profiling::{ProfileRun, Stacks};
use crate::runtimes::{RuntimeTracker, RuntimeView};
use crate::source::FetchError;
pub(crate) use crate::view::{
    Connection, Event, FleetView, InstanceView, ReplayStatus, RowKey, ServiceState, ServiceView,
    Severity, SortColumn,
};

/// Samples of busy % kept per service name (one per document: 60 s at the default interval).
pub(crate) const HISTORY_SAMPLES: usize = 60;
/// Events kept for the events pane.
pub(crate) const MAX_EVENTS: usize = 200;
/// How long an ended instance stays in the table (marked ended) before it leaves.
pub(crate) const LINGER: Duration = Duration::from_secs(5);
/// At most this many ended instances linger per name, however fast they churn.
const MAX_LINGERING_PER_NAME: usize = 64;
/// The refresh intervals `+` and `-` step through.
pub(crate) const INTERVALS: [Duration; 7] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(10),
    Duration::from_secs(30),
];

/// Counters of the previous document, to difference against.
#[derive(Debug, Clone, Copy)]
struct Previous {
    poll_count: u64,
    total_busy_ns: u64,
    restarts: u64,
    endings: Endings,
    stuck: bool,
    scheduling: Option<Scheduling>,
}

/// The whole dashboard state.
#[derive(Debug)]
pub(crate) struct App {
    /// What the header names (a URL, or "demo").
    pub(crate) target: String,
    pub(crate) started: Instant,
    pub(crate) interval: Duration,
    /// Polls in flight longer than this are STUCK.
    pub(crate) stuck_after: Duration,
    pub(crate) connection: Connection,
    /// When the last document was read.
    pub(crate) updated_at: Option<Instant>,
    pub(crate) services: BTreeMap<String, ServiceView>,
    /// Live and lingering instances by name, in id order.
    pub(crate) instances: BTreeMap<String, Vec<InstanceView>>,
    pub(crate) histogram_bounds_ns: Vec<(u64, Option<u64>)>,
    /// Live instances, from the per-name counts (complete even when the instance list is not).
    pub(crate) live_instances: u64,
    /// Live instances the endpoint did not list (its instance limit), if it left some out.
    pub(crate) unlisted: Option<Truncated>,
    /// Sum of busy % over all names in the last interval (100 = one thread's worth).
    pub(crate) total_busy_percent: Option<f64>,
    /// Age of the oldest live instance: a lower bound of the process's uptime.
    pub(crate) oldest_instance: Option<Duration>,
    /// The runtimes the target watches, in its document's order (none before version 2).
    pub(crate) runtimes: Vec<RuntimeView>,
    /// Newest last, at most [`MAX_EVENTS`].
    pub(crate) events: VecDeque<Event>,
    /// Events ever pushed (those dropped past [`MAX_EVENTS`] included).
    pub(crate) events_total: u64,
    pub(crate) sort: SortColumn,
    pub(crate) reverse: bool,
    pub(crate) filter: String,
    pub(crate) editing_filter: bool,
    pub(crate) paused: bool,
    pub(crate) show_help: bool,
    pub(crate) expanded: BTreeSet<String>,
    /// The row the keys selected; `None` means the first row, whichever it is.
    pub(crate) selected: Option<RowKey>,
    /// The stacks of stuck services, when the endpoint has a profiler.
    pub(crate) stacks: Stacks,
    /// The profile the `p` key asked for, shown in the detail pane until Esc.
    pub(crate) profile: Option<ProfileRun>,
    /// Several processes on one screen (`fleet.rs`): each row's process, a `process`
    /// column, and the processes that are down. `None` for one process.
    pub(crate) fleet: Option<FleetView>,
    /// While replaying a recording: where the replay is (shown in the header).
    pub(crate) replay: Option<ReplayStatus>,
    previous: HashMap<String, Previous>,
    previous_runtimes: RuntimeTracker,
    previous_taken_at_ns: Option<u64>,
    last_seq: Option<u64>,
}

impl App {
    /// A dashboard for `target`, refreshing every `interval`.
    pub(crate) fn new(target: String, interval: Duration, now: Instant) -> Self {
        Self {
            target,
            started: now,
            interval,
            stuck_after: Duration::from_secs(1),
            connection: Connection::Connecting,
            updated_at: None,
            services: BTreeMap::new(),
            instances: BTreeMap::new(),
            histogram_bounds_ns: Vec::new(),
            live_instances: 0,
            unlisted: None,
            total_busy_percent: None,
            oldest_instance: None,
            runtimes: Vec::new(),
            events: VecDeque::new(),
            events_total: 0,
            sort: SortColumn::Busy,
            reverse: false,
            filter: String::new(),
            editing_filter: false,
            paused: false,
            show_help: false,
            expanded: BTreeSet::new(),
            selected: None,
            stacks: Stacks::default(),
            profile: None,
            fleet: None,
            replay: None,
            previous: HashMap::new(),
            previous_runtimes: RuntimeTracker::default(),
            previous_taken_at_ns: None,
            last_seq: None,
        }
    }

    /// Takes in one fetch result: a document updates the figures (unless paused), an
    /// error changes the connection state; either may add events.
    pub(crate) fn on_fetch(&mut self, fetched: Result<Document, FetchError>, now: Instant) {
        match fetched {
            Ok(document) => {
                if let Connection::Disconnected(_) = self.connection {
                    self.push_event(now, Severity::Info, "reconnected".to_owned());
                }
                self.connection = Connection::Connected;
                if !self.paused {
                    self.ingest(document, now);
                    self.drop_stale_stacks();
                }
            }
            Err(FetchError::Unreachable(reason)) => {
                if !matches!(self.connection, Connection::Disconnected(_)) {
                    self.push_event(now, Severity::Error, format!("disconnected: {reason}"));
                }
                self.connection = Connection::Disconnected(reason);
            }
            Err(FetchError::Invalid(reason)) => {
                if self.connection != Connection::Invalid(reason.clone()) {
                    self.push_event(now, Severity::Error, reason.clone());
                }
                self.connection = Connection::Invalid(reason);
            }
        }
        self.expire_lingering(now);
    }

    /// Updates every figure from `document`, differencing against the previous one.
    pub(crate) fn ingest(&mut self, document: Document, now: Instant) {
        if self
            .previous_taken_at_ns
            .is_some_and(|previous| document.taken_at_ns < previous)
        {
            self.push_event(
                now,
                Severity::Warning,
                "the target's clock went back: a new process? history restarts".to_owned(),
            );
            self.previous.clear();
            self.previous_runtimes.clear();
            self.services.clear();
            self.last_seq = None;
        }
        // The supervisor's endings in the first document happened before we looked.
        let first_document = self.previous_taken_at_ns.is_none();
        let elapsed_ns = self
            .previous_taken_at_ns
            .map(|previous| document.taken_at_ns.saturating_sub(previous))
            .filter(|elapsed| *elapsed > 0);
        self.previous_taken_at_ns = Some(document.taken_at_ns);
        self.updated_at = Some(now);
        self.histogram_bounds_ns
            .clone_from(&document.histogram_bounds_ns);

        self.runtimes = self.previous_runtimes.update(&document.runtime, elapsed_ns);
        let supervised = document.supervisor.is_some();
        let mut states: HashMap<&str, (ServiceState, Option<Duration>)> = HashMap::new();
        if let Some(supervisor) = &document.supervisor {
            for service in &supervisor.services {
                let Some(state) = ServiceState::from_supervisor(&service.state) else {
                    continue;
                };
                let retry_in = service.retry_in_ns.map(Duration::from_nanos);
                // Several specs may share a name: show the worst state.
                let entry = states.entry(&service.name).or_insert((state, retry_in));
                if state < entry.0 {
                    *entry = (state, retry_in);
                }
            }
        }

        // Busy % summed over the names that have a figure (100 = one thread's worth).
        let mut total_busy_percent: Option<f64> = elapsed_ns.map(|_| 0.0);
        let mut seen = BTreeSet::new();
        let mut new_events = Vec::new();
        for group in &document.groups {
            seen.insert(group.name.clone());
            let previous = self.previous.get(&group.name).copied();
            let (state, retry_in) = self.state_of(group, states.get(group.name.as_str()));
            let stuck = state == ServiceState::Stuck;
            let (polls_per_second, busy_percent) = match (previous, elapsed_ns) {
                // A source that computed rates itself (Prometheus) hands them in.
                _ if group.rates.is_some() => {
                    let rates = group.rates.unwrap_or_default();
                    (Some(rates.polls_per_second), Some(rates.busy_percent))
                }
                (Some(previous), Some(elapsed_ns))
                    if group.poll_count >= previous.poll_count
                        && group.total_busy_ns >= previous.total_busy_ns =>
                {
                    let busy_ns = group.total_busy_ns - previous.total_busy_ns;
                    #[allow(clippy::cast_precision_loss)] // display figures
                    let figures = (
                        (group.poll_count - previous.poll_count) as f64 * 1e9 / elapsed_ns as f64,
                        busy_ns as f64 * 100.0 / elapsed_ns as f64,
                    );
                    (Some(figures.0), Some(figures.1))
                }
                _ => (None, None),
            };
            if let Some(busy) = busy_percent {
                *total_busy_percent.get_or_insert(0.0) += busy;
            }
            if let Some(previous) = previous {
                new_events.extend(counter_events(group, &previous, supervised, stuck));
            }
            let wake_to_poll = match (previous.and_then(|p| p.scheduling), group.scheduling) {
                (Some(before), Some(now)) if elapsed_ns.is_some() => {
                    mean_wake_to_poll(&before, &now)
                }
                _ => None,
            };
            self.previous.insert(
                group.name.clone(),
                Previous {
                    poll_count: group.poll_count,
                    total_busy_ns: group.total_busy_ns,
                    restarts: group.restarts,
                    endings: group.endings,
                    stuck,
                    scheduling: group.scheduling,
                },
            );
            let p99 = group.poll_histogram.as_ref().and_then(|histogram| {
                figures::quantile(histogram, &self.histogram_bounds_ns, 0.99)
            });
            let view = self
                .services
                .entry(group.name.clone())
                .or_insert_with(|| ServiceView {
                    name: group.name.clone(),
                    instances: 0,
                    state,
                    polls_per_second: None,
                    busy_percent: None,
                    mean_utilization: 0.0,
                    max_utilization: 0,
                    history: VecDeque::with_capacity(HISTORY_SAMPLES),
                    longest_in_poll: None,
                    slow_polls: None,
                    slow_threshold: None,
                    p99: None,
                    histogram: None,
                    restarts: 0,
                    endings: Endings::default(),
                    retry_in: None,
                    mailbox: None,
                    scheduling: None,
                    wake_to_poll: None,
                    verdict: None,
                    process: None,
                });
            view.instances = group.instances;
            view.state = state;
            view.retry_in = retry_in;
            view.polls_per_second = polls_per_second;
            view.busy_percent = busy_percent;
            if let Some(busy) = busy_percent {
                if view.history.len() == HISTORY_SAMPLES {
                    view.history.pop_front();
                }
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // >= 0, rounded
                view.history.push_back(busy.round() as u64);
            }
            view.mean_utilization = group.mean_utilization;
            view.max_utilization = group.max_utilization;
            view.longest_in_poll = group.longest_in_poll_ns.map(Duration::from_nanos);
            view.slow_polls = group.slow_polls.map(|slow| slow.slow_poll_count);
            view.slow_threshold = group
                .slow_polls
                .map(|slow| Duration::from_nanos(slow.threshold_ns));
            view.p99 = p99;
            view.histogram.clone_from(&group.poll_histogram);
            view.restarts = group.restarts;
            view.endings = group.endings;
            view.mailbox = group.mailbox;
            view.scheduling = group.scheduling;
            view.wake_to_poll = wake_to_poll;
            // The process's own judgement of its last interval (the first one per name).
            view.verdict = document
                .verdicts
                .iter()
                .find(|verdict| verdict.name == group.name)
                .cloned();
        }
        // A name that left the document (another process behind the URL) leaves the table.
        self.services.retain(|name, _| seen.contains(name));
        self.previous.retain(|name, _| seen.contains(name));
        self.expanded.retain(|name| seen.contains(name));
        self.total_busy_percent = total_busy_percent;

        for (severity, text) in new_events {
            self.push_event(now, severity, text);
        }
        if let Some(supervisor) = &document.supervisor {
            for (severity, text) in self.ending_events(&supervisor.recent_endings) {
                if first_document {
                    self.push_event_at(None, severity, text);
                } else {
                    self.push_event(now, severity, text);
                }
            }
        }
        self.update_instances(&document, now);
        self.keep_selection_valid();
    }

    /// The row's state: STUCK beats what the supervisor says; else the supervisor's word;
    /// else running or ended by the live instance count.
    fn state_of(
        &self,
        group: &Group,
        supervised: Option<&(ServiceState, Option<Duration>)>,
    ) -> (ServiceState, Option<Duration>) {
        if group
            .longest_in_poll_ns
            .is_some_and(|in_poll| Duration::from_nanos(in_poll) > self.stuck_after)
        {
            return (ServiceState::Stuck, None);
        }
        match supervised {
            Some(&(state, retry_in)) => (state, retry_in),
            None if group.instances > 0 => (ServiceState::Running, None),
            None => (ServiceState::Ended, None),
        }
    }

    /// Events for supervisor endings not shown yet (by `seq`).
    fn ending_events(&mut self, endings: &[crate::model::RecentEnding]) -> Vec<(Severity, String)> {
        let mut events = Vec::new();
        let fresh: Vec<_> = endings
            .iter()
            .filter(|ending| self.last_seq.is_none_or(|last| ending.seq > last))
            .collect();
        if let (Some(last), Some(first)) = (self.last_seq, fresh.first()) {
            let missed = first.seq.saturating_sub(last.saturating_add(1));
            if missed > 0 {
                events.push((
                    Severity::Warning,
                    format!("{missed} endings happened between two refreshes and are not shown"),
                ));
            }
        }
        for ending in fresh {
            let severity = match ending.exit.as_str() {
                "completed" | "cancelled" => Severity::Info,
                "failed" | "aborted" => Severity::Warning,
                _ => Severity::Error,
            };
            let mut text = format!("{}#{} {}", ending.name, ending.instance_id, ending.exit);
            if let Some(in_poll) = ending.in_poll_ns {
                text.push_str(&format!(
                    " (in a poll for {})",
                    figures::duration(Duration::from_nanos(in_poll))
                ));
            }
            if let Some(message) = &ending.message {
                text.push_str(": ");
                text.push_str(message);
            }
            events.push((severity, text));
            self.last_seq = Some(ending.seq);
        }
        events
    }

    /// Replaces the instance lists, keeping recently ended instances for [`LINGER`].
    fn update_instances(&mut self, document: &Document, now: Instant) {
        let mut fresh: BTreeMap<String, Vec<InstanceView>> = BTreeMap::new();
        for instance in &document.instances {
            fresh
                .entry(instance.name.clone())
                .or_default()
                .push(InstanceView {
                    instance_id: instance.instance_id,
                    poll_count: instance.poll_count,
                    total_busy: Duration::from_nanos(instance.total_busy_ns),
                    utilization: instance.utilization,
                    in_poll: instance.current_poll_ns.map(Duration::from_nanos),
                    age: instance.age_ns.map(Duration::from_nanos),
                    ended_at: None,
                });
        }
        self.live_instances = document.groups.iter().map(|group| group.instances).sum();
        self.unlisted = document.truncated;
        // Names whose listing is cut short: an instance missing from it may still be live.
        let cut_short: BTreeSet<&str> = document
            .groups
            .iter()
            .filter(|group| {
                let listed = fresh.get(&group.name).map_or(0, Vec::len) as u64;
                listed < group.instances
            })
            .map(|group| group.name.as_str())
            .collect();
        self.oldest_instance = document
            .instances
            .iter()
            .filter_map(|instance| instance.age_ns)
            .max()
            .map(Duration::from_nanos);
        for (name, old) in std::mem::take(&mut self.instances) {
            if !self.services.contains_key(&name) {
                continue;
            }
            if cut_short.contains(name.as_str()) {
                // Not listed is not ended: show only what the document lists.
                continue;
            }
            let list = fresh.entry(name).or_default();
            let live: BTreeSet<u64> = list.iter().map(|i| i.instance_id).collect();
            let mut ended: Vec<InstanceView> = old
                .into_iter()
                .filter(|instance| !live.contains(&instance.instance_id))
                .map(|mut instance| {
                    instance.ended_at.get_or_insert(now);
                    instance.in_poll = None;
                    instance
                })
                .collect();
            // Keep the most recently ended ones when churn is fast.
            ended.sort_by_key(|instance| instance.ended_at);
            let excess = ended.len().saturating_sub(MAX_LINGERING_PER_NAME);
            list.extend(ended.into_iter().skip(excess));
        }
        for list in fresh.values_mut() {
            list.sort_by_key(|instance| instance.instance_id);
        }
        self.instances = fresh;
    }

    /// Drops ended instances that have lingered long enough.
    fn expire_lingering(&mut self, now: Instant) {
        for list in self.instances.values_mut() {
            list.retain(|instance| {
                instance
                    .ended_at
                    .is_none_or(|ended| now.saturating_duration_since(ended) < LINGER)
            });
        }
        self.instances.retain(|_, list| !list.is_empty());
        self.keep_selection_valid();
    }

    /// Adds an event that happened `now`, dropping the oldest past [`MAX_EVENTS`].
    pub(crate) fn push_event(&mut self, now: Instant, severity: Severity, text: String) {
        let at = now.saturating_duration_since(self.started);
        self.push_event_at(Some(at), severity, text);
    }

    pub(crate) fn push_event_at(&mut self, at: Option<Duration>, severity: Severity, text: String) {
        self.events_total += 1;
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(Event { at, severity, text });
    }

    /// Service names passing the filter, in display order: stuck first, then by the sort
    /// column (names A to Z, figures largest first; inverted by `reverse`), ties by name.
    pub(crate) fn sorted_services(&self) -> Vec<&ServiceView> {
        let filter = self.filter.to_lowercase();
        let mut services: Vec<&ServiceView> = self
            .services
            .values()
            .filter(|service| filter.is_empty() || service.name.to_lowercase().contains(&filter))
            .collect();
        services.sort_by(|a, b| {
            let stuck = |s: &ServiceView| s.state != ServiceState::Stuck;
            let mut order = compare(a, b, self.sort);
            // Names read A to Z; figures largest first, as in top.
            if self.sort != SortColumn::Name {
                order = order.reverse();
            }
            if self.reverse {
                order = order.reverse();
            }
            stuck(a)
                .cmp(&stuck(b))
                .then(order)
                .then_with(|| a.name.cmp(&b.name))
        });
        services
    }

    /// Every visible row in order: each service, followed by its instances when expanded.
    pub(crate) fn rows(&self) -> Vec<RowKey> {
        let mut rows = Vec::new();
        for service in self.sorted_services() {
            rows.push(RowKey::Service(service.name.clone()));
            if self.expanded.contains(&service.name) {
                for instance in self.instances.get(&service.name).into_iter().flatten() {
                    rows.push(RowKey::Instance(service.name.clone(), instance.instance_id));
                }
            }
        }
        rows
    }

    /// The instance behind an instance row.
    pub(crate) fn instance(&self, name: &str, instance_id: u64) -> Option<&InstanceView> {
        self.instances
            .get(name)?
            .iter()
            .find(|instance| instance.instance_id == instance_id)
    }

    /// The selected row, falling back to the first one.
    pub(crate) fn selected_row(&self) -> Option<RowKey> {
        let rows = self.rows();
        match &self.selected {
            Some(selected) if rows.contains(selected) => Some(selected.clone()),
            _ => rows.into_iter().next(),
        }
    }

    /// Points the selection at a row that still exists: its service, else none (the first
    /// row, whichever it is, until a key selects one).
    pub(crate) fn keep_selection_valid(&mut self) {
        let rows = self.rows();
        if let Some(selected) = &self.selected {
            if rows.contains(selected) {
                return;
            }
            let parent = RowKey::Service(selected.name().to_owned());
            self.selected = rows.contains(&parent).then_some(parent);
        }
    }
}

/// Orders two services by one column, smallest first; absent figures sort lowest.
fn compare(a: &ServiceView, b: &ServiceView, column: SortColumn) -> std::cmp::Ordering {
    let float = |x: Option<f64>, y: Option<f64>| x.unwrap_or(-1.0).total_cmp(&y.unwrap_or(-1.0));
    match column {
        SortColumn::Name => a.name.cmp(&b.name),
        SortColumn::Instances => a.instances.cmp(&b.instances),
        SortColumn::State => a.state.cmp(&b.state),
        SortColumn::PollsPerSecond => float(a.polls_per_second, b.polls_per_second),
        SortColumn::Busy => float(a.busy_percent, b.busy_percent),
        SortColumn::Utilization => a.mean_utilization.total_cmp(&b.mean_utilization),
        SortColumn::InPoll => a.longest_in_poll.cmp(&b.longest_in_poll),
        SortColumn::SlowPolls => a.slow_polls.cmp(&b.slow_polls),
        SortColumn::P99 => a.p99.cmp(&b.p99),
        SortColumn::Mailbox => float(
            a.mailbox.map(|mailbox| mailbox.fill_percent()),
            b.mailbox.map(|mailbox| mailbox.fill_percent()),
        ),
        SortColumn::Restarts => a.restarts.cmp(&b.restarts),
        SortColumn::Endings => a.endings.total().cmp(&b.endings.total()),
    }
}

/// The mean wake-to-poll delay of the polls scheduled between two documents: `None` when
/// none was, or the counters went back (another process behind the URL).
fn mean_wake_to_poll(before: &Scheduling, now: &Scheduling) -> Option<Duration> {
    let scheduled = now.scheduled_count.checked_sub(before.scheduled_count)?;
    let delay_ns = now
        .total_scheduling_delay_ns
        .checked_sub(before.total_scheduling_delay_ns)?;
    (scheduled > 0).then(|| Duration::from_nanos(delay_ns / scheduled))
}

/// Events from counters that grew since the previous document: restarts always (the
/// supervisor's endings list does not carry them), endings only without a supervisor
/// section (with one, its `recent_endings` say more), and a service becoming stuck.
fn counter_events(
    group: &Group,
    previous: &Previous,
    supervised: bool,
    stuck: bool,
) -> Vec<(Severity, String)> {
    let mut events = Vec::new();
    let name = &group.name;
    if stuck && !previous.stuck {
        let in_poll = group.longest_in_poll_ns.map_or_else(String::new, |ns| {
            format!(" for {}", figures::duration(Duration::from_nanos(ns)))
        });
        events.push((
            Severity::Error,
            format!("{name} is STUCK inside one poll{in_poll}"),
        ));
    }
    let restarts = group.restarts.saturating_sub(previous.restarts);
    if restarts > 0 {
        events.push((Severity::Warning, format!("{name} restarted ×{restarts}")));
    }
    if !supervised {
        let now = group.endings;
        let before = previous.endings;
        for (count, outcome, severity) in [
            (
                now.completed.saturating_sub(before.completed),
                "completed",
                Severity::Info,
            ),
            (
                now.failed.saturating_sub(before.failed),
                "failed",
                Severity::Warning,
            ),
            (
                now.panicked.saturating_sub(before.panicked),
                "panicked",
                Severity::Error,
            ),
            (
                now.cancelled.saturating_sub(before.cancelled),
                "cancelled",
                Severity::Info,
            ),
        ] {
            if count > 0 {
                events.push((severity, format!("{name}: {count} {outcome}")));
            }
        }
    }
    events
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
