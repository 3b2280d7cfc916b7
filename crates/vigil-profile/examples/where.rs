//! Where are my services? Captures the stack of a service blocked inside a poll and of one
//! spinning inside a poll, then profiles both for a second.
//!
//! `cargo run --release -p vigil-profile --example where`; with `-- --captures N` it also
//! captures the spinning service N times and says how often its own function was found.

use std::time::{Duration, Instant};

use vigil_profile::Profiler;
use vigil_registry::{Registry, ServiceObj};

/// A synchronous call that blocks its worker thread: the kind of bug this finds.
fn read_legacy_config() {
    std::thread::sleep(Duration::from_secs(2));
}

/// Work that never yields inside one poll.
fn checksum_blocks(duration: Duration) -> u64 {
    let started = Instant::now();
    let mut checksum = 0u64;
    while started.elapsed() < duration {
        for block in 0..1024u64 {
            checksum = checksum.rotate_left(5) ^ block.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    checksum
}

/// A service that calls the blocking function inside its poll.
async fn sleeper() {
    read_legacy_config();
}

/// A service that computes inside one long poll.
async fn spinner() {
    std::hint::black_box(checksum_blocks(Duration::from_secs(2)));
}

fn main() {
    let profiler = match Profiler::install() {
        Ok(profiler) => profiler,
        Err(error) => {
            eprintln!("no profiler here: {error}");
            return;
        }
    };
    let registry = Registry::builder().monitor(profiler).build();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(3)
        .enable_all()
        .build()
        .expect("a runtime");
    let (sleeper, sleeping) = registry
        .try_start_in(runtime.handle(), ServiceObj::new("sleeper", sleeper()))
        .expect("a start");
    let (spinner, spinning) = registry
        .try_start_in(runtime.handle(), ServiceObj::new("spinner", spinner()))
        .expect("a start");
    std::thread::sleep(Duration::from_millis(300));

    for id in [sleeper, spinner] {
        let asked = Instant::now();
        match profiler.capture(id) {
            Ok(stack) => println!(
                "{id} on thread {} (captured in {:.1?}):\n{stack}",
                stack.thread_name().unwrap_or("<unnamed>"),
                asked.elapsed()
            ),
            Err(error) => println!("{id}: {error}"),
        }
    }

    if let Some(captures) = std::env::args()
        .skip_while(|argument| argument != "--captures")
        .nth(1)
        .and_then(|count| count.parse::<u32>().ok())
    {
        let (mut found, mut frames) = (0, 0);
        for _ in 0..captures {
            if let Ok(stack) = profiler.capture(spinner) {
                frames += stack.frames().len();
                if stack.contains_function("where::spinner") {
                    found += 1;
                }
            }
        }
        println!(
            "spinner's own function in {found} of {captures} captures ({:.1} frames each)",
            frames as f64 / f64::from(captures)
        );
    }

    let profile = profiler
        .profile(Duration::from_secs(1))
        .expect("no other profile runs");
    println!("samples by service: {:?}", profile.samples_by_service());
    for (function, samples) in profile.hottest_functions("spinner", 3) {
        println!("spinner is in {function}: {samples} samples");
    }
    runtime.block_on(sleeping).expect("sleeper ends");
    runtime.block_on(spinning).expect("spinner ends");
}
