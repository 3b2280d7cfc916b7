//! Fetching `URL/snapshot.json`, and the profiler's routes next to it: the stacks of stuck
//! services, and CPU profiles (`poller.rs` runs these on background threads).
//!
//! A blocking client (`ureq`) on one plain thread is all attach mode needs: one request a
//! second to one host, no async runtime to set up. Every outcome is a value: the poller
//! never panics on what the target sends, and it keeps retrying while the target is away.

use std::time::Duration;

use crate::folded::{self, FoldedStack};
use crate::model::Document;
use crate::stacks::{self, StacksDocument};

/// Largest response body read (a snapshot of a process with a million live instances
/// is about 200 MB; past this something else is answering).
const MAX_BODY_BYTES: u64 = 512 * 1024 * 1024;
/// The least a stacks request (and a profile, past its duration) may take before it is
/// given up: the target resolves symbols before answering, slowly the first time.
const STACKS_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Why `/debug/stacks` gave no stacks document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StacksError {
    /// `404`: the endpoint has no profiler. Remembered: the route is not asked again.
    NoProfiler,
    /// Anything else (unreachable, another status, a malformed body), with the reason.
    Failed(String),
}

/// One stacks fetch's outcome.
pub(crate) type StacksFetched = Result<StacksDocument, StacksError>;

/// Why `/debug/pprof/folded` gave no profile, each shown as one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProfileFailure {
    /// `409`: another profile is running in the target.
    Busy,
    /// `404`: the endpoint has no profiler.
    NoProfiler,
    /// `501`: the profiler is there but disabled (unsupported platform, …); the body's
    /// first line says why.
    Disabled(String),
    /// Anything else, with the reason.
    Failed(String),
}

impl std::fmt::Display for ProfileFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Busy => f.write_str(
                "another profile is running in the target (HTTP 409): try again when it is done",
            ),
            Self::NoProfiler => f.write_str(
                "the endpoint has no profiler (HTTP 404): serve it with Endpoint::profiler",
            ),
            Self::Disabled(reason) if reason.is_empty() => {
                f.write_str("the target's profiler is disabled (HTTP 501)")
            }
            Self::Disabled(reason) => {
                write!(f, "the target's profiler is disabled (HTTP 501): {reason}")
            }
            Self::Failed(reason) => write!(f, "profile failed: {reason}"),
        }
    }
}

/// One profile fetch's outcome: the folded stacks, parsed.
pub(crate) type ProfileFetched = Result<Vec<FoldedStack>, ProfileFailure>;

/// The URL the debug routes hang off: the document URL without its last path segment
/// (`http://h:1/snapshot.json` gives `http://h:1`, `http://h:1/x/snapshot.json` gives
/// `http://h:1/x`), so they are looked up next to the document.
pub(crate) fn debug_base(document_url: &str) -> String {
    let authority_start = document_url.find("://").map_or(0, |at| at + 3);
    match document_url[authority_start..].rfind('/') {
        Some(slash) => document_url[..authority_start + slash].to_owned(),
        None => document_url.to_owned(),
    }
}

/// The first line of a body, at most 80 characters: enough to say why in one line.
pub(crate) fn first_line(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(80)
        .collect()
}

/// A reusable client for one target: its document, and the debug routes next to it.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    agent: ureq::Agent,
    url: String,
    debug_base: String,
    timeout: Duration,
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
        let debug_base = debug_base(&url);
        Self {
            agent,
            url,
            debug_base,
            timeout,
        }
    }

    /// One GET: the status and the whole body, or why there is none.
    fn get(&self, url: &str, timeout: Duration) -> Result<(u16, Vec<u8>), FetchError> {
        self.get_with_query(url, &[], timeout)
    }

    /// One GET with query parameters (encoded by the client): the status and the whole
    /// body, or why there is none.
    pub(crate) fn get_with_query(
        &self,
        url: &str,
        query: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), FetchError> {
        let mut response = self
            .agent
            .get(url)
            .query_pairs(query.iter().copied())
            .config()
            .timeout_global(Some(timeout))
            .build()
            .call()
            .map_err(|error| describe(url, &error))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_vec()
            .map_err(|error| describe(url, &error))?;
        Ok((status, body))
    }

    /// The document URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Fetches and reads one document (the dashboard decodes [`Self::fetch_body`] in
    /// `feed.rs`, where recordings are decoded too).
    #[cfg(test)]
    pub(crate) fn fetch(&self) -> Fetched {
        let body = self.fetch_body()?;
        crate::model::parse(body.as_bytes())
            .map_err(|error| FetchError::Invalid(format!("{}: {error}", self.url)))
    }

    /// Fetches one document's body, unread (what `--record` keeps): an HTTP error status
    /// is an error here already.
    pub(crate) fn fetch_body(&self) -> Result<String, FetchError> {
        let (status, body) = self.get(&self.url, self.timeout)?;
        if !(200..300).contains(&status) {
            let hint = if status == 404 {
                " (does the process serve vigil's endpoint with the `serde` feature?)"
            } else {
                ""
            };
            return Err(FetchError::Invalid(format!(
                "{} answered HTTP {status}{hint}: {}",
                self.url,
                first_line(&body)
            )));
        }
        // A body that is not UTF-8 is not a document either; kept readable for the reason.
        Ok(String::from_utf8(body)
            .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()))
    }

    /// Fetches the stacks of the instances stuck in a poll (`/debug/stacks?format=json`).
    pub(crate) fn fetch_stacks(&self) -> StacksFetched {
        let url = format!("{}/debug/stacks?format=json", self.debug_base);
        // Capturing takes up to the profiler's timeout per stuck instance, and its first
        // capture loads the symbols: give it more room than a snapshot.
        let (status, body) = self
            .get(&url, self.timeout.max(STACKS_TIMEOUT))
            .map_err(|error| StacksError::Failed(error.to_string()))?;
        match status {
            200..=299 => stacks::parse(&body).map_err(StacksError::Failed),
            404 => Err(StacksError::NoProfiler),
            _ => Err(StacksError::Failed(format!(
                "{url} answered HTTP {status}: {}",
                first_line(&body)
            ))),
        }
    }

    /// Records a CPU profile of `seconds` (`/debug/pprof/folded?seconds=N`): blocks for
    /// that long, and for the target to resolve its symbols.
    pub(crate) fn fetch_profile(&self, seconds: u64) -> ProfileFetched {
        let url = format!("{}/debug/pprof/folded?seconds={seconds}", self.debug_base);
        let timeout = Duration::from_secs(seconds) + self.timeout.max(STACKS_TIMEOUT);
        let (status, body) = self
            .get(&url, timeout)
            .map_err(|error| ProfileFailure::Failed(error.to_string()))?;
        match status {
            200..=299 => {
                let text = String::from_utf8_lossy(&body);
                folded::parse(&text).map_err(ProfileFailure::Failed)
            }
            404 => Err(ProfileFailure::NoProfiler),
            409 => Err(ProfileFailure::Busy),
            501 => Err(ProfileFailure::Disabled(first_line(&body))),
            _ => Err(ProfileFailure::Failed(format!(
                "{url} answered HTTP {status}: {}",
                first_line(&body)
            ))),
        }
    }
}

