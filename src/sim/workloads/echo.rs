//! echo: clients send `Please echo <k>`; every reply must carry the same string back.

use serde::Serialize;

use super::{Check, ClientWorkload, Done, RpcResult, Step, Ty, Validity, check_schema, fields};
use crate::sim::history::{History, OpType};
use crate::sim::opts::TestOpts;

/// An echo operation's value: the string sent, or what came back.
#[derive(Clone, Debug)]
pub enum EchoValue {
    /// The payload (invocations; info and fail completions keep it).
    Sent(String),
    /// An `echo_ok`.
    Echoed {
        /// What it carried in `echo`, when that was a string.
        echo: Option<String>,
        /// The whole reply body as JSON text, which Maelstrom's history keeps as the
        /// operation's value (absent when read back from our `history.jsonl`).
        body: Option<Box<str>>,
    },
}

/// In JSON (`history.jsonl`, the checker's errors): the string sent or echoed.
impl Serialize for EchoValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            EchoValue::Sent(t) => s.serialize_str(t),
            EchoValue::Echoed { echo, .. } => echo.serialize(s),
        }
    }
}

/// The echo client workload.
#[derive(Debug, Default)]
pub struct EchoClient;

const ECHO_OK: &[(&str, Ty)] = &[("echo", Ty::Any)];

impl ClientWorkload for EchoClient {
    type Value = EchoValue;

    fn reusable_client(&self) -> bool {
        false
    }

    fn final_phase(&self) -> bool {
        false
    }

    fn next_op(
        &mut self,
        _: usize,
        rng: &mut crate::rng::Rng,
    ) -> Option<(&'static str, EchoValue)> {
        Some(("echo", EchoValue::Sent(format!("Please echo {}", rng.below(128)))))
    }

    fn next_final(
        &mut self,
        _: usize,
        _: &mut crate::rng::Rng,
    ) -> Option<(&'static str, EchoValue)> {
        None
    }

    fn begin(
        &mut self,
        _: usize,
        _: &'static str,
        v: &EchoValue,
        req: &mut Vec<u8>,
    ) -> Step<EchoValue> {
        if let EchoValue::Sent(s) = v {
            fields(req).str("echo", s);
        }
        Step::Send("echo")
    }

    fn on_reply(
        &mut self,
        _: usize,
        _: &'static str,
        v: &EchoValue,
        result: RpcResult<'_, '_, '_>,
        _: &mut Vec<u8>,
    ) -> Step<EchoValue> {
        if let Some(done) = result.failure(v.clone(), false) {
            return done;
        }
        let RpcResult::Reply(msg) = result else { unreachable!("failure() handled errors") };
        if let Err(why) = check_schema(msg, "echo_ok", ECHO_OK) {
            return Done::err(OpType::Info, v.clone(), format!("malformed-rpc-response: {why}"));
        }
        let echo = msg.get("echo").and_then(|e| e.as_str()).map(str::to_owned);
        let mut body = Vec::new();
        crate::proto::encode::write_val(&mut body, msg.body.as_val());
        let body = String::from_utf8(body).ok().map(String::into_boxed_str);
        Done::ok(EchoValue::Echoed { echo, body })
    }

    fn check(&self, history: &History<EchoValue>, _: &TestOpts) -> Check {
        #[derive(Serialize)]
        struct Result<'a> {
            valid: Validity,
            errors: Vec<(&'a EchoValue, Option<&'a EchoValue>)>,
        }
        let mut errors = Vec::new();
        for p in history.pairs() {
            let ok = match (&p.invoke.value, p.complete) {
                (EchoValue::Sent(s), Some(c)) if c.kind == OpType::Ok => {
                    matches!(&c.value, EchoValue::Echoed { echo: Some(e), .. } if e == s)
                }
                _ => false,
            };
            if !ok {
                errors.push((&p.invoke.value, p.complete.map(|c| &c.value)));
            }
        }
        let valid = Validity::from_bool(errors.is_empty());
        let summary = vec![format!("echo: {} mismatched or failed replies", errors.len())];
        errors.truncate(16);
        Check::new(valid, summary, &Result { valid, errors })
    }
}
