//! The operating system: signals, handlers, per-thread timers, stack walks, loaded modules.
//!
//! The only module of the crate with `unsafe` code. Linux on x86_64 and aarch64 gets the
//! real thing; elsewhere every entry point reports that it is unsupported.

use std::ops::Range;

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod linux;
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
pub(crate) use linux::*;

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
mod unsupported;
#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
pub(crate) use unsupported::*;

/// What a thread registers about itself at its first monitored poll.
#[derive(Debug, Clone)]
pub(crate) struct ThreadInfo {
    /// Kernel thread id.
    pub(crate) tid: i32,
    /// The thread's stack, `[low, high)`.
    pub(crate) stack: Range<usize>,
    /// The thread's CPU-time clock, if the system gives one.
    pub(crate) cpu_clock: Option<i32>,
    /// `std::thread::current().name()`.
    pub(crate) name: Option<String>,
}

/// A loaded object (the executable, a shared library, the vDSO) and its executable ranges.
#[derive(Debug, Clone)]
pub(crate) struct Module {
    /// File name (`libc.so.6`), or `[vdso]`.
    pub(crate) name: String,
    /// Where its executable segments are mapped.
    pub(crate) ranges: Vec<Range<usize>>,
    /// Its file, to read unwind information from (`None` for the vDSO).
    pub(crate) path: Option<std::path::PathBuf>,
    /// Load bias: the file's addresses plus this are the addresses in memory.
    pub(crate) bias: usize,
}
