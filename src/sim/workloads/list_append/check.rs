//! The list-append checker: Elle's `elle.list-append/check` (elle 0.2.2, the version Jepsen
//! 0.3.7 and so Maelstrom 0.2.x use), with Maelstrom's options: `--consistency-models`
//! (default strict-serializable), no extra `:anomalies`, no extra graphs.
//!
//! # What is inferred
//!
//! Transactions are the completed operations; *possible* ones are `ok` and `info` (an `info`
//! transaction keeps its invocation's value, so its reads are unknown).
//! - **Version order** of each key: the distinct non-empty lists that possible transactions
//!   read, sorted by length, must each be a prefix of the next (otherwise
//!   `incompatible-order`); the longest (duplicates dropped) orders the key's appends. A key
//!   with exactly one append micro-op in possible transactions is ordered `[v]` instead.
//! - **ww**: an append of `v` depends on the transaction that appended the element just before
//!   `v` in the key's order; an append never read comes after the last element ever read.
//! - **wr**: a read depends on the appender of its list's last element.
//! - **rw**: an append depends, backwards, on every transaction that read the key's state just
//!   before it (the list ending in the previous element, or the empty/nil list for the first).
//! - **realtime** (when any model forbids a `-realtime` anomaly, as strict-serializable does):
//!   `a -> b` when `ok` transaction `a` completed before `b` was invoked, as a transitive
//!   reduction (Elle's buffer of completions since the last one that covers them).
//! - **process** (only when some model forbids a `-process` anomaly and none a `-realtime`
//!   one): each process's consecutive `ok` transactions.
//!
//! A pair of transactions with several relations is explained by the first of ww, wr, rw,
//! realtime, process, as Elle's combined explainer does; cycles are classified by those
//! explanations.
//!
//! # What is reported
//!
//! - `G1a` (an `ok` read contains an element a failed transaction appended), `G1b` (an `ok`
//!   read ends in an element another transaction appended and then appended after, to the same
//!   key), `internal` (a read disagrees with the transaction's own earlier reads and appends),
//!   `future-read` (a read contains an element the same transaction appends later),
//!   `dirty-update` (in a key's order, a failed transaction's append is followed by an `ok`
//!   one's), `duplicate-elements`, `incompatible-order`, `lost-update` (two `ok` transactions
//!   read the same state of a key and both appended to it).
//! - Cycles, searched in each strongly connected component of the whole graph, as Elle does:
//!   first Elle's *cycle-exists* checks (one per model family, e.g. `PL-2-cycle-exists` for a
//!   cycle of ww and wr edges, `PL-SS-cycle-exists` with realtime), then, in Elle's order of
//!   severity, `G0` (ww only), `G1c` (ww and wr, at least one wr), `G-single-item` (exactly one
//!   rw), `G-nonadjacent-item` (two or more rw, none adjacent), `G2-item` (two or more rw, two
//!   adjacent) and their `-process` and `-realtime` variants (at least one such edge), skipping
//!   a type once a found one implies it or the cycle-exists checks rule it out. One example
//!   per type and component: the shortest cycle of that type through the first anchor edge
//!   (the rarest edge kind it must contain, in history order) that lies on one. Each is printed
//!   with its transactions and the edges between them. The search has a budget per component
//!   (Elle has a one-second timeout); when it is spent the component reports
//!   `cycle-search-timeout`, which (like `empty-transaction-graph`) makes the verdict unknown
//!   unless something forbidden was found.
//!
//! # Where this differs from Elle
//!
//! - Cycle searches walk the explained relation of each pair (so a cycle's edges are exactly
//!   what its explanation says), from an anchor edge, breadth first over (transaction, path
//!   state) and keeping only simple cycles. Elle walks simple paths over all relations of a
//!   pair from vertices in hash order and drops a cycle whose explanation has another type.
//!   Both find a cycle of a type when a short one exists; the example shown may differ, and a
//!   type whose only cycles need a vertex twice in the shortest walk can be missed here. The
//!   verdict does not rest on those examples: the cycle-exists checks decide every model that
//!   forbids a cycle subgraph, and G-single-item (the one cycle type some models forbid
//!   without such a check) is found exactly.
//! - Elle's predicate types (G-single, G-nonadjacent, G2 and variants) are not searched: list
//!   append has no predicates, so Elle never reports them either.
//! - On a spent budget Elle also prints a fallback cycle; this reports only the timeout.
//! - Where Elle picks among reads of equal length by hash order (only in a history that is
//!   already `incompatible-order`), this takes the first one read.
//!
//! # Verdict
//!
//! As Elle's `result-map`: invalid if any anomaly found is one the models forbid
//! (`super::super::cycle::models::prohibited_by`); unknown if only `empty-transaction-graph`
//! or `cycle-search-timeout` were found, or where Elle would throw (an element read by the
//! longest read of a key that no completed transaction appended; the same element appended
//! twice by invocations; an unknown model name); valid otherwise. Anomalies the models allow
//! are still listed, marked as ones Maelstrom ignores; the report also gives Elle's boundary
//! (the weakest models the anomalies rule out).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use hashbrown::{HashMap, HashSet};
use serde::Serialize;

use super::{LaMop, LaTxn};
use crate::sim::history::{History, OpType};
use crate::sim::workloads::cycle::graph::Graph;
use crate::sim::workloads::cycle::models;
use crate::sim::workloads::txn::Jv;
use crate::sim::workloads::{Check, Validity};

/// Examples kept per anomaly type in the report.
const MAX_EXAMPLES: usize = 8;

/// Edge relations, as bits; a lower bit explains a pair first.
const WW: u8 = 1;
const WR: u8 = 2;
const RW: u8 = 4;
const RT: u8 = 8;
const PR: u8 = 16;

/// Search budget per strongly connected component, in edge relaxations.
const SEARCH_BUDGET: u64 = 20_000_000;

/// The name of a relation bit.
fn rel_name(bit: u8) -> &'static str {
    match bit {
        WW => "ww",
        WR => "wr",
        RW => "rw",
        RT => "realtime",
        _ => "process",
    }
}

/// The relation that explains a pair: the lowest bit.
fn explained(bits: u8) -> u8 {
    bits & bits.wrapping_neg()
}

/// A transaction as the analysis sees it.
#[derive(Clone, Copy, Debug)]
struct T<'h> {
    /// History index of its completion.
    index: usize,
    /// History index of its invocation.
    invoke_index: usize,
    invoke_time: u64,
    complete_time: u64,
    process: usize,
    kind: OpType,
    /// The completion's value (for fail and info, the invocation's).
    value: &'h LaTxn,
}

impl T<'_> {
    fn possible(&self) -> bool {
        matches!(self.kind, OpType::Ok | OpType::Info)
    }
}

/// A transaction in a report. `T<n>` names the transaction completed at history index `n`.
#[derive(Clone, Debug, Serialize)]
pub struct OpRef {
    /// History index of the completion.
    pub index: usize,
    /// Process.
    pub process: usize,
    /// ok, fail or info.
    #[serde(rename = "type")]
    pub kind: OpType,
    /// The transaction, as text.
    pub value: String,
}

impl OpRef {
    fn of(t: &T<'_>) -> OpRef {
        OpRef { index: t.index, process: t.process, kind: t.kind, value: t.value.to_string() }
    }
}

/// A read of something another transaction wrote: G1a, G1b.
#[derive(Clone, Debug, Serialize)]
pub struct ReadCase {
    /// The reading transaction.
    pub op: OpRef,
    /// The read.
    pub mop: String,
    /// The transaction that appended the element.
    pub writer: OpRef,
    /// The element.
    pub element: String,
}

