//! Hierarchical timer wheel: owns the scheduling of timers by `u64` tick deadline (RPC timeouts,
//! retransmits, batch flushes) for the single-threaded sans-IO state machines.
//!
//! # Design
//!
//! The wheel has 6 levels of 64 slots. A slot at level `L` covers `64^L` ticks, so the
//! whole wheel covers one `2^36`-tick block, aligned to a multiple of `2^36`. A timer is placed by
//! comparing its deadline `when` with [`TimerWheel::elapsed`]: the level is the highest 6-bit
//! group in which they differ, and the slot is `when`'s value in that group. Deadlines in a
//! later `2^36` block than `elapsed` go to a single overflow list. Because levels are aligned
//! blocks, every occupied slot at level `L` lies after `elapsed`'s own position at that level, and
//! every timer at level `L` is earlier than every timer at a level above `L`. So the earliest
//! timer is always in the lowest occupied slot of the lowest non-empty level (the overflow list
//! counting as the highest level): no rotation or wrap-around is needed.
//!
//! [`TimerWheel::poll`] advances `elapsed` to the start of that slot. Level 0 slots hold timers
//! with a single deadline, which are popped one at a time. A slot at a higher level (or the
//! overflow list) is cascaded: its timers are re-placed relative to the new `elapsed`, which
//! always moves them to a strictly lower level (the overflow list may keep some). Each timer is
//! therefore moved at most 6 times, plus once per overflow rescan; a rescan happens when
//! `elapsed` reaches the `2^36` block of the earliest overflow deadline.
//!
//! Timers live in a slab (`Vec` of entries plus an intrusive free list). Each slot holds the head
//! of an intrusive doubly-linked list whose links are slab indices, so insert and cancel are
//! O(1) and, once the slab has grown to the peak number of live timers, nothing allocates.
//! Each entry carries a generation, bumped when the entry is freed, so a [`TimerId`] of a timer
//! that already fired or was cancelled is recognised as stale.

use std::fmt;

/// Bits of the deadline consumed by one level.
const LEVEL_BITS: u32 = 6;
/// Slots per level.
const SLOTS: usize = 1 << LEVEL_BITS;
/// Mask of a slot index within a level.
const SLOT_MASK: u64 = SLOTS as u64 - 1;
/// Number of levels. The wheel proper covers `2^(LEVEL_BITS * LEVELS)` = `2^36` ticks.
const LEVELS: usize = 6;
/// Mask of the tick bits resolved inside the wheel; the bits above select the `2^36` block.
const WHEEL_MASK: u64 = (1 << (LEVEL_BITS * LEVELS as u32)) - 1;
/// List id of the overflow list (deadlines in a later `2^36` block than `elapsed`). The wheel's
/// slots have list ids `level * SLOTS + slot`, all below this.
const OVERFLOW: usize = LEVELS * SLOTS;
/// Number of lists: every slot plus the overflow list.
const LISTS: usize = OVERFLOW + 1;
/// The null slab index, ending a linked list.
const NIL: u32 = u32::MAX;

/// A handle to a scheduled timer, returned by [`TimerWheel::insert`].
///
/// Once the timer has fired or been cancelled the handle is stale: [`TimerWheel::cancel`] and
/// [`TimerWheel::deadline`] then return `None`. (A handle could only be mistaken for a newer
/// timer after its slab entry had been reused `2^32` times.)
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct TimerId {
    /// Slab index of the timer's entry.
    index: u32,
    /// The entry's generation when the timer was scheduled.
    generation: u32,
}

/// One slab entry: a scheduled timer, or a vacant entry on the free list.
struct Entry<T> {
    /// The timer's payload.
    ///
    /// Invariant: `Some` exactly while the entry is scheduled (linked into a slot or the overflow
    /// list); `None` while it is on the free list.
    value: Option<T>,
    /// The deadline tick. Meaningful only while scheduled.
    when: u64,
    /// The previous entry of the same list, or `NIL` at the head. Unused on the free list.
    prev: u32,
    /// The next entry of the same list (slot, overflow or free list), or `NIL` at the tail.
    next: u32,
    /// Bumped (wrapping) each time the entry is freed.
    generation: u32,
    /// The list holding the entry while scheduled: `level * SLOTS + slot`, or `OVERFLOW`.
    ///
    /// Invariant: while scheduled, equals `TimerWheel::place(when)` for the current `elapsed`.
    list: u16,
}

