//! Timer storage for the node runtime (interim ordered-map version; the hierarchical wheel
//! replaces it with the same API).

use std::collections::BTreeMap;

use hashbrown::HashMap;

/// Handle of a scheduled timer.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct TimerId {
    index: u32,
    generation: u32,
}

/// Timers keyed by deadline tick.
pub struct TimerWheel<T> {
    map: BTreeMap<(u64, u32), T>,
    deadlines: HashMap<u32, u64>,
    next: u32,
    elapsed: u64,
}

impl<T> TimerWheel<T> {
    /// An empty set of timers at tick 0.
    pub fn with_capacity(_: usize) -> Self {
        TimerWheel { map: BTreeMap::new(), deadlines: HashMap::new(), next: 0, elapsed: 0 }
    }

    /// The tick the wheel has advanced to.
    pub fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Schedules `v` at tick `when`; `Err(v)` if it is already due.
    pub fn insert(&mut self, when: u64, v: T) -> Result<TimerId, T> {
        if when <= self.elapsed {
            return Err(v);
        }
        self.next += 1;
        self.map.insert((when, self.next), v);
        self.deadlines.insert(self.next, when);
        Ok(TimerId { index: self.next, generation: 0 })
    }

    /// Cancels a timer.
    pub fn cancel(&mut self, id: TimerId) -> Option<T> {
        let w = self.deadlines.remove(&id.index)?;
        self.map.remove(&(w, id.index))
    }

    /// A pending timer's deadline.
    pub fn deadline(&self, id: TimerId) -> Option<u64> {
        self.deadlines.get(&id.index).copied()
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<u64> {
        self.map.keys().next().map(|k| k.0)
    }

    /// Pops one timer due at `now`.
    pub fn poll(&mut self, now: u64) -> Option<(TimerId, T)> {
        self.elapsed = self.elapsed.max(now);
        let (&k, _) = self.map.iter().next()?;
        if k.0 > now {
            return None;
        }
        self.deadlines.remove(&k.1);
        let v = self.map.remove(&k)?;
        Some((TimerId { index: k.1, generation: 0 }, v))
    }
}