/// A read that contradicts its own transaction: internal (with what was expected) or
/// future-read (with the element the transaction appends later).
#[derive(Clone, Debug, Serialize)]
pub struct InternalCase {
    /// The transaction.
    pub op: OpRef,
    /// The read.
    pub mop: String,
    /// internal: the state the transaction's own earlier micro-ops imply (`...` for an unknown
    /// prefix); future-read: the element read before the transaction appended it.
    pub expected: String,
}

/// A key whose reads cannot come from one order of appends.
#[derive(Clone, Debug, Serialize)]
pub struct IncompatibleCase {
    /// The key.
    pub key: String,
    /// Two reads, the shorter not a prefix of the longer.
    pub values: [String; 2],
}

/// A read with an element more than once.
#[derive(Clone, Debug, Serialize)]
pub struct DuplicateCase {
    /// The transaction.
    pub op: OpRef,
    /// The read.
    pub mop: String,
    /// Elements and how often they appear.
    pub duplicates: Vec<(String, usize)>,
}

/// In a key's order, a failed transaction's append followed by a committed one's.
#[derive(Clone, Debug, Serialize)]
pub struct DirtyUpdateCase {
    /// The key.
    pub key: String,
    /// The elements from the failed append to the committed one.
    pub values: Vec<String>,
    /// The failed transaction and the committed one.
    pub txns: [OpRef; 2],
}

/// Committed transactions that read the same state of a key and all appended to it.
#[derive(Clone, Debug, Serialize)]
pub struct LostUpdateCase {
    /// The key.
    pub key: String,
    /// The state they all read.
    pub value: String,
    /// The transactions.
    pub txns: Vec<OpRef>,
}

/// One edge of a cycle, explained.
#[derive(Clone, Debug, Serialize)]
pub struct CycleStep {
    /// History index of the source transaction.
    pub from: usize,
    /// History index of the target transaction.
    pub to: usize,
    /// The relation that explains it: ww, wr, rw, realtime or process.
    #[serde(rename = "type")]
    pub rel: &'static str,
    /// Why, in words.
    pub why: String,
}

/// A dependency cycle.
#[derive(Clone, Debug, Serialize)]
pub struct CycleCase {
    /// Its anomaly type (G0, G1c-realtime, G2-item...).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The edges, in order; the last leads back to the first's source.
    pub cycle: Vec<CycleStep>,
    /// The transactions on the cycle, in order.
    pub txns: Vec<OpRef>,
    /// Size of the strongly connected component it was found in.
    pub scc_size: usize,
}

/// A cycle exists in the subgraph a model must keep acyclic (Elle's `*-cycle-exists`).
#[derive(Clone, Debug, Serialize)]
pub struct CycleExistsCase {
    /// The anomaly type, e.g. `PL-2-cycle-exists`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The model it rules out.
    pub not: &'static str,
    /// The relations of the subgraph.
    pub subgraph: &'static str,
    /// Size of the smallest strongly connected component of that subgraph.
    pub scc_size: usize,
    /// Its transactions (history indices), at most 32.
    pub scc: Vec<usize>,
}

/// A component whose cycle search ran out of budget.
#[derive(Clone, Debug, Serialize)]
pub struct TimeoutCase {
    /// The anomaly type being searched for.
    pub anomaly_spec_type: &'static str,
    /// Types searched before it and not found.
    pub does_not_contain: Vec<&'static str>,
    /// The component's size.
    pub scc_size: usize,
}

/// Everything the analysis found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Analysis {
    /// Aborted reads.
    #[serde(rename = "G1a")]
    pub g1a: Vec<ReadCase>,
    /// Intermediate reads.
    #[serde(rename = "G1b")]
    pub g1b: Vec<ReadCase>,
    /// Internal inconsistencies.
    pub internal: Vec<InternalCase>,
    /// Reads of the transaction's own later appends.
    #[serde(rename = "future-read")]
    pub future_read: Vec<InternalCase>,
    /// Dirty updates.
    #[serde(rename = "dirty-update")]
    pub dirty_update: Vec<DirtyUpdateCase>,
    /// Reads with repeated elements.
    #[serde(rename = "duplicate-elements")]
    pub duplicates: Vec<DuplicateCase>,
    /// Keys whose reads disagree on the order of appends.
    #[serde(rename = "incompatible-order")]
    pub incompatible_order: Vec<IncompatibleCase>,
    /// Lost updates.
    #[serde(rename = "lost-update")]
    pub lost_update: Vec<LostUpdateCase>,
    /// Cycles, by anomaly type.
    pub cycles: BTreeMap<&'static str, Vec<CycleCase>>,
    /// Cycle-exists cases, by anomaly type.
    pub cycle_exists: BTreeMap<String, Vec<CycleExistsCase>>,
    /// Components whose search ran out of budget.
    #[serde(rename = "cycle-search-timeout")]
    pub timeouts: Vec<TimeoutCase>,
    /// No dependency edges at all.
    pub empty_transaction_graph: bool,
    /// Why Elle would throw (the verdict is then unknown).
    pub errors: Vec<String>,
    /// Ok, fail and info transaction counts.
    pub txns: (usize, usize, usize),
    /// Pairs of transactions explained by ww, wr, rw, realtime and process.
    pub edges: [usize; 5],
    /// The extra graph used: "realtime", "process" or "none".
    pub extra_graph: &'static str,
    /// Sizes of the strongly connected components (two or more transactions).
    pub scc_sizes: Vec<usize>,
}

impl Analysis {
    /// `(type, count)` for every anomaly type found, in Elle's names.
    pub fn types(&self) -> Vec<(String, usize)> {
        let mut v: Vec<(String, usize)> = [
            ("G1a", self.g1a.len()),
            ("G1b", self.g1b.len()),
            ("internal", self.internal.len()),
            ("future-read", self.future_read.len()),
            ("dirty-update", self.dirty_update.len()),
            ("duplicate-elements", self.duplicates.len()),
            ("incompatible-order", self.incompatible_order.len()),
            ("lost-update", self.lost_update.len()),
            ("cycle-search-timeout", self.timeouts.len()),
            ("empty-transaction-graph", usize::from(self.empty_transaction_graph)),
        ]
        .into_iter()
        .map(|(t, n)| (t.to_owned(), n))
        .collect();
        v.extend(self.cycles.iter().map(|(t, c)| ((*t).to_owned(), c.len())));
        v.extend(self.cycle_exists.iter().map(|(t, c)| (t.clone(), c.len())));
        v.retain(|(_, n)| *n > 0);
        v.sort();
        v
    }
}

/// Which extra graph Elle adds for these models: realtime if any model forbids a realtime
/// anomaly, else process if any forbids a process one.
fn extra_graph(prohibited: &BTreeSet<&str>) -> u8 {
    let any = |suffix: &str| {
        CYCLE_TYPES.iter().any(|(base, _)| prohibited.contains(format!("{base}{suffix}").as_str()))
            || ["G-single", "G-nonadjacent", "G2"]
                .iter()
                .any(|b| prohibited.contains(format!("{b}{suffix}").as_str()))
    };
    if any("-realtime") {
        RT
    } else if any("-process") {
        PR
    } else {
        0
    }
}

/// A list as Elle prints it: `[1 2 3]`, or `nil`.
fn show_list(v: Option<&[Jv]>) -> String {
    match v {
        None => "nil".to_owned(),
        Some(v) => {
            let items: Vec<String> = v.iter().map(Jv::to_string).collect();
            format!("[{}]", items.join(" "))
        }
    }
}

/// A read's list as a slice (nil is empty).
fn list(v: &Option<Vec<Jv>>) -> &[Jv] {
    v.as_deref().unwrap_or(&[])
}

