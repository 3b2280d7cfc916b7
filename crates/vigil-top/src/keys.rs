//! Keys as pure state transitions (htop and tokio-console conventions).
//!
//! | key | does |
//! |---|---|
//! | `q`, Ctrl-C | quit |
//! | ←/→, `<`/`>` | sort by the previous/next column |
//! | `r` | invert the sort |
//! | `/` | type a name filter, matched against `process/service` with several processes (Enter keeps it, Esc clears it) |
//! | space | pause (the screen freezes; fetching goes on) |
//! | Enter | expand a service into its instances, or fold it back |
//! | ↑/↓, `k`/`j`, PgUp/PgDn, Home/End | select a row (the detail pane follows) |
//! | `+`/`-` | longer/shorter refresh interval |
//! | `p` | record a 2 s CPU profile; the detail pane shows the selected service's hottest functions |
//! | Esc | close the profile, else clear the filter |
//! | `?` | help; any key closes it |
//!
//! While replaying, `main.rs` hands space, `.`/`n` and `+`/`-` to the player instead.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::state::{App, RowKey, SortColumn, INTERVALS};

/// What the event loop does after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Quit,
    /// Record a profile: the event loop asks [`App::request_profile`] and starts it.
    Profile,
}

/// Rows moved by PgUp/PgDn.
const PAGE: usize = 10;

impl App {
    /// Applies one key press.
    pub(crate) fn on_key(&mut self, key: KeyEvent) -> Flow {
        if key.kind == KeyEventKind::Release {
            return Flow::Continue;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c' | 'C')) {
            return Flow::Quit;
        }
        if self.editing_filter {
            match key.code {
                KeyCode::Enter => self.editing_filter = false,
                KeyCode::Esc => {
                    self.editing_filter = false;
                    self.filter.clear();
                }
                KeyCode::Backspace => {
                    self.filter.pop();
                }
                KeyCode::Char(c) if !ctrl => self.filter.push(c),
                _ => {}
            }
            self.keep_selection_valid();
            return Flow::Continue;
        }
        if self.show_help {
            self.show_help = false;
            return if key.code == KeyCode::Char('q') {
                Flow::Quit
            } else {
                Flow::Continue
            };
        }
        match key.code {
            KeyCode::Char('q') => return Flow::Quit,
            KeyCode::Char('?') => self.show_help = true,
            KeyCode::Left | KeyCode::Char('<') => self.step_sort(SortColumn::ALL.len() - 1),
            KeyCode::Right | KeyCode::Char('>') => self.step_sort(1),
            KeyCode::Char('r') => self.reverse = !self.reverse,
            KeyCode::Char('/') => self.editing_filter = true,
            KeyCode::Esc if self.profile.is_some() => self.profile = None,
            KeyCode::Esc => self.filter.clear(),
            KeyCode::Char('p') => return Flow::Profile,
            KeyCode::Char(' ') => self.paused = !self.paused,
            KeyCode::Enter => self.toggle_expanded(),
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(1),
            KeyCode::PageUp => self.move_selection(-(PAGE as isize)),
            KeyCode::PageDown => self.move_selection(PAGE as isize),
            KeyCode::Home => self.move_selection(isize::MIN),
            KeyCode::End => self.move_selection(isize::MAX),
            KeyCode::Char('+' | '=') => self.step_interval(true),
            KeyCode::Char('-' | '_') => self.step_interval(false),
            _ => {}
        }
        self.keep_selection_valid();
        Flow::Continue
    }

    fn step_sort(&mut self, by: usize) {
        let all = SortColumn::ALL;
        self.sort = all[(self.sort.index() + by) % all.len()];
    }

    fn toggle_expanded(&mut self) {
        let Some(row) = self.selected_row() else {
            return;
        };
        let name = row.name().to_owned();
        if !self.expanded.remove(&name) {
            self.expanded.insert(name.clone());
        }
        self.selected = Some(RowKey::Service(name));
    }

    fn move_selection(&mut self, by: isize) {
        let rows = self.rows();
        if rows.is_empty() {
            return;
        }
        let current = self
            .selected_row()
            .and_then(|selected| rows.iter().position(|row| *row == selected))
            .unwrap_or(0);
        let target = current.saturating_add_signed(by).min(rows.len() - 1);
        self.selected = Some(rows[target].clone());
    }

