//! Why services lag, for `/snapshot.json` and `/health`: verdicts between the snapshot being
//! served and a baseline the endpoint keeps from the snapshots it took before.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;

use crate::registry::Verdict;
use crate::ServicesMetrics;

/// A baseline is at least this much older than the snapshot it is compared with.
pub(super) const MIN_BASELINE_AGE: Duration = Duration::from_secs(1);

/// The baselines of the verdicts: at most two earlier snapshots, each reduced to what
/// verdicts read ([`ServicesMetrics::without_instances`]).
///
/// # Guarantees
///
/// - The baseline of a snapshot taken at `t` is the newer kept snapshot taken at or
///   before `t - 1 s`, else the older one, else none (then no verdict). With requests
///   less than a second apart, it is 1 s to about 2 s older than the snapshot; with
///   requests further apart, it is the previous request's snapshot.
/// - A snapshot is kept when none is, or when it is at least 1 s newer than the newer
///   kept one (which becomes the older); so at most one snapshot a second is reduced.
/// - Snapshots taken concurrently by different routes may arrive out of order: a snapshot
///   older than the newer kept one neither replaces it nor uses it.
#[derive(Debug, Default)]
pub(super) struct Baselines {
    kept: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    older: Option<ServicesMetrics>,
    newer: Option<ServicesMetrics>,
}

impl Baselines {
    /// Records `now` (a fresh snapshot of the endpoint's registry) and returns the verdicts
    /// between its baseline and it, in name order; empty without a baseline.
    pub(super) fn verdicts(&self, now: &ServicesMetrics) -> Vec<Verdict> {
        let baseline = self.advance(now);
        baseline.map_or_else(Vec::new, |baseline| now.verdicts_since(&baseline))
    }

    /// Records `now` as [`verdicts`](Baselines::verdicts) does, without working out
    /// verdicts: `/metrics`.
    pub(super) fn record(&self, now: &ServicesMetrics) {
        drop(self.advance(now));
    }

    /// Picks the baseline of `now` (a copy: verdicts are worked out outside the lock) and
    /// keeps `now` if due.
    fn advance(&self, now: &ServicesMetrics) -> Option<ServicesMetrics> {
        let old_enough = |kept: &ServicesMetrics| {
            now.taken_at()
                .checked_sub(kept.taken_at())
                .is_some_and(|age| age >= MIN_BASELINE_AGE)
        };
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let newer_is_old_enough = kept.newer.as_ref().is_some_and(old_enough);
        let baseline = if newer_is_old_enough {
            kept.newer.clone()
        } else {
            kept.older
                .as_ref()
                .filter(|older| old_enough(older))
                .cloned()
        };
        if kept.newer.is_none() || newer_is_old_enough {
            kept.older = kept.newer.take();
            kept.newer = Some(now.without_instances());
        }
        baseline
    }
}

/// One entry of the `verdicts` member of `/snapshot.json`.
#[derive(Debug, Serialize)]
pub(super) struct VerdictEntry {
    /// The service name.
    name: &'static str,
    /// [`Cause::as_str`](crate::registry::Cause::as_str): `polls_slow`,
    /// `runtime_saturated`, `backlogged`.
    cause: &'static str,
    /// The verdict's sentence, e.g. `backlogged (mailbox 1000/1000, oldest 3.2 s)`.
    text: String,
}

impl From<&Verdict> for VerdictEntry {
    fn from(verdict: &Verdict) -> Self {
        Self {
            name: verdict.name,
            cause: verdict.cause.as_str(),
            text: verdict.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_light_baseline_keeps_the_counters_and_drops_the_instances() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let registry = crate::Registry::new();
        let _live = registry.start_in(
            runtime.handle(),
            crate::ServiceObj::new("live", std::future::pending()),
        );
        let snapshot = registry.metrics();
        let baseline = snapshot.without_instances();
        assert!(baseline.is_empty());
        assert_eq!(baseline.taken_at(), snapshot.taken_at());
        let group = baseline.group("live").expect("the name stays");
        assert_eq!(group.starts, 1);
        assert_eq!(group.instances, 0);
    }

    #[test]
    fn no_baseline_within_a_second_then_the_kept_one() {
        let clock = crate::monitor::MockClock::new();
        let registry = crate::Registry::builder().clock(clock.clone()).build();
        let baselines = Baselines::default();
        assert!(baselines.advance(&registry.metrics()).is_none());
        clock.advance(Duration::from_millis(600));
        assert!(baselines.advance(&registry.metrics()).is_none());
        clock.advance(Duration::from_millis(600));
        let at_1200 = registry.metrics();
        let baseline = baselines
            .advance(&at_1200)
            .expect("the first one, 1.2 s older");
        assert_eq!(baseline.taken_at(), Duration::ZERO);
        // 1.2 s was kept; 1.5 s still compares with 0 s, 2.4 s with 1.2 s.
        clock.advance(Duration::from_millis(300));
        let baseline = baselines.advance(&registry.metrics()).unwrap();
        assert_eq!(baseline.taken_at(), Duration::ZERO);
        clock.advance(Duration::from_millis(900));
        let baseline = baselines.advance(&registry.metrics()).unwrap();
        assert_eq!(baseline.taken_at(), Duration::from_millis(1200));
        // A snapshot older than the kept ones (out of order) has no baseline.
        assert!(baselines.advance(&at_1200).is_none());
    }
}
