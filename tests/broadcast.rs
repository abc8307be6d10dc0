//! End-to-end tests of the broadcast node: the bench in-process, on deterministic virtual time.
//!
//! The challenge flags (3a-3e) and each operating point's targets are asserted on fixed seeds.
//! The full sweeps are too slow for a debug test run; the commands are:
//!
//! ```text
//! cargo run --release -- sweep --seeds 0..200 -w broadcast --node-count 25 --time-limit 20 \
//!     --rate 100 --latency 100 --nemesis partition -- <default|low-latency|frugal>
//! cargo run --release -- sweep --seeds 0..200 -w broadcast --node-count 5 --time-limit 20 \
//!     --rate 10 --nemesis partition -- <default|low-latency|frugal>
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use glomers::node::{Machine, Node, Output};
use glomers::proto::PADDING;
use glomers::sim::opts::{TestOpts, Topology};
use glomers::sim::report::Outcome;
use glomers::sim::workloads::Validity;
use glomers::time::Instant;
use glomers::workload::broadcast::Broadcast;
use simd_json::prelude::*;

/// What a run measured.
#[derive(Debug)]
struct Measured {
    valid: Validity,
    lost: u64,
    msgs_per_op: f64,
    median_ms: u64,
    max_ms: u64,
}

fn opts(nodes: usize, rate: f64, latency: u64, partition: bool, profile: &str) -> TestOpts {
    TestOpts {
        workload: "broadcast".into(),
        node_count: Some(nodes),
        time_limit: 20,
        rate,
        latency,
        partition,
        bin_args: if profile.is_empty() { Vec::new() } else { vec![profile.to_owned()] },
        store: None,
        quiet: true,
        ..TestOpts::default()
    }
}

fn run(o: &TestOpts) -> (Measured, Outcome) {
    let out = glomers::sim::run(o).unwrap_or_else(|e| panic!("{}: {e}", o.command_line()));
    let mut json = out.workload.json.clone().into_bytes();
    let v = simd_json::to_owned_value(&mut json).expect("checker JSON");
    let lost = v.get("lost_count").and_then(|x| x.as_u64()).expect("lost_count");
    let q = |p: f64| {
        v.get("stable_latencies")
            .and_then(|a| a.as_array())
            .and_then(|a| {
                a.iter().find(|e| e.get_idx(0).and_then(|x| x.as_f64()) == Some(p))?.get_idx(1)
            })
            .and_then(|x| x.as_u64())
            .unwrap_or(0)
    };
    let m = Measured {
        valid: out.valid,
        lost,
        msgs_per_op: out.msgs_per_op_servers,
        median_ms: q(0.5),
        max_ms: q(1.0),
    };
    (m, out)
}

/// Runs `o` on each seed and asserts every run is valid and lost nothing.
fn valid_over(o: &TestOpts, seeds: std::ops::Range<u64>) {
    for seed in seeds {
        let o = TestOpts { seed, ..o.clone() };
        let (m, out) = run(&o);
        assert!(
            m.valid == Validity::True && m.lost == 0,
            "{m:?}\n{}\nreproduce: {}",
            out.summary,
            o.command_line()
        );
    }
}

/// Runs the 3d/3e flags (25 nodes, rate 100, latency 100) for `profile` on `seeds` and asserts
/// the operating point's targets on each.
fn meets_targets(profile: &str, seeds: std::ops::Range<u64>, msgs: f64, median: u64, max: u64) {
    for seed in seeds {
        let o = TestOpts { seed, ..opts(25, 100.0, 100, false, profile) };
        let (m, out) = run(&o);
        let ok = m.valid == Validity::True
            && m.lost == 0
            && m.msgs_per_op <= msgs
            && m.median_ms <= median
            && m.max_ms <= max;
        assert!(
            ok,
            "{profile}: {m:?} misses <= {msgs} msgs, median <= {median}, max <= {max}\n{}\n\
             reproduce: {}",
            out.summary,
            o.command_line()
        );
    }
}

#[test]
fn challenge_3a_single_node() {
    valid_over(&opts(1, 10.0, 0, false, ""), 0..24);
}

