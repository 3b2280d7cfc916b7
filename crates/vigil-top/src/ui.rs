//! Drawing the dashboard with ratatui: header, services table, events and detail panes, help.

use std::time::{Duration, Instant};

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Bar, BarChart, BarGroup, Block, Cell, Clear, List, ListItem, Paragraph, RenderDirection, Row,
    Sparkline, Table, TableState, Widget, Wrap,
};
use ratatui::Frame;

use crate::figures;
use crate::model::PollHistogram;
use crate::state::{
    App, Connection, InstanceView, RowKey, ServiceState, ServiceView, Severity, SortColumn,
};
use crate::ui_backlog;
use crate::ui_profiling;

/// Width of the busy-% history column (one cell per sample, newest on the right).
const SPARKLINE_WIDTH: u16 = 16;
/// Busy % of one instance at or above which a figure turns yellow, then red.
const BUSY_WARN: f64 = 50.0;
const BUSY_HOT: f64 = 80.0;

/// Colours, or none (`--no-color`, `NO_COLOR`): modifiers such as bold stay either way.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Theme {
    pub(crate) color: bool,
}

impl Theme {
    /// `color` as the foreground, or no style without colours.
    pub(crate) fn fg(self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    /// Green, yellow or red for a busy share of one instance (or one worker thread).
    pub(crate) fn busy(self, percent_of_one: f64) -> Style {
        self.fg(if percent_of_one >= BUSY_HOT {
            Color::Red
        } else if percent_of_one >= BUSY_WARN {
            Color::Yellow
        } else {
            Color::Green
        })
    }

    fn severity(self, severity: Severity) -> Style {
        self.fg(match severity {
            Severity::Info => Color::Reset,
            Severity::Warning => Color::Yellow,
            Severity::Error => Color::Red,
        })
    }
}

/// A table column: its title, width, and the sort column it stands for (if any).
struct Column {
    title: &'static str,
    width: Constraint,
    sort: Option<SortColumn>,
}

fn columns(app: &App) -> Vec<Column> {
    let column = |sort: SortColumn, width| Column {
        title: sort.title(),
        width,
        sort: Some(sort),
    };
    let mut columns = vec![
        column(SortColumn::Name, Constraint::Min(14)),
        column(SortColumn::Instances, Constraint::Length(5)),
        column(SortColumn::State, Constraint::Length(13)),
        column(SortColumn::PollsPerSecond, Constraint::Length(8)),
        column(SortColumn::Busy, Constraint::Length(6)),
        column(SortColumn::Utilization, Constraint::Length(7)),
        Column {
            title: "busy% history",
            width: Constraint::Length(SPARKLINE_WIDTH),
            sort: None,
        },
        column(SortColumn::InPoll, Constraint::Length(8)),
        column(SortColumn::SlowPolls, Constraint::Length(6)),
        column(SortColumn::P99, Constraint::Length(8)),
        column(SortColumn::Mailbox, Constraint::Length(9)),
        column(SortColumn::Restarts, Constraint::Length(8)),
        column(SortColumn::Endings, Constraint::Length(18)),
    ];
    // Several processes: which one each row is in, first.
    if let Some(fleet) = &app.fleet {
        let width = u16::try_from(fleet.label_width().clamp(7, 24)).unwrap_or(24);
        columns.insert(
            0,
            Column {
                title: "process",
                width: Constraint::Length(width),
                sort: None,
            },
        );
    }
    columns
}

/// Draws the whole screen.
pub(crate) fn draw(frame: &mut Frame<'_>, app: &App, theme: Theme) {
    // The table takes the rows it has (titles included); the panes take the rest, at least
    // 12 lines while the terminal has them.
    let table_lines = u16::try_from(app.rows().len() + 1)
        .unwrap_or(u16::MAX)
        .max(4);
    // Two lines, then one per watched runtime.
    let header_lines = 2 + u16::try_from(ui_backlog::runtime_line_count(app)).unwrap_or(0);
    let [header, table, panes] = Layout::vertical([
        Constraint::Length(header_lines),
        Constraint::Length(table_lines),
        Constraint::Min(12),
    ])
    .areas(frame.area());
    draw_header(frame, header, app, theme);
    draw_table(frame, table, app, theme);
    let [events, detail] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(panes);
    draw_events(frame, events, app, theme);
    draw_detail(frame, detail, app, theme);
    if app.show_help {
        draw_help(frame, frame.area(), app.stuck_after);
    }
}

fn draw_header(frame: &mut Frame<'_>, area: Rect, app: &App, theme: Theme) {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let connection = match &app.connection {
        Connection::Connecting => Span::styled("connecting…", theme.fg(Color::Yellow)),
        Connection::Connected => Span::styled("● live", theme.fg(Color::Green)),
        Connection::Disconnected(_) => Span::styled(
            "disconnected, retrying",
            theme.fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
        Connection::Invalid(_) => Span::styled(
            "bad response, retrying",
            theme.fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
    };
    let uptime = app
        .oldest_instance
        .map_or_else(|| "-".to_owned(), figures::duration);
    let busy = app.total_busy_percent.map_or_else(
        || "-".to_owned(),
        |busy| format!("{busy:.0}% ({:.2} threads)", busy / 100.0),
    );
    let first = Line::from(vec![
        Span::styled("vigil-top ", bold),
        Span::raw(app.target.clone()),
        Span::raw(format!(
            "  up {uptime}  live instances {}{}  busy {busy}  every {}  ",
            app.live_instances,
            figures::unlisted(app.unlisted),
            figures::duration(app.interval)
        )),
        connection,
    ]);
    let second = match &app.connection {
        Connection::Disconnected(reason) | Connection::Invalid(reason) => {
            Line::styled(reason.clone(), theme.fg(Color::Red))
        }
        _ => {
            let mut spans = vec![Span::raw(format!(
                "sort {}{}",
                app.sort.title(),
                if app.reverse { " ▲" } else { " ▼" }
            ))];
            if app.editing_filter || !app.filter.is_empty() {
                let cursor = if app.editing_filter { "▏" } else { "" };
                spans.push(Span::styled(
                    format!("  filter /{}{cursor}", app.filter),
                    theme.fg(Color::Cyan),
                ));
            }
            if let Some(replay) = &app.replay {
                spans.push(Span::styled(
                    format!(
                        "  REPLAY {}/{} ×{}{}",
                        replay.played,
                        replay.total,
                        replay.speed,
                        if replay.paused {
                            " PAUSED (space resumes, . steps)"
                        } else {
                            ""
                        }
                    ),
                    theme.fg(Color::Magenta).add_modifier(Modifier::BOLD),
                ));
            }
            if let Some(fleet) = &app.fleet {
                for (process, reason) in fleet.down() {
                    let reason: String = reason.chars().take(60).collect();
                    spans.push(Span::styled(
                        format!("  {process} down: {reason}"),
                        theme.fg(Color::Red).add_modifier(Modifier::BOLD),
                    ));
                }
            }
            if app.paused {
                spans.push(Span::styled(
                    "  PAUSED (space resumes)",
                    theme.fg(Color::Yellow).add_modifier(Modifier::BOLD),
                ));
            }
            if let Some(left) = app.profiling_left(Instant::now()) {
                spans.push(Span::styled(
                    format!("  profiling… {}s", left.as_secs_f64().ceil()),
                    theme.fg(Color::Yellow).add_modifier(Modifier::BOLD),
                ));
            }
            spans.push(Span::styled(
                "  ? help  q quit  ←/→ sort  / filter  Enter expand  p profile",
                theme.fg(Color::DarkGray),
            ));
            Line::from(spans)
        }
    };
    let mut lines = vec![first, second];
    lines.extend(ui_backlog::runtime_lines(app, theme));
    frame.render_widget(Paragraph::new(lines), area);
}

fn draw_table(frame: &mut Frame<'_>, area: Rect, app: &App, theme: Theme) {
    let columns = columns(app);
    let header = Row::new(columns.iter().map(|column| {
        let mut title = column.title.to_owned();
        let mut style = Style::new().add_modifier(Modifier::BOLD);
        if column.sort == Some(app.sort) {
            title.push_str(if app.reverse { "▲" } else { "▼" });
            style = style.add_modifier(Modifier::UNDERLINED);
        }
        Cell::from(title).style(style)
    }));
    let rows_keys = app.rows();
    let rows: Vec<Row<'_>> = rows_keys
        .iter()
        .filter_map(|key| match key {
            RowKey::Service(name) => app.services.get(name).map(|s| service_row(app, s, theme)),
            RowKey::Instance(name, id) => app
                .instance(name, *id)
                .map(|i| instance_row(i, app.fleet.is_some(), theme)),
        })
        .collect();
    let empty = rows.is_empty();
    let table = Table::new(rows, columns.iter().map(|column| column.width))
        .header(header)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default();
    state.select(
        app.selected_row()
            .and_then(|selected| rows_keys.iter().position(|row| *row == selected)),
    );
    frame.render_stateful_widget(table, area, &mut state);
    if empty {
        let message = if !app.filter.is_empty() && !app.services.is_empty() {
            format!("no service name contains \"{}\"", app.filter)
        } else if app.updated_at.is_none() {
            "waiting for the first snapshot…".to_owned()
        } else {
            "no services yet".to_owned()
        };
        let [_, below_header] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
        frame.render_widget(
            Paragraph::new(message).style(theme.fg(Color::DarkGray)),
            below_header,
        );
    }
}

fn optional<T>(value: Option<T>, show: impl FnOnce(T) -> String) -> String {
    value.map_or_else(|| "-".to_owned(), show)
}

fn endings_text(service: &ServiceView) -> String {
    let endings = service.endings;
    let parts: Vec<String> = [
        (endings.completed, "ok"),
        (endings.failed, "err"),
        (endings.panicked, "panic"),
        (endings.cancelled, "cxl"),
    ]
    .iter()
    .filter(|(count, _)| *count > 0)
    .map(|(count, label)| format!("{count} {label}"))
    .collect();
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join(" ")
    }
}

fn service_row<'a>(app: &App, service: &'a ServiceView, theme: Theme) -> Row<'a> {
    let stuck = service.state == ServiceState::Stuck;
    #[allow(clippy::cast_precision_loss)] // instance counts are small
    let per_instance = |busy: f64| busy / service.instances.max(1) as f64;
    let busy_style = service
        .busy_percent
        .map_or(Style::new(), |busy| theme.busy(per_instance(busy)));
    let state_style = match service.state {
        ServiceState::Stuck | ServiceState::GaveUp | ServiceState::Down => theme.fg(Color::Red),
        ServiceState::BackingOff | ServiceState::Stopping => theme.fg(Color::Yellow),
        ServiceState::Running => theme.fg(Color::Green),
        ServiceState::Stopped | ServiceState::Ended => theme.fg(Color::DarkGray),
    };
    let state = match service.retry_in {
        Some(retry_in) if service.state == ServiceState::BackingOff => {
            format!("retry {}", figures::duration(retry_in))
        }
        _ => service.state.label().to_owned(),
    };
    let expander = if app.expanded.contains(&service.name) {
        "▾ "
    } else {
        "▸ "
    };
    let mut name = vec![Span::raw(format!("{expander}{}", service.service_name()))];
    if service.verdict.is_some() {
        name.push(Span::styled(
            ui_backlog::LAGGING_MARKER,
            theme.fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
    }
    let mailbox = service.mailbox.map_or_else(
        || Cell::from(""),
        |mailbox| {
            Cell::from(figures::mailbox(&mailbox)).style(ui_backlog::mailbox_style(theme, &mailbox))
        },
    );
    let mut cells = vec![
        Cell::from(Line::from(name)),
        Cell::from(service.instances.to_string()),
        Cell::from(state).style(state_style),
        Cell::from(optional(service.polls_per_second, figures::rate)),
        Cell::from(optional(service.busy_percent, |busy| format!("{busy:.0}%"))).style(busy_style),
        Cell::from(format!(
            "{:.0}/{}",
            service.mean_utilization, service.max_utilization
        ))
        .style(theme.busy(service.mean_utilization)),
        Cell::from(sparkline(&service.history, SPARKLINE_WIDTH, theme)),
        Cell::from(optional(service.longest_in_poll, figures::duration)),
        Cell::from(optional(service.slow_polls, |slow| slow.to_string())),
        Cell::from(optional(service.p99, figures::duration)),
        mailbox,
        Cell::from(service.restarts.to_string()),
        Cell::from(endings_text(service)),
    ];
    if app.fleet.is_some() {
        let process = service.process.clone().unwrap_or_default();
        cells.insert(0, Cell::from(process));
    }
    let row = Row::new(cells);
    if stuck {
        row.style(theme.fg(Color::Red).add_modifier(Modifier::BOLD))
    } else {
        row
    }
}

fn instance_row(instance: &InstanceView, fleet: bool, theme: Theme) -> Row<'static> {
    let (state, style) = match (instance.ended_at, instance.in_poll) {
        (Some(_), _) => ("ended", theme.fg(Color::DarkGray)),
        (None, Some(_)) => ("in poll", Style::new()),
        (None, None) => ("waiting", Style::new()),
    };
    let mut cells = vec![
        Cell::from(format!("   #{}", instance.instance_id)),
        Cell::from(""),
        Cell::from(state),
        Cell::from(""),
        Cell::from(""),
        Cell::from(format!("{}", instance.utilization))
            .style(theme.busy(f64::from(instance.utilization))),
        // Lifetime figures where the history would be: instances have no history.
        Cell::from(format!(
            "{} polls, {}",
            instance.poll_count,
            figures::duration(instance.total_busy)
        )),
        Cell::from(optional(instance.in_poll, figures::duration)),
        Cell::from(""),
        Cell::from(""),
        Cell::from(""),
        Cell::from(""),
        Cell::from(optional(instance.age, |age| {
            format!("age {}", figures::duration(age))
        })),
    ];
    if fleet {
        cells.insert(0, Cell::from(""));
    }
    Row::new(cells).style(style)
}

