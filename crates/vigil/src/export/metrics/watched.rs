//! The `metrics` series of what the registry watches besides its services: tokio runtimes
//! (`vigil_runtime_*`) and service mailboxes (`vigil_mailbox_*`).

use ::metrics::{counter, describe_counter, describe_gauge, gauge, Label, Unit};

use super::nanos;
use crate::registry::{MailboxSnapshot, RuntimeSnapshot};

const RUNTIME_WORKERS: &str = "vigil_runtime_workers";
const RUNTIME_ALIVE_TASKS: &str = "vigil_runtime_alive_tasks";
const RUNTIME_GLOBAL_QUEUE_DEPTH: &str = "vigil_runtime_global_queue_depth";
const WORKER_BUSY: &str = "vigil_runtime_worker_busy_nanoseconds_total";
const WORKER_PARKS: &str = "vigil_runtime_worker_parks_total";
const WORKER_PARK_UNPARKS: &str = "vigil_runtime_worker_park_unparks_total";

const MAILBOX_CAPACITY: &str = "vigil_mailbox_capacity";
const MAILBOX_DEPTH: &str = "vigil_mailbox_depth";
const MAILBOX_OLDEST_WAIT: &str = "vigil_mailbox_oldest_wait_seconds";
const MAILBOX_SENT: &str = "vigil_mailbox_sent_total";
const MAILBOX_RECEIVED: &str = "vigil_mailbox_received_total";
const MAILBOX_REJECTED: &str = "vigil_mailbox_rejected_total";

/// Registers the units and descriptions of the runtime and mailbox series.
pub(super) fn describe() {
    let counters = [
        (
            WORKER_BUSY,
            Unit::Nanoseconds,
            "Time the worker has spent running tasks (not parked) since the runtime started.",
        ),
        (
            WORKER_PARKS,
            Unit::Count,
            "Times the worker parked (went to sleep for lack of work).",
        ),
        (
            WORKER_PARK_UNPARKS,
            Unit::Count,
            "Times the worker parked or unparked: odd while it is parked.",
        ),
        (
            MAILBOX_SENT,
            Unit::Count,
            "Messages the service's mailbox ever accepted.",
        ),
        (
            MAILBOX_RECEIVED,
            Unit::Count,
            "Messages the service ever took out of its mailbox.",
        ),
        (
            MAILBOX_REJECTED,
            Unit::Count,
            "Sends (try_send) the service's mailbox refused because it was full.",
        ),
    ];
    for (name, unit, help) in counters {
        describe_counter!(name, unit, help);
    }
    let gauges = [
        (
            RUNTIME_WORKERS,
            Unit::Count,
            "Worker threads of the runtime (1 for a current-thread runtime).",
        ),
        (
            RUNTIME_ALIVE_TASKS,
            Unit::Count,
            "Tasks alive on the runtime: spawned and not yet finished, services and everything else.",
        ),
        (
            RUNTIME_GLOBAL_QUEUE_DEPTH,
            Unit::Count,
            "Tasks waiting in the runtime's global (injection) queue for a worker.",
        ),
        (
            MAILBOX_CAPACITY,
            Unit::Count,
            "Messages the service's mailbox holds at most.",
        ),
        (
            MAILBOX_DEPTH,
            Unit::Count,
            "Messages waiting in the service's mailbox now.",
        ),
        (
            MAILBOX_OLDEST_WAIT,
            Unit::Seconds,
            "How long the oldest message waiting in the service's mailbox has waited; 0 when none waits.",
        ),
    ];
    for (name, unit, help) in gauges {
        describe_gauge!(name, unit, help);
    }
}

/// Publishes one runtime's series: label `runtime`, and `worker` (its index) per worker.
pub(super) fn publish_runtime(runtime: &RuntimeSnapshot) {
    let labels = [Label::new("runtime", runtime.name)];
    gauge!(RUNTIME_WORKERS, labels.iter()).set(runtime.workers.len() as f64);
    gauge!(RUNTIME_ALIVE_TASKS, labels.iter()).set(runtime.alive_tasks as f64);
    gauge!(RUNTIME_GLOBAL_QUEUE_DEPTH, labels.iter()).set(runtime.global_queue_depth as f64);
    for (index, worker) in runtime.workers.iter().enumerate() {
        let labels = [
            Label::new("runtime", runtime.name),
            Label::new("worker", index.to_string()),
        ];
        counter!(WORKER_BUSY, labels.iter()).absolute(nanos(worker.busy));
        counter!(WORKER_PARKS, labels.iter()).absolute(worker.park_count);
        counter!(WORKER_PARK_UNPARKS, labels.iter()).absolute(worker.park_unpark_count);
    }
}

/// Publishes the series of the mailbox of the service name `service`.
pub(super) fn publish_mailbox(service: &'static str, mailbox: &MailboxSnapshot) {
    let labels = [Label::new("service", service)];
    gauge!(MAILBOX_CAPACITY, labels.iter()).set(mailbox.capacity as f64);
    gauge!(MAILBOX_DEPTH, labels.iter()).set(mailbox.depth as f64);
    gauge!(MAILBOX_OLDEST_WAIT, labels.iter()).set(mailbox.oldest_wait.as_secs_f64());
    counter!(MAILBOX_SENT, labels.iter()).absolute(mailbox.sent);
    counter!(MAILBOX_RECEIVED, labels.iter()).absolute(mailbox.received);
    counter!(MAILBOX_REJECTED, labels.iter()).absolute(mailbox.rejected);
}
