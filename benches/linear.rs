//! Linearizability checker benchmarks: whole Maelstrom lin-kv histories (3 nodes, 60 s, rate
//! 30, `--concurrency 4n`) of correct and broken nodes, single-register histories against their
//! size, and the search budget's effect on an expensive invalid history.
//!
//! Each case first prints its verdict and the configurations the search explored, so the
//! times can be read against the work done.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use glomers::node::{Machine, Node, Workload};
use glomers::sim::engine::Engine;
use glomers::sim::history::History;
use glomers::sim::inproc::InProcess;
use glomers::sim::opts::{Concurrency, TestOpts};
use glomers::sim::workloads::lin_kv::linear::{self, Options, Verdict, synth};
use glomers::sim::workloads::lin_kv::subjects::{DropWrites, FlakyProxy, Proxy, StaleReads};
use glomers::sim::workloads::lin_kv::{KvValue, LinKvClient, check_history};

/// The history of a Maelstrom lin-kv run of `W` on the target's flags.
fn maelstrom_history<W: Workload + 'static>(seed: u64) -> History<KvValue> {
    let opts = TestOpts {
        workload: "lin-kv".into(),
        node_count: Some(3),
        concurrency: Concurrency::PerNode(4),
        time_limit: 60,
        rate: 30.0,
        seed,
        store: None,
        quiet: true,
        ..TestOpts::default()
    };
    let machines: Vec<Box<dyn Machine>> =
        (0..3).map(|i| Box::new(Node::<W>::new(Vec::new(), i)) as Box<dyn Machine>).collect();
    let engine = Engine::new(&opts, LinKvClient::new(&opts), InProcess::new(machines));
    engine.run().0.history
}

/// A single register's history: `ops` operations of `processes` processes, busy `busy` of the
/// time, a fraction `info` of operations indeterminate; with one read corrupted if `bad`.
fn register(ops: usize, processes: usize, busy: f64, info: f64, bad: bool) -> Vec<linear::Op<u64>> {
    let shape = synth::Shape { ops, processes, busy, info, values: 5 };
    let mut h = synth::history(&shape, 1);
    if bad {
        synth::corrupt_a_read(&mut h, 9);
    }
    h
}

fn describe(name: &str, rep: &linear::Report) {
    eprintln!(
        "{name}: {:?}, {} ops searched, {} states{}",
        rep.verdict,
        rep.searched,
        rep.states,
        rep.window.as_ref().map_or(String::new(), |w| format!(
            ", window of {} ops ({} states to shrink)",
            w.ops.len(),
            w.states
        ))
    );
}

/// Whole Maelstrom histories, checked as `glomers test` checks them (window search included).
fn maelstrom(c: &mut Criterion) {
    let mut g = c.benchmark_group("linear/maelstrom_3n_60s_rate30_4n");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    let opts = Options::default();
    let cases = [
        ("proxy", maelstrom_history::<Proxy>(1)),
        ("flaky_proxy", maelstrom_history::<FlakyProxy>(1)),
        ("stale_reads", maelstrom_history::<StaleReads>(1)),
        ("dropped_writes", maelstrom_history::<DropWrites>(1)),
    ];
    for (name, h) in &cases {
        let check = check_history(h, &opts);
        eprintln!("{name}: {} ops, {}", h.invocations(), check.summary[0]);
        g.bench_function(*name, |b| b.iter(|| black_box(check_history(black_box(h), &opts))));
    }
    g.finish();
}

/// One register against history size: 10 processes always busy, 1% indeterminate.
fn size(c: &mut Criterion) {
    let mut g = c.benchmark_group("linear/register_10_processes");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    let opts = Options::default();
    for ops in [1_000, 10_000, 100_000] {
        for bad in [false, true] {
            if bad && ops == 100_000 {
                continue;
            }
            let h = register(ops, 10, 1.0, 0.01, bad);
            let name = if bad { "invalid" } else { "valid" };
            describe(&format!("{ops} ops {name}"), &linear::check(&h, None, &opts).unwrap());
            g.bench_with_input(BenchmarkId::new(name, ops), &h, |b, h| {
                b.iter(|| black_box(linear::check(black_box(h), None, &opts).unwrap()))
            });
        }
    }
    g.finish();
    // The case: 10,000 operations from 100 processes (a tenth of them busy at a time),
    // 2% indeterminate.
    let mut g = c.benchmark_group("linear/register_10k_ops_100_processes");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    let h = register(10_000, 100, 0.1, 0.02, false);
    describe("10k ops, 100 processes", &linear::check(&h, None, &opts).unwrap());
    g.bench_function("valid", |b| {
        b.iter(|| black_box(linear::check(black_box(&h), None, &opts).unwrap()))
    });
    g.finish();
}

/// The budget's effect: an invalid history that needs ~10^5 configurations to decide, under
/// budgets from 10^3 (unknown) to 10^6 (decided). Window search off: this is the verdict's cost.
fn budget(c: &mut Criterion) {
    let mut g = c.benchmark_group("linear/budget");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    let h = register(2_000, 20, 0.8, 0.05, true);
    for states in [1_000u64, 10_000, 100_000, 1_000_000] {
        let opts = Options { max_states: states, window: false, ..Options::default() };
        let rep = linear::check(&h, None, &opts).unwrap();
        describe(&format!("budget {states}"), &rep);
        assert!(rep.verdict != Verdict::Valid);
        g.bench_with_input(BenchmarkId::from_parameter(states), &opts, |b, opts| {
            b.iter(|| black_box(linear::check(black_box(&h), None, opts).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, maelstrom, size, budget);
criterion_main!(benches);