    /// One step along [`INTERVALS`]: longer when `longer`, else shorter.
    fn step_interval(&mut self, longer: bool) {
        let next = if longer {
            INTERVALS.iter().find(|step| **step > self.interval)
        } else {
            INTERVALS.iter().rev().find(|step| **step < self.interval)
        };
        if let Some(next) = next {
            self.interval = *next;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::model::{parse, SAMPLE};
    use crate::state::ServiceState;

    fn press(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn app() -> App {
        let now = Instant::now();
        let mut app = App::new("test".to_owned(), Duration::from_secs(1), now);
        app.ingest(parse(SAMPLE.as_bytes()).expect("sample"), now);
        app
    }

    fn names(app: &App) -> Vec<String> {
        app.rows()
            .iter()
            .map(|row| match row {
                RowKey::Service(name) => name.clone(),
                RowKey::Instance(name, id) => format!("{name}#{id}"),
            })
            .collect()
    }

    #[test]
    fn q_and_ctrl_c_quit_other_keys_do_not() {
        let mut app = app();
        assert_eq!(app.on_key(press(KeyCode::Char('x'))), Flow::Continue);
        assert_eq!(app.on_key(press(KeyCode::Char('q'))), Flow::Quit);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(app.on_key(ctrl_c), Flow::Quit);
        // Even while typing a filter.
        app.on_key(press(KeyCode::Char('/')));
        assert_eq!(app.on_key(ctrl_c), Flow::Quit);
        assert_eq!(app.on_key(press(KeyCode::Char('q'))), Flow::Continue);
        assert_eq!(app.filter, "q");
    }

    #[test]
    fn arrows_choose_the_sort_column_and_r_inverts() {
        let mut app = app();
        assert_eq!(app.sort, SortColumn::Busy);
        app.on_key(press(KeyCode::Right));
        assert_eq!(app.sort, SortColumn::Utilization);
        app.on_key(press(KeyCode::Char('<')));
        app.on_key(press(KeyCode::Left));
        assert_eq!(app.sort, SortColumn::PollsPerSecond);
        for _ in 0..3 {
            app.on_key(press(KeyCode::Left));
        }
        assert_eq!(app.sort, SortColumn::Name);
        app.on_key(press(KeyCode::Left));
        assert_eq!(app.sort, SortColumn::Endings, "wraps around");
        app.on_key(press(KeyCode::Char('>')));
        assert_eq!(app.sort, SortColumn::Name);
        assert!(!app.reverse);
        app.on_key(press(KeyCode::Char('r')));
        assert!(app.reverse);
    }

    #[test]
    fn stuck_stays_first_whatever_the_sort() {
        let mut app = app();
        assert_eq!(app.services["stuck"].state, ServiceState::Stuck);
        app.sort = SortColumn::Name;
        for reverse in [false, true] {
            app.reverse = reverse;
            assert_eq!(names(&app), ["stuck", "consumer"]);
        }
    }

    #[test]
    fn slash_filters_by_name_enter_keeps_escape_clears() {
        let mut app = app();
        app.on_key(press(KeyCode::Char('/')));
        assert!(app.editing_filter);
        for c in "CONS".chars() {
            app.on_key(press(KeyCode::Char(c)));
        }
        assert_eq!(names(&app), ["consumer"], "case-insensitive substring");
        app.on_key(press(KeyCode::Enter));
        assert!(!app.editing_filter);
        assert_eq!(app.filter, "CONS");
        // Keys act normally again, the filter stays.
        app.on_key(press(KeyCode::Char('r')));
        assert!(app.reverse);
        assert_eq!(names(&app), ["consumer"]);
        app.on_key(press(KeyCode::Char('/')));
        app.on_key(press(KeyCode::Backspace));
        assert_eq!(app.filter, "CON");
        app.on_key(press(KeyCode::Esc));
        assert!(app.filter.is_empty());
        assert_eq!(names(&app).len(), 2);
    }

    #[test]
    fn space_pauses_and_a_paused_app_ignores_documents() {
        let mut app = app();
        app.on_key(press(KeyCode::Char(' ')));
        assert!(app.paused);
        let mut later = parse(SAMPLE.as_bytes()).expect("sample");
        later.taken_at_ns += 1_000_000_000;
        later.groups[0].poll_count += 500;
        app.on_fetch(Ok(later.clone()), Instant::now());
        assert_eq!(app.services["consumer"].polls_per_second, None);
        app.on_key(press(KeyCode::Char(' ')));
        assert!(!app.paused);
        app.on_fetch(Ok(later), Instant::now());
        assert_eq!(app.services["consumer"].polls_per_second, Some(500.0));
    }

    #[test]
    fn enter_expands_the_selected_service_into_its_instances() {
        let mut app = app();
        app.on_key(press(KeyCode::Down));
        assert_eq!(app.selected, Some(RowKey::Service("consumer".to_owned())));
        app.on_key(press(KeyCode::Enter));
        assert_eq!(
            names(&app),
            ["stuck", "consumer", "consumer#6", "consumer#7"]
        );
        app.on_key(press(KeyCode::Down));
        assert_eq!(
            app.selected,
            Some(RowKey::Instance("consumer".to_owned(), 6))
        );
        // Enter on an instance folds its service back and selects it.
        app.on_key(press(KeyCode::Enter));
        assert_eq!(names(&app), ["stuck", "consumer"]);
        assert_eq!(app.selected, Some(RowKey::Service("consumer".to_owned())));
        app.on_key(press(KeyCode::Home));
        assert_eq!(app.selected, Some(RowKey::Service("stuck".to_owned())));
        app.on_key(press(KeyCode::End));
        assert_eq!(app.selected, Some(RowKey::Service("consumer".to_owned())));
    }

    #[test]
    fn the_first_row_is_selected_until_a_key_selects_another() {
        let mut app = app();
        assert_eq!(app.selected, None);
        assert_eq!(
            app.selected_row(),
            Some(RowKey::Service("stuck".to_owned()))
        );
        app.on_key(press(KeyCode::Char('j')));
        let consumer = Some(RowKey::Service("consumer".to_owned()));
        assert_eq!(app.selected, consumer);
        // A selected row stays selected when the order changes.
        app.on_key(press(KeyCode::Char('r')));
        assert_eq!(app.selected_row(), consumer);
        // A filter that hides it falls back to the first row shown.
        app.filter = "stu".to_owned();
        app.keep_selection_valid();
        assert_eq!(
            app.selected_row(),
            Some(RowKey::Service("stuck".to_owned()))
        );
    }

    #[test]
    fn plus_and_minus_step_the_interval_within_bounds() {
        let mut app = app();
        app.on_key(press(KeyCode::Char('+')));
        assert_eq!(app.interval, Duration::from_secs(2));
        app.on_key(press(KeyCode::Char('-')));
        app.on_key(press(KeyCode::Char('-')));
        assert_eq!(app.interval, Duration::from_millis(500));
        for _ in 0..10 {
            app.on_key(press(KeyCode::Char('-')));
        }
        assert_eq!(app.interval, INTERVALS[0]);
        for _ in 0..10 {
            app.on_key(press(KeyCode::Char('+')));
        }
        assert_eq!(app.interval, INTERVALS[INTERVALS.len() - 1]);
    }

    #[test]
    fn p_asks_for_a_profile_and_escape_closes_it_before_clearing_the_filter() {
        let mut app = app();
        assert_eq!(app.on_key(press(KeyCode::Char('p'))), Flow::Profile);
        app.filter = "cons".to_owned();
        app.profile = Some(crate::profiling::ProfileRun::Failed("x".to_owned()));
        app.on_key(press(KeyCode::Esc));
        assert!(app.profile.is_none());
        assert_eq!(app.filter, "cons");
        app.on_key(press(KeyCode::Esc));
        assert!(app.filter.is_empty());
    }

    #[test]
    fn question_mark_opens_help_and_any_key_closes_it() {
        let mut app = app();
        app.on_key(press(KeyCode::Char('?')));
        assert!(app.show_help);
        assert_eq!(app.on_key(press(KeyCode::Char('r'))), Flow::Continue);
        assert!(!app.show_help);
        assert!(!app.reverse, "the closing key does nothing else");
    }
}
