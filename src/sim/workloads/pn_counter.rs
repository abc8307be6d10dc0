//! pn-counter: Maelstrom's counter workload and its checker. Reads and adds 50/50, deltas
//! uniform in -5..=4; every final read must be the sum of the acknowledged adds plus some
//! subset of the indeterminate ones. g-counter is the same workload with the negative adds
//! filtered out ([`CounterClient`]`<true>`), as in Maelstrom.

use serde::Serialize;

use super::{Check, ClientWorkload, Done, RpcResult, Step, Ty, Validity, check_schema, fields};
use crate::rng::Rng;
use crate::sim::history::{History, OpType};
use crate::sim::opts::TestOpts;

/// A counter operation's value: the delta of an add, or the value read.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum CValue {
    /// `add` with this delta.
    Add(i64),
    /// `read`: `None` on invocation, the value on completion.
    Read(Option<i64>),
}

/// The counter client workload: pn-counter's, or g-counter's when `GROW_ONLY`.
#[derive(Debug, Default)]
pub struct CounterClient<const GROW_ONLY: bool> {
    /// Threads that have had their final read.
    final_done: hashbrown::HashSet<usize>,
}

/// The pn-counter client workload.
pub type PnCounterClient = CounterClient<false>;

const ADD_OK: &[(&str, Ty)] = &[];
const READ_OK: &[(&str, Ty)] = &[("value", Ty::Int)];

impl<const GROW_ONLY: bool> CounterClient<GROW_ONLY> {
    /// The workload's name, for the checker's summary.
    fn name() -> &'static str {
        if GROW_ONLY { "g-counter" } else { "pn-counter" }
    }
}

impl<const GROW_ONLY: bool> ClientWorkload for CounterClient<GROW_ONLY> {
    type Value = CValue;

    fn reusable_client(&self) -> bool {
        false
    }

    fn final_phase(&self) -> bool {
        true
    }

    fn next_op(&mut self, _: usize, rng: &mut Rng) -> Option<(&'static str, CValue)> {
        // Maelstrom's `gen/mix` of reads and adds of `(- (rand-int 10) 5)`. g-counter filters
        // out the negative adds and draws again: reads 2/3, adds 1/3 with deltas 0..=4.
        loop {
            if rng.chance(0.5) {
                return Some(("read", CValue::Read(None)));
            }
            let delta = rng.below(10) as i64 - 5;
            if !GROW_ONLY || delta >= 0 {
                return Some(("add", CValue::Add(delta)));
            }
        }
    }

    fn next_final(&mut self, thread: usize, _: &mut Rng) -> Option<(&'static str, CValue)> {
        // One final read per thread (`:final? true`).
        self.final_done.insert(thread).then_some(("read", CValue::Read(None)))
    }

