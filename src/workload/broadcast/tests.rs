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

    /// An array field of integers.
    fn nums(&self, k: &str) -> Vec<u64> {
        let arr = self.body.get(k).and_then(|v| v.as_array()).unwrap_or_else(|| panic!("{k}"));
        arr.iter().map(|v| v.as_u64().expect("integers")).collect()
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
    let me = h.node.workload().map(|w| w.gossip().name().to_owned()).unwrap();
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
    assert_eq!(read(&mut h), [0, 7, u64::MAX], "dense values ascending, then the others");
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
    // Own data within the ack delay carries the acknowledgement. A leaf's ring holds only
    // what it sends on (its own clients' values), so ours is position 0.
    h.advance(T.ack_delay / 4);
    let out = broadcast(&mut h, 8);
    let g = of_kind(&out, "gossip");
    assert_eq!((g[0].u64("s"), g[0].u64("e"), g[0].u64("a"), g[0].values()), (0, 1, 3, vec![8]));
    assert!(ack(&mut h, "n0", 1).is_empty());
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
    // A ring that holds the whole backlog (the default one would lap the silent peer).
    let mut h = node(0, 2, &["--ring=65536"]);
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
    let b = |t: Tuning, attempt, unit| gossip::backoff(t.retry, t.rto_cap, attempt, unit);
    assert_eq!(b(t, 1, 0.5), Duration::from_millis(500));
    assert_eq!(b(t, 2, 0.5), Duration::from_millis(1000));
    assert_eq!(b(t, 3, 0.5), Duration::from_millis(2000));
    assert_eq!(b(t, 30, 0.0), Duration::from_millis(1600));
    let wide = Tuning { rto_cap: Duration::from_secs(60), ..t };
    assert_eq!(b(wide, 4, 0.5), Duration::from_millis(4000));
    assert!(b(wide, 1000, 0.999) <= Duration::from_secs(72));
}

#[test]
fn hot_types_stay_small() {
    assert!(std::mem::size_of::<Timer>() <= 8);
    assert!(std::mem::size_of::<queue::Cursor>() <= 40, "{}", std::mem::size_of::<queue::Cursor>());
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

/// Feeds a `sync_have` from `src`.
fn have(h: &mut Harness<Broadcast>, src: &str, p: u64, f: u64, blocks: &[u64]) -> Vec<Out> {
    let b: Vec<String> = blocks.iter().map(u64::to_string).collect();
    parse(h.line(&format!(
        r#"{{"src":"{src}","dest":"n0","body":{{"type":"sync_have","p":{p},"f":{f},"h":[{}]}}}}"#,
        b.join(",")
    )))
}

#[test]
fn a_lapped_peer_is_resynced_by_digest_and_rejoins_the_ring_where_the_pass_began() {
    // A hub with one leaf and a ring of four entries.
    let mut h = node(0, 2, &["--ring=4"]);
    for v in 1..=4 {
        assert_eq!(broadcast(&mut h, v).len(), 1, "batched");
    }
    let out = parse(h.advance(T.relay_delay));
    assert_eq!((out[0].u64("s"), out[0].u64("e"), out[0].values()), (0, 4, vec![1, 2, 3, 4]));
    // No acknowledgement. The fifth value finds the ring full at its bound with n1 four
    // behind: n1 is lapped, and (not being suspect) gets the first digest at once.
    let out = broadcast(&mut h, 5);
    let w = h.node.workload().unwrap();
    assert!(w.gossip().resyncing(1) && !w.gossip().queue().on_ring(1));
    assert_eq!(w.gossip().queue().laps(), 1);
    let sync = of_kind(&out, "sync");
    assert_eq!(sync.len(), 1, "{out:?}");
    assert_eq!((sync[0].u64("p"), sync[0].u64("f")), (5, 0), "the pass began at the head");
    assert!(!sync[0].has("v") && !sync[0].has("t"));
    let d = sync[0].nums("d");
    assert_eq!((d.len(), d[0]), (2, 0), "one non-empty block: 0");
    // Nothing more goes to n1 on the ring while it is off it.
    assert!(parse(h.advance(T.relay_delay)).is_empty());
    // n1 has 1 and 2 only (the gossip was cut short, say): it describes block 0 by ranges.
    // The hub sends 3, 4 and 5, and, having sent something, starts a new pass to check.
    let out = have(&mut h, "n1", 5, 0, &[0, 2, 1, 2]);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].kind, "sync");
    assert_eq!((out[0].u64("p"), out[0].values()), (5, vec![3, 4, 5]));
    assert_eq!((out[0].u64("f"), out[0].nums("d").len()), (0, 2));
    // A stale or unknown answer changes nothing.
    assert!(have(&mut h, "n1", 99, 0, &[]).is_empty());
    assert!(have(&mut h, "n1", 5, 7, &[]).is_empty());
    // Now the digests agree (an empty description): n1 rejoins the ring at 5.
    assert!(have(&mut h, "n1", 5, 0, &[]).is_empty());
    let w = h.node.workload().unwrap();
    assert!(!w.gossip().resyncing(1) && w.gossip().queue().on_ring(1));
    assert_eq!(w.gossip().stats().rejoined, 1);
    assert_eq!(w.gossip().stats().synced, 3);
    // The next data starts at the pass's start and says n1 has everything below it.
    broadcast(&mut h, 6);
    let out = parse(h.advance(T.relay_delay));
    assert_eq!((out[0].u64("s"), out[0].u64("e"), out[0].values()), (5, 6, vec![6]));
    assert_eq!(out[0].u64("y"), 1);
    // Once n1 acknowledges from there, the flag is dropped.
    assert!(ack(&mut h, "n1", 6).is_empty());
    broadcast(&mut h, 7);
    let out = parse(h.advance(T.relay_delay));
    assert_eq!((out[0].u64("s"), out[0].values(), out[0].has("y")), (6, vec![7], false));
    assert!(ack(&mut h, "n1", 7).is_empty());
    assert!(!h.node.workload().unwrap().busy());
}

