//! The accept loop: hyper's HTTP/1.1 connections under a head deadline and a connection cap.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use vigil_monitor::Clock;

use super::routes::{self, Shared};
use crate::MonitorFactory;

/// Time a client has to send a complete request head (request line and headers), from the
/// moment the connection is accepted or, on a kept-alive connection, from the end of the
/// previous response. Then hyper closes the connection. A scrape sends its head at once;
/// this is what reaps connections that say nothing.
pub(super) const HEAD_DEADLINE: Duration = Duration::from_secs(2);

/// Largest request head (request line and headers) read; a larger one gets `431`.
pub(super) const MAX_HEAD_BYTES: usize = 8 * 1024;

/// Connections served at once. Past it, new connections wait in the listener's backlog
/// until one ends; every connection ends within [`HEAD_DEADLINE`] of going silent and
/// within [`CONNECTION_LIFETIME`] + [`SHUTDOWN_GRACE`] at most, so a full table frees up
/// by itself.
///
/// Large enough that a few hundred silent connections leave room for scrapes, small
/// enough to stay well under the common 1024 file-descriptor limit.
pub(super) const MAX_CONNECTIONS: usize = 512;

/// Longest a connection is kept: then it is asked to close after the response in progress
/// (hyper's graceful shutdown), and dropped if that takes longer than [`SHUTDOWN_GRACE`].
/// Bounds a client that sends requests but reads the responses slowly or never.
pub(super) const CONNECTION_LIFETIME: Duration = Duration::from_secs(10);

/// Time a connection asked to close has to finish its response.
pub(super) const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Pause after an accept error that is not about one connection (for example out of file
/// descriptors), so that the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts connections on `listener` and serves each with hyper until the future is
/// dropped (which aborts the connections in progress).
pub(super) async fn run<F, C>(listener: TcpListener, shared: Arc<Shared<F, C>>) -> io::Result<()>
where
    F: MonitorFactory<C>,
    C: Clock,
{
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEAD_DEADLINE)
        .max_header_size(MAX_HEAD_BYTES);
    let mut connections = JoinSet::new();
    loop {
        // Reap finished connections so that the set holds only live ones.
        while connections.try_join_next().is_some() {}
        if connections.len() >= MAX_CONNECTIONS {
            connections.join_next().await;
            continue;
        }
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(error) if is_connection_error(&error) => continue,
            Err(_) => {
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        // Responses are small and written whole: do not hold the last segment back.
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let service = service_fn(move |request| {
            let response = routes::respond(&shared, &request);
            async move { Ok::<_, Infallible>(response) }
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            // A failed, timed-out or closed connection is simply dropped: there is no one to
            // report it to, and the next scrape starts afresh.
            if tokio::time::timeout(CONNECTION_LIFETIME, connection.as_mut())
                .await
                .is_err()
            {
                connection.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection).await;
            }
        });
    }
}

/// An accept error that concerns only the connection being accepted.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}
