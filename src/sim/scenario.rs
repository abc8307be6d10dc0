//! Fault scenarios derived from one seed, for sweeps: the seed picks the faults, the test's
//! randomness and the reproduction command all at once (TigerBeetle's VOPR habit).

use super::opts::{LatencyDist, TestOpts};
use crate::rng::Rng;

/// The fault knobs a scenario sets.
#[derive(Clone, Debug, PartialEq)]
pub struct Faults {
    /// Latency distribution.
    pub dist: LatencyDist,
    /// Mean latency in ms.
    pub latency: u64,
    /// Partitions on?
    pub partition: bool,
    /// Mean seconds between partition changes.
    pub nemesis_interval: f64,
    /// Probability of losing a server-to-server message.
    pub loss: f64,
}

/// Derives the faults of scenario `seed` on top of `base`, returning the options to run.
///
/// Latency is 0, 10, 100 or 500 ms under any of the three distributions; partitions (every
/// shape, picked per partition by the nemesis) are on in three runs out of four with a mean
/// interval of 2, 5 or 10 s; one run in three loses 1 to 10% of server messages. The test's
/// own randomness uses the same seed.
pub fn with_faults(base: &TestOpts, seed: u64) -> TestOpts {
    let mut rng = Rng::new(seed ^ 0x5ce7_a210);
    let dist = *rng.pick(&[LatencyDist::Constant, LatencyDist::Uniform, LatencyDist::Exponential]);
    let latency = *rng.pick(&[0, 10, 100, 500]);
    let partition = rng.chance(0.75);
    let nemesis_interval = *rng.pick(&[2.0, 5.0, 10.0]);
    let loss = if rng.chance(1.0 / 3.0) { (1 + rng.below(10)) as f64 / 100.0 } else { 0.0 };
    TestOpts {
        seed,
        latency_dist: dist,
        latency,
        partition,
        nemesis_interval,
        loss,
        ..base.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_cover_the_fault_space_and_are_reproducible() {
        let base = TestOpts::default();
        let all: Vec<TestOpts> = (0..200).map(|s| with_faults(&base, s)).collect();
        assert!(all.iter().any(|o| o.latency == 500 && o.latency_dist == LatencyDist::Exponential));
        assert!(all.iter().any(|o| o.partition && o.loss > 0.0));
        assert!(all.iter().any(|o| !o.partition && o.loss == 0.0));
        for (s, o) in all.iter().enumerate() {
            let again = TestOpts::parse(
                &o.command_line().split_whitespace().skip(5).map(str::to_owned).collect::<Vec<_>>(),
            )
            .expect("the reproduction command parses");
            assert_eq!(again.command_line(), o.command_line(), "seed {s}");
        }
    }
}
