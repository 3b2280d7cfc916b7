//! Fetching `URL/snapshot.json`: once, or on a background thread every interval.
//!
//! A blocking client (`ureq`) on one plain thread is all attach mode needs: one request a
//! second to one host, no async runtime to set up. Every outcome is a value: the poller
//! never panics on what the target sends, and it keeps retrying while the target is away.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::model::{self, Document};

/// Largest response body read (a snapshot of a process with a million live instances
/// is about 200 MB; past this something else is answering).
const MAX_BODY_BYTES: u64 = 512 * 1024 * 1024;

/// Why a fetch produced no document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FetchError {
    /// No answer: refused, reset, timed out, unknown host.
    Unreachable(String),
    /// An answer that is not a document this reader shows (HTTP error status, malformed
    /// body, unknown `schema_version`).
    Invalid(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(reason) | Self::Invalid(reason) => f.write_str(reason),
        }
    }
}

/// One fetch's outcome.
pub(crate) type Fetched = Result<Document, FetchError>;

/// The document URL for a target given as `http://host:port`, with or without a path.
///
/// `http://h:1` and `http://h:1/` become `http://h:1/snapshot.json`; a URL that already
/// ends in `.json` is kept; a bare `host:port` gets `http://`.
pub(crate) fn document_url(target: &str) -> String {
    let target = target.trim();
    let with_scheme = if target.contains("://") {
        target.to_owned()
    } else {
        format!("http://{target}")
    };
    if with_scheme.ends_with(".json") {
        with_scheme
    } else {
        format!("{}/snapshot.json", with_scheme.trim_end_matches('/'))
    }
}

/// A reusable client for one document URL.
#[derive(Debug)]
pub(crate) struct Client {
    agent: ureq::Agent,
    url: String,
}

impl Client {
    /// A client whose requests give up after `timeout`.
    pub(crate) fn new(url: String, timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            // Status codes are reported by us, with the body's first words.
            .http_status_as_error(false)
            // The endpoint is a local or in-cluster address: never route it via a proxy.
            .proxy(None)
            .build()
            .into();
        Self { agent, url }
    }

    /// Fetches and reads one document.
    pub(crate) fn fetch(&self) -> Fetched {
        let mut response = self
            .agent
            .get(&self.url)
            .call()
            .map_err(|error| self.describe(&error))?;
        let status = response.status();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_vec()
            .map_err(|error| self.describe(&error))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            let first_line = text
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(80)
                .collect::<String>();
            let hint = if status.as_u16() == 404 {
                " (does the process serve vigil's endpoint with the `serde` feature?)"
            } else {
                ""
            };
            return Err(FetchError::Invalid(format!(
                "{} answered HTTP {status}{hint}: {first_line}",
                self.url
            )));
        }
        model::parse(&body).map_err(|error| FetchError::Invalid(format!("{}: {error}", self.url)))
    }

    fn describe(&self, error: &ureq::Error) -> FetchError {
        let reason = format!("{}: {error}", self.url);
        match error {
            ureq::Error::BadUri(_)
            | ureq::Error::Protocol(_)
            | ureq::Error::BodyExceedsLimit(_)
            | ureq::Error::Http(_) => FetchError::Invalid(reason),
            _ => FetchError::Unreachable(reason),
        }
    }
}

/// A background thread fetching every interval until its receiver or controller is dropped.
#[derive(Debug)]
pub(crate) struct Poller {
    /// Sends a new interval; dropping it stops the thread.
    control: Option<Sender<Duration>>,
    thread: Option<JoinHandle<()>>,
}

