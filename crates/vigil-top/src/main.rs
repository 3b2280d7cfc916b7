//! `vigil-top`: a live terminal dashboard of the services of a process serving vigil's endpoint.
//!
//! ```text
//! vigil-top [OPTIONS] URL     attach to http://HOST:PORT (reads URL/snapshot.json)
//! vigil-top [OPTIONS] --demo  run synthetic supervised services in-process and show them
//! ```
//!
//! Options: `--once` (print one plain table and exit; the default when stdout is not a
//! terminal), `--interval SECS` (refresh, default 1), `--stuck-after SECS` (default 1),
//! `--no-color` (also `NO_COLOR`). See docs/top.md for the columns and keys.
//!
//! `--demo` needs the default feature `demo`; `cargo install vigil-top
//! --no-default-features` builds an attach-only dashboard without vigil's server side.
//!
//! The dashboard ends on `q` or Ctrl-C (exit status 0), and on SIGTERM, SIGHUP (its terminal
//! went away) or a SIGINT sent by another process (exit status 128 + the signal's number, as
//! a shell reports a process killed by it); the terminal is restored either way.

#[cfg(feature = "demo")]
mod demo;
mod figures;
mod folded;
mod keys;
mod model;
mod plain;
mod poller;
mod profiling;
mod runtimes;
mod source;
mod stacks;
mod state;
mod ui;
mod ui_backlog;
mod ui_profiling;
mod view;

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event};
use ratatui::crossterm::{cursor, execute, terminal};
use ratatui::prelude::CrosstermBackend;
use ratatui::Terminal;

use crate::keys::Flow;
use crate::poller::{Poller, Update};
use crate::source::Client;
use crate::state::App;
use crate::ui::Theme;

const USAGE: &str = "\
usage: vigil-top [--once] [--interval SECS] [--stuck-after SECS] [--no-color] URL
       vigil-top [--once] [--interval SECS] [--no-color] --demo

  URL              a process serving vigil's endpoint, e.g. http://127.0.0.1:9898
                   (vigil-top reads URL/snapshot.json)
  --demo           run synthetic supervised services in this process and show them
  --once           print one plain table and exit (default when stdout is not a terminal)
  --interval SECS  refresh interval (default 1; + and - change it live)
  --stuck-after SECS  a poll in flight longer than this is STUCK (default 1)
  --no-color       no colours (also when NO_COLOR is set)

keys: q quit, ←/→ sort, r invert, / filter, space pause, Enter expand,
      p profile (2 s), ? help";

/// Set while the terminal is in raw mode on the alternate screen.
static TERMINAL_ACTIVE: AtomicBool = AtomicBool::new(false);

#[derive(Debug)]
struct Options {
    target: Option<String>,
    demo: bool,
    once: bool,
    color: bool,
    interval: Duration,
    stuck_after: Duration,
}

fn seconds(value: std::ffi::OsString) -> Result<Duration, lexopt::Error> {
    use lexopt::ValueExt as _;
    let text: String = value.string()?;
    text.parse::<f64>()
        .ok()
        .filter(|seconds| *seconds > 0.0)
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .ok_or_else(|| format!("`{text}` is not a positive number of seconds").into())
}

