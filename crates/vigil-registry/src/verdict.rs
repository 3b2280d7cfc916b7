//! Why a service falls behind: its own polls, the runtime, or its mailbox. The rules are
//! written down in `docs/metrics.md` ("Verdicts"); this is their one implementation.

use std::fmt;
use std::time::Duration;

use crate::delta::histogram_since;
use crate::metrics::ServicesMetrics;
use crate::names::ServiceGroupMetrics;
use crate::watch::{MailboxSnapshot, RuntimeSnapshot};

/// A mailbox at least this full (depth over capacity) is backlogged.
pub const BACKLOG_FILL: f64 = 0.5;
/// A mailbox whose oldest message has waited this long is backlogged, however full.
pub const BACKLOG_OLDEST_WAIT: Duration = Duration::from_secs(1);
/// A service whose polls waited this long on average from wake to poll is waiting for
/// the runtime.
pub const WAITING_DELAY: Duration = Duration::from_millis(5);
/// A service whose instances spent this share of the interval inside `poll` is busy to
/// the point of lagging.
pub const BUSY_SHARE: f64 = 0.9;
/// Polls whose 99th percentile over the interval reaches this are slow.
pub const SLOW_POLL_P99: Duration = Duration::from_millis(1);
/// Intervals shorter than this give no verdict: too few polls to judge.
pub const MIN_INTERVAL: Duration = Duration::from_millis(200);

/// Which of the three causes makes a service fall behind; see [`Verdict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// Its own polls are slow (or it is busy nearly all the time): fix the code, move
    /// blocking work off the runtime.
    PollsSlow,
    /// It waits to be polled once woken while the runtime's workers are busy: add workers,
    /// move blocking or CPU-heavy work elsewhere.
    RuntimeSaturated,
    /// Its mailbox fills faster than it drains while its polls are quick and it is polled
    /// promptly: apply backpressure, or run more instances.
    Backlogged,
}

impl Cause {
    /// `polls_slow`, `runtime_saturated` or `backlogged`: the name exporters and documents use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PollsSlow => "polls_slow",
            Self::RuntimeSaturated => "runtime_saturated",
            Self::Backlogged => "backlogged",
        }
    }
}

/// Why one service name lags over an interval, with the figures that show it. Its
/// `Display` is the sentence vigil-top and `/health` show, e.g. `polls slow (p99 8 ms)`,
/// `runtime saturated (2/2 workers 99 % busy, wake-to-poll 40 ms)`, `backlogged (mailbox
/// 1000/1000, oldest 3.2 s)`.
///
/// Built by [`ServicesMetrics::verdicts_since`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Verdict {
    /// The service name.
    pub name: &'static str,
    /// The cause.
    pub cause: Cause,
    /// What the sentence cites: the figures of the interval.
    pub evidence: Evidence,
}

/// The figures of one service name over an interval that the verdict rules read.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct Evidence {
    /// The 99th percentile of the interval's polls (from the name's lifetime histogram,
    /// with [`PollHistograms`](crate::PollHistograms)); else the mean poll.
    pub poll_p99: Option<Duration>,
    /// Whether `poll_p99` is a mean (no histogram attached).
    pub poll_is_mean: bool,
    /// Share of the interval the live instances spent inside `poll`, 0..=1 per instance.
    pub busy_share: f64,
    /// The mean wake-to-poll delay of the interval's scheduled polls, with
    /// [`Scheduling`](crate::Scheduling).
    pub wake_to_poll: Option<Duration>,
    /// Workers at least 90 % busy over the interval, and all workers, of the watched
    /// runtimes.
    pub busy_workers: (usize, usize),
    /// The mean busy share of those workers, 0..=1.
    pub workers_busy_share: f64,
    /// The mailbox now, if the service has one.
    pub mailbox: Option<MailboxSnapshot>,
}

