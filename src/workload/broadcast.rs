//! Placeholder for the broadcast workload (being written).

use crate::node::{Ctx, Reject, Workload};
use crate::proto::Msg;

/// The broadcast workload.
#[derive(Debug, Default)]
pub struct Broadcast;

impl Workload for Broadcast {
    type Timer = ();
    type Call = ();

    fn init(_: &mut Ctx<'_, Self>, _: &[String]) -> Self {
        Broadcast
    }

    fn on_request(&mut self, req: &Msg<'_, '_>, _: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        Err(Reject::unsupported(req.kind))
    }
}