fn parse_options() -> Result<Options, lexopt::Error> {
    use lexopt::prelude::*;
    let mut options = Options {
        target: None,
        demo: false,
        once: false,
        color: std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty()),
        interval: Duration::from_secs(1),
        stuck_after: Duration::from_secs(1),
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("demo") => options.demo = true,
            Long("once") => options.once = true,
            Long("no-color") => options.color = false,
            Long("interval") => options.interval = seconds(parser.value()?)?,
            Long("stuck-after") => options.stuck_after = seconds(parser.value()?)?,
            Short('h') | Long("help") => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            Value(target) if options.target.is_none() => options.target = Some(target.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    match (&options.target, options.demo) {
        (None, false) => Err("give a URL to attach to, or --demo".into()),
        (Some(_), true) => Err("give either a URL or --demo, not both".into()),
        _ => Ok(options),
    }
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("vigil-top: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    install_panic_hook();
    // The demo's services run until it is dropped, at the end of `main`.
    let (target, _demo) = match &options.target {
        Some(target) => (target.clone(), None),
        None => match start_demo() {
            Ok(demo) => demo,
            Err(exit) => return exit,
        },
    };
    let url = source::document_url(&target);
    // A request may take most of an interval, never much longer.
    let client = Client::new(url, options.interval.max(Duration::from_secs(2)));
    if options.once || !std::io::stdout().is_terminal() {
        run_once(&client, &target, &options)
    } else {
        match run_live(client, target, &options) {
            Ok(None) => ExitCode::SUCCESS,
            // Below 128 + 64: every signal number fits.
            Ok(Some(signal)) => ExitCode::from(128 + u8::try_from(signal).unwrap_or(0)),
            Err(error) => {
                eprintln!("vigil-top: terminal error: {error}");
                ExitCode::FAILURE
            }
        }
    }
}

/// Starts `--demo`'s services; returns the URL to attach to and the running demo.
#[cfg(feature = "demo")]
fn start_demo() -> Result<(String, Option<demo::Demo>), ExitCode> {
    match demo::Demo::start() {
        Ok(demo) => Ok((demo.url(), Some(demo))),
        Err(error) => {
            eprintln!("vigil-top: cannot start the demo: {error}");
            Err(ExitCode::FAILURE)
        }
    }
}

/// Built without the `demo` feature: `--demo` is a usage error that says how to get it.
#[cfg(not(feature = "demo"))]
fn start_demo() -> Result<(String, Option<std::convert::Infallible>), ExitCode> {
    eprintln!(
        "vigil-top: --demo is not in this build (built without the `demo` feature); \
         attach to a URL, or build vigil-top with its default features"
    );
    Err(ExitCode::from(2))
}

/// Two documents `--interval` apart (rates need a difference), printed as one table.
fn run_once(client: &Client, target: &str, options: &Options) -> ExitCode {
    let mut app = App::new(target.to_owned(), options.interval, Instant::now());
    app.stuck_after = options.stuck_after;
    match client.fetch() {
        Ok(document) => app.on_fetch(Ok(document), Instant::now()),
        Err(error) => {
            let what = match error {
                source::FetchError::Unreachable(_) => "disconnected: ",
                source::FetchError::Invalid(_) => "",
            };
            eprintln!("vigil-top: {what}{error}");
            return ExitCode::FAILURE;
        }
    }
    std::thread::sleep(options.interval);
    // If the second fetch fails the table still shows the first (without rates), with the
    // reason as a warning line.
    app.on_fetch(client.fetch(), Instant::now());
    print!("{}", plain::render(&app));
    // Where the stuck services are blocked, when the endpoint has a profiler (a 404, or
    // any failure, leaves the table as it is: the stacks are a bonus here).
    let stuck = app
        .services
        .values()
        .any(|service| service.state == state::ServiceState::Stuck);
    if stuck {
        if let Ok(stacks) = client.fetch_stacks() {
            print!("{}", plain::render_stacks(&stacks));
        }
    }
    ExitCode::SUCCESS
}

/// Puts the terminal back: cooked mode, main screen, visible cursor.
fn restore_terminal() {
    if TERMINAL_ACTIVE.swap(false, Ordering::SeqCst) {
        ratatui::restore();
        let _ = execute!(std::io::stdout(), cursor::Show);
    }
}

/// Restores the terminal on a panic of the UI (main) thread only. A panic elsewhere (a demo
/// service, caught by tokio and shown in the events pane) leaves the screen alone, and
/// is not printed over it while the dashboard is up; the demo's own panics, expected and
/// reported in the table, are never printed.
fn install_panic_hook() {
    let ui_thread = std::thread::current().id();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        if thread.id() == ui_thread {
            restore_terminal();
            previous(info);
        } else if !TERMINAL_ACTIVE.load(Ordering::SeqCst) && !is_demo_thread(&thread) {
            previous(info);
        }
    }));
}