/// A hierarchical timer wheel holding values of type `T` until their deadline tick.
///
/// See the [module documentation](self) for the design. All operations except [`poll`]
/// are O(1); `poll` is amortised O(1) per timer (each timer cascades at most once per level).
///
/// [`poll`]: TimerWheel::poll
pub struct TimerWheel<T> {
    /// The slab of timer entries, scheduled and vacant.
    entries: Vec<Entry<T>>,
    /// Head of the free list threaded through vacant entries' `next`, or `NIL`.
    ///
    /// Invariant: the free list holds exactly the entries whose `value` is `None`.
    free_head: u32,
    /// The head entry of each list (slots, then the overflow list), or `NIL` if empty.
    heads: [u32; LISTS],
    /// Per level, bit `s` is set iff slot `s` of that level is non-empty.
    ///
    /// Invariant: at level 0 every set bit is at or after `elapsed`'s own slot (at it only for
    /// timers due exactly at `elapsed`); at a level `L > 0` every set bit is strictly after
    /// `elapsed`'s own slot at level `L`. The bits match the non-empty slot lists.
    occupied: [u64; LEVELS],
    /// A lower bound on the deadlines in the overflow list.
    ///
    /// Invariant: `<=` every overflow deadline; `u64::MAX` when the overflow list is empty.
    overflow_floor: u64,
    /// The tick the wheel has advanced to.
    ///
    /// Invariant: every scheduled deadline is `>= elapsed`; equality only in level 0.
    elapsed: u64,
    /// The number of scheduled timers.
    len: usize,
}

/// Where the next event of [`TimerWheel::poll`] happens.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Event {
    /// Slot `slot` of level `level`.
    Slot {
        /// The level, `0..LEVELS`.
        level: usize,
        /// The slot, `0..SLOTS`.
        slot: usize,
    },
    /// The overflow list.
    Overflow,
}

impl<T> TimerWheel<T> {
    /// Creates an empty wheel with `elapsed() == 0`. Does not allocate.
    pub const fn new() -> Self {
        TimerWheel {
            entries: Vec::new(),
            free_head: NIL,
            heads: [NIL; LISTS],
            occupied: [0; LEVELS],
            overflow_floor: u64::MAX,
            elapsed: 0,
            len: 0,
        }
    }

    /// Creates an empty wheel with room for `n` timers before the slab reallocates.
    pub fn with_capacity(n: usize) -> Self {
        let mut wheel = Self::new();
        wheel.entries.reserve_exact(n);
        wheel
    }

    /// The tick the wheel has advanced to. Timers with a deadline at or before it are due.
    pub fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// The number of pending timers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Schedules `value` at tick `when`.
    ///
    /// If `when <= elapsed()` the timer is already due: returns `Err(value)` so the caller fires
    /// it at once.
    ///
    /// # Panics
    ///
    /// If `u32::MAX - 1` timers are already pending (a bug: that would need over 100 GiB).
    pub fn insert(&mut self, when: u64, value: T) -> Result<TimerId, T> {
        if when <= self.elapsed {
            return Err(value);
        }
        let index = self.alloc(when, value);
        let list = self.place(when);
        self.link(index, list);
        self.len += 1;
        Ok(TimerId { index, generation: self.entries[index as usize].generation })
    }

    /// Cancels the timer `id`, returning its value, or `None` if it already fired or was
    /// cancelled.
    pub fn cancel(&mut self, id: TimerId) -> Option<T> {
        let index = self.lookup(id)?;
        self.unlink(index);
        Some(self.free(index))
    }

    /// The deadline (tick) of the timer `id`, if still pending.
    pub fn deadline(&self, id: TimerId) -> Option<u64> {
        self.lookup(id).map(|index| self.entries[index as usize].when)
    }

    /// The earliest tick at which [`poll`](Self::poll) may have work, or `None` if no timer is
    /// pending.
    ///
    /// Never later than the earliest pending deadline, and never earlier than `elapsed()`. Exact
    /// when the earliest timer sits in level 0 (within 64 ticks of `elapsed`); otherwise it may
    /// be the start of the range of the slot holding that timer, where the slot cascades down.
    pub fn next_deadline(&self) -> Option<u64> {
        self.next_event().map(|(start, _)| start)
    }

