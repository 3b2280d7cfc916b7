//! State tests: differences between documents, ordering, events, bounded memory.

use std::time::{Duration, Instant};

use super::*;
use crate::model::parse;

/// A document without supervisor: `(name, live instance ids, poll_count, busy_ms, panicked)`.
fn document(taken_at_ms: u64, groups: &[(&str, &[u64], u64, u64, u64)]) -> Document {
    let groups_json: Vec<String> = groups
        .iter()
        .map(|(name, ids, polls, busy_ms, panicked)| {
            format!(
                r#"{{"name":"{name}","instances":{},"restarts":0,
                   "endings":{{"completed":0,"failed":0,"panicked":{panicked},"cancelled":0}},
                   "poll_count":{polls},"total_busy_ns":{},"mean_utilization":1.0,
                   "max_utilization":1,"in_poll":0,"longest_in_poll_ns":null}}"#,
                ids.len(),
                busy_ms * 1_000_000
            )
        })
        .collect();
    let instances_json: Vec<String> = groups
        .iter()
        .flat_map(|(name, ids, ..)| {
            ids.iter().map(move |id| {
                format!(
                    r#"{{"name":"{name}","instance_id":{id},"poll_count":1,"total_busy_ns":1,
                       "utilization":1,"current_poll_ns":null,"age_ns":1}}"#
                )
            })
        })
        .collect();
    let text = format!(
        r#"{{"schema_version":1,"taken_at_ns":{},"groups":[{}],"instances":[{}]}}"#,
        taken_at_ms * 1_000_000,
        groups_json.join(","),
        instances_json.join(",")
    );
    parse(text.as_bytes()).expect("test document")
}

fn order(app: &App) -> Vec<&str> {
    app.sorted_services()
        .iter()
        .map(|service| service.name.as_str())
        .collect()
}

#[test]
fn rates_come_from_differences_over_the_documents_clock() {
    let now = Instant::now();
    let mut app = App::new("t".to_owned(), Duration::from_secs(1), now);
    app.ingest(document(1_000, &[("a", &[0, 1], 100, 0, 0)]), now);
    assert_eq!(
        app.services["a"].polls_per_second, None,
        "one document: no rate"
    );
    // 2 s later by the target's clock, whenever it arrives here.
    app.ingest(document(3_000, &[("a", &[0, 1], 500, 1_000, 0)]), now);
    let a = &app.services["a"];
    assert_eq!(a.polls_per_second, Some(200.0));
    assert_eq!(a.busy_percent, Some(50.0));
    assert_eq!(a.history, [50]);
    assert_eq!(app.total_busy_percent, Some(50.0));
}

#[test]
fn figures_sort_largest_first_names_a_to_z_and_r_inverts() {
    let now = Instant::now();
    let mut app = App::new("t".to_owned(), Duration::from_secs(1), now);
    let groups = |at_ms: u64, busy: [u64; 3]| {
        document(
            at_ms,
            &[
                ("low", &[0], 0, busy[0], 0),
                ("high", &[0], 0, busy[1], 0),
                ("mid", &[0], 0, busy[2], 0),
            ],
        )
    };
    app.ingest(groups(1_000, [0, 0, 0]), now);
    app.ingest(groups(2_000, [100, 900, 500]), now);
    assert_eq!(app.sort, SortColumn::Busy);
    assert_eq!(order(&app), ["high", "mid", "low"]);
    app.reverse = true;
    assert_eq!(order(&app), ["low", "mid", "high"]);
    app.reverse = false;
    app.sort = SortColumn::Name;
    assert_eq!(order(&app), ["high", "low", "mid"]);
}

#[test]
fn the_history_ring_keeps_the_last_sixty_samples() {
    let now = Instant::now();
    let mut app = App::new("t".to_owned(), Duration::from_secs(1), now);
    for step in 0..200u64 {
        app.ingest(
            document(step * 1_000, &[("a", &[0], step, step * 10 % 1_000, 0)]),
            now,
        );
    }
    let history = &app.services["a"].history;
    assert_eq!(history.len(), HISTORY_SAMPLES);
    assert_eq!(history.back(), Some(&1), "the newest sample is last");
}

