//! Each anomaly class, fed to the checker in a deliberately broken history.

use super::*;
use crate::sim::history::Op;
use crate::sim::workloads::txn::Mop;

/// Parses `"r1=2 w1=3 r2=_"`: reads and writes of integer keys; `_` is nil.
fn ops(s: &str) -> TxnOps {
    TxnOps(
        s.split_whitespace()
            .map(|m| {
                let (f, rest) = m.split_at(1);
                let (k, v) = rest.split_once('=').expect("k=v");
                let k: i64 = k.parse().expect("int key");
                let v = if v == "_" { None } else { Some(v.parse().expect("int value")) };
                match f {
                    "r" => Mop::r(k, v),
                    "w" => Mop::w(k, v.expect("writes have values")),
                    _ => panic!("bad micro-op {m}"),
                }
            })
            .collect(),
    )
}

/// A history of `(completion type, txn)`, one process each, run one after another.
fn history(txns: &[(OpType, &str)]) -> History<TxnOps> {
    let mut h = History::default();
    for (p, &(kind, s)) in txns.iter().enumerate() {
        let done = ops(s);
        let invoked = TxnOps(
            done.0
                .iter()
                .map(|m| if m.write { m.clone() } else { Mop { v: Jv::Null, ..m.clone() } })
                .collect(),
        );
        let op = |kind, value| Op {
            index: 0,
            time: 0,
            process: p,
            kind,
            f: "txn",
            value,
            error: None,
            is_final: false,
        };
        h.push(op(OpType::Invoke, invoked.clone()));
        h.push(op(kind, if kind == OpType::Ok { done } else { invoked }));
    }
    h
}

fn models(m: &str) -> Vec<String> {
    vec![m.to_owned()]
}

fn verdict(txns: &[(OpType, &str)], model: &str) -> Check {
    check(&history(txns), &models(model))
}

use OpType::{Fail, Info, Ok as K};

/// A clean serial history for padding: it has wr edges, so the graph is not empty.
const CLEAN: &[(OpType, &str)] =
    &[(K, "w1=1 w2=1"), (K, "r1=1 w1=2"), (K, "r1=2 r2=1 w2=2"), (K, "r2=2 r3=_")];

#[test]
fn a_clean_history_is_valid_at_both_levels() {
    let a = analyze(&history(CLEAN));
    assert!(a.types().is_empty(), "{:?}", a.types());
    assert_eq!(a.edges.0, 2, "ww from writes-follow-reads on keys 1 and 2");
    for m in ["read-uncommitted", "read-committed"] {
        let c = verdict(CLEAN, m);
        assert_eq!(c.valid, Validity::True, "{m}: {:?}", c.summary);
    }
}

#[test]
fn g0_a_write_cycle_is_invalid_at_read_uncommitted() {
    // T0 sets 1 := 1 after reading T1's 2 = 1; T1 sets 2 := 1 after reading... each overwrites
    // a value the other wrote: ww T0 -> T1 on key 1 and T1 -> T0 on key 2.
    let h = [(K, "r2=1 w2=2 w1=1"), (K, "r1=1 w1=2 w2=1")];
    let a = analyze(&history(&h));
    assert_eq!(a.g0.len(), 1, "{a:?}");
    assert!(a.g1c.is_empty(), "a G0 component is reported as G0 only");
    let cyc = &a.g0[0].cycle;
    assert_eq!(cyc.len(), 2);
    assert!(cyc.iter().all(|s| s.rel == Rel::Ww));
    assert_eq!((cyc[0].from, cyc[0].to, cyc[1].from, cyc[1].to), (1, 3, 3, 1));
    for m in ["read-uncommitted", "read-committed"] {
        let c = verdict(&h, m);
        assert_eq!(c.valid, Validity::False, "{m}");
        assert!(c.summary.iter().any(|l| l.contains("forbid: G0")), "{:?}", c.summary);
    }
}

