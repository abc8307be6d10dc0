//! Broadcast node micro-benchmarks: the cost of handling one message, end to end through the
//! node (parse, state update, encode of everything it sends).
//!
//! - `client_broadcast/*`: a client `broadcast` of a fresh value, then the peers' cumulative
//!   acknowledgements (so the unacknowledged window stays at one value, as in steady state):
//!   a star leaf sends one `gossip` to the hub, a mesh node one to each of 24 peers.
//! - `gossip_fresh/N`: a `gossip` batch of N values the node has not seen (appended to the
//!   log and the seen set; the node is rebuilt every million values so memory stays bounded).
//! - `gossip_duplicate/N`: a batch of N values it already has (the de-duplication path).
//! - `read_ok/200k`: a `read` answered with 200,000 values, encoded from the log.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use glomers::node::{Machine, Node, Output};
use glomers::proto::PADDING;
use glomers::proto::encode::write_u64;
use glomers::time::Instant;
use glomers::workload::broadcast::Broadcast;

/// One node fed by reusable buffers.
struct Rig {
    node: Node<Broadcast>,
    out: Output,
    line: Vec<u8>,
    id: String,
}

impl Rig {
    /// Node `me` of an `n`-node cluster, initialised, with these arguments.
    fn new(me: usize, n: usize, args: &[&str]) -> Rig {
        let args = args.iter().map(|s| (*s).to_owned()).collect();
        let mut rig = Rig {
            node: Node::new(args, 1),
            out: Output::default(),
            line: Vec::with_capacity(1 << 20),
            id: format!("n{me}"),
        };
        let ids: Vec<String> = (0..n).map(|i| format!("\"n{i}\"")).collect();
        let init = format!(
            r#"{{"src":"c0","dest":"{}","body":{{"type":"init","msg_id":1,"node_id":"{}","node_ids":[{}]}}}}"#,
            rig.id,
            rig.id,
            ids.join(",")
        );
        rig.line.extend_from_slice(init.as_bytes());
        rig.feed();
        rig
    }

    /// Hands the line in `self.line` to the node and discards the output.
    fn feed(&mut self) {
        let len = self.line.len();
        self.line.resize(len + PADDING, b' ');
        self.node.handle_line(Instant::ZERO, &mut self.line, len, &mut self.out);
        black_box(self.out.msgs.len());
        self.out.clear();
        self.line.clear();
    }

    fn broadcast(&mut self, v: u64) {
        self.line.extend_from_slice(b"{\"src\":\"c9\",\"dest\":\"");
        self.line.extend_from_slice(self.id.as_bytes());
        self.line
            .extend_from_slice(b"\",\"body\":{\"type\":\"broadcast\",\"msg_id\":5,\"message\":");
        write_u64(&mut self.line, v);
        self.line.extend_from_slice(b"}}");
        self.feed();
    }

    fn ack(&mut self, from: usize, a: u64) {
        self.line.extend_from_slice(b"{\"src\":\"n");
        write_u64(&mut self.line, from as u64);
        self.line.extend_from_slice(b"\",\"dest\":\"");
        self.line.extend_from_slice(self.id.as_bytes());
        self.line.extend_from_slice(b"\",\"body\":{\"type\":\"gossip_ack\",\"a\":");
        write_u64(&mut self.line, a);
        self.line.extend_from_slice(b"}}");
        self.feed();
    }

    /// A gossip from node 0 covering its log `[s, s + count)` with values `first..`.
    fn gossip(&mut self, s: u64, first: u64, count: u64) {
        self.line.extend_from_slice(b"{\"src\":\"n0\",\"dest\":\"");
        self.line.extend_from_slice(self.id.as_bytes());
        self.line.extend_from_slice(b"\",\"body\":{\"type\":\"gossip\",\"s\":");
        write_u64(&mut self.line, s);
        self.line.extend_from_slice(b",\"a\":0,\"e\":");
        write_u64(&mut self.line, s + count);
        self.line.extend_from_slice(b",\"v\":[");
        for v in first..first + count {
            if v > first {
                self.line.push(b',');
            }
            write_u64(&mut self.line, v);
        }
        self.line.extend_from_slice(b"]}}");
        self.feed();
    }
}

fn client_broadcast(c: &mut Criterion) {
    let mut g = c.benchmark_group("broadcast/client_broadcast");
    let mesh_peers: Vec<usize> = (0..25).filter(|&p| p != 1).collect();
    for (name, args, peers) in
        [("star_leaf", "default", vec![0]), ("mesh_24_peers", "low-latency", mesh_peers)]
    {
        g.bench_function(name, |b| {
            let mut rig = Rig::new(1, 25, &[args]);
            let mut v = 0u64;
            b.iter(|| {
                rig.broadcast(v);
                v += 1;
                // Every peer acknowledges the whole log (position v after this value).
                for &p in &peers {
                    rig.ack(p, v);
                }
            });
        });
    }
    g.finish();
}

fn gossip_batches(c: &mut Criterion) {
    let mut g = c.benchmark_group("broadcast/gossip_fresh");
    for n in [1u64, 16, 256, 4096] {
        g.throughput(Throughput::Elements(n));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            let mut rig = Rig::new(1, 25, &["default"]);
            let mut next = 0u64;
            b.iter(|| {
                if next >= 1_000_000 {
                    rig = Rig::new(1, 25, &["default"]);
                    next = 0;
                }
                rig.gossip(next, next, n);
                next += n;
            });
        });
    }
    g.finish();
    let mut g = c.benchmark_group("broadcast/gossip_duplicate");
    for n in [1u64, 16, 256, 4096] {
        g.throughput(Throughput::Elements(n));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            let mut rig = Rig::new(1, 25, &["default"]);
            rig.gossip(0, 0, n);
            b.iter(|| rig.gossip(0, 0, n));
        });
    }
    g.finish();
}

fn read_ok(c: &mut Criterion) {
    let mut rig = Rig::new(1, 2, &["default"]);
    for k in 0..20 {
        rig.gossip(k * 10_000, k * 10_000, 10_000);
    }
    let read = br#"{"src":"c9","dest":"n1","body":{"type":"read","msg_id":3}}"#;
    c.bench_function("broadcast/read_ok/200k", |b| {
        b.iter(|| {
            rig.line.extend_from_slice(read);
            rig.feed();
        });
    });
}

criterion_group!(benches, client_broadcast, gossip_batches, read_ok);
criterion_main!(benches);
