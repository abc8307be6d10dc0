//! Unit tests of the txn-list-append node, driven by hand on virtual time, with the test
//! playing lin-kv and the peer.

use std::time::Duration;

use simd_json::prelude::*;

use super::db::{BLOCK, KEEP};
use super::*;
use crate::node::harness::Harness;

fn node(id: &str, ids: &[&str]) -> Harness<TxnListAppend> {
    let mut h = Harness::new(&[]);
    let out = h.init(id, ids);
    assert!(out[0].contains("init_ok"), "{out:?}");
    h
}

fn parsed(line: &str) -> simd_json::OwnedValue {
    let mut b = line.as_bytes().to_vec();
    simd_json::to_owned_value(&mut b).expect("node output is JSON")
}

fn body(line: &str) -> simd_json::OwnedValue {
    parsed(line).get("body").expect("a body").clone()
}

fn field(line: &str, f: &str) -> String {
    simd_json::to_string(body(line).get(f).unwrap_or_else(|| panic!("{f} in {line}"))).unwrap()
}

fn kind(line: &str) -> String {
    body(line).get("type").and_then(|t| t.as_str()).unwrap_or_default().to_owned()
}

/// The one line of `out` sent to `dest`.
fn to<'a>(out: &'a [String], dest: &str) -> &'a str {
    let hits: Vec<&String> = out
        .iter()
        .filter(|l| parsed(l).get("dest").and_then(|d| d.as_str()) == Some(dest))
        .collect();
    assert_eq!(hits.len(), 1, "one line to {dest} in {out:?}");
    hits[0]
}

fn txn(h: &mut Harness<TxnListAppend>, msg_id: u64, ops: &str) -> Vec<String> {
    h.line(&format!(
        r#"{{"src":"c9","dest":"n0","body":{{"txn":{ops},"type":"txn","msg_id":{msg_id}}}}}"#
    ))
}

/// Answers the lin-kv request `req` with a body of type `kind` and extra `fields`.
fn kv(h: &mut Harness<TxnListAppend>, req: &str, kind: &str, fields: &str) -> Vec<String> {
    let msg_id = body(req).get("msg_id").and_then(|m| m.as_u64()).expect("an RPC");
    let sep = if fields.is_empty() { "" } else { "," };
    h.line(&format!(
        r#"{{"src":"lin-kv","dest":"n0","body":{{"type":"{kind}"{sep}{fields},"in_reply_to":{msg_id}}}}}"#
    ))
}

