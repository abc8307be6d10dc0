//! txn-rw-register: Elle's `wr-txns` generator, the `txn` client with its closed reply schema,
//! and the rw-register checker ([`elle`]).
//!
//! Each operation is one transaction of 1 to `--max-txn-length` micro-operations, each a read
//! `["r", k, null]` or a write `["w", k, v]` with equal odds. Keys come from a pool of
//! `--key-count` (default 10) active keys with Elle's exponential distribution (slot `i` has
//! weight `2^(i+1)`); each key takes the values 1, 2, ... up to `--max-writes-per-key`, after
//! which its slot gets a fresh key. No final phase; the client is reusable; a timeout is `info`
//! and a definite error `fail` (no operation is idempotent).

pub mod elle;

use std::fmt;

use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};

use super::{Check, ClientWorkload, Done, RpcResult, Step, Ty, check_schema, fields};
use crate::proto::encode::write_val;
use crate::proto::{Kind, Msg, Val};
use crate::rng::Rng;
use crate::sim::history::{History, OpType};
use crate::sim::opts::TestOpts;

/// A JSON value as the checker sees it: null, an integer, or anything else (kept as its JSON
/// text; it can never equal a written integer).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Jv {
    /// `null`: a read of a missing key, or a request's read placeholder.
    Null,
    /// An integer that fits an `i64`.
    Int(i64),
    /// Any other JSON, as text.
    Other(String),
}

impl Jv {
    /// The value of a parsed JSON value.
    pub fn from_val(v: Val<'_, '_>) -> Jv {
        match (v.kind(), v.as_i64()) {
            (Kind::Null, _) => Jv::Null,
            (Kind::Int, Some(i)) => Jv::Int(i),
            _ => {
                let mut text = Vec::new();
                write_val(&mut text, v);
                Jv::Other(String::from_utf8_lossy(&text).into_owned())
            }
        }
    }

    /// True for `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Jv::Null)
    }
}

impl fmt::Display for Jv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Jv::Null => f.write_str("nil"),
            Jv::Int(i) => write!(f, "{i}"),
            Jv::Other(s) => f.write_str(s),
        }
    }
}

impl Serialize for Jv {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Jv::Null => s.serialize_none(),
            Jv::Int(i) => s.serialize_i64(*i),
            Jv::Other(t) => s.serialize_str(t),
        }
    }
}

/// One micro-operation: `[f, k, v]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mop {
    /// A write (`"w"`) or a read (`"r"`).
    pub write: bool,
    /// The key.
    pub k: Jv,
    /// The written value, or the value read (`null` in a request).
    pub v: Jv,
}

impl Mop {
    /// `[r k v]`.
    pub fn r(k: i64, v: Option<i64>) -> Mop {
        Mop { write: false, k: Jv::Int(k), v: v.map_or(Jv::Null, Jv::Int) }
    }

    /// `[w k v]`.
    pub fn w(k: i64, v: i64) -> Mop {
        Mop { write: true, k: Jv::Int(k), v: Jv::Int(v) }
    }
}

impl Serialize for Mop {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(3))?;
        seq.serialize_element(if self.write { "w" } else { "r" })?;
        seq.serialize_element(&self.k)?;
        seq.serialize_element(&self.v)?;
        seq.end()
    }
}

impl fmt::Display for Mop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{} {} {}]", if self.write { "w" } else { "r" }, self.k, self.v)
    }
}

/// A transaction: the history value of a `txn` operation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnOps(pub Vec<Mop>);

impl Serialize for TxnOps {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl fmt::Display for TxnOps {
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

/// Elle's `wr-txns` generator state (list-append's generator too: its writes become appends).
#[derive(Debug)]
pub(super) struct Generator {
    min_len: usize,
    max_len: usize,
    max_writes_per_key: u64,
    /// The active key pool; slot `i` is chosen with weight `2^(i+1)`.
    active: Vec<i64>,
    /// Next value to write, per key (keys are dense from 0); missing means 1.
    next_value: Vec<u64>,
    /// `base * (base^n - 1) / (base - 1)` with base 2: draws in `[0, scale)` map to slots.
    scale: f64,
}

impl Generator {
    pub(super) fn new(opts: &TestOpts) -> Self {
        let key_count = opts.key_count.unwrap_or(10).clamp(1, 1000);
        Generator {
            min_len: 1,
            max_len: opts.max_txn_length.max(1),
            max_writes_per_key: opts.max_writes_per_key.max(1) as u64,
            active: (0..key_count as i64).collect(),
            next_value: Vec::new(),
            scale: 2.0 * (2f64.powi(key_count as i32) - 1.0),
        }
    }

