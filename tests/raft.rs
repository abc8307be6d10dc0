//! End to end: the lin-kv (Raft) node.
//!
//! - Through the bench, judged by its linearizability checker: Maelstrom's Raft settings
//!   (3 and 5 nodes, partitions), random faults (latency, loss, partitions), and the real
//!   binary in process mode.
//! - A dedicated scenario, whole nodes exchanging JSON lines over a seeded simulated network:
//!   clients write while the leader is cut off from everyone in the middle of it; after the
//!   partition heals, every acknowledged write must still be there. A deliberately broken node
//!   (it acknowledges writes before they commit) shows the check fails when a write is lost.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use glomers::node::{Machine, Node, Output};
use glomers::proto::PADDING;
use glomers::rng::Rng;
use glomers::sim::opts::TestOpts;
use glomers::sim::workloads::Validity;
use glomers::time::Instant;
use glomers::workload::lin_kv::LinKv;

/// A node under test: the real one, or one that lies.
trait Server: Machine {
    fn is_leader(&self) -> bool;
}

impl Server for Node<LinKv> {
    fn is_leader(&self) -> bool {
        self.workload().is_some_and(|w| w.raft().is_leader())
    }
}

/// The real node, except that it acknowledges every write the moment it arrives (and still
/// passes it on): a write a cut-off leader accepts is acknowledged and then lost.
struct EagerAck(Node<LinKv>);

impl Machine for EagerAck {
    fn handle_line(&mut self, now: Instant, line: &mut [u8], len: usize, out: &mut Output) {
        let text = String::from_utf8_lossy(&line[..len]).into_owned();
        if text.contains(r#""type":"write""#) && text.contains(r#""src":"c"#) {
            let src = field(&text, "src").unwrap().to_owned();
            let dest = field(&text, "dest").unwrap().to_owned();
            let id = field(&text, "msg_id").unwrap().to_owned();
            out.msgs.extend_from_slice(
                format!(
                    r#"{{"src":"{dest}","dest":"{src}","body":{{"type":"write_ok","in_reply_to":{id}}}}}"#
                )
                .as_bytes(),
            );
            out.msgs.push(b'\n');
        }
        self.0.handle_line(now, line, len, out);
    }

    fn handle_timeout(&mut self, now: Instant, out: &mut Output) {
        self.0.handle_timeout(now, out);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }
}

impl Server for EagerAck {
    fn is_leader(&self) -> bool {
        self.0.is_leader()
    }
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &line[at..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(rest[..end].trim_matches('"'))
}

/// A client: one request at a time, timing out after a second as Maelstrom's do.
#[derive(Default)]
struct Client {
    node: usize,
    /// The request in flight: msg_id, key, value (None for a read), deadline.
    pending: Option<(u64, u64, Option<u64>, Instant)>,
    /// No new request before this (a client waits a millisecond between requests).
    idle_until: Instant,
}

struct Cluster {
    nodes: Vec<Box<dyn Server>>,
    outs: Vec<Output>,
    now: Instant,
    rng: Rng,
    /// Lines in flight: (delivery time, sequence) -> (from, to, line).
    wire: BTreeMap<(Instant, u64), (usize, usize, String)>,
    seq: u64,
    /// Nodes cut off from all others.
    cut: Vec<bool>,
    clients: Vec<Client>,
    next_msg: u64,
    next_key: u64,
    /// Writes acknowledged: key -> value.
    acked: HashMap<u64, u64>,
    /// Reads answered: key -> value (None: key does not exist).
    reads: HashMap<u64, Option<u64>>,
    failed: usize,
    timed_out: usize,
}

impl Cluster {
    fn new(n: usize, seed: u64, liar: bool) -> Cluster {
        let ids: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
        let list = ids.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(",");
        let mut nodes: Vec<Box<dyn Server>> = Vec::new();
        let mut outs = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let node = Node::<LinKv>::new(Vec::new(), seed.wrapping_add(i as u64));
            let mut node: Box<dyn Server> =
                if liar { Box::new(EagerAck(node)) } else { Box::new(node) };
            let mut out = Output::default();
            let init = format!(
                r#"{{"src":"c0","dest":"{id}","body":{{"type":"init","msg_id":1,"node_id":"{id}","node_ids":[{list}]}}}}"#
            );
            feed(node.as_mut(), Instant::ZERO, &init, &mut out);
            out.msgs.clear();
            nodes.push(node);
            outs.push(out);
        }
        let clients = (0..2 * n).map(|c| Client { node: c % n, ..Client::default() }).collect();
        Cluster {
            nodes,
            outs,
            now: Instant::ZERO,
            rng: Rng::new(seed),
            wire: BTreeMap::new(),
            seq: 0,
            cut: vec![false; n],
            clients,
            next_msg: 1,
            next_key: 0,
            acked: HashMap::new(),
            reads: HashMap::new(),
            failed: 0,
            timed_out: 0,
        }
    }

    fn leader(&self) -> Option<usize> {
        (0..self.nodes.len()).find(|&i| self.nodes[i].is_leader() && !self.cut[i])
    }

