//! A small service process: a crash loop with backoff, a service that ignores the shutdown
//! (aborted at the deadline) and one stuck inside a blocking poll (abandoned); prints the
//! states while running and the shutdown report.
//!
//! `cargo run -p vigil-supervisor --example shutdown_report`

use std::future::pending;
use std::time::Duration;

use vigil_supervisor::{Backoff, ChildSpec, Supervisor};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let supervisor = Supervisor::builder()
        .shutdown_timeout(Duration::from_millis(300))
        .abort_grace(Duration::from_millis(200))
        .build(runtime.handle());

    supervisor.start(
        ChildSpec::new("ingest", |ctx| async move {
            ctx.shutdown_requested().await;
            tokio::time::sleep(Duration::from_millis(20)).await; // drain
        })
        .stage(1),
    );
    supervisor.start(
        ChildSpec::new("crasher", |ctx| async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            if ctx.restarts() % 2 == 0 {
                panic!("lost connection to the broker");
            }
            Err::<(), _>(format!("handshake refused (attempt {})", ctx.restarts()))
        })
        .backoff(Backoff::exponential(
            Duration::from_millis(20),
            Duration::from_millis(500),
        )),
    );
    supervisor.start(ChildSpec::new("stubborn", |_ctx| pending::<()>()));
    supervisor.start(ChildSpec::new("stuck", |_ctx| async {
        tokio::task::yield_now().await;
        // Blocks its worker thread inside one poll: cannot be aborted.
        std::thread::sleep(Duration::from_secs(2));
    }));

    std::thread::sleep(Duration::from_millis(400));
    for (name, state) in supervisor.states() {
        println!("{name:<10} {state}");
    }
    println!();
    let report = runtime.block_on(supervisor.stop());
    print!("{report}");
    // The stuck service still holds a worker: do not wait for it.
    runtime.shutdown_background();
}
