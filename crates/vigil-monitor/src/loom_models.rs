//! Loom models of the sequence lock every built-in monitor publishes its figures through.
//!
//! The models read two protected fields, not a whole `RawMetrics`: loom enumerates every
//! value each Relaxed load may return, jointly, and a full sample is fourteen of them (a
//! model of one `BusyMonitor` poll, a slot reuse and one concurrent sample ran past 200 s
//! even at one preemption). The lock's guarantee does not depend on how many fields it
//! guards: a reading is accepted only if no update overlapped it, which two fields show.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p vigil-monitor --release loom` (`.ci/run`
//! bounds them with `LOOM_MAX_PREEMPTIONS`). Each model was checked against a deliberate
//! break of the code, named in its doc comment: with the break, the model fails.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use loom::thread;

use crate::seqlock::{SeqLock, SeqWriter};
use crate::sync::AtomicU64;

/// Two fields that every update sets to the same value: a reading with `a != b` is torn.
#[derive(Default)]
struct Pair {
    lock: SeqLock,
    a: AtomicU64,
    b: AtomicU64,
}

impl Pair {
    fn write(&self, writer: &mut SeqWriter, value: u64) {
        writer.write(&self.lock, || {
            // Relaxed: what the sequence lock publishes.
            self.a.store(value, Ordering::Relaxed);
            self.b.store(value, Ordering::Relaxed);
        });
    }

    /// A reading the lock accepted, checked whole.
    fn read(&self) -> u64 {
        let (a, b) = self.lock.read(|| {
            // Relaxed: validated by the sequence lock.
            (
                self.a.load(Ordering::Relaxed),
                self.b.load(Ordering::Relaxed),
            )
        });
        assert_eq!(a, b, "the sequence lock accepted a torn reading");
        a
    }
}

/// A reader never accepts a reading that mixes two updates, and never goes back in time.
///
/// Caught, each a deliberate break checked on 2026-12-03: the Release fence in
/// `SeqWriter::begin` removed (a reader sees a new `a` without the odd sequence number and
/// accepts it with an old `b`); the Acquire fence in `SeqLock::read` removed (the re-check
/// may be satisfied before the data loads).
#[test]
fn loom_seqlock_readers_never_accept_a_torn_update() {
    loom::model(|| {
        let pair = Arc::new(Pair::default());
        let writer = {
            let pair = Arc::clone(&pair);
            thread::spawn(move || {
                let mut writer = SeqWriter::default();
                pair.write(&mut writer, 1);
                pair.write(&mut writer, 2);
            })
        };
        let first = pair.read();
        let second = pair.read();
        assert!(second >= first, "went back from {first} to {second}");
        writer.join().unwrap();
        assert_eq!(pair.read(), 2);
    });
}

/// A writer that takes over from a finished one (a slot reused for the next instance)
/// continues the sequence, so a reader that overlaps the hand-over still sees it. (The
/// hand-over is program order here; in the registry it is the lifecycle's Release store
/// read by the sweep, then the name's lock: a model with a third thread waiting for it
/// explored the same reader interleavings, at many times the cost.)
///
/// Caught: `SeqWriter::resume` replaced by `SeqWriter::default()` (the new writer counts
/// from 0 again: its first update ends on the very number a reader saw before it began, and
/// the reader accepts an old `a` with a new `b`).
#[test]
fn loom_seqlock_hand_over_keeps_readers_whole() {
    loom::model(|| {
        let pair = Arc::new(Pair::default());
        let writers = {
            let pair = Arc::clone(&pair);
            thread::spawn(move || {
                let mut first = SeqWriter::default();
                pair.write(&mut first, 1);
                let mut second = SeqWriter::resume(&pair.lock);
                pair.write(&mut second, 3);
            })
        };
        pair.read();
        writers.join().unwrap();
        assert_eq!(pair.read(), 3);
    });
}
