//! Capturing the stack of one poll in progress, and of every stuck instance.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use vigil_monitor::Clock;
use vigil_registry::{MonitorFactory, Registry, ServiceId};

use crate::dwarf::StackCopy;
use crate::handshake::{self, Withdrawal};
use crate::stack::{StackTrace, Symbolizer};
use crate::state::Shared;
use crate::{sys, CaptureError};

/// A live instance that has been inside one poll for longer than asked, and its stack.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StuckService {
    /// The instance.
    pub id: ServiceId,
    /// How long it had been inside the poll when the registry was read.
    pub in_poll: Duration,
    /// The stack of the thread in that poll, or why there is none.
    pub stack: Result<StackTrace, CaptureError>,
}

impl fmt::Display for StuckService {
    /// `name#N inside one poll for 2.03s on thread NAME (tid N):`, then the stack indented,
    /// or why there is none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} inside one poll for {:.2?}", self.id, self.in_poll)?;
        match &self.stack {
            Ok(stack) => {
                writeln!(
                    f,
                    " on thread {} (tid {}):",
                    stack.thread_name().unwrap_or("<unnamed>"),
                    stack.thread_id()
                )?;
                write!(f, "{stack}")
            }
            Err(error) => writeln!(f, ": no stack: {error}"),
        }
    }
}

/// Where a capture stands while its requester waits.
enum Answer {
    /// The frame-pointer walk, and the copy for DWARF unwinding.
    Captured(Vec<usize>, StackCopy),
    NotInPoll,
    TimedOut,
}

/// The stack of the thread polling `id` now; see [`crate::Profiler::capture`].
pub(crate) fn capture(shared: &'static Shared, id: ServiceId) -> Result<StackTrace, CaptureError> {
    let key = shared
        .names
        .existing_key(&id)
        .ok_or(CaptureError::NotMonitored(id))?;
    let timeout = shared.config.capture_timeout;
    let asked = Instant::now();
    let guard = shared
        .capture_lock
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let (index, tid, poll_seq) = find_poll(shared, key).ok_or(CaptureError::NotInPoll(id))?;
    shared.capture.handshake.request(index, key, poll_seq);
    let answer = match sys::signal_thread(tid, shared.config.capture_signal) {
        // The thread exited since it was found: take the request back at once.
        Err(_) => match wait(shared, Instant::now()) {
            Answer::TimedOut => Answer::NotInPoll,
            answer => answer,
        },
        Ok(()) => wait(shared, asked + timeout),
    };
    drop(guard);
    match answer {
        Answer::Captured(walked, copy) => {
            // The DWARF unwind sees through code without frame pointers; the frame-pointer
            // walk is the fallback where unwind information is missing or the copy ends.
            // One list of the loaded modules serves the unwind and the symbols.
            let modules = crate::sys::modules();
            let unwound = crate::dwarf::unwind(&copy, &modules);
            let addresses = if unwound.len() >= walked.len() {
                unwound
            } else {
                walked
            };
            let frames = Symbolizer::for_modules(&modules).stack(&addresses);
            Ok(StackTrace::new(frames, shared.thread_name(index), tid))
        }
        Answer::NotInPoll => Err(CaptureError::NotInPoll(id)),
        Answer::TimedOut => Err(CaptureError::Timeout {
            id,
            waited: asked.elapsed(),
            thread_id: tid,
        }),
    }
}

/// The slot, thread and poll sequence of the thread whose poll carries `key` now.
fn find_poll(shared: &Shared, key: u64) -> Option<(usize, i32, u64)> {
    // Acquire: slots below the bound are published (pairs with `take_slot`).
    let in_use = shared.slots_in_use.load(Ordering::Acquire);
    shared.slots[..in_use]
        .iter()
        .enumerate()
        .find_map(|(index, slot)| {
            // Acquire: pairs with the marker's Release, so the sequence read next is this
            // poll's or a later one's (then the handler answers `NOT_IN_POLL`).
            if slot.current.load(Ordering::Acquire) != key {
                return None;
            }
            let poll_seq = slot.poll_seq.load(Ordering::Relaxed);
            // Relaxed: a stale tid is caught by the handler's own check.
            let tid = slot.tid.load(Ordering::Relaxed);
            (tid > 0).then_some((index, tid, poll_seq))
        })
}

/// Waits for the handler's answer until `deadline`, then withdraws the request.
fn wait(shared: &Shared, deadline: Instant) -> Answer {
    let mut spins = 0u32;
    loop {
        if let Some(answer) = take_answer(shared) {
            return answer;
        }
        if Instant::now() >= deadline {
            if let Some(answer) = withdraw(shared) {
                return answer;
            }
            // A handler is writing the answer right now: it finishes within microseconds.
            std::thread::yield_now();
            continue;
        }
        // A signal is usually handled within microseconds: spin briefly, then sleep.
        spins += 1;
        if spins < 200 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// The handler's answer, if it has written one (the area is then idle again).
fn take_answer(shared: &Shared) -> Option<Answer> {
    let area = &shared.capture;
    let answer = match area.handshake.answered()? {
        handshake::Answer::Captured => Answer::Captured(area.frames.to_vec(), stack_copy(area)),
        handshake::Answer::NotInPoll => Answer::NotInPoll,
    };
    area.handshake.finish();
    Some(answer)
}

/// The registers and stack the handler copied. Relaxed loads: the handshake acquired them.
fn stack_copy(area: &crate::state::CaptureArea) -> StackCopy {
    let words = area
        .stack_words
        .load(Ordering::Relaxed)
        .min(area.stack.len());
    StackCopy {
        registers: std::array::from_fn(|index| area.registers[index].load(Ordering::Relaxed)),
        stack: area.stack[..words]
            .iter()
            .map(|word| word.load(Ordering::Relaxed))
            .collect(),
    }
}

/// Takes the request back if no handler took it; `None` while one is writing its answer.
fn withdraw(shared: &Shared) -> Option<Answer> {
    match shared.capture.handshake.withdraw() {
        Withdrawal::Withdrawn => Some(Answer::TimedOut),
        Withdrawal::Answered(_) => take_answer(shared),
        Withdrawal::Writing => None,
    }
}

/// Every live instance of `registry` inside one poll for longer than `after`, longest first.
pub(crate) fn stuck<F: MonitorFactory<C>, C: Clock>(
    profiler: crate::Profiler,
    registry: &Registry<F, C>,
    after: Duration,
) -> Vec<StuckService> {
    let mut stuck: Vec<(ServiceId, Duration)> = registry
        .metrics()
        .iter()
        .filter_map(|(id, metrics)| {
            metrics
                .current_poll_duration
                .filter(|in_poll| *in_poll > after)
                .map(|in_poll| (id, in_poll))
        })
        .collect();
    stuck.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    stuck
        .into_iter()
        .map(|(id, in_poll)| StuckService {
            id,
            in_poll,
            stack: profiler.capture(id),
        })
        .collect()
}
