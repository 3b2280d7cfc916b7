//! Mailbox figures in the supervisor's registry: depth, sent and received exact under
//! concurrent senders and across a restart, rejections exact, the oldest wait growing
//! while nothing is received and back to zero once drained.

mod supervisor_fixture;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::Notify;
use tokio::time::sleep;
use vigil_registry::MailboxSnapshot;
use vigil_supervisor::{Backoff, ChildSpec, Restart, ServiceState, Supervisor, WithMailbox};

use supervisor_fixture::{supervisor, MS};

/// The figures of `name`'s mailbox in a snapshot of the supervisor's registry.
fn figures(supervisor: &Supervisor, name: &str) -> Option<MailboxSnapshot> {
    supervisor.registry().metrics().group(name)?.mailbox
}

/// `(depth, sent, received, rejected)`.
fn counts(supervisor: &Supervisor, name: &str) -> (u64, u64, u64, u64) {
    let figures = figures(supervisor, name).expect("the mailbox is watched");
    (
        figures.depth,
        figures.sent,
        figures.received,
        figures.rejected,
    )
}

/// Waits (sleeping 1 ms at a time, at most 10 s) until `name`'s mailbox has received
/// `received` messages.
async fn until_received(supervisor: &Supervisor, name: &str, received: u64) {
    for _ in 0..10_000 {
        if figures(supervisor, name).is_some_and(|figures| figures.received >= received) {
            return;
        }
        sleep(MS).await;
    }
    panic!(
        "{name} never received {received}: {:?}",
        figures(supervisor, name)
    );
}

