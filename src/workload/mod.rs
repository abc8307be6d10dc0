//! The workloads: one state machine per Maelstrom workload, each a [`crate::node::Workload`].

pub mod broadcast;
pub mod echo;
pub mod g_counter;
pub mod g_set;
pub mod kafka;
pub mod lin_kv;
pub mod pn_counter;
pub mod txn;
pub mod txn_list_append;
pub mod unique_ids;

use crate::node::{Machine, Node};

/// Workload names with an in-process implementation (Maelstrom's names).
pub const NAMES: &[&str] = &[
    "echo",
    "unique-ids",
    "broadcast",
    "g-counter",
    "kafka",
    "txn-rw-register",
    "txn-list-append",
    "g-set",
    "pn-counter",
    "lin-kv",
];

/// A fresh node for Maelstrom workload `name`, or `None` if we have no such workload.
pub fn machine(name: &str, args: Vec<String>, seed: u64) -> Option<Box<dyn Machine>> {
    Some(match name {
        "echo" => Box::new(Node::<echo::Echo>::new(args, seed)),
        "unique-ids" => Box::new(Node::<unique_ids::UniqueIds>::new(args, seed)),
        "broadcast" => Box::new(Node::<broadcast::Broadcast>::new(args, seed)),
        "g-counter" => Box::new(Node::<g_counter::GCounter>::new(args, seed)),
        "kafka" => Box::new(Node::<kafka::Kafka>::new(args, seed)),
        "txn-rw-register" => Box::new(Node::<txn::Txn>::new(args, seed)),
        "txn-list-append" => Box::new(Node::<txn_list_append::TxnListAppend>::new(args, seed)),
        "pn-counter" => Box::new(Node::<pn_counter::PnCounter>::new(args, seed)),
        "g-set" => Box::new(Node::<g_set::GSet>::new(args, seed)),
        "lin-kv" => Box::new(Node::<lin_kv::LinKv>::new(args, seed)),
        _ => return None,
    })
}
