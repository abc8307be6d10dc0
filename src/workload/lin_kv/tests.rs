//! The lin-kv node at the JSON level: a few nodes wired together by hand, clients' requests
//! and the replies they get.

use std::time::Duration;

use super::*;
use crate::node::harness::Harness;

/// Nodes `n0..` linked by an instant network that can cut nodes off.
struct Net {
    nodes: Vec<Harness<LinKv>>,
    /// Lines on their way to nodes.
    wire: Vec<String>,
    /// Lines nodes sent to clients.
    replies: Vec<String>,
    /// Nodes whose messages to and from other nodes are dropped.
    cut: Vec<bool>,
    /// `blocked[a][b]`: messages from a to b are dropped.
    blocked: Vec<Vec<bool>>,
    next_id: u64,
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &line[at..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim_matches('"'))
}

impl Net {
    fn new(n: usize, args: &[&str]) -> Net {
        let ids: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut nodes = Vec::new();
        for id in &ids {
            let mut h = Harness::<LinKv>::new(args);
            let out = h.init(id, &refs);
            assert!(out[0].contains("init_ok"), "{out:?}");
            nodes.push(h);
        }
        Net {
            nodes,
            wire: Vec::new(),
            replies: Vec::new(),
            cut: vec![false; n],
            blocked: vec![vec![false; n]; n],
            next_id: 1,
        }
    }

    fn route(&mut self, from: usize, lines: Vec<String>) {
        for l in lines {
            let dest = field(&l, "dest").expect("dest").to_owned();
            if dest.starts_with('c') {
                self.replies.push(l);
            } else {
                let to: usize = dest[1..].parse().expect("a node");
                if !self.cut[from] && !self.cut[to] && !self.blocked[from][to] {
                    self.wire.push(l);
                }
            }
        }
    }

    fn deliver(&mut self) {
        while !self.wire.is_empty() {
            for l in std::mem::take(&mut self.wire) {
                let to: usize = field(&l, "dest").unwrap()[1..].parse().unwrap();
                let out = self.nodes[to].line(&l);
                self.route(to, out);
            }
        }
    }

    /// Runs every node for `d` in 1 ms steps, delivering messages at once.
    fn run(&mut self, d: Duration) {
        for _ in 0..d.as_millis() {
            for i in 0..self.nodes.len() {
                let out = self.nodes[i].advance(Duration::from_millis(1));
                self.route(i, out);
            }
            self.deliver();
        }
    }

    fn leader(&self) -> Option<usize> {
        (0..self.nodes.len()).find(|&i| {
            self.nodes[i].node.workload().is_some_and(|w| w.raft().is_leader()) && !self.cut[i]
        })
    }