/// Elle's `op-int-case`: the first read contradicting the transaction's own state.
fn internal_case(t: &T<'_>) -> Option<InternalCase> {
    // Expected state per key: (unknown prefix?, known elements).
    let mut state: HashMap<&Jv, Option<(bool, Vec<&Jv>)>> = HashMap::new();
    for m in &t.value.0 {
        match m {
            LaMop::Append(k, v) => match state.get_mut(k) {
                Some(Some((_, s))) => s.push(v),
                Some(None) => {
                    state.insert(k, Some((false, vec![v])));
                }
                None => {
                    state.insert(k, Some((true, vec![v])));
                }
            },
            LaMop::R(k, v) => {
                let read = list(v);
                if let Some(Some((unknown_prefix, s))) = state.get(k) {
                    let bad = if *unknown_prefix {
                        read.len() < s.len()
                            || read[read.len() - s.len()..].iter().zip(s).any(|(a, b)| a != *b)
                    } else {
                        v.is_none()
                            || read.len() != s.len()
                            || read.iter().zip(s).any(|(a, b)| a != *b)
                    };
                    if bad {
                        let mut expected = String::from("[");
                        if *unknown_prefix {
                            expected.push_str("...");
                        }
                        for (i, e) in s.iter().enumerate() {
                            if i > 0 || *unknown_prefix {
                                expected.push(' ');
                            }
                            expected.push_str(&e.to_string());
                        }
                        expected.push(']');
                        return Some(InternalCase {
                            op: OpRef::of(t),
                            mop: m.to_string(),
                            expected,
                        });
                    }
                }
                state.insert(k, v.as_ref().map(|v| (false, v.iter().collect())));
            }
        }
    }
    None
}

/// Elle's `op-future-read-case`: a read of an element the transaction appends later.
fn future_read_case(t: &T<'_>) -> Option<InternalCase> {
    let mut reads: HashMap<(&Jv, &Jv), &LaMop> = HashMap::new();
    for m in &t.value.0 {
        match m {
            LaMop::Append(k, v) => {
                if let Some(r) = reads.get(&(k, v)) {
                    return Some(InternalCase {
                        op: OpRef::of(t),
                        mop: r.to_string(),
                        expected: v.to_string(),
                    });
                }
            }
            LaMop::R(k, v) => {
                for e in list(v) {
                    reads.entry((k, e)).or_insert(m);
                }
            }
        }
    }
    None
}

/// Per key, the distinct non-empty lists read, sorted by length (stable: first seen first),
/// with Elle's single-append override.
fn sorted_values<'h>(
    reads: impl Iterator<Item = (&'h Jv, &'h [Jv])>,
    appends: impl Iterator<Item = (&'h Jv, &'h Jv)>,
) -> BTreeMap<&'h Jv, Vec<&'h [Jv]>> {
    let mut out: BTreeMap<&Jv, Vec<&[Jv]>> = BTreeMap::new();
    let mut seen: HashSet<(&Jv, &[Jv])> = HashSet::new();
    for (k, v) in reads {
        if !v.is_empty() && seen.insert((k, v)) {
            out.entry(k).or_default().push(v);
        }
    }
    let mut single: BTreeMap<&Jv, Option<&Jv>> = BTreeMap::new();
    for (k, v) in appends {
        single.entry(k).and_modify(|s| *s = None).or_insert(Some(v));
    }
    for (k, v) in single {
        if let Some(v) = v {
            out.insert(k, vec![std::slice::from_ref(v)]);
        }
    }
    for vs in out.values_mut() {
        vs.sort_by_key(|v| v.len());
    }
    out
}

/// A key's order of appends: the longest read, duplicates dropped.
struct Order<'h> {
    values: Vec<&'h Jv>,
    indices: HashMap<&'h Jv, usize>,
}

fn append_index<'h>(sorted: &BTreeMap<&'h Jv, Vec<&'h [Jv]>>) -> HashMap<&'h Jv, Order<'h>> {
    sorted
        .iter()
        .map(|(&k, vs)| {
            let mut indices = HashMap::new();
            let mut values = Vec::new();
            for e in vs.last().map_or(&[][..], |v| *v) {
                if !indices.contains_key(e) {
                    indices.insert(e, values.len());
                    values.push(e);
                }
            }
            (k, Order { values, indices })
        })
        .collect()
}

/// The relations and indices the dependency inference shares.
struct Deps<'h> {
    order: HashMap<&'h Jv, Order<'h>>,
    /// `(key, element)` -> the possible transaction that appended it.
    writer: HashMap<(&'h Jv, &'h Jv), u32>,
    /// `(key, last element or None for the empty state)` -> possible readers.
    readers: HashMap<(&'h Jv, Option<&'h Jv>), Vec<u32>>,
}

impl<'h> Deps<'h> {
    /// The element appended just before `v` to `k`, or the last one observed if `v` never was;
    /// `None` for the initial state.
    fn previous(&self, k: &'h Jv, v: &'h Jv) -> Option<&'h Jv> {
        let o = self.order.get(k)?;
        match o.indices.get(v) {
            Some(&0) => None,
            Some(&i) => Some(o.values[i - 1]),
            None => o.values.last().copied(),
        }
    }
}

/// Why `b` depends on `a` by `rel`, in Elle's words (`None` if it does not).
fn explain(
    deps: &Deps<'_>,
    txns: &[T<'_>],
    a: u32,
    b: u32,
    rel: u8,
    name: &dyn Fn(u32) -> String,
) -> Option<String> {
    let (ta, tb) = (&txns[a as usize], &txns[b as usize]);
    let (an, bn) = (name(a), name(b));
    match rel {
        WW => tb.value.0.iter().find_map(|m| {
            let LaMop::Append(k, v) = m else { return None };
            let prev = deps.previous(k, v)?;
            (deps.writer.get(&(k, prev)) == Some(&a))
                .then(|| format!("{bn} appended {v} after {an} appended {prev} to {k}"))
        }),
        WR => tb.value.0.iter().find_map(|m| {
            let LaMop::R(k, v) = m else { return None };
            let last = list(v).last()?;
            (deps.writer.get(&(k, last)) == Some(&a))
                .then(|| format!("{bn} observed {an}'s append of {last} to key {k}"))
        }),
        RW => tb.value.0.iter().find_map(|m| {
            let LaMop::Append(k, v) = m else { return None };
            let prev = deps.previous(k, v);
            let readers = deps.readers.get(&(k, prev))?;
            readers.contains(&a).then(|| match prev {
                None => format!(
                    "{an} observed the initial (nil) state of {k}, which {bn} created by \
                     appending {v}"
                ),
                Some(_) => format!("{an} did not observe {bn}'s append of {v} to {k}"),
            })
        }),
        RT => {
            let dt = tb.invoke_time.saturating_sub(ta.complete_time);
            let gap = if dt > 0 {
                format!(" {:.3} seconds", dt as f64 / 1e9)
            } else {
                " just".to_owned()
            };
            Some(format!(
                "{an} completed at index {},{gap} before the invocation of {bn}, at index {}",
                ta.index, tb.invoke_index
            ))
        }
        _ => Some(format!("process {} executed {an} before {bn}", ta.process)),
    }
}

/// Cycle anomaly types Elle searches (those list-append can exhibit), with their base rules.
const CYCLE_TYPES: &[(&str, Base)] = &[
    ("G0", Base::G0),
    ("G1c", Base::G1c),
    ("G-single-item", Base::Single),
    ("G-nonadjacent-item", Base::Nonadjacent),
    ("G2-item", Base::G2Item),
];

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Base {
    /// ww edges only.
    G0,
    /// ww and wr, at least one wr.
    G1c,
    /// ww and wr, exactly one rw.
    Single,
    /// ww and wr, two or more rw, no two adjacent.
    Nonadjacent,
    /// ww, wr and rw, two or more rw, two of them adjacent.
    G2Item,
}

/// One searchable anomaly type.
#[derive(Copy, Clone, Debug)]
struct Spec {
    name: &'static str,
    base: Base,
    /// RT or PR for a variant, 0 for the base type.
    variant: u8,
}

/// Every cycle type with its variants, in Elle's search order (depth, then name).
fn specs() -> Vec<Spec> {
    let depths = models::anomaly_depths();
    let mut v: Vec<Spec> = Vec::new();
    for &(base_name, base) in CYCLE_TYPES {
        for (variant, suffix) in [(0, ""), (PR, "-process"), (RT, "-realtime")] {
            let name: &'static str = match (base_name, suffix) {
                (b, "") => b,
                _ => CYCLE_NAMES
                    .iter()
                    .copied()
                    .find(|n| n.strip_suffix(suffix) == Some(base_name))
                    .expect("every variant is named"),
            };
            v.push(Spec { name, base, variant });
        }
    }
    v.sort_by_key(|s| (depths.get(s.name).copied().unwrap_or(usize::MAX), s.name));
    v
}

