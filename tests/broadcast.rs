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
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use glomers::node::{Machine, Node, Output};
use glomers::proto::PADDING;
use glomers::sim::opts::{Concurrency, TestOpts, Topology};
use glomers::sim::report::Outcome;
use glomers::sim::scenario::with_faults;
use glomers::sim::workloads::Validity;
use glomers::time::Instant;
use glomers::workload::broadcast::Broadcast;
use glomers::workload::broadcast::queue::seen::ValueSet;
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
    measured(glomers::sim::run(o).unwrap_or_else(|e| panic!("{}: {e}", o.command_line())))
}

fn measured(out: Outcome) -> (Measured, Outcome) {
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

/// What the probes saw of every node during a run.
#[derive(Default)]
struct Seen {
    /// Cursors lapped, resync passes begun, peers put back on the ring, values sent by resync,
    /// summed over the nodes (each node's latest figures).
    laps: Vec<u64>,
    passes: Vec<u64>,
    rejoined: Vec<u64>,
    synced: Vec<u64>,
    /// The most entries node 0's ring held, its bound, and the most bytes it took.
    hub_ring_max: usize,
    hub_ring_bound: usize,
    hub_ring_bytes: usize,
    /// The cut between node 0 and node `leaf`: `[from, to)` in virtual time.
    cut: Option<(usize, Instant, Instant)>,
    /// Every value any node held when first called at or after the heal.
    at_heal: ValueSet,
    /// Which nodes have added their values to `at_heal`.
    snapshotted: Vec<bool>,
    /// When the cut leaf first held all of `at_heal`.
    leaf_complete: Option<Instant>,
}

/// One of our broadcast nodes, in process, watched (and, for the cut, filtered).
struct Probe {
    node: Node<Broadcast>,
    i: usize,
    seen: Rc<RefCell<Seen>>,
    scratch: Output,
}

/// The string value of `"key":"` in a JSON line, if present.
fn field<'a>(line: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let at = line.windows(key.len()).position(|w| w == key)? + key.len();
    let len = line[at..].iter().position(|&b| b == b'"')?;
    Some(&line[at..at + len])
}

impl Probe {
    /// Whether a message between this node and `other` (a node id) is cut at `now`.
    fn cut(&self, now: Instant, other: &[u8]) -> bool {
        let seen = self.seen.borrow();
        let Some((leaf, from, to)) = seen.cut else { return false };
        let pair = match self.i {
            0 => format!("n{leaf}"),
            i if i == leaf => "n0".to_owned(),
            _ => return false,
        };
        now >= from && now < to && other == pair.as_bytes()
    }

    /// Moves this call's output to `out`, dropping what the cut swallows.
    fn forward(&mut self, now: Instant, out: &mut Output) {
        for line in self.scratch.msgs.split_inclusive(|&b| b == b'\n') {
            let dest = field(line, b"\"dest\":\"").unwrap_or_default();
            if !self.cut(now, dest) {
                out.msgs.extend_from_slice(line);
            }
        }
        out.log.append(&mut self.scratch.log);
        self.scratch.msgs.clear();
    }

    fn observe(&mut self, now: Instant) {
        let Some(w) = self.node.workload() else { return };
        let mut guard = self.seen.borrow_mut();
        let seen = &mut *guard;
        let n = self.i;
        if seen.laps.len() <= n {
            for v in [&mut seen.laps, &mut seen.passes, &mut seen.rejoined, &mut seen.synced] {
                v.resize(n + 1, 0);
            }
            seen.snapshotted.resize(n + 1, false);
        }
        let g = w.gossip();
        seen.laps[n] = g.queue().laps();
        let stats = g.stats();
        (seen.passes[n], seen.rejoined[n], seen.synced[n]) =
            (stats.passes, stats.rejoined, stats.synced);
        if n == 0 {
            let ring = g.queue().ring();
            seen.hub_ring_max = seen.hub_ring_max.max(ring.len());
            seen.hub_ring_bound = ring.bound();
            seen.hub_ring_bytes = seen.hub_ring_bytes.max(ring.heap_bytes());
        }
        let Some((leaf, _, heal)) = seen.cut else { return };
        if now < heal {
            return;
        }
        if !seen.snapshotted[n] {
            seen.snapshotted[n] = true;
            for v in w.values().iter() {
                seen.at_heal.insert(v);
            }
        }
        let all = seen.snapshotted.iter().filter(|&&s| s).count() == seen.snapshotted.len();
        if n == leaf && all && seen.leaf_complete.is_none() {
            let mine = w.values();
            if mine.len() >= seen.at_heal.len() && seen.at_heal.iter().all(|v| mine.contains(v)) {
                seen.leaf_complete = Some(now);
            }
        }
    }
}

impl Machine for Probe {
    fn handle_line(&mut self, now: Instant, line: &mut [u8], len: usize, out: &mut Output) {
        let src = field(&line[..len], b"\"src\":\"").unwrap_or_default().to_vec();
        if !self.cut(now, &src) {
            self.node.handle_line(now, line, len, &mut self.scratch);
        }
        self.forward(now, out);
        self.observe(now);
    }

