//! Client-side workloads: Maelstrom's generators, client logic and checkers, one file each.
//!
//! A [`ClientWorkload`] decides what each worker thread does next, turns operations into
//! requests, reads replies (enforcing Maelstrom's closed reply schemas) and finally judges the
//! history. The engine owns time, the network and the threads; the workload owns meaning.

pub mod broadcast;
pub mod echo;
pub mod g_counter;
pub mod kafka;
pub mod lin_kv;
pub mod txn;
pub mod unique_ids;

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::history::{History, OpType};
use super::opts::TestOpts;
use crate::proto::{ErrorCode, Kind, Msg, Val};
use crate::rng::Rng;

/// What an operation does next.
#[derive(Debug)]
pub enum Step<V> {
    /// Send a request of this type to the thread's node (fields were written to the request
    /// buffer) and wait for its reply.
    Send(&'static str),
    /// The operation is complete.
    Done(Done<V>),
}

/// A completed operation.
#[derive(Debug)]
pub struct Done<V> {
    /// Ok, fail or info.
    pub kind: OpType,
    /// The completion value.
    pub value: V,
    /// Why it failed or is indefinite.
    pub error: Option<String>,
}

impl<V> Done<V> {
    /// A successful completion.
    pub fn ok(value: V) -> Step<V> {
        Step::Done(Done { kind: OpType::Ok, value, error: None })
    }

    /// A completion of any kind with an error text.
    pub fn err(kind: OpType, value: V, error: impl Into<String>) -> Step<V> {
        Step::Done(Done { kind, value, error: Some(error.into()) })
    }
}

/// The outcome of one client RPC.
#[derive(Debug)]
pub enum RpcResult<'a, 't, 'i> {
    /// A non-error reply.
    Reply(&'a Msg<'t, 'i>),
    /// An `error` reply.
    Error {
        /// Its code.
        code: ErrorCode,
        /// Its text (may be empty).
        text: String,
    },
    /// No reply within the client timeout.
    Timeout,
}

impl RpcResult<'_, '_, '_> {
    /// Maelstrom's `with-errors` mapping for an error or timeout: a definite error, or any
    /// error of an idempotent operation, is a `fail`; anything else is `info`.
    ///
    /// Returns `None` for a normal reply.
    pub fn failure<V>(&self, value: V, idempotent: bool) -> Option<Step<V>> {
        match self {
            RpcResult::Reply(_) => None,
            RpcResult::Timeout => {
                let kind = if idempotent { OpType::Fail } else { OpType::Info };
                Some(Done::err(kind, value, "net-timeout"))
            }
            RpcResult::Error { code, text } => {
                let kind =
                    if code.is_definite() || idempotent { OpType::Fail } else { OpType::Info };
                Some(Done::err(kind, value, format!("{}: {text}", code.name())))
            }
        }
    }

    /// The mapping for workloads without `with-errors` (g-counter): every error or timeout
    /// is an indeterminate `info`.
    pub fn indeterminate<V>(&self, value: V) -> Option<Step<V>> {
        match self {
            RpcResult::Reply(_) => None,
            RpcResult::Timeout => Some(Done::err(OpType::Info, value, "indeterminate: timeout")),
            RpcResult::Error { code, text } => Some(Done::err(
                OpType::Info,
                value,
                format!("indeterminate: {}: {text}", code.name()),
            )),
        }
    }
}

/// Whether a check passed: Maelstrom's `:valid?` (true, false or unknown).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Validity {
    /// Passed.
    True,
    /// Failed.
    False,
    /// Could not be decided.
    Unknown,
}

impl Validity {
    /// Merges two verdicts: false beats unknown beats true.
    pub fn and(self, other: Validity) -> Validity {
        match (self, other) {
            (Validity::False, _) | (_, Validity::False) => Validity::False,
            (Validity::Unknown, _) | (_, Validity::Unknown) => Validity::Unknown,
            _ => Validity::True,
        }
    }

    /// True or false.
    pub fn from_bool(ok: bool) -> Validity {
        if ok { Validity::True } else { Validity::False }
    }
}

impl fmt::Display for Validity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Validity::True => "true",
            Validity::False => "false",
            Validity::Unknown => "unknown",
        })
    }
}

/// A checker's verdict.
#[derive(Debug)]
pub struct Check {
    /// Valid?
    pub valid: Validity,
    /// Lines for the human summary (most important first).
    pub summary: Vec<String>,
    /// The checker's result as a JSON object (for `results.json`).
    pub json: String,
}

