//! Supervised vigil services whose figures go to an OpenTelemetry collector over OTLP/HTTP.
//!
//! ```text
//! cargo run -p vigil-otlp-example                 # until Ctrl-C
//! cargo run -p vigil-otlp-example -- --seconds 30 # or for 30 s
//! ```
//!
//! Three services run under a supervisor: `ticker` (a little work every 100 ms), `cruncher`
//! (2 ms slices of CPU, bursts every 200 ms) and `crasher` (fails a second after each
//! start, restarted with backoff). vigil's snapshot is published through the `metrics`
//! facade every second; the OpenTelemetry SDK exports every 5 s (or
//! `OTEL_METRIC_EXPORT_INTERVAL` ms) to `OTEL_EXPORTER_OTLP_ENDPOINT` (default
//! `http://localhost:4318`), and once more at exit. See docs/otel.md.

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_sdk::metrics::OTEL_METRIC_EXPORT_INTERVAL;
use opentelemetry_sdk::Resource;
use vigil::registry::{PollHistograms, SlowPolls};
use vigil::{Backoff, ChildSpec, Context, Registry, Supervisor};
use vigil_otlp_example::{install, meter_provider, otlp_exporter, publish_every};

/// How often vigil's snapshot is published through the `metrics` facade.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// How often the SDK exports, unless `OTEL_METRIC_EXPORT_INTERVAL` says otherwise.
const EXPORT_EVERY: Duration = Duration::from_secs(5);

fn main() -> Result<(), Box<dyn Error>> {
    let run_for = parse_args()?;
    let export_interval = std::env::var_os(OTEL_METRIC_EXPORT_INTERVAL)
        .is_none()
        .then_some(EXPORT_EVERY);
    let provider = meter_provider(
        otlp_exporter()?,
        Resource::builder().build(),
        export_interval,
    );
    install(&provider)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let registry = Arc::new(
        Registry::builder()
            .monitor((SlowPolls::default(), PollHistograms))
            .build(),
    );
    let supervisor = Supervisor::builder()
        .registry(Arc::clone(&registry))
        .shutdown_timeout(Duration::from_secs(1))
        .build(runtime.handle());
    start_services(&supervisor);

    let report = runtime.block_on(async {
        let publisher = tokio::spawn(publish_every(Arc::clone(&registry), PUBLISH_EVERY));
        // One export now, so a missing collector shows at once rather than never.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let flush_provider = provider.clone();
        match tokio::task::spawn_blocking(move || flush_provider.force_flush()).await {
            Ok(Ok(())) => eprintln!("the first OTLP export went through; exporting on"),
            Ok(Err(error)) => eprintln!(
                "the first OTLP export failed ({error}): is a collector listening at \
                 OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4318)? Running on."
            ),
            Err(join_error) => eprintln!("the first OTLP export did not run: {join_error}"),
        }
        match run_for {
            Some(duration) => tokio::time::sleep(duration).await,
            None => tokio::signal::ctrl_c().await?,
        }
        let report = supervisor.stop().await;
        publisher.abort();
        Ok::<_, std::io::Error>(report)
    })?;
    // The endings of the shutdown, then the last export (shutdown flushes).
    vigil::export::metrics::publish(&registry.metrics());
    print!("{report}");
    provider.shutdown()?;
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// `--seconds N`: stop after N seconds instead of at Ctrl-C.
fn parse_args() -> Result<Option<Duration>, Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next(), args.next()) {
        (None, _, _) => Ok(None),
        (Some("--seconds"), Some(seconds), None) => {
            Ok(Some(Duration::from_secs_f64(seconds.parse()?)))
        }
        _ => Err("usage: vigil-otlp-example [--seconds N]".into()),
    }
}

fn start_services(supervisor: &Supervisor<(SlowPolls, PollHistograms)>) {
    supervisor.start(ChildSpec::new("ticker", |ctx: Context| async move {
        let mut every = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                () = ctx.shutdown_requested() => return,
                _ = every.tick() => spin(Duration::from_micros(200)),
            }
        }
    }));
    supervisor.start(ChildSpec::new("cruncher", |ctx: Context| async move {
        while !ctx.is_shutdown_requested() {
            for _ in 0..20 {
                spin(Duration::from_millis(2));
                tokio::task::yield_now().await;
            }
            tokio::select! {
                () = ctx.shutdown_requested() => return,
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    }));
    supervisor.start(
        ChildSpec::new("crasher", |_ctx: Context| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Err::<(), _>("lost the connection to the broker")
        })
        .backoff(Backoff::exponential(
            Duration::from_millis(200),
            Duration::from_secs(3),
        )),
    );
}

/// Busy-waits for `duration`: CPU work inside one poll.
fn spin(duration: Duration) {
    let start = Instant::now();
    while start.elapsed() < duration {
        std::hint::spin_loop();
    }
}
