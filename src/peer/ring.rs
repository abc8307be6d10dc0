//! Bounded ring buffer: owns the fixed-capacity FIFO used for per-peer queues (values a peer has
//! not yet acknowledged) and outboxes.
//!
//! # Design
//!
//! TigerBeetle style: the capacity is chosen at construction, the storage is allocated once and
//! the ring never grows; a full ring rejects pushes ([`Ring::try_push`]) or treats them as a bug
//! ([`Ring::push`]). Elements are `T: Copy` (the queued values are `u64`s and small `Copy`
//! structs) and the storage is a `Box<[T]>` pre-filled with a fill value, so no `Option` tag or
//! `unsafe` is needed, vacant slots simply hold stale values, dropping elements is free, and the
//! live elements can be handed out as two slices ([`Ring::as_slices`]).

use std::iter::Chain;
use std::slice;

/// A fixed-capacity FIFO ring buffer of `Copy` values.
#[derive(Clone, Debug)]
pub struct Ring<T> {
    /// The storage; slots outside the live range hold stale or fill values.
    ///
    /// Invariant: non-empty, and never reallocated after construction.
    buf: Box<[T]>,
    /// Index in `buf` of the front element.
    ///
    /// Invariant: `head < buf.len()`.
    head: usize,
    /// Number of live elements, at `buf[head]`, `buf[head + 1]`, ... wrapping around.
    ///
    /// Invariant: `len <= buf.len()`.
    len: usize,
}

impl<T: Copy + Default> Ring<T> {
    /// Creates an empty ring holding at most `cap` elements, allocating its storage once (filled
    /// with `T::default()`).
    ///
    /// # Panics
    ///
    /// If `cap == 0` (a bug: a ring that can hold nothing).
    pub fn with_capacity(cap: usize) -> Self {
        Self::filled(cap, T::default())
    }
}

impl<T: Copy> Ring<T> {
    /// Creates an empty ring holding at most `cap` elements, allocating its storage once and
    /// filling the vacant slots with `fill` (for element types without a `Default`).
    ///
    /// # Panics
    ///
    /// If `cap == 0` (a bug: a ring that can hold nothing).
    pub fn filled(cap: usize, fill: T) -> Self {
        assert!(cap > 0, "ring capacity must be positive");
        Ring { buf: vec![fill; cap].into_boxed_slice(), head: 0, len: 0 }
    }

    /// The maximum number of elements.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the ring holds no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the ring holds `capacity()` elements, so a push would fail.
    pub fn is_full(&self) -> bool {
        self.len == self.buf.len()
    }

    /// The number of further elements that fit.
    pub fn free(&self) -> usize {
        self.buf.len() - self.len
    }

    /// Appends `v` at the back, or returns `Err(v)` if the ring is full.
    pub fn try_push(&mut self, v: T) -> Result<(), T> {
        if self.is_full() {
            return Err(v);
        }
        let tail = self.physical(self.len);
        self.buf[tail] = v;
        self.len += 1;
        Ok(())
    }

    /// Appends `v` at the back.
    ///
    /// # Panics
    ///
    /// If the ring is full: callers must check for room first, so this is a bug.
    pub fn push(&mut self, v: T) {
        assert!(self.try_push(v).is_ok(), "push onto a full ring (capacity {})", self.capacity());
    }

    /// Removes and returns the front element, or `None` if the ring is empty.
    pub fn pop_front(&mut self) -> Option<T> {
        let v = self.front().copied()?;
        self.drain_front(1);
        Some(v)
    }

    /// The front (oldest) element.
    pub fn front(&self) -> Option<&T> {
        self.get(0)
    }

    /// The back (newest) element.
    pub fn back(&self) -> Option<&T> {
        self.len.checked_sub(1).and_then(|i| self.get(i))
    }

    /// The element `i` places from the front, if `i < len()`.
    pub fn get(&self, i: usize) -> Option<&T> {
        (i < self.len).then(|| &self.buf[self.physical(i)])
    }

