//! Unit tests of the pn-counter node, driven by hand through the harness on virtual time.

use std::time::Duration;

use simd_json::OwnedValue;
use simd_json::prelude::*;

use super::*;
use crate::node::harness::{Cluster, Harness};

/// One output line, parsed.
#[derive(Clone, Debug)]
struct Out {
    src: String,
    dest: String,
    kind: String,
    body: OwnedValue,
    line: String,
}

fn parse(lines: Vec<String>) -> Vec<Out> {
    lines
        .into_iter()
        .map(|line| {
            let mut bytes = line.clone().into_bytes();
            let v = simd_json::to_owned_value(&mut bytes).expect("output is JSON");
            let s = |k: &str| v.get(k).and_then(|d| d.as_str()).expect("src and dest").to_owned();
            let body = v.get("body").expect("body").clone();
            let kind = body.get("type").and_then(|t| t.as_str()).expect("type").to_owned();
            Out { src: s("src"), dest: s("dest"), kind, body, line }
        })
        .collect()
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("n{i}")).collect()
}

/// A node `me` of an `n`-node cluster, initialised, with these arguments.
fn node(me: usize, n: usize, args: &[&str]) -> Harness<PnCounter> {
    let mut h = Harness::<PnCounter>::new(args);
    let ids = ids(n);
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let out = parse(h.init(&ids[me], &refs));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind, "init_ok");
    h
}

fn add(h: &mut Harness<PnCounter>, me: &str, delta: i64) -> Vec<Out> {
    parse(h.line(&format!(
        r#"{{"src":"c9","dest":"{me}","body":{{"delta":{delta},"type":"add","msg_id":1}}}}"#
    )))
}

fn read(h: &mut Harness<PnCounter>, me: &str) -> i64 {
    let out = parse(
        h.line(&format!(r#"{{"src":"c9","dest":"{me}","body":{{"type":"read","msg_id":7}}}}"#)),
    );
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].kind, "read_ok");
    assert_eq!(out[0].body.as_object().unwrap().len(), 3, "read_ok is closed: {:?}", out[0]);
    out[0].body.get("value").and_then(|v| v.as_i64()).expect("an integer value")
}

/// A three-node cluster's helpers.
trait Counters {
    fn add(&mut self, i: usize, delta: i64);
    fn read(&mut self, i: usize) -> i64;
    fn sent_parsed(&self) -> Vec<Out>;
    fn quiet(&self) -> bool;
}

impl Counters for Cluster<PnCounter> {
    fn add(&mut self, i: usize, delta: i64) {
        let out = add(&mut self.nodes[i], &format!("n{i}"), delta);
        let lines: Vec<String> = out.iter().map(|o| o.line.clone()).collect();
        let replies = parse(self.deliver(lines, &mut |_| true));
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].kind, "add_ok", "{replies:?}");
    }

    fn read(&mut self, i: usize) -> i64 {
        read(&mut self.nodes[i], &format!("n{i}"))
    }

    fn sent_parsed(&self) -> Vec<Out> {
        parse(self.sent.clone())
    }

    fn quiet(&self) -> bool {
        self.nodes.iter().all(|h| !h.node.workload().unwrap().busy())
    }
}

#[test]
fn one_node_counts_up_and_down() {
    let mut h = node(0, 1, &[]);
    for d in [3, -5, 0, 4, -1] {
        let out = add(&mut h, "n0", d);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, "add_ok");
        assert_eq!(out[0].body.as_object().unwrap().len(), 2, "add_ok is closed: {:?}", out[0]);
    }
    assert_eq!(read(&mut h, "n0"), 1);
    assert!(!h.node.workload().unwrap().busy(), "a lone node sets no timers");
}

#[test]
fn three_nodes_converge_through_the_hub_and_fall_quiet() {
    let mut c = Cluster::<PnCounter>::new(3, &[]);
    let mut all = |_: &str| true;
    c.add(1, 5);
    c.add(2, -3);
    c.add(0, 10);
    c.add(1, -1);
    assert!(c.sent.is_empty(), "changes are held, not sent at once");
    c.advance(Duration::from_secs(20), &mut all);
    for i in 0..3 {
        assert_eq!(c.read(i), 11, "node {i}");
    }
    assert!(c.quiet(), "no timer left once everything is acknowledged");
    let sent = c.sent_parsed();
    assert!(sent.iter().all(|m| m.kind == STATE));
    assert!(
        sent.iter().all(|m| m.src == "n0" || m.dest == "n0"),
        "leaves talk only to the hub: {:?}",
        sent.iter().map(|m| (&m.src, &m.dest)).collect::<Vec<_>>()
    );
    // Each leaf's batch to the hub, the hub's relay of each to the other leaf (one of which
    // also carries the hub's own change), and the acknowledgements nothing else carried.
    assert!(c.sent.len() <= 7, "{} messages", c.sent.len());
    let sent = c.sent.len();
    c.advance(Duration::from_secs(60), &mut all);
    assert_eq!(c.sent.len(), sent, "an idle cluster sends nothing");
}

#[test]
fn lost_messages_are_retransmitted_until_acknowledged() {
    let mut c = Cluster::<PnCounter>::new(3, &[]);
    c.add(2, -7);
    c.add(0, 2);
    // Drop everything for 10 s: the hub-to-leaf and leaf-to-hub states and their retries.
    let mut nothing = |_: &str| false;
    c.advance(Duration::from_secs(10), &mut nothing);
    assert!(c.sent_parsed().iter().any(|m| m.body.get("r").is_some()), "retransmissions were sent");
    let during = c.sent.len();
    assert!(during <= 16, "backoff bounds the retries: {during}");
    assert_eq!(c.read(1), 0, "nothing got through");
    let mut all = |_: &str| true;
    c.advance(Duration::from_secs(10), &mut all);
    for i in 0..3 {
        assert_eq!(c.read(i), -5, "node {i}");
    }
    assert!(c.quiet());
}

