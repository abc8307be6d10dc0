//! Per-message cost of the node runtime: parse, handle and encode one request.
//!
//! `echo/small` is a typical Maelstrom echo request; `echo/nested` carries a nested payload
//! that the encoder walks from the tape; `generate` is unique-ids. Each iteration copies the
//! request into the reused line buffer (parsing is in place), handles it, and clears the
//! output.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use glomers::node::{Machine, Node, Output};
use glomers::proto::PADDING;
use glomers::time::Instant;

const INIT: &str = r#"{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1","n2","n3"]}}"#;

fn ready<W: glomers::node::Workload>() -> Node<W> {
    let mut node = Node::<W>::new(Vec::new(), 0);
    let mut line = INIT.as_bytes().to_vec();
    let len = line.len();
    node.handle_line(Instant::ZERO, &mut line, len, &mut Output::default());
    node
}

fn bench_one(c: &mut Criterion, name: &str, node: &mut dyn Machine, request: &str) {
    let mut group = c.benchmark_group("node");
    group.throughput(Throughput::Elements(1));
    let mut buf = Vec::with_capacity(request.len() + PADDING);
    let mut out = Output::default();
    group.bench_function(name, |b| {
        b.iter(|| {
            buf.clear();
            buf.extend_from_slice(request.as_bytes());
            let len = buf.len();
            buf.resize(len + PADDING, b' ');
            node.handle_line(Instant::ZERO, black_box(&mut buf), len, &mut out);
            black_box(&out.msgs);
            out.msgs.clear();
        })
    });
    group.finish();
}

fn per_message(c: &mut Criterion) {
    let mut echo = ready::<glomers::workload::echo::Echo>();
    bench_one(
        c,
        "echo/small",
        &mut echo,
        r#"{"id":17,"src":"c3","dest":"n1","body":{"echo":"Please echo 35","type":"echo","msg_id":12}}"#,
    );
    bench_one(
        c,
        "echo/nested",
        &mut echo,
        r#"{"src":"c3","dest":"n1","body":{"type":"echo","msg_id":12,"echo":{"a":[1,2,3,{"b":"c\n"}],"d":-1.5,"e":null}}}"#,
    );
    let mut ids = ready::<glomers::workload::unique_ids::UniqueIds>();
    bench_one(
        c,
        "generate",
        &mut ids,
        r#"{"src":"c3","dest":"n1","body":{"type":"generate","msg_id":12}}"#,
    );
}

criterion_group!(benches, per_message);
criterion_main!(benches);
