//! Challenge 2, unique-ids: globally unique ids with no coordination at all.
//!
//! Node `i` of `n` hands out `i, i + n, i + 2n, ...`: disjoint arithmetic progressions, so ids
//! are unique across the cluster without a single message, and generation keeps working through
//! any partition. Every id is a JSON integer. Uniqueness holds for the life of the node
//! processes (Maelstrom does not restart unique-ids nodes).

use crate::node::{Ctx, Reject, Workload};
use crate::proto::Msg;

/// The unique-ids workload.
#[derive(Debug)]
pub struct UniqueIds {
    /// The next id to hand out. Invariant: `next % stride == index`.
    next: u64,
    /// Distance between this node's consecutive ids: the cluster size (at least index + 1).
    stride: u64,
}

impl Workload for UniqueIds {
    type Timer = ();
    type Call = ();

    fn init(cx: &mut Ctx<'_, Self>, _: &[String]) -> Self {
        // A node missing from node_ids gets index == len, so stride len + 1 keeps it disjoint.
        let index = cx.index() as u64;
        let stride = (cx.ids().len() as u64).max(index + 1);
        UniqueIds { next: index, stride }
    }

    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        match req.kind {
            "generate" => {
                let id = self.next;
                self.next += self.stride;
                cx.reply(req, "generate_ok", |b| {
                    b.u64("id", id);
                });
                Ok(())
            }
            other => Err(Reject::unsupported(other)),
        }
    }
}
