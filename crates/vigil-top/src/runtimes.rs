//! The watched tokio runtimes as the header shows them: workers' busy shares over the last
//! interval, from the difference of two documents.

use std::collections::HashMap;

use crate::model::Runtime;

/// One runtime's line of the header.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RuntimeView {
    pub(crate) name: String,
    pub(crate) alive_tasks: u64,
    pub(crate) global_queue_depth: u64,
    /// Worker threads now.
    pub(crate) workers: usize,
    /// Each worker's busy share of the last interval, 0..=100 percent, in worker order;
    /// `None` before two documents of this runtime with the same workers were read.
    pub(crate) worker_busy_percent: Option<Vec<f64>>,
}

impl RuntimeView {
    /// The mean busy share of the workers over the last interval, in percent.
    pub(crate) fn busy_percent(&self) -> Option<f64> {
        let busy = self.worker_busy_percent.as_ref()?;
        if busy.is_empty() {
            return None;
        }
        #[allow(clippy::cast_precision_loss)] // worker counts are small
        let mean = busy.iter().sum::<f64>() / busy.len() as f64;
        Some(mean)
    }

    /// `2 workers 99% busy (98%, 100%)`; the busy figures read `—` before the second
    /// document.
    pub(crate) fn workers_text(&self) -> String {
        let plural = if self.workers == 1 { "" } else { "s" };
        match (self.busy_percent(), &self.worker_busy_percent) {
            (Some(mean), Some(each)) => {
                let each: Vec<String> = each.iter().map(|busy| format!("{busy:.0}%")).collect();
                format!(
                    "{} worker{plural} {mean:.0}% busy ({})",
                    self.workers,
                    each.join(", ")
                )
            }
            _ => format!("{} worker{plural} — busy", self.workers),
        }
    }

    /// `1234 tasks, queue 0`.
    pub(crate) fn tasks_text(&self) -> String {
        format!(
            "{} tasks, queue {}",
            self.alive_tasks, self.global_queue_depth
        )
    }

    /// The whole line: `runtime main: 2 workers 99% busy (98%, 100%), 1234 tasks, queue 0`.
    pub(crate) fn line(&self) -> String {
        format!(
            "runtime {}: {}, {}",
            self.name,
            self.workers_text(),
            self.tasks_text()
        )
    }
}

/// The previous document's worker counters per runtime name, to difference against.
#[derive(Debug, Default)]
pub(crate) struct RuntimeTracker {
    previous_busy_ns: HashMap<String, Vec<u64>>,
}

impl RuntimeTracker {
    /// Forgets the previous document (the target restarted).
    pub(crate) fn clear(&mut self) {
        self.previous_busy_ns.clear();
    }

    /// The views of `runtimes`, in the document's order, with busy shares over
    /// `elapsed_ns` (the difference of the two documents' `taken_at_ns`, `None` for the
    /// first). A runtime whose worker count changed, or whose counters went back, shows no
    /// busy share for this interval.
    pub(crate) fn update(
        &mut self,
        runtimes: &[Runtime],
        elapsed_ns: Option<u64>,
    ) -> Vec<RuntimeView> {
        let mut seen = HashMap::with_capacity(runtimes.len());
        let views = runtimes
            .iter()
            .map(|runtime| {
                let busy_ns: Vec<u64> = runtime.workers.iter().map(|w| w.busy_ns).collect();
                let worker_busy_percent =
                    match (self.previous_busy_ns.get(&runtime.name), elapsed_ns) {
                        (Some(before), Some(elapsed))
                            if before.len() == busy_ns.len() && elapsed > 0 =>
                        {
                            busy_ns
                                .iter()
                                .zip(before)
                                .map(|(now, before)| {
                                    let busy = now.checked_sub(*before)?;
                                    #[allow(clippy::cast_precision_loss)] // a display figure
                                    let percent = busy as f64 * 100.0 / elapsed as f64;
                                    // The counters are read a little after `taken_at_ns`.
                                    Some(percent.min(100.0))
                                })
                                .collect::<Option<Vec<f64>>>()
                        }
                        _ => None,
                    };
                seen.insert(runtime.name.clone(), busy_ns);
                RuntimeView {
                    name: runtime.name.clone(),
                    alive_tasks: runtime.alive_tasks,
                    global_queue_depth: runtime.global_queue_depth,
                    workers: runtime.workers.len(),
                    worker_busy_percent,
                }
            })
            .collect();
        self.previous_busy_ns = seen;
        views
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{parse, SAMPLE_V2};

    #[test]
    fn busy_shares_come_from_two_documents_and_read_a_dash_before() {
        let mut document = parse(SAMPLE_V2.as_bytes()).expect("sample");
        let mut tracker = RuntimeTracker::default();
        let first = tracker.update(&document.runtime, None);
        assert_eq!(
            first[0].line(),
            "runtime main: 2 workers — busy, 1234 tasks, queue 0"
        );
        assert_eq!(
            first[1].line(),
            "runtime blocking-io: 1 worker — busy, 3 tasks, queue 7"
        );
        // One second later: worker 0 busy 0.98 s, worker 1 the whole second.
        document.runtime[0].workers[0].busy_ns += 980_000_000;
        document.runtime[0].workers[1].busy_ns += 1_000_000_000;
        document.runtime[1].workers[0].busy_ns += 100_000_000;
        let second = tracker.update(&document.runtime, Some(1_000_000_000));
        assert_eq!(
            second[0].line(),
            "runtime main: 2 workers 99% busy (98%, 100%), 1234 tasks, queue 0"
        );
        assert_eq!(
            second[1].line(),
            "runtime blocking-io: 1 worker 10% busy (10%), 3 tasks, queue 7"
        );
    }

    #[test]
    fn a_changed_worker_count_or_a_counter_going_back_gives_no_busy_share() {
        let mut document = parse(SAMPLE_V2.as_bytes()).expect("sample");
        let mut tracker = RuntimeTracker::default();
        tracker.update(&document.runtime, None);
        document.runtime[0].workers.pop();
        document.runtime[1].workers[0].busy_ns = 0;
        let views = tracker.update(&document.runtime, Some(1_000_000_000));
        assert_eq!(views[0].busy_percent(), None);
        assert_eq!(views[1].busy_percent(), None);
        // An extreme interval neither overflows nor exceeds 100 %.
        document.runtime[1].workers[0].busy_ns = u64::MAX;
        let views = tracker.update(&document.runtime, Some(1));
        assert_eq!(views[1].busy_percent(), Some(100.0));
    }
}
