//! broadcast: 50% broadcasts of 0, 1, 2, ..., 50% reads, one final read per thread, judged
//! by Jepsen's set-full checker (also g-set's, through [`SetOp`]).

use serde::Serialize;

use super::{
    Check, ClientWorkload, Done, Quantiles, RpcResult, Step, Ty, Validity, check_schema, fields,
    quantiles,
};
use crate::rng::Rng;
use crate::sim::history::{History, Op, OpType};
use crate::sim::opts::{TestOpts, Topology};

/// A broadcast operation's value.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum BValue {
    /// `broadcast` of this value.
    Broadcast(u64),
    /// `read`: `None` on invocation, the set read on completion.
    Read(Option<Vec<u64>>),
}

impl SetOp for BValue {
    fn added(&self) -> Option<u64> {
        match self {
            BValue::Broadcast(x) => Some(*x),
            BValue::Read(_) => None,
        }
    }

    fn read(&self) -> Option<&[u64]> {
        match self {
            BValue::Read(Some(vals)) => Some(vals),
            _ => None,
        }
    }
}

/// An operation value that [`set_full`] can judge: broadcast's `broadcast` and g-set's `add`
/// (Maelstrom maps broadcast's `:broadcast` to set-full's `:add`), and either's `read`.
pub trait SetOp {
    /// The element an add (or broadcast) puts in the set.
    fn added(&self) -> Option<u64>;
    /// The elements a completed read returned (`None` on invocation and for adds).
    fn read(&self) -> Option<&[u64]>;
}

/// The broadcast client workload.
#[derive(Debug, Default)]
pub struct BroadcastClient {
    next_value: u64,
    /// Threads that have had their final read.
    final_done: hashbrown::HashSet<usize>,
}

const BROADCAST_OK: &[(&str, Ty)] = &[];
const READ_OK: &[(&str, Ty)] = &[("messages", Ty::ArrayOf(&Ty::Any))];

/// Maelstrom's suggested neighbours for node `i` of `n`.
pub fn topology(kind: Topology, i: usize, n: usize) -> Vec<usize> {
    match kind {
        Topology::Total => (0..n).filter(|&j| j != i).collect(),
        Topology::Line => {
            if n < 2 {
                Vec::new()
            } else if i == 0 {
                vec![1]
            } else if i == n - 1 {
                vec![n - 2]
            } else {
                vec![i - 1, i + 1]
            }
        }
        Topology::Tree(b) => {
            let mut v = Vec::new();
            if i > 0 {
                v.push((i - 1) / b);
            }
            v.extend((1..=b).map(|c| i * b + c).filter(|&c| c < n));
            v
        }
        Topology::Grid => {
            let side = (1..=n).find(|s| s * s >= n).unwrap_or(1);
            let (r, c) = (i / side, i % side);
            let mut v = Vec::new();
            let mut push = |r: Option<usize>, c: Option<usize>| {
                if let (Some(r), Some(c)) = (r, c) {
                    if c < side && r * side + c < n {
                        v.push(r * side + c);
                    }
                }
            };
            push(Some(r + 1), Some(c));
            push(r.checked_sub(1), Some(c));
            push(Some(r), Some(c + 1));
            push(Some(r), c.checked_sub(1));
            v
        }
    }
}

impl ClientWorkload for BroadcastClient {
    type Value = BValue;

    fn reusable_client(&self) -> bool {
        false
    }

    fn final_phase(&self) -> bool {
        true
    }

