//! The broadcast seen set: a bitmap for small values, a hash set for the rest.
//!
//! Broadcast values are usually a counter's output (Maelstrom hands out 0, 1, 2, ...), so a
//! million of them fit in a 125 KB bitmap where a hash set needs about 16 MiB and, once it
//! outgrows the cache, a cache miss per insert (a hash spreads consecutive values all over
//! the table). Values below [`DENSE_LIMIT`] live in the bitmap, which grows (doubling) to the
//! largest such value seen; larger values go to a hashbrown set. The bitmap is therefore
//! bounded by `DENSE_LIMIT / 8` bytes (2 MiB) whatever the input.

use hashbrown::HashSet;

/// Values below this are kept in the bitmap (2^24: at most 2 MiB of bits).
pub const DENSE_LIMIT: u64 = 1 << 24;

/// A set of `u64`s, fast and small for dense small values.
#[derive(Debug, Default)]
pub struct ValueSet {
    /// Bit `v % 64` of word `v / 64` is set iff `v < DENSE_LIMIT` is in the set.
    bits: Vec<u64>,
    /// The values at or above `DENSE_LIMIT`.
    sparse: HashSet<u64>,
    /// Number of values in the set.
    len: usize,
}

impl ValueSet {
    /// An empty set.
    pub fn new() -> Self {
        ValueSet::default()
    }

    /// Adds `v`; returns whether it was new.
    #[inline]
    pub fn insert(&mut self, v: u64) -> bool {
        let fresh = if v < DENSE_LIMIT {
            let (word, bit) = ((v / 64) as usize, 1u64 << (v % 64));
            if word >= self.bits.len() {
                let want = (word + 1).next_power_of_two().max(16);
                self.bits.resize(want.min((DENSE_LIMIT / 64) as usize), 0);
            }
            let w = &mut self.bits[word];
            let fresh = *w & bit == 0;
            *w |= bit;
            fresh
        } else {
            self.sparse.insert(v)
        };
        self.len += usize::from(fresh);
        fresh
    }

    /// Whether `v` is in the set.
    pub fn contains(&self, v: u64) -> bool {
        if v < DENSE_LIMIT {
            self.bits.get((v / 64) as usize).is_some_and(|w| w & (1 << (v % 64)) != 0)
        } else {
            self.sparse.contains(&v)
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held by the set's storage (for memory accounting in tests and reports).
    pub fn heap_bytes(&self) -> usize {
        self.bits.capacity() * 8 + self.sparse.capacity() * 9
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn agrees_with_a_hash_set_on_dense_sparse_and_boundary_values() {
        let mut rng = Rng::new(3);
        let mut ours = ValueSet::new();
        let mut model = std::collections::HashSet::new();
        for round in 0..200_000 {
            let v = match rng.below(6) {
                0 => rng.below(5_000),
                1 => DENSE_LIMIT - 3 + rng.below(6),
                2 => rng.next_u64(),
                3 => u64::MAX - rng.below(3),
                4 => rng.below(64) * 64 + 63,
                _ => round,
            };
            assert_eq!(ours.insert(v), model.insert(v), "insert {v}");
            assert_eq!(ours.len(), model.len());
            let probe = rng.below(10_000);
            assert_eq!(ours.contains(probe), model.contains(&probe), "contains {probe}");
        }
        assert!(model.iter().all(|&v| ours.contains(v)));
        assert!(!ours.is_empty());
    }

    #[test]
    fn a_million_counter_values_take_a_bitmap_not_a_table() {
        let mut s = ValueSet::new();
        for v in 0..1_000_000 {
            assert!(s.insert(v));
        }
        assert!(!s.insert(999_999));
        assert_eq!(s.len(), 1_000_000);
        // 1M bits rounded up to a power of two of words: 128 KiB, nothing in the hash set.
        assert_eq!(s.heap_bytes(), 128 << 10);
        // The bitmap never passes its bound, however large the dense value.
        s.insert(DENSE_LIMIT - 1);
        assert_eq!(s.heap_bytes(), (DENSE_LIMIT / 8) as usize);
    }
}
