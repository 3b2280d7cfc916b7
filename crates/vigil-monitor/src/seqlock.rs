//! A single-writer sequence lock over atomics, shared by the built-in monitors.

use std::sync::atomic::Ordering;

use crate::sync::{fence, AtomicU64};

/// The shared half: a sequence number, odd while the writer is inside an update.
///
/// Every protected field is itself an atomic, so a reader that overlaps an update reads no
/// undefined values, only a mix of two edges; the sequence number detects that and the reader
/// retries. The writer never waits.
#[derive(Debug, Default)]
pub(crate) struct SeqLock {
    seq: AtomicU64,
}

/// The writer's half: its private copy of the sequence number (no load of shared memory).
#[derive(Debug, Default)]
pub(crate) struct SeqWriter {
    seq: u64,
}

impl SeqWriter {
    /// The writer of `lock` after an earlier writer, which must never write again: continues
    /// from its sequence number, so a reader that overlaps the hand-over still sees the
    /// number change.
    pub(crate) fn resume(lock: &SeqLock) -> Self {
        // Relaxed: the previous writer's stores were published to this thread by whatever
        // handed the lock over (its final Release store, Acquired by the new owner).
        let seq = lock.seq.load(Ordering::Relaxed);
        Self {
            seq: seq + (seq & 1),
        }
    }

    /// Runs `write` (Relaxed stores to the fields `lock` protects) as one update.
    #[inline]
    pub(crate) fn write(&mut self, lock: &SeqLock, write: impl FnOnce()) {
        self.begin(lock);
        write();
        self.end(lock);
    }

    /// Opens an update: Relaxed stores to the protected fields may follow, until
    /// [`end`](SeqWriter::end). For writers whose stores need `&mut` access to their own
    /// state in between; prefer [`write`](SeqWriter::write).
    #[inline]
    pub(crate) fn begin(&mut self, lock: &SeqLock) {
        self.seq += 1;
        // Relaxed, then a Release fence: the fence orders this odd `seq` before the data
        // stores that follow for any reader that observes one of them.
        lock.seq.store(self.seq, Ordering::Relaxed);
        fence(Ordering::Release);
    }

    /// Closes the update opened by [`begin`](SeqWriter::begin).
    #[inline]
    pub(crate) fn end(&mut self, lock: &SeqLock) {
        self.seq += 1;
        // Release: publishes the data stores to readers that Acquire this even `seq`.
        lock.seq.store(self.seq, Ordering::Release);
    }
}

impl SeqLock {
    /// Runs `read` (Relaxed loads of the protected fields) until it did not overlap an
    /// update, and returns that reading.
    pub(crate) fn read<T>(&self, mut read: impl FnMut() -> T) -> T {
        let mut spins = 0_u32;
        loop {
            // Acquire: pairs with the writer's final Release store, so the loads in `read`
            // see at least that update's stores.
            let before = self.seq.load(Ordering::Acquire);
            if before & 1 == 0 {
                let value = read();
                // Acquire fence: keeps the Relaxed loads in `read` before the re-check below.
                fence(Ordering::Acquire);
                // Relaxed: ordered by the fence above.
                if self.seq.load(Ordering::Relaxed) == before {
                    return value;
                }
            }
            // The writer holds the lock for a handful of stores; only a preempted writer keeps
            // it longer, so back off to the scheduler after a short spin.
            spins += 1;
            crate::sync::wait(spins);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_resumed_writer_continues_the_sequence_so_readers_notice_it() {
        let lock = SeqLock::default();
        let mut first = SeqWriter::default();
        first.write(&lock, || {});
        first.write(&lock, || {});
        let handed_over = lock.seq.load(Ordering::Relaxed);
        let mut second = SeqWriter::resume(&lock);
        second.begin(&lock);
        let inside = lock.seq.load(Ordering::Relaxed);
        assert!(
            inside > handed_over && inside % 2 == 1,
            "{handed_over} -> {inside}"
        );
        second.end(&lock);
        assert!(lock.seq.load(Ordering::Relaxed) > inside);
    }

    #[test]
    fn readers_never_see_a_torn_pair() {
        #[derive(Default)]
        struct Pair {
            lock: SeqLock,
            a: AtomicU64,
            b: AtomicU64,
        }
        let pair = Arc::new(Pair::default());
        let writer_pair = Arc::clone(&pair);
        let writer = std::thread::spawn(move || {
            let mut writer = SeqWriter::default();
            for value in 1..=100_000_u64 {
                writer.write(&writer_pair.lock, || {
                    writer_pair.a.store(value, Ordering::Relaxed);
                    writer_pair.b.store(value * 2, Ordering::Relaxed);
                });
            }
        });
        let mut last = 0;
        while last < 100_000 {
            let (a, b) = pair.lock.read(|| {
                (
                    pair.a.load(Ordering::Relaxed),
                    pair.b.load(Ordering::Relaxed),
                )
            });
            assert_eq!(b, a * 2, "torn read");
            assert!(a >= last, "went backwards");
            last = a;
        }
        writer.join().unwrap();
    }
}
