//! The built-in monitors attached through factories report into snapshots, aggregates and deltas.

use std::time::Duration;

use tokio::sync::mpsc;
use vigil_monitor::MockClock;
use vigil_registry::{PollHistograms, Registry, Scheduling, ServiceObj, SlowPolls};

/// A service that, for each message, "works" for that many microseconds of mock time inside
/// one poll, and acknowledges it.
async fn worker(
    clock: MockClock,
    mut work: mpsc::UnboundedReceiver<u64>,
    done: mpsc::UnboundedSender<()>,
) {
    while let Some(micros) = work.recv().await {
        clock.advance(Duration::from_micros(micros));
        done.send(()).unwrap();
    }
}

#[test]
fn attached_monitors_report_aggregate_and_difference() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let clock = MockClock::new();
    let registry = Registry::builder()
        .clock(clock.clone())
        .monitor((
            SlowPolls::with_threshold(Duration::from_micros(100)),
            PollHistograms,
            Scheduling,
        ))
        .build();

    let mut inputs = Vec::new();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    for _ in 0..2 {
        let (tx, rx) = mpsc::unbounded_channel();
        registry.start_in(
            runtime.handle(),
            ServiceObj::new("worker", worker(clock.clone(), rx, done_tx.clone())),
        );
        inputs.push(tx);
    }
    // Run both services to their first wait.
    runtime.block_on(tokio::task::yield_now());

    let before = registry.metrics();
    for (_, metrics) in &before {
        let slow = metrics.slow_polls.expect("SlowPolls attached");
        assert_eq!(slow.slow_poll_count, 0);
        assert_eq!(slow.threshold, Duration::from_micros(100));
        assert_eq!(
            metrics
                .poll_histogram
                .expect("PollHistograms attached")
                .count(),
            1
        );
        assert!(metrics.scheduling.is_some(), "Scheduling attached");
    }

    // Instance 0: one slow poll (300 µs) and one fast (50 µs); instance 1: one fast (20 µs).
    let jobs: [(usize, u64); 3] = [(0, 300), (0, 50), (1, 20)];
    for (instance, micros) in jobs {
        inputs[instance].send(micros).unwrap();
        runtime.block_on(done_rx.recv()).unwrap();
    }
    runtime.block_on(tokio::task::yield_now());

    let after = registry.metrics();
    let per_instance: Vec<_> = after.iter().map(|(_, m)| m).collect();
    let slow0 = per_instance[0].slow_polls.unwrap();
    assert_eq!(slow0.slow_poll_count, 1);
    assert_eq!(slow0.total_slow_poll_duration, Duration::from_micros(300));
    let slow1 = per_instance[1].slow_polls.unwrap();
    assert_eq!(slow1.slow_poll_count, 0);
    for metrics in &per_instance {
        let histogram = metrics.poll_histogram.unwrap();
        assert_eq!(histogram.count(), metrics.poll_count);
        assert_eq!(
            metrics.scheduling.unwrap().scheduled_count + 1,
            metrics.poll_count
        );
    }
    assert_eq!(
        per_instance[0].poll_histogram.unwrap().max,
        Duration::from_micros(300)
    );

    // The per-name aggregate sums slow polls and merges histograms bucket-wise.
    let group = after.group("worker").unwrap();
    let merged = group.poll_histogram.unwrap();
    assert_eq!(merged.count(), group.poll_count);
    for bucket in 0..merged.buckets.len() {
        let sum: u64 = per_instance
            .iter()
            .map(|m| m.poll_histogram.unwrap().buckets[bucket])
            .sum();
        assert_eq!(merged.buckets[bucket], sum);
    }
    assert_eq!(group.slow_polls.unwrap().slow_poll_count, 1);
    assert_eq!(merged.max, Duration::from_micros(300));

    // The delta holds only the interval's polls.
    let delta = after.delta_since(&before);
    let deltas: Vec<_> = delta.iter().map(|(_, d)| d).collect();
    assert!(deltas.iter().all(|d| !d.started_within));
    assert_eq!(
        deltas[0].poll_histogram.unwrap().count(),
        deltas[0].poll_count
    );
    assert_eq!(deltas[0].slow_polls.unwrap().slow_poll_count, 1);
    assert_eq!(
        deltas[1].slow_polls.unwrap().fast_poll_count,
        deltas[1].poll_count
    );
    assert_eq!(
        deltas[0].busy_duration,
        Duration::from_micros(350),
        "busy time inside the interval is exactly the mock work"
    );
    drop(inputs);
}

#[test]
fn without_factories_snapshots_carry_no_reports() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let registry = Registry::new();
    registry.start_in(
        runtime.handle(),
        ServiceObj::new("plain", std::future::pending()),
    );
    runtime.block_on(tokio::task::yield_now());
    let (_, metrics) = registry.metrics().iter().next().unwrap();
    assert!(metrics.slow_polls.is_none());
    assert!(metrics.poll_histogram.is_none());
    assert!(metrics.scheduling.is_none());
}