    /// Advances the wheel to `now` and pops one timer whose deadline is `<= now`, or returns
    /// `None` if there is none.
    ///
    /// Time never goes backwards: a `now` before `elapsed()` is treated as `elapsed()`. Timers
    /// fire in deadline order (ties in unspecified order), however far `now` jumps. After a
    /// `Some`, `elapsed()` is the popped timer's deadline; after `None`, it is `now`.
    pub fn poll(&mut self, now: u64) -> Option<(TimerId, T)> {
        let now = now.max(self.elapsed);
        loop {
            self.debug_check_occupied();
            let Some((start, event)) = self.next_event().filter(|&(start, _)| start <= now) else {
                self.elapsed = now;
                return None;
            };
            debug_assert!(start >= self.elapsed, "events never lie in the past");
            self.elapsed = start;
            match event {
                Event::Slot { level: 0, slot } => {
                    let index = self.heads[slot];
                    debug_assert_eq!(self.entries[index as usize].when, start);
                    self.unlink(index);
                    let generation = self.entries[index as usize].generation;
                    let value = self.free(index);
                    return Some((TimerId { index, generation }, value));
                }
                Event::Slot { level, slot } => self.cascade(level * SLOTS + slot),
                Event::Overflow => self.cascade(OVERFLOW),
            }
        }
    }

    /// Cancels every pending timer, dropping the values. `elapsed()` is kept; all outstanding
    /// ids become stale. Keeps the slab's memory.
    pub fn clear(&mut self) {
        for index in 0..self.entries.len() {
            if self.entries[index].value.is_some() {
                // `index < entries.len() <= NIL`, enforced by `alloc`.
                let index = index as u32;
                drop(self.free(index));
            }
        }
        self.heads = [NIL; LISTS];
        self.occupied = [0; LEVELS];
        self.overflow_floor = u64::MAX;
        debug_assert_eq!(self.len, 0);
    }

    /// The next event `poll` must handle and the tick at which it happens: the lowest occupied
    /// slot of the lowest non-empty level, else the overflow list.
    fn next_event(&self) -> Option<(u64, Event)> {
        for (level, &occupied) in self.occupied.iter().enumerate() {
            if occupied != 0 {
                let slot = occupied.trailing_zeros() as usize;
                let shift = LEVEL_BITS * level as u32;
                // Bits of `elapsed` below this level's block are replaced by the slot's start.
                let block = self.elapsed & !((SLOT_MASK << shift) | ((1 << shift) - 1));
                return Some((block | (slot as u64) << shift, Event::Slot { level, slot }));
            }
        }
        if self.heads[OVERFLOW] == NIL {
            return None;
        }
        // Overflow deadlines lie in a later block, so `elapsed` is not in the last block and the
        // addition does not saturate.
        let next_block = (self.elapsed | WHEEL_MASK).saturating_add(1);
        Some((next_block.max(self.overflow_floor & !WHEEL_MASK), Event::Overflow))
    }

    /// The list that should hold a timer due at `when`, relative to the current `elapsed`.
    fn place(&self, when: u64) -> usize {
        debug_assert!(when >= self.elapsed);
        let diff = when ^ self.elapsed;
        if diff > WHEEL_MASK {
            return OVERFLOW;
        }
        // The highest 6-bit group where `when` and `elapsed` differ (0 if they are equal).
        let level = ((diff | SLOT_MASK).ilog2() / LEVEL_BITS) as usize;
        let slot = (when >> (LEVEL_BITS * level as u32)) & SLOT_MASK;
        level * SLOTS + slot as usize
    }

    /// Takes a vacant entry (or grows the slab), fills it with `when` and `value`, and returns
    /// its index. The entry is not linked into any list yet.
    fn alloc(&mut self, when: u64, value: T) -> u32 {
        if self.free_head != NIL {
            let index = self.free_head;
            let entry = &mut self.entries[index as usize];
            debug_assert!(entry.value.is_none(), "free-list entries are vacant");
            self.free_head = entry.next;
            entry.value = Some(value);
            entry.when = when;
            return index;
        }
        let index = u32::try_from(self.entries.len()).unwrap_or(NIL);
        assert!(index != NIL, "timer wheel full: {} timers pending", self.len);
        self.entries.push(Entry {
            value: Some(value),
            when,
            prev: NIL,
            next: NIL,
            generation: 0,
            list: 0,
        });
        index
    }

    /// Returns the (already unlinked) entry `index` to the free list, staling its ids, and
    /// returns its value.
    fn free(&mut self, index: u32) -> T {
        let entry = &mut self.entries[index as usize];
        let value = entry.value.take().expect("only scheduled entries are freed");
        entry.generation = entry.generation.wrapping_add(1);
        entry.next = self.free_head;
        self.free_head = index;
        self.len -= 1;
        value
    }

    /// The slab index of the timer `id`, if it is still scheduled.
    fn lookup(&self, id: TimerId) -> Option<u32> {
        let entry = self.entries.get(id.index as usize)?;
        (entry.generation == id.generation && entry.value.is_some()).then_some(id.index)
    }