    /// A client request to node `i`; returns its msg_id.
    fn ask(&mut self, i: usize, body: &str) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let out = self.nodes[i]
            .line(&format!(r#"{{"src":"c1","dest":"n{i}","body":{{{body},"msg_id":{id}}}}}"#));
        self.route(i, out);
        self.deliver();
        id
    }

    /// The reply to msg_id `id`, if it came.
    fn reply(&self, id: u64) -> Option<&str> {
        let want = id.to_string();
        let mut found = self.replies.iter().filter(|l| field(l, "in_reply_to") == Some(&want));
        let r = found.next().map(String::as_str);
        assert!(found.next().is_none(), "one reply per request");
        r
    }
}

#[test]
fn one_node_serves_the_whole_contract() {
    let mut net = Net::new(1, &[]);
    net.run(Duration::from_millis(700));
    assert_eq!(net.leader(), Some(0));
    let r = net.ask(0, r#""type":"read","key":1"#);
    net.run(Duration::from_millis(100));
    assert!(net.reply(r).unwrap().contains(r#""code":20"#));
    let w = net.ask(0, r#""type":"write","key":1,"value":{"a":[1,"x"]}"#);
    net.run(Duration::from_millis(100));
    assert!(net.reply(w).unwrap().contains("write_ok"));
    let c = net.ask(0, r#""type":"cas","key":1,"from":3,"to":4"#);
    let c2 = net.ask(0, r#""type":"cas","key":1,"from":{"a":[1,"x"]},"to":"y""#);
    let c3 = net.ask(0, r#""type":"cas","key":2,"from":1,"to":2"#);
    let c4 = net.ask(0, r#""type":"cas","key":2,"from":1,"to":2,"create_if_not_exists":true"#);
    net.run(Duration::from_millis(100));
    assert!(net.reply(c).unwrap().contains(r#""code":22"#));
    assert!(net.reply(c2).unwrap().contains("cas_ok"));
    assert!(net.reply(c3).unwrap().contains(r#""code":20"#));
    assert!(net.reply(c4).unwrap().contains("cas_ok"));
    let r = net.ask(0, r#""type":"read","key":1"#);
    net.run(Duration::from_millis(100));
    let reply = net.reply(r).unwrap();
    assert!(reply.contains(r#""type":"read_ok""#) && reply.contains(r#""value":"y""#), "{reply}");
}

#[test]
fn bad_requests_get_definite_errors_at_once() {
    let mut net = Net::new(1, &[]);
    let big = format!(r#""type":"write","key":1,"value":"{}""#, "x".repeat(70_000));
    for (body, code) in [
        (r#""type":"write","key":1"#, 12),
        (r#""type":"cas","key":1,"from":1"#, 12),
        (r#""type":"read""#, 12),
        (big.as_str(), 12),
        (r#""type":"frob""#, 10),
    ] {
        let id = net.ask(0, body);
        let r = net.reply(id).unwrap_or_else(|| panic!("no reply to {body}"));
        assert!(r.contains(&format!(r#""code":{code}"#)), "{body}: {r}");
    }
}

#[test]
fn followers_forward_and_the_leader_answers_the_client_directly() {
    let mut net = Net::new(3, &[]);
    net.run(Duration::from_millis(1000));
    let l = net.leader().expect("a leader");
    let f = (l + 1) % 3;
    let w = net.ask(f, r#""type":"write","key":"k","value":7"#);
    net.run(Duration::from_millis(200));
    let reply = net.reply(w).expect("answered");
    assert!(reply.contains("write_ok"), "{reply}");
    assert_eq!(field(reply, "src"), Some(format!("n{l}").as_str()), "from the leader");
    let r = net.ask((l + 2) % 3, r#""type":"read","key":"k""#);
    net.run(Duration::from_millis(200));
    assert!(net.reply(r).unwrap().contains(r#""value":7"#));
    // Every node applied the write.
    net.run(Duration::from_millis(300));
    for h in &net.nodes {
        assert_eq!(h.node.workload().unwrap().kv().len(), 1);
    }
}

#[test]
fn without_a_leader_a_request_waits_then_fails_definitely() {
    let mut net = Net::new(3, &[]);
    net.cut[0] = true;
    net.run(Duration::from_millis(50));
    let w = net.ask(0, r#""type":"write","key":1,"value":1"#);
    net.run(Duration::from_millis(700));
    assert!(net.reply(w).is_none(), "it waits for a leader");
    net.run(Duration::from_millis(200));
    let r = net.reply(w).expect("then fails");
    assert!(r.contains(r#""code":11"#), "{r}");
}

#[test]
fn a_waiting_request_goes_through_once_a_leader_appears() {
    let mut net = Net::new(3, &[]);
    net.run(Duration::from_millis(5));
    // Nobody leads yet: the request waits, and is forwarded once a leader is known.
    assert_eq!(net.leader(), None);
    let w = net.ask(1, r#""type":"write","key":1,"value":1"#);
    net.run(Duration::from_millis(1000));
    assert!(net.reply(w).unwrap().contains("write_ok"));
}

#[test]
fn a_write_stranded_on_a_deposed_leader_fails_definitely_once_overwritten() {
    let mut net = Net::new(3, &[]);
    net.run(Duration::from_millis(1000));
    let old = net.leader().unwrap();
    // The leader is cut off before its next round: its entry reaches nobody.
    net.cut[old] = true;
    let w = net.ask(old, r#""type":"write","key":1,"value":1"#);
    net.run(Duration::from_millis(1500));
    let new = net.leader().expect("the others elect a leader");
    assert_ne!(new, old);
    let w2 = net.ask(new, r#""type":"write","key":1,"value":2"#);
    net.run(Duration::from_millis(200));
    assert!(net.reply(w2).unwrap().contains("write_ok"));
    assert!(net.reply(w).is_none(), "unknown while cut off");
    // Healed, the old leader learns that another entry holds its index: its write can
    // never take effect, which is a definite failure.
    net.cut[old] = false;
    net.run(Duration::from_millis(500));
    let r = net.reply(w).expect("answered after the heal");
    assert!(r.contains(r#""code":11"#), "{r}");
    let r = net.ask(old, r#""type":"read","key":1"#);
    net.run(Duration::from_millis(200));
    assert!(net.reply(r).unwrap().contains(r#""value":2"#));
}

#[test]
fn a_write_replicated_before_its_leader_is_cut_off_is_still_acknowledged() {
    let mut net = Net::new(3, &["--batch-ms=0"]);
    net.run(Duration::from_millis(1000));
    let old = net.leader().unwrap();
    // The round carrying the write leaves at once and reaches both followers, but the
    // answers are lost: the old leader cannot commit it.
    let id = net.next_id;
    net.next_id += 1;
    let out = net.nodes[old]
        .line(&format!(r#"{{"src":"c1","dest":"n{old}","body":{{"type":"write","key":1,"value":5,"msg_id":{id}}}}}"#));
    net.route(old, out);
    net.cut[old] = true;
    let lines = std::mem::take(&mut net.wire);
    net.cut[old] = false;
    for l in lines {
        let to: usize = field(&l, "dest").unwrap()[1..].parse().unwrap();
        net.nodes[to].line(&l);
    }
    net.cut[old] = true;
    net.run(Duration::from_millis(1500));
    assert!(net.reply(id).is_none());
    // The new leader commits the entry with its own no-op; once healed, the old leader
    // applies it and answers its client after all.
    net.cut[old] = false;
    net.run(Duration::from_millis(500));
    assert!(net.reply(id).expect("acknowledged").contains("write_ok"));
}

#[test]
fn tuning_words_are_read_and_unknown_words_ignored() {
    let args: Vec<String> =
        ["--batch-ms=10", "--election-ms=400", "frugal", "--compact-every=0", "--wait-ms=x"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
    let (t, ignored) = Tuning::from_args(&args);
    assert_eq!(t.raft.batch, Duration::from_millis(10));
    assert_eq!(t.raft.election_min, Duration::from_millis(400));
    assert_eq!(t.raft.election_max, Duration::from_millis(800));
    assert_eq!(t.fresh, 2 * Tuning::default().raft.heartbeat, "two heartbeats by default");
    assert_eq!(ignored, ["frugal", "--compact-every=0", "--wait-ms=x"]);
}

/// Maelstrom's majorities-ring on three nodes: each node hears only its predecessor, so no
/// two nodes can exchange a request and its answer. Returns how many of 30 writes (ten at
/// each node) were acknowledged.
fn writes_through_a_directed_ring(args: &[&str]) -> usize {
    let mut net = Net::new(3, args);
    net.run(Duration::from_millis(1000));
    for a in 0..3 {
        for b in 0..3 {
            // a -> b works only for b = a + 1.
            net.blocked[a][b] = a != b && b != (a + 1) % 3;
        }
    }
    net.run(Duration::from_millis(5000));
    let mut acked = 0;
    for round in 0..10 {
        for i in 0..3 {
            let w = net.ask(i, &format!(r#""type":"write","key":{i},"value":{round}"#));
            net.run(Duration::from_millis(300));
            acked += usize::from(net.reply(w).is_some_and(|r| r.contains("write_ok")));
        }
    }
    acked
}

#[test]
fn relays_keep_a_three_node_directed_ring_available() {
    let with = writes_through_a_directed_ring(&[]);
    assert!(with >= 28, "{with} of 30 writes acknowledged through relays");
    let without = writes_through_a_directed_ring(&["--relay=0"]);
    assert_eq!(without, 0, "plain Raft cannot elect anyone in a directed ring");
}
