//! glomers: Gossip Glomers nodes for Maelstrom, and a native, deterministic Maelstrom-compatible
//! bench.
//!
//! Every workload is a sans-IO state machine ([`node::Workload`]) wrapped by [`node::Node`],
//! which owns the protocol plumbing (init, errors, RPCs, timers). Two thin drivers run the same
//! machines: [`driver`] (one thread, mio, stdin/stdout) and [`sim`] (virtual time, simulated
//! network, Maelstrom's generators and checkers).

pub mod driver;
pub mod fuzz;
pub mod node;
pub mod proto;
pub mod rng;
pub mod serve;
pub mod sim;
pub mod simd;
pub mod time;
pub mod workload;