    fn setup(
        &self,
        node: usize,
        nodes: &[String],
        opts: &TestOpts,
        req: &mut Vec<u8>,
    ) -> Option<&'static str> {
        if opts.topology == Topology::Line && nodes.len() < 2 {
            fields(req).obj("topology", |_| {});
            return Some("topology");
        }
        let _ = node;
        fields(req).obj("topology", |o| {
            for (i, name) in nodes.iter().enumerate() {
                o.arr(name, |a| {
                    for j in topology(opts.topology, i, nodes.len()) {
                        a.str(&nodes[j]);
                    }
                });
            }
        });
        Some("topology")
    }

    fn next_op(&mut self, _: usize, rng: &mut Rng) -> Option<(&'static str, BValue)> {
        if rng.chance(0.5) {
            let v = self.next_value;
            self.next_value += 1;
            Some(("broadcast", BValue::Broadcast(v)))
        } else {
            Some(("read", BValue::Read(None)))
        }
    }

    fn next_final(&mut self, thread: usize, _: &mut Rng) -> Option<(&'static str, BValue)> {
        // One final read per thread.
        self.final_done.insert(thread).then_some(("read", BValue::Read(None)))
    }

    fn begin(&mut self, _: usize, f: &'static str, v: &BValue, req: &mut Vec<u8>) -> Step<BValue> {
        if let BValue::Broadcast(x) = v {
            fields(req).u64("message", *x);
        }
        Step::Send(f)
    }

    fn on_reply(
        &mut self,
        _: usize,
        f: &'static str,
        v: &BValue,
        result: RpcResult<'_, '_, '_>,
        _: &mut Vec<u8>,
    ) -> Step<BValue> {
        let read = f == "read";
        if let Some(done) = result.failure(v.clone(), read) {
            return done;
        }
        let RpcResult::Reply(msg) = result else { unreachable!("failure() handled errors") };
        if read {
            if let Err(why) = check_schema(msg, "read_ok", READ_OK) {
                return Done::err(
                    OpType::Info,
                    v.clone(),
                    format!("malformed-rpc-response: {why}"),
                );
            }
            let arr = msg.get("messages").and_then(|m| m.as_array()).expect("schema checked");
            // Non-integer elements can never match a broadcast value; set-full ignores them.
            let vals: Vec<u64> = arr.iter().filter_map(|e| e.as_u64()).collect();
            Done::ok(BValue::Read(Some(vals)))
        } else {
            if let Err(why) = check_schema(msg, "broadcast_ok", BROADCAST_OK) {
                return Done::err(
                    OpType::Info,
                    v.clone(),
                    format!("malformed-rpc-response: {why}"),
                );
            }
            Done::ok(v.clone())
        }
    }

    fn check(&self, history: &History<BValue>, _: &TestOpts) -> Check {
        set_full(history)
    }
}

/// Per-element bookkeeping of set-full.
#[derive(Clone, Default)]
struct Element {
    /// History index and time (ns) of the event that made it known.
    known: Option<(usize, u64)>,
    /// Invocation (index, time) of the latest ok read containing it.
    last_present: Option<(usize, u64)>,
    /// Invocation (index, time) of the latest ok read lacking it.
    last_absent: Option<(usize, u64)>,
}