    /// The element `i` places from the front, mutably, if `i < len()`.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        if i < self.len {
            let j = self.physical(i);
            Some(&mut self.buf[j])
        } else {
            None
        }
    }

    /// The elements from front to back, as two slices: the second is non-empty only when the
    /// live range wraps around the end of the storage.
    pub fn as_slices(&self) -> (&[T], &[T]) {
        let cap = self.buf.len();
        if self.len <= cap - self.head {
            (&self.buf[self.head..self.head + self.len], &[])
        } else {
            let (wrapped, first) = self.buf.split_at(self.head);
            (first, &wrapped[..self.len - first.len()])
        }
    }

    /// Iterates over the elements from front to back.
    pub fn iter(&self) -> Chain<slice::Iter<'_, T>, slice::Iter<'_, T>> {
        let (a, b) = self.as_slices();
        a.iter().chain(b)
    }

    /// Removes the first `n` elements. O(1).
    ///
    /// # Panics
    ///
    /// If `n > len()` (a bug: dropping elements that are not there).
    pub fn drain_front(&mut self, n: usize) {
        assert!(n <= self.len, "drain_front({n}) from a ring of {} elements", self.len);
        self.head = self.physical(n % self.buf.len());
        self.len -= n;
        debug_assert!(self.head < self.buf.len() && self.len <= self.buf.len());
    }

    /// Removes every element. O(1); keeps the storage.
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// The index in `buf` of the element `i` places from the front, for `i < capacity()`.
    fn physical(&self, i: usize) -> usize {
        debug_assert!(i < self.buf.len());
        // `head < cap` and `i < cap`, so one subtraction wraps it; no division needed.
        let j = self.head + i;
        if j >= self.buf.len() { j - self.buf.len() } else { j }
    }
}

impl<'a, T: Copy> IntoIterator for &'a Ring<T> {
    type Item = &'a T;
    type IntoIter = Chain<slice::Iter<'a, T>, slice::Iter<'a, T>>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    #[test]
    fn starts_empty() {
        let ring: Ring<u64> = Ring::with_capacity(3);
        assert_eq!((ring.capacity(), ring.len(), ring.free()), (3, 0, 3));
        assert!(ring.is_empty() && !ring.is_full());
        assert_eq!((ring.front(), ring.back(), ring.get(0)), (None, None, None));
        assert_eq!(ring.as_slices(), (&[][..], &[][..]));
        assert_eq!(ring.iter().count(), 0);
    }

    #[test]
    #[should_panic(expected = "capacity must be positive")]
    fn zero_capacity_is_a_bug() {
        let _ = Ring::<u64>::with_capacity(0);
    }

    #[test]
    fn fifo_with_wraparound() {
        let mut ring = Ring::with_capacity(3);
        for round in 0..10u64 {
            ring.push(round);
            ring.push(round + 100);
            assert_eq!(ring.front(), Some(&round));
            assert_eq!(ring.back(), Some(&(round + 100)));
            assert_eq!(ring.pop_front(), Some(round));
            assert_eq!(ring.pop_front(), Some(round + 100));
            assert_eq!(ring.pop_front(), None);
        }
    }