    /// Routes what node `i` wrote: to clients at once, to nodes after 0-5 ms.
    fn route(&mut self, i: usize) {
        let text = String::from_utf8(std::mem::take(&mut self.outs[i].msgs)).unwrap();
        for line in text.lines() {
            let dest = field(line, "dest").unwrap();
            if let Some(c) = dest.strip_prefix('c') {
                let c: usize = c.parse().unwrap();
                self.client_reply(c - 1, line);
            } else {
                let to: usize = dest[1..].parse().unwrap();
                let at = self.now + Duration::from_micros(self.rng.below(5_000));
                self.seq += 1;
                self.wire.insert((at, self.seq), (i, to, line.to_owned()));
            }
        }
    }

    fn client_reply(&mut self, c: usize, line: &str) {
        let Some(client) = self.clients.get_mut(c) else { return };
        let Some((id, key, value, _)) = client.pending else { return };
        if field(line, "in_reply_to") != Some(id.to_string().as_str()) {
            return; // a late reply to a request the client gave up on
        }
        client.pending = None;
        client.idle_until = self.now + Duration::from_millis(1);
        match (field(line, "type"), value) {
            (Some("write_ok"), Some(v)) => {
                self.acked.insert(key, v);
            }
            (Some("read_ok"), None) => {
                let v = field(line, "value").and_then(|v| v.parse().ok());
                self.reads.insert(key, v);
            }
            (Some("error"), None) if field(line, "code") == Some("20") => {
                self.reads.insert(key, None);
            }
            (Some("error"), _) => self.failed += 1,
            other => panic!("unexpected reply {other:?}: {line}"),
        }
    }

