//! A mailbox's figures: sent, received and rejected counts, and a ring of send stamps that
//! dates the oldest waiting message.

use std::sync::atomic::Ordering;
use std::time::Duration;

use vigil_monitor::{Clock, DefaultClock, Ticks};
use vigil_registry::MailboxSnapshot;

use crate::sync::AtomicU64;

/// The most send stamps a mailbox keeps (512 KiB of them): past this capacity, the oldest
/// wait is a lower bound.
pub(crate) const MAX_STAMPS: usize = 1 << 16;

/// The figures of one mailbox, shared by its [`Addr`](crate::Addr)s (which count what is
/// sent and rejected), and its receiver's home and leases (which count what is received).
///
/// # Layout
///
/// Message number `n` (numbered in the order senders got room for it, from 0) stores its
/// send time in `stamps[n % stamps.len()]`; the next message to be received is number
/// `received`, so the oldest wait is `now - stamps[received % len]`. A sender numbers its
/// message only after the channel gave it room (a permit), and at most `capacity` messages
/// hold room at once, so with `stamps.len() >= capacity` a stamp is overwritten only once
/// its message was received.
///
/// The lowest bit of a stamp is the parity of its lap (`n / stamps.len()`), the rest the
/// clock reading (one tick of precision lost): a reader that finds the previous lap's
/// parity in the head's slot knows the head's sender has numbered it but not stamped it
/// yet, i.e. it was sent just now, and reads a wait of zero instead of the previous lap's
/// (possibly hours old) stamp.
///
/// # Memory ordering
///
/// A sender increments `sent` before it enqueues; the channel's release (enqueue) and
/// acquire (receive) order that before the receiver's release store of `received`, which
/// a reader loads with acquire before loading `sent`: the reader's `sent` is at least its
/// `received`. Stamps need no ordering: each carries its lap's parity in the same word.
/// The loom models in `loom_models.rs` check both arguments (`RUSTFLAGS="--cfg loom"`).
///
/// # Guarantees
///
/// `sent`, `received` and `rejected` are exact once the senders and the receiver are
/// quiet. The reader's errors, all confined to reads racing with sends:
///
/// - the depth counts messages whose sender has room but has not enqueued them yet, and
///   is clamped to the capacity (a sender may take the room a receive freed before the
///   receive is counted);
/// - two senders racing may enqueue their messages in the opposite order to their numbers:
///   the head's wait is then read from the other one's stamp;
/// - a mailbox whose capacity exceeds [`MAX_STAMPS`] shares stamp slots between waiting
///   messages: a deep queue's oldest wait may be read from a newer message's stamp (a
///   lower bound) or, racing with the sender that is stamping the slot, an older lap's.
///
/// The clock is a type parameter only so that the models can drive time; mailboxes use
/// [`DefaultClock`].
pub(crate) struct Figures<C = DefaultClock> {
    /// Messages numbered by senders (room taken), written by every sender.
    sent: Padded<AtomicU64>,
    /// Messages taken out, written by the one receiver.
    received: Padded<AtomicU64>,
    /// `try_send` calls refused for lack of room.
    rejected: AtomicU64,
    capacity: u64,
    /// `stamps.len() - 1`; the length is a power of two.
    slot_mask: u64,
    /// `log2(stamps.len())`: a number shifted right by it is its lap.
    lap_shift: u32,
    stamps: Box<[AtomicU64]>,
    clock: C,
}

/// Keeps the senders' counter and the receiver's off each other's cache line.
#[repr(align(128))]
struct Padded<T>(T);

impl Figures {
    /// The figures of a new mailbox of `capacity` messages (at least 1).
    pub(crate) fn new(capacity: usize) -> Self {
        Self::with_clock(capacity, DefaultClock::new())
    }
}

impl<C: Clock> Figures<C> {
    /// The figures of a new mailbox of `capacity` messages (at least 1), dated by `clock`.
    pub(crate) fn with_clock(capacity: usize, clock: C) -> Self {
        let len = capacity.clamp(1, MAX_STAMPS).next_power_of_two();
        // Lap 0's parity is 0: slots start with parity 1, so an unstamped one reads stale.
        let stamps = (0..len).map(|_| AtomicU64::new(1)).collect();
        Self {
            sent: Padded(AtomicU64::new(0)),
            received: Padded(AtomicU64::new(0)),
            rejected: AtomicU64::new(0),
            capacity: capacity as u64,
            slot_mask: len as u64 - 1,
            lap_shift: len.trailing_zeros(),
            stamps,
            clock,
        }
    }

    /// Numbers and stamps a message the channel has given room to; call just before
    /// enqueueing it.
    #[inline]
    pub(crate) fn on_send(&self) {
        // Relaxed: picks a slot; `read` gets its order from the channel and `received`.
        let number = self.sent.0.fetch_add(1, Ordering::Relaxed);
        let stamp = (self.clock.now() & !1) | self.lap_parity(number);
        // Relaxed: stamp and parity are one word; a reader that sees an old one says so.
        self.stamps[(number & self.slot_mask) as usize].store(stamp, Ordering::Relaxed);
    }

