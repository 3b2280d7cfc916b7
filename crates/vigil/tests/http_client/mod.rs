//! A minimal HTTP/1.1 client over a real socket for the endpoint tests: one request per
//! connection, the response read until the server closes.
// Each test crate that includes it uses a part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound on every network exchange of these tests: a hang fails instead of blocking.
pub(crate) const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP response, split.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    /// `HTTP/1.1 200 OK`.
    pub(crate) status_line: String,
    /// Header names in lower case.
    pub(crate) headers: BTreeMap<String, String>,
    /// The body as text (invalid UTF-8 replaced).
    pub(crate) body: String,
    /// The body as sent.
    pub(crate) bytes: Vec<u8>,
}

/// Sends `request` on a new connection and reads the response until the server closes
/// (requests ask for `Connection: close`; error responses close by themselves).
pub(crate) async fn exchange(address: SocketAddr, request: &[u8]) -> HttpResponse {
    exchange_within(address, request, EXCHANGE_TIMEOUT).await
}

/// [`exchange`] for a response that takes up to `timeout` (a long profile).
pub(crate) async fn exchange_within(
    address: SocketAddr,
    request: &[u8],
    timeout: Duration,
) -> HttpResponse {
    let raw = tokio::time::timeout(timeout, async {
        let mut stream = TcpStream::connect(address).await.expect("connect");
        stream.write_all(request).await.expect("send the request");
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .await
            .expect("read the response");
        raw
    })
    .await
    .expect("the server answers in time");
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("a head and a body");
    let head = std::str::from_utf8(&raw[..split]).expect("a UTF-8 head");
    let bytes = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap().to_owned();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(": ").expect("name: value");
            (name.to_ascii_lowercase(), value.to_owned())
        })
        .collect();
    HttpResponse {
        status_line,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        bytes,
    }
}

/// `GET path` with the given extra header lines, on a connection closed after it.
pub(crate) async fn get(address: SocketAddr, path: &str, headers: &str) -> HttpResponse {
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n");
    exchange(address, request.as_bytes()).await
}

/// Port 0 of 127.0.0.1: any free port.
pub(crate) fn loopback() -> SocketAddr {
    (std::net::Ipv4Addr::LOCALHOST, 0).into()
}

/// A two-worker runtime with I/O and timers.
pub(crate) fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a multi-thread runtime")
}
