//! The HTTP endpoint: `/metrics`, `/health`, `/snapshot.json` on hyper (feature `http`), and
//! with a profiler the debug routes `/debug/stacks` and `/debug/pprof/*`.
//!
//! [`Endpoint`] serves a [`Registry`] over HTTP/1.1 with [`hyper`], its JSON written by
//! [`serde_json`], query strings read by `form_urlencoded`; nothing here parses or writes
//! HTTP or JSON by hand.
//!
//! | route | answers |
//! |---|---|
//! | `GET /metrics` | `200`, the registry's Prometheus or OpenMetrics text, negotiated from `Accept` as [`Format::negotiate`](crate::export::prometheus::Format::negotiate) does |
//! | `GET /snapshot.json` | `200`, `application/json`: the snapshot document (schema version [`SCHEMA_VERSION`](crate::registry::SCHEMA_VERSION), `docs/snapshot-json.md`), the serde form of [`ServicesMetrics`](crate::ServicesMetrics) listing at most [`Endpoint::snapshot_instance_limit`] instances (default 10,000; past it `truncated` says how many were left out), with a `supervisor` member: `null`, or with [`Endpoint::supervisor`] its services' states and recent endings; and a `verdicts` member (below) |
//! | `GET /health` | `200` `ok` while no live instance has been inside one poll for longer than [`Endpoint::stuck_after`] (default 1 s) and, with [`Endpoint::supervisor`], no service is given up; else `503` with one line per stuck instance or given-up service. Either way, then one line per lagging service, `lagging: <name>: <verdict>` (lagging alone leaves it `200`) |
//! | another path | `404` |
//! | another method than `GET` or `HEAD` | `405`, with `Allow: GET, HEAD` |
//!
//! ## Verdicts
//!
//! `/snapshot.json` and `/health` say which services lag, and why
//! ([`ServicesMetrics::verdicts_since`](crate::ServicesMetrics::verdicts_since): slow polls,
//! a saturated runtime, a backlogged mailbox), between the snapshot they serve and a
//! *baseline*: an earlier snapshot the endpoint took (for any route, `/metrics` included)
//! at least 1 s before. The endpoint keeps at most two, one a second at most, reduced to
//! their per-name counters and runtimes (about 1 KiB per name, nothing per instance); a
//! baseline is the newer of the two that is old enough, so with requests less than a
//! second apart it is 1 to about 2 s old, and with requests further apart it is the
//! previous request's. Without a baseline (the first request, or all within a second)
//! there is no verdict.
//!
//! `verdicts` of `/snapshot.json`, in name order, empty when nothing lags:
//!
//! ```json
//! [{"name": "consumer", "cause": "backlogged", "text": "backlogged (mailbox 1000/1000, oldest 3.2 s)"}]
//! ```
//!
//! `cause` is `polls_slow`, `runtime_saturated` or `backlogged`
//! ([`Cause::as_str`](crate::registry::Cause::as_str)); `text` is the verdict's sentence,
//! the one `/health` writes after `lagging: <name>: `.
//!
//! `HEAD` answers as `GET` without the body; query strings are ignored (but by the debug
//! routes); request bodies are never read.
//!
//! ## Debug routes (feature `profile`)
//!
//! With [`Endpoint::profiler`] (features `http` and `profile`) the endpoint also answers
//! these; without it they are `404`. They are **debug endpoints: keep them on loopback**.
//! Stacks name the code's functions and files, and a profile costs CPU while it records,
//! and nothing here authenticates. Each works on a blocking thread (tokio's
//! `spawn_blocking`), never on the connection's task or a runtime worker.
//!
//! | route | answers |
//! |---|---|
//! | `GET /debug/stacks` | `200` `text/plain`: every live instance of the registry inside one poll for longer than [`Endpoint::stuck_after`] (default 1 s), longest first, each as `StuckService`'s `Display` writes it (`stuck#0 inside one poll for 2.03s on thread tokio-runtime-worker (tid 4242):`, then its stack one frame a line, innermost first), separated by a blank line; or the line `no instance has been inside one poll for longer than 1s` |
//! | `GET /debug/stacks?format=json` | `200` `application/json`: the same as the document below |
//! | `GET /debug/pprof/profile?seconds=N` | records a CPU profile of every thread that polls services for `N` seconds (a whole number, 1 to 60, default 30 as Go's pprof), then `200` `application/octet-stream` with `Content-Disposition: attachment; filename="profile.pb.gz"`: gzipped pprof `profile.proto`, a `service` label on every sample (`go tool pprof` reads it) |
//! | `GET /debug/pprof/folded?seconds=N` | the same recording, `200` `text/plain`: flamegraph's folded stacks, one line `service;outer;...;inner count` per distinct stack, rooted at the service name (`(no service)` outside any service's poll) |
//! | `GET /debug/flamegraph.svg?seconds=N[&service=NAME]` | feature `flamegraph`: the same recording, `200` `image/svg+xml`, of one service's stacks or all |
//!
//! A profile route answers `400` for a `seconds` that is not a whole number from 1 to 60,
//! `409 Conflict` while another profile records (one at a time in the process, whoever
//! asked), `501` when the profiler is [`Profiler::disabled`](vigil_profile::Profiler::disabled)
//! (not Linux, or its signals were taken). A profile runs its whole duration even if the
//! client goes away meanwhile. Unknown query keys are ignored.
//!
//! The JSON of `/debug/stacks?format=json` (what `vigil-top` reads for the stack of a
//! stuck service; durations in integer nanoseconds):
//!
//! ```json
//! {
//!   "stuck_after_ns": 1000000000,
//!   "stuck": [
//!     {
//!       "id": "stuck#0",
//!       "name": "stuck",
//!       "instance_id": 0,
//!       "in_poll_ns": 2031000000,
//!       "thread_name": "tokio-runtime-worker",
//!       "thread_id": 4242,
//!       "frames": [
//!         {
//!           "function": "std::thread::sleep",
//!           "file": "/rustc/.../library/std/src/thread/mod.rs",
//!           "line": 883,
//!           "module": "top",
//!           "address": 94544239271020,
//!           "inlined": false
//!         }
//!       ],
//!       "error": null
//!     }
//!   ]
//! }
//! ```
//!
//! - `stuck`: longest in poll first; empty when none is stuck.
//! - `thread_name`: `null` when the thread has no name; `thread_id`: the kernel's thread id
//!   (`top -H`).
//! - `frames`: innermost first; `function` is demangled without its hash, `null` where no
//!   symbol covers the address (then `module` names the loaded object, `[vdso]` included);
//!   `file` and `line` are `null` without debug information; `address` is the
//!   interrupted instruction for the first frame and return addresses after it; `inlined`
//!   frames share their caller's address.
//! - `error`: `null` with a stack; else why there is none, as `CaptureError`'s `Display`
//!   writes it (the poll ended meanwhile, the thread did not answer in time, the service
//!   was started by a registry without the profiler), and then `thread_name` and
//!   `thread_id` are `null` and `frames` is empty.
//!
//! # Security
//!
//! There is **no authentication and no TLS**: anyone who can connect reads every service's
//! name and figures (and, with a profiler, its stacks, and can make it record profiles).
//! Bind a loopback address (`127.0.0.1:…`, as the examples do) unless the metrics may be
//! public, or put the endpoint behind a proxy that authenticates.
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
//!   A reply being built is let finish first: a connection waiting for a profile is
//!   kept for the profile's whole duration (up to 60 s), its symbols' resolution and the
//!   2 s to write it. A reply not ready within 70 s answers `503`.
//! - **replies built off the runtime's workers**: `/metrics`, `/snapshot.json` and
//!   `/health` take a snapshot of every live instance, tens of milliseconds of CPU for
//!   100k of them, so they are built on tokio's blocking threads (`spawn_blocking`), never on a
//!   worker: services on the same runtime keep being polled while a scrape is answered
//!   (a 1 ms-periodic service stays within 5 ms of its schedule while 100k instances are
//!   scraped, `tests/export_http_lateness.rs`). `/metrics` and `/snapshot.json` are built
//!   one at a time, and `/health` checks one at a time beside them: however many clients
//!   ask, scrapes take at most one core and one document's memory, and a queue of scrapes
//!   does not hold a health probe back.
//! - **`/snapshot.json` lists at most 10,000 instances**
//!   ([`Endpoint::snapshot_instance_limit`]): a process with a million instances does not
//!   build a document of hundreds of megabytes; its `groups` still count them all.
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

