//! Unit tests of the broadcast node, driven by hand through the harness on virtual time.

use std::time::Duration;

use simd_json::OwnedValue;
use simd_json::prelude::*;

use super::*;
use crate::node::Machine;
use crate::node::harness::Harness;

/// One output line, parsed.
#[derive(Debug)]
struct Out {
    dest: String,
    kind: String,
    body: OwnedValue,
}

impl Out {
    fn u64(&self, k: &str) -> u64 {
        self.body.get(k).and_then(|v| v.as_u64()).unwrap_or_else(|| panic!("{k} in {self:?}"))
    }

    fn values(&self) -> Vec<u64> {
        let key = if self.kind == "read_ok" { "messages" } else { "v" };
        let arr = self.body.get(key).and_then(|v| v.as_array()).expect("a value array");
        arr.iter().map(|v| v.as_u64().expect("integer values")).collect()
    }

    fn has(&self, k: &str) -> bool {
        self.body.get(k).is_some()
    }
}

fn parse(lines: Vec<String>) -> Vec<Out> {
    lines
        .into_iter()
        .map(|l| {
            let mut bytes = l.into_bytes();
            let v = simd_json::to_owned_value(&mut bytes).expect("output is JSON");
            let top = v.as_object().expect("an object");
            assert!(top.keys().all(|k| ["src", "dest", "body"].contains(&k.as_str())), "{v:?}");
            let dest = v.get("dest").and_then(|d| d.as_str()).expect("dest").to_owned();
            let body = v.get("body").expect("body").clone();
            let kind = body.get("type").and_then(|t| t.as_str()).expect("type").to_owned();
            Out { dest, kind, body }
        })
        .collect()
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("n{i}")).collect()
}

/// A node `me` of an `n`-node cluster, initialised, with these arguments.
fn node(me: usize, n: usize, args: &[&str]) -> Harness<Broadcast> {
    let mut h = Harness::<Broadcast>::new(args);
    let ids = ids(n);
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let out = parse(h.init(&ids[me], &refs));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind, "init_ok");
    h
}

fn broadcast(h: &mut Harness<Broadcast>, v: u64) -> Vec<Out> {
    let me = h.node.workload().map(|w| w.names[w.router.me as usize].to_string()).unwrap();
    parse(h.line(&format!(
        r#"{{"src":"c9","dest":"{me}","body":{{"type":"broadcast","msg_id":1,"message":{v}}}}}"#
    )))
}

