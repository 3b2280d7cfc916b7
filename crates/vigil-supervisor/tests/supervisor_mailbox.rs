//! Mailboxes survive restarts: messages sent before, during and after a panic-restart all
//! arrive, except the one the failed incarnation had taken.

mod supervisor_fixture;

use std::time::Duration;

use tokio::time::sleep;
use vigil_supervisor::{Backoff, ChildSpec, Exit, WithMailbox};

use supervisor_fixture::{endings, exits, supervisor, Log, MS};

/// Receives numbers into `received` (with the receiving incarnation); the first incarnation
/// panics on `poison`. Ends when asked to stop.
fn consumer(received: &Log<(u32, u64)>, poison: u32) -> ChildSpec<WithMailbox<u32>> {
    let received = received.clone();
    ChildSpec::with_mailbox("consumer", move |ctx, mut mailbox| {
        let received = received.clone();
        async move {
            loop {
                tokio::select! {
                    message = mailbox.recv() => {
                        let Some(message) = message else { return };
                        if message == poison && ctx.restarts() == 0 {
                            panic!("poisoned by {message}");
                        }
                        received.push((message, ctx.id().instance_id()));
                    }
                    () = ctx.shutdown_requested() => return,
                }
            }
        }
    })
    .backoff(Backoff::exponential(100 * MS, 100 * MS))
}

#[tokio::test(start_paused = true)]
async fn messages_before_during_and_after_a_restart_all_arrive_but_the_fatal_one() {
    let supervisor = supervisor();
    let received = Log::new();
    let addr = supervisor.start_with_mailbox(consumer(&received, 5), 64);

    for message in 0..5 {
        addr.send(message).await.unwrap(); // before
    }
    addr.send(5).await.unwrap(); // taken by incarnation 0, which panics
    sleep(10 * MS).await; // incarnation 0 is gone; the restart is due at 100 ms
    for message in 6..10 {
        addr.try_send(message).unwrap(); // during the backoff
    }
    sleep(200 * MS).await;
    for message in 10..15 {
        addr.send(message).await.unwrap(); // after
    }
    sleep(MS).await;
    let report = supervisor.stop().await;

    let got: Vec<u32> = received
        .items()
        .iter()
        .map(|&(message, _)| message)
        .collect();
    let expected: Vec<u32> = (0..15).filter(|&message| message != 5).collect();
    assert_eq!(got, expected);
    let by: Vec<u64> = received
        .items()
        .iter()
        .map(|&(_, instance)| instance)
        .collect();
    assert_eq!(by, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    assert_eq!(
        exits(&report),
        [Exit::Panicked("poisoned by 5".into()), Exit::Completed]
    );
    // The service stopped for good: its mailbox is gone.
    assert!(addr.is_closed());
    assert!(addr.send(99).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_lease_moved_into_a_task_comes_back_when_that_task_ends() {
    let supervisor = supervisor();
    let received = Log::new();
    let log = received.clone();
    let addr = supervisor.start_with_mailbox(
        ChildSpec::with_mailbox("mover", move |ctx, mut mailbox| {
            let log = log.clone();
            async move {
                if ctx.restarts() == 0 {
                    // The lease outlives this incarnation by 50 ms, inside another task.
                    tokio::spawn(async move {
                        sleep(50 * MS).await;
                        drop(mailbox);
                    });
                    return Err("moved away");
                }
                while let Some(message) = mailbox.recv().await {
                    log.push(message);
                }
                Ok(())
            }
        })
        .backoff(Backoff::none()),
        8,
    );
    addr.send(1).await.unwrap();
    sleep(10 * MS).await;
    assert!(received.items().is_empty(), "the lease is still away");
    sleep(100 * MS).await;
    assert_eq!(received.items(), [1]);
    drop(addr);
    // Every address dropped: `recv` returns `None` and the service completes.
    let report = supervisor.wait().await;
    assert_eq!(endings(&report), ["mover#0 failed", "mover#1 completed"]);
}

#[tokio::test(start_paused = true)]
async fn addresses_are_clones_of_one_mailbox() {
    let supervisor = supervisor();
    let received = Log::new();
    let addr = supervisor.start_with_mailbox(consumer(&received, u32::MAX), 1);
    let other = addr.clone();
    addr.send(1).await.unwrap();
    other.send(2).await.unwrap();
    sleep(Duration::from_millis(1)).await;
    supervisor.stop().await;
    assert_eq!(received.items(), [(1, 0), (2, 0)]);
}
