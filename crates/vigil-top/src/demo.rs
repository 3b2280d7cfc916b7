//! `--demo`: vigil's synthetic supervised services in this process, served by its endpoint.
//!
//! The services are `vigil::demo`'s (the same ones the `top` example runs: `ingest`,
//! `bursty`, `idle`, `dispatcher` and its `job`s, `crasher`, `flaky_config`, `stuck`,
//! `deaf`). The demo does not feed the dashboard directly: it serves `/snapshot.json` on
//! `127.0.0.1:0` with `vigil::http::Endpoint`, and the dashboard attaches to that over HTTP,
//! so the demo exercises exactly the code path of a real target. The endpoint is given the
//! demo's profiler ([`vigil::demo::profiler`], attached to the demo's registry), so it also
//! serves the stacks of stuck services and CPU profiles, as a target with
//! `Endpoint::profiler` does.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use vigil::demo::DemoSupervisor;
use vigil::http::{Endpoint, ServeHandle};

/// The name of the demo runtime's threads (the panic hook keeps their panics quiet).
pub(crate) const THREAD_NAME: &str = "vigil-top-demo";

/// The running demo: dropping it stops the endpoint, the services and their runtime.
#[derive(Debug)]
pub(crate) struct Demo {
    address: SocketAddr,
    serving: Option<ServeHandle>,
    supervisor: DemoSupervisor,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Demo {
    /// Starts the services on a runtime of their own and serves them on a free local port.
    pub(crate) fn start() -> io::Result<Self> {
        // `stuck` blocks a worker thread on purpose: leave the others room.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .thread_name(THREAD_NAME)
            .enable_all()
            .build()?;
        let supervisor = vigil::demo::supervisor(runtime.handle());
        vigil::demo::start(&supervisor);
        let serving = Endpoint::new(Arc::clone(supervisor.registry()))
            .supervisor(supervisor.clone())
            .profiler(vigil::demo::profiler())
            .spawn(runtime.handle(), SocketAddr::from(([127, 0, 0, 1], 0)))?;
        Ok(Self {
            address: serving.local_addr(),
            serving: Some(serving),
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
        drop(self.serving.take());
        self.supervisor.shutdown_now();
        if let Some(runtime) = self.runtime.take() {
            // `stuck` may be inside its blocking poll: do not wait for it.
            runtime.shutdown_background();
        }
    }
}