/// Static names of the variants.
const CYCLE_NAMES: &[&str] = &[
    "G0-process",
    "G0-realtime",
    "G1c-process",
    "G1c-realtime",
    "G-single-item-process",
    "G-single-item-realtime",
    "G-nonadjacent-item-process",
    "G-nonadjacent-item-realtime",
    "G2-item-process",
    "G2-item-realtime",
];

/// The type of a cycle from its explained relations, as Elle's cycle explainer names it.
fn classify(rels: &[u8]) -> &'static str {
    let count = |r: u8| rels.iter().filter(|&&x| x == r).count();
    let (rw, wr) = (count(RW), count(WR));
    let n = rels.len();
    let adjacent = (0..n).any(|i| rels[i] == RW && rels[(i + 1) % n] == RW);
    let base = if rw == 1 {
        "G-single-item"
    } else if rw > 1 {
        if adjacent { "G2-item" } else { "G-nonadjacent-item" }
    } else if wr > 0 {
        "G1c"
    } else {
        "G0"
    };
    let suffix = if count(RT) > 0 {
        "-realtime"
    } else if count(PR) > 0 {
        "-process"
    } else {
        ""
    };
    if suffix.is_empty() {
        return base;
    }
    CYCLE_NAMES
        .iter()
        .copied()
        .find(|n| n.strip_suffix(suffix) == Some(base))
        .expect("every variant is named")
}

/// Elle's cycle-exists checks: (canonical model, anomaly type, relations of A, rw extension?).
const CYCLE_EXISTS: &[(&str, &str, u8, bool)] = &[
    ("PL-1", "PL-1-cycle-exists", WW, false),
    ("PL-2", "PL-2-cycle-exists", WW | WR, false),
    ("PL-SI", "PL-SI-cycle-exists", WW | WR, true),
    ("PL-2.99", "PL-2.99-cycle-exists", WW | WR | RW, false),
    ("PL-3", "PL-3-cycle-exists", WW | WR | RW, false),
    ("strong-session-PL-1", "strong-session-PL-1-cycle-exists", WW | PR, false),
    ("strong-session-PL-2", "strong-session-PL-2-cycle-exists", WW | WR | PR, false),
    (
        "strong-session-snapshot-isolation",
        "strong-session-snapshot-isolation-cycle-exists",
        WW | WR | PR,
        true,
    ),
    (
        "strong-session-serializable",
        "strong-session-serializable-cycle-exists",
        WW | WR | RW | PR,
        false,
    ),
    ("strong-PL-1", "strong-PL-1-cycle-exists", WW | RT, false),
    ("strong-PL-2", "strong-PL-2-cycle-exists", WW | WR | RT, false),
    ("strong-snapshot-isolation", "strong-snapshot-isolation-cycle-exists", WW | WR | RT, true),
    ("PL-SS", "PL-SS-cycle-exists", WW | WR | RW | RT, false),
];

fn subgraph_name(mask: u8, ext: bool) -> &'static str {
    match (mask, ext) {
        (WW, _) => "ww",
        (m, false) if m == WW | WR => "ww wr",
        (m, true) if m == WW | WR => "(ww wr) then rw",
        (m, _) if m == WW | WR | RW => "ww wr rw",
        (m, _) if m == WW | PR => "ww process",
        (m, false) if m == WW | WR | PR => "ww wr process",
        (m, true) if m == WW | WR | PR => "(ww wr process) then rw",
        (m, _) if m == WW | WR | RW | PR => "ww wr rw process",
        (m, _) if m == WW | RT => "ww realtime",
        (m, false) if m == WW | WR | RT => "ww wr realtime",
        (m, true) if m == WW | WR | RT => "(ww wr realtime) then rw",
        _ => "ww wr rw realtime",
    }
}

/// One strongly connected component, renumbered `0..n` in history order.
struct Component<'a> {
    /// Global transaction ids of its vertices.
    members: &'a [u32],
    /// `(from, to, raw relation bits)`, local ids, sorted.
    edges: Vec<(u32, u32, u8)>,
}

impl Component<'_> {
    fn n(&self) -> usize {
        self.members.len()
    }

    /// The smallest nontrivial component of the subgraph of relations `mask`, extended by a
    /// following rw step when `ext` (Elle's sequential extension).
    fn smallest_cycle_component(&self, mask: u8, ext: bool) -> Option<Vec<u32>> {
        let a: Vec<(u32, u32)> =
            self.edges.iter().filter(|e| e.2 & mask != 0).map(|e| (e.0, e.1)).collect();
        let mut all = a.clone();
        if ext {
            let b = Graph::new(
                self.n(),
                self.edges.iter().filter(|e| e.2 & RW != 0).map(|e| (e.0, e.1, 0)),
            );
            for &(x, y) in &a {
                for &(z, _) in b.out(y) {
                    if z == x {
                        return Some(vec![x]); // a self-loop: the smallest possible
                    }
                    all.push((x, z));
                }
            }
        }
        let g = Graph::new(self.n(), all.iter().map(|&(f, t)| (f, t, 0)));
        g.sccs().into_iter().min_by_key(|c| (c.len(), c[0]))
    }
}

/// The constrained shortest-cycle search of one anomaly type in one component.
struct Search<'a> {
    /// Out-edges with their explained relation.
    g: Graph,
    spec: Spec,
    budget: &'a mut u64,
    stamp: Vec<u32>,
    parent: Vec<u32>,
    generation: u32,
}

/// A cycle or path as `(from, to, relation)` edges.
type Path = Vec<(u32, u32, u8)>;

/// The search budget ran out.
#[derive(Debug)]
struct OutOfBudget;

/// Path states: bit 0 last edge was rw, bit 1 a further rw taken, bit 2 two adjacent rw seen,
/// bit 3 a variant (realtime/process) edge taken.
const STATES: usize = 16;

