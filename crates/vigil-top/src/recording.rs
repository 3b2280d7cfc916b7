//! `--record FILE` and `--replay FILE`: what vigil-top fetched, with when and from where.
//!
//! # Format (version 1)
//!
//! ```text
//! vigil-top recording 1\n          the magic line, uncompressed: format and version
//! gzip stream of JSON lines:
//!   {"target":…,"interval_ns":…,"stuck_after_ns":…,"sources":[{"kind":"snapshot","url":…}]}
//!   {"at_us":…,"source":…,"kind":"snapshot","outcome":{"body":"…"}}      one per fetch
//!   {"at_us":…,"source":…,"kind":"prometheus","outcome":{"unreachable":"…"}}
//! ```
//!
//! `at_us` counts microseconds from the dashboard's start; `outcome` is the response body
//! as it came (`body`), or why there was none (`unreachable`, `invalid`). A replay decodes
//! each body again with the live view's decoder ([`crate::feed::decode`]). The writer
//! flushes the gzip stream after every record, so a recording cut short (a killed
//! process) keeps all but its last records, and reading one names the record it ends in.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read as _, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};

use crate::feed::{RawFetch, SourceSpec};

/// The first bytes of every recording, before its version number.
pub(crate) const MAGIC: &str = "vigil-top recording ";
/// The version this vigil-top writes and reads.
pub(crate) const VERSION: u32 = 1;

/// What a recording says about how it was made (its first JSON line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Header {
    /// What the header named.
    pub(crate) target: String,
    /// The refresh interval and the STUCK threshold it ran with.
    pub(crate) interval_ns: u64,
    pub(crate) stuck_after_ns: u64,
    pub(crate) sources: Vec<SourceSpec>,
}

/// One fetch and when it arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// Microseconds since the dashboard started.
    pub(crate) at_us: u64,
    #[serde(flatten)]
    pub(crate) fetch: RawFetch,
}

impl Record {
    /// Since the dashboard started.
    pub(crate) fn at(&self) -> Duration {
        Duration::from_micros(self.at_us)
    }
}

/// A whole recording, read.
#[derive(Debug, Clone)]
pub(crate) struct Recording {
    pub(crate) header: Header,
    pub(crate) records: Vec<Record>,
}

/// Why a file cannot be replayed: each names what is wrong.
#[derive(Debug)]
pub(crate) enum RecordingError {
    /// The file could not be opened or read.
    Io(PathBuf, std::io::Error),
    /// It does not start with [`MAGIC`]: something else.
    Foreign { path: PathBuf, starts_with: String },
    /// A recording of a version this vigil-top does not read.
    UnsupportedVersion { path: PathBuf, version: String },
    /// It ends (or its compressed stream breaks) inside record `record` (0 is the
    /// header): cut short, e.g. the recording process was killed.
    Truncated { path: PathBuf, record: usize },
    /// A complete line that is not a record.
    Malformed {
        path: PathBuf,
        record: usize,
        reason: String,
    },
}

impl std::fmt::Display for RecordingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(path, error) => write!(f, "{}: {error}", path.display()),
            Self::Foreign { path, starts_with } => write!(
                f,
                "{} is not a vigil-top recording (it starts with {starts_with}; a recording starts with `{MAGIC}{VERSION}`)",
                path.display(),
            ),
            Self::UnsupportedVersion { path, version } => write!(
                f,
                "{}: unsupported vigil-top recording version {version} (this vigil-top reads version {VERSION})",
                path.display()
            ),
            Self::Truncated { path, record: 0 } => write!(
                f,
                "{} is truncated at record 0 (its header): nothing to replay",
                path.display()
            ),
            Self::Truncated { path, record } => write!(
                f,
                "{} is truncated at record {record}: the recording was cut short ({} record(s) before it are whole)",
                path.display(),
                record - 1
            ),
            Self::Malformed {
                path,
                record,
                reason,
            } => write!(
                f,
                "{}: record {record} is malformed: {reason}",
                path.display()
            ),
        }
    }
}