#[test]
fn challenge_3b_five_nodes() {
    valid_over(&opts(5, 10.0, 0, false, ""), 0..24);
    valid_over(&opts(5, 10.0, 0, false, "low-latency"), 0..4);
    valid_over(&opts(5, 10.0, 0, false, "frugal"), 0..4);
}

#[test]
fn challenge_3c_five_nodes_with_partitions() {
    valid_over(&opts(5, 10.0, 0, true, ""), 0..24);
    valid_over(&opts(5, 10.0, 0, true, "low-latency"), 0..8);
    valid_over(&opts(5, 10.0, 0, true, "frugal"), 0..8);
}

#[test]
fn default_point_meets_its_targets() {
    // Challenge 3d needs < 30 msgs, median < 400 ms, max < 600 ms; 3e < 20, < 1 s, < 2 s.
    meets_targets("", 0..2, 3.0, 350, 500);
}

#[test]
fn low_latency_point_meets_its_targets() {
    meets_targets("low-latency", 0..2, 13.0, 100, 150);
}

#[test]
fn frugal_point_meets_its_targets() {
    meets_targets("frugal", 0..2, 1.2, 1000, 1000);
}

/// Real Maelstrom (0.2.x) measured the frugal point at 0.84 and 0.80 msgs-per-op in two runs
/// of these flags; the bench's mean over seeds must stay within 5% of their mean, 0.82. (Its
/// in-process mean sits about 2% low: Maelstrom's JVM starts each operation a little late and
/// so performs about 2% fewer of them, which virtual time does not model.) Main before the
/// fidelity fixes gave 0.748 here, handing operations to random threads.
#[test]
fn frugal_point_agrees_with_maelstrom() {
    let runs: Vec<f64> = (0..10)
        .map(|seed| run(&TestOpts { seed, ..opts(25, 100.0, 100, false, "frugal") }).0.msgs_per_op)
        .collect();
    let mean = runs.iter().sum::<f64>() / runs.len() as f64;
    assert!((0.82 * 0.95..=0.82 * 1.05).contains(&mean), "mean {mean:.3} over {runs:?}");
}

#[test]
fn twenty_five_nodes_with_partitions_lose_nothing() {
    for profile in ["", "low-latency", "frugal"] {
        valid_over(&opts(25, 100.0, 100, true, profile), 0..1);
    }
}

#[test]
fn two_and_fifty_nodes_and_other_topologies() {
    valid_over(&opts(2, 10.0, 100, false, ""), 0..4);
    valid_over(&opts(2, 10.0, 100, true, ""), 0..4);
    valid_over(&opts(50, 100.0, 100, false, ""), 0..1);
    for topology in [Topology::Line, Topology::Tree(4), Topology::Total] {
        let o = TestOpts { topology, time_limit: 10, ..opts(25, 100.0, 100, false, "") };
        valid_over(&o, 0..1);
    }
}

#[test]
fn runs_are_deterministic_per_seed() {
    let o = TestOpts { seed: 3, ..opts(5, 10.0, 100, true, "") };
    let (_, a) = run(&o);
    let (_, b) = run(&o);
    assert_eq!(a.trace_hash, b.trace_hash);
    let (_, c) = run(&TestOpts { seed: 4, ..o });
    assert_ne!(a.trace_hash, c.trace_hash);
}

#[test]
fn retransmission_is_what_survives_message_loss() {
    // 20% of server-to-server messages vanish (`--loss`, not something Maelstrom does).
    let lossy = |args: &[&str]| TestOpts {
        loss: 0.2,
        bin_args: args.iter().map(|s| (*s).to_owned()).collect(),
        ..opts(5, 10.0, 100, false, "")
    };
    for profile in ["default", "low-latency", "frugal"] {
        valid_over(&lossy(&[profile]), 0..2);
    }
    // Control: with retransmission pushed past the end of the test, a run whose last data
    // to some peer is lost loses values for good, and the checker must say so. Whether the
    // last message to a peer is among the 20% lost is up to the seed (about half the runs
    // lose something), so the control looks at several.
    let runs: Vec<(Measured, Outcome)> =
        (0..8).map(|seed| run(&TestOpts { seed, ..lossy(&["--rto-ms=3600000"]) })).collect();
    let failing = runs.iter().filter(|(m, _)| m.valid == Validity::False && m.lost > 0).count();
    assert!(failing >= 2, "{failing} of 8 runs lost values: {:?}", runs[0].1.summary);
}

