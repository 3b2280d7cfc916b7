//! `GET /debug/stacks?format=json`: where each stuck instance is blocked, as vigil-top reads it.
//!
//! Served by vigil's endpoint when it has a profiler (`Endpoint::profiler`), `404` without
//! one. Like the snapshot document these are vigil-top's own types, read with serde: only
//! the JSON contract is shared with the process, never its crates.

use serde::Deserialize;

use crate::model::Document;
use crate::state::RowKey;

/// Function-name prefixes of frames that only carry a poll down to the service's own code
/// (the runtime, the registry's and supervisor's wrappers, std's thread start). They are
/// hidden first when the pane is too short for the whole stack.
const PLUMBING_PREFIXES: &[&str] = &[
    "tokio::",
    "core::",
    "alloc::",
    "std::panic",
    "std::rt::",
    "std::sys::backtrace",
    "std::sys::pal::unix::thread::Thread::new",
    "std::sys::thread::unix::Thread>::new",
    "std::thread::Builder",
    "std::thread::local::",
    "__rust_try",
    "__rust_begin_short_backtrace",
    "std::thread::lifecycle",
    "vigil_registry::",
    "vigil_monitor::",
    "vigil_status::",
    "vigil_supervisor::",
    "vigil_profile::",
    "futures_util::",
    "futures_core::",
    "start_thread",
    "clone3",
    "__clone",
];

/// The answer of `/debug/stacks?format=json`: every instance inside one poll for longer
/// than the endpoint's threshold, with its stack.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct StacksDocument {
    /// The endpoint's own threshold (`Endpoint::stuck_after`): polls shorter than this are
    /// not listed, whatever vigil-top's `--stuck-after` says.
    #[serde(default)]
    pub(crate) stuck_after_ns: u64,
    #[serde(default)]
    pub(crate) stuck: Vec<StuckStack>,
}

/// One stuck instance and the stack of the thread polling it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct StuckStack {
    /// `name#instance_id`.
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) instance_id: u64,
    #[serde(default)]
    pub(crate) in_poll_ns: u64,
    #[serde(default)]
    pub(crate) thread_name: Option<String>,
    #[serde(default)]
    pub(crate) thread_id: Option<i32>,
    /// Innermost first: the first is the instruction the thread was executing.
    #[serde(default)]
    pub(crate) frames: Vec<StackFrame>,
    /// Why there is no stack (the poll ended meanwhile, the thread did not answer, …).
    #[serde(default)]
    pub(crate) error: Option<String>,
}

/// One frame of a stack.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct StackFrame {
    #[serde(default)]
    pub(crate) function: Option<String>,
    #[serde(default)]
    pub(crate) file: Option<String>,
    #[serde(default)]
    pub(crate) line: Option<u32>,
    #[serde(default)]
    pub(crate) module: Option<String>,
    #[serde(default)]
    pub(crate) address: u64,
    #[serde(default)]
    pub(crate) inlined: bool,
}

impl StackFrame {
    /// The frame in one word: its function, else `[module]`, else its address.
    pub(crate) fn label(&self) -> String {
        match (&self.function, &self.module) {
            (Some(function), _) => function.clone(),
            (None, Some(module)) if module.starts_with('[') => module.clone(),
            (None, Some(module)) => format!("[{module}]"),
            (None, None) => format!("{:#x}", self.address),
        }
    }

    /// `file:line` with the whole path, and with the file name only, when the frame has one.
    pub(crate) fn locations(&self) -> Option<(String, String)> {
        let file = self.file.as_deref()?;
        let name = file.rsplit(['/', '\\']).next().unwrap_or(file);
        Some(match self.line {
            Some(line) => (format!("{file}:{line}"), format!("{name}:{line}")),
            None => (file.to_owned(), name.to_owned()),
        })
    }

    /// The frame as one line at most `width` characters wide when it can be: the label,
    /// then the whole `path:line` if it fits, else the file name only.
    pub(crate) fn line_within(&self, width: usize) -> String {
        let label = self.label();
        let inlined = if self.inlined { " (inlined)" } else { "" };
        let Some((full, short)) = self.locations() else {
            return format!("{label}{inlined}");
        };
        let whole = format!("{label}{inlined}  {full}");
        if whole.chars().count() <= width {
            whole
        } else {
            format!("{label}{inlined}  {short}")
        }
    }