    /// Elle's exponential key choice: `floor(log2(rand(scale) + 2) - 1)`.
    fn slot(&self, rng: &mut Rng) -> usize {
        let x = rng.unit() * self.scale + 2.0;
        let i = (x.log2() - 1.0).floor() as usize;
        i.min(self.active.len() - 1)
    }

    /// One transaction as `(write?, key, value)` micro-ops; reads carry value 0.
    pub(super) fn draw(&mut self, rng: &mut Rng) -> Vec<(bool, i64, i64)> {
        let len = self.min_len + rng.below((self.max_len - self.min_len + 1) as u64) as usize;
        let mut ops = Vec::with_capacity(len);
        while ops.len() < len {
            let write = rng.chance(0.5);
            let slot = self.slot(rng);
            let k = self.active[slot];
            if !write {
                ops.push((false, k, 0));
                continue;
            }
            // Keys are 0, 1, 2, ... (fresh keys are the maximum plus one), so they index.
            let ki = k as usize;
            if self.next_value.len() <= ki {
                self.next_value.resize(ki + 1, 1);
            }
            let v = self.next_value[ki];
            if v > self.max_writes_per_key {
                // The key is used up: its slot gets a fresh key, and the micro-op is redrawn.
                let fresh = self.active.iter().copied().max().unwrap_or(0) + 1;
                self.active[slot] = fresh;
                continue;
            }
            self.next_value[ki] = v + 1;
            ops.push((true, k, v as i64));
        }
        ops
    }

    fn txn(&mut self, rng: &mut Rng) -> TxnOps {
        let ops = self.draw(rng);
        TxnOps(
            ops.into_iter()
                .map(|(w, k, v)| if w { Mop::w(k, v) } else { Mop::r(k, None) })
                .collect(),
        )
    }
}

/// The txn-rw-register client workload.
#[derive(Debug)]
pub struct TxnClient {
    generator: Generator,
}

impl TxnClient {
    /// The client workload for these options.
    pub fn new(opts: &TestOpts) -> Self {
        TxnClient { generator: Generator::new(opts) }
    }
}

/// `txn_ok {txn: [[f, k, v], ...]}`; `f` must further be exactly "r" or "w".
const TXN_OK: &[(&str, Ty)] = &[("txn", Ty::ArrayOf(&Ty::Tuple(&[Ty::Str, Ty::Any, Ty::Any])))];

/// Reads a reply's `txn` as Maelstrom's schema does; `Err` for a malformed reply.
fn parse_reply(msg: &Msg<'_, '_>) -> Result<TxnOps, String> {
    check_schema(msg, "txn_ok", TXN_OK)?;
    let arr = msg.get("txn").and_then(|t| t.as_array()).ok_or("txn_ok: txn is not an array")?;
    let mut ops = Vec::with_capacity(arr.len());
    for m in arr.iter() {
        let mut it = m.as_array().ok_or("txn_ok: micro-op is not an array")?.iter();
        let (Some(f), Some(k), Some(v)) = (it.next(), it.next(), it.next()) else {
            return Err("txn_ok: micro-op is not [f, k, v]".into());
        };
        let write = match f.as_str() {
            Some("w") => true,
            Some("r") => false,
            _ => return Err("txn_ok: micro-op f must be \"r\" or \"w\"".into()),
        };
        ops.push(Mop { write, k: Jv::from_val(k), v: Jv::from_val(v) });
    }
    Ok(TxnOps(ops))
}

impl ClientWorkload for TxnClient {
    type Value = TxnOps;

    fn reusable_client(&self) -> bool {
        true
    }

    fn final_phase(&self) -> bool {
        false
    }

