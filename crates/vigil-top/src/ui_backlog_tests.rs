//! Rendering tests of backlog and lag: runtime lines, the mailbox column, verdicts.

use std::time::{Duration, Instant};

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

use super::tests::{detail_lines, find, line, render, text, WIDTH};
use crate::model::{parse, Document, SAMPLE, SAMPLE_V2};
use crate::state::{App, RowKey};

/// Two header lines, the two runtime lines of [`SAMPLE_V2`], then the column titles.
const TITLES: u16 = 4;

/// The version 2 sample a second later: `main`'s workers 98 % and 100 % busy, the
/// blocking pool's 10 %, and `ingest`'s 100 scheduled polls waiting 4 ms in all.
fn one_second_later(mut document: Document) -> Document {
    document.taken_at_ns += 1_000_000_000;
    document.runtime[0].workers[0].busy_ns += 980_000_000;
    document.runtime[0].workers[1].busy_ns += 1_000_000_000;
    document.runtime[1].workers[0].busy_ns += 100_000_000;
    let scheduling = document.groups[0].scheduling.as_mut().expect("scheduling");
    scheduling.scheduled_count += 100;
    scheduling.total_scheduling_delay_ns += 4_000_000;
    document
}

/// An app that read the version 2 sample twice, a second apart.
fn app_v2() -> App {
    let start = Instant::now();
    let mut app = App::new("http://test".to_owned(), Duration::from_secs(1), start);
    let document = parse(SAMPLE_V2.as_bytes()).expect("version 2 sample");
    app.on_fetch(Ok(document.clone()), start);
    app.on_fetch(
        Ok(one_second_later(document)),
        start + Duration::from_secs(1),
    );
    app
}

/// The row of `name` in the table and the x where `needle` starts in it.
fn cell(buffer: &Buffer, name: &str, needle: &str) -> (u16, u16) {
    let y = (TITLES + 1..buffer.area.height)
        .find(|y| line(buffer, *y).starts_with(&format!("▸ {name}")))
        .unwrap_or_else(|| panic!("no {name} row:\n{}", text(buffer)));
    let row = line(buffer, y);
    let byte = row
        .find(needle)
        .unwrap_or_else(|| panic!("no `{needle}` in {row}"));
    let x = u16::try_from(row[..byte].chars().count()).expect("narrow");
    (x, y)
}

#[test]
fn the_header_shows_one_line_per_runtime_with_its_workers_busy_share() {
    let buffer = render(&app_v2(), true);
    assert_eq!(
        line(&buffer, 2).trim_end(),
        "runtime main: 2 workers 99% busy (98%, 100%), 1234 tasks, queue 0"
    );
    assert_eq!(
        line(&buffer, 3).trim_end(),
        "runtime blocking-io: 1 worker 10% busy (10%), 3 tasks, queue 7"
    );
    assert!(
        line(&buffer, TITLES).contains("mailbox"),
        "{}",
        text(&buffer)
    );
    // Busy figures coloured like a service's: red near saturation, green when idle.
    let x = u16::try_from(line(&buffer, 2).find("2 workers").expect("workers")).expect("x");
    assert_eq!(buffer[(x, 2)].fg, Color::Red);
    let x = u16::try_from(
        line(&buffer, 3)
            .find("1 worker")
            .expect("the blocking pool's worker"),
    )
    .expect("x");
    assert_eq!(buffer[(x, 3)].fg, Color::Green);

    // One document: no busy share yet.
    let now = Instant::now();
    let mut app = App::new("http://test".to_owned(), Duration::from_secs(1), now);
    app.on_fetch(Ok(parse(SAMPLE_V2.as_bytes()).expect("sample")), now);
    let buffer = render(&app, true);
    assert_eq!(
        line(&buffer, 2).trim_end(),
        "runtime main: 2 workers — busy, 1234 tasks, queue 0"
    );
}

#[test]
fn many_runtimes_take_three_lines_the_last_naming_the_others() {
    let mut app = app_v2();
    let template = app.runtimes[1].clone();
    for name in ["a", "b", "c"] {
        let mut runtime = template.clone();
        runtime.name = name.to_owned();
        app.runtimes.push(runtime);
    }
    let buffer = render(&app, true);
    assert!(line(&buffer, 2).starts_with("runtime main:"));
    assert!(line(&buffer, 3).starts_with("runtime blocking-io:"));
    assert!(
        line(&buffer, 4).starts_with("3 more runtimes: a, b, c"),
        "{}",
        text(&buffer)
    );
    assert!(line(&buffer, 5).contains("mailbox"), "titles below");
}

