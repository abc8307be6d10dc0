//! The kafka checker: Jepsen's `jepsen.tests.kafka` analysis as Maelstrom runs it.
//!
//! Per key it infers a *version order* from every offset an ok send was given and every pair
//! an ok poll returned; a value's *index* is its position among the offsets that hold a value
//! (gaps in sparse offsets do not count). Against that order it reports:
//!
//! | type | what |
//! |---|---|
//! | `inconsistent-offsets` | one offset of a key holds two different values |
//! | `duplicate` | one value sits at two offsets of a key |
//! | `G1a` | an ok poll saw a value whose send failed (a definite error for a send that happened) |
//! | `lost-write` | an ok send's value below the highest index any ok poll reached, never polled by anyone (global, not per consumer) |
//! | `int-poll-skip`, `int-nonmonotonic-poll` | inside one poll's list, indices go up by more than one / do not go up |
//! | `poll-skip`, `nonmonotonic-poll` | between a process's consecutive ok polls of a key (reset by assign) |
//! | `nonmonotonic-send` | a process's consecutive sends to a key do not go up |
//! | `unseen` | ok sends no ok poll ever returned, at the end |
//! | `G1c-realtime` | a poll returned a value whose send was invoked only after the poll completed |
//!
//! All of these invalidate the run (Maelstrom allows only `int-send-skip` and G0-family
//! cycles, which cannot occur with one-message operations). A polled value that no send
//! wrote makes Jepsen's analysis throw; here it makes the result `unknown`.
//!
//! On the cycle check: the dependency graph has only write-read edges (send → polls that saw
//! it; Maelstrom infers no ww or rw edges) and realtime edges (A completed before B was
//! invoked). A write-read edge S → P where P completed before S was invoked closes the cycle
//! P →rt S →wr P. Conversely, if no such edge exists there is no cycle at all: every wr edge
//! ends at a poll, polls have only rt out-edges, and walking a cycle in steps of (rt) or (wr
//! then rt) strictly increases the invocation position, so it cannot return. The check below
//! is therefore exact for this graph, not a heuristic.
//!
//! Not checked, because they cannot occur with one micro-op per operation:
//! `int-send-skip`, `int-nonmonotonic-send`, `precommitted-read`.

use std::collections::{BTreeMap, BTreeSet};

use hashbrown::{HashMap, HashSet};
use serde::Serialize;

use super::{KValue, PVal, Polled};
use crate::sim::history::{History, Op, OpType};
use crate::sim::workloads::{Check, Validity};

/// Examples kept per error type (Jepsen keeps 8 of most, 32 of some).
const EXAMPLES: usize = 8;

/// A reference to one history entry, for error examples.
#[derive(Copy, Clone, Debug, Serialize, PartialEq, Eq)]
pub struct OpRef {
    /// History index.
    pub index: usize,
    /// Process.
    pub process: usize,
    /// ok, info or fail.
    #[serde(rename = "type")]
    pub kind: OpType,
}

impl OpRef {
    fn of<V>(op: &Op<V>) -> OpRef {
        OpRef { index: op.index, process: op.process, kind: op.kind }
    }
}

/// One anomaly, as reported in results.
#[derive(Clone, Debug, Serialize)]
pub struct Anomaly {
    /// The key.
    pub key: u64,
    /// The value(s) involved.
    pub values: Vec<PVal>,
    /// Offset, index delta, or index, depending on the type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
    /// Values skipped over (skips).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<PVal>,
    /// The operations involved.
    pub ops: Vec<OpRef>,
}

/// Every error type the checker can report, in report order.
pub const ERROR_TYPES: &[&str] = &[
    "inconsistent-offsets",
    "duplicate",
    "G1a",
    "lost-write",
    "int-poll-skip",
    "int-nonmonotonic-poll",
    "poll-skip",
    "nonmonotonic-poll",
    "nonmonotonic-send",
    "unseen",
    "G1c-realtime",
];

/// Error types that do not invalidate a run (Maelstrom's allowed set, as far as it can occur).
const ALLOWED: &[&str] = &[];

