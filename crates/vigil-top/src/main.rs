//! `vigil-top`: a live terminal dashboard of the services of a process serving vigil's endpoint.
//!
//! ```text
//! vigil-top [OPTIONS] URL [URL ...]    attach to http://HOST:PORT (reads URL/snapshot.json)
//! vigil-top [OPTIONS] --prometheus URL every process a Prometheus server scrapes
//! vigil-top [OPTIONS] --demo           run synthetic supervised services in-process
//! vigil-top [OPTIONS] --replay FILE    play back what `--record FILE` wrote
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
mod feed;
mod figures;
mod fleet;
mod folded;
mod keys;
mod model;
mod plain;
mod poller;
mod profiling;
mod prometheus;
mod recording;
mod replay;
mod runtimes;
mod source;
mod stacks;
mod state;
mod ui;
mod ui_backlog;
mod ui_profiling;
mod view;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event};
use ratatui::crossterm::{cursor, execute, terminal};
use ratatui::prelude::CrosstermBackend;
use ratatui::Terminal;

use crate::feed::{Kind, RawFetch, Source, SourceSpec};
use crate::fleet::Fleet;
use crate::keys::Flow;
use crate::poller::{Poller, Update};
use crate::recording::{Record, Recorder};
use crate::state::App;
use crate::ui::Theme;

const USAGE: &str = "\
usage: vigil-top [OPTIONS] URL [URL ...]
       vigil-top [OPTIONS] --prometheus URL
       vigil-top [OPTIONS] --demo
       vigil-top [--once] [--no-color] --replay FILE

  URL              a process serving vigil's endpoint, e.g. http://127.0.0.1:9898
                   (vigil-top reads URL/snapshot.json); several: one table, a process column
  --prometheus URL every process a Prometheus server scrapes vigil's series of
  --demo           run synthetic supervised services in this process and show them
  --record FILE    also write every fetch, compressed, to FILE
  --replay FILE    play a recording back (space pause, . step, +/- speed)
  --once           print one plain table and exit (default when stdout is not a terminal);
                   with --demo, first each kind of verdict as it appears (30 s at most)
  --interval SECS  refresh interval (default 1; + and - change it live)
  --stuck-after SECS  a poll in flight longer than this is STUCK (default 1)
  --no-color       no colours (also when NO_COLOR is set)

keys: q quit, ←/→ sort, r invert, / filter (service or process), space pause,
      Enter expand, p profile (2 s, one endpoint), ? help";

/// Set while the terminal is in raw mode on the alternate screen.
static TERMINAL_ACTIVE: AtomicBool = AtomicBool::new(false);

#[derive(Debug)]
struct Options {
    targets: Vec<String>,
    prometheus: Option<String>,
    demo: bool,
    record: Option<PathBuf>,
    replay: Option<PathBuf>,
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
        targets: Vec::new(),
        prometheus: None,
        demo: false,
        record: None,
        replay: None,
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
            Long("prometheus") => options.prometheus = Some(parser.value()?.string()?),
            Long("record") => options.record = Some(parser.value()?.into()),
            Long("replay") => options.replay = Some(parser.value()?.into()),
            Short('h') | Long("help") => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            Value(target) => options.targets.push(target.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    let sources = usize::from(!options.targets.is_empty())
        + usize::from(options.demo)
        + usize::from(options.prometheus.is_some())
        + usize::from(options.replay.is_some());
    match sources {
        0 => Err("give a URL to attach to, --prometheus URL, --demo or --replay FILE".into()),
        1 if options.replay.is_some() && options.record.is_some() => {
            Err("--record and --replay do not go together".into())
        }
        1 => Ok(options),
        _ => Err("give URLs, --prometheus URL, --demo or --replay FILE: one of them".into()),
    }
}

/// What to watch: the sources, and what the header names.
#[derive(Debug)]
struct Setup {
    sources: Vec<SourceSpec>,
    target: String,
    interval: Duration,
    stuck_after: Duration,
}

impl Setup {
    fn header(&self) -> recording::Header {
        let nanos = |duration: Duration| u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        recording::Header {
            target: self.target.clone(),
            interval_ns: nanos(self.interval),
            stuck_after_ns: nanos(self.stuck_after),
            sources: self.sources.clone(),
        }
    }

    /// An empty screen for these sources, and the fleet that fills it.
    fn screen(&self, started: Instant) -> (App, Fleet) {
        let mut app = App::new(self.target.clone(), self.interval, started);
        app.stuck_after = self.stuck_after;
        let fleet = Fleet::new(
            &self.sources,
            self.target.clone(),
            self.interval,
            self.stuck_after,
            started,
        );
        (app, fleet)
    }

