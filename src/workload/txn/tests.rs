//! Unit tests of the txn node, driven by hand on virtual time.

use std::time::Duration;

use simd_json::prelude::*;

use super::*;
use crate::node::harness::Harness;

fn node(id: &str, ids: &[&str], args: &[&str]) -> Harness<Txn> {
    let mut h = Harness::new(args);
    let out = h.init(id, ids);
    assert!(out[0].contains("init_ok"), "{out:?}");
    h
}

fn body(line: &str) -> simd_json::OwnedValue {
    let mut b = line.as_bytes().to_vec();
    let v = simd_json::to_owned_value(&mut b).expect("node output is JSON");
    v.get("body").expect("a body").clone()
}

fn txn(h: &mut Harness<Txn>, msg_id: u64, ops: &str) -> Vec<String> {
    h.line(&format!(
        r#"{{"src":"c9","dest":"{}","body":{{"type":"txn","msg_id":{msg_id},"txn":{ops}}}}}"#,
        h.node.workload().map_or("n0".to_owned(), |_| "n0".to_owned())
    ))
}

fn reply_txn(out: &[String]) -> String {
    assert_eq!(out.len(), 1, "{out:?}");
    let b = body(&out[0]);
    assert_eq!(b.get("type").and_then(|t| t.as_str()), Some("txn_ok"), "{out:?}");
    simd_json::to_string(b.get("txn").expect("txn")).expect("serialisable")
}

