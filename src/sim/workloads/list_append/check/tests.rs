//! Hand-written histories: every detector rejects its anomaly and accepts a near miss.

use super::*;
use crate::sim::history::Op;

/// A history builder: each event one millisecond after the last.
#[derive(Default)]
struct B {
    h: History<LaTxn>,
}

impl B {
    fn push(&mut self, process: usize, kind: OpType, value: &[LaMop]) -> usize {
        let time = (self.h.ops.len() as u64 + 1) * 1_000_000;
        self.h.push(Op {
            index: 0,
            time,
            process,
            kind,
            f: "txn",
            value: LaTxn(value.to_vec()),
            error: None,
            is_final: false,
        })
    }

    /// Invokes `value` (reads sent as null).
    fn inv(&mut self, p: usize, value: &[LaMop]) -> usize {
        let req: Vec<LaMop> = value
            .iter()
            .map(|m| match m {
                LaMop::R(k, _) => LaMop::R(k.clone(), None),
                a => a.clone(),
            })
            .collect();
        self.push(p, OpType::Invoke, &req)
    }

    /// Completes `p`'s txn ok with `value`.
    fn ok(&mut self, p: usize, value: &[LaMop]) -> usize {
        self.push(p, OpType::Ok, value)
    }

    /// Completes `p`'s txn `kind` with its invocation's value.
    fn end(&mut self, p: usize, kind: OpType) -> usize {
        let inv = self.h.ops.iter().rev().find(|o| o.process == p).expect("invoked").value.clone();
        self.push(p, kind, &inv.0)
    }

    /// An ok txn by itself.
    fn txn(&mut self, p: usize, value: &[LaMop]) -> usize {
        self.inv(p, value);
        self.ok(p, value)
    }

    /// Txns invoked together, then all completed ok in order.
    fn together(&mut self, txns: &[&[LaMop]]) {
        for (p, v) in txns.iter().enumerate() {
            self.inv(p, v);
        }
        for (p, v) in txns.iter().enumerate() {
            self.ok(p, v);
        }
    }
}

fn r(k: i64, v: &[i64]) -> LaMop {
    LaMop::r(k, Some(v))
}

fn rn(k: i64) -> LaMop {
    LaMop::r(k, None)
}

fn ap(k: i64, v: i64) -> LaMop {
    LaMop::append(k, v)
}

fn models(m: &str) -> Vec<String> {
    m.split(',').map(str::to_owned).collect()
}

/// The verdict, the anomaly types found, and the report.
fn judge(b: &B, m: &str) -> (Validity, Vec<String>, Check) {
    let a = analyze(&b.h, &models(m));
    let types = a.types().into_iter().map(|(t, _)| t).collect();
    let c = verdict(&a, &models(m));
    (c.valid, types, c)
}

fn has(types: &[String], t: &str) -> bool {
    types.iter().any(|x| x == t)
}

/// `bad` shows `anomaly` and is invalid under `m`; `good` shows no anomaly and is valid.
fn rejects_and_accepts(bad: &B, good: &B, m: &str, anomaly: &str) {
    let (v, types, c) = judge(bad, m);
    assert!(has(&types, anomaly), "{anomaly} not found: {types:?}\n{}", c.summary.join("\n"));
    assert_eq!(v, Validity::False, "{anomaly}: {}", c.summary.join("\n"));
    assert!(c.json.contains(&format!("\"{anomaly}\"")), "{}", c.json);
    let (v, types, c) = judge(good, m);
    assert!(types.is_empty(), "near miss of {anomaly} shows {types:?}\n{}", c.summary.join("\n"));
    assert_eq!(v, Validity::True, "{}", c.summary.join("\n"));
}

#[test]
fn g1a_aborted_read() {
    let mk = |fail: bool| {
        let mut b = B::default();
        b.inv(0, &[ap(1, 1)]);
        b.end(0, if fail { OpType::Fail } else { OpType::Ok });
        b.txn(1, &[r(1, &[1])]);
        b
    };
    rejects_and_accepts(&mk(true), &mk(false), "read-committed", "G1a");
    let (_, types, _) = judge(&mk(true), "read-uncommitted");
    assert!(has(&types, "G1a"));
    // PL-1 allows it; with no dependency edges at all the verdict is then unknown, as Elle's.
    assert_eq!(judge(&mk(true), "read-uncommitted").0, Validity::Unknown);
}

#[test]
fn g1b_intermediate_read() {
    let mk = |seen: &[i64]| {
        let mut b = B::default();
        b.txn(0, &[ap(1, 1), ap(1, 2)]);
        b.txn(1, &[r(1, seen)]);
        b
    };
    rejects_and_accepts(&mk(&[1]), &mk(&[1, 2]), "read-committed", "G1b");
}

