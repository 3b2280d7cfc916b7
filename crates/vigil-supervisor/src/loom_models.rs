//! Loom models of the mailbox figures' lock-free protocol: send stamps tagged with their
//! lap's parity, and the `sent`/`received` counters a reader orders through the channel.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p vigil-supervisor --lib --release loom`
//! (`.ci/run` bounds them with `LOOM_MAX_PREEMPTIONS`). The figures are the real ones, on
//! loom's atomics, dated by a [`MockClock`] the model sets; the tokio channel they count is
//! modelled by [`Channel`], which keeps the orderings the figures rely on. Each model was
//! checked against deliberate breaks of the code, named in its doc comment: with the break,
//! the model fails.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use loom::thread;
use vigil_monitor::MockClock;

use crate::mailbox_figures::Figures;
use crate::sync::AtomicU64;

/// What the figures rely on in a bounded tokio mpsc channel: a sender takes room (a permit)
/// before it numbers its message and enqueues it with Release; the one receiver dequeues
/// with Acquire and returns the room when it takes a message out, before `Lease::recv`
/// counts it.
struct Channel {
    /// Free room, as the channel's semaphore counts it.
    room: AtomicU64,
    /// Messages enqueued and not taken out.
    queued: AtomicU64,
}

impl Channel {
    fn new(capacity: u64) -> Self {
        Self {
            room: AtomicU64::new(capacity),
            queued: AtomicU64::new(0),
        }
    }

    /// `Addr::try_send`: room or a rejection, then the figures, then the enqueue.
    fn try_send(&self, figures: &Figures<MockClock>) -> bool {
        if !self.try_reserve() {
            figures.on_reject();
            return false;
        }
        figures.on_send();
        // Release: the channel publishes what its sender did before enqueueing.
        self.queued.fetch_add(1, Ordering::Release);
        true
    }

    fn try_reserve(&self) -> bool {
        // Relaxed: only a guess for the compare-exchange below.
        let mut room = self.room.load(Ordering::Relaxed);
        while room > 0 {
            // Acquire: pairs with the receiver's Release when it returns the room.
            match self
                .room
                .compare_exchange(room, room - 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => room = now,
            }
        }
        false
    }

    /// `Lease::recv` without the wait: a message out (its room returned), then counted.
    fn try_recv(&self, figures: &Figures<MockClock>) -> bool {
        // Acquire: pairs with the senders' Release enqueues.
        if self.queued.load(Ordering::Acquire) == 0 {
            return false;
        }
        // Relaxed: the one receiver; the Acquire above ordered the message.
        self.queued.fetch_sub(1, Ordering::Relaxed);
        // Release: the room goes back to the senders.
        self.room.fetch_add(1, Ordering::Release);
        figures.on_receive();
        true
    }
}

/// A sender numbers and stamps the first message of a lap while a reader reads: the reader
/// never dates the head with the slot's previous stamp (the previous lap's, or the slot's
/// initial value on the first lap). The messages before it were sent at clock 0 and
/// received; the head is sent at 1000, so its wait read at 1000 is zero, never 1000. Run
/// for a one-slot ring on its first and second lap, and for a two-slot ring's second lap.
///
/// Caught, each a deliberate break checked on 2026-12-03: the parity check in `wait_of`
/// removed (the reader takes the previous stamp, 0, for the head's: a wait of 1000); slots
/// starting at 0 instead of 1 (the first lap's unstamped head reads as stamped at 0);
/// `lap_parity` taking the number's lowest bit instead of its lap's (caught on the two-slot
/// ring only: on one slot, the lap is the number).
#[test]
fn loom_a_head_numbered_but_not_stamped_never_reads_the_previous_lap() {
    for (capacity, sent_before) in [(1, 0), (1, 1), (2, 2)] {
        loom::model(move || {
            let clock = MockClock::new();
            let figures = Arc::new(Figures::with_clock(capacity, clock.clone()));
            for _ in 0..sent_before {
                figures.on_send();
                figures.on_receive();
            }
            clock.set(1_000);
            let sender = {
                let figures = Arc::clone(&figures);
                thread::spawn(move || figures.on_send())
            };
            let read = figures.read();
            assert_eq!(
                read.oldest_wait,
                Duration::ZERO,
                "ring of {capacity}, message {sent_before} (sent at 1000) dated by the \
                 slot's previous stamp: {read:?}"
            );
            sender.join().unwrap();
            let read = figures.read();
            assert_eq!((read.depth, read.oldest_wait), (1, Duration::ZERO));
        });
    }
}