/// The history drawn by ratatui's `Sparkline` into a one-line scratch buffer, newest
/// sample at the right edge, returned as a line a table cell can hold.
fn sparkline(history: &std::collections::VecDeque<u64>, width: u16, theme: Theme) -> Line<'static> {
    let newest_first: Vec<u64> = history
        .iter()
        .rev()
        .take(usize::from(width))
        .copied()
        .collect();
    let max = newest_first.iter().copied().max().unwrap_or(0).max(100);
    let area = Rect::new(0, 0, width, 1);
    let mut buffer = Buffer::empty(area);
    Sparkline::default()
        .data(&newest_first)
        .max(max)
        .direction(RenderDirection::RightToLeft)
        .render(area, &mut buffer);
    let text: String = buffer.content().iter().map(|cell| cell.symbol()).collect();
    Line::styled(text, theme.fg(Color::Cyan))
}

fn draw_events(frame: &mut Frame<'_>, area: Rect, app: &App, theme: Theme) {
    let items: Vec<ListItem<'_>> = app
        .events
        .iter()
        .rev()
        .take(usize::from(area.height))
        .map(|event| {
            let at = event.at.map_or_else(
                || "prior ".to_owned(),
                |at| format!("{:02}:{:02} ", at.as_secs() / 60, at.as_secs() % 60),
            );
            ListItem::new(Line::from(vec![
                Span::styled(at, theme.fg(Color::DarkGray)),
                Span::styled(event.text.clone(), theme.severity(event.severity)),
            ]))
        })
        .collect();
    let title = if app.events.is_empty() {
        " events (endings, restarts) "
    } else {
        " events, newest first "
    };
    frame.render_widget(List::new(items).block(Block::bordered().title(title)), area);
}