#[test]
fn endings_and_restarts_become_events_without_a_supervisor() {
    let now = Instant::now();
    let mut app = App::new("t".to_owned(), Duration::from_secs(1), now);
    app.ingest(document(1_000, &[("a", &[0], 0, 0, 2)]), now);
    assert!(app.events.is_empty(), "no baseline, no events");
    app.ingest(document(2_000, &[("a", &[1], 0, 0, 5)]), now);
    let texts: Vec<&str> = app.events.iter().map(|event| event.text.as_str()).collect();
    assert_eq!(texts, ["a: 3 panicked"]);
    assert_eq!(app.events[0].severity, Severity::Error);
}

#[test]
fn supervisor_endings_are_shown_once_by_seq() {
    let now = Instant::now();
    let mut app = App::new("t".to_owned(), Duration::from_secs(1), now);
    let with_endings = |seqs: &[u64]| {
        let endings: Vec<String> = seqs
            .iter()
            .map(|seq| {
                format!(
                    r#"{{"seq":{seq},"name":"a","instance_id":{seq},"exit":"abandoned",
                        "message":null,"in_poll_ns":2000000000}}"#
                )
            })
            .collect();
        let text = format!(
            r#"{{"schema_version":1,"taken_at_ns":1,"groups":[],"instances":[],
               "supervisor":{{"services":[],"recent_endings":[{}]}}}}"#,
            endings.join(",")
        );
        parse(text.as_bytes()).expect("document")
    };
    app.ingest(with_endings(&[]), now);
    app.ingest(with_endings(&[1, 2]), now);
    app.ingest(with_endings(&[1, 2, 3]), now);
    app.ingest(with_endings(&[7, 8]), now);
    let texts: Vec<&str> = app.events.iter().map(|event| event.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "a#1 abandoned (in a poll for 2.00s)",
            "a#2 abandoned (in a poll for 2.00s)",
            "a#3 abandoned (in a poll for 2.00s)",
            "3 endings happened between two refreshes and are not shown",
            "a#7 abandoned (in a poll for 2.00s)",
            "a#8 abandoned (in a poll for 2.00s)",
        ]
    );
    assert!(app.events.iter().all(|event| event.at.is_some()));
    // Attaching to a process that already had endings: those are marked as prior.
    let mut late = App::new("t".to_owned(), Duration::from_secs(1), now);
    late.ingest(with_endings(&[4, 5]), now);
    late.ingest(with_endings(&[4, 5, 6]), now);
    let stamped: Vec<bool> = late.events.iter().map(|event| event.at.is_some()).collect();
    assert_eq!(stamped, [false, false, true]);
}

#[test]
fn ended_instances_linger_then_leave() {
    let start = Instant::now();
    let mut app = App::new("t".to_owned(), Duration::from_secs(1), start);
    app.on_fetch(Ok(document(1_000, &[("a", &[0, 1], 0, 0, 0)])), start);
    app.on_fetch(Ok(document(2_000, &[("a", &[1, 2], 0, 0, 0)])), start);
    let ids = |app: &App| -> Vec<(u64, bool)> {
        app.instances["a"]
            .iter()
            .map(|instance| (instance.instance_id, instance.ended_at.is_some()))
            .collect()
    };
    assert_eq!(ids(&app), [(0, true), (1, false), (2, false)]);
    app.on_fetch(
        Ok(document(3_000, &[("a", &[1, 2], 0, 0, 0)])),
        start + LINGER + Duration::from_millis(1),
    );
    assert_eq!(ids(&app), [(1, false), (2, false)]);
}

#[test]
fn fast_churn_lingers_a_bounded_number_of_instances() {
    let start = Instant::now();
    let mut app = App::new("t".to_owned(), Duration::from_secs(1), start);
    for step in 0..50u64 {
        let ids: Vec<u64> = (step * 100..step * 100 + 100).collect();
        app.on_fetch(Ok(document(step * 1_000, &[("a", &ids, 0, 0, 0)])), start);
    }
    let ended = app.instances["a"]
        .iter()
        .filter(|instance| instance.ended_at.is_some())
        .count();
    assert_eq!(ended, 64);
    assert_eq!(app.instances["a"].len(), 164);
}

#[test]
fn events_are_capped() {
    let now = Instant::now();
    let mut app = App::new("t".to_owned(), Duration::from_secs(1), now);
    for step in 0..1_000u64 {
        app.ingest(document(step * 1_000, &[("a", &[0], 0, 0, step)]), now);
    }
    assert_eq!(app.events.len(), MAX_EVENTS);
    assert_eq!(
        app.events.back().map(|e| e.text.as_str()),
        Some("a: 1 panicked")
    );
}

