//! Unit tests of the g-set node, driven by hand through the harness on virtual time.

use std::time::Duration;

use simd_json::OwnedValue;
use simd_json::prelude::*;

use super::*;
use crate::node::harness::{Cluster, Harness};
use crate::workload::broadcast::protocol::{GOSSIP, GOSSIP_ACK};

/// One output line, parsed.
#[derive(Clone, Debug)]
struct Out {
    src: String,
    dest: String,
    kind: String,
    body: OwnedValue,
}

fn parse(lines: Vec<String>) -> Vec<Out> {
    lines
        .into_iter()
        .map(|line| {
            let mut bytes = line.into_bytes();
            let v = simd_json::to_owned_value(&mut bytes).expect("output is JSON");
            let s = |k: &str| v.get(k).and_then(|d| d.as_str()).expect("src and dest").to_owned();
            let body = v.get("body").expect("body").clone();
            let kind = body.get("type").and_then(|t| t.as_str()).expect("type").to_owned();
            Out { src: s("src"), dest: s("dest"), kind, body }
        })
        .collect()
}

fn add_line(me: usize, element: &str) -> String {
    format!(
        r#"{{"src":"c9","dest":"n{me}","body":{{"element":{element},"type":"add","msg_id":1}}}}"#
    )
}

fn read_line(me: usize) -> String {
    format!(r#"{{"src":"c9","dest":"n{me}","body":{{"type":"read","msg_id":7}}}}"#)
}

/// The elements of a `read_ok`, as compact JSON texts, after checking the reply is closed.
fn elements(out: &[Out]) -> Vec<String> {
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].kind, "read_ok");
    assert_eq!(out[0].body.as_object().unwrap().len(), 3, "read_ok is closed: {:?}", out[0]);
    let arr = out[0].body.get("value").and_then(|v| v.as_array()).expect("a value array");
    arr.iter().map(|v| simd_json::to_string(v).unwrap()).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn any_json_element_is_kept_once_and_returned_as_added() {
    let mut h = Harness::<GSet>::new(&[]);
    h.init("n0", &["n0"]);
    let adds = [
        "3",
        "0",
        "3",
        r#""three""#,
        r#"{"b":[1,{"y":null,"x":true}],"a":-2}"#,
        r#"{"a":-2,"b":[1,{"x":true,"y":null}]}"#,
        "[1,2]",
        "1.5",
        "-7",
        "18446744073709551615",
        "9223372036854775808",
        r#""th\u0072ee""#,
        "null",
    ];
    for a in adds {
        let out = parse(h.line(&add_line(0, a)));
        assert_eq!(out.len(), 1, "{a}: {out:?}");
        assert_eq!(out[0].kind, "add_ok", "{a}");
        assert_eq!(out[0].body.as_object().unwrap().len(), 2, "add_ok is closed");
    }
    let got = elements(&parse(h.line(&read_line(0))));
    // Small integers in ascending order, then the rest as first added, objects with sorted
    // keys; the same value added twice (another key order, another escaping) is one element.
    assert_eq!(
        got,
        [
            "0",
            "3",
            r#""three""#,
            r#"{"a":-2,"b":[1,{"x":true,"y":null}]}"#,
            "[1,2]",
            "1.5",
            "-7",
            "18446744073709551615",
            "9223372036854775808",
            "null"
        ]
    );
    assert_eq!(h.node.workload().unwrap().gossip().set().len(), 10);
    assert!(!h.node.workload().unwrap().busy(), "a lone node sets no timers");
}

