//! `/debug/stacks`: the stack of every instance stuck inside one poll, as text or JSON.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use vigil_profile::{Frame, StuckService};

/// The text answer: each stuck instance as [`StuckService`]'s `Display` writes it (a head
/// line, then one frame a line), separated by a blank line; or one line saying none is.
pub(super) fn text(stuck: &[StuckService], stuck_after: Duration) -> String {
    if stuck.is_empty() {
        return format!("no instance has been inside one poll for longer than {stuck_after:?}\n");
    }
    let mut text = String::new();
    for (index, service) in stuck.iter().enumerate() {
        if index > 0 {
            text.push('\n');
        }
        // `Display` ends with a newline; writing to a `String` cannot fail.
        let _ = write!(text, "{service}");
    }
    text
}

/// The JSON answer (`?format=json`), the shape `vigil-top` reads: see the routes table of
/// the module documentation.
pub(super) fn json(stuck: &[StuckService], stuck_after: Duration) -> serde_json::Result<String> {
    let document = Document {
        stuck_after_ns: nanoseconds(stuck_after),
        stuck: stuck.iter().map(Entry::of).collect(),
    };
    serde_json::to_string(&document)
}

/// The whole JSON document.
#[derive(Serialize)]
struct Document<'a> {
    /// The endpoint's `stuck_after` threshold.
    stuck_after_ns: u64,
    /// Longest in poll first, as [`vigil_profile::Profiler::stuck`] orders them.
    stuck: Vec<Entry<'a>>,
}

/// One stuck instance: its id, time in poll, and its stack or why there is none.
#[derive(Serialize)]
struct Entry<'a> {
    /// `name#instance_id`.
    id: String,
    name: &'static str,
    instance_id: u64,
    in_poll_ns: u64,
    /// `null` without a stack, or when the thread has no name.
    thread_name: Option<&'a str>,
    /// The kernel thread id; `null` without a stack.
    thread_id: Option<i32>,
    /// Innermost first; empty without a stack.
    frames: Vec<FrameEntry<'a>>,
    /// Why there is no stack (the capture error's `Display`); `null` with one.
    error: Option<String>,
}

impl<'a> Entry<'a> {
    fn of(stuck: &'a StuckService) -> Self {
        let (thread_name, thread_id, frames, error) = match &stuck.stack {
            Ok(stack) => (
                stack.thread_name(),
                Some(stack.thread_id()),
                stack.frames().iter().map(FrameEntry::of).collect(),
                None,
            ),
            Err(error) => (None, None, Vec::new(), Some(error.to_string())),
        };
        Self {
            id: stuck.id.to_string(),
            name: stuck.id.name(),
            instance_id: stuck.id.instance_id(),
            in_poll_ns: nanoseconds(stuck.in_poll),
            thread_name,
            thread_id,
            frames,
            error,
        }
    }
}

/// One frame, as [`Frame`]'s accessors give it.
#[derive(Serialize)]
struct FrameEntry<'a> {
    /// Demangled, without the hash; `null` where no symbol covers the address.
    function: Option<&'a str>,
    file: Option<String>,
    line: Option<u32>,
    /// The loaded object (`libc.so.6`, the executable's file name, `[vdso]`).
    module: Option<&'a str>,
    address: u64,
    /// Inlined into the next frame (same address).
    inlined: bool,
}

impl<'a> FrameEntry<'a> {
    fn of(frame: &'a Frame) -> Self {
        Self {
            function: frame.function(),
            file: frame.file().map(|file| file.display().to_string()),
            line: frame.line(),
            module: frame.module(),
            address: frame.address() as u64,
            inlined: frame.is_inlined(),
        }
    }
}

/// Nanoseconds, saturating at `u64::MAX` (584 years).
fn nanoseconds(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
