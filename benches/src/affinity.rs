//! Pinning the calling thread to one CPU, for benchmarks whose figure depends on placement.

use std::process::{Command, Stdio};

/// CPU ids from here on are refused without asking `taskset`: glibc's `CPU_SETSIZE`.
const MAX_CPUS: usize = 1024;

/// Pins the calling thread to CPU `cpu`; `false` if it could not, leaving the thread as it
/// was.
///
/// std has no affinity API, and one call does not justify a `libc` dependency with its
/// `unsafe`: this runs util-linux's `taskset -p -c CPU TID` on the thread id read from
/// `/proc/thread-self`. So it works on Linux with `taskset` installed and `cpu` in the
/// process's CPU set, and returns `false` anywhere else. A spawned process costs about a
/// millisecond: call it outside timed regions.
pub fn pin_current_thread(cpu: usize) -> bool {
    // taskset sizes its CPU set from the id: an absurd one never returns.
    if cpu >= MAX_CPUS {
        return false;
    }
    let Ok(link) = std::fs::read_link("/proc/thread-self") else {
        return false;
    };
    let Some(thread_id) = link.file_name().and_then(|name| name.to_str()) else {
        return false;
    };
    Command::new("taskset")
        .args(["-p", "-c", &cpu.to_string(), thread_id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where pinning works, the kernel reports the one CPU; elsewhere it reports failure.
    #[test]
    fn pins_a_thread_or_says_it_could_not() {
        std::thread::spawn(|| {
            if pin_current_thread(0) {
                let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
                assert!(
                    status.lines().any(|line| line == "Cpus_allowed_list:\t0"),
                    "{status}"
                );
            }
            // Outside any test machine's CPU set, and refused outright.
            assert!(!pin_current_thread(1023));
            assert!(!pin_current_thread(usize::MAX));
        })
        .join()
        .unwrap();
    }
}