    /// Pushes the scheduled entry `index` onto the front of list `list`.
    fn link(&mut self, index: u32, list: usize) {
        let head = self.heads[list];
        let entry = &mut self.entries[index as usize];
        debug_assert!(entry.value.is_some());
        // `list < LISTS`, which fits in a u16.
        entry.list = list as u16;
        entry.prev = NIL;
        entry.next = head;
        let when = entry.when;
        if head != NIL {
            self.entries[head as usize].prev = index;
        }
        self.heads[list] = index;
        if list == OVERFLOW {
            self.overflow_floor = self.overflow_floor.min(when);
        } else {
            self.occupied[list / SLOTS] |= 1 << (list % SLOTS);
        }
    }

    /// Removes the scheduled entry `index` from its list.
    fn unlink(&mut self, index: u32) {
        let Entry { prev, next, list, .. } = self.entries[index as usize];
        let list = usize::from(list);
        if prev == NIL {
            debug_assert_eq!(self.heads[list], index);
            self.heads[list] = next;
        } else {
            self.entries[prev as usize].next = next;
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
        if self.heads[list] == NIL {
            self.mark_empty(list);
        }
    }

    /// Records that list `list` has become empty.
    fn mark_empty(&mut self, list: usize) {
        if list == OVERFLOW {
            self.overflow_floor = u64::MAX;
        } else {
            self.occupied[list / SLOTS] &= !(1 << (list % SLOTS));
        }
    }

    /// Empties list `list` (a slot above level 0, or the overflow list, whose range `elapsed` has
    /// just reached) and re-places each of its timers relative to the new `elapsed`.
    fn cascade(&mut self, list: usize) {
        let mut index = self.heads[list];
        self.heads[list] = NIL;
        self.mark_empty(list);
        while index != NIL {
            let entry = &self.entries[index as usize];
            let next = entry.next;
            let target = self.place(entry.when);
            debug_assert!(target < list || list == OVERFLOW, "cascading moves timers down");
            self.link(index, target);
            index = next;
        }
    }

    /// Checks the `occupied` invariant (cheap; debug builds only).
    fn debug_check_occupied(&self) {
        for (level, &occupied) in self.occupied.iter().enumerate() {
            let here = (self.elapsed >> (LEVEL_BITS * level as u32)) & SLOT_MASK;
            // Level 0 may hold timers due exactly at `elapsed`; higher levels only later slots.
            let forbidden = if level == 0 { (1 << here) - 1 } else { u64::MAX >> (63 - here) };
            debug_assert_eq!(occupied & forbidden, 0, "level {level} has a slot in the past");
        }
    }
}

impl<T> Default for TimerWheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Shows the wheel's position and load, not the timers (`T` need not be `Debug`).
impl<T> fmt::Debug for TimerWheel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerWheel")
            .field("elapsed", &self.elapsed)
            .field("len", &self.len)
            .field("next_deadline", &self.next_deadline())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    impl<T> TimerWheel<T> {
        /// Checks every structural invariant by walking the slab and all lists. O(slab).
        fn check_invariants(&self) {
            self.debug_check_occupied();
            let mut seen = 0;
            for (list, &head) in self.heads.iter().enumerate() {
                if list < OVERFLOW {
                    let bit = self.occupied[list / SLOTS] >> (list % SLOTS) & 1;
                    assert_eq!(bit == 1, head != NIL, "occupied bit of list {list}");
                } else if head == NIL {
                    assert_eq!(self.overflow_floor, u64::MAX);
                }
                let mut prev = NIL;
                let mut index = head;
                while index != NIL {
                    let entry = &self.entries[index as usize];
                    assert!(entry.value.is_some());
                    assert_eq!(entry.prev, prev);
                    assert_eq!(usize::from(entry.list), list);
                    assert_eq!(self.place(entry.when), list, "entry at {}", entry.when);
                    assert!(entry.when >= self.elapsed);
                    if entry.when == self.elapsed {
                        assert!(list < SLOTS);
                    }
                    if list == OVERFLOW {
                        assert!(self.overflow_floor <= entry.when);
                    }
                    seen += 1;
                    prev = index;
                    index = entry.next;
                }
            }
            assert_eq!(seen, self.len);
            let mut vacant = 0;
            let mut index = self.free_head;
            while index != NIL {
                assert!(self.entries[index as usize].value.is_none());
                vacant += 1;
                index = self.entries[index as usize].next;
            }
            assert_eq!(seen + vacant, self.entries.len());
        }

        /// Polls at `now` until `None`, returning the fired (deadline, value) pairs.
        fn drain(&mut self, now: u64) -> Vec<(u64, T)> {
            let mut fired = Vec::new();
            while let Some((_, value)) = self.poll(now) {
                fired.push((self.elapsed, value));
            }
            fired
        }
    }