/// The version order of one key.
#[derive(Debug, Default)]
struct Order {
    /// Offsets holding at least one value, ascending, with their values (sorted).
    log: Vec<(i64, Vec<PVal>)>,
    /// The value taken as "the" value at each index (the smallest, when several).
    by_index: Vec<PVal>,
    /// A value's index in `by_index` (the last, if it is chosen at several).
    by_value: HashMap<PVal, usize>,
}

impl Order {
    fn build(offsets: BTreeMap<i64, BTreeSet<PVal>>) -> Order {
        let mut o = Order::default();
        for (off, vals) in offsets {
            let vals: Vec<PVal> = vals.into_iter().collect();
            let first = vals[0].clone();
            o.by_value.insert(first.clone(), o.by_index.len());
            o.by_index.push(first);
            o.log.push((off, vals));
        }
        o
    }

    fn index(&self, v: &PVal) -> Option<usize> {
        self.by_value.get(v).copied()
    }

    fn between(&self, lo: usize, hi: usize) -> Vec<PVal> {
        self.by_index.get(lo + 1..hi).map(<[PVal]>::to_vec).unwrap_or_default()
    }
}

/// The completion of a send, as the checker needs it.
#[derive(Copy, Clone, Debug)]
struct Writer {
    op: OpRef,
    /// History index of its invocation.
    invoked: usize,
}

/// Index delta between two values (1 when either index is unknown, as Jepsen assumes).
fn delta(
    order: Option<&Order>,
    a: Option<&PVal>,
    b: Option<&PVal>,
) -> (i64, Option<(usize, usize)>) {
    match (order, a, b) {
        (Some(o), Some(a), Some(b)) => match (o.index(a), o.index(b)) {
            (Some(i), Some(j)) => (j as i64 - i as i64, Some((i, j))),
            _ => (1, None),
        },
        _ => (1, None),
    }
}

/// The ok polls' reads of one op, per key (possibly empty lists).
fn reads(op: &Op<KValue>) -> Option<&Polled> {
    match (&op.kind, &op.value) {
        (OpType::Ok, KValue::Poll(Some(p))) => Some(p),
        _ => None,
    }
}

/// Collected errors by type.
#[derive(Default)]
struct Errors {
    by_type: BTreeMap<&'static str, (usize, Vec<Anomaly>)>,
}

impl Errors {
    fn add(&mut self, kind: &'static str, a: Anomaly) {
        let e = self.by_type.entry(kind).or_default();
        e.0 += 1;
        if e.1.len() < EXAMPLES {
            e.1.push(a);
        }
    }

    fn count(&self, kind: &str) -> usize {
        self.by_type.get(kind).map_or(0, |e| e.0)
    }
}

