//! The profiler never replaces a handler someone else installed for its signals.
#![cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
// libc calls a test needs (the crate allows `unsafe` in `src/sys/` and its tests only).
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use vigil_profile::{ProfileError, Profiler};

/// How often the foreign handler ran.
static FOREIGN_CALLS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn foreign_handler(_signal: libc::c_int) {
    // Relaxed: a counter read after the signal was handled.
    FOREIGN_CALLS.fetch_add(1, Ordering::Relaxed);
}

/// One test: the profiler is process-wide, and the order matters (refusals first, while
/// nothing is installed).
#[test]
fn install_fails_clearly_and_leaves_the_foreign_handler_working() {
    settings_that_cannot_work_are_refused();
    // The default capture signal.
    let capture_signal = libc::SIGRTMIN() + 4;
    // SAFETY: zeroed is a valid `sigaction`; the handler has the plain one-argument shape.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = foreign_handler as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(
            libc::sigaction(capture_signal, &action, std::ptr::null_mut()),
            0
        );
    }

    let error = Profiler::install().unwrap_err();
    assert!(matches!(error, ProfileError::SignalInUse { signal } if signal == capture_signal));
    assert!(
        error.to_string().contains("already has a handler"),
        "{error}"
    );
    assert!(error.to_string().contains("Profiler::builder()"), "{error}");

    // SAFETY: raising a signal whose handler is installed just runs it.
    unsafe { libc::raise(capture_signal) };
    assert_eq!(FOREIGN_CALLS.load(Ordering::Relaxed), 1);

    // Other signals work: the profiler installs on a free pair.
    let profiler = Profiler::builder()
        .capture_signal(libc::SIGRTMIN() + 6)
        .profile_signal(libc::SIGRTMIN() + 7)
        .install()
        .unwrap();
    assert_eq!(
        profiler.signals(),
        Some((libc::SIGRTMIN() + 6, libc::SIGRTMIN() + 7))
    );
    // SAFETY: as above.
    unsafe { libc::raise(capture_signal) };
    assert_eq!(FOREIGN_CALLS.load(Ordering::Relaxed), 2);
    // Installing again returns the same profiler, whatever the settings asked.
    assert_eq!(Profiler::install().unwrap().signals(), profiler.signals());
}

fn settings_that_cannot_work_are_refused() {
    assert!(matches!(
        Profiler::builder().capture_signal(libc::SIGKILL).install(),
        Err(ProfileError::InvalidSignal { signal }) if signal == libc::SIGKILL
    ));
    assert!(matches!(
        Profiler::builder().frequency_hz(0).install(),
        Err(ProfileError::InvalidFrequency { hz: 0 })
    ));
    assert!(matches!(
        Profiler::builder()
            .capture_signal(40)
            .profile_signal(40)
            .install(),
        Err(ProfileError::InvalidSignal { signal: 40 })
    ));
}
