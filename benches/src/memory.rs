//! Cache eviction and the sequential-read floor, for the cold and floor snapshot benchmarks.

use std::hint::black_box;

/// Bytes [`CacheEvictor::new`] is usually given: twice the 32 MiB last-level cache of the
/// reference VM (an AMD EPYC with 1 MiB of L2 per core).
pub const EVICTION_BYTES: usize = 64 << 20;

/// Evicts the data caches (and most TLB entries) by writing, then reading, a buffer well
/// above the last-level cache.
///
/// Exists so a benchmark can time a call on cold memory: evict (untimed), then time the
/// call. Eviction costs milliseconds, so time only the call (`iter_custom`).
///
/// # Guarantees
///
/// Every byte of the buffer is written with a value that depends on the round (so the
/// stores cannot be elided or turned into a `memset`, which could use stores that bypass
/// the caches) and read back through [`black_box`].
#[derive(Debug)]
pub struct CacheEvictor {
    buffer: Vec<u64>,
    round: u64,
}

impl CacheEvictor {
    /// An evictor of `bytes` bytes (rounded down to whole `u64`s); its pages are touched
    /// once here, so the first eviction pays no page faults.
    pub fn new(bytes: usize) -> Self {
        let mut evictor = Self {
            buffer: vec![0; bytes / size_of::<u64>()],
            round: 0,
        };
        evictor.evict();
        evictor
    }

    /// Writes and then reads the whole buffer.
    pub fn evict(&mut self) {
        self.round = self.round.wrapping_add(1);
        let round = black_box(self.round);
        for (index, word) in self.buffer.iter_mut().enumerate() {
            *word = index as u64 ^ round;
        }
        black_box(sum_words(black_box(&self.buffer)));
    }
}

/// The wrapping sum of `words`: one sequential read of every byte and an add per word,
/// the floor of any pass over that many bytes.
#[inline]
pub fn sum_words(words: &[u64]) -> u64 {
    words.iter().fold(0, |sum, &word| sum.wrapping_add(word))
}

/// `bytes` bytes (rounded down to whole `u64`s) of written memory to read with
/// [`sum_words`]; written, so the pages are real (a fresh zeroed allocation can map every
/// page to one shared zero page, which would always be cached).
pub fn floor_words(bytes: usize) -> Vec<u64> {
    (0..(bytes / size_of::<u64>()) as u64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_evicts() {
        let words = floor_words(8 * 100);
        assert_eq!(words.len(), 100);
        assert_eq!(sum_words(&words), 99 * 100 / 2);
        let mut evictor = CacheEvictor::new(4096);
        evictor.evict();
        assert_eq!(evictor.round, 2);
        assert_eq!(evictor.buffer[3], 3 ^ 2);
    }
}
