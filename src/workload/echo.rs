//! Challenge 1, echo: answers `echo {echo}` with `echo_ok {echo}`, the same value.

use crate::node::{Ctx, Reject, Workload};
use crate::proto::Msg;

/// The echo workload. Stateless: the payload is written back from the parsed tape.
#[derive(Debug, Default)]
pub struct Echo;

impl Workload for Echo {
    type Timer = ();
    type Call = ();

    fn init(_: &mut Ctx<'_, Self>, _: &[String]) -> Self {
        Echo
    }

    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        match req.kind {
            "echo" => {
                let payload = req.field("echo")?;
                cx.reply(req, "echo_ok", |b| {
                    b.val("echo", payload);
                });
                Ok(())
            }
            other => Err(Reject::unsupported(other)),
        }
    }
}
