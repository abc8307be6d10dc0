//! Challenge 3, broadcast: the node's client requests, over a gossip layer that moves values
//! between nodes and a queue layer that holds them.
//!
//! # Where things are
//!
//! - [`queue`]: what the node holds. The seen set ([`queue::seen::ValueSet`]: a bitmap for
//!   counter-like values, a hash set for the rest) has every value; the values still pending
//!   for each peer are one bounded ring shared by all peers' queues, each queue a cursor pair
//!   into it, trimmed behind the slowest cursor that still needs an entry.
//! - [`gossip`]: how values move. The plan's topology (who sends to whom), the handlers of the
//!   link protocol, acknowledgements, retransmission with backoff, and the resync of a peer
//!   the ring has lapped.
//! - [`protocol`]: the messages between nodes and their fields.
//! - [`tuning`]: the plans and the three operating points, and the command-line words that
//!   select and adjust them.
//!
//! Both layers are generic over the element set ([`queue::Set`]); this module only adds the
//! client side (`broadcast`, `read`, `topology`).
//!
//! # What is measured, and the plans that follow from it
//!
//! Maelstrom counts messages, not bytes, so a batch of a thousand values costs the same as one.
//! Every server-to-server hop costs one latency (100 ms in challenge 3d). Two plans
//! ([`Plan`]) cover the trade-off:
//!
//! - **Star**: each node sends its clients' values to the hub (`node_ids[0]`), which relays them
//!   in batches to everyone else. Each value takes two hops, and every non-hub node receives one
//!   message per hub batch, which is the least a node can receive for a given staleness. Cost:
//!   about one message per broadcast plus `(n - 1)` per hub batch.
//! - **Mesh**: each node sends its clients' values straight to every other node. One hop, the
//!   lowest latency there is, at `n - 1` messages per broadcast.
//!
//! The suggested `topology` is acknowledged and ignored: both plans are built from `node_ids`,
//! which is the same on every node.
//!
//! # Memory
//!
//! The seen set (a bit a value for counter values) and the ring, whose bound
//! ([`Tuning::ring`], 16,384 entries of 12 bytes by default) holds whatever a partition does:
//! a peer further behind than half of it is lapped and later resynchronised from the seen set
//! by a digest exchange, then put back on the ring. `read` is answered from the seen set.

pub mod gossip;
pub mod protocol;
pub mod queue;
pub mod tuning;

#[cfg(test)]
mod tests;

use self::gossip::Gossip;
use self::queue::seen::ValueSet;

pub use self::gossip::{MAX_BATCH, Role, Timer};
pub use self::tuning::{Plan, Tuning};
use crate::node::{Ctx, Reject, Workload};
use crate::proto::Msg;

/// The broadcast workload: a grow-only set of integers shared by every node.
#[derive(Debug)]
pub struct Broadcast {
    gossip: Gossip<ValueSet>,
}

impl Broadcast {
    /// This node's role.
    pub fn role(&self) -> Role {
        self.gossip.role()
    }

    /// The tuning in force.
    pub fn tuning(&self) -> Tuning {
        self.gossip.tuning()
    }

    /// The values this node has.
    pub fn values(&self) -> &ValueSet {
        self.gossip.set()
    }

    /// The gossip layer (for inspection: the ring, the cursors, resync counts).
    pub fn gossip(&self) -> &Gossip<ValueSet> {
        &self.gossip
    }

    /// Whether any timer is pending (false once the node is quiet).
    pub fn busy(&self) -> bool {
        self.gossip.busy()
    }
}

impl Workload for Broadcast {
    type Timer = Timer;
    type Call = ();

    fn init(cx: &mut Ctx<'_, Self>, args: &[String]) -> Self {
        let (tuning, ignored) = Tuning::from_args(args);
        cx.log_ignored_args(&ignored);
        Broadcast { gossip: Gossip::new(cx, tuning) }
    }

    #[inline]
    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        match req.kind {
            "broadcast" => {
                let v = req.u64("message")?;
                cx.reply(req, "broadcast_ok", |_| {});
                self.gossip.learn_local(v, cx);
            }
            "read" => {
                cx.reply(req, "read_ok", |b| {
                    self.gossip.set().write_json(b.key("messages"));
                });
            }
            "topology" => {
                // Validated, acknowledged and ignored: the plan comes from node_ids.
                req.obj("topology")?;
                cx.reply(req, "topology_ok", |_| {});
            }
            other => match self.gossip.handle(req, cx) {
                Some(handled) => handled?,
                None => return Err(Reject::unsupported(other)),
            },
        }
        Ok(())
    }

    fn on_timer(&mut self, timer: Timer, cx: &mut Ctx<'_, Self>) {
        self.gossip.on_timer(timer, cx);
    }
}
