//! The two signal handlers, and installing them without replacing anyone else's.
//!
//! Both handlers follow the same rules: they allocate nothing, take no lock, read no
//! thread-local, touch only [`Shared`] (prepared at install) and the interrupted thread's
//! own stack within its registered bounds, and save and restore `errno`. They find their
//! thread's slot by its kernel id, a bare system call.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicPtr, Ordering};

use super::walk::{self, Registers};
use crate::handshake::Answer;
use crate::state::{phase, Shared, ThreadSlot};
use crate::ProfileError;

/// The profiler's state, for the handlers: null until installed, then never changed.
static SHARED: AtomicPtr<Shared> = AtomicPtr::new(std::ptr::null_mut());

/// The two handlers, by the signal they serve.
fn handlers(capture: c_int, profile: c_int) -> [(c_int, usize); 2] {
    type Handler = extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void);
    [
        (capture, on_capture_signal as Handler as usize),
        (profile, on_profile_signal as Handler as usize),
    ]
}

/// Checks that both signals can carry the profiler's handlers and that no other handler
/// is installed for them.
pub(crate) fn check_signals(capture: c_int, profile: c_int) -> Result<(), ProfileError> {
    for signal in [capture, profile] {
        let valid = signal > 0
            && signal <= libc::SIGRTMAX()
            && signal != libc::SIGKILL
            && signal != libc::SIGSTOP;
        if !valid {
            return Err(ProfileError::InvalidSignal { signal });
        }
    }
    if capture == profile {
        return Err(ProfileError::InvalidSignal { signal: capture });
    }
    for (signal, handler) in handlers(capture, profile) {
        let current = current_handler(signal)?;
        if current != libc::SIG_DFL && current != libc::SIG_IGN && current != handler {
            return Err(ProfileError::SignalInUse { signal });
        }
    }
    Ok(())
}

