//! Per-service CPU profiles: sampling every registered thread on its own CPU clock, and the
//! formats a profile is read in (counts per service, folded stacks, pprof, flamegraph).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message;

use crate::marker::Names;
use crate::pprof;
use crate::stack::{Frame, Symbolizer};
use crate::state::{phase, Shared};
use crate::sys::ThreadTimer;
use crate::ProfileError;

/// The root of folded stacks (and the `service` label) of samples taken outside any
/// monitored poll: the runtime's own work, other threads' code, idle spinning.
pub const NO_SERVICE: &str = "(no service)";

/// How often a profile moves samples out of the shared buffers (and starts timers on
/// threads registered meanwhile).
const DRAIN_EVERY: Duration = Duration::from_millis(10);

/// A CPU profile of every registered thread, each sample attributed to the service
/// instance that was inside a poll on the sampled thread at that moment.
#[derive(Debug, Clone)]
pub struct Profile {
    stacks: Vec<SampledStack>,
    duration: Duration,
    started: SystemTime,
    frequency_hz: u32,
    lost_samples: u64,
}

/// One distinct (service, stack) and how many samples had it.
#[derive(Debug, Clone)]
struct SampledStack {
    service: Option<&'static str>,
    frames: Vec<Frame>,
    count: u64,
}

impl Profile {
    /// Samples per service name, most sampled first; services without samples are absent.
    pub fn samples_by_service(&self) -> Vec<(&'static str, u64)> {
        let mut by_service: HashMap<&'static str, u64> = HashMap::new();
        for stack in &self.stacks {
            if let Some(service) = stack.service {
                *by_service.entry(service).or_default() += stack.count;
            }
        }
        let mut by_service: Vec<_> = by_service.into_iter().collect();
        by_service.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        by_service
    }

    /// Samples taken outside any monitored poll.
    pub fn unattributed_samples(&self) -> u64 {
        self.stacks
            .iter()
            .filter(|stack| stack.service.is_none())
            .map(|stack| stack.count)
            .sum()
    }

    /// Every sample recorded.
    pub fn total_samples(&self) -> u64 {
        self.stacks.iter().map(|stack| stack.count).sum()
    }

    /// Samples dropped because the buffers were full (0 unless threads were sampled faster
    /// than the profile could move samples out).
    pub fn lost_samples(&self) -> u64 {
        self.lost_samples
    }

    /// How long the profile ran.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// Samples per second of a thread's CPU time.
    pub fn frequency_hz(&self) -> u32 {
        self.frequency_hz
    }

    /// The functions that most samples of `service` were executing (the innermost frame),
    /// with their sample counts, most first; at most `limit`.
    pub fn hottest_functions(&self, service: &str, limit: usize) -> Vec<(String, u64)> {
        let mut by_function: HashMap<String, u64> = HashMap::new();
        for stack in &self.stacks {
            if stack.service.unwrap_or(NO_SERVICE) != service {
                continue;
            }
            let name = stack
                .frames
                .first()
                .map_or_else(|| "[unknown]".to_owned(), Frame::label);
            *by_function.entry(name).or_default() += stack.count;
        }
        let mut by_function: Vec<_> = by_function.into_iter().collect();
        by_function.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        by_function.truncate(limit);
        by_function
    }

    /// Flamegraph's folded format: one line per distinct stack, `service;outer;...;inner
    /// count`, rooted at the service name ([`NO_SERVICE`] outside any service's poll).
    /// Frames without a symbol are named by their module (`[libc.so.6]`); `;` inside a name
    /// becomes `,`.
    pub fn folded(&self) -> String {
        let mut lines: BTreeMap<String, u64> = BTreeMap::new();
        for stack in &self.stacks {
            let mut line = stack.service.unwrap_or(NO_SERVICE).replace(';', ",");
            for frame in stack.frames.iter().rev() {
                line.push(';');
                line.push_str(&frame.label().replace(';', ","));
            }
            *lines.entry(line).or_default() += stack.count;
        }
        let mut text = String::new();
        for (line, count) in lines {
            text.push_str(&line);
            text.push(' ');
            text.push_str(&count.to_string());
            text.push('\n');
        }
        text
    }

    /// The profile as pprof's `profile.proto`, gzipped: what `go tool pprof` and Pyroscope
    /// read. Every sample carries a `service` label ([`NO_SERVICE`] outside any poll);
    /// values are sample counts and CPU nanoseconds.
    pub fn to_pprof(&self) -> Vec<u8> {
        let message = PprofBuilder::default().build(self);
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(&message.encode_to_vec())
            .expect("writing to a Vec cannot fail");
        gzip.finish().expect("writing to a Vec cannot fail")
    }

