//! The dashboard in a real terminal: `vigil-top` inside tmux, read back with `capture-pane`.
//!
//! Each test skips, saying why, when `tmux` is not installed (CI installs it).

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil::http::{Endpoint, ServeHandle};
use vigil::prelude::*;

/// A tmux server of our own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` in a detached 140×40 session, or `None` without tmux.
    fn start(test: &str, command: &str) -> Option<Self> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("skipping {test}: tmux is not installed (apt-get install tmux)");
            return None;
        }
        let tmux = Self {
            socket: format!("vigil-top-{test}-{}", std::process::id()),
        };
        let status = tmux
            .command()
            .args(["new-session", "-d", "-x", "140", "-y", "40", command])
            .status()
            .expect("run tmux");
        assert!(status.success(), "tmux new-session failed");
        Some(tmux)
    }

    fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.socket]);
        command
    }

    fn screen(&self) -> String {
        let output = self
            .command()
            .args(["capture-pane", "-p"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Waits until the screen satisfies `check` (up to 20 s), returning it.
    fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        self.wait_for_within(what, Duration::from_secs(20), check)
    }

    /// Waits until the screen satisfies `check` (up to `timeout`), returning it.
    fn wait_for_within(
        &self,
        what: &str,
        timeout: Duration,
        check: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "no {what} on screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A tmux format variable of the pane (`alternate_on`, `cursor_flag`, `pane_pid`...).
    fn pane(&self, variable: &str) -> String {
        let output = self
            .command()
            .args(["display-message", "-p", &format!("#{{{variable}}}")])
            .output()
            .expect("tmux display-message");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    fn send(&self, keys: &str) {
        let status = self
            .command()
            .args(["send-keys", keys])
            .status()
            .expect("tmux send-keys");
        assert!(status.success());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Quietly: a test may have ended the server already (`kill-session`).
        let _ = self
            .command()
            .arg("kill-server")
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The shell line run in tmux: vigil-top, then its exit status, kept on screen.
fn shell(arguments: &str) -> String {
    format!(
        "{} {arguments}; echo \"vigil-top exited $?\"; sleep 60",
        env!("CARGO_BIN_EXE_vigil-top")
    )
}

#[cfg(feature = "demo")]
#[test]
fn demo_shows_the_header_and_services_and_q_quits_cleanly() {
    let Some(tmux) = Tmux::start("demo", &shell("--demo")) else {
        return;
    };
    let screen = tmux.wait_for("demo services", |screen| {
        screen.contains("ingest") && screen.contains("crasher") && screen.contains("● live")
    });
    let header = screen.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("vigil-top http://127.0.0.1:"),
        "{screen}"
    );
    assert!(screen.contains("polls/s"), "{screen}");
    // The crasher's panic shows as an event, without tearing down the screen.
    let screen = tmux.wait_for("the crasher's panic", |screen| {
        screen.contains("crasher#0 panicked: lost connection to the broker")
    });
    assert!(screen.contains("busy% history"), "{screen}");
    // The panic hook did not print the caught panic over the dashboard.
    assert!(!screen.contains("panicked at"), "{screen}");
    tmux.send("q");
    let screen = tmux.wait_for("the exit status", |screen| {
        screen.contains("vigil-top exited")
    });
    assert!(screen.contains("vigil-top exited 0"), "{screen}");
    // The terminal is restored: the dashboard's alternate screen is gone.
    assert!(!screen.contains("busy% history"), "{screen}");
}

#[cfg(feature = "demo")]
#[test]
fn demo_shows_where_the_stuck_service_is_blocked_in_its_detail_pane() {
    let Some(tmux) = Tmux::start("stack", &shell("--demo")) else {
        return;
    };
    // `stuck` blocks 2.5 s of every 5.5 s, from 3 s after the start, and is STUCK (pinned
    // on top, so in the detail pane) for the last 1.5 s of each block: its stack shows in
    // the first or the second block (the first capture also loads the symbols).
    let screen = tmux.wait_for_within(
        "the stuck service's stack",
        Duration::from_secs(40),
        |screen| screen.contains("stack of stuck#0") && screen.contains("wait_for_legacy_lock"),
    );
    println!("{screen}");
    let header = screen
        .lines()
        .find(|line| line.contains("stack of stuck#0"))
        .unwrap_or_default();
    assert!(header.contains("(thread "), "{screen}");
    assert!(header.contains(", tid "), "{screen}");
    // Innermost first: the blocking call sits above the function that made it.
    let row = |needle: &str| {
        screen
            .lines()
            .position(|line| line.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` on screen:\n{screen}"))
    };
    assert!(row("sleep") < row("wait_for_legacy_lock"), "{screen}");
    tmux.send("q");
    let screen = tmux.wait_for("the exit status", |screen| {
        screen.contains("vigil-top exited")
    });
    assert!(screen.contains("vigil-top exited 0"), "{screen}");
}

/// Serves `registry` on `address`, retrying for a while if the port is not free yet.
fn serve(
    runtime: &tokio::runtime::Runtime,
    registry: &Arc<Registry>,
    address: &str,
) -> ServeHandle {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Endpoint::new(Arc::clone(registry))
            .spawn(runtime.handle(), address.parse().expect("address"))
        {
            Ok(serving) => return serving,
            Err(error) if Instant::now() < deadline => {
                eprintln!("{address} not free yet ({error}), retrying");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(error) => panic!("cannot serve on {address}: {error}"),
        }
    }
}

#[test]
fn attached_dashboard_survives_the_target_going_away_and_coming_back() {
    let (runtime, registry, serving) = one_service_target();
    let address = serving.local_addr();
    let Some(tmux) = Tmux::start(
        "attach",
        &shell(&format!("--interval 0.25 http://{address}")),
    ) else {
        return;
    };
    tmux.wait_for("the ingest row", |screen| {
        screen.contains("ingest") && screen.contains("● live")
    });
    drop(serving);
    let screen = tmux.wait_for("the disconnection", |screen| {
        screen.contains("disconnected, retrying")
    });
    assert!(screen.contains("ingest"), "the last figures stay: {screen}");
    let _serving = serve(&runtime, &registry, &address.to_string());
    tmux.wait_for("the recovery", |screen| {
        screen.contains("● live") && screen.contains("reconnected")
    });
    tmux.send("C-c");
    let screen = tmux.wait_for("the exit status", |screen| {
        screen.contains("vigil-top exited")
    });
    assert!(screen.contains("vigil-top exited 0"), "{screen}");
    runtime.shutdown_background();
}

/// A target of one service, as a process with vigil's endpoint serves it.
fn one_service_target() -> (tokio::runtime::Runtime, Arc<Registry>, ServeHandle) {
    let runtime = common::runtime();
    let registry = Arc::new(Registry::new());
    drop(registry.start_in(runtime.handle(), common::spinning("ingest", Duration::ZERO)));
    let serving = serve(&runtime, &registry, "127.0.0.1:0");
    (runtime, registry, serving)
}

/// Sends `signal` to the dashboard running in tmux and checks that it exited with
/// 128 + `number` and left the terminal as it found it: main screen, cursor shown, cooked
/// mode (`stty` reports `icanon`, not `-icanon`).
fn signal_restores_the_terminal(signal: &str, number: i32) {
    let (runtime, _registry, serving) = one_service_target();
    let command = format!(
        "{} http://{}; echo \"vigil-top exited $?\"; stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon'; sleep 60",
        env!("CARGO_BIN_EXE_vigil-top"),
        serving.local_addr()
    );
    let Some(tmux) = Tmux::start(&format!("signal-{signal}"), &command) else {
        return;
    };
    tmux.wait_for("the ingest row", |screen| {
        screen.contains("ingest") && screen.contains("● live")
    });
    assert_eq!(tmux.pane("alternate_on"), "1", "the dashboard is up");
    // The pane runs `sh -c "<command>"`; vigil-top is its one child while it runs.
    let shell = tmux.pane("pane_pid");
    let children = Command::new("pgrep")
        .args(["-P", &shell])
        .output()
        .expect("run pgrep");
    let children = String::from_utf8_lossy(&children.stdout).into_owned();
    let mut children = children.split_whitespace();
    let dashboard = children
        .next()
        .expect("vigil-top runs in the pane")
        .to_owned();
    assert_eq!(children.next(), None, "one child of the pane's shell");
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &dashboard])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -{signal} {dashboard}");
    let screen = tmux.wait_for("the exit status", |screen| {
        screen.contains("vigil-top exited") && screen.contains("icanon")
    });
    assert!(
        screen.contains(&format!("vigil-top exited {}", 128 + number)),
        "{screen}"
    );
    // Cooked mode again, on the main screen, the dashboard gone, the cursor shown.
    assert!(screen.lines().any(|line| line == "icanon"), "{screen}");
    assert!(!screen.contains("-icanon"), "{screen}");
    assert_eq!(tmux.pane("alternate_on"), "0", "{screen}");
    assert_eq!(tmux.pane("cursor_flag"), "1", "{screen}");
    assert!(!screen.contains("● live"), "{screen}");
    runtime.shutdown_background();
}

/// Whether process `pid` is still running (not gone, not a zombie left to reap).
fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // The state follows the command name, which is in parentheses.
            let after_name = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
            Some(after_name != 'Z' && after_name != 'X')
        })
        .unwrap_or(false)
}

/// Closing the terminal (`tmux kill-session`) ends the dashboard, instead of leaving it
/// spinning on the dead tty inside crossterm's event source (crossterm-rs/crossterm#793).
#[test]
fn closing_the_terminal_ends_the_dashboard() {
    let (runtime, _registry, serving) = one_service_target();
    let Some(tmux) = Tmux::start(
        "closed",
        &shell(&format!("http://{}", serving.local_addr())),
    ) else {
        return;
    };
    tmux.wait_for("the ingest row", |screen| {
        screen.contains("ingest") && screen.contains("● live")
    });
    let shell = tmux.pane("pane_pid");
    let children = Command::new("pgrep")
        .args(["-P", &shell])
        .output()
        .expect("run pgrep");
    let dashboard = String::from_utf8_lossy(&children.stdout)
        .split_whitespace()
        .next()
        .expect("vigil-top runs in the pane")
        .to_owned();
    assert!(running(&dashboard));
    let status = tmux
        .command()
        .args(["kill-session"])
        .status()
        .expect("tmux kill-session");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while running(&dashboard) {
        assert!(
            Instant::now() < deadline,
            "vigil-top {dashboard} still runs 20 s after its terminal was closed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    runtime.shutdown_background();
}

#[test]
fn sigterm_restores_the_terminal_and_exits_143() {
    signal_restores_the_terminal("TERM", 15);
}

#[test]
fn sighup_restores_the_terminal_and_exits_129() {
    signal_restores_the_terminal("HUP", 1);
}