    fn begin(&mut self, _: usize, f: &'static str, v: &CValue, req: &mut Vec<u8>) -> Step<CValue> {
        if let CValue::Add(d) = v {
            fields(req).i64("delta", *d);
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
        // The counter client does not use with-errors: every error, timeout or malformed
        // reply is an exception in the client, which Jepsen records as an indeterminate info.
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
        check_counter(Self::name(), history)
    }
}

/// Adds an optional delta `d` (of either sign) to a set of integers held as sorted, disjoint,
/// non-adjacent closed ranges: `S := S ∪ (S + d)`. (Maelstrom keeps the same set in a Guava
/// `TreeRangeSet` of open ranges; the integers in it are the same.)
fn add_optional(ranges: &mut Vec<(i64, i64)>, d: i64) {
    if d == 0 {
        return;
    }
    let shifted: Vec<(i64, i64)> =
        ranges.iter().map(|&(a, b)| (a.saturating_add(d), b.saturating_add(d))).collect();
    ranges.extend(shifted);
    ranges.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(ranges.len());
    for &(a, b) in ranges.iter() {
        match merged.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    *ranges = merged;
}

/// Maelstrom's pn-counter checker (g-counter uses it too): every ok final read must be the
/// sum of the ok adds plus the sum of some subset of the indeterminate (info) adds. `name`
/// heads the summary line.
pub fn check_counter(name: &str, history: &History<CValue>) -> Check {
    let mut definite: i64 = 0;
    let mut infos: Vec<i64> = Vec::new();
    for op in &history.ops {
        match (op.kind, &op.value) {
            (OpType::Ok, CValue::Add(d)) => definite = definite.saturating_add(*d),
            (OpType::Info, CValue::Add(d)) => infos.push(*d),
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
        "{name}: final reads {final_reads:?}, acceptable {acceptable:?}, {} wrong",
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
    fn negative_deltas_shift_downwards_and_merge() {
        let mut r = vec![(0, 0)];
        add_optional(&mut r, -5);
        assert_eq!(r, [(-5, -5), (0, 0)]);
        add_optional(&mut r, 4);
        assert_eq!(r, [(-5, -5), (-1, 0), (4, 4)]);
        add_optional(&mut r, 1);
        assert_eq!(r, [(-5, -4), (-1, 1), (4, 5)], "adjacent integers merge into one range");
        add_optional(&mut r, 0);
        assert_eq!(r, [(-5, -4), (-1, 1), (4, 5)], "a zero delta changes nothing");
    }

    #[test]
    fn subsets_against_brute_force() {
        // Every subset of a few mixed-sign deltas, against the ranges.
        let mut rng = Rng::new(17);
        for _ in 0..200 {
            let base = rng.below(21) as i64 - 10;
            let ds: Vec<i64> = (0..rng.below(7)).map(|_| rng.below(10) as i64 - 5).collect();
            let mut r = vec![(base, base)];
            for &d in &ds {
                add_optional(&mut r, d);
            }
            let sums: hashbrown::HashSet<i64> = (0..1u32 << ds.len())
                .map(|m| {
                    base + (0..ds.len()).filter(|i| m >> i & 1 == 1).map(|i| ds[i]).sum::<i64>()
                })
                .collect();
            for x in -50..=50 {
                let inr = r.iter().any(|&(a, b)| (a..=b).contains(&x));
                assert_eq!(inr, sums.contains(&x), "{x} with base {base}, deltas {ds:?}: {r:?}");
            }
            assert!(r.windows(2).all(|w| w[0].1 + 1 < w[1].0), "disjoint, non-adjacent: {r:?}");
        }
    }

    #[test]
    fn final_reads_are_judged() {
        use CValue::*;
        let base = [
            (OpType::Ok, Add(3), false),
            (OpType::Info, Add(4), false),
            (OpType::Ok, Add(-5), false),
            (OpType::Fail, Add(100), false), // a definite failure never counts
        ];
        for (read, valid) in [(-2, true), (2, true), (3, false), (-1, false), (0, false)] {
            let mut ops = base.to_vec();
            ops.push((OpType::Ok, Read(Some(read)), true));
            ops.push((OpType::Ok, Read(Some(99)), false)); // non-final reads are not judged
            ops.push((OpType::Info, Read(None), true)); // nor failed final reads
            let c = check_counter("pn-counter", &h(&ops));
            assert_eq!(c.valid, Validity::from_bool(valid), "read {read}: {}", c.json);
        }
    }

    #[test]
    fn the_generators_follow_maelstrom() {
        let mut rng = Rng::new(5);
        let (mut pn, mut g) = (PnCounterClient::default(), CounterClient::<true>::default());
        let (mut pn_deltas, mut g_deltas, mut reads) = (Vec::new(), Vec::new(), 0);
        for _ in 0..10_000 {
            match pn.next_op(0, &mut rng) {
                Some(("add", CValue::Add(d))) => pn_deltas.push(d),
                _ => reads += 1,
            }
            if let Some(("add", CValue::Add(d))) = g.next_op(0, &mut rng) {
                g_deltas.push(d);
            }
        }
        assert!((4_700..5_300).contains(&reads), "pn-counter: half reads, {reads}");
        assert_eq!(pn_deltas.iter().min(), Some(&-5));
        assert_eq!(pn_deltas.iter().max(), Some(&4));
        assert_eq!(g_deltas.iter().min(), Some(&0));
        assert!((3_000..3_700).contains(&g_deltas.len()), "g-counter: a third adds");
    }
}
