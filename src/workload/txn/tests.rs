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

fn writes_of(line: &str) -> String {
    simd_json::to_string(body(line).get("writes").expect("writes")).expect("json")
}

/// Lets `from` flush, delivers to `to`, lets `to` flush its acks back; returns what `from` sent.
fn round_trip(from: &mut Harness<Txn>, to: &mut Harness<Txn>, to_id: &str) -> Vec<String> {
    let sent = from.advance(FLUSH_EVERY);
    assert!(deliver(&sent, to_id, to).is_empty(), "one-way: no reply");
    let acks = to.advance(FLUSH_EVERY);
    let from_id = if to_id == "n1" { "n0" } else { "n1" };
    deliver(&acks, from_id, from);
    sent
}

#[test]
fn only_final_writes_replicate_and_an_ack_clears_them() {
    let mut a = node("n0", &["n0", "n1"], &[]);
    let mut b = node("n1", &["n0", "n1"], &[]);
    let out = txn(&mut a, 2, r#"[["w",1,1],["w",1,2],["w",3,9]]"#);
    assert_eq!(out.len(), 1);
    assert!(a.advance(FLUSH_EVERY - Duration::from_millis(1)).is_empty(), "batched");
    let sent = a.advance(Duration::from_millis(1));
    assert_eq!(sent.len(), 1, "{sent:?}");
    let m = body(&sent[0]);
    assert_eq!(m.get("batch").and_then(|b| b.as_u64()), Some(1));
    assert_eq!(writes_of(&sent[0]), "[[1,2,1,0],[3,9,1,0]]", "the intermediate 1 stays home");
    assert!(deliver(&sent, "n1", &mut b).is_empty());
    assert_eq!(b.node.workload().expect("init").get(1), Some(2));
    assert_eq!(b.node.workload().expect("init").get(3), Some(9));
    let acks = b.advance(FLUSH_EVERY);
    assert_eq!(acks.len(), 1);
    assert!(acks[0].contains(r#""batch":0,"acks":[1],"writes":[]"#), "{acks:?}");
    deliver(&acks, "n0", &mut a);
    assert_eq!(a.node.workload().expect("init").pending(), [0]);
    assert!(a.advance(Duration::from_secs(10)).is_empty(), "nothing left to send");
    assert!(b.advance(Duration::from_secs(10)).is_empty(), "no ack owed");
}

#[test]
fn acks_ride_on_data_going_the_other_way() {
    let mut a = node("n0", &["n0", "n1"], &[]);
    let mut b = node("n1", &["n0", "n1"], &[]);
    txn(&mut a, 2, r#"[["w",1,1]]"#);
    let sent = a.advance(FLUSH_EVERY);
    deliver(&sent, "n1", &mut b);
    txn(&mut b, 2, r#"[["w",2,1]]"#);
    let back = b.advance(FLUSH_EVERY);
    assert_eq!(back.len(), 1, "one message: data and ack");
    assert!(back[0].contains(r#""batch":1,"acks":[1],"writes":[[2,1,"#), "{back:?}");
}

#[test]
fn last_writer_wins_by_version_and_the_clock_absorbs_remote_versions() {
    let mut a = node("n0", &["n0", "n1"], &[]);
    let rep = |key: i64, v: i64, l: u64, n: u64| {
        format!(
            r#"{{"src":"n1","dest":"n0","body":{{"type":"replicate","batch":0,"acks":[],"writes":[[{key},{v},{l},{n}]]}}}}"#
        )
    };
    assert!(a.line(&rep(1, 10, 40, 1)).is_empty());
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
fn a_lost_batch_is_resent_after_the_timeout_with_backoff() {
    let mut a = node("n0", &["n0", "n1"], &[]);
    let mut b = node("n1", &["n0", "n1"], &[]);
    txn(&mut a, 2, r#"[["w",1,1]]"#);
    assert_eq!(a.advance(FLUSH_EVERY).len(), 1, "batch 1, lost to a partition");
    // New changes still go out at once; the lost register waits for its timeout.
    txn(&mut a, 3, r#"[["w",2,1]]"#);
    let next = a.advance(FLUSH_EVERY);
    assert_eq!(writes_of(&next[0]), "[[2,1,2,0]]", "{next:?}");
    let quiet = a.advance(RTO_MIN - FLUSH_EVERY * 2);
    assert!(quiet.is_empty(), "{quiet:?}");
    let resent = a.advance(FLUSH_EVERY);
    assert_eq!(resent.len(), 1);
    assert_eq!(writes_of(&resent[0]), "[[1,1,1,0]]", "only the expired batch's register");
    // The timeout has backed off to at least 3/4 of double: batch 2 (sent at 200 ms) now
    // expires no earlier than 1700 ms, 600 ms after the first resend.
    let quiet = a.advance(Duration::from_millis(500));
    assert!(quiet.is_empty(), "{quiet:?}");
    let mut later = a.advance(RTO_MAX * 2);
    assert!(later.iter().any(|l| writes_of(l).contains("[2,1,2,0]")), "{later:?}");
    assert!(later.iter().any(|l| writes_of(l).contains("[1,1,1,0]")), "{later:?}");
    // Deliver everything in flight now; the acks clear it all.
    later.extend(a.advance(RTO_MAX));
    deliver(&later, "n1", &mut b);
    deliver(&b.advance(FLUSH_EVERY), "n0", &mut a);
    a.advance(RTO_MAX * 2); // what was resent meanwhile may be acked or not...
    deliver(&a.advance(FLUSH_EVERY), "n1", &mut b);
    deliver(&b.advance(FLUSH_EVERY), "n0", &mut a);
    assert_eq!(a.node.workload().expect("init").pending(), [0]);
    assert_eq!(b.node.workload().expect("init").get(1), Some(1));
}

#[test]
fn a_change_during_flight_survives_the_ack_of_the_older_batch() {
    let mut a = node("n0", &["n0", "n1"], &[]);
    let mut b = node("n1", &["n0", "n1"], &[]);
    txn(&mut a, 2, r#"[["w",1,1]]"#);
    let sent = a.advance(FLUSH_EVERY);
    txn(&mut a, 3, r#"[["w",1,2]]"#);
    deliver(&sent, "n1", &mut b);
    // a's next flush (the new value of 1) and b's ack of batch 1 cross.
    let again = a.advance(FLUSH_EVERY);
    deliver(&b.advance(FLUSH_EVERY), "n0", &mut a);
    assert_eq!(a.node.workload().expect("init").pending(), [1], "key 1 is in batch 2");
    deliver(&again, "n1", &mut b);
    round_trip(&mut b, &mut a, "n0");
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
    assert!(p.pending.len() <= MAX_PENDING);
}

/// Three nodes, random txns, a partition that drops everything to and from n0 for a while,
/// random delays: once healed and quiet, every node holds the same registers, nothing is
/// pending, and every register holds its highest-versioned write.
#[test]
fn replicas_converge_after_a_partition() {
    use crate::rng::Rng;
    let ids = ["n0", "n1", "n2"];
    let mut nodes: Vec<Harness<Txn>> = ids.iter().map(|id| node(id, &ids, &[])).collect();
    let mut rng = Rng::new(42);
    // (deliver at ms, destination index, line)
    let mut wire: Vec<(u64, usize, String)> = Vec::new();
    let mut next_value = 0i64;
    let step = Duration::from_millis(10);
    for tick in 0..3000u64 {
        let now_ms = tick * 10;
        let partitioned = (500..1500).contains(&tick);
        let mut out: Vec<(usize, String)> = Vec::new();
        if tick < 2000 {
            for _ in 0..rng.below(4) {
                let n = rng.below(3) as usize;
                let mut ops = Vec::new();
                for _ in 0..1 + rng.below(4) {
                    let k = rng.below(6);
                    if rng.chance(0.5) {
                        next_value += 1;
                        ops.push(format!(r#"["w",{k},{next_value}]"#));
                    } else {
                        ops.push(format!(r#"["r",{k},null]"#));
                    }
                }
                let line = format!(
                    r#"{{"src":"c9","dest":"{}","body":{{"type":"txn","msg_id":5,"txn":[{}]}}}}"#,
                    ids[n],
                    ops.join(",")
                );
                nodes[n].line(&line);
            }
        }
        let mut due = Vec::new();
        wire.retain(|(at, d, l)| {
            let keep = *at > now_ms;
            if !keep {
                due.push((*d, l.clone()));
            }
            keep
        });
        for (d, l) in due {
            for o in nodes[d].line(&l) {
                out.push((d, o));
            }
        }
        for (i, n) in nodes.iter_mut().enumerate() {
            out.extend(n.advance(step).into_iter().map(|l| (i, l)));
        }
        for (from, l) in out {
            let Some(d) = ids.iter().position(|id| l.contains(&format!(r#""dest":"{id}""#))) else {
                continue; // to a client
            };
            if partitioned && (from == 0 || d == 0) {
                continue;
            }
            wire.push((now_ms + 10 + rng.below(80), d, l));
        }
    }
    assert!(wire.is_empty(), "quiet at the end");
    let w: Vec<&Txn> = nodes.iter().map(|n| n.node.workload().expect("init")).collect();
    for k in 0..6 {
        let v0 = w[0].get_versioned(k);
        assert!(v0.is_some(), "key {k} was written");
        for (i, x) in w.iter().enumerate() {
            assert_eq!(x.get_versioned(k), v0, "key {k} on n{i}");
            assert_eq!(x.pending(), [0, 0], "n{i} has nothing pending");
        }
    }
}

#[test]
fn a_replicated_version_near_u64_max_is_refused_and_the_clock_cannot_overflow() {
    // Found by the txn fuzz target: a peer's lamport of u64::MAX moved the clock there and the
    // next writing txn overflowed it.
    let mut h = node("n0", &["n0", "n1"], &[]);
    let out = h.line(
        r#"{"src":"n1","dest":"n0","body":{"type":"replicate","msg_id":5,"batch":1,"acks":[],"writes":[[1,9,18446744073709551615,1]]}}"#,
    );
    let b = body(&out[0]);
    assert_eq!(b.get("code").and_then(|c| c.as_u64()), Some(12), "{out:?}");
    assert_eq!(h.node.workload().unwrap().get(1), None, "nothing of the batch applied");
    let out = txn(&mut h, 2, r#"[["w",1,5],["r",1,null]]"#);
    assert_eq!(reply_txn(&out), r#"[["w",1,5],["r",1,5]]"#);
    // The highest accepted version still leaves room for local writes after it.
    h.line(&format!(
        r#"{{"src":"n1","dest":"n0","body":{{"type":"replicate","batch":2,"acks":[],"writes":[[1,9,{MAX_LAMPORT},1]]}}}}"#
    ));
    assert_eq!(h.node.workload().unwrap().get(1), Some(9));
    let out = txn(&mut h, 3, r#"[["w",1,6],["r",1,null]]"#);
    assert_eq!(reply_txn(&out), r#"[["w",1,6],["r",1,6]]"#);
}

#[test]
fn an_ack_of_a_batch_never_sent_clears_nothing() {
    // u64::MAX is the "changed, not yet sent" mark: acknowledging it must not clear registers
    // that were never sent, nor may any id beyond the last batch.
    let mut a = node("n0", &["n0", "n1"], &[]);
    txn(&mut a, 2, r#"[["w",1,1],["w",2,2]]"#);
    for bogus in ["18446744073709551615", "7"] {
        a.line(&format!(
            r#"{{"src":"n1","dest":"n0","body":{{"type":"replicate","batch":0,"acks":[{bogus}],"writes":[]}}}}"#
        ));
        assert_eq!(a.node.workload().unwrap().pending(), [2], "after ack {bogus}");
    }
    let sent = a.advance(FLUSH_EVERY);
    assert_eq!(writes_of(&sent[0]), "[[1,1,1,0],[2,2,1,0]]");
}