impl Evidence {
    /// Gathers the figures of one name between two snapshots: `earlier` is `None` for a
    /// name that is new within the interval (its counters count from zero).
    fn between(
        earlier: Option<&ServiceGroupMetrics>,
        later: &ServiceGroupMetrics,
        interval: Duration,
        workers: (usize, usize, f64),
    ) -> Self {
        let polls = later
            .poll_count
            .saturating_sub(earlier.map_or(0, |group| group.poll_count));
        let busy = later
            .total_busy_duration
            .saturating_sub(earlier.map_or(Duration::ZERO, |group| group.total_busy_duration));
        let histogram = later.lifetime_poll_histogram.map(|histogram| {
            match earlier.and_then(|group| group.lifetime_poll_histogram) {
                Some(before) => histogram_since(histogram, before),
                None => histogram,
            }
        });
        let (poll_p99, poll_is_mean) = match histogram {
            Some(histogram) if !histogram.is_empty() => (Some(histogram.quantile(0.99)), false),
            Some(_) => (None, false),
            None if polls > 0 => (Some(busy / u32::try_from(polls).unwrap_or(u32::MAX)), true),
            None => (None, true),
        };
        let wake_to_poll = later.scheduling.and_then(|scheduling| {
            scheduling.mean_scheduling_delay_since(
                &earlier
                    .and_then(|group| group.scheduling)
                    .unwrap_or_default(),
            )
        });
        let instances = later.instances.max(1) as f64;
        Self {
            poll_p99,
            poll_is_mean,
            busy_share: (busy.as_secs_f64() / interval.as_secs_f64() / instances).min(1.0),
            wake_to_poll,
            busy_workers: (workers.0, workers.1),
            workers_busy_share: workers.2,
            mailbox: later.mailbox,
        }
    }

    /// The mailbox is at least half full, or its oldest message has waited a second.
    pub fn backlogged(&self) -> bool {
        self.mailbox.is_some_and(|mailbox| {
            mailbox.depth > 0
                && (mailbox.fill_ratio() >= BACKLOG_FILL
                    || mailbox.oldest_wait >= BACKLOG_OLDEST_WAIT)
        })
    }

    /// Its scheduled polls waited [`WAITING_DELAY`] or more on average.
    pub fn waiting(&self) -> bool {
        self.wake_to_poll
            .is_some_and(|delay| delay >= WAITING_DELAY)
    }

    /// Its instances were inside `poll` for [`BUSY_SHARE`] of the interval or more.
    pub fn busy(&self) -> bool {
        self.busy_share >= BUSY_SHARE
    }

    /// Its polls' p99 (or mean) reached [`SLOW_POLL_P99`].
    pub fn slow_polls(&self) -> bool {
        self.poll_p99.is_some_and(|p99| p99 >= SLOW_POLL_P99)
    }

    /// The rules of `docs/metrics.md`: a service lags if it is backlogged, waiting, or
    /// busy; then the cause is, first match: its polls (slow, or busy), the runtime
    /// (waiting), its mailbox (backlogged).
    pub fn cause(&self) -> Option<Cause> {
        if !(self.backlogged() || self.waiting() || self.busy()) {
            return None;
        }
        if self.slow_polls() || self.busy() {
            Some(Cause::PollsSlow)
        } else if self.waiting() {
            Some(Cause::RuntimeSaturated)
        } else {
            Some(Cause::Backlogged)
        }
    }
}

impl ServicesMetrics {
    /// Why each lagging service name lags over the interval from `earlier` (a snapshot of
    /// the same registry) to `self`, in name order; names that do not lag are left out.
    /// Empty if the interval is shorter than [`MIN_INTERVAL`].
    ///
    /// The rules (`docs/metrics.md`, "Verdicts") read per name: the interval's poll p99
    /// (with [`PollHistograms`](crate::PollHistograms); else the mean poll), busy share,
    /// mean wake-to-poll delay (with [`Scheduling`](crate::Scheduling)), the mailbox now
    /// (registered by a supervisor), and the watched runtimes' workers' busy shares.
    pub fn verdicts_since(&self, earlier: &ServicesMetrics) -> Vec<Verdict> {
        let interval = self.taken_at().saturating_sub(earlier.taken_at());
        if interval < MIN_INTERVAL {
            return Vec::new();
        }
        let workers = workers_busy(earlier.runtimes(), self.runtimes(), interval);
        self.groups()
            .filter_map(|later| {
                let before = earlier.group(later.name);
                let evidence = Evidence::between(before.as_ref(), &later, interval, workers);
                Some(Verdict {
                    name: later.name,
                    cause: evidence.cause()?,
                    evidence,
                })
            })
            .collect()
    }
}

