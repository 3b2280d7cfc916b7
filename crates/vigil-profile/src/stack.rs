//! Stacks as people read them: addresses resolved to functions, files and lines.
//!
//! Resolution happens here, on an ordinary thread after the handler returned: the handler
//! only recorded addresses. The first resolution loads the debug information of each
//! module (it can take a moment in a large binary); later ones are cached by `backtrace`.

use std::collections::HashMap;
use std::ffi::c_void;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::sys;

/// One frame of a [`StackTrace`]: a function, or a module where no symbol was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    address: usize,
    function: Option<String>,
    file: Option<PathBuf>,
    line: Option<u32>,
    module: Option<Arc<str>>,
    inlined: bool,
}

impl Frame {
    /// The demangled function name (without its hash), if a symbol covers the address.
    pub fn function(&self) -> Option<&str> {
        self.function.as_deref()
    }

    /// The source file, where debug information says.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The source line, where debug information says.
    pub fn line(&self) -> Option<u32> {
        self.line
    }

    /// The instruction address: the interrupted one for the first frame, a return address
    /// for the others. Inlined frames share their caller's address.
    pub fn address(&self) -> usize {
        self.address
    }

    /// The loaded object the address belongs to (`libc.so.6`, the executable's file name,
    /// `[vdso]`), if any.
    pub fn module(&self) -> Option<&str> {
        self.module.as_deref()
    }

    /// Whether this function was inlined into the next frame (same address).
    pub fn is_inlined(&self) -> bool {
        self.inlined
    }

    /// The frame's name in one word: the function, else `[module]`, else `[unknown]`.
    pub fn label(&self) -> String {
        match (&self.function, &self.module) {
            (Some(function), _) => function.clone(),
            (None, Some(module)) if module.starts_with('[') => module.to_string(),
            (None, Some(module)) => format!("[{module}]"),
            (None, None) => "[unknown]".to_owned(),
        }
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())?;
        if self.function.is_none() {
            write!(f, " {:#x}", self.address)?;
        }
        if let Some(file) = &self.file {
            write!(f, " at {}", file.display())?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
        }
        Ok(())
    }
}

/// The stack of a thread taken inside one poll: innermost frame first, the first being the
/// instruction the thread was executing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackTrace {
    frames: Vec<Frame>,
    thread_name: Option<String>,
    thread_id: i32,
}

impl StackTrace {
    pub(crate) fn new(frames: Vec<Frame>, thread_name: Option<String>, thread_id: i32) -> Self {
        Self {
            frames,
            thread_name,
            thread_id,
        }
    }

    /// The frames, innermost first.
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// The name of the thread (`tokio-runtime-worker`), if it has one.
    pub fn thread_name(&self) -> Option<&str> {
        self.thread_name.as_deref()
    }

    /// The kernel id of the thread (as `top -H` and `/proc/PID/task` show it).
    pub fn thread_id(&self) -> i32 {
        self.thread_id
    }

    /// Whether some frame's function name contains `needle`.
    pub fn contains_function(&self, needle: &str) -> bool {
        self.frames
            .iter()
            .any(|frame| frame.function().is_some_and(|name| name.contains(needle)))
    }
}

impl fmt::Display for StackTrace {
    /// One frame a line, numbered from the innermost.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, frame) in self.frames.iter().enumerate() {
            writeln!(f, "{index:>4}: {frame}")?;
        }
        Ok(())
    }
}

/// Resolves recorded addresses; caches what it resolved.
#[derive(Debug)]
pub(crate) struct Symbolizer {
    modules: Vec<(Arc<str>, Vec<std::ops::Range<usize>>)>,
    cache: HashMap<(usize, bool), Vec<Frame>>,
}

impl Symbolizer {
    /// A symbolizer for the modules loaded now.
    pub(crate) fn new() -> Self {
        Self::for_modules(&sys::modules())
    }

    /// A symbolizer for `modules`, when the caller has listed them already.
    pub(crate) fn for_modules(modules: &[sys::Module]) -> Self {
        let modules = modules
            .iter()
            .map(|module| (Arc::from(module.name.as_str()), module.ranges.clone()))
            .collect();
        Self {
            modules,
            cache: HashMap::new(),
        }
    }

    fn module_of(&self, address: usize) -> Option<&Arc<str>> {
        self.modules
            .iter()
            .find(|(_, ranges)| ranges.iter().any(|range| range.contains(&address)))
            .map(|(name, _)| name)
    }

    /// The frames of a recorded stack: the interrupted instruction, then return addresses.
    /// A walk that strays outside every loaded module (a frame pointer used as an ordinary
    /// register by code built without them) is cut there.
    pub(crate) fn stack(&mut self, addresses: &[usize]) -> Vec<Frame> {
        let mut frames = Vec::with_capacity(addresses.len());
        for (index, &address) in addresses.iter().enumerate() {
            if index > 0 && self.module_of(address).is_none() {
                break;
            }
            frames.extend(self.resolve(address, index > 0).iter().cloned());
        }
        frames
    }

    /// The frames at `address` (several when functions were inlined there), innermost
    /// first. A return address is looked up one byte back, in the call instruction.
    pub(crate) fn resolve(&mut self, address: usize, is_return: bool) -> &[Frame] {
        if !self.cache.contains_key(&(address, is_return)) {
            let frames = self.lookup(address, is_return);
            self.cache.insert((address, is_return), frames);
        }
        &self.cache[&(address, is_return)]
    }

    fn lookup(&self, address: usize, is_return: bool) -> Vec<Frame> {
        let module = self.module_of(address).cloned();
        let lookup = if is_return {
            address.saturating_sub(1)
        } else {
            address
        };
        let mut frames = Vec::new();
        backtrace::resolve(lookup as *mut c_void, |symbol| {
            frames.push(Frame {
                address,
                function: symbol.name().map(|name| format!("{name:#}")),
                file: symbol.filename().map(Path::to_path_buf),
                line: symbol.lineno(),
                module: module.clone(),
                inlined: true,
            });
        });
        // Frames without a name say nothing the module does not.
        frames.retain(|frame| frame.function.is_some());
        match frames.last_mut() {
            Some(outermost) => outermost.inlined = false,
            None => frames.push(Frame {
                address,
                function: None,
                file: None,
                line: None,
                module,
                inlined: false,
            }),
        }
        frames
    }
}
