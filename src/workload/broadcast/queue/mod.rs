//! The broadcast queues: the seen set, and the values pending for each peer, kept as one
//! bounded ring shared by every peer's queue, each queue a cursor pair into it (the Disruptor
//! pattern).
//!
//! # The ring
//!
//! A node appends each new value that some peer must be sent, with the index of the node it
//! came from, to one ring ([`Ring`]). Entries are named by their *position*, a per-node
//! counter that never goes back, so a position names the same entry for as long as it is
//! held, and the link protocol uses positions on the wire (`s`, `e`, `a`). The ring holds the
//! positions `[tail, head)`.
//!
//! # The cursors
//!
//! Each peer's queue is a [`Cursor`] into the ring: `acked` (below it the peer needs nothing
//! more: acknowledged, or not for it) and `sent` (below it everything for the peer has gone
//! out once), plus `base`, the peer's cumulative acknowledgement, where data messages start.
//! The peer's pending values are the entries in `[acked, head)` that the relay rule
//! ([`Router`]) sends it; nothing is copied per peer.
//!
//! # Trimming, growth and lapping: the bound
//!
//! The ring starts small and is trimmed only when it is full: `tail` moves up to the slowest
//! cursor that still needs an entry (a peer's `acked`, or the start of a resync pass, below).
//! If that frees nothing, the ring doubles, up to its bound ([`Tuning::ring`]). At the bound,
//! every cursor more than half the bound behind is *lapped*: taken off the ring, so that a
//! peer that stays away for a long time at a high rate pins no memory. Nothing is lost: a
//! lapped peer is resynchronised from the seen set (see `gossip`), which holds every value,
//! and put back on the ring at the position its resync pass began, if the ring still holds
//! that position (otherwise it runs another pass). So memory for the queues is at most the
//! bound (12 bytes an entry) whatever a partition does, and the work to lap is amortised over
//! half a ring of appends.
//!
//! [`Tuning::ring`]: super::Tuning::ring

pub mod seen;

use std::fmt;

use super::gossip::Router;
use crate::proto::Val;
use crate::proto::encode::ArrWriter;

/// What the queue and gossip layers need from a grow-only set: inserting elements, reading
/// and writing them on the wire, and the digest exchange of a resync. [`seen::ValueSet`] is
/// the broadcast node's (integers); a set of other elements (a g-set of JSON values, say, held
/// as handles into an interned store) implements the same and reuses the rest unchanged.
///
/// The digest exchange cuts the set into numbered blocks, the same way on every node. The
/// sender lists `(block, digest)` for its non-empty blocks; the receiver answers, for every
/// listed block whose digest differs from its own, with a description of its own content of
/// the block; the sender finds from that description exactly what the receiver lacks. All
/// three are flat lists of `u64`s, so they travel as JSON arrays of integers.
pub trait Set: Default + fmt::Debug {
    /// An element as the ring holds it: the element itself, or a handle to it.
    type Item: Copy + Default + fmt::Debug;