impl Search<'_> {
    /// Relations the anchor edge must have, and those the rest of the cycle may use.
    fn rules(&self) -> (u8, u8) {
        let v = self.spec.variant;
        match self.spec.base {
            Base::G0 => (if v != 0 { v } else { WW }, WW | v),
            Base::G1c => (WR, WW | WR | v),
            Base::Single => (RW, WW | WR | v),
            Base::Nonadjacent => (RW, WW | WR | RW | v),
            Base::G2Item => (RW, WW | WR | RW | v),
        }
    }

    /// `Ok(Some(cycle))` in local vertex numbers, `Ok(None)` if there is none.
    fn run(&mut self) -> Result<Option<Path>, OutOfBudget> {
        let (anchor, _) = self.rules();
        let n = self.g.n();
        for u in 0..n as u32 {
            for i in 0..self.g.out(u).len() {
                let (v, l) = self.g.out(u)[i];
                if l as u8 != anchor {
                    continue;
                }
                if let Some(mut path) = self.close_anchor(u, v)? {
                    path.insert(0, (u, v, anchor));
                    return Ok(Some(path));
                }
            }
        }
        Ok(None)
    }

    /// BFS over (vertex, state) from `v` back to `u`, after the anchor `u -> v`.
    fn close_anchor(&mut self, u: u32, v: u32) -> Result<Option<Path>, OutOfBudget> {
        let (anchor, allowed) = self.rules();
        let variant = self.spec.variant;
        let base = self.spec.base;
        self.generation += 1;
        let generation = self.generation;
        let mut start = 0usize;
        if anchor == RW {
            start |= 1;
        }
        if variant != 0 && anchor == variant {
            start |= 8;
        }
        let node = |x: u32, s: usize| x as usize * STATES + s;
        let mut queue: VecDeque<(u32, usize)> = VecDeque::from([(v, start)]);
        self.stamp[node(v, start)] = generation;
        self.parent[node(v, start)] = u32::MAX;
        while let Some((x, s)) = queue.pop_front() {
            let out = self.g.out(x);
            if *self.budget < out.len() as u64 {
                return Err(OutOfBudget);
            }
            *self.budget -= out.len() as u64;
            for &(w, l) in out {
                let l = l as u8;
                if l & allowed == 0 {
                    continue;
                }
                let last_rw = s & 1 != 0;
                if l == RW {
                    match base {
                        Base::Single => continue,
                        Base::Nonadjacent if last_rw => continue,
                        _ => {}
                    }
                }
                let mut t = s & !1;
                if l == RW {
                    t |= 1 | 2;
                    if last_rw {
                        t |= 4;
                    }
                }
                if variant != 0 && l == variant {
                    t |= 8;
                }
                if w == u {
                    let variant_ok = variant == 0 || t & 8 != 0;
                    let ok = variant_ok
                        && match base {
                            Base::G0 | Base::G1c | Base::Single => true,
                            Base::Nonadjacent => t & 2 != 0 && l != RW,
                            Base::G2Item => t & 2 != 0 && (t & 4 != 0 || l == RW),
                        };
                    if ok {
                        // Reconstruct and keep it only if it is a simple cycle.
                        let mut path = vec![(x, w, l)];
                        let mut at = node(x, s);
                        while self.parent[at] != u32::MAX {
                            let p = self.parent[at] as usize;
                            let (px, py) = ((p / STATES) as u32, (at / STATES) as u32);
                            let rel = self.edge_rel(px, py, p % STATES, at % STATES);
                            path.push((px, py, rel));
                            at = p;
                        }
                        path.reverse();
                        let mut seen: HashSet<u32> = HashSet::from_iter([u]);
                        if path.iter().all(|&(_, to, _)| to == u || seen.insert(to)) {
                            return Ok(Some(path));
                        }
                    }
                    continue;
                }
                if w == v {
                    continue;
                }
                let id = node(w, t);
                if self.stamp[id] != generation {
                    self.stamp[id] = generation;
                    self.parent[id] = node(x, s) as u32;
                    queue.push_back((w, t));
                }
            }
        }
        Ok(None)
    }

    /// The relation of an edge `x -> y` that moves state `s` to `t` (for path reconstruction).
    fn edge_rel(&self, x: u32, y: u32, s: usize, t: usize) -> u8 {
        let variant = self.spec.variant;
        let mut fallback = 0u8;
        for &(w, l) in self.g.out(x) {
            if w != y {
                continue;
            }
            let l = l as u8;
            let mut u = s & !1;
            if l == RW {
                u |= 1 | 2;
                if s & 1 != 0 {
                    u |= 4;
                }
            }
            if variant != 0 && l == variant {
                u |= 8;
            }
            if u == t {
                return l;
            }
            fallback = l;
        }
        fallback
    }
}

