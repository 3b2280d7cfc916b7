//! Every source on one screen: one [`App`] per process ingests that process's documents
//! (rates, events, instances: the single-process code path), and the screen's `App` shows
//! their union.
//!
//! With one endpoint the union is that process's state as it is. With several processes
//! (several URLs, or a Prometheus server), every row is keyed `process/service` and carries
//! its process (the `process` column); a process that does not answer keeps its last rows,
//! marked `down`, and is named with its last error in the header while the others stay
//! live; it comes back with its next document. Events read `process: …`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::feed::{Decoded, Kind, SourceSpec};
use crate::source::FetchError;
use crate::state::{App, Connection, FleetView, ServiceState, MAX_EVENTS};

/// Why a process that had series in Prometheus is shown down when they are gone.
const GONE_FROM_PROMETHEUS: &str =
    "no vigil series in Prometheus any more (the target is down, or no longer scraped)";

/// One process: its own dashboard state, and whether its last fetch failed.
#[derive(Debug)]
struct Process {
    app: App,
    /// The source it comes from (its URL).
    source: String,
    /// The last error, while it does not answer.
    down: Option<String>,
    /// How many of its events the screen has (`App::events_total` when last shown).
    forwarded: u64,
}

/// The processes of every source, merged into the screen's state by [`Fleet::show`].
#[derive(Debug)]
pub(crate) struct Fleet {
    processes: BTreeMap<String, Process>,
    /// Several processes: rows keyed `process/service`, with a `process` column.
    labelled: bool,
    /// Errors of sources that name no process (a Prometheus server that does not answer).
    source_errors: BTreeMap<String, FetchError>,
    /// The header's target, before the process count.
    target: String,
    started: Instant,
    stuck_after: Duration,
    interval: Duration,
}

impl Fleet {
    /// The processes of `sources`, shown as `target`; `started` is the screen's own start
    /// (event times are counted from it).
    pub(crate) fn new(
        sources: &[SourceSpec],
        target: String,
        interval: Duration,
        stuck_after: Duration,
        started: Instant,
    ) -> Self {
        let labelled = sources.len() > 1 || sources.iter().any(|s| s.kind == Kind::Prometheus);
        let mut fleet = Self {
            processes: BTreeMap::new(),
            labelled,
            source_errors: BTreeMap::new(),
            target,
            started,
            stuck_after,
            interval,
        };
        // Endpoints are known from the start: one that never answers is shown down.
        for source in sources.iter().filter(|s| s.kind == Kind::Snapshot) {
            fleet.process(&source.label(), &source.url);
        }
        fleet
    }

    fn process(&mut self, label: &str, source: &str) -> &mut Process {
        let (started, interval, stuck_after) = (self.started, self.interval, self.stuck_after);
        self.processes.entry(label.to_owned()).or_insert_with(|| {
            let mut app = App::new(label.to_owned(), interval, started);
            app.stuck_after = stuck_after;
            Process {
                app,
                source: source.to_owned(),
                down: None,
                forwarded: 0,
            }
        })
    }

    /// Takes in one decoded fetch that arrived `now`.
    pub(crate) fn on_decoded(&mut self, decoded: Decoded, now: Instant) {
        match decoded.processes {
            Ok(processes) => {
                self.source_errors.remove(&decoded.source);
                let mut listed = Vec::with_capacity(processes.len());
                for (label, fetched) in processes {
                    let process = self.process(&label, &decoded.source);
                    process.down = fetched.as_ref().err().map(ToString::to_string);
                    process.app.on_fetch(fetched, now);
                    listed.push(label);
                }
                // Prometheus lists every process it has: one it no longer lists is down.
                if decoded.kind == Kind::Prometheus {
                    for (label, process) in &mut self.processes {
                        if process.source == decoded.source && !listed.contains(label) {
                            let gone = FetchError::Unreachable(GONE_FROM_PROMETHEUS.to_owned());
                            process.down = Some(gone.to_string());
                            process.app.on_fetch(Err(gone), now);
                        }
                    }
                }
            }
            Err(error) => {
                for process in self.processes.values_mut() {
                    if process.source == decoded.source {
                        process.down = Some(error.to_string());
                        process.app.on_fetch(Err(error.clone()), now);
                    }
                }
                self.source_errors.insert(decoded.source, error);
            }
        }
    }

    /// Puts the union of the processes' states into `view` (the screen's state), keeping
    /// what belongs to the screen: sort, filter, selection, expansions, pause, help,
    /// stacks and profile. While `view` is paused nothing changes.
    pub(crate) fn show(&mut self, view: &mut App) {
        if view.paused {
            return;
        }
        if self.processes.is_empty() {
            // No process yet: only a source error to show.
            view.target.clone_from(&self.target);
            if let Some(error) = self.source_errors.values().next() {
                view.connection = connection_of(error);
            }
            return;
        }
        if !self.labelled && self.processes.len() == 1 {
            if let Some(process) = self.processes.values().next() {
                copy_one(&process.app, view, &self.target);
            }
        } else {
            self.merge(view);
        }
        self.forward_events(view);
        view.drop_stale_stacks();
        view.keep_selection_valid();
    }