#[test]
fn a_txn_reads_its_own_writes_and_missing_keys_are_null() {
    let mut h = node("n0", &["n0"], &[]);
    let out = txn(&mut h, 2, r#"[["r",1,null],["w",1,5],["r",1,null],["w",2,7],["w",1,6]]"#);
    assert_eq!(reply_txn(&out), r#"[["r",1,null],["w",1,5],["r",1,5],["w",2,7],["w",1,6]]"#);
    let out = txn(&mut h, 3, r#"[["r",1,null],["r",2,null],["r",3,null]]"#);
    assert_eq!(reply_txn(&out), r#"[["r",1,6],["r",2,7],["r",3,null]]"#);
}

#[test]
fn a_malformed_txn_is_rejected_whole_before_anything_applies() {
    let mut h = node("n0", &["n0"], &[]);
    for bad in [
        r#"[["w",1,5],["w",2,"x"]]"#,
        r#"[["w",1,5],["x",2,3]]"#,
        r#"[["w",1,5],["r",2]]"#,
        r#"[["w",1,5],["r","k",null]]"#,
        r#"[["w",1,5],7]"#,
        r#"{"w":1}"#,
    ] {
        let out = txn(&mut h, 2, bad);
        assert_eq!(out.len(), 1);
        let b = body(&out[0]);
        assert_eq!(b.get("type").and_then(|t| t.as_str()), Some("error"), "{bad}");
        assert_eq!(b.get("code").and_then(|c| c.as_u64()), Some(12), "{bad}");
    }
    assert_eq!(h.node.workload().expect("initialised").get(1), None, "nothing applied");
}

/// Delivers every line in `out` addressed to `dest` into `h`, returning what `h` printed.
fn deliver(out: &[String], dest: &str, h: &mut Harness<Txn>) -> Vec<String> {
    let mut res = Vec::new();
    for l in out.iter().filter(|l| l.contains(&format!(r#""dest":"{dest}""#))) {
        res.extend(h.line(l));
    }
    res
}

#[test]
fn only_final_writes_replicate_and_an_ack_clears_them() {
    let mut a = node("n0", &["n0", "n1"], &[]);
    let mut b = node("n1", &["n0", "n1"], &[]);
    let out = txn(&mut a, 2, r#"[["w",1,1],["w",1,2],["w",3,9]]"#);
    assert_eq!(out.len(), 1);
    assert!(a.advance(Duration::from_millis(49)).is_empty(), "batched, not sent at once");
    let sent = a.advance(Duration::from_millis(1));
    assert_eq!(sent.len(), 1, "{sent:?}");
    let w = simd_json::to_string(body(&sent[0]).get("writes").expect("writes")).expect("json");
    assert_eq!(w, "[[1,2,1,0],[3,9,1,0]]", "the intermediate write 1 never leaves the node");
    let acks = deliver(&sent, "n1", &mut b);
    assert_eq!(b.node.workload().expect("init").get(1), Some(2));
    assert_eq!(b.node.workload().expect("init").get(3), Some(9));
    assert!(deliver(&acks, "n0", &mut a).is_empty());
    assert_eq!(a.node.workload().expect("init").pending(), [0]);
    assert!(a.advance(Duration::from_secs(5)).is_empty(), "nothing left to send");
}

#[test]
fn last_writer_wins_by_version_and_the_clock_absorbs_remote_versions() {
    let mut a = node("n0", &["n0", "n1"], &[]);
    let rep = |key: i64, v: i64, l: u64, n: u64| {
        format!(
            r#"{{"src":"n1","dest":"n0","body":{{"type":"replicate","msg_id":7,"writes":[[{key},{v},{l},{n}]]}}}}"#
        )
    };
    assert!(a.line(&rep(1, 10, 40, 1))[0].contains("replicate_ok"));
    a.line(&rep(1, 11, 39, 1)); // older: ignored
    assert_eq!(a.node.workload().expect("init").get(1), Some(10));
    a.line(&rep(1, 12, 40, 0)); // same lamport, lower node: ignored
    assert_eq!(a.node.workload().expect("init").get(1), Some(10));
    // A local write now must beat version (40, n1): the clock has absorbed 40.
    txn(&mut a, 2, r#"[["r",1,null],["w",1,13]]"#);
    let (v, ver) = a.node.workload().expect("init").get_versioned(1).expect("written");
    assert_eq!((v, ver), (13, Version { lamport: 41, node: 0 }));
    a.line(&rep(1, 14, 41, 1)); // same lamport, higher node: wins
    assert_eq!(a.node.workload().expect("init").get(1), Some(14));
}

#[test]
fn a_lost_batch_is_retried_with_backoff_and_changes_merge_in() {
    let mut a = node("n0", &["n0", "n1"], &[]);
    let mut b = node("n1", &["n0", "n1"], &[]);
    txn(&mut a, 2, r#"[["w",1,1]]"#);
    let first = a.advance(FLUSH_EVERY);
    assert_eq!(first.len(), 1);
    // Partitioned: the batch is dropped. A later write waits for the in-flight batch.
    txn(&mut a, 3, r#"[["w",2,1],["w",1,2]]"#);
    assert!(a.advance(REPLICATE_TIMEOUT - FLUSH_EVERY - Duration::from_millis(1)).is_empty());
    // Timeout, then a backoff in [50, 150) ms, then one batch with the latest of everything.
    let retry = a.advance(Duration::from_millis(200));
    assert_eq!(retry.len(), 1, "{retry:?}");
    let w = simd_json::to_string(body(&retry[0]).get("writes").expect("writes")).expect("json");
    assert_eq!(w, "[[1,2,2,0],[2,1,2,0]]");
    let acks = deliver(&retry, "n1", &mut b);
    deliver(&acks, "n0", &mut a);
    assert_eq!(a.node.workload().expect("init").pending(), [0]);
    assert_eq!(b.node.workload().expect("init").get(1), Some(2));
}

#[test]
fn a_change_during_flight_survives_the_ack_of_the_older_batch() {
    let mut a = node("n0", &["n0", "n1"], &[]);
    let mut b = node("n1", &["n0", "n1"], &[]);
    txn(&mut a, 2, r#"[["w",1,1]]"#);
    let sent = a.advance(FLUSH_EVERY);
    txn(&mut a, 3, r#"[["w",1,2]]"#);
    let acks = deliver(&sent, "n1", &mut b);
    deliver(&acks, "n0", &mut a);
    assert_eq!(a.node.workload().expect("init").pending(), [1], "key 1 changed after sending");
    let again = a.advance(FLUSH_EVERY);
    let acks = deliver(&again, "n1", &mut b);
    deliver(&acks, "n0", &mut a);
    assert_eq!(b.node.workload().expect("init").get(1), Some(2));
    assert_eq!(a.node.workload().expect("init").pending(), [0]);
}

#[test]
fn an_overflowing_pending_set_falls_back_to_a_store_scan() {
    let mut p = Peer::new("n1".into());
    let n = MAX_PENDING + 10;
    for c in 0..n as u32 {
        p.touch(c);
    }
    assert_eq!(p.pending.len(), MAX_PENDING);
    assert_eq!(p.scan_from, Some(MAX_PENDING as u32));
    // Acknowledge everything sent so far; the scan then brings in the rest.
    for &c in &p.pending {
        p.mark[c as usize] = CLEAN;
    }
    p.pending.clear();
    p.refill(n);
    assert_eq!(p.pending, (MAX_PENDING as u32..n as u32).collect::<Vec<_>>());
    assert_eq!(p.scan_from, None);
    assert_eq!(p.pending.capacity(), MAX_PENDING, "never reallocated");
}

#[test]
fn faults_break_what_they_say() {
    let mut h = node("n0", &["n0"], &["--fault", "intermediate-reads"]);
    txn(&mut h, 2, r#"[["w",1,1],["w",1,2]]"#);
    assert_eq!(h.node.workload().expect("init").get(1), Some(1), "intermediate value kept");

    let mut h = node("n0", &["n0"], &["--fault", "own-writes-invisible"]);
    let out = txn(&mut h, 2, r#"[["w",1,1],["r",1,null]]"#);
    assert_eq!(reply_txn(&out), r#"[["w",1,1],["r",1,null]]"#);

    let mut h = node("n0", &["n0"], &["--fault", "aborted-reads"]);
    for i in 0..5 {
        let out = txn(&mut h, 2 + i, &format!(r#"[["w",1,{i}]]"#));
        assert_eq!(out[0].contains(r#""code":30"#), i == 4, "{out:?}");
    }
    assert_eq!(h.node.workload().expect("init").get(1), Some(4), "the aborted write applied");

    let mut h = node("n0", &["n0"], &["--fault", "late-reads"]);
    assert!(txn(&mut h, 2, r#"[["w",1,1],["r",2,null]]"#).is_empty(), "parked");
    let out = txn(&mut h, 3, r#"[["w",2,1],["r",1,null]]"#);
    assert_eq!(reply_txn(&out), r#"[["w",1,1],["r",2,1]]"#, "saw the later txn's write");
    let out = h.advance(Duration::from_millis(10));
    assert_eq!(reply_txn(&out), r#"[["w",2,1],["r",1,1]]"#);
}