    fn handle_timeout(&mut self, now: Instant, out: &mut Output) {
        self.node.handle_timeout(now, &mut self.scratch);
        self.forward(now, out);
        self.observe(now);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.node.poll_timeout()
    }
}

/// Runs `o` with probed nodes; returns what the run measured and what the probes saw.
fn probed(o: &TestOpts, cut: Option<(usize, Instant, Instant)>) -> (Measured, Outcome, Seen) {
    let seen = Rc::new(RefCell::new(Seen { cut, ..Seen::default() }));
    let make = |i: usize| -> Box<dyn Machine> {
        let node = Node::<Broadcast>::new(o.bin_args.clone(), o.seed.wrapping_add(i as u64));
        Box::new(Probe { node, i, seen: seen.clone(), scratch: Output::default() })
    };
    let out = glomers::sim::run_nodes(o, &make).unwrap_or_else(|e| panic!("{e}"));
    let (m, out) = measured(out);
    let seen = Rc::try_unwrap(seen).ok().expect("the nodes are gone").into_inner();
    (m, out, seen)
}

#[test]
fn resync_completes_under_loss_and_partitions_with_tiny_rings() {
    // Rings of 2 and 16 entries lap peers all the time, so every value that crosses a link
    // late does so by resync; seed-chosen faults add latency up to 500 ms, partitions of
    // every shape and message loss. Nothing may be lost.
    let mut laps = 0;
    let mut rejoined = 0;
    for ring in ["--ring=2", "--ring=16"] {
        for profile in ["default", "low-latency", "frugal"] {
            let base = TestOpts {
                bin_args: vec![profile.into(), ring.into()],
                ..opts(5, 20.0, 0, false, "")
            };
            for seed in 0..6 {
                let o = with_faults(&base, seed);
                let (m, out, seen) = probed(&o, None);
                assert!(
                    m.valid == Validity::True && m.lost == 0,
                    "{m:?}\n{}\nreproduce: {}",
                    out.summary,
                    o.command_line()
                );
                laps += seen.laps.iter().sum::<u64>();
                rejoined += seen.rejoined.iter().sum::<u64>();
            }
        }
    }
    // The 3e flags with partitions, on a ring of 16.
    let o = TestOpts { bin_args: vec!["--ring=16".into()], ..opts(25, 100.0, 100, true, "") };
    for seed in 0..2 {
        let o = TestOpts { seed, ..o.clone() };
        let (m, out, seen) = probed(&o, None);
        assert!(m.valid == Validity::True && m.lost == 0, "{m:?}\n{}", out.summary);
        laps += seen.laps.iter().sum::<u64>();
        rejoined += seen.rejoined.iter().sum::<u64>();
    }
    println!("tiny rings: {laps} laps, {rejoined} peers resynced and back on the ring");
    assert!(laps > 100 && rejoined > 100, "the runs exercise resync: {laps} / {rejoined}");
}

/// Messages in flight on a plain network: (delivery time, sequence, destination, line).
type Net = std::collections::BinaryHeap<std::cmp::Reverse<(Instant, u64, usize, Vec<u8>)>>;

/// A hub (node 0) cut off from leaf 7 from 5 s to 65 s: the checks both versions below make.
fn assert_hub_cut(seen: &Seen, values: usize, what: &str) {
    let heal = Instant::from_millis(65_000);
    let caught_up = seen.leaf_complete.map(|t| t.saturating_since(heal));
    println!(
        "{what}: {} values at the heal; hub ring max {} of {} entries ({} KiB); {} laps, {} \
         passes, {} values resynced; n7 complete {caught_up:?} after the heal",
        seen.at_heal.len(),
        seen.hub_ring_max,
        seen.hub_ring_bound,
        seen.hub_ring_bytes >> 10,
        seen.laps[0],
        seen.passes[0],
        seen.synced[0],
    );
    assert!(seen.at_heal.len() > values, "the cut outlasts the ring: {}", seen.at_heal.len());
    assert_eq!(seen.hub_ring_max, seen.hub_ring_bound, "the ring filled to its bound, no more");
    assert!(seen.hub_ring_bytes <= 12 * seen.hub_ring_bound, "{} bytes", seen.hub_ring_bytes);
    assert!(seen.laps[0] >= 1 && seen.rejoined[0] >= 1, "the hub lapped n7 and resynced it");
    let caught_up = caught_up.expect("n7 caught up");
    assert!(caught_up <= Duration::from_secs(2), "n7 complete {caught_up:?} after the heal");
}