#[test]
fn g1c_a_read_cycle_is_invalid_only_at_read_committed() {
    // Each txn reads the other's write: wr both ways, no ww.
    let h = [(K, "w1=1 r2=1"), (K, "w2=1 r1=1")];
    let a = analyze(&history(&h));
    assert_eq!((a.g0.len(), a.g1c.len()), (0, 1), "{a:?}");
    assert!(a.g1c[0].cycle.iter().all(|s| s.rel == Rel::Wr));
    assert_eq!(verdict(&h, "read-uncommitted").valid, Validity::True);
    let c = verdict(&h, "read-committed");
    assert_eq!(c.valid, Validity::False);
    assert!(c.json.contains("\"G1c\":{\"count\":1"), "{}", c.json);
}

#[test]
fn g1c_through_a_longer_mixed_cycle_names_each_edge() {
    // T0 -ww(1)-> T1 -wr(2)-> T2 -wr(3)-> T0, among unrelated txns.
    let mut h = CLEAN.to_vec();
    h.extend([(K, "w11=1 r13=1"), (K, "r11=1 w11=2 w12=1"), (K, "r12=1 w13=1")]);
    let a = analyze(&history(&h));
    assert_eq!(a.g1c.len(), 1, "{a:?}");
    let c = &a.g1c[0];
    assert_eq!(c.scc_size, 3);
    // T0 -> T1 is both ww and wr (T1 read T0's 11 = 1, then overwrote it); either explains it.
    assert_eq!(c.cycle.len(), 3);
    assert!(c.cycle.iter().any(|s| s.rel == Rel::Wr));
    assert!(c.cycle[0].why.contains("which T"), "{:?}", c.cycle);
    for w in c.cycle.windows(2) {
        assert_eq!(w[0].to, w[1].from, "a connected cycle");
    }
    assert_eq!(c.cycle.last().map(|s| s.to), c.cycle.first().map(|s| s.from));
}

#[test]
fn g1a_an_aborted_read_is_invalid_only_at_read_committed() {
    let mut h = CLEAN.to_vec();
    h.extend([(Fail, "w7=1"), (K, "r7=1")]);
    let a = analyze(&history(&h));
    assert_eq!(a.g1a.len(), 1);
    assert_eq!(verdict(&h, "read-uncommitted").valid, Validity::True);
    assert_eq!(verdict(&h, "read-committed").valid, Validity::False);
    // An info writer is not aborted: reading it is fine.
    let mut h = CLEAN.to_vec();
    h.extend([(Info, "w7=1"), (K, "r7=1")]);
    assert!(analyze(&history(&h)).g1a.is_empty());
}

#[test]
fn g1b_an_intermediate_read_is_invalid_only_at_read_committed() {
    let mut h = CLEAN.to_vec();
    h.extend([(K, "w7=1 w7=2"), (K, "r7=1")]);
    let a = analyze(&history(&h));
    assert_eq!(a.g1b.len(), 1);
    assert_eq!(verdict(&h, "read-uncommitted").valid, Validity::True);
    assert_eq!(verdict(&h, "read-committed").valid, Validity::False);
    // Reading its own intermediate write inside the txn is not G1b.
    let mut h = CLEAN.to_vec();
    h.push((K, "w7=1 r7=1 w7=2"));
    assert!(analyze(&history(&h)).g1b.is_empty());
}

#[test]
fn internal_inconsistency_is_reported_but_only_serializable_forbids_it() {
    let mut h = CLEAN.to_vec();
    h.push((K, "w7=1 r7=_ r8=3 r8=4"));
    let a = analyze(&history(&h));
    assert_eq!(a.internal.len(), 1, "one case per txn");
    assert_eq!((a.internal[0].mop.as_str(), a.internal[0].expected.as_str()), ("[r 7 nil]", "1"));
    let rc = verdict(&h, "read-committed");
    assert_eq!(rc.valid, Validity::True);
    assert!(
        rc.summary.iter().any(|l| l.contains("Maelstrom ignores them): internal")),
        "{:?}",
        rc.summary
    );
    assert_eq!(verdict(&h, "serializable").valid, Validity::False);
}