    fn next_op(&mut self, _: usize, rng: &mut Rng) -> Option<(&'static str, TxnOps)> {
        Some(("txn", self.generator.txn(rng)))
    }

    fn next_final(&mut self, _: usize, _: &mut Rng) -> Option<(&'static str, TxnOps)> {
        None
    }

    fn begin(&mut self, _: usize, _: &'static str, v: &TxnOps, req: &mut Vec<u8>) -> Step<TxnOps> {
        fields(req).arr("txn", |a| {
            for m in &v.0 {
                a.arr(|t| {
                    t.str(if m.write { "w" } else { "r" });
                    for x in [&m.k, &m.v] {
                        match x {
                            Jv::Int(i) => t.i64(*i),
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
        v: &TxnOps,
        result: RpcResult<'_, '_, '_>,
        _: &mut Vec<u8>,
    ) -> Step<TxnOps> {
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

    fn check(&self, history: &History<TxnOps>, opts: &TestOpts) -> Check {
        elle::check(history, &opts.consistency_models)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Parser;

    fn opts() -> TestOpts {
        TestOpts { workload: "txn-rw-register".into(), ..TestOpts::default() }
    }

    #[test]
    fn keys_follow_elles_exponential_weights() {
        let g = Generator::new(&opts());
        let mut rng = Rng::new(1);
        let mut counts = [0u32; 10];
        let n = 200_000;
        for _ in 0..n {
            counts[g.slot(&mut rng)] += 1;
        }
        for (i, &c) in counts.iter().enumerate() {
            let expect = f64::from(1u32 << (i + 1)) / 2046.0;
            let got = f64::from(c) / f64::from(n);
            assert!((got - expect).abs() < 0.002 + expect * 0.05, "slot {i}: {got} vs {expect}");
        }
    }

    #[test]
    fn writes_are_unique_per_key_and_used_up_keys_are_replaced() {
        let mut g = Generator::new(&TestOpts { max_writes_per_key: 3, ..opts() });
        let mut rng = Rng::new(7);
        let mut seen = std::collections::HashSet::new();
        let mut max_len = 0;
        for _ in 0..2000 {
            let t = g.txn(&mut rng);
            assert!((1..=4).contains(&t.0.len()));
            max_len = max_len.max(t.0.len());
            for m in t.0.iter().filter(|m| m.write) {
                let Jv::Int(v) = m.v else { panic!("int writes") };
                assert!((1..=3).contains(&v));
                assert!(seen.insert((m.k.clone(), m.v.clone())), "unique {m}");
            }
        }
        assert_eq!(max_len, 4);
        assert!(g.active.iter().any(|&k| k >= 10), "fresh keys appear");
        let mut sorted = g.active.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 10, "the pool keeps 10 distinct keys");
    }

    fn reply(body: &str) -> Result<TxnOps, String> {
        let mut line = format!(r#"{{"src":"n0","dest":"c1","body":{body}}}"#).into_bytes();
        let len = line.len();
        Parser::new().parse(&mut line, len, |m| parse_reply(&m.expect("a message")))
    }

    #[test]
    fn the_reply_schema_is_closed() {
        let ok = reply(r#"{"type":"txn_ok","in_reply_to":1,"txn":[["r",1,"x"],["w",2,3]]}"#);
        assert_eq!(
            ok.expect("valid").0,
            [Mop { write: false, k: Jv::Int(1), v: Jv::Other("\"x\"".into()) }, Mop::w(2, 3)]
        );
        for bad in [
            r#"{"type":"txn_ok","in_reply_to":1,"txn":[["r",1]]}"#,
            r#"{"type":"txn_ok","in_reply_to":1,"txn":[["x",1,2]]}"#,
            r#"{"type":"txn_ok","in_reply_to":1,"txn":[["r",1,2,3]]}"#,
            r#"{"type":"txn_ok","in_reply_to":1,"txn":[],"extra":1}"#,
            r#"{"type":"txn_ok","in_reply_to":1}"#,
            r#"{"type":"txn_ok","txn":[]}"#,
        ] {
            assert!(reply(bad).is_err(), "{bad}");
        }
    }
}
