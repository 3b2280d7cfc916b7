//! Polls one poll-path variant N times and exits: run under callgrind for instructions/poll.
//!
//! `poll_instructions VARIANT POLLS`. `cargo xtask bench --instructions` runs it twice per
//! variant under `valgrind --tool=callgrind` with two poll counts and divides the difference
//! of the instruction totals by the difference of the counts, which cancels start-up and
//! set-up costs exactly; callgrind counts only inside `poll_loop`, so calibration and other
//! time-dependent start-up work cannot leak into the difference.

use std::future::Future;
use std::hint::black_box;
use std::pin::{pin, Pin};
use std::process::ExitCode;
use std::task::{Context, Waker};

use vigil_benches::{for_each_variant, VariantVisitor};

/// Polls the variant called `name`, `polls` times.
struct PollNamed {
    name: String,
    polls: u64,
    found: bool,
}

impl VariantVisitor for PollNamed {
    fn visit<F: Future>(&mut self, name: &'static str, future: F) {
        if name != self.name {
            return;
        }
        self.found = true;
        let mut future = pin!(future);
        let mut cx = Context::from_waker(black_box(Waker::noop()));
        // One poll outside the counted loop: lazy one-time set-up (clock calibration) is not
        // a per-poll cost.
        black_box(future.as_mut().poll(&mut cx).is_ready());
        poll_loop(future, &mut cx, self.polls);
    }
}

/// The counted loop: `cargo xtask bench --instructions` restricts callgrind to this function
/// (`--toggle-collect=poll_instructions::poll_loop*`). Never inlined, so that it has a symbol.
#[inline(never)]
fn poll_loop<F: Future>(mut future: Pin<&mut F>, cx: &mut Context<'_>, polls: u64) {
    for _ in 0..polls {
        black_box(black_box(future.as_mut()).poll(cx).is_ready());
    }
}

/// Lists every variant's name.
struct Names(Vec<&'static str>);

impl VariantVisitor for Names {
    fn visit<F: Future>(&mut self, name: &'static str, _future: F) {
        self.0.push(name);
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag] if flag == "--list" => {
            let mut names = Names(Vec::new());
            for_each_variant(&mut names);
            println!("{}", names.0.join("\n"));
            ExitCode::SUCCESS
        }
        [name, polls] => {
            let Ok(polls) = polls.parse() else {
                eprintln!("POLLS must be a non-negative integer, got {polls:?}");
                return ExitCode::FAILURE;
            };
            let mut visitor = PollNamed {
                name: name.clone(),
                polls,
                found: false,
            };
            for_each_variant(&mut visitor);
            if visitor.found {
                ExitCode::SUCCESS
            } else {
                eprintln!("unknown variant {name:?}; see --list");
                ExitCode::FAILURE
            }
        }
        _ => {
            eprintln!("usage: poll_instructions VARIANT POLLS | --list");
            ExitCode::FAILURE
        }
    }
}