/// Jepsen's `set-full` checker (non-linearizable), as Maelstrom configures it for broadcast
/// and g-set.
pub fn set_full<V: SetOp>(history: &History<V>) -> Check {
    let mut elements: Vec<Option<Element>> = Vec::new();
    let mut created: Vec<u64> = Vec::new();
    // Invocations by process, to find a read completion's invocation.
    let mut open: hashbrown::HashMap<usize, &Op<V>> = hashbrown::HashMap::new();
    let mut present = Vec::<bool>::new();
    for op in &history.ops {
        match (op.kind, op.value.added(), op.value.read()) {
            (OpType::Invoke, added, _) => {
                open.insert(op.process, op);
                if let Some(x) = added {
                    let x = x as usize;
                    if x >= elements.len() {
                        elements.resize(x + 1, None);
                    }
                    if elements[x].is_none() {
                        elements[x] = Some(Element::default());
                        created.push(x as u64);
                    }
                }
            }
            (OpType::Ok, Some(x), _) => {
                open.remove(&op.process);
                if let Some(Some(e)) = elements.get_mut(x as usize) {
                    e.known.get_or_insert((op.index, op.time));
                }
            }
            (OpType::Ok, None, Some(vals)) => {
                let Some(inv) = open.remove(&op.process) else { continue };
                present.clear();
                present.resize(elements.len(), false);
                for &v in vals {
                    if let Some(p) = present.get_mut(v as usize) {
                        *p = true;
                    }
                }
                let at = (inv.index, inv.time);
                for &x in &created {
                    let Some(e) = elements[x as usize].as_mut() else { continue };
                    if present[x as usize] {
                        e.known.get_or_insert((op.index, op.time));
                        if e.last_present.is_none_or(|p| p.0 < at.0) {
                            e.last_present = Some(at);
                        }
                    } else if e.last_absent.is_none_or(|a| a.0 < at.0) {
                        e.last_absent = Some(at);
                    }
                }
            }
            _ => {
                open.remove(&op.process);
            }
        }
    }

    let mut stable_lat = Vec::new();
    let mut lost = Vec::new();
    let mut lost_lat = Vec::new();
    let mut never_read = Vec::new();
    let mut stale = Vec::new();
    for &x in &created {
        let e = elements[x as usize].as_ref().expect("created elements exist");
        let stable = e.last_present.is_some()
            && e.last_absent.is_none_or(|a| a.0 < e.last_present.map_or(0, |p| p.0));
        let is_lost = match (e.known, e.last_absent) {
            (Some(k), Some(a)) => e.last_present.is_none_or(|p| a.0 > p.0) && a.0 > k.0,
            _ => false,
        };
        let known_t = e.known.map_or(0, |k| k.1);
        if stable {
            let lat = e.last_absent.map_or(0, |a| (a.1 + 1).saturating_sub(known_t) / 1_000_000);
            if lat > 0 {
                stale.push((x, lat));
            }
            stable_lat.push(lat);
        } else if is_lost {
            lost.push(x);
            lost_lat
                .push(e.last_present.map_or(0, |p| (p.1 + 1).saturating_sub(known_t) / 1_000_000));
        } else {
            never_read.push(x);
        }
    }
    stable_lat.sort_unstable();
    lost_lat.sort_unstable();
    stale.sort_by_key(|&(x, lat)| (std::cmp::Reverse(lat), x));
    let valid = if !lost.is_empty() {
        Validity::False
    } else if stable_lat.is_empty() {
        Validity::Unknown
    } else {
        Validity::True
    };

    #[derive(Serialize)]
    struct Result {
        valid: Validity,
        attempt_count: usize,
        stable_count: usize,
        lost_count: usize,
        lost: Vec<u64>,
        never_read_count: usize,
        never_read: Vec<u64>,
        stale_count: usize,
        stale: Vec<u64>,
        worst_stale: Vec<(u64, u64)>,
        #[serde(skip_serializing_if = "Quantiles::is_empty")]
        stable_latencies: Quantiles,
        #[serde(skip_serializing_if = "Quantiles::is_empty")]
        lost_latencies: Quantiles,
        duplicated_count: usize,
        duplicated: Duplicated,
    }
    /// Jepsen's set-full map of elements read more than once in one read to their
    /// multiplicity; reads here are of sets, so it stays empty, as in Maelstrom.
    struct Duplicated;
    impl Serialize for Duplicated {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            s.serialize_map(Some(0))?.end()
        }
    }
    let q = quantiles(&stable_lat);
    let fmt_q = |q: &[(f64, u64)]| {
        q.iter().map(|(p, v)| format!("{p}: {v}")).collect::<Vec<_>>().join(", ")
    };
    let mut summary = vec![format!(
        "set-full: {} attempted, {} stable, {} lost, {} never read, {} stale",
        created.len(),
        stable_lat.len(),
        lost.len(),
        never_read.len(),
        stale.len()
    )];
    summary.push(format!("stable latency ms {{{}}}", fmt_q(&q)));
    if !lost.is_empty() {
        let show: Vec<String> = lost.iter().take(16).map(u64::to_string).collect();
        summary.push(format!("LOST values: {}", show.join(" ")));
    }
    let result = Result {
        valid,
        attempt_count: created.len(),
        stable_count: stable_lat.len(),
        lost_count: lost.len(),
        lost,
        never_read_count: never_read.len(),
        never_read,
        stale_count: stale.len(),
        stale: {
            let mut s: Vec<u64> = stale.iter().map(|&(x, _)| x).collect();
            s.sort_unstable();
            s
        },
        worst_stale: stale.into_iter().take(8).collect(),
        stable_latencies: Quantiles(q),
        lost_latencies: Quantiles(quantiles(&lost_lat)),
        duplicated_count: 0,
        duplicated: Duplicated,
    };
    Check::new(valid, summary, &result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: OpType, process: usize, time_ms: u64, v: BValue) -> Op<BValue> {
        let f = if matches!(v, BValue::Broadcast(_)) { "broadcast" } else { "read" };
        Op {
            index: 0,
            time: time_ms * 1_000_000,
            process,
            kind,
            f,
            value: v,
            error: None,
            is_final: false,
        }
    }

    fn history(ops: Vec<Op<BValue>>) -> History<BValue> {
        let mut h = History::default();
        for o in ops {
            h.push(o);
        }
        h
    }

    use BValue::{Broadcast as B, Read as R};

    #[test]
    fn a_value_missing_from_the_last_read_is_lost() {
        let h = history(vec![
            op(OpType::Invoke, 0, 0, B(0)),
            op(OpType::Ok, 0, 1, B(0)),
            op(OpType::Invoke, 1, 2, R(None)),
            op(OpType::Ok, 1, 3, R(Some(vec![0]))),
            op(OpType::Invoke, 1, 4, R(None)),
            op(OpType::Ok, 1, 5, R(Some(vec![]))),
        ]);
        let c = set_full(&h);
        assert_eq!(c.valid, Validity::False, "{}", c.json);
    }

    #[test]
    fn a_late_value_is_stable_with_its_latency() {
        let h = history(vec![
            op(OpType::Invoke, 0, 0, B(0)),
            op(OpType::Ok, 0, 10, B(0)),
            op(OpType::Invoke, 1, 50, R(None)),
            op(OpType::Ok, 1, 51, R(Some(vec![]))),
            op(OpType::Invoke, 1, 300, R(None)),
            op(OpType::Ok, 1, 301, R(Some(vec![0]))),
        ]);
        let c = set_full(&h);
        assert_eq!(c.valid, Validity::True, "{}", c.json);
        assert!(c.json.contains("\"stable_latencies\":[[0.0,40]"), "{}", c.json);
    }

    #[test]
    fn no_stable_element_is_unknown_and_failed_adds_are_never_read() {
        let h = history(vec![
            op(OpType::Invoke, 0, 0, B(0)),
            op(OpType::Info, 0, 10, B(0)),
            op(OpType::Invoke, 1, 50, R(None)),
            op(OpType::Ok, 1, 51, R(Some(vec![]))),
        ]);
        let c = set_full(&h);
        assert_eq!(c.valid, Validity::Unknown, "{}", c.json);
        assert!(c.json.contains("\"never_read\":[0]"), "{}", c.json);
    }

    #[test]
    fn topologies_match_maelstrom() {
        assert_eq!(topology(Topology::Grid, 0, 25), [5, 1]);
        assert_eq!(topology(Topology::Grid, 12, 25), [17, 7, 13, 11]);
        assert_eq!(topology(Topology::Line, 0, 3), [1]);
        assert_eq!(topology(Topology::Line, 1, 3), [0, 2]);
        assert_eq!(topology(Topology::Tree(2), 0, 5), [1, 2]);
        assert_eq!(topology(Topology::Tree(2), 1, 5), [0, 3, 4]);
        assert_eq!(topology(Topology::Total, 1, 3), [0, 2]);
    }
}
