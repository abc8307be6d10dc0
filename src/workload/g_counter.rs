//! Placeholder for the g_counter workload (being written).

use crate::node::{Ctx, Reject, Workload};
use crate::proto::Msg;

/// The g_counter workload.
#[derive(Debug, Default)]
pub struct GCounter;

impl Workload for GCounter {
    type Timer = ();
    type Call = ();

    fn init(_: &mut Ctx<'_, Self>, _: &[String]) -> Self {
        GCounter
    }

    fn on_request(&mut self, req: &Msg<'_, '_>, _: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        Err(Reject::unsupported(req.kind))
    }
}