/// Runs the analysis over a kafka history.
pub fn check(history: &History<KValue>) -> Check {
    let ops = &history.ops;
    // Invocation index of every completion.
    let mut invoked_at = vec![0usize; ops.len()];
    let mut open: HashMap<usize, usize> = HashMap::new();
    for op in ops {
        if op.kind == OpType::Invoke {
            open.insert(op.process, op.index);
        } else if let Some(i) = open.remove(&op.process) {
            invoked_at[op.index] = i;
        } else {
            invoked_at[op.index] = op.index;
        }
    }

    // Writers, failed writes, ok reads, and the raw version orders.
    let mut writer_of: HashMap<(u64, PVal), Writer> = HashMap::new();
    let mut failed: HashSet<(u64, PVal)> = HashSet::new();
    let mut ok_reads: BTreeMap<u64, HashSet<PVal>> = BTreeMap::new();
    let mut raw: BTreeMap<u64, BTreeMap<i64, BTreeSet<PVal>>> = BTreeMap::new();
    let mut no_writer: Vec<Anomaly> = Vec::new();
    let (mut sends, mut ok_sends, mut polls, mut ok_polls, mut polled_msgs) = (0, 0, 0, 0, 0);
    for op in ops.iter().filter(|o| o.kind != OpType::Invoke) {
        match &op.value {
            KValue::Send { key, msg, offset } => {
                sends += 1;
                let v = PVal::Int(*msg as i64);
                let w = Writer { op: OpRef::of(op), invoked: invoked_at[op.index] };
                writer_of.insert((*key, v.clone()), w);
                match op.kind {
                    OpType::Fail => {
                        failed.insert((*key, v));
                    }
                    OpType::Ok => {
                        ok_sends += 1;
                        if let Some(o) = offset.filter(|o| *o >= 0) {
                            raw.entry(*key).or_default().entry(o).or_default().insert(v);
                        }
                    }
                    _ => {}
                }
            }
            KValue::Poll(p) => {
                polls += 1;
                let Some(p) = p else { continue };
                if op.kind == OpType::Ok {
                    ok_polls += 1;
                }
                for name in &p.foreign {
                    no_writer.push(Anomaly {
                        key: u64::MAX,
                        values: vec![PVal::Other(format!("key {name:?}"))],
                        at: None,
                        skipped: Vec::new(),
                        ops: vec![OpRef::of(op)],
                    });
                }
                for (k, pairs) in &p.msgs {
                    let log = raw.entry(*k).or_default();
                    let seen = ok_reads.entry(*k).or_default();
                    for (o, v) in pairs {
                        polled_msgs += 1;
                        if *o >= 0 {
                            log.entry(*o).or_default().insert(v.clone());
                        }
                        if op.kind == OpType::Ok {
                            seen.insert(v.clone());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let orders: BTreeMap<u64, Order> = raw.into_iter().map(|(k, l)| (k, Order::build(l))).collect();
    let mut errs = Errors::default();

    // inconsistent-offsets and duplicate.
    for (&key, o) in &orders {
        let mut offsets_of: BTreeMap<&PVal, Vec<i64>> = BTreeMap::new();
        for (off, vals) in &o.log {
            if vals.len() > 1 {
                let a = Anomaly {
                    key,
                    values: vals.clone(),
                    at: Some(*off),
                    skipped: Vec::new(),
                    ops: Vec::new(),
                };
                errs.add("inconsistent-offsets", a);
            }
            for v in vals {
                offsets_of.entry(v).or_default().push(*off);
            }
        }
        for (v, offs) in offsets_of {
            if offs.len() > 1 {
                let a = Anomaly {
                    key,
                    values: vec![v.clone()],
                    at: Some(offs.len() as i64),
                    skipped: Vec::new(),
                    ops: Vec::new(),
                };
                errs.add("duplicate", a);
            }
        }
    }

    // G1a, G1c-realtime, and values nobody wrote.
    let mut first_reader: HashMap<(u64, &PVal), OpRef> = HashMap::new();
    for op in ops {
        let Some(p) = reads(op) else { continue };
        for (k, pairs) in &p.msgs {
            for (_, v) in pairs {
                first_reader.entry((*k, v)).or_insert(OpRef::of(op));
                let Some(w) = writer_of.get(&(*k, v.clone())) else {
                    no_writer.push(Anomaly {
                        key: *k,
                        values: vec![v.clone()],
                        at: None,
                        skipped: Vec::new(),
                        ops: vec![OpRef::of(op)],
                    });
                    continue;
                };
                let kind = if failed.contains(&(*k, v.clone())) {
                    "G1a"
                } else if w.invoked > op.index {
                    "G1c-realtime"
                } else {
                    continue;
                };
                let a = Anomaly {
                    key: *k,
                    values: vec![v.clone()],
                    at: None,
                    skipped: Vec::new(),
                    ops: vec![w.op, OpRef::of(op)],
                };
                errs.add(kind, a);
            }
        }
    }

    // lost-write: global, per key.
    for (&key, vs) in &ok_reads {
        let Some(o) = orders.get(&key) else { continue };
        let mut first: HashMap<&PVal, usize> = HashMap::new();
        let mut last: HashMap<&PVal, usize> = HashMap::new();
        for (i, (_, vals)) in o.log.iter().enumerate() {
            for v in vals {
                first.entry(v).or_insert(i);
                last.insert(v, i);
            }
        }
        let Some(bound) = vs.iter().filter_map(|v| first.get(v).copied()).max() else {
            continue;
        };
        let mut must: Vec<(usize, &PVal)> =
            last.iter().filter(|&(_, &i)| i <= bound).map(|(v, &i)| (i, *v)).collect();
        must.sort();
        for (i, v) in must {
            if vs.contains(v) {
                continue;
            }
            let Some(w) = writer_of.get(&(key, v.clone())) else {
                no_writer.push(Anomaly {
                    key,
                    values: vec![v.clone()],
                    at: None,
                    skipped: Vec::new(),
                    ops: Vec::new(),
                });
                continue;
            };
            // Only writes that must have happened: ok sends (an info send whose one value
            // was never read cannot be proven).
            if w.op.kind != OpType::Ok {
                continue;
            }
            let mut refs = vec![w.op];
            if let Some(r) = o.by_index.get(bound).and_then(|bv| first_reader.get(&(key, bv))) {
                refs.push(*r);
            }
            let a = Anomaly {
                key,
                values: vec![v.clone()],
                at: Some(i as i64),
                skipped: Vec::new(),
                ops: refs,
            };
            errs.add("lost-write", a);
        }
    }

    // int-poll-skip and int-nonmonotonic-poll.
    for op in ops {
        let Some(p) = reads(op) else { continue };
        for (k, pairs) in &p.msgs {
            let o = orders.get(k);
            for w in pairs.windows(2) {
                let (d, ij) = delta(o, Some(&w[0].1), Some(&w[1].1));
                let skipped = match (o, ij) {
                    (Some(o), Some((i, j))) if d > 1 => o.between(i, j),
                    _ => Vec::new(),
                };
                let a = Anomaly {
                    key: *k,
                    values: vec![w[0].1.clone(), w[1].1.clone()],
                    at: Some(d),
                    skipped,
                    ops: vec![OpRef::of(op)],
                };
                if d > 1 {
                    errs.add("int-poll-skip", a);
                } else if d < 1 {
                    errs.add("int-nonmonotonic-poll", a);
                }
            }
        }
    }

    // Per process: poll-skip, nonmonotonic-poll, nonmonotonic-send.
    let mut by_process: BTreeMap<usize, Vec<&Op<KValue>>> = BTreeMap::new();
    for op in ops {
        by_process.entry(op.process).or_default().push(op);
    }
    for proc_ops in by_process.values() {
        // Key -> (the last ok poll of it, the last value that poll read of it).
        let mut last_read: BTreeMap<u64, (OpRef, Option<&PVal>)> = BTreeMap::new();
        let mut last_sent: BTreeMap<u64, (OpRef, PVal)> = BTreeMap::new();
        for op in proc_ops {
            match &op.value {
                KValue::Assign { keys, .. } if matches!(op.kind, OpType::Ok | OpType::Info) => {
                    last_read.retain(|k, _| keys.contains(k));
                    last_sent.retain(|k, _| keys.contains(k));
                }
                KValue::Poll(_) => {
                    let Some(p) = reads(op) else { continue };
                    for (k, pairs) in &p.msgs {
                        if let Some((prev, last)) = last_read.get(k) {
                            let o = orders.get(k);
                            let (d, ij) = delta(o, *last, pairs.first().map(|x| &x.1));
                            let skipped = match (o, ij) {
                                (Some(o), Some((i, j))) if d > 1 => o.between(i, j),
                                _ => Vec::new(),
                            };
                            let values = last.iter().map(|v| (*v).clone());
                            let a = Anomaly {
                                key: *k,
                                values: values.chain(pairs.first().map(|x| x.1.clone())).collect(),
                                at: Some(d),
                                skipped,
                                ops: vec![*prev, OpRef::of(op)],
                            };
                            if d > 1 {
                                errs.add("poll-skip", a);
                            } else if d < 1 {
                                errs.add("nonmonotonic-poll", a);
                            }
                        }
                    }
                    for (k, pairs) in &p.msgs {
                        last_read.insert(*k, (OpRef::of(op), pairs.last().map(|x| &x.1)));
                    }
                }
                KValue::Send { key, msg, .. } if matches!(op.kind, OpType::Ok | OpType::Info) => {
                    let v = PVal::Int(*msg as i64);
                    if let Some((prev, pv)) = last_sent.get(key) {
                        let (d, _) = delta(orders.get(key), Some(pv), Some(&v));
                        if d < 1 {
                            let a = Anomaly {
                                key: *key,
                                values: vec![pv.clone(), v.clone()],
                                at: Some(d),
                                skipped: Vec::new(),
                                ops: vec![*prev, OpRef::of(op)],
                            };
                            errs.add("nonmonotonic-send", a);
                        }
                    }
                    last_sent.insert(*key, (OpRef::of(op), v));
                }
                _ => {}
            }
        }
    }

    // unseen: ok sends no ok poll returned.
    let mut unseen: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for op in ops {
        if let (OpType::Ok, KValue::Send { key, msg, .. }) = (op.kind, &op.value) {
            let read = ok_reads.get(key).is_some_and(|s| s.contains(&PVal::Int(*msg as i64)));
            if !read {
                unseen.entry(*key).or_default().push(*msg);
                let a = Anomaly {
                    key: *key,
                    values: vec![PVal::Int(*msg as i64)],
                    at: None,
                    skipped: Vec::new(),
                    ops: vec![OpRef::of(op)],
                };
                errs.add("unseen", a);
            }
        }
    }

    // Verdict.
    let error_types: Vec<&str> =
        ERROR_TYPES.iter().copied().filter(|t| errs.count(t) > 0).collect();
    let bad: Vec<&str> = error_types.iter().copied().filter(|t| !ALLOWED.contains(t)).collect();
    let valid = if !bad.is_empty() {
        Validity::False
    } else if !no_writer.is_empty() {
        Validity::Unknown
    } else {
        Validity::True
    };

    #[derive(Serialize)]
    struct ErrOut<'a> {
        count: usize,
        errs: &'a [Anomaly],
    }
    #[derive(Serialize)]
    struct Out<'a> {
        valid: Validity,
        error_types: &'a [&'a str],
        bad_error_types: &'a [&'a str],
        errors: BTreeMap<&'a str, ErrOut<'a>>,
        #[serde(skip_serializing_if = "<[Anomaly]>::is_empty")]
        no_writer_of_value: &'a [Anomaly],
        unseen_messages: &'a BTreeMap<u64, Vec<u64>>,
        send_count: usize,
        ok_send_count: usize,
        poll_count: usize,
        ok_poll_count: usize,
        polled_message_count: usize,
        key_count: usize,
    }
    let errors: BTreeMap<&str, ErrOut<'_>> = errs
        .by_type
        .iter()
        .map(|(t, (count, ex))| (*t, ErrOut { count: *count, errs: ex }))
        .collect();
    let mut summary = vec![format!(
        "kafka: {ok_sends}/{sends} sends ok, {ok_polls}/{polls} polls ok ({polled_msgs} messages), {} keys",
        orders.len()
    )];
    if error_types.is_empty() {
        summary.push("anomalies: none".to_owned());
    } else {
        let list: Vec<String> =
            error_types.iter().map(|t| format!("{t} x{}", errs.count(t))).collect();
        summary.push(format!("ANOMALIES: {}", list.join(", ")));
        for t in &error_types {
            if let Some(a) = errs.by_type.get(t).and_then(|e| e.1.first()) {
                summary.push(format!("  e.g. {t}: {}", describe(a)));
            }
        }
    }
    if !no_writer.is_empty() {
        summary.push(format!(
            "UNKNOWN: {} polled values no send wrote, e.g. {}",
            no_writer.len(),
            describe(&no_writer[0])
        ));
    }
    let out = Out {
        valid,
        error_types: &error_types,
        bad_error_types: &bad,
        errors,
        no_writer_of_value: &no_writer[..no_writer.len().min(EXAMPLES)],
        unseen_messages: &unseen,
        send_count: sends,
        ok_send_count: ok_sends,
        poll_count: polls,
        ok_poll_count: ok_polls,
        polled_message_count: polled_msgs,
        key_count: orders.len(),
    };
    Check::new(valid, summary, &out)
}

/// One line about an anomaly.
fn describe(a: &Anomaly) -> String {
    let vals: Vec<String> = a
        .values
        .iter()
        .map(|v| match v {
            PVal::Int(i) => i.to_string(),
            PVal::Other(s) => s.clone(),
        })
        .collect();
    let ops: Vec<String> = a.ops.iter().map(|o| format!("#{} (p{})", o.index, o.process)).collect();
    let mut s = format!("key {} values [{}]", a.key, vals.join(", "));
    if let Some(at) = a.at {
        s.push_str(&format!(" at {at}"));
    }
    if !a.skipped.is_empty() {
        s.push_str(&format!(" skipping {}", a.skipped.len()));
    }
    if !ops.is_empty() {
        s.push_str(&format!(" ops {}", ops.join(" ")));
    }
    s
}

#[cfg(test)]
mod tests;