    /// Adds `x`; returns whether it was new.
    fn insert(&mut self, x: Self::Item) -> bool;
    /// Number of elements.
    fn len(&self) -> usize;
    /// Whether there are no elements.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Whether `v` is an element this set can hold (checked for a whole message before any of
    /// it is read).
    fn accepts(v: Val<'_, '_>) -> bool;
    /// The element `v` (one [`Set::accepts`] accepted), not yet inserted.
    fn read(&mut self, v: Val<'_, '_>) -> Option<Self::Item>;
    /// Writes `x` as one array element.
    fn write(&self, x: Self::Item, a: &mut ArrWriter<'_>);
    /// About how many bytes [`Set::write`] takes for `x`: a message stops taking elements
    /// once it holds [`MAX_BATCH_BYTES`] (sets of integers need not say).
    ///
    /// [`MAX_BATCH_BYTES`]: super::gossip::MAX_BATCH_BYTES
    fn size(&self, x: Self::Item) -> usize {
        let _ = x;
        8
    }

    /// Appends `block, digest` for each non-empty block from `from` on, in block order, at
    /// most `max` of them. Returns the first block not listed when the list was cut short.
    fn digests(&self, from: u32, max: usize, out: &mut Vec<u64>) -> Option<u32>;
    /// For each `block, digest` pair in `theirs` (another node's [`Set::digests`]) whose
    /// digest differs from this set's, appends `block, count` and then `count` numbers that
    /// describe this set's content of the block. Stops before a block once `out` has grown by
    /// `budget` numbers (one block is always described) and returns that block.
    fn compare(
        &self,
        theirs: &[u64],
        budget: usize,
        out: &mut Vec<u64>,
    ) -> Result<Option<u32>, &'static str>;
    /// Appends to `out` this set's elements in the blocks `have` (another node's
    /// [`Set::compare`]) describes that the description lacks. Stops before a block once
    /// `budget` elements have been appended and returns that block. `have` may be reordered.
    fn missing(
        &self,
        have: &mut [u64],
        budget: usize,
        out: &mut Vec<Self::Item>,
    ) -> Result<Option<u32>, &'static str>;
}

/// The smallest ring allocation (entries), or the bound if that is smaller.
const INITIAL: usize = 1024;

/// A bounded ring of `(element, origin)` entries at consecutive positions `[tail, head)`.
///
/// Invariants: `items.len() == from.len()` is a power of two, at most `max`; `mask ==
/// items.len() - 1`; `head - tail <= items.len()`; the entry at position `pos` is in slot `pos
/// & mask`.
#[derive(Debug)]
pub struct Ring<T> {
    items: Vec<T>,
    from: Vec<u32>,
    mask: u64,
    tail: u64,
    head: u64,
    max: usize,
}

impl<T: Copy + Default> Ring<T> {
    /// An empty ring that may grow to `max` entries (rounded up to a power of two).
    pub fn new(max: usize) -> Self {
        let max = max.max(1).next_power_of_two();
        let cap = INITIAL.min(max);
        Ring {
            items: vec![T::default(); cap],
            from: vec![0; cap],
            mask: cap as u64 - 1,
            tail: 0,
            head: 0,
            max,
        }
    }

    /// The next position to be written.
    pub fn head(&self) -> u64 {
        self.head
    }

    /// The oldest position held.
    pub fn tail(&self) -> u64 {
        self.tail
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        (self.head - self.tail) as usize
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.head == self.tail
    }

    /// Entries the ring has room for now.
    pub fn capacity(&self) -> usize {
        self.items.len()
    }

    /// The most entries it may ever hold.
    pub fn bound(&self) -> usize {
        self.max
    }

    /// Whether no entry can be pushed without trimming or growing.
    pub fn is_full(&self) -> bool {
        self.len() == self.items.len()
    }

    #[inline]
    fn slot(&self, pos: u64) -> usize {
        (pos & self.mask) as usize
    }

    /// The element and origin at `pos`, which must be held.
    #[inline]
    pub fn get(&self, pos: u64) -> (T, u32) {
        debug_assert!(
            self.tail <= pos && pos < self.head,
            "{pos} outside [{}, {})",
            self.tail,
            self.head
        );
        let i = self.slot(pos);
        (self.items[i], self.from[i])
    }

    /// The origin of the entry at `pos`, which must be held.
    #[inline]
    pub fn origin(&self, pos: u64) -> u32 {
        debug_assert!(
            self.tail <= pos && pos < self.head,
            "{pos} outside [{}, {})",
            self.tail,
            self.head
        );
        self.from[self.slot(pos)]
    }

    /// Appends an entry if there is room (no trimming, no growth); returns its position.
    pub fn try_push(&mut self, x: T, from: u32) -> Option<u64> {
        if self.is_full() {
            return None;
        }
        let i = self.slot(self.head);
        self.items[i] = x;
        self.from[i] = from;
        self.head += 1;
        Some(self.head - 1)
    }

    /// Appends an entry; the caller has made room. Panics (a bug) when full.
    pub fn push(&mut self, x: T, from: u32) -> u64 {
        match self.try_push(x, from) {
            Some(pos) => pos,
            None => panic!("push onto a full ring of {} entries", self.items.len()),
        }
    }

    /// Drops the entries below `to` (nothing if `to <= tail`; `to` must not pass `head`).
    pub fn trim(&mut self, to: u64) {
        assert!(to <= self.head, "trim to {to} past the head {}", self.head);
        self.tail = self.tail.max(to);
    }

