//! The families of what the registry watches besides its services: tokio runtimes
//! (`vigil_runtime_*`) and service mailboxes (`vigil_mailbox_*`).

use std::fmt;

use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabel, EncodeLabelSet, LabelSetEncoder,
};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

use super::families::{counter, counter_seconds, family, gauge_seconds, seconds, Sample};
use crate::registry::{MailboxSnapshot, RuntimeSnapshot, WorkerSnapshot};
use crate::ServiceGroupMetrics;

/// A count as an integer gauge, saturating.
fn gauge_u64(value: u64) -> Option<Sample> {
    Some(Sample::Gauge(ConstGauge::new(
        i64::try_from(value).unwrap_or(i64::MAX),
    )))
}

/// Writes the runtime families: per runtime (label `runtime`), and per worker (labels
/// `runtime` and `worker`, the worker's index).
pub(super) fn encode_runtime_families(
    runtimes: &[RuntimeSnapshot],
    encoder: &mut DescriptorEncoder<'_>,
) -> fmt::Result {
    let per_runtime = |encoder: &mut DescriptorEncoder<'_>,
                       name: &str,
                       help: &str,
                       sample: &dyn Fn(&RuntimeSnapshot) -> Option<Sample>| {
        family(
            encoder,
            name,
            help,
            None,
            runtimes,
            |runtime| [("runtime", runtime.name)],
            sample,
        )
    };
    per_runtime(
        encoder,
        "vigil_runtime_workers",
        "Worker threads of the runtime (1 for a current-thread runtime).",
        &|runtime| gauge_u64(runtime.workers.len() as u64),
    )?;
    per_runtime(
        encoder,
        "vigil_runtime_alive_tasks",
        "Tasks alive on the runtime: spawned and not yet finished, services and everything else.",
        &|runtime| gauge_u64(runtime.alive_tasks),
    )?;
    per_runtime(
        encoder,
        "vigil_runtime_global_queue_depth",
        "Tasks waiting in the runtime's global (injection) queue for a worker.",
        &|runtime| gauge_u64(runtime.global_queue_depth),
    )?;

    let workers: Vec<(WorkerLabels, WorkerSnapshot)> = runtimes
        .iter()
        .flat_map(|runtime| {
            runtime.workers.iter().enumerate().map(|(index, worker)| {
                let labels = WorkerLabels {
                    runtime: runtime.name,
                    worker: index as u64,
                };
                (labels, *worker)
            })
        })
        .collect();
    let per_worker =
        |encoder: &mut DescriptorEncoder<'_>,
         name: &str,
         help: &str,
         unit: Option<Unit>,
         sample: &dyn Fn(&(WorkerLabels, WorkerSnapshot)) -> Option<Sample>| {
            family(
                encoder,
                name,
                help,
                unit,
                &workers,
                |(labels, _)| *labels,
                sample,
            )
        };
    per_worker(
        encoder,
        "vigil_runtime_worker_busy",
        "Time the worker has spent running tasks (not parked) since the runtime started.",
        seconds(),
        &|(_, worker)| Some(Sample::CounterF64(counter_seconds(worker.busy))),
    )?;
    per_worker(
        encoder,
        "vigil_runtime_worker_parks",
        "Times the worker parked (went to sleep for lack of work).",
        None,
        &|(_, worker)| Some(Sample::Counter(counter(worker.park_count))),
    )?;
    per_worker(
        encoder,
        "vigil_runtime_worker_park_unparks",
        "Times the worker parked or unparked: odd while it is parked.",
        None,
        &|(_, worker)| Some(Sample::Counter(counter(worker.park_unpark_count))),
    )
}

/// Writes the mailbox families, label `service`, for the names with a mailbox.
pub(super) fn encode_mailbox_families(
    groups: &[ServiceGroupMetrics],
    encoder: &mut DescriptorEncoder<'_>,
) -> fmt::Result {
    let per_mailbox = |encoder: &mut DescriptorEncoder<'_>,
                       name: &str,
                       help: &str,
                       unit: Option<Unit>,
                       sample: &dyn Fn(&MailboxSnapshot) -> Option<Sample>| {
        family(
            encoder,
            name,
            help,
            unit,
            groups,
            |group| [("service", group.name)],
            &|group| sample(&group.mailbox?),
        )
    };
    let c = |value: u64| Some(Sample::Counter(counter(value)));
    per_mailbox(
        encoder,
        "vigil_mailbox_capacity",
        "Messages the service's mailbox holds at most.",
        None,
        &|mailbox| gauge_u64(mailbox.capacity),
    )?;
    per_mailbox(
        encoder,
        "vigil_mailbox_depth",
        "Messages waiting in the service's mailbox now.",
        None,
        &|mailbox| gauge_u64(mailbox.depth),
    )?;
    per_mailbox(
        encoder,
        "vigil_mailbox_oldest_wait",
        "How long the oldest message waiting in the service's mailbox has waited; 0 when none waits.",
        seconds(),
        &|mailbox| Some(Sample::GaugeF64(gauge_seconds(mailbox.oldest_wait))),
    )?;
    per_mailbox(
        encoder,
        "vigil_mailbox_sent",
        "Messages the service's mailbox ever accepted.",
        None,
        &|mailbox| c(mailbox.sent),
    )?;
    per_mailbox(
        encoder,
        "vigil_mailbox_received",
        "Messages the service ever took out of its mailbox.",
        None,
        &|mailbox| c(mailbox.received),
    )?;
    per_mailbox(
        encoder,
        "vigil_mailbox_rejected",
        "Sends (try_send) the service's mailbox refused because it was full.",
        None,
        &|mailbox| c(mailbox.rejected),
    )
}

/// The labels of a worker's series: `runtime` and `worker` (its index in the runtime).
#[derive(Clone, Copy)]
struct WorkerLabels {
    runtime: &'static str,
    worker: u64,
}

impl EncodeLabelSet for WorkerLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> fmt::Result {
        ("runtime", self.runtime).encode(encoder.encode_label())?;
        ("worker", self.worker).encode(encoder.encode_label())
    }
}
