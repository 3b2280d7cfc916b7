//! Rendering tests: the screen drawn on ratatui's `TestBackend`, asserted cell by cell.

use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;
use ratatui::Terminal;

use super::{draw, Theme};
use crate::model::{parse, SAMPLE};
use crate::source::FetchError;
use crate::state::App;

pub(super) const WIDTH: u16 = 140;
pub(super) const HEIGHT: u16 = 40;
/// The first table row: two header lines, then the column titles.
const FIRST_ROW: u16 = 3;

/// An app that has read the sample three times, a second apart, with the consumer busy.
fn app() -> App {
    let start = Instant::now();
    let mut app = App::new("http://test".to_owned(), Duration::from_secs(1), start);
    let mut document = parse(SAMPLE.as_bytes()).expect("sample");
    for step in 0..3u64 {
        app.on_fetch(Ok(document.clone()), start + Duration::from_secs(step));
        document.taken_at_ns += 1_000_000_000;
        document.groups[0].poll_count += 100;
        document.groups[0].total_busy_ns += 300_000_000 * (step + 1);
    }
    app
}

pub(super) fn render(app: &App, color: bool) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).expect("test terminal");
    terminal
        .draw(|frame| draw(frame, app, Theme { color }))
        .expect("draw");
    terminal.backend().buffer().clone()
}

pub(super) fn line(buffer: &Buffer, y: u16) -> String {
    (0..buffer.area.width)
        .map(|x| buffer[(x, y)].symbol())
        .collect()
}