#[test]
fn a_clock_going_back_restarts_the_history() {
    let now = Instant::now();
    let mut app = App::new("t".to_owned(), Duration::from_secs(1), now);
    app.ingest(document(5_000, &[("a", &[0], 100, 100, 0)]), now);
    app.ingest(document(6_000, &[("a", &[0], 200, 200, 0)]), now);
    assert_eq!(app.services["a"].history.len(), 1);
    app.ingest(document(1_000, &[("b", &[0], 10, 10, 0)]), now);
    assert!(
        !app.services.contains_key("a"),
        "names of the old process leave"
    );
    assert_eq!(app.services["b"].polls_per_second, None);
    assert!(app
        .events
        .iter()
        .any(|event| event.text.contains("clock went back")));
}

#[test]
fn a_stuck_service_is_stuck_and_announced_once() {
    let now = Instant::now();
    let mut app = App::new("t".to_owned(), Duration::from_secs(1), now);
    let stuck = |at_ms: u64, in_poll_ns: &str| {
        let text = format!(
            r#"{{"schema_version":1,"taken_at_ns":{},"groups":[{{"name":"s","instances":1,
               "poll_count":1,"total_busy_ns":1,"longest_in_poll_ns":{in_poll_ns}}}]}}"#,
            at_ms * 1_000_000
        );
        parse(text.as_bytes()).expect("document")
    };
    app.ingest(stuck(1_000, "null"), now);
    app.ingest(stuck(2_000, "500000000"), now);
    assert_eq!(app.services["s"].state, ServiceState::Running);
    app.ingest(stuck(3_000, "1500000000"), now);
    assert_eq!(app.services["s"].state, ServiceState::Stuck);
    app.ingest(stuck(4_000, "2500000000"), now);
    let announced = app
        .events
        .iter()
        .filter(|event| event.text.starts_with("s is STUCK"))
        .count();
    assert_eq!(announced, 1);
}

#[test]
fn extreme_figures_do_not_panic() {
    let now = Instant::now();
    let mut app = App::new("t".to_owned(), Duration::from_secs(1), now);
    let text = crate::model::extreme_document();
    let document = parse(text.as_bytes()).expect("extreme but well-formed");
    app.ingest(document.clone(), now);
    app.ingest(document, now);
    app.sort = SortColumn::Endings;
    assert_eq!(app.sorted_services().len(), 2);
    assert_eq!(app.services["a"].state, ServiceState::Stuck);
    let _ = crate::plain::render(&app);
}

#[test]
fn stacks_are_wanted_while_a_stuck_service_is_shown_and_never_after_a_404() {
    use crate::source::StacksError;
    use crate::stacks::StackInterest;
    let now = Instant::now();
    let mut app = App::new("t".to_owned(), Duration::from_secs(1), now);
    let sample = parse(crate::model::SAMPLE.as_bytes()).expect("sample");
    app.on_fetch(Ok(sample.clone()), now);
    // Following the first row: the poller fetches when a stuck one passes the filter.
    let interest = app.stack_interest();
    assert_eq!(
        interest,
        StackInterest::FirstRow {
            filter: String::new()
        }
    );
    assert!(interest.wants_stacks(&sample, app.stuck_after));
    app.filter = "cons".to_owned();
    assert!(!app.stack_interest().wants_stacks(&sample, app.stuck_after));
    app.filter.clear();
    // A picked row: only that name.
    app.selected = Some(RowKey::Service("consumer".to_owned()));
    assert_eq!(
        app.stack_interest(),
        StackInterest::Service("consumer".to_owned())
    );
    assert!(!app.stack_interest().wants_stacks(&sample, app.stuck_after));
    app.selected = Some(RowKey::Service("stuck".to_owned()));
    assert!(app.stack_interest().wants_stacks(&sample, app.stuck_after));

    // A failure other than 404 is shown and the next refresh asks again.
    app.on_stacks(Err(StacksError::Failed("timed out".to_owned())));
    assert_eq!(app.stacks.error.as_deref(), Some("timed out"));
    assert_ne!(app.stack_interest(), StackInterest::None);
    // A 404 is remembered: no profiler, never asked again, whatever is shown.
    app.on_stacks(Err(StacksError::NoProfiler));
    assert_eq!(app.stacks.route, crate::profiling::StacksRoute::Absent);
    assert!(app.stacks.error.is_none());
    for _ in 0..3 {
        app.on_fetch(Ok(sample.clone()), now);
        assert_eq!(app.stack_interest(), StackInterest::None);
    }
    app.selected = None;
    assert_eq!(app.stack_interest(), StackInterest::None);
}

