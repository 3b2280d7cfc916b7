//! Drawing backlog and lag: the runtime lines of the header, a row's mailbox cell and lag
//! marker, and the verdict, mailbox and wake-to-poll lines of the detail pane.

use std::time::Duration;

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use crate::figures;
use crate::model::Mailbox;
use crate::runtimes::RuntimeView;
use crate::state::{App, ServiceView};
use crate::ui::Theme;

/// A mailbox at least this full (percent of its capacity) is drawn yellow...
pub(crate) const MAILBOX_WARN: f64 = 50.0;
/// ...and at least this full, red (and bold, so that it shows without colours too).
pub(crate) const MAILBOX_FULL: f64 = 90.0;
/// The header shows at most this many runtime lines; the last one counts those left out.
pub(crate) const MAX_RUNTIME_LINES: usize = 3;
/// What follows the name of a lagging service in its row.
pub(crate) const LAGGING_MARKER: &str = " !";

/// Green, yellow or red for a mailbox's fill, bold when (nearly) full.
pub(crate) fn mailbox_style(theme: Theme, mailbox: &Mailbox) -> Style {
    let fill = mailbox.fill_percent();
    if fill >= MAILBOX_FULL {
        theme.fg(Color::Red).add_modifier(Modifier::BOLD)
    } else if fill >= MAILBOX_WARN {
        theme.fg(Color::Yellow)
    } else {
        theme.fg(Color::Green)
    }
}

/// How many lines the runtimes take in the header.
pub(crate) fn runtime_line_count(app: &App) -> usize {
    app.runtimes.len().min(MAX_RUNTIME_LINES)
}

/// One line per runtime (`runtime main: 2 workers 99% busy (97%, 100%), 1234 tasks,
/// queue 0`), the busy figures coloured like a service's; past [`MAX_RUNTIME_LINES`] the
/// last line names the runtimes left out.
pub(crate) fn runtime_lines(app: &App, theme: Theme) -> Vec<Line<'static>> {
    let shown = if app.runtimes.len() > MAX_RUNTIME_LINES {
        MAX_RUNTIME_LINES - 1
    } else {
        app.runtimes.len()
    };
    let mut lines: Vec<Line<'static>> = app.runtimes[..shown]
        .iter()
        .map(|runtime| runtime_line(runtime, theme))
        .collect();
    let left_out = &app.runtimes[shown..];
    if !left_out.is_empty() {
        let names: Vec<&str> = left_out.iter().map(|r| r.name.as_str()).collect();
        lines.push(Line::styled(
            format!(
                "{} more runtimes: {} (vigil-top --once lists them all)",
                left_out.len(),
                names.join(", ")
            ),
            theme.fg(Color::DarkGray),
        ));
    }
    lines
}

fn runtime_line(runtime: &RuntimeView, theme: Theme) -> Line<'static> {
    let busy_style = runtime
        .busy_percent()
        .map_or(Style::new(), |busy| theme.busy(busy));
    Line::from(vec![
        Span::raw("runtime "),
        Span::styled(
            runtime.name.clone(),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(": "),
        Span::styled(runtime.workers_text(), busy_style),
        Span::raw(format!(", {}", runtime.tasks_text())),
    ])
}

/// The detail pane's lines on backlog and lag, above the quantiles: the verdict (wrapped
/// at spaces to `width`), the mailbox (two lines) and the wake-to-poll delay, each only
/// when the document has it.
pub(crate) fn detail_lines(service: &ServiceView, theme: Theme, width: u16) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if let Some(verdict) = &service.verdict {
        const LAGGING: &str = "lagging: ";
        let wrapped = wrap(&verdict.sentence(), usize::from(width), LAGGING.len());
        for (index, part) in wrapped.into_iter().enumerate() {
            let lead = if index == 0 {
                Span::styled(LAGGING, theme.fg(Color::Red).add_modifier(Modifier::BOLD))
            } else {
                Span::raw(" ".repeat(LAGGING.len()))
            };
            lines.push(Line::from(vec![lead, Span::raw(part)]));
        }
    }
    if let Some(mailbox) = &service.mailbox {
        lines.push(Line::from(vec![
            Span::raw("mailbox "),
            Span::styled(
                format!(
                    "{} ({:.0}%)",
                    figures::mailbox(mailbox),
                    mailbox.fill_percent()
                ),
                mailbox_style(theme, mailbox),
            ),
            Span::raw(format!(
                "  oldest wait {}",
                figures::duration(Duration::from_nanos(mailbox.oldest_wait_ns))
            )),
        ]));
        lines.push(Line::raw(format!(
            "sent {}  received {}  rejected {}",
            mailbox.sent, mailbox.received, mailbox.rejected
        )));
    }
    if let Some(scheduling) = &service.scheduling {
        let mean = service
            .wake_to_poll
            .map_or_else(|| "-".to_owned(), figures::duration);
        lines.push(Line::raw(format!(
            "wake-to-poll {mean} mean over the last interval (max {} ever)",
            figures::duration(Duration::from_nanos(scheduling.max_scheduling_delay_ns))
        )));
    }
    lines
}

/// `text` cut at spaces into lines of at most `width` characters after an `indent`
/// (a word longer than a line is cut where the line ends); at least one line.
fn wrap(text: &str, width: usize, indent: usize) -> Vec<String> {
    let room = width.saturating_sub(indent).max(1);
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let line = lines.last_mut().expect("at least one line");
            let used = line.chars().count();
            let needed = word.len() + usize::from(used > 0);
            if used + needed <= room {
                if used > 0 {
                    line.push(' ');
                }
                line.extend(word);
                break;
            }
            if used == 0 {
                // Longer than a whole line: cut it.
                let rest = word.split_off(room);
                line.extend(word);
                word = rest;
            }
            lines.push(String::new());
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn sentences_wrap_at_spaces_and_long_words_are_cut() {
        assert_eq!(
            wrap("polls slow (p99 8 ms)", 80, 9),
            ["polls slow (p99 8 ms)"]
        );
        assert_eq!(
            wrap("runtime saturated (2/2 workers 99 % busy)", 32, 9),
            ["runtime saturated (2/2", "workers 99 % busy)"]
        );
        assert_eq!(wrap("abcdefgh", 5, 1), ["abcd", "efgh"]);
        assert_eq!(wrap("", 5, 9), [""]);
    }
}