fn draw_detail(frame: &mut Frame<'_>, area: Rect, app: &App, theme: Theme) {
    let Some(selected) = app.selected_row() else {
        frame.render_widget(Block::bordered().title(" detail "), area);
        return;
    };
    let name = selected.name();
    let block = Block::bordered().title(format!(" detail: {name} "));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(service) = app.services.get(name) else {
        return;
    };
    let instances = app.instances.get(name).map_or(&[][..], Vec::as_slice);
    let instance_lines = u16::try_from(instances.len().min(3)).unwrap_or(3);
    let backlog = ui_backlog::detail_lines(service, theme, inner.width);
    let backlog_lines = u16::try_from(backlog.len()).unwrap_or(u16::MAX);
    let stack = ui_profiling::stack_section(app, &selected);
    let profile = ui_profiling::profile_lines(app, name, inner.width, Instant::now(), theme);
    // Where a stuck service is blocked comes first; the chart (or the profile) keeps at
    // least 3 lines below it.
    let room = inner
        .height
        .saturating_sub(backlog_lines + 2 + instance_lines + 1);
    let stack_height = stack.as_ref().map_or(0, |section| {
        section.wanted_lines().min(room.saturating_sub(3))
    });
    let [backlog_area, quantiles, stack_area, chart, list] = Layout::vertical([
        Constraint::Length(backlog_lines),
        Constraint::Length(2),
        Constraint::Length(stack_height),
        Constraint::Min(3),
        Constraint::Length(instance_lines + 1),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(backlog), backlog_area);
    if let Some(section) = &stack {
        frame.render_widget(
            Paragraph::new(ui_profiling::stack_lines(
                section,
                stack_area.width,
                stack_area.height,
                theme,
            )),
            stack_area,
        );
    }
    let bounds = &app.histogram_bounds_ns;
    match &service.histogram {
        Some(histogram) => {
            let quantile = |q| optional(figures::quantile(histogram, bounds, q), figures::duration);
            let mut lines = vec![Line::raw(format!(
                "p50 ≤{}  p90 ≤{}  p99 ≤{}  max {}",
                quantile(0.5),
                quantile(0.9),
                quantile(0.99),
                figures::duration(Duration::from_nanos(histogram.max_ns))
            ))];
            if let Some(slow) = service.slow_polls {
                let threshold = service
                    .slow_threshold
                    .map_or_else(String::new, |threshold| {
                        format!(" (over {})", figures::duration(threshold))
                    });
                lines.push(Line::raw(format!("slow polls {slow}{threshold}")));
            }
            frame.render_widget(Paragraph::new(lines), quantiles);
        }
        None => {
            let newest = service.history.back().copied().unwrap_or(0);
            let highest = service.history.iter().copied().max().unwrap_or(0);
            frame.render_widget(
                Paragraph::new(vec![
                    Line::raw(format!(
                        "busy% now {newest}%, highest {highest}% over the last {} samples",
                        service.history.len()
                    )),
                    Line::styled(
                        "no poll histogram: attach the histogram monitor for p99",
                        theme.fg(Color::DarkGray),
                    ),
                ]),
                quantiles,
            );
        }
    }
    match (profile, &service.histogram) {
        // An open profile takes the chart's place: it is what the user just asked for.
        // Wrapped: a failure is one sentence that may be wider than the pane.
        (Some(lines), _) => {
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), chart)
        }
        (None, Some(histogram)) => draw_histogram(frame, chart, histogram, bounds, theme),
        // Without a histogram, the busy history gets the room, full height.
        (None, None) => {
            let samples: Vec<u64> = service.history.iter().copied().collect();
            let highest = samples.iter().copied().max().unwrap_or(0);
            frame.render_widget(
                Sparkline::default()
                    .data(&samples)
                    .max(highest.max(100))
                    .style(theme.fg(Color::Cyan)),
                chart,
            );
        }
    }
    draw_instances(frame, list, instances);
}