#[test]
fn stacks_are_dropped_once_nothing_is_stuck() {
    let now = Instant::now();
    let mut app = App::new("t".to_owned(), Duration::from_secs(1), now);
    let mut document = parse(crate::model::SAMPLE.as_bytes()).expect("sample");
    app.on_fetch(Ok(document.clone()), now);
    app.on_stacks(Ok(crate::stacks::parse(
        crate::stacks::SAMPLE_STACKS.as_bytes(),
    )
    .expect("stacks")));
    assert_eq!(app.stacks.route, crate::profiling::StacksRoute::Present);
    assert!(app.stacks.document.is_some());
    document.taken_at_ns += 1_000_000_000;
    document.groups[1].longest_in_poll_ns = None;
    app.on_fetch(Ok(document), now);
    assert!(
        app.stacks.document.is_none(),
        "the poll ended: its stack goes"
    );
    assert_eq!(app.stacks.route, crate::profiling::StacksRoute::Present);
}

#[test]
fn a_truncated_list_counts_every_live_instance_and_marks_none_ended() {
    let start = Instant::now();
    let mut app = App::new("t".to_owned(), Duration::from_secs(1), start);
    app.on_fetch(Ok(document(1_000, &[("a", &[0, 1, 2, 3], 0, 0, 0)])), start);
    // The endpoint now lists two of the four live instances (its limit), and says so.
    let truncated = parse(
        br#"{"schema_version":1,"taken_at_ns":2000000000,
            "groups":[{"name":"a","instances":4,"restarts":0,
              "endings":{"completed":0,"failed":0,"panicked":0,"cancelled":0},
              "poll_count":0,"total_busy_ns":0,"mean_utilization":1.0,"max_utilization":1,
              "in_poll":0,"longest_in_poll_ns":null}],
            "instances":[
              {"name":"a","instance_id":0,"poll_count":1,"total_busy_ns":1,"utilization":1,
               "current_poll_ns":null,"age_ns":1},
              {"name":"a","instance_id":1,"poll_count":1,"total_busy_ns":1,"utilization":1,
               "current_poll_ns":null,"age_ns":1}],
            "truncated":{"instance_limit":2,"instances_left_out":2}}"#,
    )
    .expect("truncated document");
    app.on_fetch(Ok(truncated), start);
    assert_eq!(
        app.live_instances, 4,
        "from the per-name counts, not the list"
    );
    assert_eq!(app.unlisted.map(|cut| cut.instances_left_out), Some(2));
    let listed: Vec<(u64, bool)> = app.instances["a"]
        .iter()
        .map(|instance| (instance.instance_id, instance.ended_at.is_some()))
        .collect();
    assert_eq!(listed, [(0, false), (1, false)], "unlisted is not ended");
    assert!(crate::plain::render(&app).contains("live instances 4 (2 not listed: limit 2)"));
}

