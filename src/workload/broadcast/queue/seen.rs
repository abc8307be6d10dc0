//! The broadcast seen set: every value the node has, as a bitmap for small values and a hash
//! set for the rest, with the block digests a resync compares.
//!
//! Broadcast values are usually a counter's output (Maelstrom hands out 0, 1, 2, ...), so a
//! million of them fit in a 125 KB bitmap where a hash set needs about 16 MiB and, once it
//! outgrows the cache, a cache miss per insert (a hash spreads consecutive values all over
//! the table). Values below [`DENSE_LIMIT`] live in the bitmap, which grows (doubling) to the
//! largest such value seen; larger values go to a hashbrown set. The bitmap is therefore
//! bounded by `DENSE_LIMIT / 8` bytes (2 MiB) whatever the input.
//!
//! # Blocks, digests and descriptions
//!
//! For a resync ([`super::Set`]) the set is cut into [`BLOCKS`] blocks: dense block `b` holds
//! the values `[b * 4096, (b + 1) * 4096)` (64 bitmap words), and the values at or above
//! `DENSE_LIMIT` are spread over [`BUCKETS`] sparse blocks by a hash. A block's digest is a
//! 64-bit hash of its content (0 when empty): two nodes whose digests of a block agree hold
//! the same values there (up to a 64-bit hash collision). A receiver describes a block whose
//! digest differs by its own content of it: inclusive ranges `lo, hi` of the values it holds
//! for a dense block (a handful for counter values, at most 2,048 for the worst pattern),
//! the values themselves for a sparse one. From that description the sender finds, exactly,
//! the values the receiver lacks.

use hashbrown::HashSet;

use super::Set;
use crate::proto::Val;
use crate::proto::encode::{ArrWriter, write_u64};

/// Values below this are kept in the bitmap (2^24: at most 2 MiB of bits).
pub const DENSE_LIMIT: u64 = 1 << 24;

/// log2 of the values a dense block covers.
const BLOCK_SHIFT: u32 = 12;
/// Bitmap words in a dense block.
const BLOCK_WORDS: usize = 1 << (BLOCK_SHIFT - 6);
/// Dense blocks: `[0, DENSE_BLOCKS)`.
pub const DENSE_BLOCKS: u32 = (DENSE_LIMIT >> BLOCK_SHIFT) as u32;
/// Sparse blocks (hash buckets of the values at or above `DENSE_LIMIT`):
/// `[DENSE_BLOCKS, DENSE_BLOCKS + BUCKETS)`.
pub const BUCKETS: u32 = 256;
/// Number of blocks.
pub const BLOCKS: u32 = DENSE_BLOCKS + BUCKETS;

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

/// A 64-bit finaliser (splitmix64's): every input bit moves every output bit.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The sparse block of a value at or above `DENSE_LIMIT`.
fn bucket(v: u64) -> u32 {
    DENSE_BLOCKS + (mix(v ^ 0x5EED) >> 56) as u32
}

/// The sparse blocks' digests and the sparse values sorted by block, built once per
/// comparison when it meets a sparse block.
type SparseView = (Vec<u64>, Vec<(u32, u64)>);