#[test]
fn an_unreachable_lapped_peer_is_probed_with_backoff_and_resynced_once_heard() {
    let mut h = node(0, 2, &["--ring=4"]);
    broadcast(&mut h, 1);
    h.advance(T.relay_delay);
    // n1 is away: retransmissions back off; then the ring laps it.
    h.advance(T.rto + Duration::from_secs(3));
    for v in 2..=6 {
        broadcast(&mut h, v);
    }
    assert!(h.node.workload().unwrap().gossip().resyncing(1));
    // Digests go out at most once per backoff interval, capped at sync_cap (+20% jitter).
    let mut times = Vec::new();
    for step in 0..20_000 {
        let out = parse(h.advance(MS));
        for o in &out {
            assert_eq!(o.kind, "sync", "{o:?}");
            times.push(step);
        }
    }
    assert!((14..=30).contains(&times.len()), "{} digests in 20 s: {times:?}", times.len());
    for w in times[3..].windows(2) {
        assert!((800..=1200).contains(&(w[1] - w[0])), "gap {} ms", w[1] - w[0]);
    }
    // n1 comes back (an acknowledgement of nothing new): the digest goes at once.
    let idle = 20_000 - times.last().unwrap();
    if idle <= T.retry.as_millis() as u64 {
        h.advance(T.retry);
    }
    let out = ack(&mut h, "n1", 0);
    assert_eq!(of_kind(&out, "sync").len(), 1, "{out:?}");
    let p = out[0].u64("p");
    let out = have(&mut h, "n1", p, 0, &[0, 2, 1, 1]);
    assert_eq!(out[0].values(), [2, 3, 4, 5, 6]);
    let p = out[0].u64("p");
    assert!(have(&mut h, "n1", p, 0, &[]).is_empty());
    assert!(h.node.workload().unwrap().gossip().queue().on_ring(1));
}

#[test]
fn a_receiver_answers_a_digest_with_its_ranges_and_takes_the_floor() {
    let mut h = node(1, 3, &[]);
    assert!(gossip(&mut h, "n0", 0, 4, 0, &[10, 11, 12, 20]).is_empty());
    // A digest that differs in block 0, with a value we lack: learned first, then described.
    let out = parse(h.line(
        r#"{"src":"n0","dest":"n1","body":{"type":"sync","p":9,"v":[30],"f":0,"d":[0,12345,4096,1]}}"#,
    ));
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].kind, "sync_have");
    assert_eq!((out[0].u64("p"), out[0].u64("f"), out[0].has("n")), (9, 0, false));
    // Block 0 as ranges; block 4096 (a sparse bucket we have nothing in) with no numbers.
    assert_eq!(out[0].nums("h"), [0, 6, 10, 12, 20, 20, 30, 30, 4096, 0]);
    // A digest cut short (`t`) is answered with where to go on.
    let out = parse(
        h.line(r#"{"src":"n0","dest":"n1","body":{"type":"sync","p":9,"f":0,"d":[],"t":17}}"#),
    );
    assert_eq!((out[0].nums("h"), out[0].u64("n")), (vec![], 17));
    // Data only: learned, not answered.
    let out = parse(h.line(r#"{"src":"n0","dest":"n1","body":{"type":"sync","p":9,"v":[31,32]}}"#));
    assert!(out.is_empty(), "{out:?}");
    let mut got = read(&mut h);
    got.sort_unstable();
    assert_eq!(got, [10, 11, 12, 20, 30, 31, 32]);
    // The sender's next data carries `y`: our position for it jumps to `s` and on to `e`.
    assert!(h.advance(Duration::from_secs(10)).iter().any(|l| l.contains("\"a\":4")));
    let out = parse(h.line(
        r#"{"src":"n0","dest":"n1","body":{"type":"gossip","s":9,"a":0,"y":1,"v":[40],"e":10}}"#,
    ));
    assert!(out.is_empty());
    let out = parse(h.advance(T.ack_delay));
    assert_eq!((out[0].kind.as_str(), out[0].u64("a")), ("gossip_ack", 10));
    // Malformed resync messages are rejected whole.
    for body in [
        r#""type":"sync","msg_id":1,"p":1,"f":0,"d":[1]"#,
        r#""type":"sync","msg_id":1,"p":1,"d":[1,2]"#,
        r#""type":"sync","msg_id":1,"p":1,"f":0,"d":[99999,2]"#,
        r#""type":"sync","msg_id":1,"p":1,"v":["x"]"#,
        r#""type":"sync","msg_id":1,"v":[1]"#,
        r#""type":"sync_have","msg_id":1,"p":1,"f":0"#,
        r#""type":"sync_have","msg_id":1,"p":1,"f":0,"h":[-1]"#,
    ] {
        let out = parse(h.line(&format!(r#"{{"src":"n0","dest":"n1","body":{{{body}}}}}"#)));
        assert_eq!((out[0].kind.as_str(), out[0].u64("code")), ("error", 12), "{body}");
    }
    let mut after = read(&mut h);
    after.sort_unstable();
    assert_eq!(after, [10, 11, 12, 20, 30, 31, 32, 40]);
}
