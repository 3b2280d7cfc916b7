//! A live terminal table of services and their metrics: vigil doing its main job.
//!
//! Starts a handful of synthetic services on a multi-thread runtime and prints a snapshot
//! of the registry every second:
//!
//! - `cpu_heavy`: computes in 5 ms slices, yielding between them (about 100 % busy);
//! - `bursty`: sleeps, then works hard for a while (utilization rises and falls);
//! - `idle`: waits for a message that never comes (0 %);
//! - `stuck`: after 1 s, blocks inside a single poll for 2 s (shows the in-poll time);
//! - `panicker`: panics after 1.5 s (reported with its payload, then gone);
//! - `short_lived`: a new instance every 250 ms, each living 600 ms (ids keep growing).
//!
//! Usage: `cargo run --release -p vigil --example top -- [--duration SECS] [--once]
//! [--serve ADDR]` (`--once` prints a single table after one second and exits).
//!
//! `--serve 127.0.0.1:9898` also serves the registry at `http://127.0.0.1:9898/metrics` and
//! `/health` while the table runs (`curl` it, or point a Prometheus server at it);
//! `--prometheus ADDR` is an older name for it. It needs the `http` feature:
//! `cargo run --release -p vigil --features http --example top -- --serve 127.0.0.1:9898 --duration 60`.
//! The endpoint has no authentication: keep it on a loopback address.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vigil::prelude::*;
use vigil::ServiceMetrics;

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

/// Burns CPU for `duration` without yielding: one long poll.
fn spin(duration: Duration) {
    let start = Instant::now();
    while start.elapsed() < duration {
        std::hint::spin_loop();
    }
}

/// How each instance that ended went, in the order they ended.
type Endings = Arc<Mutex<Vec<(ServiceId, String)>>>;

/// Records how `handle` ends, without blocking anyone.
fn watch_ending(
    runtime: &tokio::runtime::Handle,
    endings: &Endings,
    id: ServiceId,
    handle: ServiceJoinHandle,
) {
    let endings = Arc::clone(endings);
    runtime.spawn(async move {
        let ending = match handle.await {
            Ok(()) => "completed".to_owned(),
            Err(error) => error.to_string(),
        };
        endings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((id, ending));
    });
}

fn start(
    registry: &Registry,
    runtime: &tokio::runtime::Handle,
    endings: &Endings,
    service: ServiceObj,
) {
    let (id, handle) = registry
        .try_start_in(runtime, service)
        .expect("instance ids of a fresh registry are not exhausted");
    watch_ending(runtime, endings, id, handle);
}

fn start_services(registry: &Arc<Registry>, runtime: &tokio::runtime::Handle, endings: &Endings) {
    start(
        registry,
        runtime,
        endings,
        ServiceObj::new("cpu_heavy", async {
            loop {
                spin(Duration::from_millis(5));
                tokio::task::yield_now().await;
            }
        }),
    );
    start(
        registry,
        runtime,
        endings,
        ServiceObj::new("bursty", async {
            loop {
                tokio::time::sleep(Duration::from_millis(1_500)).await;
                for _ in 0..100 {
                    spin(Duration::from_millis(5));
                    tokio::task::yield_now().await;
                }
            }
        }),
    );
    let (_never_sent, never) = tokio::sync::oneshot::channel::<()>();
    // Keep the sender alive for the whole run so `idle` really waits forever.
    std::mem::forget(_never_sent);
    start(
        registry,
        runtime,
        endings,
        ServiceObj::new("idle", async move {
            let _ = never.await;
        }),
    );
    start(
        registry,
        runtime,
        endings,
        ServiceObj::new("stuck", async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            // A blocking call inside async code: the bug vigil makes visible.
            std::thread::sleep(Duration::from_secs(2));
            std::future::pending::<()>().await;
        }),
    );
    start(
        registry,
        runtime,
        endings,
        ServiceObj::new("panicker", async {
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            panic!("simulated failure");
        }),
    );
    let spawner_registry = Arc::clone(registry);
    let spawner_runtime = runtime.clone();
    let spawner_endings = Arc::clone(endings);
    runtime.spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(250));
        loop {
            every.tick().await;
            start(
                &spawner_registry,
                &spawner_runtime,
                &spawner_endings,
                ServiceObj::new("short_lived", async {
                    for _ in 0..6 {
                        spin(Duration::from_millis(2));
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }),
            );
        }
    });
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

fn print_table(elapsed: Duration, snapshot: &ServicesMetrics, ended: &[(ServiceId, String)]) {
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
    for group in snapshot.groups().filter(|group| group.instances > 1) {
        println!(
            "  {} x{}: {} polls, {} busy, mean {:.0}%, max {}%",
            group.name,
            group.instances,
            group.poll_count,
            format_duration(group.total_busy_duration),
            group.mean_utilization,
            group.max_utilization
        );
    }
    if !ended.is_empty() {
        let shown: Vec<String> = ended
            .iter()
            .map(|(id, ending)| format!("{id}: {ending}"))
            .collect();
        println!("ended since last refresh: {}", shown.join(", "));
    }
}

/// Serves the registry's endpoint (`/metrics`, `/health`) on `runtime`; dropping the
/// returned handle stops it.
#[cfg(feature = "http")]
fn serve(
    runtime: &tokio::runtime::Runtime,
    registry: &Arc<Registry>,
    address: SocketAddr,
) -> Result<vigil::http::ServeHandle, String> {
    let server = vigil::http::Endpoint::new(Arc::clone(registry))
        .spawn(runtime.handle(), address)
        .map_err(|error| format!("--serve: cannot listen on {address}: {error}"))?;
    let address = server.local_addr();
    println!("serving http://{address}/metrics and http://{address}/health");
    Ok(server)
}

/// Without the `http` feature there is no endpoint: say how to get it.
#[cfg(not(feature = "http"))]
fn serve(
    _runtime: &tokio::runtime::Runtime,
    _registry: &Arc<Registry>,
    _address: SocketAddr,
) -> Result<std::convert::Infallible, String> {
    Err("--serve needs the `http` feature: \
         cargo run --release -p vigil --features http --example top -- --serve ADDR"
        .to_owned())
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    // The panicking service is expected; keep its message out of the table.
    std::panic::set_hook(Box::new(|_| {}));

    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(4).enable_time();
    #[cfg(feature = "http")]
    builder.enable_io(); // For the endpoint's listener.
    let runtime = builder.build().expect("a tokio runtime");
    let registry = Arc::new(Registry::new());
    // Kept until the end of `main`: dropping it stops the server.
    let _server = match options
        .serve
        .map(|address| serve(&runtime, &registry, address))
    {
        None => None,
        Some(Ok(server)) => Some(server),
        Some(Err(message)) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let endings: Endings = Arc::default();
    start_services(&registry, runtime.handle(), &endings);

    let started = Instant::now();
    let mut reported = 0;
    loop {
        std::thread::sleep(REFRESH);
        let snapshot = registry.metrics();
        let ended: Vec<(ServiceId, String)> = {
            let endings = endings
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let new = endings[reported..].to_vec();
            reported = endings.len();
            new
        };
        print_table(started.elapsed(), &snapshot, &ended);
        if options.once || started.elapsed() >= options.duration {
            break;
        }
    }
    // Services never end by themselves; shutting the runtime down cancels them.
    runtime.shutdown_background();
    ExitCode::SUCCESS
}