/// A digest that is 0 only for an empty block.
fn nonzero(h: u64) -> u64 {
    h.max(1)
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

    /// Calls `f` with every value: the dense ones in ascending order, then the others in no
    /// set order. (A plain loop over the bitmap's words: what `read` uses, a third cheaper a
    /// value than [`ValueSet::iter`]'s adaptor chain.)
    #[inline]
    pub fn for_each(&self, mut f: impl FnMut(u64)) {
        for (i, &word) in self.bits.iter().enumerate() {
            let base = i as u64 * 64;
            let mut w = word;
            while w != 0 {
                f(base + u64::from(w.trailing_zeros()));
                w &= w - 1;
            }
        }
        for &v in &self.sparse {
            f(v);
        }
    }

    /// Appends the set as a JSON array of integers, in [`ValueSet::for_each`]'s order (the
    /// body of a `read_ok`: one loop over the words straight into the buffer).
    pub fn write_json(&self, buf: &mut Vec<u8>) {
        // About seven bytes a value for counter values up to a few million.
        buf.reserve(self.len * 8 + 2);
        buf.push(b'[');
        let mut first = true;
        self.for_each(|v| {
            if !first {
                buf.push(b',');
            }
            first = false;
            write_u64(buf, v);
        });
        buf.push(b']');
    }

    /// Every value: the dense ones in ascending order, then the others in no set order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        let dense = self.bits.iter().enumerate().flat_map(|(i, &w)| {
            let base = i as u64 * 64;
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros();
                w &= w - 1;
                Some(base + u64::from(b))
            })
        });
        dense.chain(self.sparse.iter().copied())
    }

    /// Bytes held by the set's storage (for memory accounting in tests and reports).
    pub fn heap_bytes(&self) -> usize {
        self.bits.capacity() * 8 + self.sparse.capacity() * 9
    }

    /// The bitmap words of dense block `b` (fewer than 64, or none, past the bitmap's end).
    fn words(&self, b: u32) -> &[u64] {
        let lo = (b as usize * BLOCK_WORDS).min(self.bits.len());
        let hi = (lo + BLOCK_WORDS).min(self.bits.len());
        &self.bits[lo..hi]
    }

    /// The digest of dense block `b`: 0 iff it is empty. Each word goes through a bijection
    /// of the running hash, so blocks that differ in one word always differ in digest.
    fn dense_digest(&self, b: u32) -> u64 {
        let words = self.words(b);
        if words.iter().all(|&w| w == 0) {
            return 0;
        }
        let mut h = 0x243F_6A88_85A3_08D3u64;
        for &w in words {
            h = (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
        }
        nonzero(mix(h))
    }

    /// The digests of every sparse block, indexed by `block - DENSE_BLOCKS` (0: empty): the
    /// wrapping sum of a hash of each value, which no order of insertion changes, mixed with
    /// the count.
    fn sparse_digests(&self) -> Vec<u64> {
        let mut sums = vec![0u64; BUCKETS as usize];
        let mut counts = vec![0u64; BUCKETS as usize];
        for &v in &self.sparse {
            let k = (bucket(v) - DENSE_BLOCKS) as usize;
            sums[k] = sums[k].wrapping_add(mix(v ^ 0xD1CE));
            counts[k] += 1;
        }
        sums.iter()
            .zip(&counts)
            .map(|(&s, &c)| if c == 0 { 0 } else { nonzero(mix(s ^ c.wrapping_mul(0x9E37_79B9))) })
            .collect()
    }

    /// The sparse values sorted by block, then value (for describing or comparing several
    /// sparse blocks with one pass over the hash set).
    fn sparse_by_block(&self) -> Vec<(u32, u64)> {
        let mut all: Vec<(u32, u64)> = self.sparse.iter().map(|&v| (bucket(v), v)).collect();
        all.sort_unstable();
        all
    }

    /// The values of sparse block `b` in `sorted` (from [`ValueSet::sparse_by_block`]).
    fn in_bucket(sorted: &[(u32, u64)], b: u32) -> &[(u32, u64)] {
        let lo = sorted.partition_point(|&(k, _)| k < b);
        let hi = sorted.partition_point(|&(k, _)| k <= b);
        &sorted[lo..hi]
    }

    /// Appends the inclusive ranges `lo, hi` of the values in dense block `b`, ascending.
    fn describe_dense(&self, b: u32, out: &mut Vec<u64>) {
        let base = u64::from(b) << BLOCK_SHIFT;
        let mut run: Option<(u64, u64)> = None;
        for (i, &word) in self.words(b).iter().enumerate() {
            let mut w = word;
            while w != 0 {
                let tz = w.trailing_zeros();
                let ones = (w >> tz).trailing_ones();
                let lo = base + i as u64 * 64 + u64::from(tz);
                let hi = lo + u64::from(ones) - 1;
                run = match run {
                    Some((l, h)) if h + 1 == lo => Some((l, hi)),
                    Some((l, h)) => {
                        out.extend([l, h]);
                        Some((lo, hi))
                    }
                    None => Some((lo, hi)),
                };
                let end = tz + ones;
                w = if end >= 64 { 0 } else { w & !((1u64 << end) - 1) };
            }
        }
        if let Some((l, h)) = run {
            out.extend([l, h]);
        }
    }
}

impl Set for ValueSet {
    type Item = u64;

    #[inline]
    fn insert(&mut self, x: u64) -> bool {
        ValueSet::insert(self, x)
    }

    fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn accepts(v: Val<'_, '_>) -> bool {
        v.as_u64().is_some()
    }

    #[inline]
    fn read(&mut self, v: Val<'_, '_>) -> Option<u64> {
        v.as_u64()
    }

    #[inline]
    fn write(&self, x: u64, a: &mut ArrWriter<'_>) {
        a.u64(x);
    }

    fn digests(&self, from: u32, max: usize, out: &mut Vec<u64>) -> Option<u32> {
        let mut listed = 0;
        let dense_blocks = self.bits.len().div_ceil(BLOCK_WORDS) as u32;
        for b in from..dense_blocks.min(DENSE_BLOCKS) {
            let d = self.dense_digest(b);
            if d != 0 {
                if listed == max {
                    return Some(b);
                }
                out.extend([u64::from(b), d]);
                listed += 1;
            }
        }
        if self.sparse.is_empty() || from >= BLOCKS {
            return None;
        }
        let sparse = self.sparse_digests();
        for b in from.max(DENSE_BLOCKS)..BLOCKS {
            let d = sparse[(b - DENSE_BLOCKS) as usize];
            if d != 0 {
                if listed == max {
                    return Some(b);
                }
                out.extend([u64::from(b), d]);
                listed += 1;
            }
        }
        None
    }