fn error(h: &mut Harness<TxnListAppend>, req: &str, code: u64) -> Vec<String> {
    kv(h, req, "error", &format!(r#""code":{code},"text":"x""#))
}

fn state(h: &Harness<TxnListAppend>) -> &TxnListAppend {
    h.node.workload().expect("initialised")
}

#[test]
fn one_node_commits_in_memory_reads_see_earlier_appends_and_missing_keys_are_null() {
    let mut h = node("n0", &["n0"]);
    let out = txn(&mut h, 2, r#"[["r",1,null],["append",1,5],["r",1,null],["append",1,6]]"#);
    assert_eq!(
        field(&out[0], "txn"),
        r#"[["r",1,null],["append",1,5],["r",1,[5]],["append",1,6]]"#
    );
    let out =
        txn(&mut h, 3, r#"[["r",1,null],["r",2,null],["append","k",{"a":[1]}],["r","k",null]]"#);
    assert_eq!(
        field(&out[0], "txn"),
        r#"[["r",1,[5,6]],["r",2,null],["append","k",{"a":[1]}],["r","k",[{"a":[1]}]]]"#
    );
    assert_eq!(field(&txn(&mut h, 4, "[]")[0], "txn"), "[]");
    assert_eq!(state(&h).version(), 2, "read-only and empty txns commit nothing");
}

#[test]
fn a_malformed_txn_is_rejected_whole_with_error_12() {
    let mut h = node("n0", &["n0"]);
    for bad in [
        r#"[["append",1,5],["w",2,3]]"#,
        r#"[["append",1,5],["r",2]]"#,
        r#"[["append",1,5],["r",2,[1]]]"#,
        r#"[["append",1,5],7]"#,
        r#"{"r":1}"#,
    ] {
        let out = txn(&mut h, 2, bad);
        assert_eq!(kind(&out[0]), "error", "{bad}");
        assert_eq!(field(&out[0], "code"), "12", "{bad}");
    }
    let out = txn(&mut h, 3, r#"[["r",1,null]]"#);
    assert_eq!(field(&out[0], "txn"), r#"[["r",1,null]]"#, "nothing of the bad txns applied");
    let long = format!("[{}]", vec![r#"["r",1,null]"#; MAX_TXN_MOPS + 1].join(","));
    assert_eq!(field(&txn(&mut h, 4, &long)[0], "code"), "12");
}

#[test]
fn a_commit_is_a_cas_of_the_root_then_the_reply_and_an_announcement() {
    let mut h = node("n0", &["n0", "n1"]);
    let out = txn(&mut h, 2, r#"[["r",1,null],["append",1,5]]"#);
    let cas = to(&out, "lin-kv");
    assert_eq!(kind(cas), "cas");
    assert_eq!(field(cas, "key"), r#""root""#);
    assert_eq!(field(cas, "from"), "[0,[]]");
    assert_eq!(field(cas, "to"), "[0,[[2,1,5]]]", "tag 1 * 2 nodes + index 0");
    assert_eq!(field(cas, "create_if_not_exists"), "true");
    let out = kv(&mut h, cas, "cas_ok", "");
    assert_eq!(field(to(&out, "c9"), "txn"), r#"[["r",1,null],["append",1,5]]"#);
    let ann = to(&out, "n1");
    assert_eq!(
        (kind(ann), field(ann, "v"), field(ann, "d")),
        ("commit".into(), "1".into(), "[2,1,5]".into())
    );
    assert_eq!(state(&h).version(), 1);
    // The next CAS starts from the root just installed.
    let out = txn(&mut h, 3, r#"[["append",1,6],["r",1,null]]"#);
    assert_eq!(field(to(&out, "lin-kv"), "from"), "[0,[[2,1,5]]]");
    assert_eq!(field(to(&out, "lin-kv"), "to"), "[0,[[2,1,5],[4,1,6]]]");
}

#[test]
fn a_read_only_txn_reads_the_root_before_answering() {
    let mut h = node("n0", &["n0", "n1"]);
    let out = txn(&mut h, 2, r#"[["r",1,null]]"#);
    let read = to(&out, "lin-kv");
    assert_eq!((kind(read), field(read, "key")), ("read".into(), r#""root""#.into()));
    let out = error(&mut h, read, 20);
    assert_eq!(field(to(&out, "c9"), "txn"), r#"[["r",1,null]]"#, "no root: nothing committed");
    // A root with deltas this node lacks: applied before answering.
    let out = txn(&mut h, 3, r#"[["r",1,null],["r",2,null]]"#);
    let out = kv(&mut h, to(&out, "lin-kv"), "read_ok", r#""value":[0,[[3,1,7],[5,2,8,1,9]]]"#);
    assert_eq!(field(to(&out, "c9"), "txn"), r#"[["r",1,[7,9]],["r",2,[8]]]"#);
    assert_eq!(state(&h).version(), 2);
}

#[test]
fn a_lost_cas_catches_up_from_the_root_and_executes_again() {
    let mut h = node("n0", &["n0", "n1"]);
    let out = txn(&mut h, 2, r#"[["r",1,null],["append",1,5]]"#);
    let out = error(&mut h, to(&out, "lin-kv"), 22);
    let read = to(&out, "lin-kv");
    assert_eq!(kind(read), "read");
    let out = kv(&mut h, read, "read_ok", r#""value":[0,[[3,1,7]]]"#);
    // Not heard from n1 lately: no hand-over; retried after a backoff of at most 2 ms.
    let mut out = out;
    out.extend(h.advance(Duration::from_millis(3)));
    let cas = to(&out, "lin-kv");
    assert_eq!(field(cas, "from"), "[0,[[3,1,7]]]");
    assert_eq!(field(cas, "to"), "[0,[[3,1,7],[4,1,5]]]", "executed again: a new tag");
    let out = kv(&mut h, cas, "cas_ok", "");
    assert_eq!(field(to(&out, "c9"), "txn"), r#"[["r",1,[7]],["append",1,5]]"#);
    assert_eq!(state(&h).stats().conflicts, 1);
}

#[test]
fn a_timed_out_cas_that_landed_is_settled_by_the_root_and_announced_at_its_own_version() {
    let mut h = node("n0", &["n0", "n1"]);
    let out = txn(&mut h, 2, r#"[["append",1,5]]"#);
    assert_eq!(kind(to(&out, "lin-kv")), "cas");
    let out = h.advance(MIN_TIMEOUT);
    let read = to(&out, "lin-kv");
    assert_eq!(kind(read), "read", "a timeout is resolved by reading the root");
    // The CAS landed, and n1 committed after it.
    let out = kv(&mut h, read, "read_ok", r#""value":[0,[[2,1,5],[3,1,6]]]"#);
    assert_eq!(field(to(&out, "c9"), "txn"), r#"[["append",1,5]]"#);
    let ann = to(&out, "n1");
    assert_eq!(field(ann, "v"), "1", "the version the batch took, not the newest (2)");
    assert_eq!(state(&h).version(), 2);
}

#[test]
fn a_timed_out_cas_not_yet_landed_is_sent_again_unchanged() {
    let mut h = node("n0", &["n0", "n1"]);
    let out = txn(&mut h, 2, r#"[["append",1,5]]"#);
    let first = to(&out, "lin-kv").to_owned();
    let out = h.advance(MIN_TIMEOUT);
    let out = error(&mut h, to(&out, "lin-kv"), 20);
    let again = to(&out, "lin-kv");
    assert_eq!((kind(again), field(again, "to")), ("cas".into(), field(&first, "to")));
    // The first attempt landed meanwhile: the second fails, and the root shows our tag.
    let out = error(&mut h, again, 22);
    let out = kv(&mut h, to(&out, "lin-kv"), "read_ok", r#""value":[0,[[2,1,5]]]"#);
    assert_eq!(field(to(&out, "c9"), "txn"), r#"[["append",1,5]]"#);
    assert_eq!(state(&h).stats().conflicts, 0);
}

#[test]
fn a_conflict_lost_to_a_peer_heard_just_now_hands_the_txn_to_it() {
    let mut h = node("n0", &["n0", "n1"]);
    let out = txn(&mut h, 2, r#"[["r",1,null],["append",1,5]]"#);
    let cas = to(&out, "lin-kv").to_owned();
    // n1 announces that it took version 1 while our CAS is in flight.
    let out = h.line(r#"{"src":"n1","dest":"n0","body":{"type":"commit","v":1,"d":[3,1,7]}}"#);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(state(&h).list("1"), b"7");
    let out = error(&mut h, &cas, 22);
    let fwd = to(&out, "n1");
    assert_eq!(kind(fwd), "txn");
    assert_eq!(field(fwd, "txn"), r#"[["r",1,null],["append",1,5]]"#);
    assert!(!out.iter().any(|l| l.contains("lin-kv")), "no root read needed: {out:?}");
    let id = body(fwd).get("msg_id").and_then(|m| m.as_u64()).unwrap();
    let out = h.line(&format!(
        r#"{{"src":"n1","dest":"n0","body":{{"type":"txn_ok","in_reply_to":{id},"txn":[["r",1,[7]],["append",1,5]]}}}}"#
    ));
    let ok = to(&out, "c9");
    assert_eq!((kind(ok), field(ok, "in_reply_to")), ("txn_ok".into(), "2".into()));
    assert_eq!(field(ok, "txn"), r#"[["r",1,[7]],["append",1,5]]"#);
    // A hand-over that is never answered ends in an indefinite error, never a definite one.
    let out = txn(&mut h, 3, r#"[["append",1,6]]"#);
    let cas = to(&out, "lin-kv").to_owned();
    h.line(r#"{"src":"n1","dest":"n0","body":{"type":"commit","v":2,"d":[5,1,8]}}"#);
    let out = error(&mut h, &cas, 22);
    assert_eq!(kind(to(&out, "n1")), "txn");
    let out = h.advance(MAX_TIMEOUT);
    assert_eq!(field(to(&out, "c9"), "code"), "0");
}

#[test]
fn a_txn_forwarded_by_a_peer_is_executed_here_and_never_forwarded_again() {
    let mut h = node("n0", &["n0", "n1"]);
    let out = h.line(
        r#"{"src":"n1","dest":"n0","body":{"type":"txn","msg_id":7,"txn":[["append",1,5]]}}"#,
    );
    let cas = to(&out, "lin-kv").to_owned();
    // n1 itself then takes version 1 (heard just now), but the txn came from a peer: retry here.
    h.line(r#"{"src":"n1","dest":"n0","body":{"type":"commit","v":1,"d":[3,1,7]}}"#);
    let mut out = error(&mut h, &cas, 22);
    out.extend(h.advance(Duration::from_millis(3)));
    let cas = to(&out, "lin-kv");
    assert_eq!(field(cas, "to"), "[0,[[3,1,7],[4,1,5]]]");
    let out = kv(&mut h, cas, "cas_ok", "");
    let ok: Vec<&String> = out.iter().filter(|l| kind(l) == "txn_ok").collect();
    assert_eq!(field(ok[0], "in_reply_to"), "7", "{out:?}");
    assert!(out.iter().any(|l| kind(l) == "commit"), "and the commit is announced: {out:?}");
}

#[test]
fn announcements_apply_in_version_order_and_duplicates_are_ignored() {
    let mut h = node("n0", &["n0", "n1"]);
    let ann = |v: u64, d: &str| {
        format!(r#"{{"src":"n1","dest":"n0","body":{{"type":"commit","v":{v},"d":{d}}}}}"#)
    };
    h.line(&ann(2, "[5,1,8]"));
    assert_eq!(state(&h).version(), 0, "version 2 waits for version 1");
    h.line(&ann(1, "[3,1,7]"));
    h.line(&ann(1, "[3,1,7]"));
    assert_eq!(state(&h).version(), 2);
    assert_eq!(state(&h).list("1"), b"7,8");
    let out = h.line(&ann(3, "[7,1]"));
    assert!(out.is_empty(), "a malformed delta is refused (and logged): {out:?}");
    assert_eq!(state(&h).version(), 2);
    assert!(h.log().contains("rejected one-way `commit`"), "{}", h.log());
}

#[test]
fn the_commit_that_moves_a_block_out_of_the_root_writes_it_first() {
    let mut h = node("n0", &["n0", "n1"]);
    for i in 0..BLOCK + KEEP {
        let out = txn(&mut h, 10 + i, &format!(r#"[["append",1,{i}]]"#));
        let out = kv(&mut h, to(&out, "lin-kv"), "cas_ok", "");
        assert_eq!(kind(to(&out, "c9")), "txn_ok");
    }
    let out = txn(&mut h, 99, r#"[["append",2,0]]"#);
    let write = to(&out, "lin-kv");
    assert_eq!((kind(write), field(write, "key")), ("write".into(), r#""block-0""#.into()));
    let value = field(write, "value");
    assert!(value.starts_with("[[2,1,0],[4,1,1],"), "{value}");
    assert_eq!(value.matches("],[").count() as u64, BLOCK - 1);
    let out = kv(&mut h, write, "write_ok", "");
    let cas = to(&out, "lin-kv");
    assert!(field(cas, "to").starts_with(&format!("[{BLOCK},[")), "{}", field(cas, "to"));
    let out = kv(&mut h, cas, "cas_ok", "");
    assert_eq!(kind(to(&out, "c9")), "txn_ok");
    assert_eq!(state(&h).stats().blocks_written, 1);
}

#[test]
fn a_node_far_behind_reads_the_blocks_then_the_root_again() {
    let mut h = node("n0", &["n0", "n1"]);
    let out = txn(&mut h, 2, r#"[["r",1,null]]"#);
    let deltas: Vec<String> = (1..=BLOCK).map(|v| format!("[{},1,{v}]", 2 * v + 1)).collect();
    let root = format!(r#""value":[{BLOCK},[[99,2,0]]]"#);
    let out = kv(&mut h, to(&out, "lin-kv"), "read_ok", &root);
    let fetch = to(&out, "lin-kv");
    assert_eq!((kind(fetch), field(fetch, "key")), ("read".into(), r#""block-0""#.into()));
    let out = kv(&mut h, fetch, "read_ok", &format!(r#""value":[{}]"#, deltas.join(",")));
    let read = to(&out, "lin-kv");
    assert_eq!(field(read, "key"), r#""root""#);
    let out = kv(&mut h, read, "read_ok", &root);
    let want: Vec<String> = (1..=BLOCK).map(|v| v.to_string()).collect();
    assert_eq!(field(to(&out, "c9"), "txn"), format!(r#"[["r",1,[{}]]]"#, want.join(",")));
    assert_eq!(state(&h).version(), BLOCK + 1);
}

#[test]
fn a_full_queue_refuses_new_txns_with_a_definite_error() {
    let mut h = node("n0", &["n0", "n1"]);
    for i in 0..MAX_QUEUE as u64 {
        txn(&mut h, 10 + i, r#"[["append",1,1]]"#);
    }
    let out = txn(&mut h, 1, r#"[["append",1,1]]"#);
    assert_eq!(field(&out[0], "code"), "11");
}

#[test]
fn txns_waiting_too_long_behind_a_stuck_batch_fail_definitely_only_if_never_proposed() {
    let mut h = node("n0", &["n0", "n1"]);
    txn(&mut h, 2, r#"[["append",1,5]]"#);
    txn(&mut h, 3, r#"[["append",1,6]]"#);
    // lin-kv answers nothing for 4 s: the CAS times out, and so do the root reads after it.
    let mut last_read = None;
    for _ in 0..TXN_PATIENCE.as_millis() {
        for l in h.advance(Duration::from_millis(1)) {
            assert!(!l.contains("\"c9\""), "nothing is answered while unsettled: {l}");
            if kind(&l) == "read" {
                last_read = Some(l);
            }
        }
    }
    // Then a read shows the CAS landed: the proposed txn committed; the queued one, never
    // proposed, has waited too long and fails with a definite error.
    let out = kv(&mut h, &last_read.expect("root reads"), "read_ok", r#""value":[0,[[2,1,5]]]"#);
    let replies: Vec<(String, String)> = out
        .iter()
        .filter(|l| l.contains("\"c9\""))
        .map(|l| (kind(l), field(l, "in_reply_to")))
        .collect();
    assert_eq!(replies, [("txn_ok".into(), "2".into()), ("error".into(), "3".into())], "{out:?}");
    let err = out.iter().find(|l| kind(l) == "error").unwrap();
    assert_eq!(field(err, "code"), "11");
}
