//! Where a service is stuck, and where its CPU goes: the stack of a poll in progress, and
//! CPU profiles attributed to services (Linux on x86_64 and aarch64).
//!
//! vigil's registry says *that* `stuck#0` has been inside one poll for 2 s; the
//! [`Profiler`] says *where*. Attach it to a registry as a monitor, and it marks, on each
//! thread, which instance is inside a poll there (a few stores per poll, no lock, no
//! allocation). Then:
//!
//! - [`Profiler::capture`] signals exactly the thread polling an instance and records its
//!   stack from inside the poll: the line it is blocked on or spinning in;
//! - [`Profiler::stuck`] does it for every instance stuck in one poll past a threshold;
//! - [`Profiler::profile`] samples the CPU time of every thread that polls services and
//!   attributes each sample to the service in a poll there: [`Profile::samples_by_service`],
//!   folded stacks rooted at the service name, pprof, and a flamegraph (feature).
//!
//! ```
//! use std::time::Duration;
//! use vigil_profile::Profiler;
//! use vigil_registry::{Registry, ServiceObj};
//!
//! # if !vigil_profile::SUPPORTED { return; }
//! let profiler = Profiler::install().unwrap();
//! let registry = Registry::builder().monitor(profiler.clone()).build();
//! let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
//!
//! // A service that blocks its worker thread inside one poll.
//! let (id, handle) = registry
//!     .try_start_in(runtime.handle(), ServiceObj::new("legacy", async {
//!         std::thread::sleep(Duration::from_millis(500));
//!     }))
//!     .unwrap();
//! std::thread::sleep(Duration::from_millis(100)); // let it start blocking
//!
//! for stuck in profiler.stuck(&registry, Duration::from_millis(50)) {
//!     print!("{stuck}"); // legacy#0 inside one poll for 100.2ms on thread ...: the stack
//!     assert_eq!(stuck.id, id);
//!     assert!(stuck.stack.unwrap().contains_function("sleep"));
//! }
//! runtime.block_on(handle).unwrap();
//! ```
//!
//! # How it works, and what it costs
//!
//! `docs/where.md` has the whole story; in short:
//!
//! - **Marking.** [`PollMarker`], the monitor the profiler attaches, stores the instance's
//!   key into the polling thread's slot at poll start (with a per-thread poll sequence
//!   number) and restores the previous mark at poll end. A thread registers itself (its id,
//!   stack range and CPU clock) at its first monitored poll: nothing to change in the
//!   runtime builder.
//! - **Capture.** `capture(id)` finds the thread whose slot carries `id`, writes a request
//!   naming that poll, and sends the capture signal to that one thread (`tgkill`). Its
//!   handler checks that the thread is still in *that* poll (same key, same sequence
//!   number), records the interrupted instruction, walks the frame-pointer chain and copies
//!   the top 64 KiB of the stack into memory prepared at install, and returns. Afterwards,
//!   on the caller's thread, the copy is unwound with DWARF (`.eh_frame`, through
//!   `framehop`), so code built without frame pointers shows whole, and symbols are
//!   resolved. A poll that ended meanwhile answers [`CaptureError::NotInPoll`],
//!   never another poll's stack; a thread that does not answer (it blocks the signal)
//!   answers [`CaptureError::Timeout`] after the capture timeout (default 250 ms).
//! - **Profiles.** `profile(duration)` starts a timer on each registered thread's own CPU
//!   clock (an idle thread is not sampled at all); each expiry signals that thread, whose
//!   handler records its stack (the frame-pointer walk: no copy per sample) and the
//!   instance in a poll there.
//!
//! # Signal safety
//!
//! The handlers allocate nothing, take no lock, read no thread-local, save and restore
//! `errno`, bound every stack read by the thread's registered stack, and call no unwinder.
//! They are installed with `SA_RESTART`; the calls the kernel never restarts still see
//! `EINTR` when a sample lands in them (`nanosleep`, `clock_nanosleep`, `epoll_wait`,
//! `poll`, see `docs/where.md`). The profiler never replaces a handler someone else
//! installed for its signals: [`Profiler::install`] fails with
//! [`ProfileError::SignalInUse`] instead. It uses two real-time signals, by default
//! `SIGRTMIN+4` (capture) and `SIGRTMIN+5` (profiling); [`ProfilerBuilder`] changes them.
//!
//! # Platforms
//!
//! Linux on x86_64 is tested. Linux on aarch64 compiles (registers and the link register
//! are read accordingly) but is untested. Elsewhere the crate builds, [`SUPPORTED`] is
//! `false` and [`Profiler::install`] returns [`ProfileError::Unsupported`].
//!
//! # Feature flags
//!
//! - `flamegraph`: `Profile::flamegraph_svg`, drawn by `inferno` (licensed CDDL-1.0,
//!   which is why it is opt-in).
#![deny(unsafe_op_in_unsafe_fn)]
// One module owns the unsafe code (signals, handlers, timers, the stack walk): `sys`.
#![deny(unsafe_code)]