    #[test]
    fn new_and_default_are_empty() {
        let mut wheel: TimerWheel<u32> = TimerWheel::new();
        assert_eq!((wheel.elapsed(), wheel.len(), wheel.is_empty()), (0, 0, true));
        assert_eq!(wheel.next_deadline(), None);
        assert!(wheel.poll(10).is_none());
        assert_eq!(wheel.elapsed(), 10);
        let wheel: TimerWheel<u32> = TimerWheel::default();
        assert!(wheel.is_empty());
        let debug = format!("{wheel:?}");
        assert!(debug.contains("elapsed: 0") && debug.contains("next_deadline: None"), "{debug}");
        let wheel: TimerWheel<u32> = TimerWheel::with_capacity(100);
        assert!(wheel.entries.capacity() >= 100);
        wheel.check_invariants();
    }

    #[test]
    fn insert_at_or_before_elapsed_is_err() {
        let mut wheel = TimerWheel::new();
        assert_eq!(wheel.insert(0, 'a'), Err('a'));
        assert!(wheel.poll(50).is_none());
        assert_eq!(wheel.insert(50, 'b'), Err('b'));
        assert_eq!(wheel.insert(7, 'c'), Err('c'));
        assert!(wheel.is_empty());
        assert!(wheel.insert(51, 'd').is_ok());
        assert_eq!(wheel.len(), 1);
    }

    #[test]
    fn fires_exactly_at_deadline() {
        let mut wheel = TimerWheel::new();
        let id = wheel.insert(10, "x").unwrap();
        assert_eq!(wheel.deadline(id), Some(10));
        assert_eq!(wheel.next_deadline(), Some(10));
        assert!(wheel.poll(9).is_none());
        assert_eq!(wheel.elapsed(), 9);
        assert_eq!(wheel.poll(10), Some((id, "x")));
        assert_eq!(wheel.elapsed(), 10);
        assert!(wheel.is_empty());
        assert_eq!(wheel.next_deadline(), None);
    }

    #[test]
    fn cancel_returns_value_once() {
        let mut wheel = TimerWheel::new();
        let a = wheel.insert(100, 1).unwrap();
        let b = wheel.insert(100, 2).unwrap();
        assert_eq!(wheel.cancel(a), Some(1));
        assert_eq!(wheel.cancel(a), None);
        assert_eq!(wheel.deadline(a), None);
        assert_eq!(wheel.len(), 1);
        assert_eq!(wheel.poll(1000), Some((b, 2)));
        assert_eq!(wheel.cancel(b), None);
        assert!(wheel.poll(u64::MAX).is_none());
        wheel.check_invariants();
    }

    #[test]
    fn stale_ids_do_not_touch_reused_entries() {
        let mut wheel = TimerWheel::new();
        let old = wheel.insert(5, "old").unwrap();
        assert_eq!(wheel.poll(5), Some((old, "old")));
        let new = wheel.insert(6, "new").unwrap();
        assert_eq!(new.index, old.index, "slab entry is reused");
        assert_ne!(new, old);
        assert_eq!(wheel.cancel(old), None);
        assert_eq!(wheel.deadline(old), None);
        assert_eq!(wheel.deadline(new), Some(6));
        assert_eq!(wheel.cancel(new), Some("new"));
        let bogus = TimerId { index: 1000, generation: 0 };
        assert_eq!(wheel.cancel(bogus), None);
        assert_eq!(wheel.deadline(bogus), None);
    }

    #[test]
    fn level_boundaries_fire_in_order() {
        let boundaries = [
            1,
            62,
            63,
            64,
            65,
            127,
            128,
            4095,
            4096,
            4097,
            (1 << 18) - 1,
            1 << 18,
            (1 << 30) - 1,
            1 << 30,
            WHEEL_MASK,
            WHEEL_MASK + 1,
            WHEEL_MASK + 2,
        ];
        // All at once, popped with one far-future poll each.
        let mut wheel = TimerWheel::new();
        for &when in boundaries.iter().rev() {
            wheel.insert(when, when).unwrap();
        }
        wheel.check_invariants();
        let fired: Vec<u64> = wheel
            .drain(u64::MAX)
            .into_iter()
            .map(|(when, v)| {
                assert_eq!(when, v);
                v
            })
            .collect();
        assert_eq!(fired, boundaries);
        // One at a time, approached from one tick before.
        for &when in &boundaries {
            let mut wheel = TimerWheel::new();
            let id = wheel.insert(when, ()).unwrap();
            let next = wheel.next_deadline().unwrap();
            assert!(next <= when);
            assert!(wheel.poll(when - 1).is_none(), "{when} fired early");
            assert_eq!(wheel.next_deadline(), Some(when), "exact once in level 0");
            assert_eq!(wheel.poll(when), Some((id, ())));
            wheel.check_invariants();
        }
    }