impl Check {
    /// A verdict whose JSON is `result` serialized.
    pub fn new(valid: Validity, summary: Vec<String>, result: &impl Serialize) -> Check {
        let json = simd_json::to_string(result).unwrap_or_else(|e| {
            format!(
                "{{\"error\":\"result not serializable: {}\"}}",
                e.to_string().replace('"', "'")
            )
        });
        Check { valid, summary, json }
    }
}

/// The client side of one Maelstrom workload.
pub trait ClientWorkload {
    /// Operation values as they appear in the history.
    type Value: Clone + fmt::Debug + Serialize;

    /// Whether a thread keeps its client (and client id) after an indefinite outcome.
    fn reusable_client(&self) -> bool;

    /// Whether the test ends with heal, a 10 s quiet period and final operations.
    fn final_phase(&self) -> bool;

    /// How long a client waits for a reply.
    fn rpc_timeout(&self) -> Duration {
        Duration::from_secs(5)
    }

    /// A cap on the final phase, if any (kafka's final polls stop after 10 s).
    fn final_phase_limit(&self) -> Option<Duration> {
        None
    }

    /// A setup request for node `node` sent once after init by that node's setup client
    /// (broadcast's `topology`). Writes fields into `req` and returns the request type; the
    /// reply must be `<type>_ok` with no other fields.
    fn setup(
        &self,
        node: usize,
        nodes: &[String],
        opts: &TestOpts,
        req: &mut Vec<u8>,
    ) -> Option<&'static str> {
        let _ = (node, nodes, opts, req);
        None
    }

    /// The engine's clock: test time since the main phase began. Called before every
    /// [`ClientWorkload::next_op`] and [`ClientWorkload::next_final`], for generators that
    /// depend on time (kafka's crash stagger).
    fn set_clock(&mut self, now: Duration) {
        let _ = now;
    }

    /// The next main-phase operation for `thread`, or `None` to skip this slot.
    fn next_op(&mut self, thread: usize, rng: &mut Rng) -> Option<(&'static str, Self::Value)>;

    /// The next final-phase operation for `thread`, or `None` once the thread is done.
    fn next_final(&mut self, thread: usize, rng: &mut Rng) -> Option<(&'static str, Self::Value)>;

    /// How long `thread` waits before invoking the final-phase operation [`next_final`] just
    /// returned (Jepsen's `stagger`; kafka's final polls). Default: no wait.
    ///
    /// [`next_final`]: ClientWorkload::next_final
    fn final_delay(&mut self, thread: usize) -> Duration {
        let _ = thread;
        Duration::ZERO
    }

    /// Starts an operation. Writes request fields (each with a leading comma, via
    /// [`fields`]) into `req` and returns [`Step::Send`], or completes at once.
    fn begin(
        &mut self,
        thread: usize,
        f: &'static str,
        value: &Self::Value,
        req: &mut Vec<u8>,
    ) -> Step<Self::Value>;

    /// Continues an operation with the result of its last request.
    fn on_reply(
        &mut self,
        thread: usize,
        f: &'static str,
        value: &Self::Value,
        result: RpcResult<'_, '_, '_>,
        req: &mut Vec<u8>,
    ) -> Step<Self::Value>;

    /// Functions the stats check ignores when they never succeed (kafka's `crash`).
    fn stats_exempt(&self, f: &str) -> bool {
        let _ = f;
        false
    }

    /// The thread's client was closed and will be replaced (per-client state resets).
    fn client_closed(&mut self, thread: usize) {
        let _ = thread;
    }

    /// Judges the history.
    fn check(&self, history: &History<Self::Value>, opts: &TestOpts) -> Check;
}

/// A writer for request fields: every member is written with a leading comma, to follow
/// the engine's `type` and `msg_id`.
pub fn fields(req: &mut Vec<u8>) -> crate::proto::encode::ObjWriter<'_> {
    crate::proto::encode::ObjWriter::continuing(req, true)
}

