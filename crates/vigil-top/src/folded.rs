//! `GET /debug/pprof/folded?seconds=N`: a CPU profile in flamegraph's folded format, and the
//! hottest functions of one service in it.
//!
//! Each line is `service;outermost;...;innermost count`: the root is the service whose poll
//! the sample landed in (`(no service)` outside any poll), then the stack from the
//! outermost frame in. The count is split off after the last space (function names may
//! contain spaces, `<T as Trait>::f`), frames on `;` (the profiler writes `;` inside a name
//! as `,`).

use std::collections::HashMap;

/// How many functions the profile view lists.
pub(crate) const HOTTEST: usize = 10;

/// One distinct stack of a profile with its sample count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FoldedStack {
    /// The root (a service name, or `(no service)`) and the frames, outermost first.
    pub(crate) frames: Vec<String>,
    pub(crate) count: u64,
}

/// Reads folded text; an empty line is skipped, a line without a count is an error
/// naming it.
pub(crate) fn parse(text: &str) -> Result<Vec<FoldedStack>, String> {
    let mut stacks = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let parsed = line.rsplit_once(' ').and_then(|(stack, count)| {
            let count = count.parse::<u64>().ok()?;
            (!stack.is_empty()).then(|| FoldedStack {
                frames: stack.split(';').map(str::to_owned).collect(),
                count,
            })
        });
        match parsed {
            Some(stack) => stacks.push(stack),
            None => {
                let shown: String = line.chars().take(60).collect();
                return Err(format!(
                    "malformed folded profile, line {}: `{shown}`",
                    index + 1
                ));
            }
        }
    }
    Ok(stacks)
}

/// What one service spent its CPU samples on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Hottest {
    /// Samples whose root is the service.
    pub(crate) service_samples: u64,
    /// Samples of the whole profile, every root included.
    pub(crate) total_samples: u64,
    /// At most [`HOTTEST`] innermost functions, most samples first (ties by name), with
    /// their samples and their share of the service's samples in percent.
    pub(crate) functions: Vec<(String, u64, f64)>,
}

/// The innermost frame of each stack rooted at `service`, summed, most samples first.
pub(crate) fn hottest(stacks: &[FoldedStack], service: &str, limit: usize) -> Hottest {
    let mut by_function: HashMap<&str, u64> = HashMap::new();
    let mut service_samples = 0u64;
    let mut total_samples = 0u64;
    for stack in stacks {
        total_samples = total_samples.saturating_add(stack.count);
        if stack.frames.first().map(String::as_str) != Some(service) {
            continue;
        }
        service_samples = service_samples.saturating_add(stack.count);
        // A sample with no frame past the root still counts, as `[unknown]`.
        let innermost = stack
            .frames
            .get(1..)
            .and_then(<[String]>::last)
            .map_or("[unknown]", String::as_str);
        let sum = by_function.entry(innermost).or_default();
        *sum = sum.saturating_add(stack.count);
    }
    let mut functions: Vec<(&str, u64)> = by_function.into_iter().collect();
    functions.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    functions.truncate(limit);
    #[allow(clippy::cast_precision_loss)] // display figures
    let functions = functions
        .into_iter()
        .map(|(name, count)| {
            let share = count as f64 * 100.0 / service_samples.max(1) as f64;
            (name.to_owned(), count, share)
        })
        .collect();
    Hottest {
        service_samples,
        total_samples,
        functions,
    }
}

/// A small profile: `ingest` spinning in two places, `stuck` asleep, and work outside any
/// service, for tests across the crate.
#[cfg(test)]
pub(crate) const SAMPLE_FOLDED: &str = "\
(no service);std::sys::pal::unix::thread::Thread::new::thread_start;tokio::runtime::park 10
ingest;tokio::runtime::task::harness::poll_future;vigil::demo::ingest::{{closure}};vigil::demo::spin 60
ingest;tokio::runtime::task::harness::poll_future;vigil::demo::ingest::{{closure}};<core::time::Instant as PartialOrd>::lt 15
ingest;tokio::runtime::task::harness::poll_future;vigil::demo::other::{{closure}};vigil::demo::spin 15
ingest;tokio::runtime::task::harness::poll_future;[libc.so.6] 10
stuck;vigil::demo::wait_for_legacy_lock;std::thread::sleep 1
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_is_split_after_the_last_space_frames_on_semicolons() {
        let stacks = parse(SAMPLE_FOLDED).expect("sample");
        assert_eq!(stacks.len(), 6);
        assert_eq!(stacks[0].frames[0], "(no service)");
        assert_eq!(stacks[0].count, 10);
        // A space inside a function name stays in the frame.
        assert_eq!(
            stacks[2].frames.last().map(String::as_str),
            Some("<core::time::Instant as PartialOrd>::lt")
        );
        assert_eq!(stacks[2].count, 15);
        assert_eq!(
            parse("a;b 3\n\nroot 7\r\n").expect("blank lines and CRLF"),
            [
                FoldedStack {
                    frames: vec!["a".into(), "b".into()],
                    count: 3
                },
                FoldedStack {
                    frames: vec!["root".into()],
                    count: 7
                }
            ]
        );
    }

    #[test]
    fn lines_without_a_count_are_refused_by_line_number() {
        for (text, line) in [
            ("a;b 1\na;b\n", 2),
            ("a;b x\n", 1),
            (" 4\n", 1),
            ("a;b -1\n", 1),
        ] {
            let error = parse(text).expect_err(text);
            assert!(error.contains(&format!("line {line}")), "{text:?}: {error}");
        }
        assert_eq!(parse("").expect("empty"), []);
    }

    #[test]
    fn the_hottest_functions_are_the_innermost_frames_rooted_at_the_service() {
        let stacks = parse(SAMPLE_FOLDED).expect("sample");
        let ingest = hottest(&stacks, "ingest", HOTTEST);
        assert_eq!(ingest.service_samples, 100);
        assert_eq!(ingest.total_samples, 111);
        assert_eq!(
            ingest.functions,
            [
                ("vigil::demo::spin".to_owned(), 75, 75.0),
                (
                    "<core::time::Instant as PartialOrd>::lt".to_owned(),
                    15,
                    15.0
                ),
                ("[libc.so.6]".to_owned(), 10, 10.0),
            ]
        );
        assert_eq!(hottest(&stacks, "ingest", 1).functions.len(), 1);
        let nobody = hottest(&stacks, "nobody", HOTTEST);
        assert_eq!(nobody.service_samples, 0);
        assert!(nobody.functions.is_empty());
        let root_only = hottest(&parse("svc 4\n").expect("root only"), "svc", HOTTEST);
        assert_eq!(root_only.functions, [("[unknown]".to_owned(), 4, 100.0)]);
    }
}