    /// Whether the frame only carries the poll (runtime, wrappers, thread start).
    pub(crate) fn is_plumbing(&self) -> bool {
        let Some(function) = self.function.as_deref() else {
            return false;
        };
        let function = function.trim_start_matches('<');
        PLUMBING_PREFIXES
            .iter()
            .any(|prefix| function.starts_with(prefix))
    }
}

impl StacksDocument {
    /// The entry for a row of the table: its instance, or for a service row the instance
    /// of that name longest in its poll.
    pub(crate) fn entry_for(&self, row: &RowKey) -> Option<&StuckStack> {
        match row {
            RowKey::Instance(name, id) => self
                .stuck
                .iter()
                .find(|entry| entry.name == *name && entry.instance_id == *id),
            RowKey::Service(name) => self
                .stuck
                .iter()
                .filter(|entry| entry.name == *name)
                .max_by_key(|entry| entry.in_poll_ns),
        }
    }

    /// How many instances of `name` are listed.
    pub(crate) fn count_of(&self, name: &str) -> usize {
        self.stuck.iter().filter(|entry| entry.name == name).count()
    }
}

/// Reads the answer of `/debug/stacks?format=json`; never panics on any input.
pub(crate) fn parse(body: &[u8]) -> Result<StacksDocument, String> {
    serde_json::from_slice(body).map_err(|error| format!("malformed stacks document: {error}"))
}

/// Which service the detail pane shows, as the fetch thread needs to know it to decide
/// whether a refresh also fetches the stacks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum StackInterest {
    /// Fetch no stacks: no stuck service is shown, or the endpoint has no profiler.
    #[default]
    None,
    /// The pane follows the first row shown with this filter: stuck rows are pinned on
    /// top, so it shows a stuck service whenever one passes the filter.
    FirstRow { filter: String },
    /// The pane shows this service (or one of its instances).
    Service(String),
}

impl StackInterest {
    /// Whether a fresh `document` shows a stuck service in the detail pane, so that this
    /// refresh fetches the stacks too (once).
    pub(crate) fn wants_stacks(
        &self,
        document: &Document,
        stuck_after: std::time::Duration,
    ) -> bool {
        let stuck = |group: &&crate::model::Group| {
            group
                .longest_in_poll_ns
                .is_some_and(|in_poll| std::time::Duration::from_nanos(in_poll) > stuck_after)
        };
        match self {
            Self::None => false,
            Self::FirstRow { filter } => {
                let filter = filter.to_lowercase();
                document
                    .groups
                    .iter()
                    .filter(stuck)
                    .any(|group| filter.is_empty() || group.name.to_lowercase().contains(&filter))
            }
            Self::Service(name) => document
                .groups
                .iter()
                .filter(stuck)
                .any(|group| group.name == *name),
        }
    }
}