    /// Doubles the room, if under the bound; returns whether it grew.
    pub fn grow(&mut self) -> bool {
        let cap = self.items.len();
        if cap >= self.max {
            return false;
        }
        let mut items = vec![T::default(); cap * 2];
        let mut from = vec![0; cap * 2];
        let mask = cap as u64 * 2 - 1;
        for pos in self.tail..self.head {
            let (x, f) = self.get(pos);
            items[(pos & mask) as usize] = x;
            from[(pos & mask) as usize] = f;
        }
        self.items = items;
        self.from = from;
        self.mask = mask;
        true
    }

    /// Bytes the ring holds (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<T>() + self.from.capacity() * 4
    }
}

/// Where a peer's queue stands.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Pin {
    /// On the ring: its `acked` holds the entries it still needs.
    Ring,
    /// Off the ring, in a resync pass that began at this position: the ring keeps the
    /// entries from here on while it can, so that the peer can rejoin where the pass began.
    Pass(u64),
    /// Off the ring and holding nothing (lapped, or a pass the ring could not keep).
    Loose,
}

/// One peer's queue: positions into the ring.
///
/// Invariants (on the ring): `base <= acked <= sent <= head`; after [`Queue::settle`],
/// `acked == sent` or the entry at `acked` is for this peer.
#[derive(Copy, Clone, Debug)]
pub struct Cursor {
    /// The peer's cumulative acknowledgement: it has every entry for it below this. Data
    /// messages start here, so the peer can always chain them onto what it has.
    pub base: u64,
    /// Below this the peer needs nothing more: acknowledged, or not for it.
    pub acked: u64,
    /// Below this everything for the peer has been sent (or is not for it).
    pub sent: u64,
    /// On the ring or not.
    pub pin: Pin,
}

impl Default for Cursor {
    fn default() -> Self {
        Cursor { base: 0, acked: 0, sent: 0, pin: Pin::Ring }
    }
}

/// The seen set and every peer's queue.
#[derive(Debug)]
pub struct Queue<S: Set> {
    /// Every element this node has.
    pub seen: S,
    ring: Ring<S::Item>,
    /// One cursor per node index; only the peers' are used.
    cursors: Vec<Cursor>,
    /// The nodes this node sends to (indices into `cursors`).
    peers: Vec<u32>,
    router: Router,
    /// Peers taken off the ring since [`Queue::take_lapped`] was last called.
    lapped: Vec<u32>,
    /// Cursors lapped since the start (a statistic).
    laps: u64,
}

impl<S: Set> Queue<S> {
    /// Empty queues to `peers` of a cluster of `nodes`, with a ring of at most `bound`
    /// entries.
    pub fn new(router: Router, nodes: usize, peers: &[u32], bound: usize) -> Self {
        Queue {
            seen: S::default(),
            ring: Ring::new(bound),
            cursors: vec![Cursor::default(); nodes],
            peers: peers.to_vec(),
            router,
            lapped: Vec::with_capacity(peers.len()),
            laps: 0,
        }
    }

    /// The ring.
    #[inline]
    pub fn ring(&self) -> &Ring<S::Item> {
        &self.ring
    }

    /// Peer `p`'s cursor.
    #[inline]
    pub fn cursor(&self, p: usize) -> &Cursor {
        &self.cursors[p]
    }

    /// Whether `p` is on the ring (not being resynchronised).
    #[inline]
    pub fn on_ring(&self, p: usize) -> bool {
        matches!(self.cursors[p].pin, Pin::Ring)
    }

    /// Cursors lapped since the start.
    pub fn laps(&self) -> u64 {
        self.laps
    }

    /// Whether an entry from node `from` goes to `p`.
    #[inline]
    pub fn for_peer(&self, from: u32, p: usize) -> bool {
        self.router.relays(from, p)
    }

