//! Per-service CPU profiles: per-thread CPU timers, samples attributed to the service in a
//! poll on the sampled thread, and the output formats.
#![cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
// libc calls a test needs (the crate allows `unsafe` in `src/sys/` and its tests only).
#![allow(unsafe_code)]

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message;
use vigil_profile::{pprof, ProfileError, Profiler, NO_SERVICE};
use vigil_registry::{Registry, ServiceObj};

/// One profile runs at a time in a process: the tests of this file take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Burns `duration` of this thread's CPU (not wall time: the share must not depend on how
/// often the machine's other threads preempt this one).
#[inline(never)]
fn burn_cpu(duration: Duration) {
    let clock_started = thread_cpu_time();
    while thread_cpu_time() - clock_started < duration {
        for _ in 0..64 {
            std::hint::spin_loop();
        }
    }
}

fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid out-pointer; the calling thread's CPU clock always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

async fn heavy_service(stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        burn_cpu(Duration::from_millis(3));
        tokio::task::yield_now().await;
    }
}

async fn light_service(stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        burn_cpu(Duration::from_millis(1));
        tokio::task::yield_now().await;
    }
}

/// Two services spinning 3:1 on one thread, an idle one beside them.
#[test]
fn samples_follow_cpu_time_per_service_and_every_format_carries_the_service() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let profiler = Profiler::install().unwrap();
    let registry = Arc::new(Registry::builder().monitor(profiler).build());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (_, heavy) = registry
        .try_start_in(
            runtime.handle(),
            ServiceObj::new("sampled_heavy", heavy_service(Arc::clone(&stop))),
        )
        .unwrap();
    let (_, light) = registry
        .try_start_in(
            runtime.handle(),
            ServiceObj::new("sampled_light", light_service(Arc::clone(&stop))),
        )
        .unwrap();
    let (wake_idle, idle) = tokio::sync::oneshot::channel::<()>();
    let (_, idle) = registry
        .try_start_in(
            runtime.handle(),
            ServiceObj::new("sampled_idle", async move {
                let _ = idle.await;
            }),
        )
        .unwrap();
    let driver = std::thread::spawn(move || {
        runtime.block_on(async {
            heavy.await.unwrap();
            light.await.unwrap();
            idle.await.unwrap();
        });
    });
    // The driver thread registers at its first poll.
    std::thread::sleep(Duration::from_millis(100));

    let profile = profiler.profile(Duration::from_secs(3)).unwrap();
    stop.store(true, Ordering::Relaxed);
    wake_idle.send(()).unwrap();
    driver.join().unwrap();

    let by_service = profile.samples_by_service();
    let count = |name: &str| {
        by_service
            .iter()
            .find(|(service, _)| *service == name)
            .map_or(0, |(_, samples)| *samples)
    };
    let (heavy, light) = (count("sampled_heavy"), count("sampled_light"));
    assert!(heavy + light >= 150, "too few samples: {by_service:?}");
    let share = heavy as f64 / (heavy + light) as f64;
    assert!(
        (0.65..=0.85).contains(&share),
        "heavy share {share:.3}: {by_service:?}"
    );
    assert_eq!(count("sampled_idle"), 0, "{by_service:?}");
    assert_eq!(profile.lost_samples(), 0);
    assert!(profile
        .hottest_functions("sampled_heavy", 3)
        .iter()
        .any(|(function, _)| function.contains("burn_cpu")
            || function.contains("clock_gettime")
            || function.contains("vdso")));

    // Folded: every line rooted at a service name (or the no-service root), with a count.
    let folded = profile.folded();
    let mut folded_samples = 0;
    let (mut heavy_in_its_code, mut heavy_lines) = (0, 0);
    for line in folded.lines() {
        let (stack, samples) = line.rsplit_once(' ').expect("a count after the stack");
        folded_samples += samples.parse::<u64>().expect("a count");
        let root = stack.split(';').next().unwrap();
        assert!(
            ["sampled_heavy", "sampled_light", NO_SERVICE].contains(&root)
                || !root.starts_with("sampled"),
            "{line}"
        );
        if root == "sampled_heavy" {
            let samples: u64 = samples.parse().unwrap();
            heavy_lines += samples;
            // Its own code, or the clock it reads (whose caller a frame-pointer walk loses
            // when libc's `clock_gettime` keeps no frame pointer).
            if ["heavy_service", "burn_cpu", "clock_gettime"]
                .iter()
                .any(|f| stack.contains(f))
            {
                heavy_in_its_code += samples;
            }
        }
    }
    assert_eq!(folded_samples, profile.total_samples());
    // The rest is vigil's own bookkeeping at the poll's edges, still inside the poll.
    assert!(
        heavy_in_its_code * 10 >= heavy_lines * 9,
        "{heavy_in_its_code} of {heavy_lines}:\n{folded}"
    );

    // pprof: gzipped profile.proto; every sample labelled with its service.
    let mut encoded = Vec::new();
    flate2::read::GzDecoder::new(profile.to_pprof().as_slice())
        .read_to_end(&mut encoded)
        .unwrap();
    let decoded = pprof::Profile::decode(encoded.as_slice()).unwrap();
    let strings = &decoded.string_table;
    assert_eq!(strings[0], "");
    let service_key = strings.iter().position(|s| s == "service").unwrap() as i64;
    let mut labelled = std::collections::HashMap::<&str, i64>::new();
    for sample in &decoded.sample {
        let label = sample
            .label
            .iter()
            .find(|label| label.key == service_key)
            .expect("every sample has a service label");
        *labelled
            .entry(strings[label.str as usize].as_str())
            .or_default() += sample.value[0];
        assert!(!sample.location_id.is_empty());
        for location in &sample.location_id {
            assert!(decoded.location.iter().any(|known| known.id == *location));
        }
    }
    assert_eq!(labelled.get("sampled_heavy").copied(), Some(heavy as i64));
    assert_eq!(labelled.get("sampled_light").copied(), Some(light as i64));
    assert_eq!(decoded.period, 1_000_000_000 / 99);

    #[cfg(feature = "flamegraph")]
    {
        let svg = String::from_utf8(profile.flamegraph_svg(None).unwrap()).unwrap();
        assert!(
            svg.contains("<svg") && svg.contains("sampled_heavy"),
            "{svg}"
        );
        let heavy_only =
            String::from_utf8(profile.flamegraph_svg(Some("sampled_heavy")).unwrap()).unwrap();
        assert!(heavy_only.contains("sampled_heavy") && !heavy_only.contains("sampled_light"));
    }
}

#[test]
fn one_profile_at_a_time_and_idle_threads_cost_no_samples() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let profiler = Profiler::install().unwrap();
    let registry = Registry::builder().monitor(profiler).build();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Registers the workers, then leaves them idle.
    for _ in 0..4 {
        runtime
            .block_on(
                registry.start_in(runtime.handle(), ServiceObj::new("sampled_once", async {})),
            )
            .unwrap();
    }
    let second = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        Profiler::install()
            .unwrap()
            .profile(Duration::from_millis(100))
    });
    let started = Instant::now();
    let profile = profiler.profile(Duration::from_secs(1)).unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(matches!(second.join().unwrap(), Err(ProfileError::Busy)));
    // Idle workers burn no CPU, so their timers never fire: nothing but what this test's
    // own threads did (nothing is in a service's poll).
    assert!(
        profile.samples_by_service().is_empty(),
        "{:?}",
        profile.samples_by_service()
    );
    // Once it is over, the next profile may start.
    assert!(profiler.profile(Duration::from_millis(50)).is_ok());
}