/// `(workers at least 90 % busy, all workers, their mean busy share)` over the interval,
/// across every runtime watched in both snapshots.
fn workers_busy(
    earlier: &[RuntimeSnapshot],
    later: &[RuntimeSnapshot],
    interval: Duration,
) -> (usize, usize, f64) {
    let ratios: Vec<f64> = later
        .iter()
        .filter_map(|runtime| {
            let before = earlier.iter().find(|before| before.name == runtime.name)?;
            Some(runtime.busy_ratios_since(before, interval))
        })
        .flatten()
        .collect();
    let busy = ratios.iter().filter(|ratio| **ratio >= BUSY_SHARE).count();
    let mean = ratios.iter().sum::<f64>() / ratios.len().max(1) as f64;
    (busy, ratios.len(), mean)
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let evidence = &self.evidence;
        match self.cause {
            Cause::PollsSlow => {
                let label = if evidence.poll_is_mean { "mean" } else { "p99" };
                write!(f, "polls slow (")?;
                if let Some(p99) = evidence.poll_p99 {
                    write!(f, "{label} {}", Short(p99))?;
                    if evidence.busy() {
                        write!(f, ", ")?;
                    }
                }
                if evidence.busy() || evidence.poll_p99.is_none() {
                    write!(f, "busy {:.0} %", evidence.busy_share * 100.0)?;
                }
                write!(f, ")")
            }
            Cause::RuntimeSaturated => {
                write!(f, "runtime saturated (")?;
                let (busy, all) = evidence.busy_workers;
                if all > 0 {
                    let share = evidence.workers_busy_share * 100.0;
                    write!(f, "{busy}/{all} workers {share:.0} % busy, ")?;
                }
                let delay = evidence.wake_to_poll.unwrap_or_default();
                write!(f, "wake-to-poll {})", Short(delay))
            }
            Cause::Backlogged => {
                let mailbox = evidence.mailbox.unwrap_or_default();
                write!(
                    f,
                    "backlogged (mailbox {}/{}, oldest {})",
                    mailbox.depth,
                    mailbox.capacity,
                    Short(mailbox.oldest_wait)
                )
            }
        }
    }
}

/// A duration as people read it: `250 µs`, `8 ms`, `3.2 s`.
struct Short(Duration);

