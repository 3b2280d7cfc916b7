//! The accept loop: hyper's HTTP/1.1 connections under a head deadline and a connection cap.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use vigil_monitor::Clock;

use super::routes::{self, Reply, Shared};
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
/// within [`CONNECTION_LIFETIME`] + [`SHUTDOWN_GRACE`] at most (+ [`SLOW_REPLY_LIMIT`]
/// while a reply is being built), so a full table frees up by itself.
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

/// Longest a reply built off the workers ([`Reply::Slow`]: a document waits for the
/// documents queued before it; a CPU profile records for up to 60 s, then resolves
/// symbols) is worked on; then it answers `503`. A connection whose lifetime ends
/// while one is in progress is kept until it has been answered: the lifetime bounds slow
/// readers, not slow answers.
pub(super) const SLOW_REPLY_LIMIT: Duration = Duration::from_secs(70);

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
        // Replies being built for this connection.
        let slow_replies = Arc::new(watch::Sender::new(0_usize));
        let service = service_fn({
            let slow_replies = Arc::clone(&slow_replies);
            move |request| {
                let reply = routes::respond(&shared, &request);
                // Counted from now, while hyper still holds the request: the lifetime check
                // below never misses a reply that has begun.
                let in_progress = matches!(reply, Reply::Slow(_))
                    .then(|| SlowReplyInProgress::begin(&slow_replies));
                async move {
                    let response = match reply {
                        Reply::Ready(response) => response,
                        Reply::Slow(reply) => {
                            let response = tokio::time::timeout(SLOW_REPLY_LIMIT, reply).await;
                            drop(in_progress);
                            response.unwrap_or_else(|_| {
                                routes::plain(
                                    StatusCode::SERVICE_UNAVAILABLE,
                                    format!("no answer within {SLOW_REPLY_LIMIT:?}\n"),
                                )
                            })
                        }
                    };
                    Ok::<_, Infallible>(response)
                }
            }
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
                // A reply being built is let finish first (it ends within
                // `SLOW_REPLY_LIMIT`): a 30 s profile must not be cut at 10 s.
                let mut slow_replies = slow_replies.subscribe();
                let closed = tokio::time::timeout(SLOW_REPLY_LIMIT, async {
                    tokio::select! {
                        _ = connection.as_mut() => true,
                        _ = slow_replies.wait_for(|in_progress| *in_progress == 0) => false,
                    }
                })
                .await;
                if closed != Ok(true) {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection).await;
                }
            }
        });
    }
}

/// One reply being built for a connection, counted until dropped.
struct SlowReplyInProgress(Arc<watch::Sender<usize>>);

impl SlowReplyInProgress {
    fn begin(slow_replies: &Arc<watch::Sender<usize>>) -> Self {
        slow_replies.send_modify(|in_progress| *in_progress += 1);
        Self(Arc::clone(slow_replies))
    }
}

impl Drop for SlowReplyInProgress {
    fn drop(&mut self) {
        self.0.send_modify(|in_progress| *in_progress -= 1);
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