/// Runs the whole analysis under these models.
pub fn analyze(history: &History<LaTxn>, model_names: &[String]) -> Analysis {
    let mut a = Analysis::default();
    let known: Vec<&str> =
        model_names.iter().map(String::as_str).filter(|m| models::is_model(m)).collect();
    let prohibited = models::prohibited_by(known.iter().copied());

    // Transactions: every completed operation, in completion order.
    let mut txns: Vec<T<'_>> = history
        .pairs()
        .into_iter()
        .filter_map(|p| {
            let c = p.complete?;
            Some(T {
                index: c.index,
                invoke_index: p.invoke.index,
                invoke_time: p.invoke.time,
                complete_time: c.time,
                process: p.invoke.process,
                kind: c.kind,
                value: if c.kind == OpType::Ok { &c.value } else { &p.invoke.value },
            })
        })
        .collect();
    txns.sort_by_key(|t| t.index);
    let count = |k| txns.iter().filter(|t| t.kind == k).count();
    a.txns = (count(OpType::Ok), count(OpType::Fail), count(OpType::Info));
    let by_index: HashMap<usize, u32> =
        txns.iter().enumerate().map(|(i, t)| (t.index, i as u32)).collect();
    let op_ref = |index: usize| -> OpRef {
        match by_index.get(&index) {
            Some(&i) => OpRef::of(&txns[i as usize]),
            None => {
                let op = &history.ops[index];
                OpRef { index, process: op.process, kind: op.kind, value: op.value.to_string() }
            }
        }
    };

    // Elle's preprocessing: every invocation appends unique elements.
    let mut appended: HashSet<(&Jv, &Jv)> = HashSet::new();
    for op in history.ops.iter().filter(|o| o.kind == OpType::Invoke) {
        for m in &op.value.0 {
            if let LaMop::Append(k, v) = m {
                if !appended.insert((k, v)) {
                    a.errors.push(format!("value {v} appended to key {k} multiple times"));
                }
            }
        }
    }

    let oks: Vec<u32> =
        (0..txns.len() as u32).filter(|&i| txns[i as usize].kind == OpType::Ok).collect();
    let possible: Vec<u32> =
        (0..txns.len() as u32).filter(|&i| txns[i as usize].possible()).collect();

    // G1a: ok reads of elements failed txns appended.
    let mut failed: HashMap<(&Jv, &Jv), u32> = HashMap::new();
    for (i, t) in txns.iter().enumerate() {
        if t.kind == OpType::Fail {
            for m in &t.value.0 {
                if let LaMop::Append(k, v) = m {
                    failed.insert((k, v), i as u32);
                }
            }
        }
    }
    // G1b: elements that some op (invocation or completion) appended and then appended after.
    let mut intermediate: HashMap<(&Jv, &Jv), usize> = HashMap::new();
    for op in &history.ops {
        let mut last: Vec<(&Jv, &Jv)> = Vec::new();
        for m in &op.value.0 {
            if let LaMop::Append(k, v) = m {
                match last.iter_mut().find(|(lk, _)| *lk == k) {
                    Some(e) => {
                        intermediate.insert((k, e.1), op.index);
                        e.1 = v;
                    }
                    None => last.push((k, v)),
                }
            }
        }
    }
    for &i in &oks {
        let t = &txns[i as usize];
        for m in &t.value.0 {
            let LaMop::R(k, v) = m else { continue };
            for e in list(v) {
                if let Some(&w) = failed.get(&(k, e)) {
                    a.g1a.push(ReadCase {
                        op: OpRef::of(t),
                        mop: m.to_string(),
                        writer: OpRef::of(&txns[w as usize]),
                        element: e.to_string(),
                    });
                }
            }
            if let Some(e) = list(v).last() {
                if let Some(&w) = intermediate.get(&(k, e)) {
                    if w != t.index {
                        a.g1b.push(ReadCase {
                            op: OpRef::of(t),
                            mop: m.to_string(),
                            writer: op_ref(w),
                            element: e.to_string(),
                        });
                    }
                }
            }
        }
        a.internal.extend(internal_case(t));
        a.future_read.extend(future_read_case(t));
    }

    // Dirty updates, over the whole history's orders (as Elle computes them there).
    {
        let reads = history.ops.iter().filter(|o| o.kind != OpType::Invoke).flat_map(|o| {
            let value = by_index.get(&o.index).map_or(&o.value, |&i| txns[i as usize].value);
            value.0.iter().filter_map(|m| match m {
                LaMop::R(k, v) => Some((k, list(v))),
                LaMop::Append(..) => None,
            })
        });
        let appends = history.ops.iter().flat_map(|o| {
            let value = by_index.get(&o.index).map_or(&o.value, |&i| txns[i as usize].value);
            value.0.iter().filter_map(|m| match m {
                LaMop::Append(k, v) => Some((k, v)),
                LaMop::R(..) => None,
            })
        });
        let order = append_index(&sorted_values(reads, appends));
        let mut writer: HashMap<(&Jv, &Jv), u32> = HashMap::new();
        for (i, t) in txns.iter().enumerate() {
            for m in &t.value.0 {
                if let LaMop::Append(k, v) = m {
                    writer.insert((k, v), i as u32);
                }
            }
        }
        let mut keys: Vec<&&Jv> = order.keys().collect();
        keys.sort();
        'keys: for &k in keys {
            let o = &order[k];
            // (the last txn, whether it failed; elements since the last definite state)
            let mut t1: Option<u32> = None;
            let mut t1_kind = OpType::Ok;
            let mut vs: Vec<&Jv> = Vec::new();
            for &v in &o.values {
                let Some(&t2) = writer.get(&(k, v)) else {
                    a.errors.push(format!(
                        "key {k} was read with element {v}, which no completed txn appended"
                    ));
                    break 'keys;
                };
                vs.push(v);
                let k2 = txns[t2 as usize].kind;
                match (t1_kind, k2) {
                    (OpType::Fail, OpType::Ok) => {
                        let from = t1.expect("a failed txn came first");
                        a.dirty_update.push(DirtyUpdateCase {
                            key: k.to_string(),
                            values: vs.iter().map(|e| e.to_string()).collect(),
                            txns: [OpRef::of(&txns[from as usize]), OpRef::of(&txns[t2 as usize])],
                        });
                        (t1, t1_kind, vs) = (Some(t2), k2, vec![v]);
                    }
                    (_, OpType::Ok) | (OpType::Ok | OpType::Info, OpType::Fail) => {
                        (t1, t1_kind, vs) = (Some(t2), k2, vec![v]);
                    }
                    _ => {}
                }
            }
        }
    }

    // Duplicates, orders and lost updates over possible txns.
    for &i in &possible {
        let t = &txns[i as usize];
        for m in &t.value.0 {
            let LaMop::R(_, v) = m else { continue };
            let mut freq: BTreeMap<&Jv, usize> = BTreeMap::new();
            for e in list(v) {
                *freq.entry(e).or_default() += 1;
            }
            let dups: Vec<(String, usize)> =
                freq.into_iter().filter(|&(_, n)| n > 1).map(|(e, n)| (e.to_string(), n)).collect();
            if !dups.is_empty() {
                a.duplicates.push(DuplicateCase {
                    op: OpRef::of(t),
                    mop: m.to_string(),
                    duplicates: dups,
                });
            }
        }
    }
    let sorted = sorted_values(
        possible.iter().flat_map(|&i| {
            txns[i as usize].value.0.iter().filter_map(|m| match m {
                LaMop::R(k, v) => Some((k, list(v))),
                LaMop::Append(..) => None,
            })
        }),
        possible.iter().flat_map(|&i| {
            txns[i as usize].value.0.iter().filter_map(|m| match m {
                LaMop::Append(k, v) => Some((k, v)),
                LaMop::R(..) => None,
            })
        }),
    );
    for (k, vs) in &sorted {
        if let Some(w) = vs.windows(2).find(|w| !w[1].starts_with(w[0])) {
            a.incompatible_order.push(IncompatibleCase {
                key: k.to_string(),
                values: [show_list(Some(w[0])), show_list(Some(w[1]))],
            });
        }
    }
    a.lost_update = lost_updates(&txns, &oks);

    // The dependency graph.
    let mut deps =
        Deps { order: append_index(&sorted), writer: HashMap::new(), readers: HashMap::new() };
    for &i in &possible {
        let t = &txns[i as usize];
        for m in &t.value.0 {
            match m {
                LaMop::Append(k, v) => {
                    deps.writer.insert((k, v), i);
                }
                LaMop::R(k, v) => {
                    if t.kind == OpType::Info && v.is_none() {
                        continue;
                    }
                    deps.readers.entry((k, list(v).last())).or_default().push(i);
                }
            }
        }
    }
    for rs in deps.readers.values_mut() {
        rs.dedup();
    }
    let mut edges: HashMap<(u32, u32), u8> = HashMap::new();
    for &i in &possible {
        for m in &txns[i as usize].value.0 {
            match m {
                LaMop::R(k, v) => {
                    if let Some(e) = list(v).last() {
                        if let Some(&w) = deps.writer.get(&(k, e)) {
                            if w != i {
                                *edges.entry((w, i)).or_default() |= WR;
                            }
                        }
                    }
                }
                LaMop::Append(k, v) => {
                    let prev = deps.previous(k, v);
                    if let Some(p) = prev {
                        if let Some(&w) = deps.writer.get(&(k, p)) {
                            if w != i {
                                *edges.entry((w, i)).or_default() |= WW;
                            }
                        }
                    }
                    for &r in deps.readers.get(&(k, prev)).map_or(&[][..], Vec::as_slice) {
                        if r != i {
                            *edges.entry((r, i)).or_default() |= RW;
                        }
                    }
                }
            }
        }
    }
    let extra = extra_graph(&prohibited);
    a.extra_graph = match extra {
        RT => "realtime",
        PR => "process",
        _ => "none",
    };
    if extra == RT {
        // Elle's realtime graph: buffered completions link to every later invocation's
        // completion; a completion retires the buffered ops that precede it.
        let mut buffer: Vec<u32> = Vec::new();
        let mut preds: HashMap<u32, Vec<u32>> = HashMap::new();
        let completion_of: HashMap<usize, u32> =
            txns.iter().enumerate().map(|(i, t)| (t.invoke_index, i as u32)).collect();
        for op in &history.ops {
            match op.kind {
                OpType::Invoke => {
                    if let Some(&c) = completion_of.get(&op.index) {
                        for &b in &buffer {
                            *edges.entry((b, c)).or_default() |= RT;
                        }
                        preds.insert(c, buffer.clone());
                    }
                }
                OpType::Ok => {
                    let me = by_index[&op.index];
                    if let Some(p) = preds.remove(&me) {
                        buffer.retain(|b| !p.contains(b));
                    }
                    buffer.push(me);
                }
                _ => {}
            }
        }
    } else if extra == PR {
        let mut last: HashMap<usize, u32> = HashMap::new();
        for &i in &oks {
            if let Some(p) = last.insert(txns[i as usize].process, i) {
                *edges.entry((p, i)).or_default() |= PR;
            }
        }
    }
    a.empty_transaction_graph = edges.is_empty();
    for &bits in edges.values() {
        a.edges[explained(bits).trailing_zeros() as usize] += 1;
    }

    // Cycles, per strongly connected component.
    let mut edge_list: Vec<(u32, u32, u8)> = edges.iter().map(|(&(f, t), &b)| (f, t, b)).collect();
    edge_list.sort_unstable();
    let whole = Graph::new(txns.len(), edge_list.iter().map(|&(f, t, b)| (f, t, u32::from(b))));
    let specs = specs();
    let name = |i: u32| format!("T{}", txns[i as usize].index);
    for scc in whole.sccs() {
        a.scc_sizes.push(scc.len());
        let local: HashMap<u32, u32> =
            scc.iter().enumerate().map(|(i, &v)| (v, i as u32)).collect();
        let comp = Component {
            members: &scc,
            edges: scc
                .iter()
                .flat_map(|&v| {
                    let local = &local;
                    whole.out(v).iter().filter_map(move |&(w, b)| {
                        local.get(&w).map(|&lw| (local[&v], lw, b as u8))
                    })
                })
                .collect(),
        };
        cycles_in_component(&mut a, &comp, &specs, &txns, &deps, &name);
    }
    a
}