    /// An SVG flamegraph of [`folded`](Profile::folded), drawn by `inferno` (feature
    /// `flamegraph`); `service` keeps only that service's stacks.
    #[cfg(feature = "flamegraph")]
    pub fn flamegraph_svg(&self, service: Option<&str>) -> Result<Vec<u8>, ProfileError> {
        let folded = self.folded();
        let lines: Vec<&str> = folded
            .lines()
            .filter(|line| service.is_none_or(|service| line.split(';').next() == Some(service)))
            .collect();
        let mut options = inferno::flamegraph::Options::default();
        options.title = match service {
            Some(service) => format!("CPU: {service}"),
            None => "CPU by service".to_owned(),
        };
        let mut svg = Vec::new();
        inferno::flamegraph::from_lines(&mut options, lines, &mut svg)
            .map_err(|error| ProfileError::Os(std::io::Error::other(error.to_string())))?;
        Ok(svg)
    }
}

/// Builds the pprof message with interned strings, functions and locations.
#[derive(Default)]
struct PprofBuilder {
    strings: Vec<String>,
    string_index: HashMap<String, i64>,
    functions: Vec<pprof::Function>,
    function_index: HashMap<(String, String), u64>,
    locations: Vec<pprof::Location>,
    location_index: HashMap<(usize, usize), u64>,
}

impl PprofBuilder {
    fn string(&mut self, text: &str) -> i64 {
        if self.strings.is_empty() {
            self.strings.push(String::new());
            self.string_index.insert(String::new(), 0);
        }
        if let Some(&index) = self.string_index.get(text) {
            return index;
        }
        let index = self.strings.len() as i64;
        self.strings.push(text.to_owned());
        self.string_index.insert(text.to_owned(), index);
        index
    }

    fn function(&mut self, frame: &Frame) -> u64 {
        let name = frame.label();
        let file = frame
            .file()
            .map(|file| file.display().to_string())
            .unwrap_or_default();
        if let Some(&id) = self.function_index.get(&(name.clone(), file.clone())) {
            return id;
        }
        let id = self.functions.len() as u64 + 1;
        let name_index = self.string(&name);
        let file_index = self.string(&file);
        self.functions.push(pprof::Function {
            id,
            name: name_index,
            system_name: name_index,
            filename: file_index,
        });
        self.function_index.insert((name, file), id);
        id
    }

    /// Location ids of `frames`: consecutive inlined frames share their caller's location.
    fn locations(&mut self, frames: &[Frame]) -> Vec<u64> {
        let mut ids = Vec::new();
        let mut group: Vec<&Frame> = Vec::new();
        for (position, frame) in frames.iter().enumerate() {
            group.push(frame);
            if frame.is_inlined() {
                continue;
            }
            let key = (frame.address(), position);
            let id = match self.location_index.get(&key) {
                Some(&id) => id,
                None => {
                    let id = self.locations.len() as u64 + 1;
                    let lines = group
                        .iter()
                        .map(|frame| pprof::Line {
                            function_id: self.function(frame),
                            line: frame.line().map_or(0, i64::from),
                        })
                        .collect();
                    self.locations.push(pprof::Location {
                        id,
                        mapping_id: 0,
                        address: frame.address() as u64,
                        line: lines,
                    });
                    self.location_index.insert(key, id);
                    id
                }
            };
            ids.push(id);
            group.clear();
        }
        ids
    }

    fn build(mut self, profile: &Profile) -> pprof::Profile {
        let period_ns = 1_000_000_000 / i64::from(profile.frequency_hz.max(1));
        let samples_type = pprof::ValueType {
            r#type: self.string("samples"),
            unit: self.string("count"),
        };
        let cpu_type = pprof::ValueType {
            r#type: self.string("cpu"),
            unit: self.string("nanoseconds"),
        };
        let service_key = self.string("service");
        let mut samples = Vec::with_capacity(profile.stacks.len());
        for stack in &profile.stacks {
            let service = self.string(stack.service.unwrap_or(NO_SERVICE));
            samples.push(pprof::Sample {
                location_id: self.locations(&stack.frames),
                value: vec![stack.count as i64, stack.count as i64 * period_ns],
                label: vec![pprof::Label {
                    key: service_key,
                    str: service,
                    num: 0,
                }],
            });
        }
        pprof::Profile {
            sample_type: vec![samples_type, cpu_type.clone()],
            sample: samples,
            mapping: Vec::new(),
            location: self.locations,
            function: self.functions,
            string_table: self.strings,
            time_nanos: profile
                .started
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_nanos() as i64),
            duration_nanos: profile.duration.as_nanos() as i64,
            period_type: Some(cpu_type),
            period: period_ns,
        }
    }
}

/// Releases the one-profile-at-a-time flag, and stops sampling, however `record` ends.
struct Recording<'a>(&'a Shared);

