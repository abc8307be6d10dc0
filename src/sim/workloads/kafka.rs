//! Placeholder for the kafka client workload and checker (being written).

use super::{Check, ClientWorkload, RpcResult, Step, Validity};
use crate::rng::Rng;
use crate::sim::history::History;
use crate::sim::opts::TestOpts;

/// The kafka client workload.
#[derive(Debug, Default)]
pub struct KafkaClient;

impl KafkaClient {
    /// The client workload for these options.
    pub fn new(_: &TestOpts) -> Self {
        KafkaClient
    }
}

impl ClientWorkload for KafkaClient {
    type Value = ();

    fn reusable_client(&self) -> bool {
        true
    }

    fn final_phase(&self) -> bool {
        false
    }

    fn next_op(&mut self, _: usize, _: &mut Rng) -> Option<(&'static str, ())> {
        None
    }

    fn next_final(&mut self, _: usize, _: &mut Rng) -> Option<(&'static str, ())> {
        None
    }

    fn begin(&mut self, _: usize, _: &'static str, _: &(), _: &mut Vec<u8>) -> Step<()> {
        unreachable!("the placeholder generates no operations")
    }

    fn on_reply(
        &mut self,
        _: usize,
        _: &'static str,
        _: &(),
        _: RpcResult<'_, '_, '_>,
        _: &mut Vec<u8>,
    ) -> Step<()> {
        unreachable!("the placeholder generates no operations")
    }

    fn check(&self, _: &History<()>, _: &TestOpts) -> Check {
        Check::new(Validity::Unknown, vec!["kafka checker not written yet".into()], &())
    }
}
