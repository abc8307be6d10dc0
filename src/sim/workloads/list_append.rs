//! txn-list-append: Elle's list-append generator, the `txn` client with its closed reply schema,
//! and the list-append checker ([`check`]).
//!
//! Each operation is one transaction of 1 to `--max-txn-length` (default 4) micro-operations,
//! each a read `["r", k, null]` or an append `["append", k, v]` with equal odds. This is Elle's
//! `append-txns` (its `wr-txns` with writes turned into appends), which Maelstrom's workload
//! uses unchanged through Jepsen 0.3.7's `jepsen.tests.cycle.append`: keys come from a pool of
//! `--key-count` (default 10) active keys, slot `i` chosen with weight `2^(i+1)`; each key takes
//! the appends 1, 2, ... up to `--max-writes-per-key` (default 16), after which its slot gets a
//! fresh key (the largest key so far plus one). So every append is unique per key.
//!
//! No final phase (Jepsen 0.3.7's append test has no final generator); the client is reusable;
//! Maelstrom's `with-errors #{}`: a timeout is `info`, a definite error `fail`.
//!
//! The reply is `txn_ok {txn: [...]}` with Maelstrom's closed schema: every micro-op is
//! `["r", k, v]` with `v` a list of anything or `null` (Prismatic Schema lets `nil` through a
//! sequence schema, so a null read is accepted and means the empty list), or
//! `["append", k, v]` with any `v`. Keys and elements may be any JSON. A reply outside the
//! schema makes the operation `info` (malformed-rpc-response). The completed transaction in the
//! history is the reply's, as Maelstrom records it.

pub mod check;

use std::fmt;

use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};

use super::txn::{Generator, Jv};
use super::{Check, ClientWorkload, Done, RpcResult, Step, Ty, check_schema, fields};
use crate::proto::{Kind, Msg, Val};
use crate::rng::Rng;
use crate::sim::history::{History, OpType};
use crate::sim::opts::TestOpts;

/// One micro-operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LaMop {
    /// `["r", k, v]`: the list read, `None` for `null` (a request, or a missing key).
    R(Jv, Option<Vec<Jv>>),
    /// `["append", k, v]`.
    Append(Jv, Jv),
}

impl LaMop {
    /// `["r", k, [v...]]` with integers (for tests and hand-written histories).
    pub fn r(k: i64, v: Option<&[i64]>) -> LaMop {
        LaMop::R(Jv::Int(k), v.map(|v| v.iter().map(|&e| Jv::Int(e)).collect()))
    }

    /// `["append", k, v]` with integers.
    pub fn append(k: i64, v: i64) -> LaMop {
        LaMop::Append(Jv::Int(k), Jv::Int(v))
    }

    /// The key.
    pub fn key(&self) -> &Jv {
        match self {
            LaMop::R(k, _) | LaMop::Append(k, _) => k,
        }
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, v: &Option<Vec<Jv>>) -> fmt::Result {
    match v {
        None => f.write_str("nil"),
        Some(v) => {
            f.write_str("[")?;
            for (i, e) in v.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{e}")?;
            }
            f.write_str("]")
        }
    }
}

impl fmt::Display for LaMop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LaMop::R(k, v) => {
                write!(f, "[r {k} ")?;
                write_list(f, v)?;
                f.write_str("]")
            }
            LaMop::Append(k, v) => write!(f, "[append {k} {v}]"),
        }
    }
}

impl Serialize for LaMop {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(3))?;
        match self {
            LaMop::R(k, v) => {
                seq.serialize_element("r")?;
                seq.serialize_element(k)?;
                seq.serialize_element(v)?;
            }
            LaMop::Append(k, v) => {
                seq.serialize_element("append")?;
                seq.serialize_element(k)?;
                seq.serialize_element(v)?;
            }
        }
        seq.end()
    }
}

/// A transaction: the history value of a `txn` operation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LaTxn(pub Vec<LaMop>);

impl Serialize for LaTxn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl fmt::Display for LaTxn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("]")
    }
}

/// The txn-list-append client workload.
#[derive(Debug)]
pub struct ListAppendClient {
    generator: Generator,
}

impl ListAppendClient {
    /// The client workload for these options.
    pub fn new(opts: &TestOpts) -> Self {
        ListAppendClient { generator: Generator::new(opts) }
    }

    /// The next transaction the generator makes.
    fn txn(&mut self, rng: &mut Rng) -> LaTxn {
        let ops = self.generator.draw(rng);
        LaTxn(
            ops.into_iter()
                .map(|(w, k, v)| if w { LaMop::append(k, v) } else { LaMop::r(k, None) })
                .collect(),
        )
    }
}

/// `txn_ok {txn: [[f, k, v], ...]}`; `f` and `v` are checked further by [`parse_reply`].
const TXN_OK: &[(&str, Ty)] = &[("txn", Ty::ArrayOf(&Ty::Tuple(&[Ty::Str, Ty::Any, Ty::Any])))];

/// Reads a reply's `txn` as Maelstrom's schema does; `Err` for a malformed reply.
pub fn parse_reply(msg: &Msg<'_, '_>) -> Result<LaTxn, String> {
    check_schema(msg, "txn_ok", TXN_OK)?;
    let arr = msg.get("txn").and_then(|t| t.as_array()).ok_or("txn_ok: txn is not an array")?;
    let mut ops = Vec::with_capacity(arr.len());
    for m in arr.iter() {
        let mut it = m.as_array().ok_or("txn_ok: micro-op is not an array")?.iter();
        let (Some(f), Some(k), Some(v)) = (it.next(), it.next(), it.next()) else {
            return Err("txn_ok: micro-op is not [f, k, v]".into());
        };
        ops.push(match f.as_str() {
            Some("r") => LaMop::R(Jv::from_val(k), read_value(v)?),
            Some("append") => LaMop::Append(Jv::from_val(k), Jv::from_val(v)),
            _ => return Err("txn_ok: micro-op f must be \"r\" or \"append\"".into()),
        });
    }
    Ok(LaTxn(ops))
}