    #[test]
    fn full_ring_rejects_push() {
        let mut ring = Ring::with_capacity(2);
        assert_eq!(ring.try_push(1u8), Ok(()));
        assert_eq!(ring.try_push(2), Ok(()));
        assert!(ring.is_full());
        assert_eq!(ring.free(), 0);
        assert_eq!(ring.try_push(3), Err(3));
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    #[should_panic(expected = "full ring")]
    fn push_onto_full_ring_is_a_bug() {
        let mut ring = Ring::with_capacity(1);
        ring.push(1u32);
        ring.push(2);
    }

    #[test]
    fn slices_get_and_iter_across_the_wrap() {
        let mut ring = Ring::with_capacity(5);
        for v in 0..5u64 {
            ring.push(v);
        }
        ring.drain_front(3);
        for v in 5..8 {
            ring.push(v);
        }
        assert_eq!(ring.as_slices(), (&[3, 4][..], &[5, 6, 7][..]));
        assert_eq!(ring.iter().copied().collect::<Vec<_>>(), [3, 4, 5, 6, 7]);
        assert_eq!((&ring).into_iter().next_back(), Some(&7));
        assert_eq!(ring.get(0), Some(&3));
        assert_eq!(ring.get(2), Some(&5));
        assert_eq!(ring.get(4), Some(&7));
        assert_eq!(ring.get(5), None);
        *ring.get_mut(2).unwrap() = 50;
        assert_eq!(ring.get_mut(5), None);
        assert_eq!(ring.get(2), Some(&50));
    }

    #[test]
    fn drain_front_and_clear() {
        let mut ring = Ring::with_capacity(4);
        for v in 0..4u64 {
            ring.push(v);
        }
        ring.drain_front(0);
        assert_eq!(ring.len(), 4);
        ring.drain_front(4);
        assert!(ring.is_empty());
        ring.push(9);
        ring.push(10);
        ring.drain_front(1);
        assert_eq!(ring.front(), Some(&10));
        ring.clear();
        assert!(ring.is_empty());
        assert_eq!(ring.pop_front(), None);
        ring.push(11);
        assert_eq!(ring.as_slices(), (&[11][..], &[][..]));
    }

    #[test]
    #[should_panic(expected = "drain_front(3)")]
    fn draining_too_many_is_a_bug() {
        let mut ring = Ring::with_capacity(4);
        ring.push(1u64);
        ring.push(2);
        ring.drain_front(3);
    }

    #[test]
    fn filled_works_without_default() {
        #[derive(Copy, Clone, Debug, PartialEq)]
        struct Ack {
            seq: u32,
        }
        let mut ring = Ring::filled(2, Ack { seq: 0 });
        ring.push(Ack { seq: 7 });
        assert_eq!(ring.pop_front(), Some(Ack { seq: 7 }));
    }

    /// A tiny deterministic RNG (xorshift64*) for the model test.
    struct XorShift(u64);

    impl XorShift {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
        }
    }

    #[test]
    fn randomized_against_vecdeque() {
        for seed in 1..=200u64 {
            let mut rng = XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let cap = 1 + rng.below(17) as usize;
            let mut ring = Ring::with_capacity(cap);
            let mut model: VecDeque<u64> = VecDeque::with_capacity(cap);
            for op in 0..2_000u64 {
                match rng.below(10) {
                    0..4 => {
                        let pushed = ring.try_push(op);
                        if model.len() < cap {
                            model.push_back(op);
                            assert_eq!(pushed, Ok(()), "seed {seed}");
                        } else {
                            assert_eq!(pushed, Err(op), "seed {seed}");
                        }
                    }
                    4..7 => assert_eq!(ring.pop_front(), model.pop_front(), "seed {seed}"),
                    7 => {
                        let n = rng.below(model.len() as u64 + 1) as usize;
                        ring.drain_front(n);
                        model.drain(..n);
                    }
                    8 => {
                        let i = rng.below(cap as u64 + 1) as usize;
                        assert_eq!(ring.get(i), model.get(i), "seed {seed}");
                        if let Some(v) = ring.get_mut(i) {
                            *v += 1;
                            model[i] += 1;
                        }
                    }
                    _ => {
                        if rng.below(20) == 0 {
                            ring.clear();
                            model.clear();
                        }
                    }
                }
                assert_eq!(ring.len(), model.len(), "seed {seed}");
                assert_eq!(ring.is_full(), model.len() == cap, "seed {seed}");
                assert_eq!(ring.front(), model.front(), "seed {seed}");
                assert_eq!(ring.back(), model.back(), "seed {seed}");
                let (a, b) = ring.as_slices();
                let (ma, mb) = model.as_slices();
                assert_eq!([a, b].concat(), [ma, mb].concat(), "seed {seed}");
                assert!(ring.iter().eq(model.iter()), "seed {seed}");
            }
        }
    }
}