#[test]
fn internal_inconsistency() {
    let mk = |second: &[i64]| {
        let mut b = B::default();
        b.txn(0, &[ap(1, 1)]);
        b.txn(1, &[r(1, &[1]), ap(1, 2), r(1, second)]);
        b
    };
    rejects_and_accepts(&mk(&[1]), &mk(&[1, 2]), "serializable", "internal");
    let (v, types, _) = judge(&mk(&[1]), "read-committed");
    assert!(has(&types, "internal") && v == Validity::True, "read-committed allows internal");
    // An append before any read: the read must end with it.
    let mut b = B::default();
    b.txn(0, &[ap(1, 1)]);
    b.txn(1, &[ap(1, 2), r(1, &[2, 1])]);
    let (_, types, c) = judge(&b, "serializable");
    assert!(has(&types, "internal"), "{types:?}");
    assert!(c.json.contains("[... 2]"), "{}", c.json);
}

#[test]
fn future_read() {
    let mk = |future: bool| {
        let mut b = B::default();
        if future {
            b.txn(0, &[r(1, &[1]), ap(1, 1)]);
        } else {
            b.txn(0, &[rn(1), ap(1, 1)]);
        }
        b.txn(1, &[r(1, &[1])]);
        b
    };
    rejects_and_accepts(&mk(true), &mk(false), "read-atomic", "future-read");
}

#[test]
fn dirty_update() {
    let mk = |fail: bool| {
        let mut b = B::default();
        b.inv(0, &[ap(1, 1)]);
        b.end(0, if fail { OpType::Fail } else { OpType::Ok });
        b.txn(1, &[ap(1, 2)]);
        b.txn(2, &[r(1, &[1, 2])]);
        b
    };
    rejects_and_accepts(&mk(true), &mk(false), "read-committed", "dirty-update");
    let (_, types, _) = judge(&mk(true), "read-committed");
    assert!(has(&types, "G1a"), "a dirty update here is also an aborted read");
}

#[test]
fn duplicate_elements() {
    let mk = |seen: &[i64]| {
        let mut b = B::default();
        b.txn(0, &[ap(1, 1)]);
        b.txn(1, &[r(1, seen)]);
        b
    };
    rejects_and_accepts(&mk(&[1, 1]), &mk(&[1]), "read-uncommitted", "duplicate-elements");
}

#[test]
fn incompatible_order() {
    let mk = |last: &[i64]| {
        let mut b = B::default();
        b.txn(0, &[ap(1, 1)]);
        b.txn(1, &[ap(1, 2)]);
        b.txn(2, &[r(1, &[1, 2])]);
        b.txn(3, &[r(1, last)]);
        b
    };
    rejects_and_accepts(&mk(&[2, 1]), &mk(&[1]), "read-committed", "incompatible-order");
    let (_, _, c) = judge(&mk(&[2, 1]), "read-committed");
    assert!(c.summary.join("\n").contains("key 1 read as [1 2] and as [2 1]"), "{:?}", c.summary);
    // Two reads of the same length that differ are never compatible.
    let (_, types, _) = judge(&mk(&[1, 3]), "read-committed");
    assert!(has(&types, "incompatible-order"));
}

#[test]
fn lost_update() {
    let mk = |second: &[i64]| {
        let mut b = B::default();
        b.txn(0, &[ap(1, 1)]);
        b.together(&[&[r(1, &[1]), ap(1, 2)], &[r(1, second), ap(1, 3)]]);
        b.txn(2, &[r(1, &[1, 2, 3])]);
        b
    };
    let (v, types, c) = judge(&mk(&[1]), "cursor-stability");
    assert!(has(&types, "lost-update") && v == Validity::False, "{}", c.summary.join("\n"));
    // The second txn read the first's append: no lost update, no cycle.
    let mut good = B::default();
    good.txn(0, &[ap(1, 1)]);
    good.txn(1, &[r(1, &[1]), ap(1, 2)]);
    good.txn(2, &[r(1, &[1, 2]), ap(1, 3)]);
    good.txn(3, &[r(1, &[1, 2, 3])]);
    let (v, types, _) = judge(&good, "strict-serializable");
    assert!(types.is_empty() && v == Validity::True, "{types:?}");
    assert_eq!(judge(&mk(&[1]), "read-committed").0, Validity::True, "RC allows lost updates");
}