/// A read's value: a list of anything, or null.
fn read_value(v: Val<'_, '_>) -> Result<Option<Vec<Jv>>, String> {
    if v.kind() == Kind::Null {
        return Ok(None);
    }
    let a = v.as_array().ok_or("txn_ok: a read's value must be a list or null")?;
    Ok(Some(a.iter().map(Jv::from_val).collect()))
}

impl ClientWorkload for ListAppendClient {
    type Value = LaTxn;

    fn reusable_client(&self) -> bool {
        true
    }

    fn final_phase(&self) -> bool {
        false
    }

    fn next_op(&mut self, _: usize, rng: &mut Rng) -> Option<(&'static str, LaTxn)> {
        Some(("txn", self.txn(rng)))
    }

    fn next_final(&mut self, _: usize, _: &mut Rng) -> Option<(&'static str, LaTxn)> {
        None
    }

    fn begin(&mut self, _: usize, _: &'static str, v: &LaTxn, req: &mut Vec<u8>) -> Step<LaTxn> {
        fields(req).arr("txn", |a| {
            for m in &v.0 {
                a.arr(|t| {
                    let (f, k, v) = match m {
                        LaMop::R(k, _) => ("r", k, None),
                        LaMop::Append(k, v) => ("append", k, Some(v)),
                    };
                    t.str(f);
                    for x in [Some(k), v] {
                        match x {
                            Some(Jv::Int(i)) => t.i64(*i),
                            _ => t.null(),
                        };
                    }
                });
            }
        });
        Step::Send("txn")
    }

    fn on_reply(
        &mut self,
        _: usize,
        _: &'static str,
        v: &LaTxn,
        result: RpcResult<'_, '_, '_>,
        _: &mut Vec<u8>,
    ) -> Step<LaTxn> {
        // with-errors with no idempotent functions: timeouts are info, definite errors fail.
        if let Some(done) = result.failure(v.clone(), false) {
            return done;
        }
        let RpcResult::Reply(msg) = result else { unreachable!("failure() handled errors") };
        match parse_reply(msg) {
            Ok(ops) => Done::ok(ops),
            Err(why) => Done::err(
                OpType::Info,
                v.clone(),
                format!("indeterminate: malformed-rpc-response: {why}"),
            ),
        }
    }

    fn check(&self, history: &History<LaTxn>, opts: &TestOpts) -> Check {
        check::check(history, &opts.consistency_models)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Parser;

    fn opts() -> TestOpts {
        TestOpts { workload: "txn-list-append".into(), ..TestOpts::default() }
    }

    #[test]
    fn appends_are_unique_per_key_and_txns_follow_the_length_bounds() {
        let mut c = ListAppendClient::new(&TestOpts { max_writes_per_key: 3, ..opts() });
        let mut rng = Rng::new(3);
        let mut seen = std::collections::HashSet::new();
        let (mut reads, mut appends, mut max_len) = (0, 0, 0);
        for _ in 0..2000 {
            let t = c.txn(&mut rng);
            assert!((1..=4).contains(&t.0.len()));
            max_len = max_len.max(t.0.len());
            for m in &t.0 {
                match m {
                    LaMop::R(_, v) => {
                        assert!(v.is_none());
                        reads += 1;
                    }
                    LaMop::Append(k, v) => {
                        let Jv::Int(e) = v else { panic!("integer appends") };
                        assert!((1..=3).contains(e));
                        assert!(seen.insert((k.clone(), v.clone())), "unique {m}");
                        appends += 1;
                    }
                }
            }
        }
        assert_eq!(max_len, 4);
        assert!(reads > 1000 && appends > 1000, "{reads} reads, {appends} appends");
    }

    fn reply(body: &str) -> Result<LaTxn, String> {
        let mut line = format!(r#"{{"src":"n0","dest":"c1","body":{body}}}"#).into_bytes();
        let len = line.len();
        Parser::new().parse(&mut line, len, |m| parse_reply(&m.expect("a message")))
    }

    #[test]
    fn the_reply_schema_is_closed_and_accepts_null_reads() {
        let ok = reply(
            r#"{"type":"txn_ok","in_reply_to":1,"txn":[["r",1,[1,"x"]],["append",2,3],["r",3,null]]}"#,
        );
        assert_eq!(
            ok.expect("valid").0,
            [
                LaMop::R(Jv::Int(1), Some(vec![Jv::Int(1), Jv::Other("\"x\"".into())])),
                LaMop::append(2, 3),
                LaMop::r(3, None),
            ]
        );
        for bad in [
            r#"{"type":"txn_ok","in_reply_to":1,"txn":[["r",1]]}"#,
            r#"{"type":"txn_ok","in_reply_to":1,"txn":[["r",1,5]]}"#,
            r#"{"type":"txn_ok","in_reply_to":1,"txn":[["w",1,2]]}"#,
            r#"{"type":"txn_ok","in_reply_to":1,"txn":[["append",1,2,3]]}"#,
            r#"{"type":"txn_ok","in_reply_to":1,"txn":[],"extra":1}"#,
            r#"{"type":"txn_ok","in_reply_to":1}"#,
        ] {
            assert!(reply(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mops_print_like_elle() {
        let t = LaTxn(vec![LaMop::r(1, Some(&[1, 2])), LaMop::append(1, 3), LaMop::r(2, None)]);
        assert_eq!(t.to_string(), "[[r 1 [1 2]] [append 1 3] [r 2 nil]]");
    }
}