    fn compare(
        &self,
        theirs: &[u64],
        budget: usize,
        out: &mut Vec<u64>,
    ) -> Result<Option<u32>, &'static str> {
        if theirs.len() % 2 != 0 {
            return Err("a digest list is block and digest pairs");
        }
        let mut sparse: Option<SparseView> = None;
        let start = out.len();
        for pair in theirs.chunks_exact(2) {
            let (b, d) = (pair[0], pair[1]);
            let b = match u32::try_from(b) {
                Ok(b) if b < BLOCKS => b,
                _ => return Err("a block number out of range"),
            };
            let mine = if b < DENSE_BLOCKS {
                self.dense_digest(b)
            } else {
                let (digests, _) =
                    sparse.get_or_insert_with(|| (self.sparse_digests(), self.sparse_by_block()));
                digests[(b - DENSE_BLOCKS) as usize]
            };
            if mine == d {
                continue;
            }
            if out.len() > start && out.len() - start >= budget {
                return Ok(Some(b));
            }
            out.extend([u64::from(b), 0]);
            let at = out.len();
            if b < DENSE_BLOCKS {
                self.describe_dense(b, out);
            } else if let Some((_, sorted)) = &sparse {
                out.extend(Self::in_bucket(sorted, b).iter().map(|&(_, v)| v));
            }
            out[at - 1] = (out.len() - at) as u64;
        }
        Ok(None)
    }

    fn missing(
        &self,
        have: &mut [u64],
        budget: usize,
        out: &mut Vec<u64>,
    ) -> Result<Option<u32>, &'static str> {
        let start = out.len();
        let mut sorted: Option<Vec<(u32, u64)>> = None;
        let mut i = 0;
        while i < have.len() {
            let b = match u32::try_from(have[i]) {
                Ok(b) if b < BLOCKS => b,
                _ => return Err("a block number out of range"),
            };
            let k = have.get(i + 1).ok_or("a block without its count")?;
            let k = usize::try_from(*k).map_err(|_| "a count out of range")?;
            let desc_at = i + 2;
            let desc_end = desc_at.checked_add(k).filter(|&e| e <= have.len());
            let desc_end = desc_end.ok_or("a description longer than the message")?;
            if out.len() > start && out.len() - start >= budget {
                return Ok(Some(b));
            }
            let desc = &mut have[desc_at..desc_end];
            if b < DENSE_BLOCKS {
                if desc.len() % 2 != 0 {
                    return Err("a dense block is described by ranges");
                }
                // A merge walk over the receiver's ranges, which it sends ascending; out of
                // order ranges only make us send values it already has.
                let base = u64::from(b) << BLOCK_SHIFT;
                let mut r = 0;
                for (wi, &word) in self.words(b).iter().enumerate() {
                    let mut w = word;
                    while w != 0 {
                        let v = base + wi as u64 * 64 + u64::from(w.trailing_zeros());
                        w &= w - 1;
                        while r + 1 < desc.len() && desc[r + 1] < v {
                            r += 2;
                        }
                        let covered = r + 1 < desc.len() && desc[r] <= v && v <= desc[r + 1];
                        if !covered {
                            out.push(v);
                        }
                    }
                }
            } else {
                desc.sort_unstable();
                let sorted = sorted.get_or_insert_with(|| self.sparse_by_block());
                for &(_, v) in Self::in_bucket(sorted, b) {
                    if desc.binary_search(&v).is_err() {
                        out.push(v);
                    }
                }
            }
            i = desc_end;
        }
        Ok(None)
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
        let mut listed: Vec<u64> = ours.iter().collect();
        assert_eq!(listed.len(), model.len(), "iter lists each value once");
        let mut each = Vec::new();
        ours.for_each(|v| each.push(v));
        assert_eq!(each, listed, "for_each lists the same, in the same order");
        let mut json = Vec::new();
        ours.write_json(&mut json);
        let text: Vec<String> = listed.iter().map(u64::to_string).collect();
        assert_eq!(String::from_utf8(json).unwrap(), format!("[{}]", text.join(",")));
        let mut empty = Vec::new();
        ValueSet::new().write_json(&mut empty);
        assert_eq!(empty, b"[]");
        listed.sort_unstable();
        let mut want: Vec<u64> = model.into_iter().collect();
        want.sort_unstable();
        assert_eq!(listed, want);
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

    /// One full digest exchange from `a` (the sender) to `b`: what `b` lacks of `a`, found
    /// window by window with the given budgets (digests listed, numbers described, values
    /// found missing per exchange), as the gossip layer walks it.
    fn lacking(a: &ValueSet, b: &ValueSet, max_digests: usize, budget: usize) -> Vec<u64> {
        let mut lacking = Vec::new();
        let mut from = Some(0);
        let mut exchanges = 0;
        while let Some(f) = from {
            exchanges += 1;
            assert!(exchanges < 100_000, "the exchange makes progress");
            let mut d = Vec::new();
            let cut = a.digests(f, max_digests, &mut d);
            let mut h = Vec::new();
            let stop = b.compare(&d, budget, &mut h).expect("well-formed digests");
            let before = lacking.len();
            let again = a.missing(&mut h, budget, &mut lacking).expect("well-formed have");
            if let Some(again) = again {
                assert!(again > f && lacking.len() > before, "a cut-short exchange progresses");
            }
            from = again.or(stop).or(cut);
        }
        lacking.sort_unstable();
        let n = lacking.len();
        lacking.dedup();
        assert_eq!(n, lacking.len(), "no value is sent twice in one pass");
        lacking
    }

    #[test]
    fn a_digest_exchange_finds_exactly_what_the_receiver_lacks() {
        let mut rng = Rng::new(11);
        for case in 0..60 {
            let (mut a, mut b) = (ValueSet::new(), ValueSet::new());
            let mut want = Vec::new();
            let span = [5_000, 100_000, DENSE_LIMIT + 10_000][case % 3];
            for _ in 0..rng.below(20_000) {
                let v = match rng.below(8) {
                    0 => rng.next_u64(),
                    _ => rng.below(span),
                };
                // Each value lands in a, b or both; b also has values a lacks.
                match rng.below(4) {
                    0 => {
                        if a.insert(v) && !b.contains(v) {
                            want.push(v);
                        }
                    }
                    1 => {
                        b.insert(v);
                    }
                    _ => {
                        a.insert(v);
                        b.insert(v);
                    }
                }
            }
            want.retain(|&v| !b.contains(v));
            want.sort_unstable();
            want.dedup();
            let (max, budget) = [(1, 1), (3, 17), (4096, 1 << 20)][case % 3];
            assert_eq!(lacking(&a, &b, max, budget), want, "case {case}");
            // And the other way round, and against an empty set, and against itself.
            let mut back: Vec<u64> = b.iter().filter(|&v| !a.contains(v)).collect();
            back.sort_unstable();
            assert_eq!(lacking(&b, &a, max, budget), back, "case {case} reversed");
            let mut all: Vec<u64> = a.iter().collect();
            all.sort_unstable();
            assert_eq!(lacking(&a, &ValueSet::new(), max, budget), all);
            assert!(lacking(&a, &a, max, budget).is_empty());
        }
    }

    #[test]
    fn equal_blocks_cost_nothing_and_ranges_are_compact() {
        let (mut a, mut b) = (ValueSet::new(), ValueSet::new());
        for v in 0..100_000 {
            a.insert(v);
            if !(40_000..41_000).contains(&v) {
                b.insert(v);
            }
        }
        let mut d = Vec::new();
        assert_eq!(a.digests(0, usize::MAX, &mut d), None);
        assert_eq!(d.len(), 2 * 25, "one pair per non-empty block");
        let mut h = Vec::new();
        assert_eq!(b.compare(&d, usize::MAX, &mut h), Ok(None));
        // Only the block holding 40,000..41,000 differs (block 9 covers 36,864..40,960 and
        // block 10 the rest), each described by two ranges.
        assert_eq!(h, [9, 2, 36_864, 39_999, 10, 2, 41_000, 45_055]);
    }

    #[test]
    fn malformed_descriptions_are_errors_not_panics() {
        let mut a = ValueSet::new();
        a.insert(5);
        a.insert(u64::MAX);
        let mut out = Vec::new();
        for bad in
            [vec![0, 3, 1], vec![u64::from(BLOCKS), 0], vec![0], vec![0, 1, 7], vec![0, u64::MAX]]
        {
            assert!(a.missing(&mut bad.clone(), 10, &mut out).is_err(), "{bad:?}");
        }
        assert!(a.compare(&[1], 10, &mut out).is_err());
        assert!(a.compare(&[u64::MAX, 1], 10, &mut out).is_err());
        // Unsorted ranges only cost extra values.
        let mut unsorted = vec![0, 4, 100, 200, 5, 5];
        out.clear();
        assert_eq!(a.missing(&mut unsorted, 10, &mut out), Ok(None));
        assert!(out.len() <= 1);
    }
}
