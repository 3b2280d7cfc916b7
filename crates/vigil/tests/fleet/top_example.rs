//! The `top` example as a child process: built once per test run by cargo, started, and
//! killed when its guard is dropped (on a failed assertion too).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How long a started example may take to print the address it serves on.
const SERVE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the example prints when its endpoint listens: `serving http://ADDRESS/metrics, ...`.
const SERVING: &str = "serving http://";

/// vigil's features this test was compiled with, so that building the example reuses the
/// library cargo has just built for the test instead of building another.
pub(crate) fn enabled_features() -> Vec<&'static str> {
    [
        ("quanta", cfg!(feature = "quanta")),
        ("serde", cfg!(feature = "serde")),
        ("metrics", cfg!(feature = "metrics")),
        ("prometheus", cfg!(feature = "prometheus")),
        ("http", cfg!(feature = "http")),
        ("profile", cfg!(feature = "profile")),
        ("flamegraph", cfg!(feature = "flamegraph")),
        ("demo", cfg!(feature = "demo")),
    ]
    .into_iter()
    .filter_map(|(name, enabled)| enabled.then_some(name))
    .collect()
}

/// Builds the `top` example (up to date at every run) and returns its path.
pub(crate) fn build_example() -> PathBuf {
    let output = Command::new(env!("CARGO"))
        .args(["build", "--package", "vigil", "--example", "top"])
        .args(["--no-default-features", "--features"])
        .arg(enabled_features().join(","))
        .args(["--message-format", "json-render-diagnostics"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo build");
    assert!(output.status.success(), "cargo build --example top failed");
    // The artifact message of the example names its executable.
    String::from_utf8(output.stdout)
        .expect("cargo's messages are UTF-8")
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| message["target"]["name"] == "top")
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .expect("cargo names the example's executable")
}

/// A running child process, killed (and reaped) when dropped.
#[derive(Debug)]
pub(crate) struct ChildGuard {
    child: Child,
}

impl ChildGuard {
    /// Guards `child`.
    pub(crate) fn new(child: Child) -> Self {
        Self { child }
    }

    /// The child's process id.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// Kills the child now (SIGKILL) and waits for it.
    pub(crate) fn kill(&mut self) {
        // Already exited: nothing to kill, and `wait` reaps it either way.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The example serving its endpoint (`--serve 127.0.0.1:0`), killed when dropped.
#[derive(Debug)]
pub(crate) struct ServingExample {
    /// The address its endpoint listens on.
    pub(crate) address: SocketAddr,
    /// The process.
    pub(crate) process: ChildGuard,
}

impl ServingExample {
    /// Starts `example` with `--serve 127.0.0.1:0 --duration <duration>` and waits for the
    /// line that says where it listens. Its further output is read and dropped, so that a
    /// full pipe never blocks its table.
    pub(crate) fn start(example: &Path, duration: Duration) -> Self {
        let mut child = Command::new(example)
            .args(["--serve", "127.0.0.1:0", "--duration"])
            .arg(duration.as_secs().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the top example");
        let stdout = child.stdout.take().expect("piped stdout");
        let process = ChildGuard::new(child);
        let (found, address) = mpsc::channel();
        thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix(SERVING) {
                    let served = rest.split('/').next().and_then(|text| text.parse().ok());
                    if let (Some(found), Some(served)) = (found.take(), served) {
                        let _ = found.send(served);
                    }
                }
            }
        });
        let address = address
            .recv_timeout(SERVE_TIMEOUT)
            .expect("the example prints the address it serves on");
        Self { address, process }
    }
}