fn read(h: &mut Harness<Broadcast>) -> Vec<u64> {
    let out = parse(h.line(r#"{"src":"c9","dest":"n0","body":{"type":"read","msg_id":7}}"#));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind, "read_ok");
    assert_eq!(out[0].body.as_object().unwrap().len(), 3, "read_ok is closed: {:?}", out[0]);
    out[0].values()
}

/// Feeds a gossip message from `src` and returns the output.
fn gossip(h: &mut Harness<Broadcast>, src: &str, s: u64, e: u64, a: u64, v: &[u64]) -> Vec<Out> {
    let vals: Vec<String> = v.iter().map(u64::to_string).collect();
    parse(h.line(&format!(
        r#"{{"src":"{src}","dest":"n0","body":{{"type":"gossip","s":{s},"e":{e},"a":{a},"v":[{}]}}}}"#,
        vals.join(",")
    )))
}

fn ack(h: &mut Harness<Broadcast>, src: &str, a: u64) -> Vec<Out> {
    parse(
        h.line(&format!(r#"{{"src":"{src}","dest":"n0","body":{{"type":"gossip_ack","a":{a}}}}}"#)),
    )
}

/// The default profile's timings, which these tests assume.
const T: Tuning = Tuning::DEFAULT;
const MS: Duration = Duration::from_millis(1);

fn of_kind<'a>(out: &'a [Out], kind: &str) -> Vec<&'a Out> {
    out.iter().filter(|o| o.kind == kind).collect()
}

#[test]
fn client_requests_get_closed_replies() {
    let mut h = node(0, 1, &[]);
    let out = broadcast(&mut h, 5);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind, "broadcast_ok");
    assert_eq!(out[0].body.as_object().unwrap().len(), 2, "type and in_reply_to only");
    let out = parse(h.line(
        r#"{"src":"c1","dest":"n0","body":{"type":"topology","msg_id":3,"topology":{"n0":[]}}}"#,
    ));
    assert_eq!(out[0].kind, "topology_ok");
    assert_eq!(out[0].body.as_object().unwrap().len(), 2);
    assert_eq!(read(&mut h), [5]);
}

#[test]
fn bad_requests_get_error_12_and_unknown_types_error_10() {
    let mut h = node(0, 3, &[]);
    for body in [
        r#""type":"broadcast","msg_id":1,"message":"x""#,
        r#""type":"broadcast","msg_id":1,"message":1.5"#,
        r#""type":"broadcast","msg_id":1,"message":-3"#,
        r#""type":"broadcast","msg_id":1"#,
        r#""type":"topology","msg_id":1,"topology":[]"#,
        r#""type":"topology","msg_id":1"#,
        // Gossip from something that is not a node, and malformed gossip from a node.
        r#""type":"gossip","msg_id":1,"s":0,"e":1,"a":0,"v":[1]"#,
    ] {
        let out = parse(h.line(&format!(r#"{{"src":"c1","dest":"n0","body":{{{body}}}}}"#)));
        assert_eq!(out.len(), 1, "{body}");
        assert_eq!((out[0].kind.as_str(), out[0].u64("code")), ("error", 12), "{body}");
    }
    for body in [
        r#""type":"gossip","msg_id":1,"s":2,"e":1,"a":0,"v":[1]"#,
        r#""type":"gossip","msg_id":1,"s":0,"e":1,"a":0,"v":["1"]"#,
        r#""type":"gossip","msg_id":1,"s":0,"e":1,"v":[1]"#,
        r#""type":"gossip_ack","msg_id":1"#,
    ] {
        let out = parse(h.line(&format!(r#"{{"src":"n1","dest":"n0","body":{{{body}}}}}"#)));
        assert_eq!((out[0].kind.as_str(), out[0].u64("code")), ("error", 12), "{body}");
    }
    let out = parse(h.line(r#"{"src":"c1","dest":"n0","body":{"type":"cas","msg_id":4}}"#));
    assert_eq!((out[0].kind.as_str(), out[0].u64("code")), ("error", 10));
    // Nothing was learned from any of it.
    assert!(read(&mut h).is_empty());
    // One-way malformed gossip (no msg_id) is logged, not answered.
    let out = h.line(r#"{"src":"n1","dest":"n0","body":{"type":"gossip","s":0}}"#);
    assert!(out.is_empty());
    assert!(h.log().contains("rejected one-way `gossip`"), "{}", h.log());
}

#[test]
fn any_u64_is_accepted_and_duplicates_are_dropped() {
    let mut h = node(0, 1, &[]);
    for v in [u64::MAX, 0, 7, 7, u64::MAX] {
        assert_eq!(broadcast(&mut h, v)[0].kind, "broadcast_ok");
    }
    assert_eq!(read(&mut h), [u64::MAX, 0, 7]);
}

#[test]
fn unknown_arguments_are_tolerated_and_profiles_selected() {
    let h = node(0, 3, &["--weird", "low-latency", "x=y"]);
    let w = h.node.workload().unwrap();
    assert_eq!(w.tuning(), Tuning::LOW_LATENCY);
    assert_eq!(w.role(), Role::Mesh);
    assert!(h.log().contains("ignoring arguments"), "{}", h.log());
    let h = node(3, 5, &[]);
    assert_eq!(h.node.workload().unwrap().role(), Role::Leaf);
    let h = node(0, 5, &["--profile", "frugal"]);
    assert_eq!(h.node.workload().unwrap().role(), Role::Hub);
    assert_eq!(h.node.workload().unwrap().tuning(), Tuning::FRUGAL);
}

#[test]
fn a_leaf_sends_at_once_and_retransmits_with_capped_backoff_until_acked() {
    let mut h = node(2, 5, &[]);
    let out = broadcast(&mut h, 10);
    let sent = of_kind(&out, "gossip");
    assert_eq!(sent.len(), 1, "{out:?}");
    assert_eq!(sent[0].dest, "n0", "a leaf talks to the hub only");
    assert_eq!((sent[0].u64("s"), sent[0].u64("e"), sent[0].values()), (0, 1, vec![10]));
    assert!(!sent[0].has("r"));

    // No ack: the first retransmission comes after the RTO, flagged, and carrying everything
    // unacknowledged (including a value that arrived in between, while the peer was fine).
    h.advance(T.rto / 2);
    let out = broadcast(&mut h, 11);
    assert_eq!(of_kind(&out, "gossip")[0].values(), [10, 11]);
    let out = h.advance(T.rto - T.rto / 2 - MS);
    assert!(out.is_empty(), "{out:?}");
    let out = parse(h.advance(2 * MS));
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].u64("s"), out[0].u64("r"), out[0].values()), (0, 1, vec![10, 11]));

    // While suspect, a new value does not add traffic; it waits for the next retransmission.
    assert_eq!(broadcast(&mut h, 12).len(), 1, "only broadcast_ok");
    // An unreachable hub costs one message per backoff interval: 2 s +-20%, never a storm.
    let mut times = Vec::new();
    for step in 0..60_000 {
        let out = parse(h.advance(MS));
        if !out.is_empty() {
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].values(), [10, 11, 12]);
            times.push(step);
        }
    }
    // Then 0.5 s, 1 s, and 2 s from there on, each +-20%.
    assert_eq!((T.retry, T.rto_cap), (500 * MS, 2000 * MS), "the numbers below assume these");
    assert!((26..=39).contains(&times.len()), "{} retransmissions in 60 s", times.len());
    assert!((400..=600).contains(&times[0]), "{times:?}");
    assert!((1200..=1800).contains(&times[1]), "{times:?}");
    for w in times[1..].windows(2) {
        assert!((1600..=2400).contains(&(w[1] - w[0])), "gap {} ms", w[1] - w[0]);
    }

    // The hub is heard from again (its ack is stale): one early resend, not one per message,
    // once we are well past our last send (so it cannot be the answer to it).
    let idle = MS * (60_000 - times.last().unwrap());
    if idle <= T.retry {
        assert!(h.advance(T.retry + MS - idle).is_empty());
    }
    let out = gossip(&mut h, "n0", 0, 1, 0, &[99]);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        (out[0].u64("s"), out[0].u64("a"), out[0].u64("r"), out[0].values()),
        (0, 1, 1, vec![10, 11, 12])
    );
    assert!(ack(&mut h, "n0", 0).is_empty());
    // A partial ack: the rest gets a fresh timeout, then a full ack stops every timer.
    assert!(ack(&mut h, "n0", 2).is_empty());
    assert!(h.advance(T.rto - MS).is_empty());
    let out = parse(h.advance(2 * MS));
    assert_eq!((out[0].u64("s"), out[0].values()), (2, vec![12]));
    assert!(ack(&mut h, "n0", 3).is_empty());
    assert!(!h.node.workload().unwrap().busy(), "no timer left");
    assert!(h.advance(Duration::from_secs(60)).is_empty());
}

#[test]
fn the_hub_batches_relays_filters_the_origin_and_piggybacks_acks() {
    let mut h = node(0, 4, &[]);
    // Two leaves send values; nothing goes out before the relay batch closes.
    assert!(gossip(&mut h, "n1", 0, 2, 0, &[1, 2]).is_empty());
    assert!(gossip(&mut h, "n2", 0, 1, 0, &[3]).is_empty());
    let out = parse(h.advance(T.relay_delay));
    let by_dest = |d: &str| out.iter().find(|o| o.dest == d).unwrap_or_else(|| panic!("{d}"));
    assert_eq!(out.len(), 3, "one message per leaf: {out:?}");
    // Origin filtering: n1 does not get its own values back, and each carries an ack.
    assert_eq!((by_dest("n1").values(), by_dest("n1").u64("a")), (vec![3], 2));
    assert_eq!((by_dest("n2").values(), by_dest("n2").u64("a")), (vec![1, 2], 1));
    assert_eq!((by_dest("n3").values(), by_dest("n3").u64("a")), (vec![1, 2, 3], 0));
    // Duplicates are not relayed again.
    assert!(gossip(&mut h, "n3", 0, 1, 3, &[2]).is_empty());
    assert!(T.ack_delay < T.rto);
    let out = parse(h.advance(T.ack_delay));
    // n3 sent nothing new: no relay; its data is acknowledged on its own after ack_delay.
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(
        (out[0].dest.as_str(), out[0].kind.as_str(), out[0].u64("a")),
        ("n3", "gossip_ack", 1)
    );
}

#[test]
fn a_leaf_acknowledges_on_its_own_only_when_nothing_carries_it() {
    let mut h = node(1, 3, &[]);
    assert!(gossip(&mut h, "n0", 0, 3, 0, &[5, 6, 7]).is_empty());
    // Own data within the ack delay carries the acknowledgement. It covers our log from 0
    // (positions 0..3 came from the hub and are not for it) to 4.
    h.advance(T.ack_delay / 4);
    let out = broadcast(&mut h, 8);
    let g = of_kind(&out, "gossip");
    assert_eq!((g[0].u64("s"), g[0].u64("e"), g[0].u64("a"), g[0].values()), (0, 4, 3, vec![8]));
    assert!(ack(&mut h, "n0", 4).is_empty());
    assert!(h.advance(Duration::from_secs(5)).is_empty(), "no standalone ack needed");
    // Data with nothing going back: one standalone ack after ack_delay.
    assert!(gossip(&mut h, "n0", 3, 4, 4, &[9]).is_empty());
    assert!(h.advance(T.ack_delay - MS).is_empty());
    let out = parse(h.advance(MS));
    assert_eq!((out[0].kind.as_str(), out[0].u64("a")), ("gossip_ack", 4));
    // A retransmission of data already acknowledged is answered at once.
    let out = parse(h.line(
        r#"{"src":"n0","dest":"n1","body":{"type":"gossip","s":3,"e":4,"a":4,"r":1,"v":[9]}}"#,
    ));
    assert_eq!((out[0].kind.as_str(), out[0].u64("a")), ("gossip_ack", 4));
    assert_eq!(read(&mut h), [5, 6, 7, 8, 9]);
    assert!(!h.node.workload().unwrap().busy());
}

#[test]
fn a_gap_is_not_acknowledged_past() {
    let mut h = node(1, 3, &[]);
    // [2, 4) arrives but [0, 2) was lost: the values are kept, the ack stays at 0.
    assert!(gossip(&mut h, "n0", 2, 4, 0, &[3, 4]).is_empty());
    assert_eq!(read(&mut h), [3, 4]);
    assert!(h.advance(Duration::from_secs(5)).is_empty(), "nothing to acknowledge yet");
    // The retransmission from the acknowledged point fills it.
    let out = parse(h.line(
        r#"{"src":"n0","dest":"n1","body":{"type":"gossip","s":0,"e":4,"a":0,"r":1,"v":[1,2,3,4]}}"#,
    ));
    assert_eq!((out[0].kind.as_str(), out[0].u64("a")), ("gossip_ack", 4));
}

#[test]
fn mesh_sends_each_value_to_every_peer_at_once() {
    let mut h = node(0, 4, &["low-latency"]);
    let out = broadcast(&mut h, 1);
    let g = of_kind(&out, "gossip");
    let mut dests: Vec<&str> = g.iter().map(|o| o.dest.as_str()).collect();
    dests.sort_unstable();
    assert_eq!(dests, ["n1", "n2", "n3"]);
    // Values from other nodes are not relayed in a mesh; they are acknowledged.
    assert!(gossip(&mut h, "n1", 0, 1, 1, &[50]).is_empty());
    let out = broadcast(&mut h, 2);
    let g = of_kind(&out, "gossip");
    let to_n1 = g.iter().find(|o| o.dest == "n1").unwrap();
    assert_eq!((to_n1.u64("s"), to_n1.values(), to_n1.u64("a")), (1, vec![2], 1));
    let to_n2 = g.iter().find(|o| o.dest == "n2").unwrap();
    assert_eq!(to_n2.values(), [1, 2], "n2 has not acknowledged value 1 yet");
}

#[test]
fn a_large_backlog_is_split_into_contiguous_batches() {
    let mut h = node(0, 2, &[]);
    let n = MAX_BATCH as u64 * 2 + 5;
    for v in 0..n {
        broadcast(&mut h, v);
    }
    let out = parse(h.advance(T.relay_delay));
    assert_eq!(out.len(), 3);
    assert_eq!((out[0].u64("s"), out[0].u64("e")), (0, MAX_BATCH as u64));
    assert_eq!((out[1].u64("s"), out[1].u64("e")), (MAX_BATCH as u64, 2 * MAX_BATCH as u64));
    assert_eq!((out[2].u64("s"), out[2].u64("e")), (2 * MAX_BATCH as u64, n));
    let all: Vec<u64> = out.iter().flat_map(Out::values).collect();
    assert_eq!(all, (0..n).collect::<Vec<_>>());
}

#[test]
fn read_ok_of_200k_values_is_well_formed() {
    let mut h = node(1, 2, &[]);
    let n = 200_000u64;
    let vals: Vec<String> = (0..n).map(|v| (v * 7).to_string()).collect();
    let line = format!(
        r#"{{"src":"n0","dest":"n1","body":{{"type":"gossip","s":0,"e":{n},"a":0,"v":[{}]}}}}"#,
        vals.join(",")
    );
    assert!(h.line(&line).is_empty());
    let got = read(&mut h);
    assert_eq!(got.len(), n as usize);
    assert!(got.iter().enumerate().all(|(i, &v)| v == i as u64 * 7));
}

#[test]
fn an_idle_cluster_member_is_quiet() {
    let mut h = node(0, 25, &[]);
    assert!(!h.node.workload().unwrap().busy());
    assert!(h.advance(Duration::from_secs(60)).is_empty());
    assert_eq!(h.node.poll_timeout(), None);
}

#[test]
fn backoff_doubles_to_the_cap_with_bounded_jitter() {
    let t = T;
    assert_eq!(backoff(t, 1, 0.5), Duration::from_millis(500));
    assert_eq!(backoff(t, 2, 0.5), Duration::from_millis(1000));
    assert_eq!(backoff(t, 3, 0.5), Duration::from_millis(2000));
    assert_eq!(backoff(t, 30, 0.0), Duration::from_millis(1600));
    let wide = Tuning { rto_cap: Duration::from_secs(60), ..t };
    assert_eq!(backoff(wide, 4, 0.5), Duration::from_millis(4000));
    assert!(backoff(wide, 1000, 0.999) <= Duration::from_secs(72));
}

#[test]
fn hot_types_stay_small() {
    assert!(std::mem::size_of::<Timer>() <= 8);
    assert!(std::mem::size_of::<Link>() <= 96, "{}", std::mem::size_of::<Link>());
}

#[test]
fn data_starts_at_the_peers_acknowledgement_even_past_its_own_values() {
    let mut h = node(0, 3, &[]);
    broadcast(&mut h, 1); // position 0
    let out = parse(h.advance(T.relay_delay));
    assert_eq!(out.len(), 2);
    // n1's value lands at position 1; it has not seen our first message yet.
    assert!(gossip(&mut h, "n1", 0, 1, 0, &[7]).is_empty());
    broadcast(&mut h, 2); // position 2
    let out = parse(h.advance(T.relay_delay));
    let to_n1 = out.iter().find(|o| o.dest == "n1").unwrap();
    assert_eq!((to_n1.u64("s"), to_n1.u64("e"), to_n1.values()), (0, 3, vec![1, 2]));
    // n1 acknowledges only the first message. Position 1 is its own value, so we need not
    // resend it, but the next message must still start at 1, where n1 can chain it on.
    assert!(ack(&mut h, "n1", 1).is_empty());
    broadcast(&mut h, 3);
    let out = parse(h.advance(T.relay_delay));
    let to_n1 = out.iter().find(|o| o.dest == "n1").unwrap();
    assert_eq!((to_n1.u64("s"), to_n1.u64("e"), to_n1.values()), (1, 4, vec![2, 3]));
}
