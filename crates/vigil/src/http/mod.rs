//! The HTTP endpoint: `/metrics`, `/health`, `/snapshot.json` on hyper (feature `http`).
//!
//! [`Endpoint`] serves a [`Registry`] over HTTP/1.1 with [`hyper`], its JSON written by
//! [`serde_json`]; nothing here parses or writes HTTP or JSON by hand.
//!
//! | route | answers |
//! |---|---|
//! | `GET /metrics` | `200`, the registry's Prometheus or OpenMetrics text, negotiated from `Accept` as [`Format::negotiate`](crate::export::prometheus::Format::negotiate) does |
//! | `GET /snapshot.json` | `200`, `application/json`: the snapshot document (schema version [`SCHEMA_VERSION`](crate::registry::SCHEMA_VERSION), `docs/snapshot-json.md`), the serde form of [`ServicesMetrics`](crate::ServicesMetrics), with a `supervisor` member: `null`, or with [`Endpoint::supervisor`] its services' states and recent endings |
//! | `GET /health` | `200` `ok` while no live instance has been inside one poll for longer than [`Endpoint::stuck_after`] (default 1 s) and, with [`Endpoint::supervisor`], no service is given up; else `503` with one line per stuck instance or given-up service |
//! | another path | `404` |
//! | another method than `GET` or `HEAD` | `405`, with `Allow: GET, HEAD` |
//!
//! `HEAD` answers as `GET` without the body; query strings are ignored; request bodies are
//! never read.
//!
//! # Security
//!
//! There is **no authentication and no TLS**: anyone who can connect reads every service's
//! name and figures. Bind a loopback address (`127.0.0.1:…`, as the examples do) unless the
//! metrics may be public, or put the endpoint behind a proxy that authenticates.
//!
//! # Limits
//!
//! The endpoint is built to keep answering scrapes while misbehaving clients are
//! connected:
//!
//! - **request-head deadline, 2 s**: a client must send its whole request head within 2 s of
//!   connecting (or, on a kept-alive connection, of the previous response); otherwise
//!   the connection is closed. A connection that says nothing costs at most 2 s of a slot.
//! - **request head at most 8 KiB**: a larger one gets `431`; a malformed request line or
//!   header gets `400`. Both then close that connection; the server carries on.
//! - **at most 512 connections at once**: past that, new connections wait in the
//!   listener's backlog until one ends. With the head deadline, a few hundred silent
//!   connections neither take every slot nor hold any for long: a scrape that arrives
//!   among 200 silent connections is answered at once.
//! - **connection lifetime, 10 s**: then the connection is closed after its response in
//!   progress (at most 2 s more), which bounds clients that never read their responses.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use vigil::http::Endpoint;
//! use vigil::prelude::*;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let registry = Arc::new(Registry::new());
//! let server = Endpoint::new(Arc::clone(&registry))
//!     .spawn(&tokio::runtime::Handle::current(), ([127, 0, 0, 1], 0).into())?;
//!
//! // Any HTTP client does; here, by hand.
//! let mut client = tokio::net::TcpStream::connect(server.local_addr()).await?;
//! client
//!     .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
//!     .await?;
//! let mut response = String::new();
//! client.read_to_string(&mut response).await?;
//! assert!(response.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(response.ends_with("\r\n\r\nok\n"));
//!
//! drop(server); // Stops serving.
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```

mod document;
mod health;
mod routes;
mod server;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use vigil_monitor::{Clock, DefaultClock};
use vigil_supervisor::{Ending, ServiceState, Supervisor};

use crate::{MonitorFactory, Registry};

/// Pending connections the kernel queues for [`Endpoint::spawn`]'s listener (as
/// `tokio::net::TcpListener::bind`; std's `bind` queues only 128).
const BACKLOG: u32 = 1024;

/// Default threshold of [`Endpoint::stuck_after`].
const DEFAULT_STUCK_AFTER: Duration = Duration::from_secs(1);

/// The HTTP endpoint of a registry: configure it, then [`serve`](Endpoint::serve) a
/// listener or [`spawn`](Endpoint::spawn) it on an address.
///
/// See the [module documentation](self) for the routes, limits and security notes.
pub struct Endpoint<F = (), C = DefaultClock>
where
    F: MonitorFactory<C>,
    C: Clock,
{
    registry: Arc<Registry<F, C>>,
    stuck_after: Duration,
    supervisor: Option<Box<dyn SupervisorView>>,
}

/// What the endpoint reads of a supervisor, whatever its registry's type: the endpoint
/// takes any supervisor, and its routes are not compiled again per supervisor type.
trait SupervisorView: fmt::Debug + Send + Sync + 'static {
    /// [`Supervisor::states`].
    fn states(&self) -> Vec<(&'static str, ServiceState)>;
    /// [`Supervisor::recent_endings`].
    fn recent_endings(&self) -> Vec<Ending>;
}

impl<F: MonitorFactory<C>, C: Clock> SupervisorView for Supervisor<F, C> {
    fn states(&self) -> Vec<(&'static str, ServiceState)> {
        Supervisor::states(self)
    }

    fn recent_endings(&self) -> Vec<Ending> {
        Supervisor::recent_endings(self)
    }
}

impl<F: MonitorFactory<C>, C: Clock> Endpoint<F, C> {
    /// An endpoint that serves `registry`'s snapshots, taken afresh for every request.
    pub fn new(registry: Arc<Registry<F, C>>) -> Self {
        Self {
            registry,
            stuck_after: DEFAULT_STUCK_AFTER,
            supervisor: None,
        }
    }

    /// `/health` answers `503` while a live instance has been inside one poll for longer
    /// than `threshold` (default 1 s): a service blocking its worker thread, or looping
    /// without yielding.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use vigil::http::Endpoint;
    /// use vigil::Registry;
    ///
    /// let endpoint = Endpoint::new(Arc::new(Registry::new()))
    ///     .stuck_after(Duration::from_millis(500));
    /// ```
    pub fn stuck_after(mut self, threshold: Duration) -> Self {
        self.stuck_after = threshold;
        self
    }

    /// Adds `supervisor`'s view: `/health` also answers `503` while one of its services is
    /// given up (restarted too often), and `/snapshot.json` carries its services' states
    /// and recent endings in the `supervisor` member.
    ///
    /// The endpoint's registry is the one `/metrics` and the snapshot read; usually the
    /// supervisor's own, [`Supervisor::registry`]. The supervisor may run on a registry of
    /// any type (with monitors attached, say), not necessarily the endpoint's.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use vigil::http::Endpoint;
    /// use vigil_supervisor::Supervisor;
    ///
    /// let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    /// let supervisor = Supervisor::builder().build(runtime.handle());
    /// let server = Endpoint::new(Arc::clone(supervisor.registry()))
    ///     .supervisor(supervisor.clone())
    ///     .spawn(runtime.handle(), "127.0.0.1:0".parse().unwrap())
    ///     .unwrap();
    /// ```
    pub fn supervisor<F2, C2>(mut self, supervisor: Supervisor<F2, C2>) -> Self
    where
        F2: MonitorFactory<C2>,
        C2: Clock,
    {
        self.supervisor = Some(Box::new(supervisor));
        self
    }

    /// Serves the endpoint on `listener` until the future is dropped.
    ///
    /// Each connection is served by its own task; errors on one connection close that
    /// connection only, and accept errors are retried (after a 100 ms pause unless they
    /// concern a single connection), so the future does not complete.
    ///
    /// # Panics
    ///
    /// Must run inside a tokio runtime with I/O and timers enabled (`enable_all`).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops the server: the listener is closed and the connections in
    /// progress are dropped.
    pub async fn serve(self, listener: TcpListener) -> io::Result<()> {
        server::run(listener, Arc::new(self.into_shared())).await
    }

    /// Binds `address` and serves the endpoint on a task of the runtime behind `handle`,
    /// until the returned [`ServeHandle`] is dropped.
    ///
    /// Port `0` picks a free port: read it from [`ServeHandle::local_addr`].
    ///
    /// # Errors
    ///
    /// The error of binding `address` (in use, not local, not permitted).
    ///
    /// # Panics
    ///
    /// The runtime must have I/O and timers enabled (`enable_all`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use vigil::http::Endpoint;
    /// use vigil::Registry;
    ///
    /// let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    /// let server = Endpoint::new(Arc::new(Registry::new()))
    ///     .spawn(runtime.handle(), "127.0.0.1:0".parse().unwrap())
    ///     .unwrap();
    /// println!("scrape http://{}/metrics", server.local_addr());
    /// ```
    pub fn spawn(self, handle: &Handle, address: SocketAddr) -> io::Result<ServeHandle> {
        let listener = {
            // Registering the socket with the runtime's reactor needs its context.
            let _runtime = handle.enter();
            let socket = if address.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            // As `TcpListener::bind` does: rebinding right after a restart works.
            #[cfg(not(windows))]
            socket.set_reuseaddr(true)?;
            socket.bind(address)?;
            socket.listen(BACKLOG)?
        };
        let local_addr = listener.local_addr()?;
        let task = handle.spawn(self.serve(listener));
        Ok(ServeHandle { local_addr, task })
    }

    fn into_shared(self) -> routes::Shared<F, C> {
        routes::Shared {
            registry: self.registry,
            stuck_after: self.stuck_after,
            supervisor: self.supervisor,
        }
    }
}

impl<F: MonitorFactory<C>, C: Clock> fmt::Debug for Endpoint<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("registry", &self.registry)
            .field("stuck_after", &self.stuck_after)
            .field("supervisor", &self.supervisor)
            .finish()
    }
}

/// A running endpoint, from [`Endpoint::spawn`]: dropping it stops the server.
#[derive(Debug)]
#[must_use = "dropping the handle stops the server"]
pub struct ServeHandle {
    local_addr: SocketAddr,
    task: JoinHandle<io::Result<()>>,
}

impl ServeHandle {
    /// The address the endpoint listens on (with the actual port when bound to port `0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the server: the listener is closed and connections in progress are dropped.
    /// The same as dropping the handle.
    pub fn abort(self) {}
}

impl Drop for ServeHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
