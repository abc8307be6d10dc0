//! g-counter: adds of 0..=4 (about a third of operations) and reads; final reads must equal
//! the acknowledged total plus some subset of the indefinite adds.

use serde::Serialize;

use super::{Check, ClientWorkload, Done, RpcResult, Step, Ty, Validity, check_schema, fields};
use crate::rng::Rng;
use crate::sim::history::{History, OpType};
use crate::sim::opts::TestOpts;

/// A g-counter operation's value: the delta of an add, or the value read.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum CValue {
    /// `add` with this delta.
    Add(u64),
    /// `read`: `None` on invocation, the value on completion.
    Read(Option<i64>),
}

/// The g-counter client workload.
#[derive(Debug, Default)]
pub struct GCounterClient {
    /// Threads that have had their final read.
    final_done: hashbrown::HashSet<usize>,
}

const ADD_OK: &[(&str, Ty)] = &[];
const READ_OK: &[(&str, Ty)] = &[("value", Ty::Int)];

impl ClientWorkload for GCounterClient {
    type Value = CValue;

    fn reusable_client(&self) -> bool {
        false
    }

    fn final_phase(&self) -> bool {
        true
    }

    fn next_op(&mut self, _: usize, rng: &mut Rng) -> Option<(&'static str, CValue)> {
        // Maelstrom filters pn-counter's 50/50 mix of reads and adds of -5..=4 down to
        // non-negative adds, redrawing: reads 2/3, adds 1/3 with deltas 0..=4.
        loop {
            if rng.chance(0.5) {
                return Some(("read", CValue::Read(None)));
            }
            let delta = rng.below(10) as i64 - 5;
            if delta >= 0 {
                return Some(("add", CValue::Add(delta as u64)));
            }
        }
    }

    fn next_final(&mut self, thread: usize, _: &mut Rng) -> Option<(&'static str, CValue)> {
        // One final read per thread.
        self.final_done.insert(thread).then_some(("read", CValue::Read(None)))
    }

    fn begin(&mut self, _: usize, f: &'static str, v: &CValue, req: &mut Vec<u8>) -> Step<CValue> {
        if let CValue::Add(d) = v {
            fields(req).u64("delta", *d);
        }
        Step::Send(f)
    }

    fn on_reply(
        &mut self,
        _: usize,
        f: &'static str,
        v: &CValue,
        result: RpcResult<'_, '_, '_>,
        _: &mut Vec<u8>,
    ) -> Step<CValue> {
        // g-counter does not use with-errors: every error is indeterminate.
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
            CValue::Read(_) => {
                let Some(value) = msg.get("value").and_then(|x| x.as_i64()) else {
                    return Done::err(OpType::Info, v.clone(), "indeterminate: value out of range");
                };
                Done::ok(CValue::Read(Some(value)))
            }
            CValue::Add(_) => Done::ok(v.clone()),
        }
    }

    fn check(&self, history: &History<CValue>, _: &TestOpts) -> Check {
        check_counter(history)
    }
}

/// Adds `d` to a set of integers held as sorted, disjoint, non-adjacent closed ranges:
/// `S := S ∪ (S + d)`.
fn add_optional(ranges: &mut Vec<(i64, i64)>, d: i64) {
    if d == 0 {
        return;
    }
    let shifted: Vec<(i64, i64)> = ranges.iter().map(|&(a, b)| (a + d, b + d)).collect();
    ranges.extend(shifted);
    ranges.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(ranges.len());
    for &(a, b) in ranges.iter() {
        match merged.last_mut() {
            Some(last) if a <= last.1 + 1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    *ranges = merged;
}

/// Maelstrom's pn-counter checker: every ok final read must be the sum of ok adds plus a
/// subset sum of indefinite adds.
pub fn check_counter(history: &History<CValue>) -> Check {
    let mut definite: i64 = 0;
    let mut infos: Vec<i64> = Vec::new();
    for op in &history.ops {
        match (op.kind, &op.value) {
            (OpType::Ok, CValue::Add(d)) => definite += *d as i64,
            (OpType::Info, CValue::Add(d)) => infos.push(*d as i64),
            _ => {}
        }
    }
    let mut acceptable = vec![(definite, definite)];
    for d in infos {
        add_optional(&mut acceptable, d);
    }
    let mut final_reads = Vec::new();
    let mut errors = Vec::new();
    for op in &history.ops {
        if let (OpType::Ok, CValue::Read(Some(v)), true) = (op.kind, &op.value, op.is_final) {
            final_reads.push(*v);
            if !acceptable.iter().any(|&(a, b)| (a..=b).contains(v)) {
                errors.push(*v);
            }
        }
    }
    let valid = Validity::from_bool(errors.is_empty());
    #[derive(Serialize)]
    struct Result {
        valid: Validity,
        errors: Vec<i64>,
        final_reads: Vec<i64>,
        acceptable: Vec<(i64, i64)>,
    }
    let summary = vec![format!(
        "g-counter: final reads {final_reads:?}, acceptable {acceptable:?}, {} wrong",
        errors.len()
    )];
    Check::new(valid, summary, &Result { valid, errors, final_reads, acceptable })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::history::Op;

    fn h(ops: &[(OpType, CValue, bool)]) -> History<CValue> {
        let mut h = History::default();
        for (i, (kind, v, fin)) in ops.iter().enumerate() {
            let f = if matches!(v, CValue::Add(_)) { "add" } else { "read" };
            h.push(Op {
                index: 0,
                time: i as u64,
                process: i,
                kind: *kind,
                f,
                value: v.clone(),
                error: None,
                is_final: *fin,
            });
        }
        h
    }

    #[test]
    fn subset_sums_of_indefinite_adds_are_acceptable() {
        let mut r = vec![(5, 5)];
        add_optional(&mut r, 2);
        add_optional(&mut r, 3);
        assert_eq!(r, [(5, 5), (7, 8), (10, 10)]);
    }

    #[test]
    fn final_reads_are_judged() {
        use CValue::*;
        let base = [(OpType::Ok, Add(3), false), (OpType::Info, Add(4), false)];
        for (read, valid) in [(3, true), (7, true), (5, false), (0, false)] {
            let mut ops = base.to_vec();
            ops.push((OpType::Ok, Read(Some(read)), true));
            ops.push((OpType::Ok, Read(Some(99)), false)); // non-final reads are not judged
            assert_eq!(check_counter(&h(&ops)).valid, Validity::from_bool(valid), "read {read}");
        }
    }
}