    fn merge(&self, view: &mut App) {
        view.services.clear();
        view.instances.clear();
        view.runtimes.clear();
        view.histogram_bounds_ns.clear();
        view.live_instances = 0;
        view.unlisted = None;
        view.total_busy_percent = None;
        view.oldest_instance = None;
        view.updated_at = None;
        let mut processes = Vec::with_capacity(self.processes.len());
        for (label, process) in &self.processes {
            let app = &process.app;
            processes.push((label.clone(), process.down.clone()));
            for (name, service) in &app.services {
                let mut service = service.clone();
                service.name = format!("{label}/{name}");
                service.process = Some(label.clone());
                if process.down.is_some() {
                    // The last figures stay; nothing is measured now.
                    service.state = ServiceState::Down;
                    service.polls_per_second = None;
                    service.busy_percent = None;
                }
                view.services.insert(service.name.clone(), service);
            }
            for (name, instances) in &app.instances {
                view.instances
                    .insert(format!("{label}/{name}"), instances.clone());
            }
            if view.histogram_bounds_ns.is_empty() {
                view.histogram_bounds_ns
                    .clone_from(&app.histogram_bounds_ns);
            }
            view.updated_at = view.updated_at.max(app.updated_at);
            if process.down.is_some() {
                // Its runtimes, instance count and busy share are unknown now.
                continue;
            }
            for runtime in &app.runtimes {
                let mut runtime = runtime.clone();
                runtime.name = format!("{label}/{}", runtime.name);
                view.runtimes.push(runtime);
            }
            view.live_instances += app.live_instances;
            view.unlisted = view.unlisted.or(app.unlisted);
            if let Some(busy) = app.total_busy_percent {
                *view.total_busy_percent.get_or_insert(0.0) += busy;
            }
            view.oldest_instance = view.oldest_instance.max(app.oldest_instance);
        }
        let any_up = processes.iter().any(|(_, down)| down.is_none());
        view.connection = if let Some(error) = self.source_errors.values().next() {
            connection_of(error)
        } else if any_up {
            if view.updated_at.is_some() {
                Connection::Connected
            } else {
                Connection::Connecting
            }
        } else {
            let reason = processes
                .iter()
                .find_map(|(_, down)| down.clone())
                .unwrap_or_default();
            Connection::Disconnected(reason)
        };
        view.target = format!(
            "{} ({} process{})",
            self.target,
            processes.len(),
            if processes.len() == 1 { "" } else { "es" }
        );
        view.fleet = Some(FleetView { processes });
    }
}

impl Fleet {
    /// Appends the events the processes logged since the last show (the screen keeps its
    /// own too: profiles), oldest first, prefixed with their process when labelled.
    fn forward_events(&mut self, view: &mut App) {
        let mut fresh = Vec::new();
        for (label, process) in &mut self.processes {
            let app = &process.app;
            let new = usize::try_from(app.events_total.saturating_sub(process.forwarded))
                .unwrap_or(usize::MAX)
                .min(app.events.len());
            process.forwarded = app.events_total;
            for event in app.events.iter().skip(app.events.len() - new) {
                let mut event = event.clone();
                if self.labelled {
                    event.text = format!("{label}: {}", event.text);
                }
                fresh.push(event);
            }
        }
        // A stable sort keeps each process's order.
        fresh.sort_by_key(|event| event.at);
        for event in fresh.into_iter().rev().take(MAX_EVENTS).rev() {
            view.push_event_at(event.at, event.severity, event.text);
        }
    }
}

/// How a source error reads in the header.
fn connection_of(error: &FetchError) -> Connection {
    match error {
        FetchError::Unreachable(reason) => Connection::Disconnected(reason.clone()),
        FetchError::Invalid(reason) => Connection::Invalid(reason.clone()),
    }
}

/// One process on its own: the screen shows its state as it is.
fn copy_one(app: &App, view: &mut App, target: &str) {
    view.target = target.to_owned();
    view.connection = app.connection.clone();
    view.updated_at = app.updated_at;
    view.services.clone_from(&app.services);
    view.instances.clone_from(&app.instances);
    view.histogram_bounds_ns
        .clone_from(&app.histogram_bounds_ns);
    view.live_instances = app.live_instances;
    view.unlisted = app.unlisted;
    view.total_busy_percent = app.total_busy_percent;
    view.oldest_instance = app.oldest_instance;
    view.runtimes.clone_from(&app.runtimes);
    view.fleet = None;
}

#[cfg(test)]
#[path = "fleet_tests.rs"]
pub(crate) mod tests;