/// Elle's `cycle-cases-in-scc` for one component.
fn cycles_in_component(
    a: &mut Analysis,
    comp: &Component<'_>,
    specs: &[Spec],
    txns: &[T<'_>],
    deps: &Deps<'_>,
    name: &dyn Fn(u32) -> String,
) {
    let scc_size = comp.n();
    // Cycle-exists checks, weakest models first; a found one makes stronger ones redundant.
    let mut redundant: BTreeSet<&str> = BTreeSet::new();
    let mut ruled_out: Vec<&str> = Vec::new();
    for &(model, kind, mask, ext) in CYCLE_EXISTS {
        if redundant.contains(model) {
            continue;
        }
        if let Some(c) = comp.smallest_cycle_component(mask, ext) {
            let mut scc: Vec<usize> =
                c.iter().map(|&v| txns[comp.members[v as usize] as usize].index).collect();
            scc.sort_unstable();
            let size = scc.len();
            scc.truncate(32);
            a.cycle_exists.entry(kind.to_owned()).or_default().push(CycleExistsCase {
                kind: kind.to_owned(),
                not: models::friendly(model),
                subgraph: subgraph_name(mask, ext),
                scc_size: size,
                scc,
            });
            redundant.extend(models::impossible_models([model]));
            ruled_out.push(model);
        }
    }
    // Cycle types that models without a cycle here forbid cannot be present.
    let impossible_models = models::impossible_models(ruled_out.iter().copied());
    let possible_models: Vec<&str> =
        CYCLE_EXISTS.iter().map(|c| c.0).filter(|m| !impossible_models.contains(m)).collect();
    let mut skip: BTreeSet<&str> = models::prohibited_by(possible_models);

    let explained_graph =
        Graph::new(comp.n(), comp.edges.iter().map(|&(f, t, b)| (f, t, u32::from(explained(b)))));
    let mut budget = SEARCH_BUDGET;
    let mut searched: Vec<&'static str> = Vec::new();
    let mut found_here: Vec<&'static str> = Vec::new();
    let n = comp.n();
    let mut search = Search {
        g: explained_graph,
        spec: specs[0],
        budget: &mut budget,
        stamp: vec![0; n * STATES],
        parent: vec![0; n * STATES],
        generation: 0,
    };
    for &spec in specs {
        if skip.contains(spec.name) {
            continue;
        }
        searched.push(spec.name);
        search.spec = spec;
        match search.run() {
            Err(OutOfBudget) => {
                a.timeouts.push(TimeoutCase {
                    anomaly_spec_type: spec.name,
                    does_not_contain: searched[..searched.len() - 1]
                        .iter()
                        .copied()
                        .filter(|t| !found_here.contains(t))
                        .collect(),
                    scc_size,
                });
                return;
            }
            Ok(None) => {}
            Ok(Some(path)) => {
                let rels: Vec<u8> = path.iter().map(|e| e.2).collect();
                let kind = classify(&rels);
                debug_assert_eq!(kind, spec.name, "the search finds only its own type");
                let cycle: Vec<CycleStep> = path
                    .iter()
                    .map(|&(f, t, rel)| {
                        let (gf, gt) = (comp.members[f as usize], comp.members[t as usize]);
                        CycleStep {
                            from: txns[gf as usize].index,
                            to: txns[gt as usize].index,
                            rel: rel_name(rel),
                            why: explain(deps, txns, gf, gt, rel, name)
                                .unwrap_or_else(|| "(unexplained)".to_owned()),
                        }
                    })
                    .collect();
                let members: Vec<OpRef> = path
                    .iter()
                    .map(|&(f, _, _)| OpRef::of(&txns[comp.members[f as usize] as usize]))
                    .collect();
                a.cycles.entry(kind).or_default().push(CycleCase {
                    kind,
                    cycle,
                    txns: members,
                    scc_size,
                });
                found_here.push(spec.name);
                skip.extend(models::implied_anomalies([spec.name]));
            }
        }
    }
}

/// Elle's `lost-update-cases`: ok txns that read `k` as `v` and then appended to `k`.
fn lost_updates(txns: &[T<'_>], oks: &[u32]) -> Vec<LostUpdateCase> {
    type State<'h> = Option<&'h Vec<Jv>>;
    let mut by: BTreeMap<(&Jv, State<'_>), Vec<u32>> = BTreeMap::new();
    for &i in oks {
        let mut reads: Vec<(&Jv, State<'_>)> = Vec::new();
        let mut written: Vec<&Jv> = Vec::new();
        for m in &txns[i as usize].value.0 {
            let k = m.key();
            let read = reads.iter().find(|(rk, _)| *rk == k).map(|&(_, v)| v);
            match m {
                LaMop::Append(..) if !written.contains(&k) => {
                    if let Some(v) = read {
                        by.entry((k, v)).or_default().push(i);
                        written.push(k);
                    }
                }
                LaMop::R(_, v) if read.is_none() => reads.push((k, v.as_ref())),
                _ => {}
            }
        }
    }
    by.into_iter()
        .filter(|(_, ts)| ts.len() >= 2)
        .map(|((k, v), ts)| LostUpdateCase {
            key: k.to_string(),
            value: show_list(v.map(Vec::as_slice)),
            txns: ts.iter().map(|&i| OpRef::of(&txns[i as usize])).collect(),
        })
        .collect()
}

/// Judges a txn-list-append history under `models`, as Maelstrom (Elle) would.
pub fn check(history: &History<LaTxn>, model_names: &[String]) -> Check {
    let a = analyze(history, model_names);
    verdict(&a, model_names)
}

/// The verdict and report of an analysis.
pub fn verdict(a: &Analysis, model_names: &[String]) -> Check {
    let unknown_models: Vec<&str> =
        model_names.iter().map(String::as_str).filter(|m| !models::is_model(m)).collect();
    let prohibited = models::prohibited_by(
        model_names.iter().map(String::as_str).filter(|m| models::is_model(m)),
    );
    let types = a.types();
    let reportable = |t: &str| {
        prohibited.contains(t) || t == "empty-transaction-graph" || t == "cycle-search-timeout"
    };
    let bad: Vec<&str> =
        types.iter().map(|(t, _)| t.as_str()).filter(|t| prohibited.contains(t)).collect();
    let mut reported: Vec<&str> =
        types.iter().map(|(t, _)| t.as_str()).filter(|t| reportable(t)).collect();
    // Elle drops cycle-exists cases whose model other reported anomalies already rule out.
    let others: Vec<&str> =
        reported.iter().copied().filter(|t| !t.ends_with("-cycle-exists")).collect();
    let ruled_out = models::impossible_given(others);
    reported.retain(|t| {
        CYCLE_EXISTS.iter().find(|c| c.1 == *t).is_none_or(|c| !ruled_out.contains(c.0))
    });
    // Anomalies Elle would not report (the models allow them), less cycle-exists cases that
    // found cycles already explain.
    let found_others =
        types.iter().map(|(t, _)| t.as_str()).filter(|t| !t.ends_with("-cycle-exists"));
    let explained_models = models::impossible_given(found_others);
    let allowed: Vec<&str> = types
        .iter()
        .map(|(t, _)| t.as_str())
        .filter(|t| !reportable(t))
        .filter(|t| {
            CYCLE_EXISTS.iter().find(|c| c.1 == *t).is_none_or(|c| !explained_models.contains(c.0))
        })
        .collect();
    // What to print as forbidden: Elle's reported types that the models forbid.
    let shown_bad: Vec<&str> =
        reported.iter().copied().filter(|t| prohibited.contains(t)).collect();
    let valid = if !unknown_models.is_empty() || !a.errors.is_empty() {
        Validity::Unknown
    } else if !bad.is_empty() {
        Validity::False
    } else if !reported.is_empty() {
        Validity::Unknown
    } else {
        Validity::True
    };
    let impossible = models::impossible_given(types.iter().map(|(t, _)| t.as_str()));
    let not: Vec<&str> = models::weakest(&impossible).into_iter().map(models::friendly).collect();
    let mut also_not: Vec<&str> = impossible
        .iter()
        .filter(|m| !models::weakest(&impossible).contains(*m))
        .map(|m| models::friendly(m))
        .collect();
    also_not.sort_unstable();
    also_not.dedup();

    let e = a.edges;
    let mut summary = vec![format!(
        "elle list-append: {} ok, {} fail, {} info txns; {} ww, {} wr, {} rw, {} realtime, \
         {} process edges; {} cyclic component(s); models {}",
        a.txns.0,
        a.txns.1,
        a.txns.2,
        e[0],
        e[1],
        e[2],
        e[3],
        e[4],
        a.scc_sizes.len(),
        model_names.join(", ")
    )];
    let count = |t: &str| types.iter().find(|x| x.0 == t).map_or(0, |x| x.1);
    let list = |ts: &[&str]| {
        ts.iter().map(|t| format!("{t} ({})", count(t))).collect::<Vec<_>>().join(", ")
    };
    if types.is_empty() {
        summary.push("anomalies: none".into());
    }
    if !shown_bad.is_empty() {
        summary.push(format!("ANOMALIES the models forbid: {}", list(&shown_bad)));
    }
    if !allowed.is_empty() {
        summary.push(format!(
            "also found, allowed by these models (Maelstrom ignores them): {}",
            list(&allowed)
        ));
    }
    if !not.is_empty() {
        summary.push(format!(
            "ruled out: {} (and {} stronger model(s))",
            not.join(", "),
            also_not.len()
        ));
    }
    for e in &a.errors {
        summary.push(format!("Elle would throw (unknown): {e}"));
    }
    if !unknown_models.is_empty() {
        summary.push(format!("unknown consistency model(s): {}", unknown_models.join(", ")));
    }
    for t in &a.timeouts {
        summary.push(format!(
            "cycle search ran out of budget in a component of {} txns (looking for {})",
            t.scc_size, t.anomaly_spec_type
        ));
    }
    let mut shown = 0;
    for (kind, cs) in &a.cycles {
        if shown == 3 {
            break;
        }
        if let Some(c) = cs.first() {
            let steps: Vec<String> = c
                .cycle
                .iter()
                .map(|s| format!("T{} < T{} ({}: {})", s.from, s.to, s.rel, s.why))
                .collect();
            summary.push(format!("{kind} cycle: {}", steps.join("; ")));
            shown += 1;
        }
    }
    for (kind, cs) in [("G1a", &a.g1a), ("G1b", &a.g1b)] {
        if let Some(c) = cs.first() {
            summary.push(format!(
                "{kind}: T{} {} has element {} appended by {} T{}",
                c.op.index,
                c.mop,
                c.element,
                serde_kind(c.writer.kind),
                c.writer.index
            ));
        }
    }
    if let Some(c) = a.internal.first() {
        summary.push(format!("internal: T{} {} but expected {}", c.op.index, c.mop, c.expected));
    }
    if let Some(c) = a.incompatible_order.first() {
        summary.push(format!(
            "incompatible-order: key {} read as {} and as {}",
            c.key, c.values[0], c.values[1]
        ));
    }

    #[derive(Serialize)]
    struct Counted<'a, C: Serialize> {
        count: usize,
        examples: &'a [C],
    }
    fn counted<C: Serialize>(v: &[C]) -> Option<Counted<'_, C>> {
        (!v.is_empty())
            .then(|| Counted { count: v.len(), examples: &v[..v.len().min(MAX_EXAMPLES)] })
    }
    #[derive(Serialize)]
    struct Out<'a> {
        valid: Validity,
        models: &'a [String],
        anomaly_types: Vec<&'a str>,
        forbidden: Vec<&'a str>,
        allowed_by_models: Vec<&'a str>,
        not: Vec<&'a str>,
        also_not: Vec<&'a str>,
        errors: &'a [String],
        txns: (usize, usize, usize),
        edges_ww_wr_rw_realtime_process: [usize; 5],
        extra_graph: &'static str,
        scc_sizes: &'a [usize],
        #[serde(rename = "G1a", skip_serializing_if = "Option::is_none")]
        g1a: Option<Counted<'a, ReadCase>>,
        #[serde(rename = "G1b", skip_serializing_if = "Option::is_none")]
        g1b: Option<Counted<'a, ReadCase>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        internal: Option<Counted<'a, InternalCase>>,
        #[serde(rename = "future-read", skip_serializing_if = "Option::is_none")]
        future_read: Option<Counted<'a, InternalCase>>,
        #[serde(rename = "dirty-update", skip_serializing_if = "Option::is_none")]
        dirty_update: Option<Counted<'a, DirtyUpdateCase>>,
        #[serde(rename = "duplicate-elements", skip_serializing_if = "Option::is_none")]
        duplicates: Option<Counted<'a, DuplicateCase>>,
        #[serde(rename = "incompatible-order", skip_serializing_if = "Option::is_none")]
        incompatible_order: Option<Counted<'a, IncompatibleCase>>,
        #[serde(rename = "lost-update", skip_serializing_if = "Option::is_none")]
        lost_update: Option<Counted<'a, LostUpdateCase>>,
        #[serde(rename = "cycle-search-timeout", skip_serializing_if = "Option::is_none")]
        timeouts: Option<Counted<'a, TimeoutCase>>,
        cycles: BTreeMap<&'a str, Counted<'a, CycleCase>>,
        cycle_exists: BTreeMap<&'a str, Counted<'a, CycleExistsCase>>,
    }
    let out = Out {
        valid,
        models: model_names,
        anomaly_types: reported.clone(),
        forbidden: shown_bad.clone(),
        allowed_by_models: allowed.clone(),
        not,
        also_not,
        errors: &a.errors,
        txns: a.txns,
        edges_ww_wr_rw_realtime_process: a.edges,
        extra_graph: a.extra_graph,
        scc_sizes: &a.scc_sizes,
        g1a: counted(&a.g1a),
        g1b: counted(&a.g1b),
        internal: counted(&a.internal),
        future_read: counted(&a.future_read),
        dirty_update: counted(&a.dirty_update),
        duplicates: counted(&a.duplicates),
        incompatible_order: counted(&a.incompatible_order),
        lost_update: counted(&a.lost_update),
        timeouts: counted(&a.timeouts),
        cycles: a.cycles.iter().filter_map(|(k, v)| Some((*k, counted(v)?))).collect(),
        cycle_exists: a
            .cycle_exists
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), counted(v)?)))
            .collect(),
    };
    Check::new(valid, summary, &out)
}

fn serde_kind(k: OpType) -> &'static str {
    match k {
        OpType::Invoke => "invoked",
        OpType::Ok => "ok",
        OpType::Fail => "failed",
        OpType::Info => "indeterminate",
    }
}

#[cfg(test)]
mod tests;
