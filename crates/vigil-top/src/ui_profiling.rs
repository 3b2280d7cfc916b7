//! Drawing what the profiler says in the detail pane: a stuck service's stack, the profile.

use std::time::{Duration, Instant};

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;

use crate::figures;
use crate::folded::{self, HOTTEST};
use crate::profiling::{ProfileRun, StacksRoute};
use crate::stacks::StuckStack;
use crate::state::{App, RowKey, ServiceState};
use crate::ui::Theme;

/// What the detail pane shows of a stuck service's poll: its stack, or why none.
#[derive(Debug)]
pub(crate) enum StackSection<'a> {
    /// The stack (or the capture's error) of one stuck instance; `stuck_instances` of
    /// its name are listed in all.
    Stack {
        entry: &'a StuckStack,
        stuck_instances: usize,
    },
    /// The route answered, but not with this poll (not past the endpoint's own threshold
    /// yet, or captured before it began).
    NotYet { endpoint_stuck_after: Duration },
    /// The stacks fetch failed.
    Failed(&'a str),
}

impl StackSection<'_> {
    /// Lines it would take with room for everything.
    pub(crate) fn wanted_lines(&self) -> u16 {
        match self {
            Self::Stack { entry, .. } if entry.error.is_none() => {
                u16::try_from(entry.frames.len() + 1).unwrap_or(u16::MAX)
            }
            Self::Stack { .. } => 2,
            Self::NotYet { .. } | Self::Failed(_) => 1,
        }
    }
}

/// The stack section for the detail pane's row, when that row's service is STUCK and
/// the endpoint has a profiler (nothing at all without one).
pub(crate) fn stack_section<'a>(app: &'a App, row: &RowKey) -> Option<StackSection<'a>> {
    let service = app.services.get(row.name())?;
    if service.state != ServiceState::Stuck || app.stacks.route == StacksRoute::Absent {
        return None;
    }
    if let Some(document) = &app.stacks.document {
        if let Some(entry) = document.entry_for(row) {
            return Some(StackSection::Stack {
                entry,
                stuck_instances: document.count_of(row.name()),
            });
        }
    }
    if let Some(error) = &app.stacks.error {
        return Some(StackSection::Failed(error));
    }
    app.stacks
        .document
        .as_ref()
        .map(|document| StackSection::NotYet {
            endpoint_stuck_after: Duration::from_nanos(document.stuck_after_ns),
        })
}

/// The section as at most `height` lines of at most `width` characters. When the whole
/// stack does not fit, frames that only carry the poll (the runtime, wrappers) are the
/// first left out; the innermost frames are kept, and a last line counts what is hidden.
pub(crate) fn stack_lines(
    section: &StackSection<'_>,
    width: u16,
    height: u16,
    theme: Theme,
) -> Vec<Line<'static>> {
    let height = usize::from(height);
    let width = usize::from(width);
    if height == 0 {
        return Vec::new();
    }
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let (entry, stuck_instances) = match section {
        StackSection::Stack {
            entry,
            stuck_instances,
        } => (*entry, *stuck_instances),
        StackSection::NotYet {
            endpoint_stuck_after,
        } => {
            return vec![Line::styled(
                format!(
                    "stack: not captured yet (the endpoint captures polls over {})",
                    figures::duration(*endpoint_stuck_after)
                ),
                theme.fg(Color::DarkGray),
            )];
        }
        StackSection::Failed(reason) => {
            return vec![Line::styled(
                format!("stack: {reason}"),
                theme.fg(Color::Red),
            )];
        }
    };
    let thread = match (&entry.thread_name, entry.thread_id) {
        (Some(name), Some(id)) => format!(" (thread {name}, tid {id})"),
        (Some(name), None) => format!(" (thread {name})"),
        (None, Some(id)) => format!(" (thread tid {id})"),
        (None, None) => String::new(),
    };
    let others = if stuck_instances > 1 {
        format!(", 1 of {stuck_instances} stuck")
    } else {
        String::new()
    };
    let mut lines = vec![Line::styled(
        format!("stack of {}{thread}{others}:", entry.id),
        bold,
    )];
    if let Some(error) = &entry.error {
        lines.push(Line::styled(
            format!("  no stack: {error}"),
            theme.fg(Color::Red),
        ));
        lines.truncate(height);
        return lines;
    }
    let frames = &entry.frames;
    let shown = shown_frames(entry, height - 1);
    let digits = frames.len().saturating_sub(1).to_string().len();
    for &index in &shown {
        let frame = &frames[index];
        let prefix = format!("{index:>digits$} ");
        let text = frame.line_within(width.saturating_sub(prefix.chars().count()));
        let style = if frame.is_plumbing() {
            theme.fg(Color::DarkGray)
        } else {
            Style::new()
        };
        lines.push(Line::styled(format!("{prefix}{text}"), style));
    }
    let hidden = frames.len() - shown.len();
    if hidden > 0 {
        lines.push(Line::styled(
            format!("… {hidden} more frames (runtime plumbing left out first)"),
            theme.fg(Color::DarkGray),
        ));
    }
    lines
}