/// Writes a recording as fetches arrive.
pub(crate) struct Recorder {
    encoder: GzEncoder<BufWriter<File>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").finish_non_exhaustive()
    }
}

impl Recorder {
    /// Creates (or truncates) `path` and writes the magic line and `header`.
    pub(crate) fn create(path: &Path, header: &Header) -> std::io::Result<Self> {
        let mut file = BufWriter::new(File::create(path)?);
        writeln!(file, "{MAGIC}{VERSION}")?;
        let mut recorder = Self {
            encoder: GzEncoder::new(file, Compression::default()),
        };
        recorder.line(header)?;
        Ok(recorder)
    }

    fn line(&mut self, value: &impl Serialize) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.encoder, value)?;
        self.encoder.write_all(b"\n")?;
        // A sync flush: everything so far is readable even if the process dies now.
        self.encoder.flush()
    }

    /// Appends one fetch that arrived `at` after the dashboard started.
    pub(crate) fn record(&mut self, fetch: &RawFetch, at: Duration) -> std::io::Result<()> {
        let record = Record {
            at_us: u64::try_from(at.as_micros()).unwrap_or(u64::MAX),
            fetch: fetch.clone(),
        };
        self.line(&record)
    }

    /// Ends the gzip stream (dropping the recorder does too, ignoring errors).
    pub(crate) fn finish(self) -> std::io::Result<()> {
        self.encoder.finish()?.flush()
    }
}

/// Reads a whole recording.
pub(crate) fn read(path: &Path) -> Result<Recording, RecordingError> {
    let io = |error| RecordingError::Io(path.to_owned(), error);
    let mut reader = BufReader::new(File::open(path).map_err(io)?);
    // The magic line: at most a few dozen bytes are looked at.
    let mut first = Vec::new();
    (&mut reader)
        .take(64)
        .read_until(b'\n', &mut first)
        .map_err(io)?;
    let Some(version) = first
        .strip_prefix(MAGIC.as_bytes())
        .and_then(|rest| rest.strip_suffix(b"\n"))
    else {
        return Err(RecordingError::Foreign {
            path: path.to_owned(),
            starts_with: describe_start(&first),
        });
    };
    let version = String::from_utf8_lossy(version).into_owned();
    if version != VERSION.to_string() {
        return Err(RecordingError::UnsupportedVersion {
            path: path.to_owned(),
            version,
        });
    }
    let mut lines = BufReader::new(GzDecoder::new(reader));
    let mut header = None;
    let mut records = Vec::new();
    let mut line = Vec::new();
    for record in 0.. {
        line.clear();
        let truncated = || RecordingError::Truncated {
            path: path.to_owned(),
            record,
        };
        match lines.read_until(b'\n', &mut line) {
            Ok(0) if record > 0 => break,
            // A broken or cut compressed stream, or a last line without its end.
            Ok(0) | Err(_) => return Err(truncated()),
            Ok(_) if !line.ends_with(b"\n") => return Err(truncated()),
            Ok(_) => {}
        }
        let malformed = |error: serde_json::Error| RecordingError::Malformed {
            path: path.to_owned(),
            record,
            reason: error.to_string(),
        };
        if record == 0 {
            header = Some(serde_json::from_slice::<Header>(&line).map_err(malformed)?);
        } else {
            records.push(serde_json::from_slice::<Record>(&line).map_err(malformed)?);
        }
    }
    Ok(Recording {
        header: header.ok_or_else(|| RecordingError::Truncated {
            path: path.to_owned(),
            record: 0,
        })?,
        records,
    })
}

/// The first bytes of a foreign file, in words.
fn describe_start(first: &[u8]) -> String {
    if first.is_empty() {
        return "nothing: it is empty".to_owned();
    }
    if first.starts_with(&[0x1f, 0x8b]) {
        return "a gzip header: a compressed file, but not a recording".to_owned();
    }
    let text: String = String::from_utf8_lossy(first)
        .chars()
        .take(24)
        .map(|c| if c.is_control() { '.' } else { c })
        .collect();
    format!("`{text}`")
}

#[cfg(test)]
#[path = "recording_tests.rs"]
mod tests;