/// The buckets from the first to the last non-empty one, as a bar chart labelled with
/// each bucket's lower bound.
fn draw_histogram(
    frame: &mut Frame<'_>,
    chart: Rect,
    histogram: &PollHistogram,
    bounds: &[(u64, Option<u64>)],
    theme: Theme,
) {
    let first = histogram.buckets.iter().position(|count| *count > 0);
    let last = histogram.buckets.iter().rposition(|count| *count > 0);
    if let (Some(first), Some(last)) = (first, last) {
        let bars: Vec<Bar<'_>> = (first..=last)
            .map(|index| {
                let lower = bounds.get(index).map_or(0, |(lower, _)| *lower);
                Bar::default()
                    .value(histogram.buckets[index])
                    .label(Line::raw(figures::bound_label(lower)))
                    .text_value(String::new())
            })
            .collect();
        let count = u16::try_from(bars.len()).unwrap_or(u16::MAX).max(1);
        let bar_width = (chart.width / count).saturating_sub(1).clamp(1, 6);
        frame.render_widget(
            BarChart::default()
                .data(BarGroup::default().bars(&bars))
                .bar_width(bar_width)
                .bar_gap(1)
                .bar_style(theme.fg(Color::Cyan)),
            chart,
        );
    }
}

fn draw_instances(frame: &mut Frame<'_>, area: Rect, instances: &[InstanceView]) {
    let live = instances.iter().filter(|i| i.ended_at.is_none()).count();
    let mut lines = vec![Line::styled(
        format!("{live} live instance(s)"),
        Style::new().add_modifier(Modifier::BOLD),
    )];
    for instance in instances
        .iter()
        .take(usize::from(area.height.saturating_sub(1)))
    {
        lines.push(Line::raw(format!(
            "#{:<6} util {:>3}%  polls {:<8} busy {:<9} {}",
            instance.instance_id,
            instance.utilization,
            instance.poll_count,
            figures::duration(instance.total_busy),
            match (instance.ended_at, instance.in_poll) {
                (Some(_), _) => "ended".to_owned(),
                (None, Some(in_poll)) => format!("in poll {}", figures::duration(in_poll)),
                (None, None) => String::new(),
            }
        )));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

const HELP: &[(&str, &str)] = &[
    ("q, Ctrl-C", "quit"),
    ("←/→, </>", "sort by the previous/next column"),
    ("r", "invert the sort"),
    (
        "/",
        "filter by service or process (Enter keeps, Esc clears)",
    ),
    ("space", "pause / resume the screen"),
    ("Enter", "expand a service into its instances"),
    ("↑/↓, j/k", "select a row (the detail pane follows)"),
    ("+/-", "longer / shorter refresh interval"),
    ("p", "2 s CPU profile: hottest functions in the detail"),
    ("Esc", "close the profile (else clear the filter)"),
    ("?", "this help (any key closes it)"),
    (". n", "replaying: step one fetch (space pauses, +/- speed)"),
];

fn draw_help(frame: &mut Frame<'_>, area: Rect, stuck_after: Duration) {
    let height = u16::try_from(HELP.len()).unwrap_or(0) + 6;
    let [vertical] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(60)])
        .flex(Flex::Center)
        .areas(vertical);
    let mut lines: Vec<Line<'_>> = HELP
        .iter()
        .map(|(key, does)| Line::raw(format!(" {key:<11} {does}")))
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::raw(format!(
        " STUCK: a poll in flight for over {} (pinned on top).",
        figures::duration(stuck_after)
    )));
    lines.push(Line::raw(
        " busy%: busy time over the last interval, 100 = 1 thread.",
    ));
    lines.push(Line::raw(" name !: lagging, the detail pane says why."));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" vigil-top keys ")),
        popup,
    );
}

#[cfg(test)]
#[path = "ui_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "ui_backlog_tests.rs"]
mod backlog_tests;
