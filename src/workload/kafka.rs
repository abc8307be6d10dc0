//! Placeholder for the kafka workload (being written).

use crate::node::{Ctx, Reject, Workload};
use crate::proto::Msg;

/// The kafka workload.
#[derive(Debug, Default)]
pub struct Kafka;

impl Workload for Kafka {
    type Timer = ();
    type Call = ();

    fn init(_: &mut Ctx<'_, Self>, _: &[String]) -> Self {
        Kafka
    }

    fn on_request(&mut self, req: &Msg<'_, '_>, _: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        Err(Reject::unsupported(req.kind))
    }
}
