//! `--demo`: synthetic supervised services in this process, served by vigil's own endpoint.
//!
//! The demo does not feed the dashboard directly: it serves `/snapshot.json` on
//! `127.0.0.1:0` with `vigil::http::Endpoint` and the dashboard attaches to that over HTTP,
//! so the demo exercises exactly the code path of a real target.
//!
//! - `cpu_heavy`: computes in 3 ms slices with short sleeps between them (about 60 % busy);
//! - `bursty`: sleeps, then works hard for a second (busy % rises and falls);
//! - `idle`: waits for the shutdown request (0 %);
//! - `stuck`: sleeps 3 s, then blocks its worker thread inside one poll for 2.5 s, and
//!   again (STUCK from 1 s into each block);
//! - `crasher`: panics after 3 s; restarted after an exponential backoff (backing off);
//! - `flaky`: fails with an error after 1 s; gives up after 4 restarts in a minute (the
//!   others go on: the demo's supervisor escalates nothing);
//! - `worker` ×3: three specs under one name, each incarnation completes after 2–4.4 s
//!   and is started again (instance ids grow; ended ones linger in the expanded view).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil::http::{Endpoint, ServeHandle};
use vigil::supervisor::{Backoff, ChildSpec, Escalation, Restart, Supervisor};

/// The name of the demo runtime's threads (the panic hook keeps their panics quiet).
pub(crate) const THREAD_NAME: &str = "vigil-top-demo";

/// The running demo: dropping it stops the services and the endpoint.
#[derive(Debug)]
pub(crate) struct Demo {
    address: SocketAddr,
    // Field order is drop order: the endpoint first, then the supervisor, then the runtime.
    _serving: ServeHandle,
    supervisor: Supervisor,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Demo {
    /// Starts the services on a runtime of their own and serves them on a free local port.
    pub(crate) fn start() -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(3)
            .thread_name(THREAD_NAME)
            .enable_all()
            .build()?;
        // A service that gives up (`flaky`) must not take the others down with it.
        let supervisor = Supervisor::builder()
            .escalation(Escalation::Continue)
            .build(runtime.handle());
        start_services(&supervisor);
        let serving = Endpoint::new(Arc::clone(supervisor.registry()))
            .supervisor(supervisor.clone())
            .spawn(runtime.handle(), SocketAddr::from(([127, 0, 0, 1], 0)))?;
        Ok(Self {
            address: serving.local_addr(),
            _serving: serving,
            supervisor,
            runtime: Some(runtime),
        })
    }

    /// The URL to attach to.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.supervisor.shutdown_now();
        if let Some(runtime) = self.runtime.take() {
            // `stuck` may be inside its blocking poll: do not wait for it.
            runtime.shutdown_background();
        }
    }
}

/// Burns CPU for `duration` without yielding: one long poll.
fn spin(duration: Duration) {
    let start = Instant::now();
    while start.elapsed() < duration {
        std::hint::spin_loop();
    }
}

/// The crasher's bug (a function returning `()`, so its service's output is `()`).
fn lose_the_connection_pool() {
    panic!("simulated failure: lost the connection pool");
}

fn start_services(supervisor: &Supervisor) {
    supervisor.start(
        ChildSpec::new("cpu_heavy", |ctx| async move {
            while !ctx.is_shutdown_requested() {
                spin(Duration::from_millis(3));
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .restart(Restart::Permanent),
    );
    supervisor.start(ChildSpec::new("bursty", |ctx| async move {
        loop {
            tokio::select! {
                () = ctx.shutdown_requested() => return,
                () = tokio::time::sleep(Duration::from_secs(3)) => {}
            }
            for _ in 0..200 {
                spin(Duration::from_millis(4));
                tokio::task::yield_now().await;
            }
        }
    }));
    supervisor.start(ChildSpec::new("idle", |ctx| async move {
        ctx.shutdown_requested().await;
    }));
    supervisor.start(ChildSpec::new("stuck", |ctx| async move {
        loop {
            tokio::select! {
                () = ctx.shutdown_requested() => return,
                () = tokio::time::sleep(Duration::from_secs(3)) => {}
            }
            // A blocking call inside async code: the bug vigil makes visible.
            std::thread::sleep(Duration::from_millis(2_500));
        }
    }));
    supervisor.start(
        ChildSpec::new("crasher", |_ctx| async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            lose_the_connection_pool();
        })
        .restart(Restart::Permanent)
        .backoff(Backoff::exponential(
            Duration::from_millis(500),
            Duration::from_secs(4),
        ))
        .intensity(1_000, Duration::from_secs(60)),
    );
    supervisor.start(
        ChildSpec::new("flaky", |ctx| async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Err(format!(
                "broker unreachable (attempt {})",
                ctx.restarts() + 1
            ))
        })
        .restart(Restart::Transient)
        .backoff(Backoff::exponential(
            Duration::from_millis(300),
            Duration::from_secs(2),
        ))
        .intensity(4, Duration::from_secs(60)),
    );
    for slot in 0..3u64 {
        supervisor.start(
            ChildSpec::new("worker", move |ctx| async move {
                let millis = 2_000 + (u64::from(ctx.restarts()) * 7 + slot * 3) % 9 * 300;
                let deadline = tokio::time::Instant::now() + Duration::from_millis(millis);
                while tokio::time::Instant::now() < deadline && !ctx.is_shutdown_requested() {
                    spin(Duration::from_micros(300));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .restart(Restart::Permanent)
            .backoff(Backoff::none())
            .intensity(100_000, Duration::from_secs(1)),
        );
    }
}