    #[test]
    fn boundaries_relative_to_a_nonzero_elapsed() {
        for start in [1, 63, 64, 4095, 4096, WHEEL_MASK - 1, WHEEL_MASK, u64::MAX - 5000] {
            for delta in [1, 63, 64, 65, 4095, 4096, 4097, 1 << 20] {
                let mut wheel = TimerWheel::new();
                assert!(wheel.poll(start).is_none());
                let Some(when) = start.checked_add(delta) else { continue };
                let id = wheel.insert(when, ()).unwrap();
                wheel.check_invariants();
                assert!(wheel.poll(when - 1).is_none());
                wheel.check_invariants();
                assert_eq!(wheel.poll(when), Some((id, ())), "start {start} delta {delta}");
            }
        }
    }

    #[test]
    fn huge_deadlines() {
        let mut wheel = TimerWheel::new();
        let whens = [u64::MAX / 2, u64::MAX / 2 + 1, u64::MAX - 1, u64::MAX, 1 << 40];
        for &when in &whens {
            wheel.insert(when, when).unwrap();
        }
        wheel.check_invariants();
        assert!(wheel.next_deadline().unwrap() <= 1 << 40);
        assert!(wheel.poll((1 << 40) - 1).is_none());
        assert_eq!(wheel.poll(1 << 40).map(|(_, v)| v), Some(1 << 40));
        assert!(wheel.poll(u64::MAX / 2 - 1).is_none());
        wheel.check_invariants();
        assert!(wheel.next_deadline().unwrap() <= u64::MAX / 2);
        let mut sorted = whens;
        sorted.sort_unstable();
        let fired: Vec<u64> = wheel.drain(u64::MAX).into_iter().map(|(_, v)| v).collect();
        assert_eq!(fired, sorted[1..]);
        assert_eq!(wheel.elapsed(), u64::MAX);
        assert_eq!(wheel.insert(u64::MAX, 0), Err(0));
    }

    #[test]
    fn many_timers_in_one_slot() {
        let mut wheel = TimerWheel::new();
        for i in 0..1000u64 {
            wheel.insert(42, i).unwrap();
            // 4096..4160 all lie in slot 1 of level 2.
            wheel.insert(4096 + i % 64, i).unwrap();
        }
        assert_eq!(wheel.len(), 2000);
        let first = wheel.drain(42);
        assert_eq!(first.len(), 1000);
        assert!(first.iter().all(|&(when, _)| when == 42));
        let mut values: Vec<u64> = first.iter().map(|&(_, v)| v).collect();
        values.sort_unstable();
        assert_eq!(values, (0..1000).collect::<Vec<_>>());
        let rest = wheel.drain(u64::MAX);
        assert_eq!(rest.len(), 1000);
        assert!(rest.windows(2).all(|w| w[0].0 <= w[1].0));
        assert!(rest.iter().all(|&(when, v)| when == 4096 + v % 64));
        wheel.check_invariants();
    }

    #[test]
    fn far_jump_keeps_deadline_order() {
        let mut wheel = TimerWheel::new();
        let whens = [5, 70, 4100, 5000, 300_000, 1 << 37, 3];
        for &when in &whens {
            wheel.insert(when, when).unwrap();
        }
        let fired: Vec<u64> = wheel.drain(u64::MAX / 4).into_iter().map(|(_, v)| v).collect();
        assert_eq!(fired, [3, 5, 70, 4100, 5000, 300_000, 1 << 37]);
        assert_eq!(wheel.elapsed(), u64::MAX / 4);
    }