/// Installs both handlers of `shared.config` and publishes `shared` to them; call
/// [`check_signals`] first.
pub(crate) fn install(shared: &'static Shared) -> Result<(), ProfileError> {
    let capture = shared.config.capture_signal;
    let profile = shared.config.profile_signal;
    // Release: a handler that loads the pointer (Acquire) sees `shared` fully built.
    SHARED.store(std::ptr::from_ref(shared).cast_mut(), Ordering::Release);
    for (signal, handler) in handlers(capture, profile) {
        // SAFETY: zeroed is a valid `sigaction`; the mask is initialised by `sigemptyset`.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = handler;
        // SA_RESTART: most system calls interrupted by a sample resume instead of failing
        // with EINTR (docs/where.md lists those the kernel never restarts).
        action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        // SAFETY: `action.sa_mask` is a valid, exclusively borrowed `sigset_t`.
        unsafe {
            libc::sigemptyset(&mut action.sa_mask);
            // Neither handler interrupts the other on the same thread.
            libc::sigaddset(&mut action.sa_mask, capture);
            libc::sigaddset(&mut action.sa_mask, profile);
        }
        // SAFETY: `action` is fully initialised and its handler has the `SA_SIGINFO` shape.
        if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } != 0 {
            return Err(ProfileError::Os(std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// The handler installed for `signal` now (`SIG_DFL`, `SIG_IGN` or a function address).
pub(crate) fn current_handler(signal: c_int) -> Result<usize, ProfileError> {
    // SAFETY: zeroed is a valid `sigaction` to receive the current one.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `old`.
    if unsafe { libc::sigaction(signal, std::ptr::null(), &mut old) } != 0 {
        return Err(ProfileError::InvalidSignal { signal });
    }
    Ok(old.sa_sigaction)
}

/// Restores `errno` when the handler returns, as the interrupted code left it.
struct ErrnoGuard(c_int);

impl ErrnoGuard {
    #[inline]
    fn save() -> Self {
        // SAFETY: `__errno_location` returns the calling thread's errno, always valid.
        Self(unsafe { *libc::__errno_location() })
    }
}

impl Drop for ErrnoGuard {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: as in `save`.
        unsafe { *libc::__errno_location() = self.0 };
    }
}

/// The installed state and this thread's slot, if both exist.
#[inline]
fn this_thread() -> Option<(&'static Shared, usize, &'static ThreadSlot)> {
    // Acquire: pairs with the Release in `install`.
    let shared = SHARED.load(Ordering::Acquire);
    if shared.is_null() {
        return None;
    }
    // SAFETY: a non-null pointer is a leaked `&'static Shared`, published whole by `install`.
    let shared: &'static Shared = unsafe { &*shared };
    let (index, slot) = shared.slot_of(super::gettid())?;
    Some((shared, index, slot))
}

/// The registers of the interrupted context.
#[inline]
fn registers(context: *mut c_void) -> Registers {
    // SAFETY: with `SA_SIGINFO`, the kernel passes a valid `ucontext_t` as the third
    // argument, live for the handler's duration.
    let context = unsafe { &*context.cast::<libc::ucontext_t>() };
    #[cfg(target_arch = "x86_64")]
    {
        let registers = &context.uc_mcontext.gregs;
        Registers {
            pc: registers[libc::REG_RIP as usize] as usize,
            sp: registers[libc::REG_RSP as usize] as usize,
            fp: registers[libc::REG_RBP as usize] as usize,
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        let machine = &context.uc_mcontext;
        Registers {
            pc: machine.pc as usize,
            sp: machine.sp as usize,
            fp: machine.regs[29] as usize,
            lr: machine.regs[30] as usize,
        }
    }
}

/// Records the stack of the requested poll, if this thread is still in it.
extern "C" fn on_capture_signal(_signal: c_int, _info: *mut libc::siginfo_t, context: *mut c_void) {
    let _errno = ErrnoGuard::save();
    let Some((shared, index, slot)) = this_thread() else {
        return;
    };
    let capture = &shared.capture;
    let Some((key, poll_seq)) = capture.handshake.take_request(index) else {
        return; // No request for this thread (a late signal, or the requester gave up).
    };
    // Relaxed: this thread's own stores, read on this thread; program order holds.
    let in_requested_poll = slot.current.load(Ordering::Relaxed) == key
        && slot.poll_seq.load(Ordering::Relaxed) == poll_seq;
    if !in_requested_poll {
        capture.handshake.answer(Answer::NotInPoll);
        return;
    }
    capture.frames.clear();
    let registers = registers(context);
    walk::walk(&registers, slot, &capture.frames);
    walk::copy_stack(&registers, slot, capture);
    // Publishes the frames and the stack copy with the verdict.
    capture.handshake.answer(Answer::Captured);
}

/// Records one profiling sample: the stack, and the instance in a poll here, if any.
extern "C" fn on_profile_signal(_signal: c_int, _info: *mut libc::siginfo_t, context: *mut c_void) {
    let _errno = ErrnoGuard::save();
    let Some((shared, _index, slot)) = this_thread() else {
        return;
    };
    // Relaxed: a late timer signal after the profile ended only needs to be ignored
    // eventually; the buffers outlive every profile.
    if !shared.profiling.load(Ordering::Relaxed) {
        return;
    }
    let buffers = &shared.samples;
    // Relaxed: only spreads handlers over the pool; the buffer's own state decides.
    let start = shared.next_sample.fetch_add(1, Ordering::Relaxed);
    let buffer = (0..buffers.len())
        .map(|offset| &buffers[(start + offset) % buffers.len()])
        // Acquire: after the profile freed the buffer (Release), its copy-out is done.
        .find(|buffer| {
            buffer
                .state
                .compare_exchange(
                    phase::FREE,
                    phase::WRITING,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_ok()
        });
    let Some(buffer) = buffer else {
        // Relaxed: a counter read after the profile stops.
        shared.lost_samples.fetch_add(1, Ordering::Relaxed);
        return;
    };
    // Relaxed: published by the Release store of `READY`.
    buffer
        .key
        .store(slot.current.load(Ordering::Relaxed), Ordering::Relaxed);
    buffer.frames.clear();
    walk::walk(&registers(context), slot, &buffer.frames);
    // Release: the profile reads the sample after it sees `READY` (Acquire).
    buffer.state.store(phase::READY, Ordering::Release);
}
