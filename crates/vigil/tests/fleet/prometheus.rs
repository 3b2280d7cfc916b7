//! A real Prometheus server for the fleet tests: Debian's `prometheus` binary, started on a
//! free loopback port with a configuration and a database in a temporary directory, asked
//! through its HTTP API (`/api/v1/...`), killed and cleaned up when dropped.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::top_example::ChildGuard;

/// Bound on one exchange with the server: a hang fails instead of blocking.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the server may take to load its configuration and rules and answer `/-/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The `prometheus` server, or `None` (after saying why) where a test may skip; see
/// [`debian_prometheus_tool`](super::tools::debian_prometheus_tool).
pub(crate) fn binary() -> Option<&'static str> {
    super::tools::debian_prometheus_tool("prometheus")
}

/// What the server is told: one job, its targets, the rule files, how often.
#[derive(Debug)]
pub(crate) struct Setup<'a> {
    /// The `job_name` of the scrape job.
    pub(crate) job: &'a str,
    /// Its targets (`host:port`).
    pub(crate) targets: &'a [SocketAddr],
    /// Rule files (absolute paths or globs).
    pub(crate) rule_files: &'a [PathBuf],
    /// `scrape_interval` and `evaluation_interval` both.
    pub(crate) interval: Duration,
}

/// A running Prometheus server.
#[derive(Debug)]
pub(crate) struct Prometheus {
    /// Where its API listens.
    pub(crate) address: SocketAddr,
    /// Its configuration, database and log.
    directory: PathBuf,
    process: ChildGuard,
}

impl Prometheus {
    /// Writes the configuration of `setup`, starts `binary` on a free loopback port and
    /// waits until it is ready.
    pub(crate) fn start(binary: &str, setup: &Setup<'_>) -> Self {
        let directory = unique_directory();
        std::fs::create_dir_all(&directory).expect("create the server's directory");
        let config = directory.join("prometheus.yml");
        std::fs::write(&config, configuration(setup)).expect("write prometheus.yml");
        let log = std::fs::File::create(directory.join("prometheus.log")).expect("create log");
        let address = free_port();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                directory.join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let server = Self {
            address,
            directory,
            process: ChildGuard::new(child),
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        while get(address, "/-/ready").map(|(status, _)| status) != Ok(200) {
            assert!(
                Instant::now() < deadline,
                "prometheus not ready within {READY_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// `GET /api/v1/<path>` (with an encoded query string), and the `data` of its answer.
    ///
    /// # Panics
    ///
    /// If the server does not answer `status: success`; the message has its error.
    pub(crate) fn api(&self, path: &str, parameters: &[(&str, &str)]) -> Value {
        self.try_api(path, parameters)
            .unwrap_or_else(|error| panic!("GET /api/v1/{path} {parameters:?}: {error}"))
    }

    /// [`Self::api`], the error as a value: the server's `errorType: error`, or why there
    /// was no answer.
    pub(crate) fn try_api(&self, path: &str, parameters: &[(&str, &str)]) -> Result<Value, String> {
        let mut target = format!("/api/v1/{path}");
        for (index, (name, value)) in parameters.iter().enumerate() {
            let value: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
            let separator = if index == 0 { '?' } else { '&' };
            let _ = write!(target, "{separator}{name}={value}");
        }
        let (_, body) = get(self.address, &target)?;
        let mut answer: Value =
            serde_json::from_str(&body).map_err(|error| format!("{error}: {body}"))?;
        if answer["status"] != "success" {
            return Err(format!("{}: {}", answer["errorType"], answer["error"]));
        }
        Ok(answer["data"].take())
    }

    /// An instant query at the server's now: its result vector.
    pub(crate) fn query(&self, expression: &str) -> Result<Vec<Value>, String> {
        let data = self.try_api("query", &[("query", expression)])?;
        match data["result"].as_array() {
            Some(result) => Ok(result.clone()),
            // A scalar or a string: one value.
            None => Ok(vec![data["result"].clone()]),
        }
    }

    /// The last lines of the server's log.
    pub(crate) fn log_tail(&self) -> String {
        let log =
            std::fs::read_to_string(self.directory.join("prometheus.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("prometheus's log, last lines:\n{}", self.log_tail());
        }
        self.process.kill();
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

/// The configuration file of `setup`.
fn configuration(setup: &Setup<'_>) -> String {
    let interval = format!("{}ms", setup.interval.as_millis());
    let targets: Vec<String> = setup
        .targets
        .iter()
        .map(|target| format!("\"{target}\""))
        .collect();
    let rule_files: Vec<String> = setup
        .rule_files
        .iter()
        .map(|path| format!("  - \"{}\"\n", path.display()))
        .collect();
    format!(
        "global:\n  scrape_interval: {interval}\n  scrape_timeout: {interval}\n  \
         evaluation_interval: {interval}\nrule_files:\n{}scrape_configs:\n  \
         - job_name: \"{}\"\n    static_configs:\n      - targets: [{}]\n",
        rule_files.concat(),
        setup.job,
        targets.join(", ")
    )
}

/// A directory of its own under the system's temporary directory.
fn unique_directory() -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    std::env::temp_dir().join(format!("vigil-prometheus-{}-{nanos}", std::process::id()))
}

/// A loopback address with a port free now. Prometheus takes a fixed port, so the port is
/// found by binding port 0 and let go for the server to take: another process could take it
/// in between, which would fail the start, not pass a test wrongly.
fn free_port() -> SocketAddr {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("bind a loopback port")
}

/// `GET target` over HTTP/1.0 (the body ends where the server closes: never chunked), and
/// the status code and the body.
fn get(address: SocketAddr, target: &str) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect_timeout(&address, EXCHANGE_TIMEOUT)
        .map_err(|error| format!("connect to {address}: {error}"))?;
    stream
        .set_read_timeout(Some(EXCHANGE_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(EXCHANGE_TIMEOUT)))
        .map_err(|error| error.to_string())?;
    write!(stream, "GET {target} HTTP/1.0\r\nHost: {address}\r\n\r\n")
        .map_err(|error| format!("send to {address}: {error}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|error| format!("read from {address}: {error}"))?;
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").ok_or("no end of head")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    Ok((status, body.to_owned()))
}

/// The workspace's root directory (where `deploy/` is).
pub(crate) fn workspace_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}
