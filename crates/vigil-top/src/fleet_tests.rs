//! Several sources on one screen, against real vigil endpoints served in this process and
//! a real Prometheus server scraping one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vigil::http::{Endpoint, ServeHandle};
use vigil::prelude::*;

use super::*;
use crate::feed::{Source, SourceSpec};
use crate::poller::{Poller, Update};
use crate::state::ServiceState;

/// How long a test waits for something that takes a few refreshes (generous: the machine
/// is shared; no test asserts a speed).
const PATIENCE: Duration = Duration::from_secs(60);

/// A process's endpoint, served in this test process: one service that spins 1 ms then
/// sleeps 5 ms, and (when asked) one stuck in a 3 s blocking call every 3.2 s.
pub(crate) struct Target {
    runtime: tokio::runtime::Runtime,
    registry: Arc<Registry>,
    address: SocketAddr,
    serving: Mutex<Option<ServeHandle>>,
}

impl Target {
    /// Serves `service` on a free local port.
    pub(crate) fn serve(service: &'static str) -> Self {
        Self::serve_with(service, false)
    }

    pub(crate) fn serve_with(service: &'static str, with_stuck: bool) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(3)
            .enable_all()
            .build()
            .expect("runtime");
        let registry = Arc::new(Registry::new());
        drop(registry.start_in(
            runtime.handle(),
            ServiceObj::new(service, async {
                loop {
                    let start = Instant::now();
                    while start.elapsed() < Duration::from_millis(1) {
                        std::hint::spin_loop();
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }),
        ));
        if with_stuck {
            drop(registry.start_in(
                runtime.handle(),
                ServiceObj::new("stuck", async {
                    loop {
                        std::thread::sleep(Duration::from_secs(3));
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }),
            ));
        }
        let serving = Endpoint::new(Arc::clone(&registry))
            .spawn(runtime.handle(), "127.0.0.1:0".parse().expect("address"))
            .expect("serve");
        let address = serving.local_addr();
        Self {
            runtime,
            registry,
            address,
            serving: Mutex::new(Some(serving)),
        }
    }

    pub(crate) fn spec(&self) -> SourceSpec {
        SourceSpec {
            kind: Kind::Snapshot,
            url: crate::source::document_url(&self.address.to_string()),
        }
    }

    pub(crate) fn label(&self) -> String {
        self.address.to_string()
    }

    /// Stops serving (the services go on): to its watchers the process is gone.
    pub(crate) fn stop(&self) {
        drop(self.serving.lock().expect("lock").take());
    }

    /// Serves again on the same port (retrying while the old listener closes).
    pub(crate) fn restart(&self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let endpoint = Endpoint::new(Arc::clone(&self.registry));
            match endpoint.spawn(self.runtime.handle(), self.address) {
                Ok(serving) => {
                    *self.serving.lock().expect("lock") = Some(serving);
                    return;
                }
                Err(error) if Instant::now() < deadline => {
                    eprintln!("rebinding {}: {error}; retrying", self.address);
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(error) => panic!("cannot serve {} again: {error}", self.address),
            }
        }
    }
}

/// The live path of `run_live` without a terminal: pollers into a fleet into a view.
struct Watch {
    fleet: Fleet,
    view: App,
    updates: Receiver<Update>,
    _pollers: Vec<Poller>,
}

impl Watch {
    fn start(specs: &[SourceSpec], interval: Duration, stuck_after: Duration) -> Self {
        let started = Instant::now();
        let (sender, updates) = mpsc::channel();
        let pollers = specs
            .iter()
            .map(|spec| {
                Poller::spawn(
                    Source::new(spec, Duration::from_secs(5)),
                    interval,
                    stuck_after,
                    sender.clone(),
                )
            })
            .collect();
        let mut view = App::new("test".to_owned(), interval, started);
        view.stuck_after = stuck_after;
        Self {
            fleet: Fleet::new(specs, "test".to_owned(), interval, stuck_after, started),
            view,
            updates,
            _pollers: pollers,
        }
    }

    /// Takes in updates until `done` holds of the view; panics after [`PATIENCE`] with
    /// what the screen showed last.
    fn until(&mut self, what: &str, done: impl Fn(&App) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !done(&self.view) {
            assert!(
                Instant::now() < deadline,
                "gave up waiting until {what}; last:\n{}",
                crate::plain::render(&self.view)
            );
            if let Ok(Update::Fetched(_, decoded, at)) =
                self.updates.recv_timeout(Duration::from_secs(1))
            {
                self.fleet.on_decoded(decoded, at);
                self.fleet.show(&mut self.view);
            }
        }
    }
}

fn state_of(view: &App, key: &str) -> Option<ServiceState> {
    view.services.get(key).map(|service| service.state)
}

fn is_down(view: &App, label: &str) -> bool {
    view.fleet
        .as_ref()
        .is_some_and(|fleet| fleet.down().any(|(process, _)| process == label))
}

#[test]
fn one_endpoint_killed_is_marked_down_the_other_updates_and_it_comes_back() {
    let first = Target::serve("ingest");
    let second = Target::serve("flusher");
    let (a, b) = (first.label(), second.label());
    let mut watch = Watch::start(
        &[first.spec(), second.spec()],
        Duration::from_millis(100),
        Duration::from_secs(1),
    );
    let (a_row, b_row) = (format!("{a}/ingest"), format!("{b}/flusher"));
    watch.until("both processes have rates", |view| {
        [&a_row, &b_row].iter().all(|key| {
            view.services
                .get(*key)
                .is_some_and(|service| service.busy_percent.is_some())
        })
    });
    let view = &watch.view;
    assert_eq!(view.services[&a_row].process.as_deref(), Some(a.as_str()));
    assert_eq!(view.services[&a_row].service_name(), "ingest");
    assert!(view.fleet.is_some() && view.target.ends_with("(2 processes)"));

    second.stop();
    watch.until("the stopped process is down", |view| is_down(view, &b));
    assert_eq!(state_of(&watch.view, &b_row), Some(ServiceState::Down));
    assert_eq!(watch.view.services[&b_row].busy_percent, None);
    assert_eq!(
        watch.view.connection,
        Connection::Connected,
        "the other is live"
    );
    let table = crate::plain::render(&watch.view);
    assert!(table.contains(&format!("down {b}: ")), "{table}");
    // The other process goes on updating while one is down (the down one's documents
    // stopped, so the newest document is the live one's).
    let before = watch.view.updated_at;
    watch.until("the live process updates meanwhile", |view| {
        view.updated_at > before
            && is_down(view, &b)
            && view.services[&a_row].busy_percent.is_some()
    });
    assert!(watch
        .view
        .events
        .iter()
        .any(|event| event.text.starts_with(&format!("{b}: disconnected"))));

    second.restart();
    watch.until("the restarted process is back", |view| {
        !is_down(view, &b) && state_of(view, &b_row) == Some(ServiceState::Running)
    });
    assert!(watch
        .view
        .events
        .iter()
        .any(|event| event.text == format!("{b}: reconnected")));
    // The filter takes a process as well as a service.
    watch.view.filter = format!("{b}/");
    let shown: Vec<&str> = watch
        .view
        .sorted_services()
        .iter()
        .map(|service| service.name.as_str())
        .collect();
    assert_eq!(shown, [b_row.as_str()]);
}

/// A Prometheus server started for a test, killed when dropped.
struct Prometheus {
    child: Child,
    directory: PathBuf,
    url: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

/// The Prometheus binary, or `None` (printing why the test skips) when it is absent and
/// `CI` is unset; under `CI` its absence fails the test.
fn prometheus_binary() -> Option<PathBuf> {
    let binary = PathBuf::from("/usr/bin/prometheus");
    if binary.exists() {
        return Some(binary);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but /usr/bin/prometheus is absent: install Debian's `prometheus` package"
    );
    eprintln!("skipped: /usr/bin/prometheus is absent (install Debian's `prometheus`; under CI this fails)");
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// Starts Prometheus scraping `target` every second.
fn start_prometheus(binary: &PathBuf, target: &str) -> Prometheus {
    let directory = std::env::temp_dir().join(format!(
        "vigil-top-prometheus-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&directory).expect("temp dir");
    let config = directory.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: vigil\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .expect("config");
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            directory.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    Prometheus {
        child,
        directory,
        url: format!("http://127.0.0.1:{port}"),
    }
}

#[test]
fn prometheus_mode_lists_every_scraped_service_with_the_stuck_one_pinned() {
    let Some(binary) = prometheus_binary() else {
        return;
    };
    let target = Target::serve_with("ingest", true);
    let server = start_prometheus(&binary, &target.label());
    let spec = SourceSpec {
        kind: Kind::Prometheus,
        url: server.url.clone(),
    };
    let label = target.label();
    let (ingest, stuck) = (format!("{label}/ingest"), format!("{label}/stuck"));
    let mut watch = Watch::start(
        &[spec],
        Duration::from_millis(500),
        Duration::from_millis(500),
    );
    watch.until("Prometheus has rates of the target's services", |view| {
        view.services
            .get(&ingest)
            .is_some_and(|service| service.busy_percent.is_some_and(|busy| busy > 0.0))
    });
    let view = &watch.view;
    assert_eq!(
        view.services[&ingest].process.as_deref(),
        Some(label.as_str())
    );
    assert!(view.services[&ingest]
        .polls_per_second
        .is_some_and(|polls| polls > 0.0));
    assert_eq!(view.services[&ingest].instances, 1);
    watch.until("the stuck service is STUCK and pinned on top", |view| {
        state_of(view, &stuck) == Some(ServiceState::Stuck)
            && view.sorted_services().first().map(|s| s.name.as_str()) == Some(stuck.as_str())
    });
    let table = crate::plain::render(&watch.view);
    assert!(table.contains(&format!("{label} ")), "{table}");
    assert!(
        watch.view.target.contains("(1 process)"),
        "{}",
        watch.view.target
    );

    // The server going away: every process it listed is down, named with the reason.
    drop(server);
    watch.until("the server's processes are down", |view| {
        is_down(view, &label)
    });
    assert!(matches!(watch.view.connection, Connection::Disconnected(_)));
}
