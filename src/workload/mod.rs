//! The workloads: one state machine per Maelstrom workload, each a [`crate::node::Workload`].

pub mod broadcast;
pub mod echo;
pub mod g_counter;
pub mod kafka;
pub mod lin_kv;
pub mod txn;
pub mod unique_ids;

use crate::node::{Machine, Node};

/// Workload names with an in-process implementation (Maelstrom's names).
pub const NAMES: &[&str] =
    &["echo", "unique-ids", "broadcast", "g-counter", "kafka", "txn-rw-register", "lin-kv"];

/// A fresh node for Maelstrom workload `name`, or `None` if we have no such workload.
pub fn machine(name: &str, args: Vec<String>, seed: u64) -> Option<Box<dyn Machine>> {
    Some(match name {
        "echo" => Box::new(Node::<echo::Echo>::new(args, seed)),
        "unique-ids" => Box::new(Node::<unique_ids::UniqueIds>::new(args, seed)),
        "broadcast" => Box::new(Node::<broadcast::Broadcast>::new(args, seed)),
        "g-counter" => Box::new(Node::<g_counter::GCounter>::new(args, seed)),
        "kafka" => Box::new(Node::<kafka::Kafka>::new(args, seed)),
        "txn-rw-register" => Box::new(Node::<txn::Txn>::new(args, seed)),
        "lin-kv" => Box::new(Node::<lin_kv::LinKv>::new(args, seed)),
        _ => return None,
    })
}
