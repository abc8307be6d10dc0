//! Placeholder for the txn workload (being written).

use crate::node::{Ctx, Reject, Workload};
use crate::proto::Msg;

/// The txn workload.
#[derive(Debug, Default)]
pub struct Txn;

impl Workload for Txn {
    type Timer = ();
    type Call = ();

    fn init(_: &mut Ctx<'_, Self>, _: &[String]) -> Self {
        Txn
    }

    fn on_request(&mut self, req: &Msg<'_, '_>, _: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        Err(Reject::unsupported(req.kind))
    }
}
