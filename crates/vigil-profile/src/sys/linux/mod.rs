//! Linux (x86_64, aarch64): threads, timers, tgkill and modules; handlers in [`handler`].

mod handler;
mod walk;

use std::ffi::{c_int, c_void, CStr};
use std::io;
use std::time::Duration;

pub(crate) use handler::{check_signals, install};

use super::{Module, ThreadInfo};

/// The signals a default profiler uses: capture, profile. Real-time signals, so that
/// neither collides with `SIGPROF` users (pprof-rs, gperftools) nor with glibc's own
/// (which `SIGRTMIN()` already skips).
pub(crate) fn default_signals() -> (i32, i32) {
    (libc::SIGRTMIN() + 4, libc::SIGRTMIN() + 5)
}

/// The calling thread's id, stack range, CPU clock and name.
pub(crate) fn current_thread() -> Option<ThreadInfo> {
    let tid = gettid();
    // SAFETY: `pthread_self` has no preconditions.
    let thread = unsafe { libc::pthread_self() };
    let stack = stack_of(thread)?;
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `thread` is the calling thread, alive; `clock` is a valid out-pointer.
    let cpu_clock =
        (unsafe { libc::pthread_getcpuclockid(thread, &mut clock) } == 0).then_some(clock);
    Some(ThreadInfo {
        tid,
        stack,
        cpu_clock,
        name: std::thread::current().name().map(str::to_owned),
    })
}

/// The calling thread's kernel id (async-signal-safe: a bare system call).
#[inline]
pub(super) fn gettid() -> i32 {
    // SAFETY: `gettid` takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// `[low, high)` of `thread`'s stack.
fn stack_of(thread: libc::pthread_t) -> Option<std::ops::Range<usize>> {
    // SAFETY: zeroed is a valid bit pattern for the opaque attribute struct, which
    // `pthread_getattr_np` initialises before we read it, and which we destroy after.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(thread, &mut attr) != 0 {
            return None;
        }
        let mut address: *mut c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let found = libc::pthread_attr_getstack(&attr, &mut address, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attr);
        let low = address as usize;
        (found && size > 0).then(|| low..low + size)
    }
}

/// Sends `signal` to the thread `tid` of this process, and to nothing else.
pub(crate) fn signal_thread(tid: i32, signal: i32) -> io::Result<()> {
    // SAFETY: `tgkill` only reads its integer arguments; the thread group is our own, so a
    // recycled `tid` of another process is never signalled.
    let result = unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, signal) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A timer on one thread's CPU clock that signals that thread every `interval` of its CPU
/// time; deleted on drop.
#[derive(Debug)]
pub(crate) struct ThreadTimer(libc::timer_t);

impl ThreadTimer {
    /// Starts the timer on CPU clock `clock` of thread `tid`, signalling it with `signal`.
    pub(crate) fn start(clock: i32, tid: i32, signal: i32, interval: Duration) -> io::Result<Self> {
        // SAFETY: zeroed is a valid `sigevent` (its padding included); the fields a
        // thread-targeted timer reads are set below.
        let mut event: libc::sigevent = unsafe { std::mem::zeroed() };
        event.sigev_notify = libc::SIGEV_THREAD_ID;
        event.sigev_signo = signal;
        event.sigev_notify_thread_id = tid;
        let mut timer: libc::timer_t = std::ptr::null_mut();
        // SAFETY: valid pointers to initialised values; on success `timer` is ours.
        if unsafe { libc::timer_create(clock, &mut event, &mut timer) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let timer = Self(timer);
        let period = libc::timespec {
            tv_sec: interval.as_secs() as libc::time_t,
            tv_nsec: interval.subsec_nanos() as libc::c_long,
        };
        let spec = libc::itimerspec {
            it_interval: period,
            it_value: period,
        };
        // SAFETY: `timer.0` is a live timer; `spec` is initialised; no old value wanted.
        if unsafe { libc::timer_settime(timer.0, 0, &spec, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(timer)
    }
}

impl Drop for ThreadTimer {
    fn drop(&mut self) {
        // SAFETY: created by `timer_create` and deleted only here.
        unsafe {
            libc::timer_delete(self.0);
        }
    }
}

/// Every loaded object and the ranges of its executable segments.
pub(crate) fn modules() -> Vec<Module> {
    let mut modules: Vec<Module> = Vec::new();
    // SAFETY: the callback only reads the `dl_phdr_info` it is handed, during the call, and
    // `data` is the `Vec` above, alive and not otherwise borrowed meanwhile.
    unsafe {
        libc::dl_iterate_phdr(Some(add_module), (&mut modules as *mut Vec<Module>).cast());
    }
    modules
}

unsafe extern "C" fn add_module(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut c_void,
) -> c_int {
    // SAFETY: `dl_iterate_phdr` hands a valid `info` for the call; `data` is the `Vec`
    // passed by `modules`.
    let (info, modules) = unsafe { (&*info, &mut *data.cast::<Vec<Module>>()) };
    let name = if info.dlpi_name.is_null() {
        String::new()
    } else {
        // SAFETY: a non-null `dlpi_name` is a NUL-terminated string owned by the loader.
        unsafe { CStr::from_ptr(info.dlpi_name) }
            .to_string_lossy()
            .into_owned()
    };
    let path = match name.as_str() {
        "" => std::env::current_exe().ok(),
        name if name.starts_with('/') => Some(std::path::PathBuf::from(name)),
        _ => None,
    };
    let name = match (&path, name.as_str()) {
        (Some(path), _) => path.file_name().map_or_else(
            || "[exe]".to_owned(),
            |name| name.to_string_lossy().into_owned(),
        ),
        (None, name) if name.starts_with("linux-vdso") || name.starts_with("linux-gate") => {
            "[vdso]".to_owned()
        }
        (None, name) => name.to_owned(),
    };
    let headers: &[libc::Elf64_Phdr] = if info.dlpi_phdr.is_null() {
        &[]
    } else {
        // SAFETY: the loader gives `dlpi_phnum` program headers at `dlpi_phdr`.
        unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
    };
    let ranges = headers
        .iter()
        .filter(|header| header.p_type == libc::PT_LOAD && header.p_flags & libc::PF_X != 0)
        .map(|header| {
            let start = (info.dlpi_addr as usize).wrapping_add(header.p_vaddr as usize);
            start..start + header.p_memsz as usize
        })
        .collect();
    modules.push(Module {
        name,
        ranges,
        path,
        bias: info.dlpi_addr as usize,
    });
    0
}