#[test]
fn g0_write_cycle() {
    let mk = |y: &[i64]| {
        let mut b = B::default();
        b.together(&[&[ap(1, 1), ap(2, 1)], &[ap(1, 2), ap(2, 2)]]);
        b.txn(2, &[r(1, &[1, 2]), r(2, y)]);
        b
    };
    rejects_and_accepts(&mk(&[2, 1]), &mk(&[1, 2]), "read-uncommitted", "G0");
    let (_, types, c) = judge(&mk(&[2, 1]), "strict-serializable");
    assert!(has(&types, "G0") && !has(&types, "G1c"), "G0 implies G1c: {types:?}");
    assert!(c.json.contains("appended 2 after T"), "explained: {}", c.json);
    assert!(!c.json.contains("\"anomaly_types\":[\"PL-1-cycle-exists\""), "{}", c.json);
}

#[test]
fn g1c_circular_information_flow() {
    let mk = |y: Option<&[i64]>| {
        let mut b = B::default();
        b.together(&[&[ap(1, 1), LaMop::r(2, y)], &[ap(2, 1), r(1, &[1])]]);
        b
    };
    rejects_and_accepts(&mk(Some(&[1])), &mk(None), "read-committed", "G1c");
    let (_, _, c) = judge(&mk(Some(&[1])), "read-committed");
    let s = c.summary.join("\n");
    assert!(s.contains("G1c cycle: T2 < T3 (wr: T3 observed T2's append of 1 to key 1)"), "{s}");
}

#[test]
fn g_single_item_read_skew() {
    let mk = |x: Option<&[i64]>| {
        let mut b = B::default();
        b.together(&[&[ap(1, 1), ap(2, 1)], &[LaMop::r(1, x), r(2, &[1])]]);
        b
    };
    rejects_and_accepts(&mk(None), &mk(Some(&[1])), "consistent-view", "G-single-item");
    // Read committed allows it: found, reported as ignored, valid.
    let (v, types, c) = judge(&mk(None), "read-committed");
    assert!(has(&types, "G-single-item") && v == Validity::True, "{types:?}");
    assert!(c.json.contains("\"allowed_by_models\":[\"G-single-item\"]"), "{}", c.json);
    assert!(c.json.contains("observed the initial (nil) state of 1"), "{}", c.json);
}

#[test]
fn g2_item_write_skew() {
    let mk = |y: Option<&[i64]>| {
        let mut b = B::default();
        b.together(&[&[rn(1), ap(2, 1)], &[LaMop::r(2, y), ap(1, 1)]]);
        b
    };
    rejects_and_accepts(&mk(None), &mk(Some(&[1])), "repeatable-read", "G2-item");
    let (v, types, _) = judge(&mk(None), "snapshot-isolation");
    assert!(has(&types, "G2-item") && v == Validity::True, "SI allows write skew");
    let (v, types, c) = judge(&mk(None), "strict-serializable");
    assert_eq!(v, Validity::False);
    assert!(has(&types, "PL-2.99-cycle-exists"), "{types:?}");
    assert!(
        c.json.contains("\"anomaly_types\":[\"G2-item\"]"),
        "cycle-exists is dropped once a cycle explains it: {}",
        c.json
    );
}

#[test]
fn g_nonadjacent_item() {
    let mk = |d: Option<&[i64]>| {
        let mut b = B::default();
        b.together(&[
            &[rn(1), LaMop::r(4, d)],
            &[ap(1, 1), ap(2, 1)],
            &[r(2, &[1]), rn(3)],
            &[ap(3, 1), ap(4, 1)],
        ]);
        b
    };
    rejects_and_accepts(&mk(Some(&[1])), &mk(None), "snapshot-isolation", "G-nonadjacent-item");
    let (v, types, _) = judge(&mk(Some(&[1])), "consistent-view");
    assert!(has(&types, "G-nonadjacent-item") && v == Validity::True, "not a G-single");
}

#[test]
fn realtime_stale_read_is_g_single_item_realtime() {
    let mk = |overlap: bool| {
        let mut b = B::default();
        if overlap {
            b.together(&[&[ap(1, 1)], &[rn(1)]]);
        } else {
            b.txn(0, &[ap(1, 1)]);
            b.txn(1, &[rn(1)]);
        }
        b
    };
    rejects_and_accepts(&mk(false), &mk(true), "strict-serializable", "G-single-item-realtime");
    let (v, types, _) = judge(&mk(false), "serializable");
    assert!(types.is_empty() && v == Validity::True, "no realtime graph for serializable");
    let (_, _, c) = judge(&mk(false), "strict-serializable");
    assert!(c.json.contains("completed at index 1"), "{}", c.json);
}

#[test]
fn realtime_g0_and_g1c() {
    let g0 = |late: &[i64]| {
        let mut b = B::default();
        b.txn(0, &[ap(1, 1)]);
        b.txn(1, &[ap(1, 2)]);
        b.txn(2, &[r(1, late)]);
        b
    };
    rejects_and_accepts(&g0(&[2, 1]), &g0(&[1, 2]), "strong-read-uncommitted", "G0-realtime");
    let g1c = |y: Option<&[i64]>| {
        let mut b = B::default();
        b.txn(0, &[LaMop::r(1, y)]);
        b.txn(1, &[ap(1, 1)]);
        b.txn(2, &[r(1, &[1])]);
        b
    };
    rejects_and_accepts(&g1c(Some(&[1])), &g1c(None), "strong-read-committed", "G1c-realtime");
}