#[cfg(feature = "profile")]
mod debug;
mod document;
mod health;
mod routes;
mod server;
#[cfg(feature = "profile")]
mod stacks;
mod verdicts;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use vigil_monitor::{Clock, DefaultClock};
use vigil_supervisor::{Ending, ServiceState, Supervisor};

use crate::{MonitorFactory, Registry};

/// Pending connections the kernel queues for [`Endpoint::spawn`]'s listener (as
/// `tokio::net::TcpListener::bind`; std's `bind` queues only 128).
const BACKLOG: u32 = 1024;

/// Default threshold of [`Endpoint::stuck_after`].
const DEFAULT_STUCK_AFTER: Duration = Duration::from_secs(1);

/// Default of [`Endpoint::snapshot_instance_limit`]: the most entries `/snapshot.json`
/// lists in `instances`.
///
/// Ten thousand rows is far more than a person or `vigil-top` reads one by one, and small
/// enough to serve every second: 1.9 MB of JSON without monitors and 5.4 MB with every
/// monitor attached, written in 10 to 60 ms (release build, a loaded 2-core machine),
/// where all of 100k instances would be 19 MB and 54 MB, 80 to 370 ms. A process with
/// more live instances (one per connection or per request, say) still gets every name's
/// figures in `groups`.
pub const DEFAULT_SNAPSHOT_INSTANCE_LIMIT: usize = 10_000;

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
    snapshot_instance_limit: usize,
    #[cfg(feature = "profile")]
    profiler: Option<vigil_profile::Profiler>,
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
            snapshot_instance_limit: DEFAULT_SNAPSHOT_INSTANCE_LIMIT,
            #[cfg(feature = "profile")]
            profiler: None,
        }
    }

    /// `/snapshot.json` lists at most `limit` live instances (default
    /// [`DEFAULT_SNAPSHOT_INSTANCE_LIMIT`], 10,000) rather than building a document of
    /// hundreds of megabytes for a process with a million of them.
    ///
    /// Past the limit the document says so in its `truncated` member
    /// (`{"instance_limit": 10000, "instances_left_out": 90000}`), `groups` still covers
    /// every instance, and `instances` lists the oldest instances of each name with the
    /// limit shared fairly between names: see
    /// [`ServicesMetrics::limited_document`](crate::ServicesMetrics::limited_document).
    /// `usize::MAX` lists them all.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use vigil::http::Endpoint;
    /// use vigil::Registry;
    ///
    /// let endpoint = Endpoint::new(Arc::new(Registry::new())).snapshot_instance_limit(500);
    /// ```
    pub fn snapshot_instance_limit(mut self, limit: usize) -> Self {
        self.snapshot_instance_limit = limit;
        self
    }

    /// `/health` answers `503` while a live instance has been inside one poll for longer
    /// than `threshold` (default 1 s): a service blocking its worker thread, or looping
    /// without yielding. With a [`profiler`](Endpoint::profiler), `/debug/stacks` shows the
    /// stacks of those instances.
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

    /// Adds the debug routes (see the [module documentation](self#debug-routes-feature-profile)):
    /// `/debug/stacks` (the stack of every instance stuck past
    /// [`stuck_after`](Endpoint::stuck_after)), `/debug/pprof/profile` and
    /// `/debug/pprof/folded` (CPU profiles by service) and, with the `flamegraph` feature,
    /// `/debug/flamegraph.svg`. Without a profiler those paths are `404`.
    ///
    /// Attach the same profiler to the registry (`Registry::builder().monitor(profiler)`, or
    /// in a tuple with other monitors): it sees only the polls of registries it is attached
    /// to. A [`Profiler::disabled`](vigil_profile::Profiler::disabled) one answers stacks
    /// with why there are none and profiles with `501`. Keep the endpoint on loopback: the
    /// debug routes have no authentication.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use vigil::http::Endpoint;
    /// use vigil::profile::Profiler;
    /// use vigil::Registry;
    ///
    /// let profiler = Profiler::install_or_disabled();
    /// let registry = Arc::new(Registry::builder().monitor(profiler).build());
    /// let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    /// let server = Endpoint::new(registry)
    ///     .profiler(profiler)
    ///     .spawn(runtime.handle(), "127.0.0.1:0".parse().unwrap())
    ///     .unwrap();
    /// println!("go tool pprof http://{}/debug/pprof/profile?seconds=10", server.local_addr());
    /// ```
    #[cfg(feature = "profile")]
    pub fn profiler(mut self, profiler: vigil_profile::Profiler) -> Self {
        self.profiler = Some(profiler);
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
            snapshot_instance_limit: self.snapshot_instance_limit,
            document_builds: Arc::new(Semaphore::new(1)),
            health_checks: Arc::new(Semaphore::new(1)),
            baselines: verdicts::Baselines::default(),
            #[cfg(feature = "profile")]
            profiler: self.profiler,
        }
    }
}

impl<F: MonitorFactory<C>, C: Clock> fmt::Debug for Endpoint<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Endpoint");
        debug
            .field("registry", &self.registry)
            .field("stuck_after", &self.stuck_after)
            .field("supervisor", &self.supervisor)
            .field("snapshot_instance_limit", &self.snapshot_instance_limit);
        #[cfg(feature = "profile")]
        debug.field("profiler", &self.profiler);
        debug.finish()
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