impl fmt::Display for Short {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos >= 10_000_000_000 {
            write!(f, "{} s", self.0.as_secs())
        } else if nanos >= 1_000_000_000 {
            write!(f, "{:.1} s", self.0.as_secs_f64())
        } else if nanos >= 1_000_000 {
            write!(f, "{} ms", self.0.as_millis())
        } else {
            write!(f, "{} µs", self.0.as_micros())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A quiet service: fast polls, a fifth of the interval busy, polled promptly, an
    /// empty mailbox, idle workers.
    fn quiet() -> Evidence {
        Evidence {
            poll_p99: Some(Duration::from_micros(50)),
            poll_is_mean: false,
            busy_share: 0.2,
            wake_to_poll: Some(Duration::from_micros(20)),
            busy_workers: (0, 2),
            workers_busy_share: 0.1,
            mailbox: Some(MailboxSnapshot::new(1000, 0, 10, 10, 0, Duration::ZERO)),
        }
    }

    fn verdict(evidence: Evidence) -> Option<String> {
        let cause = evidence.cause()?;
        Some(
            Verdict {
                name: "svc",
                cause,
                evidence,
            }
            .to_string(),
        )
    }

    #[test]
    fn a_quiet_service_gets_no_verdict() {
        assert_eq!(quiet().cause(), None);
        // Slow polls alone do not make it lag: it keeps up.
        let slow = Evidence {
            poll_p99: Some(Duration::from_millis(8)),
            ..quiet()
        };
        assert_eq!(slow.cause(), None);
    }

    #[test]
    fn slow_polls_behind_a_backlog_are_the_cause() {
        let evidence = Evidence {
            poll_p99: Some(Duration::from_millis(8)),
            mailbox: Some(MailboxSnapshot::new(
                1000,
                1000,
                5000,
                4000,
                3,
                Duration::from_millis(3200),
            )),
            ..quiet()
        };
        assert_eq!(verdict(evidence).unwrap(), "polls slow (p99 8 ms)");
    }

    #[test]
    fn a_busy_service_with_quick_polls_is_slow_by_its_own_work() {
        let evidence = Evidence {
            busy_share: 0.97,
            wake_to_poll: Some(Duration::from_millis(30)),
            ..quiet()
        };
        assert_eq!(
            verdict(evidence).unwrap(),
            "polls slow (p99 50 µs, busy 97 %)"
        );
    }

    #[test]
    fn waiting_to_be_polled_on_busy_workers_is_the_runtime() {
        let evidence = Evidence {
            wake_to_poll: Some(Duration::from_millis(40)),
            busy_workers: (2, 2),
            workers_busy_share: 0.99,
            ..quiet()
        };
        assert_eq!(
            verdict(evidence).unwrap(),
            "runtime saturated (2/2 workers 99 % busy, wake-to-poll 40 ms)"
        );
        // A backlog behind a saturated runtime is the runtime's doing.
        let behind = Evidence {
            mailbox: Some(MailboxSnapshot::new(
                10,
                10,
                50,
                40,
                0,
                Duration::from_secs(2),
            )),
            ..evidence
        };
        assert_eq!(behind.cause(), Some(Cause::RuntimeSaturated));
        // No runtime watched: the sentence leaves the workers out.
        let unwatched = Evidence {
            busy_workers: (0, 0),
            ..evidence
        };
        assert_eq!(
            verdict(unwatched).unwrap(),
            "runtime saturated (wake-to-poll 40 ms)"
        );
    }

    #[test]
    fn a_full_mailbox_with_quick_prompt_polls_is_a_backlog() {
        let evidence = Evidence {
            mailbox: Some(MailboxSnapshot::new(
                1000,
                1000,
                9000,
                8000,
                12,
                Duration::from_millis(3200),
            )),
            ..quiet()
        };
        assert_eq!(
            verdict(evidence).unwrap(),
            "backlogged (mailbox 1000/1000, oldest 3.2 s)"
        );
        // An old message alone is a backlog too; a mailbox with nothing waiting is not.
        let old = Evidence {
            mailbox: Some(MailboxSnapshot::new(
                1000,
                3,
                9,
                6,
                0,
                Duration::from_secs(2),
            )),
            ..quiet()
        };
        assert_eq!(old.cause(), Some(Cause::Backlogged));
        let empty = Evidence {
            mailbox: Some(MailboxSnapshot::new(1000, 0, 9, 9, 0, Duration::ZERO)),
            ..quiet()
        };
        assert_eq!(empty.cause(), None);
    }

    #[test]
    fn each_cause_gives_its_verdict_and_no_other() {
        let slow = Evidence {
            poll_p99: Some(Duration::from_millis(8)),
            busy_share: 0.95,
            ..quiet()
        };
        let saturated = Evidence {
            wake_to_poll: Some(Duration::from_millis(40)),
            busy_workers: (2, 2),
            workers_busy_share: 0.99,
            ..quiet()
        };
        let backlogged = Evidence {
            mailbox: Some(MailboxSnapshot::new(
                100,
                100,
                500,
                400,
                0,
                Duration::from_millis(500),
            )),
            ..quiet()
        };
        assert_eq!(slow.cause(), Some(Cause::PollsSlow));
        assert_eq!(saturated.cause(), Some(Cause::RuntimeSaturated));
        assert_eq!(backlogged.cause(), Some(Cause::Backlogged));
    }

    #[test]
    fn durations_read_short() {
        let cases = [
            (Duration::from_micros(250), "250 µs"),
            (Duration::from_millis(8), "8 ms"),
            (Duration::from_millis(3_240), "3.2 s"),
            (Duration::from_secs(42), "42 s"),
        ];
        for (duration, text) in cases {
            assert_eq!(Short(duration).to_string(), text);
        }
    }
}