#[test]
fn a_hub_cut_off_from_a_leaf_for_60_s_at_1000_values_a_second_holds_its_ring_and_heals_in_2_s() {
    // 25 of our nodes in process on a plain network (100 ms, FIFO per destination): one
    // client broadcast every millisecond, to each node in turn, for 70 s, then 10 s of
    // quiet. Node 0 (the hub) and n7 cannot reach each other from 5 s to 65 s. The hub's
    // backlog for n7 outgrows the ring (16,384 entries by default), which laps it; the ring
    // stays at its bound; after the heal a resync brings n7 everything within 2 s; at the
    // end every node has every value.
    let n = 25;
    let cut = Some((7, Instant::from_millis(5_000), Instant::from_millis(65_000)));
    let seen = Rc::new(RefCell::new(Seen { cut, ..Seen::default() }));
    let mut nodes: Vec<Probe> = (0..n)
        .map(|i| Probe {
            node: Node::new(Vec::new(), i as u64),
            i,
            seen: seen.clone(),
            scratch: Output::default(),
        })
        .collect();
    let ids: Vec<String> = (0..n).map(|i| format!("\"n{i}\"")).collect();
    // In flight: (delivery time, sequence, destination, line).
    let mut net: Net = std::collections::BinaryHeap::new();
    let mut seq = 0u64;
    let mut out = Output::default();
    let mut line = Vec::new();
    let mut feed =
        |node: &mut Probe, now: Instant, text: Option<&[u8]>, out: &mut Output| match text {
            Some(text) => {
                line.clear();
                line.extend_from_slice(text);
                let len = line.len();
                line.resize(len + PADDING, b' ');
                node.handle_line(now, &mut line, len, out);
            }
            None => node.handle_timeout(now, out),
        };
    let mut route = |out: &mut Output, now: Instant, net: &mut Net| {
        for l in out.msgs.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let dest = field(l, b"\"dest\":\"n").and_then(|d| std::str::from_utf8(d).ok());
            if let Some(d) = dest.and_then(|d| d.parse::<usize>().ok()) {
                seq += 1;
                net.push(std::cmp::Reverse((now + Duration::from_millis(100), seq, d, l.to_vec())));
            }
        }
        out.clear();
    };
    for (i, node) in nodes.iter_mut().enumerate() {
        let init = format!(
            r#"{{"src":"c0","dest":"n{i}","body":{{"type":"init","msg_id":1,"node_id":"n{i}","node_ids":[{}]}}}}"#,
            ids.join(",")
        );
        feed(node, Instant::ZERO, Some(init.as_bytes()), &mut out);
        out.clear();
    }
    let (ops_end, end) = (70_000u64, 80_000u64);
    let mut next_op = 1u64;
    loop {
        let timer = nodes.iter().filter_map(|p| p.poll_timeout()).min();
        let msg = net.peek().map(|std::cmp::Reverse((t, ..))| *t);
        let op = (next_op <= ops_end).then(|| Instant::from_millis(next_op));
        let Some(now) = [timer, msg, op].into_iter().flatten().min() else { break };
        if now > Instant::from_millis(end) {
            break;
        }
        if op == Some(now) {
            let v = next_op - 1;
            let i = (v % n as u64) as usize;
            let req = format!(
                r#"{{"src":"c1","dest":"n{i}","body":{{"type":"broadcast","msg_id":{next_op},"message":{v}}}}}"#
            );
            feed(&mut nodes[i], now, Some(req.as_bytes()), &mut out);
            route(&mut out, now, &mut net);
            next_op += 1;
        }
        while net.peek().is_some_and(|std::cmp::Reverse((t, ..))| *t <= now) {
            let std::cmp::Reverse((_, _, d, l)) = net.pop().expect("peeked");
            feed(&mut nodes[d], now, Some(&l), &mut out);
            route(&mut out, now, &mut net);
        }
        for node in nodes.iter_mut() {
            if node.poll_timeout().is_some_and(|t| t <= now) {
                feed(node, now, None, &mut out);
                route(&mut out, now, &mut net);
            }
        }
    }
    for node in &nodes {
        let have = node.node.workload().expect("initialised").values();
        assert_eq!(have.len() as u64, ops_end, "n{} ends with every value", node.i);
    }
    drop(nodes);
    let seen = Rc::try_unwrap(seen).ok().expect("the nodes are gone").into_inner();
    assert_hub_cut(&seen, 60_000, "hub cut from n7 for 60 s, 1,000 values a second");
}

#[test]
#[ignore = "slow (about 40 s): half the bench's operations are reads of the whole set; run with --ignored"]
fn a_hub_cut_off_from_a_leaf_for_60_s_at_rate_1000_in_the_bench_holds_its_ring_and_heals_in_2_s() {
    // The same cut in the bench, in-process: Maelstrom's broadcast workload at rate 1,000
    // (half broadcasts, half reads), its network, and the set-full checker judging the run.
    let o = TestOpts {
        time_limit: 70,
        concurrency: Concurrency::PerNode(4),
        ..opts(25, 1000.0, 100, false, "")
    };
    let cut = Some((7, Instant::from_millis(5_000), Instant::from_millis(65_000)));
    let (m, out, seen) = probed(&o, cut);
    assert!(m.valid == Validity::True && m.lost == 0, "{m:?}\n{}", out.summary);
    assert!(out.op_count as f64 > 0.95 * 1000.0 * o.time_limit as f64, "the rate was kept");
    println!("{:.2} msgs-per-op", m.msgs_per_op);
    assert_hub_cut(&seen, 25_000, "in the bench, rate 1,000");
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