/// A type in a closed reply schema.
#[derive(Copy, Clone, Debug)]
pub enum Ty {
    /// Any JSON value.
    Any,
    /// An integer.
    Int,
    /// A string.
    Str,
    /// An array whose elements all have this type.
    ArrayOf(&'static Ty),
    /// An object with string keys whose values all have this type.
    MapOf(&'static Ty),
    /// An array of exactly these element types.
    Tuple(&'static [Ty]),
}

impl Ty {
    /// Whether `v` has this type.
    pub fn accepts(&self, v: Val<'_, '_>) -> bool {
        match self {
            Ty::Any => true,
            Ty::Int => v.kind() == Kind::Int,
            Ty::Str => v.kind() == Kind::Str,
            Ty::ArrayOf(t) => v.as_array().is_some_and(|a| a.iter().all(|e| t.accepts(e))),
            Ty::MapOf(t) => v.as_object().is_some_and(|o| o.iter().all(|(_, e)| t.accepts(e))),
            Ty::Tuple(ts) => v.as_array().is_some_and(|a| {
                a.len() == ts.len() && a.iter().zip(ts.iter()).all(|(e, t)| t.accepts(e))
            }),
        }
    }
}

/// Checks a reply against a closed schema, as Maelstrom does: `type` must be `kind`,
/// `in_reply_to` an integer, `msg_id` an optional integer, every listed field present with
/// its type, and nothing else. Returns the reason for a malformed reply.
pub fn check_schema(
    msg: &Msg<'_, '_>,
    kind: &str,
    schema: &[(&'static str, Ty)],
) -> Result<(), String> {
    if msg.kind != kind {
        return Err(format!("expected a {kind} reply, got type {}", msg.kind));
    }
    for (k, v) in msg.body.iter() {
        match k {
            "type" => {}
            "msg_id" | "in_reply_to" if v.kind() == Kind::Int => {}
            _ => match schema.iter().find(|(name, _)| *name == k) {
                Some((_, ty)) if ty.accepts(v) => {}
                Some(_) => return Err(format!("{kind}: field `{k}` has the wrong type")),
                None => return Err(format!("{kind}: unexpected field `{k}` (schemas are closed)")),
            },
        }
    }
    if msg.in_reply_to.is_none() {
        return Err(format!("{kind}: missing in_reply_to"));
    }
    for (name, _) in schema {
        if msg.body.get(name).is_none() {
            return Err(format!("{kind}: missing field `{name}`"));
        }
    }
    Ok(())
}

/// Quantiles at Maelstrom's points 0, 0.5, 0.95, 0.99, 1 of sorted `values`: element
/// `min(n-1, floor(n*p))`.
pub fn quantiles(sorted: &[u64]) -> Vec<(f64, u64)> {
    if sorted.is_empty() {
        return Vec::new();
    }
    let n = sorted.len();
    [0.0, 0.5, 0.95, 0.99, 1.0]
        .iter()
        .map(|&p| (p, sorted[((n as f64 * p) as usize).min(n - 1)]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Parser;

    fn with_msg(body: &str, f: impl FnOnce(&Msg<'_, '_>)) {
        let mut line = format!(r#"{{"src":"n1","dest":"c1","body":{body}}}"#).into_bytes();
        let len = line.len();
        Parser::new().parse(&mut line, len, |m| f(&m.unwrap()));
    }

    const READ_OK: &[(&str, Ty)] = &[("messages", Ty::ArrayOf(&Ty::Int))];

    #[test]
    fn closed_schemas_reject_extra_missing_and_mistyped_fields() {
        with_msg(r#"{"type":"read_ok","in_reply_to":1,"msg_id":2,"messages":[1,2]}"#, |m| {
            assert_eq!(check_schema(m, "read_ok", READ_OK), Ok(()));
        });
        for bad in [
            r#"{"type":"read_ok","in_reply_to":1,"messages":[1],"extra":0}"#,
            r#"{"type":"read_ok","in_reply_to":1}"#,
            r#"{"type":"read_ok","in_reply_to":1,"messages":["1"]}"#,
            r#"{"type":"read_ok","messages":[1]}"#,
            r#"{"type":"read","in_reply_to":1,"messages":[1]}"#,
        ] {
            with_msg(bad, |m| assert!(check_schema(m, "read_ok", READ_OK).is_err(), "{bad}"));
        }
    }

    #[test]
    fn quantiles_follow_maelstrom() {
        let v: Vec<u64> = (0..100).collect();
        let q = quantiles(&v);
        assert_eq!(q.iter().map(|x| x.1).collect::<Vec<_>>(), [0, 50, 95, 99, 99]);
        assert!(quantiles(&[]).is_empty());
    }

    #[test]
    fn validity_merges() {
        assert_eq!(Validity::True.and(Validity::Unknown), Validity::Unknown);
        assert_eq!(Validity::Unknown.and(Validity::False), Validity::False);
        assert_eq!(Validity::True.and(Validity::True), Validity::True);
    }
}