impl Drop for Recording<'_> {
    fn drop(&mut self) {
        // Relaxed: handlers only need to stop recording eventually; buffers stay valid.
        self.0.profiling.store(false, Ordering::Relaxed);
        // Release: the next profile starts after this one's last buffer operation.
        self.0.profile_busy.store(false, Ordering::Release);
    }
}

/// Samples every registered thread for `duration`; see [`crate::Profiler::profile`].
pub(crate) fn record(shared: &'static Shared, duration: Duration) -> Result<Profile, ProfileError> {
    // Acquire: after the previous profile's Release in `Recording::drop`.
    if shared
        .profile_busy
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return Err(ProfileError::Busy);
    }
    let recording = Recording(shared);
    let interval = Duration::from_secs(1) / shared.config.frequency_hz;
    // Relaxed: read before the profile, a counter for this profile's difference.
    let lost_before = shared.lost_samples.load(Ordering::Relaxed);
    let started = SystemTime::now();
    let began = Instant::now();
    let deadline = began + duration;
    let mut counts: HashMap<(u64, Vec<usize>), u64> = HashMap::new();
    // Left over from an earlier profile that stopped while a handler was writing.
    drain(shared, &mut HashMap::new());
    // Relaxed: a handler that misses it by a moment misses one sample.
    shared.profiling.store(true, Ordering::Relaxed);
    let mut timers: HashMap<usize, (i32, ThreadTimer)> = HashMap::new();
    loop {
        start_timers(shared, interval, &mut timers);
        drain(shared, &mut counts);
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        std::thread::sleep(DRAIN_EVERY.min(deadline - now));
    }
    drop(timers);
    let elapsed = began.elapsed();
    drop(recording);
    // Handlers that began before sampling stopped finish within microseconds: wait for any
    // buffer still being written, then take what they wrote.
    let settle = Instant::now();
    while shared
        .samples
        .iter()
        // Relaxed: only waiting; the drain below acquires what it reads.
        .any(|buffer| buffer.state.load(Ordering::Relaxed) == phase::WRITING)
        && settle.elapsed() < Duration::from_millis(100)
    {
        std::thread::yield_now();
    }
    drain(shared, &mut counts);
    Ok(resolve(
        &shared.names,
        counts,
        elapsed,
        started,
        shared.config.frequency_hz,
        shared.lost_samples.load(Ordering::Relaxed) - lost_before,
    ))
}

/// Starts a CPU timer on every registered thread that has none yet (and forgets timers of
/// threads that left their slot).
fn start_timers(
    shared: &Shared,
    interval: Duration,
    timers: &mut HashMap<usize, (i32, ThreadTimer)>,
) {
    // Acquire: slots below the bound are published (pairs with `take_slot`).
    let in_use = shared.slots_in_use.load(Ordering::Acquire);
    for (index, slot) in shared.slots[..in_use].iter().enumerate() {
        // Acquire: the slot's clock was stored before its tid (Release in `take_slot`).
        let tid = slot.tid.load(Ordering::Acquire);
        if timers.get(&index).is_some_and(|(owner, _)| *owner == tid) {
            continue;
        }
        timers.remove(&index);
        if tid <= 0 || !slot.has_cpu_clock.load(Ordering::Relaxed) {
            continue;
        }
        let clock = slot.cpu_clock.load(Ordering::Relaxed);
        // A thread that exited meanwhile has no clock any more: skip it.
        if let Ok(timer) = ThreadTimer::start(clock, tid, shared.config.profile_signal, interval) {
            timers.insert(index, (tid, timer));
        }
    }
}

/// Moves every ready sample out of the shared buffers into `counts`.
fn drain(shared: &Shared, counts: &mut HashMap<(u64, Vec<usize>), u64>) {
    for buffer in shared.samples.iter() {
        // Acquire: pairs with the handler's Release of `READY`: the sample is whole.
        if buffer.state.load(Ordering::Acquire) != phase::READY {
            continue;
        }
        // Relaxed: ordered after the Acquire above.
        let key = buffer.key.load(Ordering::Relaxed);
        let frames = buffer.frames.to_vec();
        // Release: a handler that takes the buffer next (Acquire) writes after our reads.
        buffer.state.store(phase::FREE, Ordering::Release);
        *counts.entry((key, frames)).or_default() += 1;
    }
}

/// Resolves the recorded addresses and names the services.
fn resolve(
    names: &Names,
    counts: HashMap<(u64, Vec<usize>), u64>,
    duration: Duration,
    started: SystemTime,
    frequency_hz: u32,
    lost_samples: u64,
) -> Profile {
    let mut symbolizer = Symbolizer::new();
    let stacks = counts
        .into_iter()
        .map(|((key, addresses), count)| SampledStack {
            service: names.name_of(key),
            frames: symbolizer.stack(&addresses),
            count,
        })
        .collect();
    Profile {
        stacks,
        duration,
        started,
        frequency_hz,
        lost_samples,
    }
}