    /// Client `c` sends a request: a write of a fresh key, or a read of `key`.
    fn send(&mut self, c: usize, read: Option<u64>) {
        let id = self.next_msg;
        self.next_msg += 1;
        let node = self.clients[c].node;
        let (key, value, body) = match read {
            Some(k) => (k, None, format!(r#""type":"read","key":{k}"#)),
            None => {
                self.next_key += 1;
                let (k, v) = (self.next_key, self.rng.below(1000));
                (k, Some(v), format!(r#""type":"write","key":{k},"value":{v}"#))
            }
        };
        let deadline = self.now + Duration::from_secs(1);
        self.clients[c].pending = Some((id, key, value, deadline));
        let line =
            format!(r#"{{"src":"c{}","dest":"n{node}","body":{{{body},"msg_id":{id}}}}}"#, c + 1);
        feed(self.nodes[node].as_mut(), self.now, &line, &mut self.outs[node]);
        self.route(node);
    }

    /// Runs the network and timers for `d`; idle writers start a new write when `writing`.
    fn run(&mut self, d: Duration, writing: bool) {
        let end = self.now + d;
        loop {
            let msg = self.wire.keys().next().map(|k| k.0);
            let timer = self.nodes.iter().filter_map(|n| n.poll_timeout()).min();
            let tick = self.now + Duration::from_millis(1);
            let at = [msg, timer, Some(tick)].into_iter().flatten().min().unwrap();
            if at > end {
                self.now = end;
                return;
            }
            self.now = at;
            while let Some((&k, _)) = self.wire.iter().next().filter(|(k, _)| k.0 <= self.now) {
                let (from, to, line) = self.wire.remove(&k).unwrap();
                if !self.cut[from] && !self.cut[to] {
                    feed(self.nodes[to].as_mut(), self.now, &line, &mut self.outs[to]);
                    self.route(to);
                }
            }
            for i in 0..self.nodes.len() {
                if self.nodes[i].poll_timeout().is_some_and(|t| t <= self.now) {
                    self.nodes[i].handle_timeout(self.now, &mut self.outs[i]);
                    self.route(i);
                }
            }
            for c in 0..self.clients.len() {
                match self.clients[c].pending {
                    Some((.., deadline)) if deadline <= self.now => {
                        self.clients[c].pending = None;
                        self.timed_out += 1;
                    }
                    None if writing && self.clients[c].idle_until <= self.now => self.send(c, None),
                    _ => {}
                }
            }
        }
    }

    /// Reads every acknowledged key back, all clients at once, retrying failed reads.
    fn read_back(&mut self) {
        let mut todo: Vec<u64> = self.acked.keys().copied().collect();
        todo.sort_unstable();
        let mut asked: Vec<Option<u64>> = vec![None; self.clients.len()];
        let give_up = self.now + Duration::from_secs(60);
        while (!todo.is_empty() || asked.iter().any(Option::is_some)) && self.now < give_up {
            for (c, asked) in asked.iter_mut().enumerate() {
                if self.clients[c].pending.is_some() || self.clients[c].idle_until > self.now {
                    continue;
                }
                // The last read finished: answered, or failed and to be retried.
                if let Some(k) = asked.take() {
                    if !self.reads.contains_key(&k) {
                        todo.push(k);
                    }
                }
                if let Some(k) = todo.pop() {
                    *asked = Some(k);
                    self.send(c, Some(k));
                }
            }
            self.run(Duration::from_millis(1), false);
        }
    }
}

fn feed(node: &mut dyn Server, now: Instant, line: &str, out: &mut Output) {
    let mut buf = line.as_bytes().to_vec();
    let len = buf.len();
    buf.resize(len + PADDING, b' ');
    node.handle_line(now, &mut buf, len, out);
}

/// The scenario: a healthy cluster, then the leader cut off while clients write (at a random
/// point between rounds), then healed. Returns the writes acknowledged but lost.
fn leader_cut_off_mid_write(n: usize, seed: u64, liar: bool) -> Vec<u64> {
    let mut c = Cluster::new(n, seed, liar);
    c.run(Duration::from_secs(2), false);
    let d = Duration::from_millis(500 + c.rng.below(100));
    c.run(d, true);
    let old = c.leader().expect("a leader after two seconds");
    c.cut[old] = true;
    let before = c.acked.len();
    // Four seconds: enough for the majority to elect a leader even after a split vote.
    c.run(Duration::from_secs(4), true);
    let new = c.leader().expect("the majority elects a new leader");
    assert_ne!(new, old);
    assert!(c.acked.len() > before + 10, "seed {seed}: writes go on without the old leader");
    c.cut[old] = false;
    c.run(Duration::from_secs(2), true);
    c.run(Duration::from_secs(2), false);
    if !liar {
        assert!(c.timed_out + c.failed > 0, "seed {seed}: the old leader's clients noticed");
    }
    c.read_back();
    let mut lost: Vec<u64> = c
        .acked
        .iter()
        .filter(|(k, v)| c.reads.get(k) != Some(&Some(**v)))
        .map(|(k, _)| *k)
        .collect();
    lost.sort_unstable();
    lost
}

#[test]
fn no_acknowledged_write_is_lost_when_the_leader_is_cut_off_mid_write() {
    for n in [3, 5] {
        for seed in 0..6 {
            let lost = leader_cut_off_mid_write(n, seed, false);
            assert!(lost.is_empty(), "{n} nodes, seed {seed}: acknowledged writes lost: {lost:?}");
        }
    }
}

#[test]
fn the_check_catches_a_node_that_acknowledges_before_commit() {
    let lost = leader_cut_off_mid_write(3, 0, true);
    assert!(!lost.is_empty(), "the cut-off leader's early acknowledgements are lost writes");
}

fn bench(flags: &str) -> TestOpts {
    let args: Vec<String> = format!("-w lin-kv --concurrency 4n --no-store --quiet {flags}")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    TestOpts::parse(&args).expect("valid flags")
}

/// Maelstrom's Raft chapter: `--node-count 3 --concurrency 4n --rate 30 --time-limit 60
/// --nemesis partition --nemesis-interval 10`, and 5 nodes. (`glomers sweep --seeds 0..200`
/// runs many more seeds.)
#[test]
fn the_guide_settings_are_linearizable_with_partitions() {
    for (n, most_msgs) in [(3, 1.8), (5, 3.0)] {
        for seed in 0..3 {
            let o = glomers::sim::run(&bench(&format!(
                "--node-count {n} --rate 30 --time-limit 60 --nemesis partition \
                 --nemesis-interval 10 --seed {seed}"
            )))
            .expect("the test runs");
            assert_eq!(o.valid, Validity::True, "{n} nodes, seed {seed}: {}", o.summary);
            assert!(o.op_count > 1500, "{n} nodes, seed {seed}: {} ops", o.op_count);
            assert!(o.msgs_per_op_servers < most_msgs, "{n} nodes, seed {seed}: {}", o.summary);
        }
    }
}

#[test]
fn random_faults_never_break_linearizability() {
    for n in [3, 5] {
        for seed in 0..6 {
            let base = bench(&format!("--node-count {n} --rate 30 --time-limit 30"));
            let o = glomers::sim::run(&glomers::sim::scenario::with_faults(&base, seed))
                .expect("the test runs");
            assert_eq!(o.valid, Validity::True, "{n} nodes, seed {seed}: {}", o.summary);
        }
    }
}

#[test]
fn the_binary_passes_in_process_mode() {
    let o = glomers::sim::run(&bench(&format!(
        "--bin {} --node-count 3 --rate 30 --time-limit 5 --nemesis partition \
         --nemesis-interval 1",
        env!("CARGO_BIN_EXE_glomers-lin-kv")
    )))
    .expect("the binary starts");
    assert_eq!(o.valid, Validity::True, "{}", o.summary);
    assert!(o.faults.is_empty(), "{}", o.summary);
    assert!(o.ok_fraction > 0.2, "{}", o.summary);
}

#[test]
fn the_bench_rejects_a_node_that_acknowledges_before_commit() {
    let invalid = (0..10u64).any(|seed| {
        let o = bench(&format!(
            "--node-count 3 --rate 30 --time-limit 60 --nemesis partition --seed {seed}"
        ));
        let make = |i: usize| -> Box<dyn Machine> {
            Box::new(EagerAck(Node::<LinKv>::new(Vec::new(), seed.wrapping_add(i as u64))))
        };
        glomers::sim::run_nodes(&o, &make).expect("the test runs").valid == Validity::False
    });
    assert!(invalid, "early acknowledgements show up as non-linearizable histories");
}