pub(super) fn text(buffer: &Buffer) -> String {
    (0..buffer.area.height)
        .map(|y| line(buffer, y))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The y of the first line containing `needle` at or below `from`.
pub(super) fn find(buffer: &Buffer, needle: &str, from: u16) -> Option<u16> {
    (from..buffer.area.height).find(|y| line(buffer, *y).contains(needle))
}

#[test]
fn header_and_a_row_per_service_are_drawn() {
    let buffer = render(&app(), true);
    let header = line(&buffer, 0);
    assert!(header.starts_with("vigil-top http://test"), "{header}");
    assert!(header.contains("live instances 3"), "{header}");
    assert!(header.contains("● live"), "{header}");
    let titles = line(&buffer, FIRST_ROW - 1);
    for title in [
        "service", "inst", "state", "polls/s", "busy%", "p99", "restarts",
    ] {
        assert!(titles.contains(title), "{title} missing from {titles}");
    }
    let consumer = line(&buffer, FIRST_ROW + 1);
    assert!(consumer.contains("consumer"), "{consumer}");
    assert!(
        consumer.contains("retry 400.0ms"),
        "backing off: {consumer}"
    );
    assert!(consumer.contains("100"), "polls/s: {consumer}");
    assert!(
        consumer.contains("60%"),
        "busy% of the last interval: {consumer}"
    );
    assert!(consumer.contains("4 panic"), "endings: {consumer}");
}

#[test]
fn the_stuck_row_comes_first_and_is_red() {
    let mut app = app();
    // Whatever the sort, stuck stays on top.
    app.sort = crate::state::SortColumn::Name;
    let buffer = render(&app, true);
    let row = line(&buffer, FIRST_ROW);
    assert!(row.contains("stuck") && row.contains("STUCK"), "{row}");
    let x = u16::try_from(row.find("stuck").expect("name")).expect("narrow");
    assert_eq!(buffer[(x, FIRST_ROW)].fg, Color::Red);
    let consumer_x = u16::try_from(
        line(&buffer, FIRST_ROW + 1)
            .find("consumer")
            .expect("consumer row"),
    )
    .expect("narrow");
    assert_ne!(buffer[(consumer_x, FIRST_ROW + 1)].fg, Color::Red);
}

#[test]
fn the_busy_history_is_drawn_as_a_sparkline() {
    let buffer = render(&app(), true);
    let consumer = line(&buffer, FIRST_ROW + 1);
    let bars: Vec<char> = consumer
        .chars()
        .filter(|c| ('▁'..='█').contains(c))
        .collect();
    // Two samples (30 %, 60 %): two bars, the newer one taller.
    assert_eq!(bars.len(), 2, "{consumer}");
    assert!(bars[1] > bars[0], "{bars:?}");
}

#[test]
fn the_filter_hides_other_names_and_shows_in_the_header() {
    let mut app = app();
    app.filter = "cons".to_owned();
    let buffer = render(&app, true);
    assert!(line(&buffer, 1).contains("filter /cons"));
    assert!(line(&buffer, FIRST_ROW).contains("consumer"));
    assert_eq!(find(&buffer, "STUCK", FIRST_ROW), None, "{}", text(&buffer));
    app.filter = "nothing-matches".to_owned();
    let buffer = render(&app, true);
    assert!(line(&buffer, FIRST_ROW).contains("no service name contains"));
}

#[test]
fn question_mark_draws_the_help_overlay() {
    let mut app = app();
    assert_eq!(find(&render(&app, true), "vigil-top keys", 0), None);
    app.show_help = true;
    let buffer = render(&app, true);
    let top = find(&buffer, "vigil-top keys", 0).expect("help title");
    assert!(find(&buffer, "invert the sort", top).is_some());
}

#[test]
fn expanded_services_list_their_instances() {
    let mut app = app();
    app.expanded.insert("consumer".to_owned());
    let buffer = render(&app, true);
    assert!(line(&buffer, FIRST_ROW + 2).contains("#6"));
    assert!(line(&buffer, FIRST_ROW + 3).contains("#7"));
}

#[test]
fn the_detail_pane_shows_the_histogram_and_quantiles() {
    let mut app = app();
    app.selected = Some(crate::state::RowKey::Service("consumer".to_owned()));
    let buffer = render(&app, true);
    let y = find(&buffer, "detail: consumer", FIRST_ROW).expect("detail pane");
    let quantiles = line(&buffer, y + 1);
    assert!(quantiles.contains("p99 ≤100.0µs"), "{quantiles}");
    assert!(line(&buffer, y + 2).contains("slow polls 3 (over 1.0ms)"));
    // Bar labels of the buckets' lower bounds.
    assert!(find(&buffer, "1µ", y).is_some(), "{}", text(&buffer));
    assert!(find(&buffer, "2 live instance(s)", y).is_some());
}

#[test]
fn events_list_endings_with_panic_messages() {
    let buffer = render(&app(), true);
    assert!(
        find(&buffer, "consumer#5 panicked: boom", FIRST_ROW).is_some(),
        "{}",
        text(&buffer)
    );
}

#[test]
fn a_lost_target_shows_disconnected_and_recovers() {
    let mut app = app();
    app.on_fetch(
        Err(FetchError::Unreachable("connection refused".to_owned())),
        Instant::now(),
    );
    let buffer = render(&app, true);
    assert!(line(&buffer, 0).contains("disconnected, retrying"));
    assert!(line(&buffer, 1).contains("connection refused"));
    // The last figures stay on screen meanwhile.
    assert!(line(&buffer, FIRST_ROW).contains("stuck"));
    app.on_fetch(
        Ok(parse(SAMPLE.as_bytes()).expect("sample")),
        Instant::now(),
    );
    let buffer = render(&app, true);
    assert!(line(&buffer, 0).contains("● live"));
    assert!(find(&buffer, "reconnected", FIRST_ROW).is_some());
}

#[test]
fn a_bad_document_shows_its_error_line() {
    let mut app = app();
    let error = parse(br#"{"schema_version": 7}"#).expect_err("unknown version");
    app.on_fetch(Err(FetchError::Invalid(error.to_string())), Instant::now());
    let buffer = render(&app, true);
    assert!(line(&buffer, 1).contains("unsupported schema_version 7"));
}

#[test]
fn no_color_draws_no_colour() {
    let buffer = render(&app(), false);
    assert!(buffer
        .content()
        .iter()
        .all(|cell| cell.fg == Color::Reset && cell.bg == Color::Reset));
    // Still marks what colour would: the stuck row is bold.
    assert!(line(&buffer, FIRST_ROW).contains("STUCK"));
}

#[test]
fn without_a_histogram_the_detail_pane_draws_the_busy_history() {
    let mut app = app();
    app.selected = Some(crate::state::RowKey::Service("stuck".to_owned()));
    app.services.get_mut("stuck").expect("stuck").history = [100, 0, 100].into();
    let buffer = render(&app, true);
    let y = find(&buffer, "detail: stuck", FIRST_ROW).expect("detail pane");
    assert!(line(&buffer, y + 1).contains("busy% now 100%, highest 100% over the last 3 samples"));
    assert!(line(&buffer, y + 2).contains("no poll histogram"));
    // Full-height bars for the 100 % samples, nothing for the 0 % one.
    let chart = line(&buffer, y + 3);
    // Borders: events left and right, then the detail pane's left one.
    let borders: Vec<u16> = (0..WIDTH)
        .filter(|x| buffer[(*x, y + 3)].symbol() == "│")
        .collect();
    let x = borders[2] + 1;
    let bars: String = (x..x + 3)
        .map(|x| buffer[(x, y + 3)].symbol().to_owned())
        .collect();
    assert_eq!(bars, "█ █", "{chart}");
}

#[test]
fn tiny_terminals_do_not_panic() {
    let mut app = app();
    app.expanded.insert("consumer".to_owned());
    app.show_help = true;
    for (width, height) in [(1, 1), (10, 3), (40, 10), (80, 24), (200, 5), (5, 60)] {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
        terminal
            .draw(|frame| draw(frame, &app, Theme { color: true }))
            .expect("draw");
    }
}

#[test]
fn extreme_figures_render_without_panicking() {
    let now = Instant::now();
    let mut app = App::new("t".to_owned(), Duration::from_secs(1), now);
    let document = parse(crate::model::extreme_document().as_bytes()).expect("document");
    app.on_fetch(Ok(document.clone()), now);
    app.on_fetch(Ok(document), now);
    app.expanded.insert("a".to_owned());
    let buffer = render(&app, true);
    // Under the document's one runtime line.
    assert!(line(&buffer, 2).starts_with("runtime r: 2 workers"));
    assert!(line(&buffer, FIRST_ROW + 1).contains("STUCK"));
}

/// The app with the sample stacks fetched: `stuck#0` blocked in a sleep.
fn app_with_stacks() -> App {
    let mut app = app();
    app.on_stacks(Ok(crate::stacks::parse(
        crate::stacks::SAMPLE_STACKS.as_bytes(),
    )
    .expect("stacks")));
    app
}

/// The detail pane's lines (right of its left border), from its title down.
pub(super) fn detail_lines(buffer: &Buffer, title: &str) -> Vec<String> {
    let top = find(buffer, title, FIRST_ROW).expect("detail pane");
    let x = usize::from(WIDTH / 2 + 1);
    (top + 1..buffer.area.height)
        .map(|y| line(buffer, y).chars().skip(x).collect::<String>())
        .collect()
}

#[test]
fn the_detail_pane_of_a_stuck_service_shows_its_stack_innermost_first() {
    let buffer = render(&app_with_stacks(), true);
    let pane = detail_lines(&buffer, "detail: stuck");
    let at = |needle: &str| {
        pane.iter()
            .position(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in the detail pane:\n{}", text(&buffer)))
    };
    let header = at("stack of stuck#0 (thread tokio-runtime-worker, tid 4242):");
    // Room for all nine frames: each on its own line, innermost first, paths shortened
    // to the file name where the whole one does not fit.
    assert!(
        pane[header + 1].contains("0 [libc.so.6]"),
        "{}",
        pane[header + 1]
    );
    assert!(pane[header + 2]
        .contains("1 std::thread::sleep  /rustc/abc/library/std/src/thread/mod.rs:879"));
    let wide = &pane[header + 3];
    assert!(wide.contains("2 vigil::demo::wait_for_legacy_lock (inlined)  demo.rs:205"));
    assert!(!wide.contains("/work/main"), "{wide}");
    assert!(
        pane[header + 9].contains("8 start_thread"),
        "{}",
        pane[header + 9]
    );
    assert!(at("1 live instance(s)") > header + 9, "{}", text(&buffer));
}

#[test]
fn a_short_detail_pane_leaves_the_runtime_plumbing_out_first() {
    let app = app_with_stacks();
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, 22)).expect("test terminal");
    terminal
        .draw(|frame| draw(frame, &app, Theme { color: true }))
        .expect("draw");
    let buffer = terminal.backend().buffer().clone();
    let pane = detail_lines(&buffer, "detail: stuck").join("\n");
    // The service's own frames and the blocking call stay; the runtime's leave first.
    for kept in [
        "0 [libc.so.6]",
        "std::thread::sleep",
        "wait_for_legacy_lock",
        "stuck::{{closure}}",
    ] {
        assert!(pane.contains(kept), "{kept} missing:\n{pane}");
    }
    assert!(!pane.contains("tokio::runtime"), "{pane}");
    assert!(
        pane.contains("more frames (runtime plumbing left out first)"),
        "{pane}"
    );
}

#[test]
fn a_failed_capture_shows_its_error_and_other_services_show_no_stack() {
    let mut app = app_with_stacks();
    let document = app.stacks.document.as_mut().expect("stacks");
    document.stuck[0].frames.clear();
    document.stuck[0].error = Some("the poll ended before the capture".to_owned());
    let buffer = render(&app, true);
    let pane = detail_lines(&buffer, "detail: stuck").join("\n");
    assert!(pane.contains("stack of stuck#0"), "{pane}");
    assert!(
        pane.contains("no stack: the poll ended before the capture"),
        "{pane}"
    );
    // A service that is not stuck gets no stack section.
    app.selected = Some(crate::state::RowKey::Service("consumer".to_owned()));
    let buffer = render(&app, true);
    assert_eq!(
        find(&buffer, "stack of", FIRST_ROW),
        None,
        "{}",
        text(&buffer)
    );
}

#[test]
fn without_a_profiler_the_detail_pane_shows_nothing_more() {
    let mut app = app();
    let before = text(&render(&app, true));
    app.on_stacks(Err(crate::source::StacksError::NoProfiler));
    assert_eq!(text(&render(&app, true)), before);
    assert!(!before.contains("stack"), "{before}");
}

#[test]
fn the_profile_view_lists_the_hottest_functions_with_their_share() {
    let mut app = app();
    app.selected = Some(crate::state::RowKey::Service("consumer".to_owned()));
    let folded = "\
consumer;tokio::runtime::task::harness::poll_future;app::consume;app::decode 30
consumer;tokio::runtime::task::harness::poll_future;app::consume;serde_json::de::from_slice 10
consumer;tokio::runtime::task::harness::poll_future;app::other;app::decode 20
(no service);tokio::runtime::park 40
";
    app.on_profile(
        Ok(crate::folded::parse(folded).expect("folded")),
        Instant::now(),
    );
    let buffer = render(&app, true);
    let pane = detail_lines(&buffer, "detail: consumer");
    let at = |needle: &str| {
        pane.iter()
            .position(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in:\n{}", text(&buffer)))
    };
    let title = at("CPU profile, 2s: consumer 60 of 100 samples");
    assert!(
        pane[title + 1].contains(" 83.3%      50  app::decode"),
        "{}",
        pane[title + 1]
    );
    assert!(pane[title + 2].contains(" 16.7%      10  serde_json::de::from_slice"));
    // The profile takes the histogram's place; the quantiles stay above it.
    assert!(at("p50 ≤") < title);
    assert!(find(&buffer, "profile: 100 samples over 2s", FIRST_ROW).is_some());
}

#[test]
fn profile_failures_are_one_clear_line() {
    use crate::source::ProfileFailure;
    for (failure, expected) in [
        (
            ProfileFailure::Busy,
            "another profile is running in the target (HTTP 409)",
        ),
        (
            ProfileFailure::NoProfiler,
            "the endpoint has no profiler (HTTP 404): serve it with Endpoint::profiler",
        ),
        (
            ProfileFailure::Disabled("profiling is not supported here".to_owned()),
            "the target's profiler is disabled (HTTP 501): profiling is not supported here",
        ),
    ] {
        let mut app = app();
        app.on_profile(Err(failure), Instant::now());
        // Wrapped when wider than the pane: read it back as one sentence.
        let pane = detail_lines(&render(&app, true), "detail: stuck")
            .iter()
            .map(|line| line.trim_end_matches(['│', ' ']))
            .collect::<Vec<_>>()
            .join(" ");
        assert!(pane.contains(expected), "{expected} missing:\n{pane}");
    }
}

#[test]
fn while_profiling_the_header_counts_down() {
    let mut app = app();
    assert_eq!(app.request_profile(Instant::now()), Some(2));
    let buffer = render(&app, true);
    assert!(
        line(&buffer, 1).contains("profiling… 2s"),
        "{}",
        line(&buffer, 1)
    );
    assert!(find(&buffer, "profiling… 2s (the whole process)", FIRST_ROW).is_some());
    // A second `p` meanwhile starts nothing.
    assert_eq!(app.request_profile(Instant::now()), None);
}
