//! `run_until_signal` in a child process: SIGTERM gives a graceful report on stdout, a second
//! SIGTERM aborts at once; a runtime without signal support is an error, not a hang.
//!
//! The child is this very test binary, run again with `--exact signal_child` and an
//! environment variable that tells `signal_child` which scenario to play; without that
//! variable `signal_child` does nothing.

use std::future::pending;
use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use vigil_supervisor::{ChildSpec, Supervisor};

const SCENARIO: &str = "VIGIL_SUPERVISOR_SIGNAL_SCENARIO";

#[test]
fn signal_child() {
    let Ok(scenario) = std::env::var(SCENARIO) else {
        return;
    };
    // A child that is never signalled must not outlive a failed parent test.
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(300));
        std::process::exit(3);
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let supervisor = Supervisor::builder()
        .shutdown_timeout(Duration::from_secs(3600))
        .build(runtime.handle());
    match scenario.as_str() {
        "polite" => supervisor.start(ChildSpec::new("polite", |ctx| async move {
            ctx.shutdown_requested().await;
        })),
        "stubborn" => supervisor.start(ChildSpec::new("stubborn", |ctx| async move {
            ctx.shutdown_requested().await;
            println!("STOPPING");
            pending::<()>().await;
        })),
        other => panic!("unknown scenario {other}"),
    };
    // The handlers are registered by this call: a signal sent after READY is seen.
    let run = supervisor.run_until_signal();
    println!("READY");
    let report = runtime.block_on(run).unwrap();
    print!("REPORT BEGIN\n{report}REPORT END\n");
}

struct ChildRun {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl ChildRun {
    fn start(scenario: &str) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "signal_child", "--nocapture", "--test-threads=1"])
            .env(SCENARIO, scenario)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut run = Self { child, lines };
        run.read_until("READY");
        run
    }

    /// Reads lines until one ends with `marker` (libtest may print `test signal_child ... `
    /// before it on the same line); returns those before it.
    fn read_until(&mut self, marker: &str) -> Vec<String> {
        let mut before = Vec::new();
        for line in &mut self.lines {
            let line = line.unwrap();
            if line.ends_with(marker) {
                return before;
            }
            before.push(line);
        }
        panic!("the child ended before printing {marker}; it printed {before:?}");
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The report the child printed; the child must exit successfully.
    fn report(mut self) -> Vec<String> {
        self.read_until("REPORT BEGIN");
        let report = self.read_until("REPORT END");
        assert!(self.child.wait().unwrap().success());
        report
    }
}

#[test]
fn sigterm_shuts_down_gracefully_and_prints_the_report() {
    let child = ChildRun::start("polite");
    child.terminate();
    let report = child.report();
    assert!(
        report[0].ends_with("1 endings, 0 gave up, clean"),
        "{report:?}"
    );
    assert_eq!(
        report[2].split_whitespace().collect::<Vec<_>>(),
        ["polite#0", "completed"]
    );
}

#[test]
fn a_second_sigterm_aborts_at_once() {
    let mut child = ChildRun::start("stubborn");
    child.terminate();
    child.read_until("STOPPING");
    // The graceful shutdown would wait an hour for `stubborn`.
    child.terminate();
    let report = child.report();
    assert!(report[0].ends_with("NOT clean"), "{report:?}");
    assert_eq!(
        report[2].split_whitespace().take(2).collect::<Vec<_>>(),
        ["stubborn#0", "aborted"]
    );
}

#[test]
fn a_runtime_without_signal_support_is_an_error() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let supervisor = Supervisor::builder().build(runtime.handle());
    let error = runtime.block_on(supervisor.run_until_signal()).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("cannot register signal handlers"),
        "{error}"
    );
}
