//! A synchronous test harness: drive one node with JSON strings and read its output lines.
//!
//! Used by unit tests, end-to-end tests, benches and fuzz targets. Time is virtual and only
//! moves when the caller says so.

use std::time::Duration;

use super::{Machine, Node, Output, Workload};
use crate::proto::PADDING;
use crate::time::Instant;

/// One node, fed by hand.
pub struct Harness<W: Workload> {
    /// The node under test.
    pub node: Node<W>,
    /// Current virtual time.
    pub now: Instant,
    out: Output,
    line: Vec<u8>,
    log: String,
}

impl<W: Workload> Harness<W> {
    /// A node with these command-line words and seed 0, not yet initialised.
    pub fn new(args: &[&str]) -> Self {
        let args = args.iter().map(|s| (*s).to_owned()).collect();
        Harness {
            node: Node::new(args, 0),
            now: Instant::ZERO,
            out: Output::default(),
            line: Vec::new(),
            log: String::new(),
        }
    }

    /// Sends `init` for node `id` of `ids` (from client `c0`) and returns the output.
    pub fn init(&mut self, id: &str, ids: &[&str]) -> Vec<String> {
        let ids: Vec<String> = ids.iter().map(|s| format!("\"{s}\"")).collect();
        self.line(&format!(
            r#"{{"src":"c0","dest":"{id}","body":{{"type":"init","msg_id":1,"node_id":"{id}","node_ids":[{}]}}}}"#,
            ids.join(",")
        ))
    }

    /// Feeds one raw line (no newline) and returns the output lines it caused.
    pub fn line_bytes(&mut self, bytes: &[u8]) -> Vec<String> {
        self.line.clear();
        self.line.extend_from_slice(bytes);
        let len = self.line.len();
        self.line.resize(len + PADDING, b' ');
        self.node.handle_line(self.now, &mut self.line, len, &mut self.out);
        self.drain()
    }

    /// Feeds one line of JSON text and returns the output lines it caused.
    pub fn line(&mut self, json: &str) -> Vec<String> {
        self.line_bytes(json.as_bytes())
    }

    /// Advances virtual time by `d`, firing timers at their deadlines, and returns the output.
    pub fn advance(&mut self, d: Duration) -> Vec<String> {
        let end = self.now + d;
        while let Some(at) = self.node.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.node.handle_timeout(self.now, &mut self.out);
        }
        self.now = end;
        self.drain()
    }

    /// Everything the node has logged so far.
    pub fn log(&self) -> &str {
        &self.log
    }

    fn drain(&mut self) -> Vec<String> {
        self.log.push_str(&String::from_utf8_lossy(&self.out.log));
        let text =
            String::from_utf8(std::mem::take(&mut self.out.msgs)).expect("node output is UTF-8");
        self.out.clear();
        assert!(text.is_empty() || text.ends_with('\n'), "output ends in a newline: {text:?}");
        text.lines().map(str::to_owned).collect()
    }
}

/// Several harnessed nodes `n0..` on one virtual clock, for tests of gossip between them:
/// messages between nodes are delivered at once (zero latency), through a filter that may
/// drop them; everything else a node writes (client replies) is handed back.
pub struct Cluster<W: Workload> {
    /// The nodes, `n{i}` at index `i`.
    pub nodes: Vec<Harness<W>>,
    /// Every line one node sent another so far (delivered or dropped), in send order.
    pub sent: Vec<String>,
}

/// The `dest` of an output line (a node's output is always an object with a string `dest`).
fn dest_of(line: &str) -> &str {
    let at = line.find(r#""dest":""#).expect("a dest") + 8;
    let len = line[at..].find('"').expect("a closing quote");
    &line[at..at + len]
}

impl<W: Workload> Cluster<W> {
    /// `n` nodes with these command-line words, each initialised.
    pub fn new(n: usize, args: &[&str]) -> Self {
        let ids: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let nodes = (0..n)
            .map(|i| {
                let mut h = Harness::new(args);
                let out = h.init(&ids[i], &refs);
                assert!(out.len() == 1 && out[0].contains("init_ok"), "{out:?}");
                h
            })
            .collect();
        Cluster { nodes, sent: Vec::new() }
    }

    /// Feeds `json` to node `i` now, delivers what it causes (dropping the server messages
    /// `keep` refuses) and returns the client-bound lines.
    pub fn line(
        &mut self,
        i: usize,
        json: &str,
        keep: &mut dyn FnMut(&str) -> bool,
    ) -> Vec<String> {
        let out = self.nodes[i].line(json);
        self.deliver(out, keep)
    }

    /// Delivers node output lines at the current time, and everything they cause; returns
    /// the client-bound lines among them.
    pub fn deliver(
        &mut self,
        lines: Vec<String>,
        keep: &mut dyn FnMut(&str) -> bool,
    ) -> Vec<String> {
        let mut queue = std::collections::VecDeque::from(lines);
        let mut clients = Vec::new();
        while let Some(l) = queue.pop_front() {
            let dest = dest_of(&l);
            let Some(to) = dest.strip_prefix('n').and_then(|d| d.parse::<usize>().ok()) else {
                clients.push(l);
                continue;
            };
            self.sent.push(l.clone());
            if keep(&l) {
                queue.extend(self.nodes[to].line(&l));
            }
        }
        clients
    }

    /// Runs every node's timers for `d` of virtual time, delivering what they send; returns
    /// the client-bound lines.
    pub fn advance(&mut self, d: Duration, keep: &mut dyn FnMut(&str) -> bool) -> Vec<String> {
        let end = self.nodes[0].now + d;
        let mut clients = Vec::new();
        loop {
            let next = self
                .nodes
                .iter()
                .enumerate()
                .filter_map(|(i, h)| h.node.poll_timeout().map(|t| (t, i)))
                .min();
            let Some((at, i)) = next.filter(|(at, _)| *at <= end) else { break };
            let now = self.nodes[i].now.max(at);
            for h in &mut self.nodes {
                h.now = h.now.max(now);
            }
            let out = self.nodes[i].advance(Duration::ZERO);
            clients.extend(self.deliver(out, keep));
        }
        for h in &mut self.nodes {
            let rest = end.saturating_since(h.now);
            assert!(h.advance(rest).is_empty(), "timers up to the end already ran");
        }
        clients
    }
}
