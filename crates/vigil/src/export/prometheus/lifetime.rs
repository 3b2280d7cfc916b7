//! The per-name lifetime families of the attached monitors: scheduling counters, the
//! poll-duration histogram and the slow/fast poll counters of every instance ever started.

use std::fmt;
use std::time::Duration;

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Unit;

use super::families::{
    bucket_bounds_seconds, counter, counter_seconds, family, gauge_seconds, seconds,
    BucketHistogram, Sample,
};
use crate::ServiceGroupMetrics;

/// One name's figures as the lifetime families read them: the group, and the busy time of
/// its completed polls (the histogram's `_sum`; zero where the name has no histogram).
pub(super) struct NameLifetime {
    pub(super) group: ServiceGroupMetrics,
    pub(super) completed_busy: Duration,
}

/// Writes the per-name lifetime families of the attached monitors, label `service`. A
/// family whose monitor no name has is left out.
pub(super) fn encode_lifetime_families(
    names: &[NameLifetime],
    encoder: &mut DescriptorEncoder<'_>,
) -> fmt::Result {
    let per_name = |encoder: &mut DescriptorEncoder<'_>,
                    name: &str,
                    help: &str,
                    unit: Option<Unit>,
                    sample: &dyn Fn(&NameLifetime) -> Option<Sample>| {
        family(
            encoder,
            name,
            help,
            unit,
            names,
            |n| [("service", n.group.name)],
            sample,
        )
    };
    let c = |value: u64| Some(Sample::Counter(counter(value)));
    let cs = |value: Duration| Some(Sample::CounterF64(counter_seconds(value)));

    // Scheduling, with `Scheduling` attached.
    per_name(
        encoder,
        "vigil_service_scheduled_polls",
        "Polls that followed a wake, of every instance of the service, ended ones included.",
        None,
        &|n| c(n.group.scheduling?.scheduled_count),
    )?;
    per_name(
        encoder,
        "vigil_service_scheduling_delay",
        "Sum of the scheduling delays (from a wake to the start of the poll it led to) of every instance of the service.",
        seconds(),
        &|n| cs(n.group.scheduling?.total_scheduling_delay),
    )?;
    per_name(
        encoder,
        "vigil_service_scheduling_delay_max",
        "The longest scheduling delay of any instance of the service, ended ones included.",
        seconds(),
        &|n| {
            Some(Sample::GaugeF64(gauge_seconds(
                n.group.scheduling?.max_scheduling_delay,
            )))
        },
    )?;
    per_name(
        encoder,
        "vigil_service_first_polls",
        "Instances of the service that have been polled at least once.",
        None,
        &|n| c(n.group.scheduling?.first_polls),
    )?;
    per_name(
        encoder,
        "vigil_service_first_poll_delay",
        "Sum of the delays from an instance's start to its first poll, over every instance of the service polled at least once.",
        seconds(),
        &|n| cs(n.group.scheduling?.total_first_poll_delay),
    )?;
    per_name(
        encoder,
        "vigil_service_idle_periods",
        "Idle periods ended by a wake, of every instance of the service.",
        None,
        &|n| c(n.group.scheduling?.idle_count),
    )?;
    per_name(
        encoder,
        "vigil_service_idle",
        "Sum of the idle periods (from a poll's end to the first wake after it) of every instance of the service.",
        seconds(),
        &|n| cs(n.group.scheduling?.total_idle_duration),
    )?;

    // Poll durations, with `PollHistograms` attached.
    let bounds = bucket_bounds_seconds();
    per_name(
        encoder,
        "vigil_service_poll_duration",
        "Poll durations of every instance of the service, ended ones included; buckets are powers of two from 256 ns to 2^30 ns.",
        seconds(),
        &|n| {
            let histogram = n.group.lifetime_poll_histogram?;
            Some(Sample::Histogram(Box::new(BucketHistogram::new(
                &histogram,
                &bounds,
                n.completed_busy,
            ))))
        },
    )?;

    // Slow polls, with `SlowPolls` attached.
    per_name(
        encoder,
        "vigil_service_slow_polls",
        "Polls longer than the slow-poll threshold, of every instance of the service, ended ones included.",
        None,
        &|n| c(n.group.lifetime_slow_polls?.slow_poll_count),
    )?;
    per_name(
        encoder,
        "vigil_service_fast_polls",
        "Polls not longer than the slow-poll threshold, of every instance of the service, ended ones included.",
        None,
        &|n| c(n.group.lifetime_slow_polls?.fast_poll_count),
    )
}
