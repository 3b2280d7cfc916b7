//! A live terminal table of supervised services and their metrics: vigil doing its main job.
//!
//! Runs the synthetic services of [`vigil::demo`] under a supervisor on a multi-thread
//! runtime and prints a snapshot of the registry every second: a CPU-heavy service, a bursty
//! one, an idle one, a dispatcher of short-lived jobs, a crash loop restarted with backoff
//! (new instance ids, restart counts, `backing off`), a service that fails until it is given
//! up, one that blocks its thread inside a poll, and one that ignores shutdown. At the end it
//! shuts the supervisor down gracefully and prints its report: who completed, who was
//! aborted at the deadline, who was abandoned inside a poll (and for how long), and, under
//! each abandoned service's row, the stack it is still stuck in (captured by the demo's
//! profiler right after the report; `wait_for_legacy_lock` for `stuck`).
//!
//! Usage: `cargo run --release -p vigil --features demo --example top -- [--duration SECS]
//! [--once] [--serve ADDR]` (`--once` prints a single table after one second, then shuts
//! down).
//!
//! It stops the way a service process built on vigil stops: SIGINT (Ctrl-C) or SIGTERM
//! ends the table early and shuts the supervisor down gracefully through
//! [`Supervisor::run_until_signal`](vigil::supervisor::Supervisor::run_until_signal) (a
//! second signal aborts every service at once); the report is printed either way.
//!
//! Exit status: `0` if the shutdown was clean ([`ShutdownReport::is_clean`]: every service's
//! last incarnation completed and none gave up), `1` if not, which is what the demo's
//! services make of every run (one gives up, one is stuck in a poll, one ignores the
//! shutdown), `2` for a usage error or an endpoint or signal handler that cannot be set up.
//!
//! `--serve 127.0.0.1:9898` also serves the endpoint while the table runs: `/metrics`,
//! `/snapshot.json` (what `vigil-top http://127.0.0.1:9898` shows), `/health`, and the
//! profiler's debug routes `/debug/stacks` (where `stuck` blocks) and
//! `/debug/pprof/profile?seconds=N` (`go tool pprof` reads it) or `/debug/pprof/folded`;
//! `--prometheus ADDR` is an older name for it. It needs the `http` feature:
//! `cargo run --release -p vigil --features demo,http --example top -- --serve 127.0.0.1:9898 --duration 60`.
//! The endpoint has no authentication: keep it on a loopback address.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tokio::signal::unix::{signal, Signal, SignalKind};

use vigil::demo::DemoSupervisor;
use vigil::prelude::*;
use vigil::supervisor::Ending;
use vigil::{ServiceMetrics, ServiceState};

const REFRESH: Duration = Duration::from_secs(1);
const BAR_WIDTH: usize = 20;

const USAGE: &str = "usage: top [--duration SECS] [--once] [--serve ADDR]";

struct Options {
    duration: Duration,
    once: bool,
    /// Where to serve the HTTP endpoint, if anywhere.
    serve: Option<SocketAddr>,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        duration: Duration::from_secs(5),
        once: false,
        serve: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--once" => options.once = true,
            "--duration" => {
                let value = args.next().ok_or("--duration needs a number of seconds")?;
                let seconds: f64 = value
                    .parse()
                    .map_err(|_| format!("--duration: `{value}` is not a number of seconds"))?;
                options.duration = Duration::try_from_secs_f64(seconds)
                    .map_err(|_| format!("--duration: `{value}` is out of range"))?;
            }
            // `--prometheus` is the name this option had when it served `/metrics` only.
            flag @ ("--serve" | "--prometheus") => {
                let value = args
                    .next()
                    .ok_or_else(|| format!("{flag} needs an address, e.g. 127.0.0.1:9898"))?;
                let address = value.parse().map_err(|_| {
                    format!("{flag}: `{value}` is not an address like 127.0.0.1:9898")
                })?;
                options.serve = Some(address);
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    Ok(options)
}

fn utilization_bar(percent: u8) -> String {
    let filled = (usize::from(percent) * BAR_WIDTH + 50) / 100;
    format!("{}{}", "#".repeat(filled), ".".repeat(BAR_WIDTH - filled))
}

fn state(metrics: &ServiceMetrics) -> &'static str {
    match metrics.current_poll_duration {
        Some(in_poll) if in_poll >= Duration::from_millis(100) => "STUCK IN POLL",
        Some(_) => "polling",
        None => "waiting",
    }
}

