//! Time as the state machines see it: instants passed in by a driver, and the timer wheel.
//!
//! Nothing under `node/` or `workload/` reads a clock. The mio driver converts
//! `std::time::Instant` to [`Instant`] (microseconds since the driver started); the simulator
//! passes virtual time in the same unit.

pub mod wheel;

use std::ops::{Add, Sub};
use std::time::Duration;

/// A point in time, in microseconds since an arbitrary, driver-chosen origin.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The origin.
    pub const ZERO: Instant = Instant(0);
    /// Later than every instant a run can reach.
    pub const FAR_FUTURE: Instant = Instant(u64::MAX / 2);

    /// An instant `us` microseconds after the origin.
    pub const fn from_micros(us: u64) -> Instant {
        Instant(us)
    }

    /// An instant `ms` milliseconds after the origin.
    pub const fn from_millis(ms: u64) -> Instant {
        Instant(ms * 1000)
    }

    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Whole milliseconds since the origin (rounded down).
    pub const fn as_millis(self) -> u64 {
        self.0 / 1000
    }

    /// Milliseconds since the origin, rounded up: the first timer-wheel tick not before `self`.
    pub const fn as_millis_ceil(self) -> u64 {
        self.0.div_ceil(1000)
    }

    /// Time from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        // Durations used by nodes are bounded (seconds to minutes); saturate rather than wrap.
        Instant(self.0.saturating_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX)))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_since(earlier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_rounds_and_saturates() {
        let t = Instant::from_micros(1_500);
        assert_eq!(t.as_millis(), 1);
        assert_eq!(t.as_millis_ceil(), 2);
        assert_eq!(Instant::from_millis(3).as_millis_ceil(), 3);
        assert_eq!(t + Duration::from_millis(2), Instant::from_micros(3_500));
        assert_eq!(Instant::ZERO - t, Duration::ZERO);
        assert_eq!(Instant::ZERO + Duration::MAX, Instant::from_micros(u64::MAX));
    }
}