    /// Adds `x`, learned from node `from` (this node's index for its own clients' values);
    /// returns whether it was new. A new element that some peer must be sent is appended to
    /// the ring, making room first if it is full (which may lap peers: see
    /// [`Queue::take_lapped`]).
    #[inline]
    pub fn learn(&mut self, x: S::Item, from: u32) -> bool {
        let fresh = self.seen.insert(x);
        if fresh && self.router.relays_any(from, self.peers.len()) {
            if self.ring.is_full() {
                self.make_room();
            }
            self.ring.push(x, from);
        }
        fresh
    }

    /// Whether peers have been lapped since [`Queue::take_lapped`] last emptied the list.
    #[inline]
    pub fn has_lapped(&self) -> bool {
        !self.lapped.is_empty()
    }

    /// The peers lapped since the last call, once each.
    pub fn take_lapped(&mut self) -> Option<u32> {
        self.lapped.pop()
    }

    /// Moves `p`'s `acked` past entries not for it, and when nothing is outstanding, both
    /// cursors past the entries not for it up to the first that is.
    #[inline(always)]
    pub fn settle(&mut self, p: usize) {
        let c = &mut self.cursors[p];
        if !matches!(c.pin, Pin::Ring) {
            return;
        }
        let (ring, router) = (&self.ring, self.router);
        while c.acked < c.sent && !router.relays(ring.origin(c.acked), p) {
            c.acked += 1;
        }
        if c.acked == c.sent {
            while c.sent < ring.head && !router.relays(ring.origin(c.sent), p) {
                c.sent += 1;
            }
            c.acked = c.sent;
        }
        self.check(p);
    }

    /// Whether the ring holds entries for `p` that have not been sent to it. Moves `sent` to
    /// the head when there are none.
    #[inline]
    pub fn has_new(&mut self, p: usize) -> bool {
        let c = &mut self.cursors[p];
        if !matches!(c.pin, Pin::Ring) {
            return false;
        }
        let (ring, router) = (&self.ring, self.router);
        if (c.sent..ring.head).any(|pos| router.relays(ring.origin(pos), p)) {
            return true;
        }
        c.sent = ring.head;
        self.settle(p);
        false
    }

    /// Whether entries sent to `p` await its acknowledgement.
    #[inline]
    pub fn outstanding(&self, p: usize) -> bool {
        let c = &self.cursors[p];
        matches!(c.pin, Pin::Ring) && c.acked < c.sent
    }

    /// The first position at or after `pos` (and below the head) with an entry for `p`.
    #[inline]
    pub fn next_for(&self, p: usize, pos: u64) -> Option<u64> {
        (pos.max(self.ring.tail)..self.ring.head)
            .find(|&i| self.router.relays(self.ring.origin(i), p))
    }

    /// Records that everything up to the head has been sent to `p`; if nothing was
    /// outstanding, everything below the head is settled.
    #[inline]
    pub fn mark_sent(&mut self, p: usize, outstanding: bool) {
        let c = &mut self.cursors[p];
        debug_assert_eq!(c.pin, Pin::Ring);
        c.sent = self.ring.head;
        if !outstanding {
            c.acked = c.sent;
        }
        self.check(p);
    }

    /// `p` acknowledged our ring up to position `a`. Returns whether that moved its `base`
    /// (false for a stale or repeated acknowledgement, or while `p` is off the ring).
    #[inline]
    pub fn ack(&mut self, p: usize, a: u64) -> bool {
        let c = &mut self.cursors[p];
        if !matches!(c.pin, Pin::Ring) {
            return false;
        }
        // A peer cannot acknowledge what we never sent; clamp a confused one.
        let a = a.min(c.sent);
        if a <= c.base {
            return false;
        }
        c.base = a;
        c.acked = c.acked.max(a);
        self.settle(p);
        true
    }

    /// Starts a resync pass for `p` at the head: takes `p` off the ring (if it was on it)
    /// and pins the head. Returns the pass's start.
    pub fn begin_pass(&mut self, p: usize) -> u64 {
        let head = self.ring.head;
        self.cursors[p].pin = Pin::Pass(head);
        head
    }

    /// Puts `p` back on the ring at `start`, the start of the resync pass that has just shown
    /// that `p` holds every element this node held then. Fails (and leaves `p` off the ring)
    /// if the ring no longer holds that position or the pass was dropped.
    pub fn rejoin(&mut self, p: usize, start: u64) -> bool {
        let c = &mut self.cursors[p];
        if c.pin != Pin::Pass(start) || start < self.ring.tail {
            return false;
        }
        *c = Cursor { base: start, acked: start, sent: start, pin: Pin::Ring };
        self.settle(p);
        true
    }

