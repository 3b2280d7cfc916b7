//! A minimal HTTP/1.1 responder for `GET /metrics` on a tokio `TcpListener`.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use vigil_monitor::Clock;

use super::{encode, Format};
use crate::{MonitorFactory, Registry};

/// Longest request head (request line and headers) read; a longer one gets `431`.
const MAX_HEAD_BYTES: usize = 8 * 1024;

/// Time a connection may take from accept to the end of the response; then it is closed.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once; further ones wait in the listener's backlog.
const MAX_CONNECTIONS: usize = 64;

/// Pause after an accept error that is not about one connection (for example out of file
/// descriptors), so that the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `GET /metrics` on `listener`: each request gets a fresh snapshot of `registry`,
/// encoded by [`encode`] in the [`Format`] the request's `Accept` header asks for (see
/// [`Format::negotiate`]).
///
/// A deliberately tiny HTTP/1.1 server, for a scrape endpoint:
///
/// - one request per connection: the response carries `Connection: close` and the
///   connection is closed after it;
/// - `GET` (and `HEAD`) of `/metrics` (any query string is ignored) answer `200`; another
///   path `404`, another method `405`, a malformed request `400`, a request head over 8 KiB
///   `431`; a request body is not read;
/// - a connection has 10 s from accept to the end of its response, then it is dropped; at
///   most 64 connections are served at once, the others wait in the listener's backlog.
///
/// Bind the listener to a loopback address unless the metrics may be public: there is no
/// authentication and no TLS.
///
/// The future never completes: an error on one connection closes that connection, and an
/// accept error is retried (after a 100 ms pause unless it concerned a single connection).
///
/// # Panics
///
/// Must run inside a tokio runtime with timers enabled (`enable_time`, or `enable_all`):
/// connections are spawned as tasks and time out.
///
/// # Cancel safety
///
/// Dropping the future stops the server: the listener is closed and connections in
/// progress are aborted.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// use vigil::prelude::*;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let registry = Arc::new(Registry::new());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let address = listener.local_addr()?;
/// let server = tokio::spawn(vigil::export::prometheus::serve(listener, Arc::clone(&registry)));
///
/// let mut scrape = tokio::net::TcpStream::connect(address).await?;
/// scrape.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").await?;
/// let mut response = String::new();
/// scrape.read_to_string(&mut response).await?;
/// assert!(response.starts_with("HTTP/1.1 200 OK\r\n"));
///
/// server.abort();
/// # Ok::<(), std::io::Error>(())
/// # }).unwrap();
/// ```
pub async fn serve<F, C>(listener: TcpListener, registry: Arc<Registry<F, C>>)
where
    F: MonitorFactory<C>,
    C: Clock,
{
    let mut connections = JoinSet::new();
    loop {
        // Reap finished connections so the set holds only live ones.
        while connections.try_join_next().is_some() {}
        if connections.len() >= MAX_CONNECTIONS {
            connections.join_next().await;
            continue;
        }
        match listener.accept().await {
            Ok((stream, _peer)) => {
                let registry = Arc::clone(&registry);
                connections.spawn(async move {
                    // A timed-out or failed connection is simply closed: there is no one to
                    // report it to, and the next scrape starts afresh.
                    let _ =
                        tokio::time::timeout(CONNECTION_TIMEOUT, respond(stream, &registry)).await;
                });
            }
            Err(error) if is_connection_error(&error) => {}
            Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
        }
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

/// Reads one request head from `stream`, writes one response, closes.
async fn respond<F, C>(mut stream: TcpStream, registry: &Registry<F, C>) -> io::Result<()>
where
    F: MonitorFactory<C>,
    C: Clock,
{
    let response = match read_head(&mut stream).await? {
        Head::Complete(head) => answer(&head, registry),
        Head::TooLarge => Response::plain("431 Request Header Fields Too Large", ""),
        Head::Closed => return Ok(()),
    };
    stream.write_all(response.head.as_bytes()).await?;
    if !response.head_only {
        stream.write_all(response.body.as_bytes()).await?;
    }
    stream.shutdown().await
}

/// What [`read_head`] found.
enum Head {
    /// The request head, without the blank line that ends it.
    Complete(Vec<u8>),
    /// More than [`MAX_HEAD_BYTES`] without the end of the head.
    TooLarge,
    /// The client closed the connection before the end of the head.
    Closed,
}

/// Reads until the blank line that ends a request head, at most [`MAX_HEAD_BYTES`].
async fn read_head(stream: &mut TcpStream) -> io::Result<Head> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0_u8; 1024];
    loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Ok(Head::Closed);
        }
        // The end marker may straddle two reads: search from a little before the new bytes.
        let search_from = head.len().saturating_sub(3);
        head.extend_from_slice(&chunk[..read]);
        if let Some(end) = head[search_from..]
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
        {
            head.truncate(search_from + end);
            return Ok(Head::Complete(head));
        }
        if head.len() > MAX_HEAD_BYTES {
            return Ok(Head::TooLarge);
        }
    }
}