/// The system allocator, counting the allocations of threads that ask for it.
struct Counting;

thread_local! {
    /// Allocations made by this thread while counting is on (`None`: off).
    static ALLOCS: Cell<Option<u64>> = const { Cell::new(None) };
}

// SAFETY: forwards every call unchanged to the system allocator; the counter is a
// thread-local `Cell` with a const initialiser, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get().map(|n| n + 1)));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get().map(|n| n + 1)));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_handling_does_not_allocate() {
    // A mesh node: every broadcast goes to 24 peers, and each peer's acknowledgement comes back.
    let mut node = Node::<Broadcast>::new(vec!["low-latency".into()], 1);
    // The output buffer at the size a running driver's has grown to.
    let mut out = Output { msgs: Vec::with_capacity(1 << 20), log: Vec::with_capacity(4096) };
    let mut line = Vec::with_capacity(4096);
    let mut feed = |node: &mut Node<Broadcast>, text: Option<&str>, now: u64| {
        let now = Instant::from_millis(now);
        match text {
            Some(text) => {
                line.clear();
                line.extend_from_slice(text.as_bytes());
                let len = line.len();
                line.resize(len + PADDING, b' ');
                node.handle_line(now, &mut line, len, &mut out);
            }
            None => node.handle_timeout(now, &mut out),
        }
        out.clear();
    };
    let ids: Vec<String> = (0..25).map(|i| format!("\"n{i}\"")).collect();
    let init = format!(
        r#"{{"src":"c0","dest":"n1","body":{{"type":"init","msg_id":1,"node_id":"n1","node_ids":[{}]}}}}"#,
        ids.join(",")
    );
    feed(&mut node, Some(&init), 0);
    // Each round adds two values. Warm up for 1100 rounds (the log has doubled to 4096 and
    // the seen set to room for 3584); then measure 600 more, which fit in that room: their
    // amortised doubling is the only allocation on this path.
    let (warm, total) = (1_100u64, 1_700u64);
    let broadcasts: Vec<String> = (0..total)
        .map(|v| {
            format!(r#"{{"src":"c9","dest":"n1","body":{{"type":"broadcast","msg_id":2,"message":{v}}}}}"#)
        })
        .collect();
    let acks: Vec<Vec<String>> = (0..total)
        .map(|v| {
            (0..25)
                .filter(|&p| p != 1)
                .map(|p| {
                    format!(
                        r#"{{"src":"n{p}","dest":"n1","body":{{"type":"gossip_ack","a":{}}}}}"#,
                        v + 1
                    )
                })
                .collect()
        })
        .collect();
    let gossip = |v: u64| {
        format!(
            r#"{{"src":"n0","dest":"n1","body":{{"type":"gossip","s":{v},"e":{},"a":0,"v":[{}]}}}}"#,
            v + 1,
            1_000_000 + v
        )
    };
    let gossips: Vec<String> = (0..total).map(gossip).collect();
    let read = r#"{"src":"c9","dest":"n1","body":{"type":"read","msg_id":3}}"#;
    let mut round = |node: &mut Node<Broadcast>, v: u64| {
        // Four seconds per round: every acknowledgement timer fires in between.
        let now = v * 4_000;
        feed(node, Some(&broadcasts[v as usize]), now);
        for a in &acks[v as usize] {
            feed(node, Some(a), now + 1);
        }
        feed(node, Some(&gossips[v as usize]), now + 2);
        feed(node, Some(read), now + 3);
        feed(node, None, now + 3_900);
    };
    for v in 0..warm {
        round(&mut node, v);
    }
    ALLOCS.with(|c| c.set(Some(0)));
    for v in warm..total {
        round(&mut node, v);
    }
    let allocs = ALLOCS.with(|c| c.replace(None)).unwrap_or(0);
    let handled = (total - warm) * 27;
    assert_eq!(allocs, 0, "{allocs} allocations while handling {handled} messages");
}