/// Indices of the frames shown in `room` lines: all when they fit; else, keeping a line
/// to count the rest, the innermost frame, then the other non-plumbing frames, then
/// plumbing ones while room is left, all innermost first.
fn shown_frames(entry: &StuckStack, room: usize) -> Vec<usize> {
    let frames = &entry.frames;
    if frames.len() <= room {
        return (0..frames.len()).collect();
    }
    let budget = room.saturating_sub(1);
    let mut shown: Vec<usize> = (0..frames.len())
        .filter(|&index| index == 0 || !frames[index].is_plumbing())
        .take(budget)
        .collect();
    let plumbing = (0..frames.len()).filter(|index| !shown.contains(index));
    let left = budget - shown.len();
    shown.extend(plumbing.take(left).collect::<Vec<_>>());
    shown.sort_unstable();
    shown
}

/// The profile section for the service `name`: a countdown while recording, the one-line
/// failure, or its hottest functions with their share of the service's samples.
pub(crate) fn profile_lines(
    app: &App,
    name: &str,
    width: u16,
    now: Instant,
    theme: Theme,
) -> Option<Vec<Line<'static>>> {
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let lines = match app.profile.as_ref()? {
        ProfileRun::Running { .. } => {
            let left = app.profiling_left(now).unwrap_or_default();
            vec![Line::styled(
                format!("profiling… {}s", left.as_secs_f64().ceil()),
                theme.fg(Color::Yellow).add_modifier(Modifier::BOLD),
            )]
        }
        ProfileRun::Failed(reason) => vec![Line::styled(reason.clone(), theme.fg(Color::Red))],
        ProfileRun::Done { seconds, stacks } => {
            let hottest = folded::hottest(stacks, name, HOTTEST);
            let mut lines = vec![Line::styled(
                format!(
                    "CPU profile, {seconds}s: {name} {} of {} samples (Esc closes)",
                    hottest.service_samples, hottest.total_samples
                ),
                bold,
            )];
            if hottest.functions.is_empty() {
                lines.push(Line::styled(
                    format!("no samples inside {name}'s polls: it spent no CPU meanwhile"),
                    theme.fg(Color::DarkGray),
                ));
            }
            let room = usize::from(width).saturating_sub(16);
            for (function, count, share) in hottest.functions {
                let function: String = if function.chars().count() > room {
                    // The end of a path names the function; its start only the crate.
                    let skip = function.chars().count() - room.saturating_sub(1);
                    format!("…{}", function.chars().skip(skip).collect::<String>())
                } else {
                    function
                };
                lines.push(Line::raw(format!("{share:>5.1}% {count:>7}  {function}")));
            }
            lines
        }
    };
    Some(lines)
}