#[test]
fn the_mailbox_column_shows_depth_over_capacity_coloured_by_fill() {
    let buffer = render(&app_v2(), true);
    for (name, fill, colour) in [
        ("ingest", "1000/1000", Color::Red),
        ("parser", "600/1000", Color::Yellow),
        ("writer", "10/1000", Color::Green),
    ] {
        let (x, y) = cell(&buffer, name, fill);
        assert_eq!(buffer[(x, y)].fg, colour, "{name}: {}", line(&buffer, y));
    }
    let (x, y) = cell(&buffer, "ingest", "1000/1000");
    assert!(buffer[(x, y)].modifier.contains(Modifier::BOLD));
    // A service without a mailbox leaves the column empty: its p99 `-`, then blanks.
    let (_, y) = cell(&buffer, "idle", "idle");
    let (x, _) = cell(&buffer, "ingest", "1000/1000");
    let blank: String = (x..x + 9).map(|x| buffer[(x, y)].symbol()).collect();
    assert_eq!(blank.trim(), "", "{}", line(&buffer, y));

    // Without colours: no colour anywhere, a full mailbox still bold.
    let buffer = render(&app_v2(), false);
    assert!(buffer
        .content()
        .iter()
        .all(|cell| cell.fg == Color::Reset && cell.bg == Color::Reset));
    let (x, y) = cell(&buffer, "ingest", "1000/1000");
    assert!(buffer[(x, y)].modifier.contains(Modifier::BOLD));
}

#[test]
fn lagging_rows_carry_a_marker_after_the_name() {
    let buffer = render(&app_v2(), true);
    for name in ["ingest", "parser", "writer"] {
        let (x, y) = cell(&buffer, name, &format!("{name} !"));
        let marker = x + u16::try_from(name.len()).expect("short") + 1;
        assert_eq!(buffer[(marker, y)].symbol(), "!");
        assert_eq!(buffer[(marker, y)].fg, Color::Yellow);
    }
    let (_, y) = cell(&buffer, "idle", "idle");
    assert!(!line(&buffer, y).contains('!'), "{}", line(&buffer, y));
}

#[test]
fn the_detail_pane_shows_each_of_the_three_verdicts() {
    let mut app = app_v2();
    for (name, sentence) in [
        (
            "ingest",
            "lagging: backlogged (mailbox 1000/1000, oldest 3.2 s)",
        ),
        ("parser", "lagging: polls slow (p99 8 ms)"),
        (
            "writer",
            // Wider than the pane: wrapped at a space, under the sentence's start.
            "lagging: runtime saturated (2/2 workers 99 % busy, wake-to-poll",
        ),
    ] {
        app.selected = Some(RowKey::Service(name.to_owned()));
        let buffer = render(&app, true);
        let pane = detail_lines(&buffer, &format!("detail: {name}"));
        assert!(pane[0].starts_with(sentence), "{name}: {}", pane[0]);
        let x = WIDTH / 2 + 1;
        let y = find(&buffer, &format!("detail: {name}"), TITLES).expect("pane") + 1;
        assert_eq!(buffer[(x, y)].fg, Color::Red, "lagging: in red");
        if name == "writer" {
            assert!(pane[1].starts_with("         ms)"), "{}", pane[1]);
        }
    }
}

#[test]
fn the_detail_pane_shows_the_mailbox_figures_and_the_wake_to_poll_mean() {
    let mut app = app_v2();
    app.selected = Some(RowKey::Service("ingest".to_owned()));
    let buffer = render(&app, true);
    let pane = detail_lines(&buffer, "detail: ingest");
    assert!(pane[1].starts_with("mailbox 1000/1000 (100%)  oldest wait 3.20s"));
    assert!(pane[2].starts_with("sent 9000  received 8000  rejected 12"));
    // 100 polls after a wake in the last second, 4 ms of waiting in all.
    assert!(
        pane[3].starts_with("wake-to-poll 40.0µs mean over the last interval (max 9.0ms ever)"),
        "{}",
        pane[3]
    );
    // The quantiles (here the busy history's line) follow.
    assert!(pane[4].starts_with("busy% now"), "{}", pane[4]);

    // No scheduling monitor: no wake-to-poll line.
    app.selected = Some(RowKey::Service("parser".to_owned()));
    let buffer = render(&app, true);
    let pane = detail_lines(&buffer, "detail: parser").join("\n");
    assert!(
        pane.contains("mailbox 600/1000 (60%)  oldest wait 200.0ms"),
        "{pane}"
    );
    assert!(!pane.contains("wake-to-poll"), "{pane}");

    // Neither mailbox nor verdict: the pane is as before.
    app.selected = Some(RowKey::Service("idle".to_owned()));
    let buffer = render(&app, true);
    let pane = detail_lines(&buffer, "detail: idle");
    assert!(pane[0].starts_with("busy% now"), "{}", pane[0]);
}

#[test]
fn a_version_1_document_draws_no_runtime_line_and_empty_mailboxes() {
    let now = Instant::now();
    let mut app = App::new("http://test".to_owned(), Duration::from_secs(1), now);
    app.on_fetch(Ok(parse(SAMPLE.as_bytes()).expect("version 1")), now);
    let buffer = render(&app, true);
    // The column titles right under the two header lines.
    assert!(line(&buffer, 2).starts_with("service"), "{}", text(&buffer));
    assert!(line(&buffer, 2).contains("mailbox"));
    assert!(!text(&buffer).contains("runtime "), "{}", text(&buffer));
    assert!(!text(&buffer).contains("lagging"));
}