    /// Counts a message taken out of the channel. Only the receiver's holder calls it.
    #[inline]
    pub(crate) fn on_receive(&self) {
        // Relaxed: sole writer; the previous holder's store came with the receiver's lock.
        let received = self.received.0.load(Ordering::Relaxed);
        // Release: publishes the `sent` increments of every message received so far.
        self.received.0.store(received + 1, Ordering::Release);
    }

    /// Counts a `try_send` refused because the mailbox was full.
    #[inline]
    pub(crate) fn on_reject(&self) {
        // Relaxed: a counter read on its own.
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// The figures now; see [`Figures`] for their errors while sends race with the read.
    pub(crate) fn read(&self) -> MailboxSnapshot {
        let (received, sent) = self.received_then_sent();
        // Relaxed: a counter read on its own.
        let rejected = self.rejected.load(Ordering::Relaxed);
        let depth = sent.saturating_sub(received).min(self.capacity);
        let oldest_wait = if depth == 0 {
            Duration::ZERO
        } else {
            self.wait_of(received)
        };
        MailboxSnapshot::new(self.capacity, depth, sent, received, rejected, oldest_wait)
    }

    /// The raw `received` and `sent` counters, read in that order so that `received <= sent`.
    #[inline]
    pub(crate) fn received_then_sent(&self) -> (u64, u64) {
        // Acquire: pairs with `on_receive`'s release, so `sent` below is at least this.
        let received = self.received.0.load(Ordering::Acquire);
        // Relaxed: ordered after the increments `received` accounts for (see above).
        let sent = self.sent.0.load(Ordering::Relaxed);
        (received, sent)
    }

    /// How long message `number`, waiting, has waited.
    fn wait_of(&self, number: u64) -> Duration {
        // Relaxed: the slot's own parity says whether it holds this lap's stamp.
        let stamp = self.stamps[(number & self.slot_mask) as usize].load(Ordering::Relaxed);
        let stamped = stamp & 1 == self.lap_parity(number);
        if !stamped && self.capacity <= self.slot_mask + 1 {
            // Numbered, not stamped yet: its sender is sending it right now.
            return Duration::ZERO;
        }
        let waited: Ticks = self.clock.now().saturating_sub(stamp & !1);
        self.clock.ticks_to_duration(waited)
    }

    #[inline]
    fn lap_parity(&self, number: u64) -> u64 {
        (number >> self.lap_shift) & 1
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn counts_and_dates_the_head() {
        let figures = Figures::new(3);
        assert_eq!(
            figures.read(),
            MailboxSnapshot::new(3, 0, 0, 0, 0, Duration::ZERO)
        );
        figures.on_send();
        figures.on_send();
        figures.on_reject();
        std::thread::sleep(Duration::from_millis(2));
        let read = figures.read();
        assert_eq!(
            (read.depth, read.sent, read.received, read.rejected),
            (2, 2, 0, 1)
        );
        assert!(read.oldest_wait >= Duration::from_millis(1), "{read:?}");
        figures.on_receive();
        figures.on_receive();
        assert_eq!(
            figures.read(),
            MailboxSnapshot::new(3, 0, 2, 2, 1, Duration::ZERO)
        );
    }

    #[test]
    fn laps_around_the_ring() {
        // Capacity 3: a ring of 4 slots; 10 messages lap it twice.
        let figures = Figures::new(3);
        for _ in 0..10 {
            figures.on_send();
            let read = figures.read();
            assert_eq!(read.depth, 1);
            assert!(read.oldest_wait < Duration::from_secs(1), "{read:?}");
            figures.on_receive();
        }
        assert_eq!(figures.read().sent, 10);
    }

    #[test]
    fn a_numbered_but_unstamped_head_reads_zero_not_a_stale_lap() {
        let figures = Figures::new(2);
        // Message 0 and 1 through; message 2 (lap 1, slot 0) numbered but not stamped:
        // slot 0 still holds message 0's stamp, of lap 0.
        figures.on_send();
        figures.on_send();
        figures.on_receive();
        figures.on_receive();
        std::thread::sleep(Duration::from_millis(2));
        figures.sent.0.fetch_add(1, Ordering::Relaxed);
        let read = figures.read();
        assert_eq!((read.depth, read.oldest_wait), (1, Duration::ZERO));
    }

    #[test]
    fn the_ring_is_a_power_of_two_capped() {
        for (capacity, len) in [(1, 1), (3, 4), (64, 64), (100_000, MAX_STAMPS)] {
            let figures = Figures::new(capacity);
            assert_eq!(figures.stamps.len(), len, "capacity {capacity}");
            assert_eq!(1 << figures.lap_shift, len);
        }
    }
}