/// A stacks document with one stuck instance blocked in a sleep, for tests across the crate.
#[cfg(test)]
pub(crate) const SAMPLE_STACKS: &str = r#"{
  "stuck_after_ns": 1000000000,
  "a_future_field": true,
  "stuck": [
    {"id": "stuck#0", "name": "stuck", "instance_id": 0, "in_poll_ns": 2500000000,
     "thread_name": "tokio-runtime-worker", "thread_id": 4242,
     "frames": [
       {"function": null, "file": null, "line": null, "module": "libc.so.6", "address": 140000000000, "inlined": false},
       {"function": "std::thread::sleep", "file": "/rustc/abc/library/std/src/thread/mod.rs", "line": 879, "module": "vigil-top", "address": 1000, "inlined": false},
       {"function": "vigil::demo::wait_for_legacy_lock", "file": "/work/main/crates/vigil/src/demo.rs", "line": 205, "module": "vigil-top", "address": 2000, "inlined": true},
       {"function": "vigil::demo::stuck::{{closure}}", "file": "/work/main/crates/vigil/src/demo.rs", "line": 199, "module": "vigil-top", "address": 3000, "inlined": false},
       {"function": "<vigil_registry::service::Instrumented<F> as core::future::future::Future>::poll", "file": "/work/main/crates/vigil-registry/src/service.rs", "line": 88, "module": "vigil-top", "address": 4000, "inlined": false},
       {"function": "tokio::runtime::task::harness::poll_future", "file": "/cargo/tokio/src/runtime/task/harness.rs", "line": 473, "module": "vigil-top", "address": 5000, "inlined": false},
       {"function": "tokio::runtime::scheduler::multi_thread::worker::Context::run", "file": "/cargo/tokio/src/runtime/scheduler/multi_thread/worker.rs", "line": 513, "module": "vigil-top", "address": 6000, "inlined": false},
       {"function": "std::sys::pal::unix::thread::Thread::new::thread_start", "file": "/rustc/abc/library/std/src/sys/pal/unix/thread.rs", "line": 105, "module": "vigil-top", "address": 7000, "inlined": false},
       {"function": "start_thread", "file": null, "line": null, "module": "libc.so.6", "address": 8000, "inlined": false}
     ],
     "error": null},
    {"id": "other#3", "name": "other", "instance_id": 3, "in_poll_ns": 1500000000,
     "thread_name": null, "thread_id": null, "frames": [],
     "error": "the thread did not answer within 250ms"}
  ]
}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_sample_and_ignores_unknown_fields() {
        let stacks = parse(SAMPLE_STACKS.as_bytes()).expect("the sample parses");
        assert_eq!(stacks.stuck_after_ns, 1_000_000_000);
        assert_eq!(stacks.stuck.len(), 2);
        let stuck = &stacks.stuck[0];
        assert_eq!(stuck.id, "stuck#0");
        assert_eq!(stuck.thread_id, Some(4242));
        assert_eq!(stuck.frames.len(), 9);
        assert_eq!(stuck.frames[0].label(), "[libc.so.6]");
        assert_eq!(stuck.frames[1].label(), "std::thread::sleep");
        assert!(stuck.frames[2].inlined);
        assert_eq!(
            stacks.stuck[1].error.as_deref(),
            Some("the thread did not answer within 250ms")
        );
        assert!(parse(b"<html>").is_err());
        assert!(parse(br#"{"stuck": [{"id": 3}]}"#).is_err());
    }

    #[test]
    fn entries_match_rows_by_name_and_instance() {
        let stacks = parse(SAMPLE_STACKS.as_bytes()).expect("sample");
        let service = RowKey::Service("stuck".to_owned());
        assert_eq!(stacks.entry_for(&service).map(|e| e.instance_id), Some(0));
        let instance = RowKey::Instance("other".to_owned(), 3);
        assert_eq!(
            stacks.entry_for(&instance).map(|e| e.id.as_str()),
            Some("other#3")
        );
        assert!(stacks
            .entry_for(&RowKey::Instance("other".to_owned(), 4))
            .is_none());
        assert!(stacks
            .entry_for(&RowKey::Service("nobody".to_owned()))
            .is_none());
    }

    #[test]
    fn frames_shorten_their_path_to_the_file_name_when_too_wide() {
        let stacks = parse(SAMPLE_STACKS.as_bytes()).expect("sample");
        let sleep = &stacks.stuck[0].frames[1];
        assert_eq!(
            sleep.line_within(200),
            "std::thread::sleep  /rustc/abc/library/std/src/thread/mod.rs:879"
        );
        assert_eq!(sleep.line_within(40), "std::thread::sleep  mod.rs:879");
        assert_eq!(stacks.stuck[0].frames[0].line_within(10), "[libc.so.6]");
    }

    #[test]
    fn runtime_frames_are_plumbing_the_services_own_are_not() {
        let stacks = parse(SAMPLE_STACKS.as_bytes()).expect("sample");
        let plumbing: Vec<bool> = stacks.stuck[0]
            .frames
            .iter()
            .map(StackFrame::is_plumbing)
            .collect();
        assert_eq!(
            plumbing,
            [false, false, false, false, true, true, true, true, true]
        );
        let frame = |function: &str| StackFrame {
            function: Some(function.to_owned()),
            file: None,
            line: None,
            module: None,
            address: 0,
            inlined: false,
        };
        for plumbing in [
            "<std::sys::thread::unix::Thread>::new::thread_start",
            "std::thread::local::LocalKey<T>::with",
            "__rust_try",
        ] {
            assert!(frame(plumbing).is_plumbing(), "{plumbing}");
        }
        assert!(!frame("std::sys::thread::unix::sleep").is_plumbing());
    }
}
