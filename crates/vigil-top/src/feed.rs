//! What every source fetches, as raw responses (what `--record` writes), and how one is
//! decoded into per-process documents (what live views and `--replay` both ingest).
//!
//! A source is one endpoint's `/snapshot.json` or one Prometheus server. The background
//! threads fetch a [`RawFetch`]; [`decode`] turns it into a [`Decoded`] with the same
//! function whether the bytes came from the network or from a recording, so a replay goes
//! through the code path the live view took.

use serde::{Deserialize, Serialize};

use crate::model::{self, Document};
use crate::prometheus;
use crate::source::{Client, FetchError, Fetched};

/// What a source serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    /// One process's `/snapshot.json`.
    Snapshot,
    /// A Prometheus server's HTTP API, over every process it scrapes.
    Prometheus,
}

/// One source, as given on the command line (and named in a recording's header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SourceSpec {
    pub(crate) kind: Kind,
    /// The document URL (`http://h:1/snapshot.json`) or the Prometheus server's base URL.
    pub(crate) url: String,
}

impl SourceSpec {
    /// The process column's label of a snapshot source: its URL without the scheme and
    /// without `/snapshot.json` (`127.0.0.1:9898`).
    pub(crate) fn label(&self) -> String {
        let without_scheme = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, rest)| rest);
        without_scheme
            .strip_suffix("/snapshot.json")
            .unwrap_or(without_scheme)
            .to_owned()
    }
}

/// How a fetch went, before decoding: the body, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    /// A 2xx answer's body (for Prometheus: a JSON object of each query's answer).
    Body(String),
    /// No answer: refused, reset, timed out.
    Unreachable(String),
    /// An answer that is not a body to decode (an HTTP error status).
    Invalid(String),
}

impl Outcome {
    /// From a fetch of a body.
    pub(crate) fn from_result(result: Result<String, FetchError>) -> Self {
        match result {
            Ok(body) => Self::Body(body),
            Err(FetchError::Unreachable(reason)) => Self::Unreachable(reason),
            Err(FetchError::Invalid(reason)) => Self::Invalid(reason),
        }
    }
}

/// One fetch of one source, as it came.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RawFetch {
    /// The source's URL ([`SourceSpec::url`]).
    pub(crate) source: String,
    pub(crate) kind: Kind,
    pub(crate) outcome: Outcome,
}

/// A fetch decoded into documents, one per process.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(crate) source: String,
    pub(crate) kind: Kind,
    /// Snapshot: the one process's document or why not. Prometheus: every process it
    /// has vigil series of (the complete list), or why the server gave none.
    pub(crate) processes: Result<Vec<(String, Fetched)>, FetchError>,
}

/// Decodes one raw fetch: the parsing the live view and the replay share.
pub(crate) fn decode(raw: &RawFetch) -> Decoded {
    let error = |outcome: &Outcome| match outcome {
        Outcome::Unreachable(reason) => FetchError::Unreachable(reason.clone()),
        Outcome::Invalid(reason) | Outcome::Body(reason) => FetchError::Invalid(reason.clone()),
    };
    let processes = match raw.kind {
        Kind::Snapshot => {
            let spec = SourceSpec {
                kind: raw.kind,
                url: raw.source.clone(),
            };
            let fetched = match &raw.outcome {
                Outcome::Body(body) => model::parse(body.as_bytes())
                    .map_err(|error| FetchError::Invalid(format!("{}: {error}", raw.source))),
                other => Err(error(other)),
            };
            Ok(vec![(spec.label(), fetched)])
        }
        Kind::Prometheus => match &raw.outcome {
            Outcome::Body(body) => prometheus::decode(&raw.source, body).map(|documents| {
                documents
                    .into_iter()
                    .map(|(label, document)| (label, Ok::<Document, FetchError>(document)))
                    .collect()
            }),
            other => Err(error(other)),
        },
    };
    Decoded {
        source: raw.source.clone(),
        kind: raw.kind,
        processes,
    }
}

/// A source's client, for the fetch thread.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Endpoint(Client),
    Prometheus(prometheus::Client),
}

impl Source {
    /// A client for `spec` whose requests give up after `timeout`.
    pub(crate) fn new(spec: &SourceSpec, timeout: std::time::Duration) -> Self {
        match spec.kind {
            Kind::Snapshot => Self::Endpoint(Client::new(spec.url.clone(), timeout)),
            Kind::Prometheus => {
                Self::Prometheus(prometheus::Client::new(spec.url.clone(), timeout))
            }
        }
    }

    /// One fetch, as it came.
    pub(crate) fn fetch(&self) -> RawFetch {
        match self {
            Self::Endpoint(client) => RawFetch {
                source: client.url().to_owned(),
                kind: Kind::Snapshot,
                outcome: Outcome::from_result(client.fetch_body()),
            },
            Self::Prometheus(client) => RawFetch {
                source: client.url().to_owned(),
                kind: Kind::Prometheus,
                outcome: Outcome::from_result(client.fetch_body()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_the_address_and_path_without_scheme_and_document() {
        let label = |url: &str| {
            SourceSpec {
                kind: Kind::Snapshot,
                url: url.to_owned(),
            }
            .label()
        };
        assert_eq!(
            label("http://127.0.0.1:9898/snapshot.json"),
            "127.0.0.1:9898"
        );
        assert_eq!(label("http://h:1/x/snapshot.json"), "h:1/x");
        assert_eq!(label("http://h:1/custom.json"), "h:1/custom.json");
    }

    #[test]
    fn a_snapshot_body_decodes_to_its_process_and_an_error_keeps_its_kind() {
        let raw = RawFetch {
            source: "http://h:1/snapshot.json".to_owned(),
            kind: Kind::Snapshot,
            outcome: Outcome::Body(crate::model::SAMPLE.to_owned()),
        };
        let decoded = decode(&raw).processes.expect("one process");
        assert_eq!(decoded[0].0, "h:1");
        assert_eq!(decoded[0].1.as_ref().expect("document").groups.len(), 2);
        let raw = RawFetch {
            outcome: Outcome::Unreachable("refused".to_owned()),
            ..raw
        };
        let decoded = decode(&raw).processes.expect("one process");
        assert_eq!(
            decoded[0].1.as_ref().err(),
            Some(&FetchError::Unreachable("refused".to_owned()))
        );
        let raw = RawFetch {
            outcome: Outcome::Body("<html>".to_owned()),
            ..raw
        };
        let decoded = decode(&raw).processes.expect("one process");
        assert!(
            matches!(&decoded[0].1, Err(FetchError::Invalid(reason)) if reason.contains("malformed")),
            "{decoded:?}"
        );
    }
}
