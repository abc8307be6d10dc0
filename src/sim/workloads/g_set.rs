//! g-set: 50% adds of the elements 0, 1, 2, ... (as the generator draws them), 50% reads,
//! one final read per thread, judged by Jepsen's set-full checker (shared with broadcast:
//! [`super::broadcast::set_full`]).
//!
//! Unlike broadcast, Maelstrom's g-set client does not use `with-errors`: an error reply, a
//! timeout or a malformed reply is an exception in the client, which Jepsen records as an
//! indeterminate `info`, reads included. Its final reads carry no `:final?` flag, which
//! set-full never looks at.

use serde::Serialize;

use super::broadcast::{SetOp, set_full};
use super::{Check, ClientWorkload, Done, RpcResult, Step, Ty, check_schema, fields};
use crate::rng::Rng;
use crate::sim::history::{History, OpType};
use crate::sim::opts::TestOpts;

/// A g-set operation's value.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum GValue {
    /// `add` of this element.
    Add(u64),
    /// `read`: `None` on invocation, the elements read on completion (those that are
    /// non-negative integers: nothing else can match an added element).
    Read(Option<Vec<u64>>),
}

impl SetOp for GValue {
    fn added(&self) -> Option<u64> {
        match self {
            GValue::Add(x) => Some(*x),
            GValue::Read(_) => None,
        }
    }

    fn read(&self) -> Option<&[u64]> {
        match self {
            GValue::Read(Some(vals)) => Some(vals),
            _ => None,
        }
    }
}

/// The g-set client workload.
#[derive(Debug, Default)]
pub struct GSetClient {
    next_element: u64,
    /// Threads that have had their final read.
    final_done: hashbrown::HashSet<usize>,
}

const ADD_OK: &[(&str, Ty)] = &[];
const READ_OK: &[(&str, Ty)] = &[("value", Ty::ArrayOf(&Ty::Any))];

impl ClientWorkload for GSetClient {
    type Value = GValue;

    fn reusable_client(&self) -> bool {
        false
    }

    fn final_phase(&self) -> bool {
        true
    }

    fn next_op(&mut self, _: usize, rng: &mut Rng) -> Option<(&'static str, GValue)> {
        // `gen/mix` of `(range)` mapped to adds and an endless stream of reads.
        if rng.chance(0.5) {
            let x = self.next_element;
            self.next_element += 1;
            Some(("add", GValue::Add(x)))
        } else {
            Some(("read", GValue::Read(None)))
        }
    }

    fn next_final(&mut self, thread: usize, _: &mut Rng) -> Option<(&'static str, GValue)> {
        // `gen/each-thread {:f :read}`: one final read per thread.
        self.final_done.insert(thread).then_some(("read", GValue::Read(None)))
    }

    fn begin(&mut self, _: usize, f: &'static str, v: &GValue, req: &mut Vec<u8>) -> Step<GValue> {
        if let GValue::Add(x) = v {
            fields(req).u64("element", *x);
        }
        Step::Send(f)
    }

    fn on_reply(
        &mut self,
        _: usize,
        f: &'static str,
        v: &GValue,
        result: RpcResult<'_, '_, '_>,
        _: &mut Vec<u8>,
    ) -> Step<GValue> {
        if let Some(done) = result.indeterminate(v.clone()) {
            return done;
        }
        let RpcResult::Reply(msg) = result else { unreachable!("indeterminate() handled errors") };
        let (kind, schema) = if f == "read" { ("read_ok", READ_OK) } else { ("add_ok", ADD_OK) };
        if let Err(why) = check_schema(msg, kind, schema) {
            return Done::err(
                OpType::Info,
                v.clone(),
                format!("indeterminate: malformed-rpc-response: {why}"),
            );
        }
        match v {
            GValue::Read(_) => {
                let arr = msg.get("value").and_then(|m| m.as_array()).expect("schema checked");
                Done::ok(GValue::Read(Some(arr.iter().filter_map(|e| e.as_u64()).collect())))
            }
            GValue::Add(_) => Done::ok(v.clone()),
        }
    }

    fn check(&self, history: &History<GValue>, _: &TestOpts) -> Check {
        set_full(history)
    }
}
