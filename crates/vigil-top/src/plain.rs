//! `--once`: the services table as plain text, for pipes, scripts and logs.

use std::fmt::Write as _;

use crate::figures;
use crate::stacks::StacksDocument;
use crate::state::{App, Connection};

/// The header line, one line per watched runtime, the table (same rows and order as the
/// screen, instances folded), a `lagging` line per verdict, and the events seen while
/// sampling.
pub(crate) fn render(app: &App) -> String {
    let mut out = String::new();
    let busy = app
        .total_busy_percent
        .map_or_else(|| "-".to_owned(), |busy| format!("{busy:.0}%"));
    let _ = writeln!(
        out,
        "vigil-top {}  live instances {}{}  busy {busy}  over {}",
        app.target,
        app.live_instances,
        figures::unlisted(app.unlisted),
        figures::duration(app.interval)
    );
    if let Connection::Disconnected(reason) | Connection::Invalid(reason) = &app.connection {
        let _ = writeln!(out, "warning: {reason}");
    }
    if let Some(fleet) = &app.fleet {
        for (process, reason) in fleet.down() {
            let _ = writeln!(out, "down {process}: {reason}");
        }
    }
    for runtime in &app.runtimes {
        let _ = writeln!(out, "{}", runtime.line());
    }
    // Several processes: which one each row is in, first.
    let process_width = app.fleet.as_ref().map(|fleet| fleet.label_width().max(7));
    let process_cell = |process: &str| {
        process_width.map_or_else(String::new, |width| format!("{process:<width$} "))
    };
    let _ = write!(out, "{}", process_cell("process"));
    let _ = writeln!(
        out,
        "{:<20} {:>5} {:<11} {:>8} {:>6} {:>7} {:>8} {:>6} {:>8} {:>11} {:>8}  endings",
        "service",
        "inst",
        "state",
        "polls/s",
        "busy%",
        "util",
        "in poll",
        "slow",
        "p99",
        "mailbox",
        "restarts"
    );
    let dash = || "-".to_owned();
    for service in app.sorted_services() {
        let endings = service.endings;
        let _ = write!(
            out,
            "{}",
            process_cell(service.process.as_deref().unwrap_or(""))
        );
        let _ = writeln!(
            out,
            "{:<20} {:>5} {:<11} {:>8} {:>6} {:>7} {:>8} {:>6} {:>8} {:>11} {:>8}  ok {} err {} panic {} cxl {}",
            service.service_name(),
            service.instances,
            service.state.label(),
            service.polls_per_second.map_or_else(dash, figures::rate),
            service
                .busy_percent
                .map_or_else(dash, |busy| format!("{busy:.0}%")),
            format!("{:.0}/{}", service.mean_utilization, service.max_utilization),
            service.longest_in_poll.map_or_else(dash, figures::duration),
            service.slow_polls.map_or_else(dash, |slow| slow.to_string()),
            service.p99.map_or_else(dash, figures::duration),
            service
                .mailbox
                .map_or_else(dash, |mailbox| figures::mailbox(&mailbox)),
            service.restarts,
            endings.completed,
            endings.failed,
            endings.panicked,
            endings.cancelled,
        );
    }
    for service in app.sorted_services() {
        if let Some(verdict) = &service.verdict {
            let _ = writeln!(out, "lagging {}: {}", service.name, verdict.sentence());
        }
    }
    if !app.events.is_empty() {
        let _ = writeln!(out, "events:");
        for event in &app.events {
            let _ = writeln!(out, "  {}", event.text);
        }
    }
    out
}

/// The stacks of the stuck instances, one frame a line with the whole path, for under
/// the table (`--once` against an endpoint with a profiler).
pub(crate) fn render_stacks(stacks: &StacksDocument) -> String {
    let mut out = String::new();
    for entry in &stacks.stuck {
        let thread = match (&entry.thread_name, entry.thread_id) {
            (Some(name), Some(id)) => format!(" (thread {name}, tid {id})"),
            (Some(name), None) => format!(" (thread {name})"),
            (None, Some(id)) => format!(" (thread tid {id})"),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "stack of {}{thread}, in poll for {}:",
            entry.id,
            figures::duration(std::time::Duration::from_nanos(entry.in_poll_ns))
        );
        if let Some(error) = &entry.error {
            let _ = writeln!(out, "  no stack: {error}");
        }
        for (index, frame) in entry.frames.iter().enumerate() {
            let _ = writeln!(out, "  {index:>3} {}", frame.line_within(usize::MAX));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::model::{parse, SAMPLE};

    #[test]
    fn the_plain_table_lists_every_service_stuck_first() {
        let now = Instant::now();
        let mut app = App::new("http://x".to_owned(), Duration::from_secs(1), now);
        let first = parse(SAMPLE.as_bytes()).expect("sample");
        let mut second = first.clone();
        second.taken_at_ns += 1_000_000_000;
        second.groups[0].poll_count += 250;
        second.groups[0].total_busy_ns += 500_000_000;
        app.on_fetch(Ok(first), now);
        app.on_fetch(Ok(second), now + Duration::from_secs(1));
        let text = render(&app);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("vigil-top http://x  live instances 3"));
        assert!(lines[1].starts_with("service"));
        assert!(lines[2].starts_with("stuck") && lines[2].contains("STUCK"));
        assert!(lines[3].starts_with("consumer"), "{text}");
        assert!(lines[3].contains("backing off"), "{text}");
        assert!(lines[3].contains(" 250 "), "polls/s from the delta: {text}");
        assert!(lines[3].contains(" 50% "), "busy% from the delta: {text}");
        assert!(text.contains("consumer#5 panicked: boom"), "{text}");
    }

    #[test]
    fn stacks_print_every_frame_with_its_whole_path_or_the_error() {
        let stacks = crate::stacks::parse(crate::stacks::SAMPLE_STACKS.as_bytes()).expect("sample");
        let text = render_stacks(&stacks);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "stack of stuck#0 (thread tokio-runtime-worker, tid 4242), in poll for 2.50s:"
        );
        assert_eq!(lines[1], "    0 [libc.so.6]");
        assert_eq!(
            lines[3],
            "    2 vigil::demo::wait_for_legacy_lock (inlined)  /work/main/crates/vigil/src/demo.rs:205"
        );
        assert_eq!(lines[10], "stack of other#3, in poll for 1.50s:");
        assert_eq!(
            lines[11],
            "  no stack: the thread did not answer within 250ms"
        );
    }
}