    /// Takes `p` off the ring now, as if it had been lapped (for tests and for a peer the
    /// caller knows to be gone).
    pub fn lap(&mut self, p: usize) {
        if self.cursors[p].pin == Pin::Ring {
            self.cursors[p].pin = Pin::Loose;
            self.lapped.push(p as u32);
            self.laps += 1;
        }
    }

    /// The oldest position `p` still needs (the head if none).
    fn need(&self, p: usize) -> u64 {
        let c = &self.cursors[p];
        match c.pin {
            Pin::Ring => c.acked,
            Pin::Pass(start) => start,
            Pin::Loose => self.ring.head,
        }
    }

    fn slowest(&self) -> u64 {
        self.peers.iter().map(|&p| self.need(p as usize)).min().unwrap_or(self.ring.head)
    }

    /// Frees at least one slot of a full ring: trims behind the slowest cursor, else grows,
    /// else laps every cursor more than half the bound behind.
    #[cold]
    #[inline(never)]
    fn make_room(&mut self) {
        for k in 0..self.peers.len() {
            self.settle(self.peers[k] as usize);
        }
        self.ring.trim(self.slowest());
        if !self.ring.is_full() || self.ring.grow() {
            return;
        }
        let cut = self.ring.head - (self.ring.bound() / 2) as u64;
        for k in 0..self.peers.len() {
            let p = self.peers[k] as usize;
            if self.need(p) < cut {
                match self.cursors[p].pin {
                    Pin::Ring => self.lap(p),
                    Pin::Pass(_) => self.cursors[p].pin = Pin::Loose,
                    Pin::Loose => {}
                }
            }
        }
        self.ring.trim(self.slowest());
        assert!(!self.ring.is_full(), "lapping frees half the ring");
    }

    /// Checks a cursor's invariants (debug builds).
    #[inline]
    fn check(&self, p: usize) {
        if cfg!(debug_assertions) {
            let c = &self.cursors[p];
            if c.pin == Pin::Ring {
                assert!(
                    c.base <= c.acked && c.acked <= c.sent && c.sent <= self.ring.head,
                    "{p}: {c:?}"
                );
                assert!(
                    c.acked >= self.ring.tail || c.acked == c.sent,
                    "{p} needs trimmed entries: {c:?}"
                );
            }
            assert!(self.ring.len() <= self.ring.bound());
        }
    }