mod capture;
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod dwarf;
mod error;
mod handshake;
mod marker;
pub mod pprof;
mod profile;
mod stack;
mod state;
#[allow(unsafe_code)] // The only place: see the crate docs' "Signal safety".
mod sys;

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use vigil_monitor::Clock;
use vigil_registry::{MonitorFactory, Registry, ServiceId};

pub use capture::StuckService;
pub use error::{CaptureError, ProfileError};
pub use marker::PollMarker;
pub use profile::{Profile, NO_SERVICE};
pub use stack::{Frame, StackTrace};

use state::Shared;

/// Whether this platform has the profiler (Linux on x86_64 or aarch64).
pub const SUPPORTED: bool = cfg!(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
));

/// Default sampling frequency of [`Profiler::profile`]: 99 Hz (not 100, so that sampling
/// does not beat in step with work that runs every 10 ms).
pub const DEFAULT_FREQUENCY_HZ: u32 = 99;

/// Default time [`Profiler::capture`] waits for the thread to answer.
pub const DEFAULT_CAPTURE_TIMEOUT: Duration = Duration::from_millis(250);

/// The longest profile [`Profiler::profile`] records (as Go's pprof endpoint allows).
pub const MAX_PROFILE_DURATION: Duration = Duration::from_secs(60);

/// The profiler's settings, fixed at install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Config {
    pub(crate) frequency_hz: u32,
    pub(crate) capture_signal: i32,
    pub(crate) profile_signal: i32,
    pub(crate) capture_timeout: Duration,
}

/// The process's profiler: a [`MonitorFactory`] to attach to registries, and the way to
/// capture stacks of polls in progress and record CPU profiles.
///
/// There is one per process: [`install`](Profiler::install) installs it the first time and
/// returns the same profiler afterwards. It is `Copy`: clones are handles to it.
///
/// Attach it to every registry whose services it should see, alone or beside other
/// monitors: `Registry::builder().monitor(profiler)` or
/// `.monitor((SlowPolls::default(), profiler))`. Instances started by a registry without it
/// are invisible to it ([`CaptureError::NotMonitored`], `(no service)` in profiles).
///
/// [`Profiler::disabled`] is a stand-in for platforms (or processes) without it: attached,
/// it marks nothing; asked, it answers [`CaptureError::Unsupported`] and
/// [`ProfileError::Unsupported`]. Code can then attach a profiler unconditionally.
#[derive(Clone, Copy)]
pub struct Profiler {
    /// `None` for [`Profiler::disabled`].
    shared: Option<&'static Shared>,
}

/// The installed profiler, if any.
static INSTALLED: Mutex<Option<&'static Shared>> = Mutex::new(None);

impl Profiler {
    /// Installs the profiler with the default settings, or returns the one installed.
    ///
    /// # Errors
    ///
    /// [`ProfileError::Unsupported`] off Linux/x86_64/aarch64; [`ProfileError::SignalInUse`]
    /// if another handler is installed for one of its signals (it is left in place).
    pub fn install() -> Result<Self, ProfileError> {
        Self::builder().install()
    }

    /// The installed profiler, or [`Profiler::disabled`] if it cannot be installed here
    /// (unsupported platform, signals taken): for demos and optional diagnostics.
    pub fn install_or_disabled() -> Self {
        Self::install().unwrap_or_else(|_| Self::disabled())
    }

    /// A profiler that does nothing: attached to a registry it marks no poll, and every
    /// capture or profile answers `Unsupported`. See the type's documentation.
    pub const fn disabled() -> Self {
        Self { shared: None }
    }

    /// Whether this is an installed profiler (not [`Profiler::disabled`]).
    pub fn is_enabled(&self) -> bool {
        self.shared.is_some()
    }

    /// Settings: sampling frequency, signals, capture timeout.
    pub fn builder() -> ProfilerBuilder {
        let (capture_signal, profile_signal) = sys::default_signals();
        ProfilerBuilder {
            config: Config {
                frequency_hz: DEFAULT_FREQUENCY_HZ,
                capture_signal,
                profile_signal,
                capture_timeout: DEFAULT_CAPTURE_TIMEOUT,
            },
        }
    }

    /// The stack of the thread polling instance `id` right now, innermost frame first.
    ///
    /// Waits at most the capture timeout for the thread (default 250 ms), then resolves
    /// symbols (the first capture loads them: allow a moment more). One capture runs at a
    /// time; concurrent callers wait their turn.
    ///
    /// # Errors
    ///
    /// - [`CaptureError::NotInPoll`] at once if no thread is polling `id` (parked, ended,
    ///   never started), and when the poll ended before the thread answered;
    /// - [`CaptureError::NotMonitored`] at once if no service of that name was started by
    ///   a registry with the profiler attached;
    /// - [`CaptureError::Timeout`] if the thread did not answer in time (it blocks the
    ///   capture signal, or is stopped).
    ///
    /// Instance ids are per registry: with several registries attached, an id that exists
    /// in two of them finds whichever is in a poll.
    ///
    /// A [`disabled`](Profiler::disabled) profiler answers [`CaptureError::Unsupported`].
    pub fn capture(&self, id: ServiceId) -> Result<StackTrace, CaptureError> {
        let shared = self.shared.ok_or(CaptureError::Unsupported)?;
        capture::capture(shared, id)
    }