/// A response ready to write.
struct Response {
    /// Status line and headers, ending with the blank line.
    head: String,
    body: String,
    /// `HEAD` request: send the head only (with the body's length).
    head_only: bool,
}

impl Response {
    fn new(status: &str, content_type: &str, extra_headers: &str, body: String) -> Self {
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
             {extra_headers}Connection: close\r\n\r\n",
            body.len()
        );
        Self {
            head,
            body,
            head_only: false,
        }
    }

    fn plain(status: &str, extra_headers: &str) -> Self {
        let body = format!("{status}\n");
        Self::new(status, "text/plain; charset=utf-8", extra_headers, body)
    }
}

/// The response to a complete request head.
fn answer<F, C>(head: &[u8], registry: &Registry<F, C>) -> Response
where
    F: MonitorFactory<C>,
    C: Clock,
{
    let Some(request) = std::str::from_utf8(head).ok().and_then(Request::parse) else {
        return Response::plain("400 Bad Request", "");
    };
    let path = request
        .target
        .split_once('?')
        .map_or(request.target, |(path, _query)| path);
    if path != "/metrics" {
        return Response::plain("404 Not Found", "");
    }
    let head_only = match request.method {
        "GET" => false,
        "HEAD" => true,
        _ => return Response::plain("405 Method Not Allowed", "Allow: GET, HEAD\r\n"),
    };
    let format = Format::negotiate(request.accept);
    let body = encode(&registry.metrics(), format);
    let mut response = Response::new("200 OK", format.content_type(), "", body);
    response.head_only = head_only;
    response
}

/// The parts of a request head the server looks at.
struct Request<'a> {
    method: &'a str,
    target: &'a str,
    accept: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// Parses `METHOD TARGET HTTP/1.x` and the headers; `None` if malformed.
    fn parse(head: &'a str) -> Option<Self> {
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next()?.split(' ');
        let method = request_line.next()?;
        let target = request_line.next()?;
        let version = request_line.next()?;
        if request_line.next().is_some()
            || method.is_empty()
            || !target.starts_with('/')
            || !version.starts_with("HTTP/1.")
        {
            return None;
        }
        let mut accept = None;
        for line in lines {
            let (name, value) = line.split_once(':')?;
            if name.eq_ignore_ascii_case("accept") {
                accept = Some(value.trim());
            }
        }
        Some(Self {
            method,
            target,
            accept,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_request_head() {
        let request =
            Request::parse("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nACCEPT:  text/plain ").unwrap();
        assert_eq!(request.method, "GET");
        assert_eq!(request.target, "/metrics?x=1");
        assert_eq!(request.accept, Some("text/plain"));
    }

    #[test]
    fn rejects_malformed_heads() {
        for head in [
            "",
            "GET",
            "GET /metrics",
            "GET /metrics HTTP/2",
            "GET metrics HTTP/1.1",
            "GET /metrics HTTP/1.1 extra",
            "GET /metrics HTTP/1.1\r\nno colon here",
        ] {
            assert!(Request::parse(head).is_none(), "{head:?}");
        }
    }
}