/// A sender, the receiver and a reader: the reader's raw counters never show more messages
/// received than sent (the `received <= sent` that `read` relies on before its
/// `saturating_sub`).
///
/// Caught, each a deliberate break checked on 2026-12-03: `on_receive`'s store Relaxed
/// instead of Release, and (separately) `received_then_sent`'s load of `received` Relaxed
/// instead of Acquire (either way the reader's `received` carries no order, and its `sent`
/// may be the old 0); the two loads swapped (`sent` read first, then the receive counted).
/// The reader is a spawned thread: with the read on the model's own thread (which spawned
/// the other two), loom did not find the failure for either ordering break.
#[test]
fn loom_a_reader_never_sees_more_received_than_sent() {
    loom::model(|| {
        let figures = Arc::new(Figures::with_clock(1, MockClock::new()));
        let channel = Arc::new(Channel::new(1));
        let sender = {
            let (figures, channel) = (Arc::clone(&figures), Arc::clone(&channel));
            thread::spawn(move || assert!(channel.try_send(&figures)))
        };
        let reader = {
            let figures = Arc::clone(&figures);
            thread::spawn(move || {
                let (received, sent) = figures.received_then_sent();
                assert!(received <= sent, "received {received} > sent {sent}");
            })
        };
        channel.try_recv(&figures);
        sender.join().unwrap();
        reader.join().unwrap();
    });
}

/// Two senders race (`try_send`) while the receiver takes messages out; the second sender
/// then reads. The depth read is within [0, capacity] and the raw counters within order;
/// once all is quiet, every `try_send` was counted exactly once (sent or rejected) and every
/// message sent was received. Run for capacity 1 (a sender can take the room a receive
/// freed before the receive is counted) and capacity 2 (both senders number at once).
///
/// Caught, each a deliberate break checked on 2026-12-03: the clamp to the capacity in
/// `read` removed (capacity 1: depth 2 read); `on_send`'s `fetch_add` made a load and a store
/// (capacity 2: both senders number message 0, so `sent` ends at 1 with 2 received); and
/// the three ordering breaks of the model above (the second sender's raw counters read 1
/// received, 0 sent).
/// Not caught: the same break in `on_reject` (two rejections never race here: with room for
/// one, at most one of two senders is refused).
#[test]
fn loom_racing_senders_keep_the_depth_in_bounds_and_the_counts_exact() {
    for capacity in [1, 2] {
        loom::model(move || {
            let figures = Arc::new(Figures::with_clock(capacity, MockClock::new()));
            let channel = Arc::new(Channel::new(capacity as u64));
            let first = {
                let (figures, channel) = (Arc::clone(&figures), Arc::clone(&channel));
                thread::spawn(move || {
                    channel.try_send(&figures);
                })
            };
            let second = {
                let (figures, channel) = (Arc::clone(&figures), Arc::clone(&channel));
                thread::spawn(move || {
                    channel.try_send(&figures);
                    let (received, sent) = figures.received_then_sent();
                    assert!(received <= sent, "received {received} > sent {sent}");
                    let read = figures.read();
                    assert!(
                        read.depth <= capacity as u64,
                        "capacity {capacity}: {read:?}"
                    );
                })
            };
            channel.try_recv(&figures);
            first.join().unwrap();
            second.join().unwrap();
            while channel.try_recv(&figures) {}
            let read = figures.read();
            assert_eq!(read.sent + read.rejected, 2, "{read:?}");
            assert_eq!(
                (read.received, read.depth, read.oldest_wait),
                (read.sent, 0, Duration::ZERO),
                "{read:?}"
            );
        });
    }
}