fn format_duration(duration: Duration) -> String {
    if duration >= Duration::from_secs(1) {
        format!("{:.2}s", duration.as_secs_f64())
    } else {
        format!("{:.1}ms", duration.as_secs_f64() * 1e3)
    }
}

fn print_table(
    elapsed: Duration,
    snapshot: &ServicesMetrics,
    states: &[(&'static str, ServiceState)],
    ended: &[Ending],
) {
    println!(
        "\nvigil top  t={:.1}s  live instances: {}",
        elapsed.as_secs_f64(),
        snapshot.len()
    );
    println!(
        "{:<16} {:>8} {:>10} {:>5} {:<width$} {:>9}  state",
        "service",
        "polls",
        "busy",
        "util",
        "utilization",
        "in poll",
        width = BAR_WIDTH
    );
    for (id, metrics) in snapshot {
        let in_poll = metrics
            .current_poll_duration
            .map_or_else(|| "-".to_owned(), format_duration);
        println!(
            "{:<16} {:>8} {:>10} {:>4}% {} {:>9}  {}",
            id.to_string(),
            metrics.poll_count,
            format_duration(metrics.total_busy_duration),
            metrics.utilization,
            utilization_bar(metrics.utilization),
            in_poll,
            state(&metrics)
        );
    }
    for group in snapshot.groups().filter(|group| group.starts > 1) {
        let endings = group.endings;
        println!(
            "  {} x{} live, {} started ({} restarts): {} completed, {} failed, {} panicked, \
             {} cancelled; {} polls, {} busy in all",
            group.name,
            group.instances,
            group.starts,
            group.restarts,
            endings.completed,
            endings.failed,
            endings.panicked,
            endings.cancelled,
            group.poll_count,
            format_duration(group.total_busy_duration),
        );
    }
    let unusual: Vec<String> = states
        .iter()
        .filter(|(_, state)| *state != ServiceState::Running)
        .map(|(name, state)| format!("{name}: {state}"))
        .collect();
    if !unusual.is_empty() {
        println!("supervisor: {}", unusual.join(", "));
    }
    if !ended.is_empty() {
        let shown: Vec<String> = ended
            .iter()
            .map(|ending| format!("{}: {}", ending.id, ending.exit))
            .collect();
        println!("ended since last refresh: {}", shown.join(", "));
    }
}

/// Serves the supervisor's endpoint (`/metrics`, `/snapshot.json`, `/health`, and the
/// profiler's `/debug/...` routes) on `runtime`; dropping the returned handle stops it.
#[cfg(feature = "http")]
fn serve(
    runtime: &tokio::runtime::Runtime,
    supervisor: &DemoSupervisor,
    address: SocketAddr,
) -> Result<vigil::http::ServeHandle, String> {
    let server = vigil::http::Endpoint::new(std::sync::Arc::clone(supervisor.registry()))
        .supervisor(supervisor.clone())
        .profiler(vigil::demo::profiler())
        .spawn(runtime.handle(), address)
        .map_err(|error| format!("--serve: cannot listen on {address}: {error}"))?;
    let address = server.local_addr();
    println!(
        "serving http://{address}/metrics, /snapshot.json, /health, /debug/stacks and \
         /debug/pprof/profile?seconds=N (watch it live: cargo run --release -p vigil-top -- \
         http://{address})"
    );
    Ok(server)
}

/// Without the `http` feature there is no endpoint: say how to get it.
#[cfg(not(feature = "http"))]
fn serve(
    _runtime: &tokio::runtime::Runtime,
    _supervisor: &DemoSupervisor,
    _address: SocketAddr,
) -> Result<std::convert::Infallible, String> {
    Err("--serve needs the `http` feature: \
         cargo run --release -p vigil --features demo,http --example top -- --serve ADDR"
        .to_owned())
}

/// The stack of every instance `report` says was abandoned inside a poll, captured now (or
/// why there is none).
fn abandoned_stacks(report: &ShutdownReport) -> Vec<(String, String)> {
    let profiler = vigil::demo::profiler();
    report
        .endings()
        .iter()
        .filter(|(_, exit)| matches!(exit, Exit::Abandoned { .. }))
        .map(|(id, _)| {
            let stack = match profiler.capture(*id) {
                Ok(stack) => format!(
                    "where it is stuck (thread {}):\n{stack}",
                    stack.thread_name().unwrap_or("<unnamed>")
                ),
                Err(error) => format!("no stack: {error}\n"),
            };
            (id.to_string(), stack)
        })
        .collect()
}

/// The report, with each abandoned instance's stack indented under its row.
fn print_report(report: &ShutdownReport, stacks: &[(String, String)]) {
    for line in report.to_string().lines() {
        println!("{line}");
        let id = line.split_whitespace().next().unwrap_or_default();
        if let Some((_, stack)) = stacks.iter().find(|(abandoned, _)| abandoned == id) {
            for stack_line in stack.lines() {
                println!("      {stack_line}");
            }
        }
    }
}

/// Why the table stopped.
enum Stop {
    /// `--once` or `--duration` ran out: the example begins the shutdown itself.
    Done,
    /// SIGINT or SIGTERM: `run_until_signal` has begun the shutdown.
    Signal(&'static str),
}

/// Listeners of our own, beside the supervisor's, only to say what happened: tokio tells
/// every listener of a signal.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn new() -> io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// The name of the next signal received.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

/// Prints a table every [`REFRESH`] until the duration runs out or a signal arrives.
async fn show_tables(
    supervisor: &DemoSupervisor,
    options: &Options,
    signals: &mut Signals,
) -> Stop {
    let started = Instant::now();
    let mut next_seq = 0;
    loop {
        tokio::select! {
            name = signals.recv() => return Stop::Signal(name),
            () = tokio::time::sleep(REFRESH) => {}
        }
        let snapshot = supervisor.registry().metrics();
        let ended: Vec<Ending> = supervisor
            .recent_endings()
            .into_iter()
            .filter(|ending| ending.seq >= next_seq)
            .collect();
        next_seq = ended.last().map_or(next_seq, |ending| ending.seq + 1);
        print_table(started.elapsed(), &snapshot, &supervisor.states(), &ended);
        if options.once || started.elapsed() >= options.duration {
            return Stop::Done;
        }
    }
}

/// Shows the tables, then waits for `stopped` (the supervisor's `run_until_signal`) to
/// resolve with the report, saying when a second signal aborts everything.
async fn run(
    supervisor: &DemoSupervisor,
    options: &Options,
    stopped: impl Future<Output = io::Result<ShutdownReport>>,
) -> io::Result<ShutdownReport> {
    tokio::pin!(stopped);
    let mut signals = Signals::new()?;
    let stop = tokio::select! {
        // Only if every service ended by itself, which the demo's never do.
        report = &mut stopped => return report,
        stop = show_tables(supervisor, options, &mut signals) => stop,
    };
    match stop {
        Stop::Done => supervisor.shutdown(),
        Stop::Signal(name) => {
            println!("\n{name} received (a second signal aborts every service at once)");
        }
    }
    println!(
        "\nshutting down (deadline {:?}, then {:?} for aborted services to leave their poll)",
        vigil::demo::SHUTDOWN_TIMEOUT,
        vigil::demo::ABORT_GRACE
    );
    loop {
        let name = tokio::select! {
            report = &mut stopped => return report,
            name = signals.recv() => name,
        };
        // The shutdown has begun (by the first signal or by the example): this one aborts,
        // as `run_until_signal` does on a second signal.
        supervisor.shutdown_now();
        println!("{name} received again: aborting every service");
    }
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    // The crash loop's panics are expected and reported by the supervisor with their
    // messages; keep the default hook's backtrace noise out of the table.
    std::panic::set_hook(Box::new(|_| {}));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        // `stuck` blocks one worker at a time on purpose; the others keep everything going.
        .worker_threads(4)
        // IO: the signal handlers (and the endpoint's listener, with `--serve`).
        .enable_io()
        .enable_time()
        .build()
        .expect("a tokio runtime");
    let supervisor = vigil::demo::supervisor(runtime.handle());
    // The handlers are registered by this call, before any service starts: from here on,
    // SIGINT and SIGTERM shut the supervisor down instead of killing the process.
    let stopped = supervisor.run_until_signal();
    // Kept until the end of `main`: dropping it stops the server.
    let _server = match options
        .serve
        .map(|address| serve(&runtime, &supervisor, address))
    {
        None => None,
        Some(Ok(server)) => Some(server),
        Some(Err(message)) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    vigil::demo::start(&supervisor);

    let report = match runtime.block_on(run(&supervisor, &options, stopped)) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("cannot listen for signals: {error}");
            return ExitCode::from(2);
        }
    };
    // At once, while the abandoned services are still inside the poll they were abandoned in.
    let stacks = abandoned_stacks(&report);
    print_report(&report, &stacks);
    // The abandoned service still blocks a worker thread; do not wait for it.
    runtime.shutdown_background();
    if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
