//! g-counter: Maelstrom's pn-counter workload with the negative adds filtered out (reads 2/3,
//! adds of 0..=4 1/3), judged by the same checker: final reads must equal the acknowledged
//! total plus some subset of the indefinite adds. Everything lives in [`super::pn_counter`].

pub use super::pn_counter::{CValue, check_counter};

/// The g-counter client workload.
pub type GCounterClient = super::pn_counter::CounterClient<true>;