    #[test]
    fn insert_after_empty_poll_is_found() {
        let mut wheel = TimerWheel::new();
        wheel.insert(1 << 20, 'z').unwrap();
        assert!(wheel.poll(1000).is_none());
        assert_eq!(wheel.elapsed(), 1000);
        assert_eq!(wheel.insert(1000, 'a'), Err('a'));
        let id = wheel.insert(1001, 'b').unwrap();
        assert_eq!(wheel.next_deadline(), Some(1001));
        assert_eq!(wheel.poll(5000), Some((id, 'b')));
        assert_eq!(wheel.elapsed(), 1001);
        // A timer inserted between the popped deadline and the `now` polled still fires.
        let id = wheel.insert(2000, 'c').unwrap();
        assert_eq!(wheel.poll(5000), Some((id, 'c')));
        assert!(wheel.poll(5000).is_none());
        assert_eq!(wheel.poll(1 << 20).map(|(_, v)| v), Some('z'));
        wheel.check_invariants();
    }

    #[test]
    fn time_never_goes_backwards() {
        let mut wheel = TimerWheel::new();
        assert!(wheel.poll(500).is_none());
        assert!(wheel.poll(100).is_none());
        assert_eq!(wheel.elapsed(), 500);
        let id = wheel.insert(501, ()).unwrap();
        assert!(wheel.poll(0).is_none());
        assert_eq!(wheel.poll(501), Some((id, ())));
    }

    #[test]
    fn next_deadline_bounds() {
        let mut wheel = TimerWheel::new();
        wheel.insert(63, ()).unwrap();
        assert_eq!(wheel.next_deadline(), Some(63));
        wheel.insert(5000, ()).unwrap();
        assert_eq!(wheel.next_deadline(), Some(63));
        wheel.drain(63);
        let next = wheel.next_deadline().unwrap();
        assert!((63..=5000).contains(&next));
        // Following next_deadline reaches the timer without ever passing it.
        let mut steps = 0;
        while wheel.poll(wheel.next_deadline().unwrap()).is_none() {
            steps += 1;
            assert!(steps <= LEVELS, "cascades at most once per level");
        }
        assert_eq!(wheel.elapsed(), 5000);
    }

    #[test]
    fn clear_stales_everything() {
        let mut wheel = TimerWheel::new();
        let ids: Vec<TimerId> = (1..100).map(|i| wheel.insert(i * 1000, i).unwrap()).collect();
        wheel.insert(u64::MAX, 0).unwrap();
        wheel.clear();
        wheel.check_invariants();
        assert!(wheel.is_empty());
        assert_eq!(wheel.next_deadline(), None);
        assert!(ids.iter().all(|&id| wheel.cancel(id).is_none()));
        let id = wheel.insert(7, 7).unwrap();
        assert_eq!(wheel.poll(u64::MAX), Some((id, 7)));
    }

    #[test]
    fn steady_state_reuses_the_slab() {
        let mut wheel = TimerWheel::with_capacity(64);
        let mut now = 0;
        for round in 0..10_000u64 {
            now += 1;
            let id = wheel.insert(now + 50 + round % 3000, round).unwrap();
            if round % 3 == 0 {
                wheel.cancel(id).unwrap();
            }
            while wheel.poll(now).is_some() {}
        }
        let slab = wheel.entries.len();
        let capacity = wheel.entries.capacity();
        for round in 0..10_000u64 {
            now += 1;
            let id = wheel.insert(now + 50 + round % 3000, round).unwrap();
            if round % 3 == 0 {
                wheel.cancel(id).unwrap();
            }
            while wheel.poll(now).is_some() {}
        }
        assert_eq!(wheel.entries.len(), slab);
        assert_eq!(wheel.entries.capacity(), capacity);
        wheel.check_invariants();
    }