#[test]
fn version_1_and_version_2_documents_are_both_accepted_and_version_3_is_refused() {
    let now = Instant::now();
    let mut app = App::new("t".to_owned(), Duration::from_secs(1), now);
    // A target upgraded under the dashboard: version 1, then version 2 documents.
    app.ingest(document(1_000, &[("ingest", &[0], 100, 0, 0)]), now);
    assert!(app.runtimes.is_empty());
    assert_eq!(app.services["ingest"].mailbox, None);
    let v2 = parse(crate::model::SAMPLE_V2.as_bytes()).expect("version 2");
    app.on_fetch(Ok(v2), now);
    assert_eq!(app.connection, Connection::Connected);
    assert_eq!(app.runtimes.len(), 2);
    let ingest = &app.services["ingest"];
    assert_eq!(
        ingest.mailbox.map(|m| (m.depth, m.capacity)),
        Some((1000, 1000))
    );
    assert_eq!(
        ingest.verdict.as_ref().map(|v| v.cause.as_str()),
        Some("backlogged")
    );
    // Version 3 is refused with the reader's versions in the reason; the figures stay.
    let error = parse(br#"{"schema_version":3,"taken_at_ns":1}"#).expect_err("version 3");
    app.on_fetch(Err(FetchError::Invalid(error.to_string())), now);
    match &app.connection {
        Connection::Invalid(reason) => {
            assert!(reason.contains("unsupported schema_version 3"), "{reason}");
            assert!(reason.contains("reads 1 to 2"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(app.runtimes.len(), 2);
}

#[test]
fn wake_to_poll_is_the_mean_of_the_last_interval_and_verdicts_follow_each_document() {
    let now = Instant::now();
    let mut app = App::new("t".to_owned(), Duration::from_secs(1), now);
    let mut document = parse(crate::model::SAMPLE_V2.as_bytes()).expect("version 2");
    app.ingest(document.clone(), now);
    assert_eq!(app.services["ingest"].wake_to_poll, None, "one document");
    document.taken_at_ns += 1_000_000_000;
    let scheduling = document.groups[0].scheduling.as_mut().expect("scheduling");
    scheduling.scheduled_count += 10;
    scheduling.total_scheduling_delay_ns += 50_000_000;
    // The process no longer judges `ingest` lagging.
    document.verdicts.remove(0);
    app.ingest(document.clone(), now);
    let ingest = &app.services["ingest"];
    assert_eq!(ingest.wake_to_poll, Some(Duration::from_millis(5)));
    assert!(ingest.verdict.is_none());
    assert!(app.services["parser"].verdict.is_some());
    // No poll after a wake in the next interval: no mean.
    document.taken_at_ns += 1_000_000_000;
    app.ingest(document.clone(), now);
    assert_eq!(app.services["ingest"].wake_to_poll, None);
    // Sorting by mailbox: fullest first, no mailbox last.
    app.sort = SortColumn::Mailbox;
    assert_eq!(order(&app), ["ingest", "parser", "writer", "idle"]);
}

#[test]
fn a_target_restart_forgets_the_runtimes_counters() {
    let now = Instant::now();
    let mut app = App::new("t".to_owned(), Duration::from_secs(1), now);
    let mut document = parse(crate::model::SAMPLE_V2.as_bytes()).expect("version 2");
    app.ingest(document.clone(), now);
    document.taken_at_ns += 1_000_000_000;
    app.ingest(document.clone(), now);
    assert_eq!(app.runtimes[0].busy_percent(), Some(0.0));
    // The clock went back (a new process): no busy share from the old counters.
    document.taken_at_ns = 1;
    app.ingest(document, now);
    assert_eq!(app.runtimes[0].busy_percent(), None);
}

#[test]
fn once_prints_runtime_lines_the_mailbox_column_and_a_lagging_line_per_verdict() {
    let now = Instant::now();
    let mut app = App::new("http://x".to_owned(), Duration::from_secs(1), now);
    let mut document = parse(crate::model::SAMPLE_V2.as_bytes()).expect("version 2");
    app.on_fetch(Ok(document.clone()), now);
    document.taken_at_ns += 1_000_000_000;
    document.runtime[0].workers[0].busy_ns += 980_000_000;
    document.runtime[0].workers[1].busy_ns += 1_000_000_000;
    app.on_fetch(Ok(document), now + Duration::from_secs(1));
    let text = crate::plain::render(&app);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[1],
        "runtime main: 2 workers 99% busy (98%, 100%), 1234 tasks, queue 0"
    );
    assert_eq!(
        lines[2],
        "runtime blocking-io: 1 worker 0% busy (0%), 3 tasks, queue 7"
    );
    assert!(lines[3].starts_with("service") && lines[3].contains("mailbox"));
    let row = |name: &str| {
        lines
            .iter()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    // The columns keep their places: a `-` where there is no mailbox.
    assert_eq!(row("ingest")[9], "1000/1000", "{text}");
    assert_eq!(row("parser")[9], "600/1000", "{text}");
    assert_eq!(row("idle")[9], "-", "{text}");
    let lagging: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|line| line.starts_with("lagging "))
        .collect();
    assert_eq!(
        lagging,
        [
            "lagging ingest: backlogged (mailbox 1000/1000, oldest 3.2 s)",
            "lagging parser: polls slow (p99 8 ms)",
            "lagging writer: runtime saturated (2/2 workers 99 % busy, wake-to-poll 40 ms)",
        ]
    );
    let table_end = lines.iter().position(|line| line.starts_with("writer"));
    let first_lagging = lines.iter().position(|line| line.starts_with("lagging"));
    assert!(first_lagging > table_end, "under the table:\n{text}");
}
