//! Mailboxes: tokio's bounded mpsc alone against vigil's `Addr` and `Mailbox`, which count
//! every message and stamp its send time for the mailbox figures.
//!
//! Group `mailbox` (keep the ids stable for `cargo xtask bench`), all on the bench thread
//! inside one `block_on` of a two-worker runtime with time enabled; both channels have a
//! capacity of 1,024 and carry `u64`s.
//!
//! - `mailbox/{tokio,vigil}_send_recv`: one iteration sends one message into the empty
//!   mailbox with `send(..).await` and receives it with `recv().await`.
//! - `mailbox/{tokio,vigil}_try_send_recv`: the same with `try_send`.
//! - `mailbox/{tokio,vigil}_burst`: 64 `try_send`, then 64 `recv().await` (a queue 64
//!   deep): divide by 64 for one message.
//!
//! vigil's `Addr` and `Mailbox` come from a real supervisor: a service started with
//! `start_with_mailbox` hands its lease to the bench and waits for the shutdown, so the
//! bench receives where the service would (the lease and its figures are the service's).

use std::hint::black_box;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};
use vigil_benches::ids::mailbox as ids;
use vigil_benches::runtime_with_time;
use vigil_supervisor::{Addr, ChildSpec, Mailbox, Supervisor};

fn main() {
    let mut criterion = vigil_benches::criterion();
    let runtime = runtime_with_time();
    let supervisor = Supervisor::builder().build(runtime.handle());
    let (addr, mut mailbox) = runtime.block_on(leased(&supervisor));
    let (sender, mut receiver) = mpsc::channel::<u64>(ids::CAPACITY);

    let mut group = criterion.benchmark_group(ids::GROUP);
    group.bench_function(ids::TOKIO_SEND_RECV, |b| {
        b.iter_custom(|iters| {
            timed(&runtime, async {
                for message in 0..iters {
                    sender.send(black_box(message)).await.unwrap();
                    black_box(receiver.recv().await);
                }
            })
        })
    });
    group.bench_function(ids::VIGIL_SEND_RECV, |b| {
        b.iter_custom(|iters| {
            timed(&runtime, async {
                for message in 0..iters {
                    addr.send(black_box(message)).await.unwrap();
                    black_box(mailbox.recv().await);
                }
            })
        })
    });
    group.bench_function(ids::TOKIO_TRY_SEND_RECV, |b| {
        b.iter_custom(|iters| {
            timed(&runtime, async {
                for message in 0..iters {
                    sender.try_send(black_box(message)).unwrap();
                    black_box(receiver.recv().await);
                }
            })
        })
    });
    group.bench_function(ids::VIGIL_TRY_SEND_RECV, |b| {
        b.iter_custom(|iters| {
            timed(&runtime, async {
                for message in 0..iters {
                    addr.try_send(black_box(message)).unwrap();
                    black_box(mailbox.recv().await);
                }
            })
        })
    });
    group.bench_function(ids::TOKIO_BURST, |b| {
        b.iter_custom(|iters| {
            timed(&runtime, async {
                for _ in 0..iters {
                    for message in 0..ids::BURST {
                        sender.try_send(black_box(message)).unwrap();
                    }
                    for _ in 0..ids::BURST {
                        black_box(receiver.recv().await);
                    }
                }
            })
        })
    });
    group.bench_function(ids::VIGIL_BURST, |b| {
        b.iter_custom(|iters| {
            timed(&runtime, async {
                for _ in 0..iters {
                    for message in 0..ids::BURST {
                        addr.try_send(black_box(message)).unwrap();
                    }
                    for _ in 0..ids::BURST {
                        black_box(mailbox.recv().await);
                    }
                }
            })
        })
    });
    group.finish();

    drop(mailbox);
    drop(runtime.block_on(supervisor.stop()));
    criterion.final_summary();
}

/// Runs `work` to completion on the bench thread; its wall time.
fn timed(runtime: &Runtime, work: impl std::future::Future<Output = ()>) -> Duration {
    runtime.block_on(async {
        let started = Instant::now();
        work.await;
        started.elapsed()
    })
}

/// The address of a supervised service's mailbox and the service's lease on it: the
/// service hands its lease over and waits for the shutdown.
async fn leased(supervisor: &Supervisor) -> (Addr<u64>, Mailbox<u64>) {
    let (lease_tx, lease_rx) = oneshot::channel();
    let mut lease_tx = Some(lease_tx);
    let addr = supervisor.start_with_mailbox(
        ChildSpec::with_mailbox("mailbox_bench", move |ctx, mailbox| {
            let lease_tx = lease_tx.take();
            async move {
                if let Some(lease_tx) = lease_tx {
                    let _ = lease_tx.send(mailbox);
                }
                ctx.shutdown_requested().await;
            }
        }),
        ids::CAPACITY,
    );
    let mailbox = lease_rx.await.expect("the service hands its lease over");
    (addr, mailbox)
}