pub(crate) fn describe(url: &str, error: &ureq::Error) -> FetchError {
    let reason = format!("{url}: {error}");
    match error {
        ureq::Error::BadUri(_)
        | ureq::Error::Protocol(_)
        | ureq::Error::BodyExceedsLimit(_)
        | ureq::Error::Http(_) => FetchError::Invalid(reason),
        _ => FetchError::Unreachable(reason),
    }
}

#[cfg(test)]
pub(crate) mod tests {
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

    /// Serves every request with `answer(path with query)` (status line, body) until the
    /// test ends; returns the target URL.
    pub(crate) fn serve(
        answer: impl Fn(&str) -> (&'static str, String) + Send + 'static,
    ) -> String {
        use std::io::{BufRead as _, BufReader, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let mut reader = BufReader::new(stream);
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let path = request_line.split(' ').nth(1).unwrap_or("").to_owned();
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|read| read > 2) {
                    line.clear();
                }
                let (status, body) = answer(&path);
                let _ = write!(
                    reader.get_mut(),
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        document_url(&address.to_string())
    }

    #[test]
    fn debug_routes_hang_off_the_documents_directory() {
        assert_eq!(debug_base("http://h:1/snapshot.json"), "http://h:1");
        assert_eq!(debug_base("http://h:1/x/snapshot.json"), "http://h:1/x");
        assert_eq!(debug_base("http://h.json"), "http://h.json");
    }

    #[test]
    fn stacks_and_profiles_are_read_and_their_statuses_told_apart() {
        let url = serve(|path| match path {
            "/debug/stacks?format=json" => ("200 OK", crate::stacks::SAMPLE_STACKS.to_owned()),
            "/debug/pprof/folded?seconds=1" => ("200 OK", crate::folded::SAMPLE_FOLDED.to_owned()),
            "/debug/pprof/folded?seconds=2" => ("409 Conflict", "busy".to_owned()),
            "/debug/pprof/folded?seconds=3" => (
                "501 Not Implemented",
                "profiling is disabled\nmore".to_owned(),
            ),
            "/debug/pprof/folded?seconds=4" => ("200 OK", "no count here\n".to_owned()),
            _ => ("404 Not Found", "not found".to_owned()),
        });
        let client = Client::new(url, Duration::from_secs(5));
        let stacks = client.fetch_stacks().expect("stacks");
        assert_eq!(stacks.stuck[0].id, "stuck#0");
        assert_eq!(client.fetch_profile(1).expect("profile").len(), 6);
        assert_eq!(client.fetch_profile(2), Err(ProfileFailure::Busy));
        assert_eq!(
            client.fetch_profile(3),
            Err(ProfileFailure::Disabled("profiling is disabled".to_owned()))
        );
        assert!(
            matches!(client.fetch_profile(4), Err(ProfileFailure::Failed(reason)) if reason.contains("line 1"))
        );
        assert_eq!(client.fetch_profile(5), Err(ProfileFailure::NoProfiler));
        let without = Client::new(
            serve(|_| ("404 Not Found", String::new())),
            Duration::from_secs(5),
        );
        assert!(matches!(
            without.fetch_stacks(),
            Err(StacksError::NoProfiler)
        ));
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