    /// Checks every cursor's invariants and the ring's (debug builds; cheap enough for the
    /// tests to call after every step).
    pub fn check_all(&self) {
        if cfg!(debug_assertions) {
            for &p in &self.peers {
                self.check(p as usize);
                let c = &self.cursors[p as usize];
                if c.pin == Pin::Ring {
                    assert!(c.acked >= self.ring.tail, "{p} on the ring below the tail: {c:?}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::seen::ValueSet;
    use super::*;
    use crate::rng::Rng;
    use crate::workload::broadcast::gossip::Role;

    #[test]
    fn the_ring_wraps_around_and_grows_in_place_of_its_positions() {
        let mut r: Ring<u64> = Ring::new(8);
        assert_eq!((r.capacity(), r.bound()), (8, 8));
        // Fill, trim, refill many times round: each position keeps its entry.
        for round in 0..200u64 {
            while !r.is_full() {
                let pos = r.head();
                assert_eq!(r.try_push(pos * 10, (pos % 3) as u32), Some(pos));
            }
            assert_eq!(r.try_push(0, 0), None, "a fallible push refuses when full");
            for pos in r.tail()..r.head() {
                assert_eq!(r.get(pos), (pos * 10, (pos % 3) as u32));
            }
            r.trim(r.tail() + 1 + round % 7);
        }
        assert!(r.head() > 500, "many times round the ring");
        assert!(!r.grow(), "at the bound");
        // Growing keeps every position, whatever slot it was in.
        let mut r: Ring<u64> = Ring::new(64);
        let mut r2 = Ring::new(2048);
        for _ in 0..3 {
            r2.push(0, 0);
        }
        r2.trim(3);
        for pos in 3..1027 {
            r2.push(pos, 1);
        }
        assert!(r2.is_full() && r2.grow());
        assert_eq!(r2.capacity(), 2048);
        for pos in 3..1027 {
            assert_eq!(r2.get(pos), (pos, 1));
        }
        r.push(1, 1);
        assert_eq!(r.capacity(), 64, "a small bound starts at the bound");
    }

    #[test]
    #[should_panic(expected = "push onto a full ring")]
    fn an_asserting_push_onto_a_full_ring_is_a_bug() {
        let mut r: Ring<u64> = Ring::new(2);
        r.push(1, 0);
        r.push(2, 0);
        r.push(3, 0);
    }

    /// Queues of a hub (node 0) of `n` nodes with a ring bound.
    fn hub(n: usize, bound: usize) -> Queue<ValueSet> {
        let peers: Vec<u32> = (1..n as u32).collect();
        Queue::new(Router::new(Role::Hub, 0), n, &peers, bound)
    }

    #[test]
    fn the_ring_is_trimmed_behind_the_slowest_cursor_that_needs_an_entry() {
        let mut q = hub(4, 4096);
        for v in 0..1000 {
            assert!(q.learn(v, 0));
        }
        for p in 1..4 {
            assert!(q.has_new(p));
            q.mark_sent(p, true);
        }
        // Peer 1 acknowledges 900, peer 2 all, peer 3 only 100.
        assert!(q.ack(1, 900) && q.ack(2, 1000) && q.ack(3, 100));
        for v in 1000..1124 {
            q.learn(v, 0);
        }
        // The 1,025th entry needed room: trimmed to peer 3's 100, not grown.
        assert_eq!((q.ring().tail(), q.ring().capacity()), (100, 1024));
        // Entries from a peer are not for it: once peer 3 has all of ours but entries that
        // came from it, it holds nothing back.
        for v in 5000..5100 {
            q.learn(v, 3);
        }
        assert_eq!((q.ring().tail(), q.ring().capacity()), (100, 2048), "grown for peer 3");
        assert!(q.has_new(3), "ours from 1000 on");
        q.mark_sent(3, true);
        assert!(q.ack(3, 1124));
        q.settle(3);
        assert_eq!(q.cursor(3).acked, 1224, "peer 3's own values are settled past");
        for v in 6000..6300 {
            q.learn(v, 0);
        }
        for v in 7000..7800 {
            q.learn(v, 0);
        }
        assert_eq!(q.ring().tail(), 900, "now peer 1 is the slowest");
        assert_eq!(q.ring().capacity(), 2048);
        assert_eq!(q.laps(), 0);
        q.check_all();
    }

    #[test]
    fn a_cursor_lapped_at_the_bound_goes_off_the_ring_and_pins_nothing() {
        let mut q = hub(3, 4096);
        assert_eq!(q.ring().capacity(), 1024);
        for v in 0..3000 {
            q.learn(v, 0);
            // Peer 2 keeps up; peer 1 never acknowledges.
            q.has_new(2);
            q.mark_sent(2, true);
            q.ack(2, q.ring().head());
        }
        assert_eq!(q.ring().capacity(), 4096, "grown for peer 1's backlog");
        assert!(q.on_ring(1) && q.take_lapped().is_none());
        for v in 3000..4097 {
            q.learn(v, 0);
        }
        // The 4,097th entry found the ring full at its bound: peer 1 (4,096 behind, more
        // than half the bound) is lapped, and the ring keeps only what peer 2 needs.
        assert_eq!(q.take_lapped(), Some(1));
        assert_eq!(q.take_lapped(), None);
        assert_eq!(q.cursor(1).pin, Pin::Loose);
        assert!(!q.on_ring(1) && !q.has_new(1) && !q.outstanding(1));
        assert!(!q.ack(1, 10), "acks of a lapped peer change nothing");
        assert_eq!(q.ring().tail(), 3000, "peer 2 still needs 3000..");
        assert_eq!(q.laps(), 1);
        // A pass pins its start while the ring can keep it, and the peer rejoins there.
        let start = q.begin_pass(1);
        assert_eq!(start, 4097);
        q.ack(2, 3500);
        for v in 5000..6000 {
            q.learn(v, 0);
        }
        assert!(q.rejoin(1, start));
        assert_eq!((q.cursor(1).base, q.cursor(1).acked), (start, start));
        assert!(q.has_new(1), "what came after the pass's start is on the ring for it");
        q.check_all();
        // A pass that falls more than half the bound behind is dropped: it cannot rejoin.
        q.lap(1);
        assert_eq!(q.take_lapped(), Some(1));
        let start = q.begin_pass(1);
        for v in 10_000..20_000 {
            q.learn(v, 0);
            q.has_new(2);
            q.mark_sent(2, true);
            q.ack(2, q.ring().head());
        }
        assert_eq!(q.cursor(1).pin, Pin::Loose);
        assert!(!q.rejoin(1, start));
        assert!(q.ring().len() <= 4096);
        q.check_all();
    }

    #[test]
    fn nothing_a_cursor_on_the_ring_still_needs_is_ever_trimmed() {
        // A random walk of appends (from any node), sends, acknowledgements (some stale),
        // laps and resync passes on a small ring, against a model of what each peer is owed.
        let mut rng = Rng::new(7);
        for case in 0..40 {
            let n = 2 + rng.below(5) as usize;
            let bound = [2, 4, 16, 64][case % 4];
            let role = [Role::Hub, Role::Mesh][case % 2];
            let peers: Vec<u32> = (1..n as u32).collect();
            let mut q: Queue<ValueSet> = Queue::new(Router::new(role, 0), n, &peers, bound);
            // For each peer: position -> value, for what it is owed through the ring.
            let mut owed: Vec<std::collections::BTreeMap<u64, u64>> = vec![Default::default(); n];
            let mut next = 0u64;
            for _ in 0..3000 {
                match rng.below(10) {
                    0..=4 => {
                        let from = rng.below(n as u64) as u32;
                        let head = q.ring().head();
                        if q.learn(next, from) && q.ring().head() > head {
                            for &p in &peers {
                                if q.on_ring(p as usize) && q.for_peer(from, p as usize) {
                                    owed[p as usize].insert(head, next);
                                }
                            }
                        }
                        next += 1;
                    }
                    5 | 6 => {
                        let p = 1 + rng.below(n as u64 - 1) as usize;
                        if q.has_new(p) {
                            q.mark_sent(p, true);
                        }
                    }
                    7 | 8 => {
                        let p = 1 + rng.below(n as u64 - 1) as usize;
                        let c = *q.cursor(p);
                        let a = c.base + rng.below(c.sent - c.base + 2);
                        if q.ack(p, a) {
                            let a = a.min(c.sent);
                            owed[p].retain(|&pos, _| pos >= a);
                        }
                    }
                    _ => {
                        let p = 1 + rng.below(n as u64 - 1) as usize;
                        match q.cursor(p).pin {
                            Pin::Ring => q.lap(p),
                            Pin::Loose => {
                                q.begin_pass(p);
                            }
                            Pin::Pass(start) => {
                                // The resync found nothing missing: rejoin where it began.
                                if q.rejoin(p, start) {
                                    owed[p].clear();
                                    for pos in start..q.ring().head() {
                                        let (v, from) = q.ring().get(pos);
                                        if q.for_peer(from, p) {
                                            owed[p].insert(pos, v);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                while let Some(p) = q.take_lapped() {
                    owed[p as usize].clear();
                }
                q.check_all();
                assert!(q.ring().len() <= q.ring().bound());
                for &p in &peers {
                    let p = p as usize;
                    if !q.on_ring(p) {
                        continue;
                    }
                    for (&pos, &v) in &owed[p] {
                        assert!(pos >= q.ring().tail(), "case {case}: {p} owed trimmed {pos}");
                        assert!(pos >= q.cursor(p).acked || pos < q.cursor(p).base);
                        assert_eq!(q.ring().get(pos).0, v);
                    }
                }
            }
            assert!(q.laps() > 0 || bound > 16, "case {case}: the walk laps small rings");
        }
    }
}