    /// The only endpoint, when there is exactly one: stacks and profiles need one.
    fn single_endpoint(&self) -> bool {
        matches!(&self.sources[..], [source] if source.kind == Kind::Snapshot)
    }
}

/// The URLs given on the command line (or the demo's) as sources.
fn endpoints_setup(targets: &[String], options: &Options) -> Setup {
    let sources: Vec<SourceSpec> = targets
        .iter()
        .map(|target| SourceSpec {
            kind: Kind::Snapshot,
            url: source::document_url(target),
        })
        .collect();
    let target = match targets {
        [one] => one.clone(),
        _ => {
            let labels: Vec<String> = sources.iter().map(SourceSpec::label).collect();
            let joined = labels.join(" ");
            if joined.chars().count() <= 60 {
                joined
            } else {
                format!("{} endpoints", labels.len())
            }
        }
    };
    Setup {
        sources,
        target,
        interval: options.interval,
        stuck_after: options.stuck_after,
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
    let mut replay = None;
    // The demo's services run until it is dropped, at the end of `main`.
    let mut _demo = None;
    let setup = if let Some(path) = &options.replay {
        match recording::read(path) {
            Ok(recording) => {
                let header = &recording.header;
                let setup = Setup {
                    sources: header.sources.clone(),
                    target: header.target.clone(),
                    interval: Duration::from_nanos(header.interval_ns.max(1)),
                    stuck_after: Duration::from_nanos(header.stuck_after_ns.max(1)),
                };
                replay = Some(recording.records);
                setup
            }
            Err(error) => {
                eprintln!("vigil-top: {error}");
                return ExitCode::FAILURE;
            }
        }
    } else if let Some(server) = &options.prometheus {
        let url = prometheus::base_url(server);
        Setup {
            target: format!("prometheus {url}"),
            sources: vec![SourceSpec {
                kind: Kind::Prometheus,
                url,
            }],
            interval: options.interval,
            stuck_after: options.stuck_after,
        }
    } else if options.demo {
        match start_demo() {
            Ok((url, demo)) => {
                _demo = demo;
                endpoints_setup(&[url], &options)
            }
            Err(exit) => return exit,
        }
    } else {
        endpoints_setup(&options.targets, &options)
    };
    if setup.sources.is_empty() {
        eprintln!("vigil-top: the recording names no source");
        return ExitCode::FAILURE;
    }
    let recorder = match &options.record {
        Some(path) => match Recorder::create(path, &setup.header()) {
            Ok(recorder) => Some(recorder),
            Err(error) => {
                eprintln!("vigil-top: cannot record to {}: {error}", path.display());
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    if options.once || !std::io::stdout().is_terminal() {
        run_once(&setup, replay, recorder, options.demo)
    } else {
        match run_live(&setup, &options, replay, recorder) {
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

/// A request may take most of an interval, never much longer.
fn request_timeout(interval: Duration) -> Duration {
    interval.max(Duration::from_secs(2))
}

/// Records `raw` if recording; a failure stops the recording and says so.
fn record(recorder: &mut Option<Recorder>, raw: &RawFetch, at: Duration, app: &mut App) {
    if let Some(writer) = recorder {
        if let Err(error) = writer.record(raw, at) {
            *recorder = None;
            app.push_event(
                app.started + at,
                state::Severity::Error,
                format!("recording stopped: {error}"),
            );
        }
    }
}

/// Two rounds of fetches `--interval` apart (rates need a difference), printed as one
/// table; or, replaying, every recorded fetch at once, then the table.
/// How long `--demo --once` watches for the demo's three kinds of verdict at most.
const DEMO_VERDICTS_WITHIN: Duration = Duration::from_secs(30);

/// One plain table; with `demo_verdicts` (`--demo --once`), first the demo's verdicts as
/// they appear, each kind once, for at most [`DEMO_VERDICTS_WITHIN`].
fn run_once(
    setup: &Setup,
    replay: Option<Vec<Record>>,
    mut recorder: Option<Recorder>,
    demo_verdicts: bool,
) -> ExitCode {
    let started = Instant::now();
    let (mut app, mut fleet) = setup.screen(started);
    if let Some(records) = replay {
        for record in &records {
            if let Update::Fetched(_, decoded, at) = replay::update_of(record, started) {
                fleet.on_decoded(decoded, at);
            }
        }
        fleet.show(&mut app);
        print!("{}", plain::render(&app));
        return ExitCode::SUCCESS;
    }
    let timeout = request_timeout(setup.interval);
    let sources: Vec<Source> = setup
        .sources
        .iter()
        .map(|spec| Source::new(spec, timeout))
        .collect();
    let mut round = |app: &mut App, fleet: &mut Fleet| {
        let mut errors = Vec::new();
        for source in &sources {
            let raw = source.fetch();
            let now = Instant::now();
            record(
                &mut recorder,
                &raw,
                now.saturating_duration_since(started),
                app,
            );
            let decoded = feed::decode(&raw);
            match &decoded.processes {
                Ok(processes) => errors.extend(
                    processes
                        .iter()
                        .filter_map(|(_, fetched)| fetched.as_ref().err().cloned()),
                ),
                Err(error) => errors.push(error.clone()),
            }
            fleet.on_decoded(decoded, now);
        }
        errors
    };
    let errors = round(&mut app, &mut fleet);
    // Nothing answered: say why, each source.
    if errors.len() == sources.len() {
        for error in errors {
            let what = match error {
                source::FetchError::Unreachable(_) => "disconnected: ",
                source::FetchError::Invalid(_) => "",
            };
            eprintln!("vigil-top: {what}{error}");
        }
        return ExitCode::FAILURE;
    }
    std::thread::sleep(setup.interval);
    // If a second fetch fails the table still shows the first (without rates), with the
    // reason as a warning line.
    round(&mut app, &mut fleet);
    fleet.show(&mut app);
    if demo_verdicts {
        // The demo shows each kind of verdict within its first 30 s: watch until it has,
        // printing each the first time it is seen, then the table as it is then.
        let mut seen: Vec<String> = Vec::new();
        loop {
            for service in app.services.values() {
                if let Some(verdict) = &service.verdict {
                    if !seen.contains(&verdict.cause) {
                        seen.push(verdict.cause.clone());
                        let at = started.elapsed().as_secs_f64();
                        println!("{at:5.1}s lagging {}: {}", service.name, verdict.sentence());
                    }
                }
            }
            let every = ["polls_slow", "runtime_saturated", "backlogged"];
            if every
                .iter()
                .all(|cause| seen.iter().any(|seen| seen == cause))
                || started.elapsed() >= DEMO_VERDICTS_WITHIN
            {
                break;
            }
            std::thread::sleep(setup.interval);
            round(&mut app, &mut fleet);
            fleet.show(&mut app);
        }
        println!();
    }
    print!("{}", plain::render(&app));
    if let Some(recorder) = recorder {
        if let Err(error) = recorder.finish() {
            eprintln!("vigil-top: the recording may be incomplete: {error}");
        }
    }
    // Where the stuck services are blocked, when the endpoint has a profiler (a 404, or
    // any failure, leaves the table as it is: the stacks are a bonus here).
    let stuck = app
        .services
        .values()
        .any(|service| service.state == state::ServiceState::Stuck);
    if let (true, [Source::Endpoint(client)]) = (stuck, &sources[..]) {
        if let Ok(stacks) = client.fetch_stacks() {
            print!("{}", plain::render_stacks(&stacks));
        }
    }
    ExitCode::SUCCESS
}

/// Puts the terminal back: cooked mode, main screen, visible cursor.
fn restore_terminal() {
    if TERMINAL_ACTIVE.swap(false, Ordering::SeqCst) {
        // `try_restore`, not `restore`: the latter reports a failure with `eprintln!`,
        // which panics when the terminal is gone (a closed window), and there is nothing
        // left to restore then anyway.
        let _ = ratatui::try_restore();
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

/// How long the UI loop has to take a stop signal before [`watch_for_a_stuck_stop`] ends
/// the process itself.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// Ends the process if a stop signal arrives and the UI loop has not taken it (`taken`)
/// within [`STOP_GRACE`]. Once its terminal is gone (a closed window, `tmux kill-session`:
/// SIGHUP), crossterm's event source re-reads the dead tty forever and `event::poll` never
/// returns, timeout or not (crossterm-rs/crossterm#793), so the loop would never see the
/// signal and the process would spin on a core for good. The loop normally answers within
/// one 100 ms poll; then this thread just ends.
fn watch_for_a_stuck_stop(received: Arc<AtomicUsize>, taken: Arc<AtomicBool>) {
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(100));
        // Relaxed, both: flags whose values are the whole message.
        let signal = received.load(Ordering::Relaxed);
        if signal == 0 {
            continue;
        }
        std::thread::sleep(STOP_GRACE);
        if !taken.load(Ordering::Relaxed) {
            restore_terminal();
            std::process::exit(128 + i32::try_from(signal).unwrap_or(0));
        }
        return;
    });
}

/// The keys a replay takes over, as the player's controls.
fn replay_control(key: &event::KeyEvent) -> Option<replay::Control> {
    use ratatui::crossterm::event::KeyCode;
    match key.code {
        KeyCode::Char(' ') => Some(replay::Control::TogglePause),
        KeyCode::Char('.' | 'n') => Some(replay::Control::Step),
        KeyCode::Char('+' | '=') => Some(replay::Control::Faster),
        KeyCode::Char('-' | '_') => Some(replay::Control::Slower),
        _ => None,
    }
}

/// The interactive dashboard, until `q` or Ctrl-C (`None`) or one of [`STOP_SIGNALS`] (its
/// number).
fn run_live(
    setup: &Setup,
    options: &Options,
    replay: Option<Vec<Record>>,
    mut recorder: Option<Recorder>,
) -> std::io::Result<Option<i32>> {
    let started = Instant::now();
    let (sender, updates) = mpsc::channel();
    let replaying = replay.is_some();
    let pollers: Vec<Poller> = if replaying {
        Vec::new()
    } else {
        let timeout = request_timeout(setup.interval);
        setup
            .sources
            .iter()
            .map(|spec| {
                Poller::spawn(
                    Source::new(spec, timeout),
                    setup.interval,
                    setup.stuck_after,
                    sender.clone(),
                )
            })
            .collect()
    };
    let player = replay.map(|records| replay::Player::spawn(records, started, sender.clone()));
    drop(sender);
    // Stacks and profiles are an endpoint's: only with exactly one.
    let single = (setup.single_endpoint() && !replaying)
        .then(|| pollers.first())
        .flatten();
    let (mut app, mut fleet) = setup.screen(started);
    fleet.show(&mut app);
    let theme = Theme {
        color: options.color,
    };
    let mut interest = app.stack_interest();
    if let Some(poller) = single {
        poller.set_stack_interest(interest.clone());
    }

    // Before the terminal changes: from here on these signals end the loop instead.
    let stop_signal = stop_on_signals()?;
    let stop_taken = Arc::new(AtomicBool::new(false));
    watch_for_a_stuck_stop(Arc::clone(&stop_signal), Arc::clone(&stop_taken));
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
                signal => {
                    // Relaxed: read by the watchdog as a flag only.
                    stop_taken.store(true, Ordering::Relaxed);
                    return Ok(i32::try_from(signal).ok());
                }
            }
            if let Some(player) = &player {
                let status = Some(player.status());
                dirty |= app.replay != status;
                app.replay = status;
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
                        let control = (!app.editing_filter && !app.show_help)
                            .then(|| player.as_ref().zip(replay_control(&key)))
                            .flatten();
                        if let Some((player, control)) = control {
                            if key.kind != event::KeyEventKind::Release {
                                player.control(control);
                            }
                        } else {
                            let interval = app.interval;
                            match app.on_key(key) {
                                Flow::Quit => return Ok(None),
                                Flow::Profile => match single {
                                    Some(poller) => {
                                        if let Some(seconds) = app.request_profile(Instant::now()) {
                                            poller.start_profile(seconds);
                                        }
                                    }
                                    None => app.push_event(
                                        Instant::now(),
                                        state::Severity::Warning,
                                        "profiles need one endpoint: vigil-top URL".to_owned(),
                                    ),
                                },
                                Flow::Continue => {}
                            }
                            if app.interval != interval {
                                for poller in &pollers {
                                    poller.set_interval(app.interval);
                                }
                            }
                        }
                    }
                    Event::Resize(..) => {}
                    _ => continue,
                }
                // A resumed screen shows what was fetched meanwhile.
                fleet.show(&mut app);
                dirty = true;
            }
            while let Ok(update) = updates.try_recv() {
                match update {
                    Update::Fetched(raw, decoded, at) => {
                        let since_start = at.saturating_duration_since(started);
                        record(&mut recorder, &raw, since_start, &mut app);
                        fleet.on_decoded(decoded, at);
                        fleet.show(&mut app);
                    }
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
                if let Some(poller) = single {
                    poller.set_stack_interest(interest.clone());
                }
            }
        }
    })();
    restore_terminal();
    if let Some(recorder) = recorder {
        if let Err(error) = recorder.finish() {
            eprintln!("vigil-top: the recording may be incomplete: {error}");
        }
    }
    result
}