    /// A tiny deterministic RNG (splitmix64) for the model test.
    struct SplitMix(u64);

    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        /// Uniform-ish in `0..n` (`n > 0`); the modulo bias is irrelevant here.
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        /// A distance with a mix of scales: mostly small, sometimes past every level.
        fn distance(&mut self) -> u64 {
            match self.below(100) {
                0..40 => self.below(80),
                40..70 => self.below(5_000),
                70..85 => self.below(1 << 20),
                85..95 => self.below(1 << 40),
                _ => self.next() >> self.below(64),
            }
        }
    }

    /// Prints the seed if the model test panics while it is alive.
    struct SeedGuard(u64);

    impl Drop for SeedGuard {
        fn drop(&mut self) {
            if std::thread::panicking() {
                eprintln!("timer wheel model test failed with seed {}", self.0);
            }
        }
    }

    /// Runs `ops` random operations against both the wheel and a sorted-map model.
    fn model_run(seed: u64, ops: usize) {
        let _guard = SeedGuard(seed);
        let mut rng = SplitMix(seed);
        let mut wheel = TimerWheel::new();
        // (deadline, seq) -> id; the value stored in the wheel is `seq`.
        let mut model: BTreeMap<(u64, u64), TimerId> = BTreeMap::new();
        let mut live: Vec<(TimerId, u64, u64)> = Vec::new();
        let mut dead: Vec<TimerId> = Vec::new();
        let mut seq = 0u64;
        // Some runs start near a 2^36 block boundary or near the end of time.
        let start = match seed % 4 {
            0 => 0,
            1 => WHEEL_MASK - rng.below(5_000),
            2 => u64::MAX - (1 << 38) - rng.below(1 << 37),
            _ => rng.next() >> 8,
        };
        assert!(wheel.poll(start).is_none());
        for op in 0..ops {
            let elapsed = wheel.elapsed();
            match rng.below(100) {
                0..45 => {
                    let when = match rng.below(10) {
                        0 => elapsed.saturating_sub(rng.below(100)),
                        _ => elapsed.saturating_add(rng.distance()),
                    };
                    seq += 1;
                    match wheel.insert(when, seq) {
                        Ok(id) => {
                            assert!(when > elapsed);
                            model.insert((when, seq), id);
                            live.push((id, when, seq));
                        }
                        Err(value) => {
                            assert!(when <= elapsed);
                            assert_eq!(value, seq);
                        }
                    }
                }
                45..60 => {
                    if !live.is_empty() {
                        let i = rng.below(live.len() as u64) as usize;
                        let (id, when, s) = live.swap_remove(i);
                        if model.remove(&(when, s)).is_some() {
                            assert_eq!(wheel.deadline(id), Some(when));
                            assert_eq!(wheel.cancel(id), Some(s));
                        } else {
                            assert_eq!(wheel.cancel(id), None, "fired timer cancelled");
                        }
                        dead.push(id);
                    }
                }
                60..65 => {
                    if !dead.is_empty() {
                        let id = dead[rng.below(dead.len() as u64) as usize];
                        assert_eq!(wheel.cancel(id), None);
                        assert_eq!(wheel.deadline(id), None);
                    }
                }
                _ => {
                    let now = match rng.below(20) {
                        0 => elapsed.saturating_sub(rng.below(1000)),
                        _ => elapsed.saturating_add(rng.distance()),
                    };
                    // Usually drain; sometimes pop only a few.
                    let budget = if rng.below(4) == 0 { rng.below(4) } else { u64::MAX };
                    let mut popped = 0;
                    let mut last = elapsed;
                    while popped < budget {
                        let expected = model.first_key_value().map(|(&k, _)| k);
                        match wheel.poll(now) {
                            Some((id, s)) => {
                                let (when, _) = expected.expect("wheel fired, model empty");
                                assert!(when <= now.max(elapsed));
                                assert!(when >= last, "deadlines non-decreasing");
                                last = when;
                                assert_eq!(wheel.elapsed(), when);
                                // Ties fire in any order: find the popped one among equals.
                                let key = model
                                    .range((when, 0)..=(when, u64::MAX))
                                    .find(|&(_, &v)| v == id)
                                    .map(|(&k, _)| k)
                                    .expect("popped timer has the earliest deadline");
                                assert_eq!(key.1, s);
                                model.remove(&key);
                                dead.push(id);
                                popped += 1;
                            }
                            None => {
                                if let Some((when, _)) = expected {
                                    assert!(when > now.max(elapsed), "due timer not fired");
                                }
                                assert_eq!(wheel.elapsed(), now.max(elapsed));
                                break;
                            }
                        }
                    }
                }
            }
            assert_eq!(wheel.len(), model.len());
            match (wheel.next_deadline(), model.first_key_value()) {
                (None, None) => {}
                (Some(next), Some((&(when, _), _))) => {
                    assert!(next <= when, "next_deadline {next} after earliest {when}");
                    assert!(next >= wheel.elapsed());
                }
                (next, first) => panic!("next_deadline {next:?} but model has {first:?}"),
            }
            if op % 64 == 0 {
                wheel.check_invariants();
            }
            if dead.len() > 10_000 {
                dead.drain(..5_000);
            }
        }
        wheel.check_invariants();
        // Everything left fires, in order, at the end of time.
        let mut fired = wheel.drain(u64::MAX);
        assert!(fired.windows(2).all(|w| w[0].0 <= w[1].0));
        fired.sort_unstable();
        assert!(fired.into_iter().eq(model.into_keys()));
        assert!(wheel.is_empty());
    }

    #[test]
    fn randomized_against_model() {
        for seed in 0..200 {
            model_run(seed, 2_000);
        }
    }

    #[test]
    fn randomized_against_model_long() {
        for seed in 1000..1004 {
            model_run(seed, 50_000);
        }
    }
}