/// Receives nothing until `gate` is notified, then everything, until asked to stop.
fn gated(name: &'static str, gate: &Arc<Notify>) -> ChildSpec<WithMailbox<u64>> {
    let gate = gate.clone();
    ChildSpec::with_mailbox(name, move |ctx, mut mailbox| {
        let gate = gate.clone();
        async move {
            tokio::select! {
                () = gate.notified() => {}
                () = ctx.shutdown_requested() => return,
            }
            loop {
                tokio::select! {
                    message = mailbox.recv() => if message.is_none() { return },
                    () = ctx.shutdown_requested() => return,
                }
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counts_are_exact_under_concurrent_senders() {
    const SENDERS: u64 = 8;
    const EACH: u64 = 500;
    let supervisor = supervisor();
    let gate = Arc::new(Notify::new());
    let addr = supervisor.start_with_mailbox(gated("sink", &gate), 10_000);
    assert_eq!(
        figures(&supervisor, "sink"),
        Some(MailboxSnapshot::new(10_000, 0, 0, 0, 0, Duration::ZERO))
    );

    let send_all = |addr: vigil_supervisor::Addr<u64>| async move {
        for message in 0..EACH {
            addr.send(message).await.unwrap();
        }
    };
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| tokio::spawn(send_all(addr.clone())))
        .collect();
    for sender in senders {
        sender.await.unwrap();
    }
    let total = SENDERS * EACH;
    assert_eq!(counts(&supervisor, "sink"), (total, total, 0, 0));

    // Now received while more are sent, concurrently.
    gate.notify_one();
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| tokio::spawn(send_all(addr.clone())))
        .collect();
    for sender in senders {
        sender.await.unwrap();
    }
    until_received(&supervisor, "sink", 2 * total).await;
    let drained = figures(&supervisor, "sink").unwrap();
    assert_eq!(
        drained,
        MailboxSnapshot::new(10_000, 0, 2 * total, 2 * total, 0, Duration::ZERO)
    );
    drop(supervisor.stop().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rejections_are_exact_under_concurrent_try_sends() {
    const SENDERS: u64 = 4;
    const EACH: u64 = 1_000;
    const CAPACITY: u64 = 100;
    let supervisor = supervisor();
    let gate = Arc::new(Notify::new());
    let addr = supervisor.start_with_mailbox(gated("full", &gate), CAPACITY as usize);
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let addr = addr.clone();
            tokio::spawn(async move {
                let mut full = 0;
                for message in 0..EACH {
                    match addr.try_send(message) {
                        Ok(()) => {}
                        Err(TrySendError::Full(_)) => full += 1,
                        Err(TrySendError::Closed(_)) => panic!("closed"),
                    }
                    tokio::task::yield_now().await;
                }
                full
            })
        })
        .collect();
    let mut full = 0;
    for sender in senders {
        full += sender.await.unwrap();
    }
    let tried = SENDERS * EACH;
    assert_eq!(full, tried - CAPACITY);
    assert_eq!(
        counts(&supervisor, "full"),
        (CAPACITY, CAPACITY, 0, tried - CAPACITY)
    );
    // `send` waits for room instead: never a rejection.
    gate.notify_one();
    addr.send(7).await.unwrap();
    until_received(&supervisor, "full", CAPACITY + 1).await;
    assert_eq!(
        counts(&supervisor, "full"),
        (0, CAPACITY + 1, CAPACITY + 1, tried - CAPACITY)
    );
    drop(supervisor.stop().await);
}

#[tokio::test(start_paused = true)]
async fn counts_carry_across_a_restart_of_the_receiving_service() {
    let supervisor = supervisor();
    let addr = supervisor.start_with_mailbox(
        ChildSpec::with_mailbox("flaky", |ctx, mut mailbox| async move {
            while let Some(message) = mailbox.recv().await {
                if message == 5 && ctx.restarts() == 0 {
                    return Err(format!("failed on {message}"));
                }
            }
            Ok(())
        })
        .restart(Restart::Permanent)
        .backoff(Backoff::exponential(100 * MS, 100 * MS)),
        64,
    );
    for message in 0..6 {
        addr.send(message).await.unwrap();
    }
    sleep(10 * MS).await; // incarnation 0 took 0..=5 and failed; the restart is due at 100 ms
    assert!(
        matches!(supervisor.states()[0].1, ServiceState::BackingOff { .. }),
        "{:?}",
        supervisor.states()
    );
    assert_eq!(counts(&supervisor, "flaky"), (0, 6, 6, 0));
    for message in 6..10 {
        addr.try_send(message).unwrap(); // while the service is down
    }
    assert_eq!(counts(&supervisor, "flaky"), (4, 10, 6, 0));
    sleep(200 * MS).await; // incarnation 1 received them
    assert_eq!(supervisor.states()[0].1, ServiceState::Running);
    assert_eq!(counts(&supervisor, "flaky"), (0, 10, 10, 0));
    addr.send(10).await.unwrap();
    sleep(MS).await;
    assert_eq!(counts(&supervisor, "flaky"), (0, 11, 11, 0));

    drop(supervisor.stop().await);
    // Stopped for good: its mailbox, and its figures, are gone, though an address remains.
    assert!(addr.is_closed());
    assert_eq!(figures(&supervisor, "flaky"), None);
    assert!(matches!(addr.try_send(11), Err(TrySendError::Closed(11))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oldest_wait_grows_until_the_mailbox_is_drained() {
    let supervisor = supervisor();
    let gate = Arc::new(Notify::new());
    let addr = supervisor.start_with_mailbox(gated("slow", &gate), 8);
    assert_eq!(
        figures(&supervisor, "slow").unwrap().oldest_wait,
        Duration::ZERO
    );
    for message in 0..3 {
        addr.send(message).await.unwrap();
    }
    let first = figures(&supervisor, "slow").unwrap();
    sleep(20 * MS).await;
    let second = figures(&supervisor, "slow").unwrap();
    assert_eq!((first.depth, second.depth), (3, 3));
    assert!(
        second.oldest_wait >= first.oldest_wait + 20 * MS,
        "{first:?} then {second:?}"
    );
    // A message sent later does not make the oldest younger.
    addr.send(3).await.unwrap();
    let third = figures(&supervisor, "slow").unwrap();
    assert!(third.oldest_wait >= second.oldest_wait, "{third:?}");

    gate.notify_one();
    until_received(&supervisor, "slow", 4).await;
    let drained = figures(&supervisor, "slow").unwrap();
    assert_eq!((drained.depth, drained.oldest_wait), (0, Duration::ZERO));
    drop(supervisor.stop().await);
}

#[tokio::test(start_paused = true)]
async fn mailboxes_of_one_name_read_as_one() {
    let supervisor = supervisor();
    let gate = Arc::new(Notify::new());
    let first = supervisor.start_with_mailbox(gated("pool", &gate), 4);
    let second = supervisor.start_with_mailbox(gated("pool", &gate), 6);
    first.try_send(1).unwrap();
    second.try_send(2).unwrap();
    second.try_send(3).unwrap();
    let pool = figures(&supervisor, "pool").unwrap();
    assert_eq!(
        (pool.capacity, pool.depth, pool.sent, pool.received),
        (10, 3, 3, 0)
    );
    drop(supervisor.stop().await);
}