#[test]
fn lost_update_is_reported_but_read_committed_allows_it() {
    let mut h = CLEAN.to_vec();
    h.extend([(K, "r9=_ w9=1"), (K, "r9=_ w9=2")]);
    let a = analyze(&history(&h));
    assert_eq!(a.lost_update.len(), 1);
    assert_eq!(a.lost_update[0].value, "nil");
    assert_eq!(verdict(&h, "read-committed").valid, Validity::True);
    assert_eq!(verdict(&h, "repeatable-read").valid, Validity::False);
}

#[test]
fn cyclic_versions_invalidate_even_read_uncommitted() {
    // 1 < 2 (T0 read 1, wrote 2) and 2 < 1 (T1 read 2, wrote 1).
    let mut h = CLEAN.to_vec();
    h.extend([(K, "r5=1 w5=2"), (K, "r5=2 w5=1")]);
    let a = analyze(&history(&h));
    assert_eq!(a.cyclic_versions.len(), 1);
    assert_eq!(a.cyclic_versions[0].scc, ["1", "2"]);
    assert_eq!(a.edges.0, 0, "writes-follow-reads edges are dropped, as Elle does");
    assert_eq!(verdict(&h, "read-uncommitted").valid, Validity::False);
}

#[test]
fn a_value_written_twice_makes_the_verdict_unknown() {
    let mut h = CLEAN.to_vec();
    h.extend([(K, "w6=1"), (K, "w6=1"), (K, "r6=1")]);
    let c = verdict(&h, "read-committed");
    assert_eq!(c.valid, Validity::Unknown, "{:?}", c.summary);
}

#[test]
fn an_empty_transaction_graph_is_invalid() {
    let h = [(K, "w1=1"), (K, "w2=1")];
    let c = verdict(&h, "read-uncommitted");
    assert_eq!(c.valid, Validity::False);
    assert!(c.json.contains("empty-transaction-graph"), "{}", c.json);
}

#[test]
fn unknown_and_partially_checked_models_are_unknown() {
    assert_eq!(verdict(CLEAN, "read-mostly").valid, Validity::Unknown);
    assert_eq!(verdict(CLEAN, "serializable").valid, Validity::Unknown);
    let two = check(&history(CLEAN), &["read-uncommitted".into(), "read-committed".into()]);
    assert_eq!(two.valid, Validity::True);
}

#[test]
fn tarjan_is_iterative_and_finds_a_long_cycle() {
    let n = 200_000u32;
    let edges = (0..n).map(|i| (i, (i + 1) % n, 0));
    let g = Graph::new(n as usize, edges);
    let sccs = g.sccs();
    assert_eq!(sccs.len(), 1);
    assert_eq!(sccs[0].len(), n as usize);
    let p = g.path(0, 0, &|_| true).expect("a cycle");
    assert_eq!(p.len(), n as usize);
    // Two components joined by a one-way edge stay separate; singletons are dropped.
    let g = Graph::new(
        6,
        [(0, 1, 0), (1, 0, 0), (1, 2, 0), (2, 3, 0), (3, 2, 0), (4, 5, 0)].into_iter(),
    );
    assert_eq!(g.sccs(), [vec![0, 1], vec![2, 3]]);
}

#[test]
fn stale_reads_are_fine_without_real_time_or_process_inference() {
    // T1 completes its write of 1 before T2 (same process here) begins, yet T2 reads nil and
    // T3 reads 1 then T4 reads nil again: legal under read-committed, so not flagged.
    let mut h = CLEAN.to_vec();
    h.extend([(K, "w4=1"), (K, "r4=_"), (K, "r4=1"), (K, "r4=_")]);
    let a = analyze(&history(&h));
    assert!(a.types().is_empty(), "{:?}", a.types());
    assert_eq!(verdict(&h, "read-committed").valid, Validity::True);
}