/// Whether `thread` runs `--demo`'s services.
#[cfg(feature = "demo")]
fn is_demo_thread(thread: &std::thread::Thread) -> bool {
    thread
        .name()
        .is_some_and(|name| name.starts_with(demo::THREAD_NAME))
}

/// Without the `demo` feature no thread runs demo services.
#[cfg(not(feature = "demo"))]
fn is_demo_thread(_thread: &std::thread::Thread) -> bool {
    false
}

/// Signals that end the dashboard: from another process (SIGTERM, SIGINT: Ctrl-C in raw mode
/// is a key, not a signal) or from the terminal going away (SIGHUP).
const STOP_SIGNALS: [i32; 3] = [
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGHUP,
    signal_hook::consts::SIGINT,
];

/// Makes [`STOP_SIGNALS`] set the returned number (0 until one arrives) instead of killing
/// the process, so the UI loop can restore the terminal first. The handler only stores
/// the number (`signal_hook::flag`): async-signal-safe.
fn stop_on_signals() -> std::io::Result<Arc<AtomicUsize>> {
    let received = Arc::new(AtomicUsize::new(0));
    for signal in STOP_SIGNALS {
        let number = usize::try_from(signal).expect("signal numbers are positive");
        signal_hook::flag::register_usize(signal, Arc::clone(&received), number)?;
    }
    Ok(received)
}

/// The interactive dashboard, until `q` or Ctrl-C (`None`) or one of [`STOP_SIGNALS`] (its
/// number).
fn run_live(client: Client, target: String, options: &Options) -> std::io::Result<Option<i32>> {
    let (poller, updates) = Poller::spawn(client, options.interval, options.stuck_after);
    let mut app = App::new(target, options.interval, Instant::now());
    app.stuck_after = options.stuck_after;
    let theme = Theme {
        color: options.color,
    };
    let mut interest = app.stack_interest();
    poller.set_stack_interest(interest.clone());

    // Before the terminal changes: from here on these signals end the loop instead.
    let stop_signal = stop_on_signals()?;
    terminal::enable_raw_mode()?;
    TERMINAL_ACTIVE.store(true, Ordering::SeqCst);
    let result = (|| {
        execute!(std::io::stdout(), terminal::EnterAlternateScreen)?;
        let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
        let mut dirty = true;
        loop {
            // Relaxed: the number is the whole message; the loop sees it within one
            // poll timeout (100 ms) at worst.
            match stop_signal.load(Ordering::Relaxed) {
                0 => {}
                signal => return Ok(i32::try_from(signal).ok()),
            }
            if dirty {
                terminal.draw(|frame| ui::draw(frame, &app, theme))?;
                dirty = false;
            }
            // A signal may interrupt the wait: then look at the flag again.
            let ready = match event::poll(Duration::from_millis(100)) {
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => false,
                ready => ready?,
            };
            if ready {
                match event::read()? {
                    Event::Key(key) => {
                        let interval = app.interval;
                        match app.on_key(key) {
                            Flow::Quit => return Ok(None),
                            Flow::Profile => {
                                if let Some(seconds) = app.request_profile(Instant::now()) {
                                    poller.start_profile(seconds);
                                }
                            }
                            Flow::Continue => {}
                        }
                        if app.interval != interval {
                            poller.set_interval(app.interval);
                        }
                    }
                    Event::Resize(..) => {}
                    _ => continue,
                }
                dirty = true;
            }
            while let Ok(update) = updates.try_recv() {
                match update {
                    Update::Document(fetched, at) => app.on_fetch(fetched, at),
                    Update::Stacks(fetched) => app.on_stacks(fetched),
                    Update::Profile(fetched) => app.on_profile(fetched, Instant::now()),
                }
                dirty = true;
            }
            // The profiling countdown ticks without any update.
            dirty |= app.profiling_left(Instant::now()).is_some();
            // Keys and documents change which row the detail pane shows.
            let now_shown = app.stack_interest();
            if now_shown != interest {
                interest = now_shown;
                poller.set_stack_interest(interest.clone());
            }
        }
    })();
    restore_terminal();
    result
}