    /// Every live instance of `registry` that has been inside one poll for longer than
    /// `after`, longest first, each with its stack (or why there is none).
    pub fn stuck<F: MonitorFactory<C>, C: Clock>(
        &self,
        registry: &Registry<F, C>,
        after: Duration,
    ) -> Vec<StuckService> {
        capture::stuck(*self, registry, after)
    }

    /// Samples the CPU time of every registered thread for `duration` (blocking the
    /// calling thread meanwhile) and attributes each sample to the instance in a poll on
    /// the sampled thread. Threads that register during the profile are sampled from then.
    ///
    /// # Errors
    ///
    /// [`ProfileError::Busy`] while another profile is being recorded;
    /// [`ProfileError::Unsupported`] from a [`disabled`](Profiler::disabled) profiler.
    ///
    /// # Panics
    ///
    /// If `duration` is longer than [`MAX_PROFILE_DURATION`].
    pub fn profile(&self, duration: Duration) -> Result<Profile, ProfileError> {
        assert!(
            duration <= MAX_PROFILE_DURATION,
            "a profile lasts at most {MAX_PROFILE_DURATION:?}, not {duration:?}"
        );
        let shared = self.shared.ok_or(ProfileError::Unsupported)?;
        profile::record(shared, duration)
    }

    /// The settings it was installed with (`None` when disabled).
    fn config(&self) -> Option<Config> {
        self.shared.map(|shared| shared.config)
    }

    /// Samples per second of each thread's CPU time (0 when disabled).
    pub fn frequency_hz(&self) -> u32 {
        self.config().map_or(0, |config| config.frequency_hz)
    }

    /// The signals used, `(capture, profile)`; `None` when disabled.
    pub fn signals(&self) -> Option<(i32, i32)> {
        self.config()
            .map(|config| (config.capture_signal, config.profile_signal))
    }

    /// How long a capture waits for the thread.
    pub fn capture_timeout(&self) -> Duration {
        self.config()
            .map_or(DEFAULT_CAPTURE_TIMEOUT, |config| config.capture_timeout)
    }

    pub(crate) fn shared(&self) -> Option<&'static Shared> {
        self.shared
    }
}

impl fmt::Debug for Profiler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profiler")
            .field("enabled", &self.is_enabled())
            .field("frequency_hz", &self.frequency_hz())
            .field("signals", &self.signals())
            .field("capture_timeout", &self.capture_timeout())
            .finish()
    }
}

/// Settings of the [`Profiler`]; see [`Profiler::builder`].
#[derive(Debug, Clone)]
pub struct ProfilerBuilder {
    config: Config,
}

impl ProfilerBuilder {
    /// Samples per second of each thread's CPU time (default 99, at most 1000).
    pub fn frequency_hz(mut self, hz: u32) -> Self {
        self.config.frequency_hz = hz;
        self
    }

    /// The signal sent to a thread whose stack is captured (default `SIGRTMIN+4`).
    pub fn capture_signal(mut self, signal: i32) -> Self {
        self.config.capture_signal = signal;
        self
    }

    /// The signal the profiling timers send (default `SIGRTMIN+5`).
    pub fn profile_signal(mut self, signal: i32) -> Self {
        self.config.profile_signal = signal;
        self
    }

    /// How long a capture waits for the thread to answer (default 250 ms).
    pub fn capture_timeout(mut self, timeout: Duration) -> Self {
        self.config.capture_timeout = timeout;
        self
    }

    /// Installs the profiler, or returns the one already installed (whose settings stay
    /// those it was installed with).
    ///
    /// # Errors
    ///
    /// [`ProfileError::Unsupported`] off Linux/x86_64/aarch64;
    /// [`ProfileError::SignalInUse`] if another handler is installed for one of the
    /// signals (it is left in place); [`ProfileError::InvalidSignal`] and
    /// [`ProfileError::InvalidFrequency`] for settings that cannot work.
    pub fn install(self) -> Result<Profiler, ProfileError> {
        let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(shared) = *installed {
            return Ok(Profiler {
                shared: Some(shared),
            });
        }
        if !SUPPORTED {
            return Err(ProfileError::Unsupported);
        }
        let hz = self.config.frequency_hz;
        if hz == 0 || hz > 1000 {
            return Err(ProfileError::InvalidFrequency { hz });
        }
        sys::check_signals(self.config.capture_signal, self.config.profile_signal)?;
        // Handlers may run at any time from now on: their memory lives for the process.
        let shared: &'static Shared = Box::leak(Box::new(Shared::new(self.config)));
        sys::install(shared)?;
        *installed = Some(shared);
        Ok(Profiler {
            shared: Some(shared),
        })
    }
}