#[test]
fn process_order_variants_when_a_model_needs_them() {
    let mk = |same_process: bool| {
        let mut b = B::default();
        b.txn(0, &[ap(1, 1)]);
        b.txn(if same_process { 0 } else { 1 }, &[rn(1)]);
        b
    };
    let m = "strong-session-serializable";
    rejects_and_accepts(&mk(true), &mk(false), m, "G-single-item-process");
    let a = analyze(&mk(true).h, &models(m));
    assert_eq!(a.extra_graph, "process");
    assert_eq!(analyze(&mk(true).h, &models("strict-serializable")).extra_graph, "realtime");
}

#[test]
fn an_empty_graph_is_unknown() {
    let mut b = B::default();
    b.txn(0, &[ap(1, 1)]);
    let (v, types, _) = judge(&b, "read-committed");
    assert_eq!((v, types), (Validity::Unknown, vec!["empty-transaction-graph".to_owned()]));
    b.txn(0, &[r(1, &[1])]);
    assert_eq!(judge(&b, "read-committed").0, Validity::True);
}

#[test]
fn elle_would_throw_on_elements_nobody_appended() {
    let mut b = B::default();
    b.txn(0, &[ap(1, 1)]);
    b.txn(1, &[r(1, &[1, 9])]);
    let (v, _, c) = judge(&b, "strict-serializable");
    assert_eq!(v, Validity::Unknown, "{}", c.summary.join("\n"));
    assert!(c.summary.join("\n").contains("no completed txn appended"));
    let mut b = B::default();
    b.txn(0, &[ap(1, 1)]);
    b.txn(1, &[r(1, &[1])]);
    assert_eq!(judge(&b, "strict-serializable").0, Validity::True);
    assert_eq!(judge(&b, "strict-serializable,snapshot-isolated").0, Validity::Unknown);
}

#[test]
fn info_txns_take_part_but_their_reads_are_unknown() {
    // An indeterminate append that a read saw is a dependency like any other.
    let mut b = B::default();
    b.inv(0, &[ap(1, 1), rn(2)]);
    b.end(0, OpType::Info);
    b.txn(1, &[r(1, &[1]), ap(2, 1)]);
    b.txn(2, &[r(2, &[1]), r(1, &[1])]);
    let (v, types, _) = judge(&b, "strict-serializable");
    assert!(types.is_empty() && v == Validity::True, "{types:?}");
}

#[test]
fn unread_appends_follow_the_last_element_read() {
    // T2 appends 2 and nobody reads it: it still follows 1, and T3's read of [1] is then an
    // rw dependency on T2; with T2 before T3 in real time that is a stale read.
    let mut b = B::default();
    b.txn(0, &[ap(1, 1)]);
    b.txn(1, &[ap(1, 2)]);
    b.txn(2, &[r(1, &[1])]);
    let (v, types, _) = judge(&b, "strict-serializable");
    assert!(has(&types, "G-single-item-realtime") && v == Validity::False, "{types:?}");
}

#[test]
fn classification_follows_elle() {
    assert_eq!(classify(&[WW, WW]), "G0");
    assert_eq!(classify(&[WW, WR]), "G1c");
    assert_eq!(classify(&[RW, WR]), "G-single-item");
    assert_eq!(classify(&[RW, WR, RW, WR]), "G-nonadjacent-item");
    assert_eq!(classify(&[RW, RW, WR]), "G2-item");
    assert_eq!(classify(&[RW, WR, WW, RW]), "G2-item", "adjacent across the wrap");
    assert_eq!(classify(&[RW, RT]), "G-single-item-realtime");
    assert_eq!(classify(&[WW, PR]), "G0-process");
    assert_eq!(explained(WR | RW | RT), WR);
}

#[test]
fn search_order_is_elles() {
    // Depth in Elle's implied-and-severity graph, then name ("-" sorts before "0").
    let names: Vec<&str> = specs().iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "G-single-item",
            "G0",
            "G-nonadjacent-item",
            "G-single-item-process",
            "G1c",
            "G-nonadjacent-item-process",
            "G-single-item-realtime",
            "G2-item",
            "G-nonadjacent-item-realtime",
            "G0-process",
            "G1c-process",
            "G2-item-process",
            "G0-realtime",
            "G1c-realtime",
            "G2-item-realtime",
        ]
    );
}