#[test]
fn three_nodes_converge_in_batches_and_fall_quiet() {
    let mut c = Cluster::<GSet>::new(3, &[]);
    let mut all = |_: &str| true;
    // One element short of a batch on leaf n1: held.
    let batch = DEFAULT.batch as u64;
    for x in 10..10 + batch - 1 {
        let r = c.line(1, &add_line(1, &x.to_string()), &mut all);
        assert_eq!(parse(r)[0].kind, "add_ok");
    }
    c.line(2, &add_line(2, r#"{"k":"v"}"#), &mut all);
    c.line(0, &add_line(0, r#""hub""#), &mut all);
    assert!(c.sent.is_empty(), "held, not sent");
    // The last makes a batch: n1 -> hub at once, and the hub relays it to n2 at once,
    // with its own element riding along.
    c.line(1, &add_line(1, &(10 + batch - 1).to_string()), &mut all);
    let sent = parse(c.sent.clone());
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!((sent[0].src.as_str(), sent[0].dest.as_str()), ("n1", "n0"));
    assert_eq!((sent[1].src.as_str(), sent[1].dest.as_str()), ("n0", "n2"));
    assert_eq!(sent[1].body.get("v").unwrap().as_array().unwrap().len(), DEFAULT.batch + 1);
    let two = sorted(elements(&parse(c.line(2, &read_line(2), &mut all))));
    let mut want: Vec<String> = (10..10 + batch).map(|x| x.to_string()).collect();
    want.extend([r#""hub""#.to_owned(), r#"{"k":"v"}"#.to_owned()]);
    assert_eq!(two, sorted(want));
    // Holds run out; everything reaches everyone; the acknowledgements end it.
    c.advance(Duration::from_secs(20), &mut all);
    let want = sorted(two);
    for i in 0..3 {
        assert_eq!(sorted(elements(&parse(c.line(i, &read_line(i), &mut all)))), want, "n{i}");
    }
    assert!(c.nodes.iter().all(|h| !h.node.workload().unwrap().busy()), "quiet");
    let sent = parse(c.sent.clone());
    assert!(sent.iter().all(|m| m.src == "n0" || m.dest == "n0"), "a star: {sent:?}");
    assert!(sent.iter().all(|m| m.kind == GOSSIP || m.kind == GOSSIP_ACK));
    assert!(sent.len() <= 7, "{} messages: {sent:?}", sent.len());
    let n = c.sent.len();
    c.advance(Duration::from_secs(60), &mut all);
    assert_eq!(c.sent.len(), n, "an idle cluster sends nothing");
}

#[test]
fn losses_are_repaired_and_a_retransmitted_batch_is_relayed_urgently() {
    let mut c = Cluster::<GSet>::new(3, &[]);
    let mut all = |_: &str| true;
    for x in 0..DEFAULT.batch {
        c.line(1, &add_line(1, &x.to_string()), &mut |_| false);
    }
    // That batch was lost; the next hop will drop the first relay of its retransmission.
    let mut relays = 0;
    let mut lossy = |l: &str| {
        if l.contains(r#""src":"n0","dest":"n2""#) {
            relays += 1;
            return relays > 1;
        }
        true
    };
    // n1's timeout (DEFAULT.rto), then the hub's retry of the urgent relay one backoff step
    // (~0.5 s) later.
    c.advance(DEFAULT.rto + Duration::from_millis(700), &mut lossy);
    let sent = parse(c.sent.clone());
    let resent = sent.iter().find(|m| m.src == "n1" && m.body.get("r").is_some());
    assert!(resent.is_some(), "n1 retransmitted: {sent:?}");
    let relays: Vec<&Out> = sent.iter().filter(|m| m.src == "n0" && m.dest == "n2").collect();
    assert_eq!(relays.len(), 2, "the relay, then its retry: {sent:?}");
    assert!(relays.iter().all(|m| m.body.get("r").is_some()), "urgent: {relays:?}");
    let two = sorted(elements(&parse(c.line(2, &read_line(2), &mut all))));
    assert_eq!(two, sorted((0..DEFAULT.batch).map(|x| x.to_string()).collect()));
    c.advance(Duration::from_secs(10), &mut all);
    assert!(c.nodes.iter().all(|h| !h.node.workload().unwrap().busy()));
}

#[test]
fn bad_requests_get_clear_errors() {
    let mut h = Harness::<GSet>::new(&[]);
    h.init("n1", &["n0", "n1", "n2"]);
    let err = |out: Vec<String>| {
        let out = parse(out);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].kind, "error", "{out:?}");
        out[0].body.get("code").and_then(|c| c.as_u64()).unwrap()
    };
    assert_eq!(err(h.line(r#"{"src":"c1","dest":"n1","body":{"type":"add","msg_id":3}}"#)), 12);
    for (src, body) in [
        ("c1", r#"{"type":"gossip","msg_id":3,"s":0,"e":1,"a":0,"v":[1]}"#),
        ("n1", r#"{"type":"gossip","msg_id":3,"s":0,"e":1,"a":0,"v":[1]}"#),
        ("n0", r#"{"type":"gossip","msg_id":3,"s":2,"e":1,"a":0,"v":[1]}"#),
        ("n0", r#"{"type":"gossip","msg_id":3,"s":0,"e":1,"v":[1]}"#),
        ("n0", r#"{"type":"gossip","msg_id":3,"s":0,"e":1,"a":0,"v":{}}"#),
        ("n0", r#"{"type":"gossip_ack","msg_id":3,"a":-1}"#),
    ] {
        let line = format!(r#"{{"src":"{src}","dest":"n1","body":{body}}}"#);
        assert_eq!(err(h.line(&line)), 12, "{body}");
    }
    assert_eq!(err(h.line(r#"{"src":"c1","dest":"n1","body":{"type":"cas","msg_id":3}}"#)), 10);
    // Nothing was learned from the refused messages.
    assert!(elements(&parse(h.line(&read_line(1)))).is_empty());
}

#[test]
fn tuning_words() {
    let parse =
        |w: &str| Tuning::from_args(&w.split_whitespace().map(str::to_owned).collect::<Vec<_>>());
    assert_eq!(parse(""), (DEFAULT, vec![]));
    let (t, ignored) = parse("--hold-ms=1000 --batch=2 --hub-batch=0 --weird --rto-ms=0 x");
    assert_eq!(t.hold, Duration::from_secs(1));
    assert_eq!(t.batch, 2);
    assert_eq!(t.hub_hold, Duration::from_millis(1500), "follows the hold");
    assert_eq!(t.ack_delay, Duration::from_millis(1500), "follows the hold");
    assert_eq!(t.rto, Duration::from_millis(2000), "follows the acknowledgement delay");
    assert_eq!(ignored, ["--hub-batch=0", "--weird", "--rto-ms=0", "x"]);
    let (t, ignored) = parse(
        "--hub-hold-ms=700 --relay-ms=5 --ack-ms=200 --rto-ms=900 --retry-ms=100 --rto-cap-ms=400 --hub-batch=3",
    );
    assert!(ignored.is_empty(), "{ignored:?}");
    assert_eq!((t.hub_hold, t.relay), (Duration::from_millis(700), Some(Duration::from_millis(5))));
    assert_eq!((t.ack_delay, t.rto), (Duration::from_millis(200), Duration::from_millis(900)));
    assert_eq!(
        (t.retry, t.rto_cap, t.hub_batch),
        (Duration::from_millis(100), Duration::from_millis(400), 3)
    );
}

#[test]
fn a_lapped_leaf_is_resynchronised_with_json_elements() {
    // A ring of 4 entries: while n2 is cut off, n1's batches lap it.
    let mut c = Cluster::<GSet>::new(3, &["--ring=4", "--batch=2"]);
    let mut cut = |l: &str| !l.contains(r#""dest":"n2""#) && !l.contains(r#""src":"n2""#);
    let mut want = Vec::new();
    for k in 0..40 {
        let e = if k % 2 == 0 { format!(r#"{{"k":{k}}}"#) } else { format!(r#""e{k}""#) };
        c.line(1, &add_line(1, &e), &mut cut);
        want.push(e);
        c.advance(Duration::from_millis(100), &mut cut);
    }
    c.advance(Duration::from_secs(5), &mut cut);
    assert!(elements(&parse(c.line(2, &read_line(2), &mut cut))).is_empty(), "cut off");
    let mut all = |_: &str| true;
    c.advance(Duration::from_secs(20), &mut all);
    want.sort();
    for i in 0..3 {
        assert_eq!(sorted(elements(&parse(c.line(i, &read_line(i), &mut all)))), want, "n{i}");
    }
    let stats = c.nodes[0].node.workload().unwrap().gossip().stats();
    assert!(stats.passes > 0 && stats.rejoined > 0 && stats.synced > 0, "{stats:?}");
    assert!(c.nodes.iter().all(|h| !h.node.workload().unwrap().busy()), "quiet after the resync");
}

#[test]
fn large_elements_travel_in_messages_of_about_a_mebibyte() {
    let mut c = Cluster::<GSet>::new(3, &["--batch=40"]);
    let mut all = |_: &str| true;
    let mut want = Vec::new();
    for k in 0..40 {
        let e = format!(r#""{k:02}{}""#, "x".repeat(100_000));
        c.line(1, &add_line(1, &e), &mut all);
        want.push(e);
    }
    c.advance(Duration::from_secs(20), &mut all);
    want.sort();
    for i in 0..3 {
        assert_eq!(sorted(elements(&parse(c.line(i, &read_line(i), &mut all)))), want, "n{i}");
    }
    let longest = c.sent.iter().map(String::len).max().unwrap();
    assert!(longest < (1 << 20) + 200_000, "{longest} bytes");
    let data = c.sent.iter().filter(|l| l.contains(r#""type":"gossip""#)).count();
    assert!(data >= 8, "40 x 100 KB went in several messages each way: {data}");
}