impl Poller {
    /// Starts fetching with `client` right away, then every `interval`; results arrive on
    /// the returned receiver with the instant each fetch finished.
    pub(crate) fn spawn(
        client: Client,
        interval: Duration,
    ) -> (Self, Receiver<(Fetched, Instant)>) {
        let (results_tx, results) = mpsc::channel();
        let (control, control_rx) = mpsc::channel::<Duration>();
        let thread = std::thread::Builder::new()
            .name("vigil-top-poller".to_owned())
            .spawn(move || {
                let mut interval = interval;
                let mut next = Instant::now();
                loop {
                    match control_rx.recv_timeout(next.saturating_duration_since(Instant::now())) {
                        Ok(new_interval) => {
                            // The next fetch moves by the change (earlier when shortened).
                            next = next
                                .checked_sub(interval)
                                .map_or(next, |start| start + new_interval);
                            interval = new_interval;
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => return,
                        Err(RecvTimeoutError::Timeout) => {}
                    }
                    let fetched = client.fetch();
                    if results_tx.send((fetched, Instant::now())).is_err() {
                        return;
                    }
                    next = Instant::now() + interval;
                }
            })
            .expect("spawning the poller thread");
        (
            Self {
                control: Some(control),
                thread: Some(thread),
            },
            results,
        )
    }

    /// Changes the interval from the next fetch on.
    pub(crate) fn set_interval(&self, interval: Duration) {
        if let Some(control) = &self.control {
            // A closed channel means the thread is gone; nothing to tell it.
            let _ = control.send(interval);
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        // Closing the control channel wakes the thread, which then returns (a fetch in
        // flight finishes first, bounded by the client's timeout; we do not wait for it).
        self.control.take();
        drop(self.thread.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_become_document_urls() {
        assert_eq!(
            document_url("http://127.0.0.1:9898"),
            "http://127.0.0.1:9898/snapshot.json"
        );
        assert_eq!(
            document_url("http://127.0.0.1:9898/"),
            "http://127.0.0.1:9898/snapshot.json"
        );
        assert_eq!(
            document_url("127.0.0.1:9898"),
            "http://127.0.0.1:9898/snapshot.json"
        );
        assert_eq!(
            document_url("http://h:1/custom/snapshot.json"),
            "http://h:1/custom/snapshot.json"
        );
    }

    /// Answers one request with `status` and `body`, then closes; returns the target URL.
    fn answer_once(status: &'static str, body: &'static str) -> String {
        use std::io::{BufRead as _, BufReader, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            // The request head ends with an empty line.
            while reader.read_line(&mut line).is_ok_and(|read| read > 2) {
                line.clear();
            }
            let _ = write!(
                reader.get_mut(),
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        });
        document_url(&address.to_string())
    }

    fn fetch(url: String) -> Fetched {
        Client::new(url, Duration::from_secs(5)).fetch()
    }

    #[test]
    fn answers_that_are_not_documents_are_invalid_with_the_reason() {
        let invalid = |fetched: Fetched| match fetched {
            Err(FetchError::Invalid(reason)) => reason,
            other => panic!("expected invalid, got {other:?}"),
        };
        let reason = invalid(fetch(answer_once("404 Not Found", "no such route")));
        assert!(reason.contains("HTTP 404"), "{reason}");
        assert!(reason.contains("no such route"), "{reason}");
        let reason = invalid(fetch(answer_once("200 OK", "{\"schema_version\": 9}")));
        assert!(reason.contains("unsupported schema_version 9"), "{reason}");
        let reason = invalid(fetch(answer_once("200 OK", "<html>")));
        assert!(reason.contains("malformed snapshot document"), "{reason}");
    }

    #[test]
    fn a_document_is_read() {
        let fetched = fetch(answer_once("200 OK", crate::model::SAMPLE));
        assert_eq!(fetched.expect("a document").groups.len(), 2);
    }

    #[test]
    fn an_address_nobody_listens_on_is_unreachable_not_a_panic() {
        // Bind then drop: the port is free and refuses connections.
        let address = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port");
        let client = Client::new(document_url(&address.to_string()), Duration::from_secs(2));
        match client.fetch() {
            Err(FetchError::Unreachable(reason)) => assert!(reason.contains(&address.to_string())),
            other => panic!("expected unreachable, got {other:?}"),
        }
    }
}