#[test]
fn a_retransmission_is_answered_at_once() {
    let mut h = node(1, 3, &[]);
    let state =
        r#"{"src":"n0","dest":"n1","body":{"inc":[4,0,0],"dec":[0,0,2],"r":1,"type":"pn_state"}}"#;
    let out = parse(h.line(state));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!((out[0].dest.as_str(), out[0].kind.as_str()), ("n0", STATE));
    assert!(out[0].body.get("r").is_none(), "an answer is not itself a retransmission");
    assert_eq!(read(&mut h, "n1"), 2);
    // The same state again, not flagged: we already told the hub we have it; nothing owed.
    let again = state.replace(r#","r":1"#, "");
    assert!(h.line(&again).is_empty());
    assert!(h.advance(Duration::from_secs(30)).is_empty());
}

#[test]
fn an_unflagged_state_is_acknowledged_after_the_ack_delay() {
    let mut h = node(2, 3, &[]);
    let out = h
        .line(r#"{"src":"n0","dest":"n2","body":{"inc":[1,2,0],"dec":[0,0,0],"type":"pn_state"}}"#);
    assert!(out.is_empty(), "{out:?}");
    let ack = Tuning::DEFAULT.ack_delay;
    assert!(h.advance(ack - Duration::from_millis(1)).is_empty());
    let out = parse(h.advance(Duration::from_millis(1)));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].body.get("inc").unwrap().as_array().unwrap().len(), 3);
    // An own change within the delay carries the acknowledgement instead.
    let mut h = node(2, 3, &["--hold-ms=100"]);
    h.line(r#"{"src":"n0","dest":"n2","body":{"inc":[1,2,0],"dec":[0,0,0],"type":"pn_state"}}"#);
    add(&mut h, "n2", -4);
    let out = parse(h.advance(Duration::from_millis(100)));
    assert_eq!(out.len(), 1, "{out:?}");
    let dec: Vec<u64> = out[0]
        .body
        .get("dec")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(dec, [0, 0, 4]);
    assert!(h.advance(Duration::from_secs(1)).is_empty(), "the debt is paid");
}

#[test]
fn bad_requests_get_clear_errors() {
    let mut h = node(1, 3, &[]);
    let err = |out: Vec<String>| {
        let out = parse(out);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].kind, "error", "{out:?}");
        out[0].body.get("code").and_then(|c| c.as_u64()).unwrap()
    };
    for body in [
        r#"{"type":"add","msg_id":3}"#,
        r#"{"type":"add","msg_id":3,"delta":1.5}"#,
        r#"{"type":"add","msg_id":3,"delta":"1"}"#,
        r#"{"type":"add","msg_id":3,"delta":18446744073709551615}"#,
    ] {
        assert_eq!(
            err(h.line(&format!(r#"{{"src":"c1","dest":"n1","body":{body}}}"#))),
            12,
            "{body}"
        );
    }
    for (src, body) in [
        ("c1", r#"{"type":"pn_state","msg_id":3,"inc":[0,0,0],"dec":[0,0,0]}"#),
        ("n1", r#"{"type":"pn_state","msg_id":3,"inc":[0,0,0],"dec":[0,0,0]}"#),
        ("n0", r#"{"type":"pn_state","msg_id":3,"inc":[0,0],"dec":[0,0,0]}"#),
        ("n0", r#"{"type":"pn_state","msg_id":3,"inc":[0,0,0],"dec":[0,-1,0]}"#),
        ("n0", r#"{"type":"pn_state","msg_id":3,"inc":[0,0,0]}"#),
    ] {
        assert_eq!(
            err(h.line(&format!(r#"{{"src":"{src}","dest":"n1","body":{body}}}"#))),
            12,
            "{body}"
        );
    }
    assert_eq!(err(h.line(r#"{"src":"c1","dest":"n1","body":{"type":"cas","msg_id":3}}"#)), 10);
    // A total that would pass 2^64 is refused, and the counter is unchanged.
    add(&mut h, "n1", i64::MAX);
    add(&mut h, "n1", i64::MAX);
    assert_eq!(
        err(h.line(r#"{"src":"c1","dest":"n1","body":{"type":"add","msg_id":3,"delta":2}}"#)),
        12
    );
    assert_eq!(read(&mut h, "n1"), i64::MAX, "the value saturates at the i64 range");
}

#[test]
fn tuning_words() {
    let parse =
        |w: &str| Tuning::from_args(&w.split_whitespace().map(str::to_owned).collect::<Vec<_>>());
    assert_eq!(parse(""), (Tuning::DEFAULT, vec![]));
    let (t, ignored) = parse("--hold-ms=1000 --relay-ms=50 --weird --rto-ms=0 x");
    assert_eq!(t.hold, Duration::from_secs(1));
    assert_eq!(t.relay, Some(Duration::from_millis(50)));
    assert_eq!(t.ack_delay, Duration::from_millis(1500), "follows the hold");
    assert_eq!(t.rto, Duration::from_millis(2000), "follows the acknowledgement delay");
    assert_eq!(ignored, ["--weird", "--rto-ms=0", "x"]);
    let (t, _) = parse("--ack-ms=200 --rto-ms=900 --retry-ms=100 --rto-cap-ms=400");
    assert_eq!((t.ack_delay, t.rto), (Duration::from_millis(200), Duration::from_millis(900)));
    assert_eq!((t.retry, t.rto_cap), (Duration::from_millis(100), Duration::from_millis(400)));
}
