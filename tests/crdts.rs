//! The CRDT workloads, g-set and pn-counter, through the bench: their checkers reject
//! deliberately broken nodes (a g-set that never gossips, a counter that loses negative deltas)
//! and accept correct ones, Maelstrom's error mapping and closed schemas hold for them, and our
//! nodes pass, in-process under partitions (and beat Maelstrom's demo nodes on their settings)
//! and as real binaries.

use glomers::node::{Ctx, Machine, Node, Reject, Workload};
use glomers::proto::{ErrorCode, Msg};
use glomers::sim::opts::{LatencyDist, TestOpts};
use glomers::sim::workloads::Validity;
use glomers::sim::{NodeFactory, run_nodes};
use simd_json::prelude::*;

fn opts(workload: &str, nodes: usize, time_limit: u64, rate: f64, seed: u64) -> TestOpts {
    TestOpts {
        workload: workload.into(),
        node_count: Some(nodes),
        time_limit,
        rate,
        seed,
        store: None,
        quiet: true,
        ..TestOpts::default()
    }
}

fn verdict(o: &TestOpts, make: NodeFactory<'_>) -> (Validity, String) {
    let out = run_nodes(o, make).expect("the bench runs");
    (out.valid, out.summary)
}

fn boxed<W: Workload + 'static>(args: &[&str], seed: u64) -> Box<dyn Machine> {
    Box::new(Node::<W>::new(args.iter().map(|s| (*s).to_owned()).collect(), seed))
}

/// A g-set that keeps its clients' elements to itself (never gossips), optionally forgetting
/// every tenth.
struct LocalGSet {
    elements: Vec<u64>,
    forget: bool,
}

impl Workload for LocalGSet {
    type Timer = ();
    type Call = ();
    fn init(_: &mut Ctx<'_, Self>, args: &[String]) -> Self {
        LocalGSet { elements: Vec::new(), forget: args.iter().any(|a| a == "forget") }
    }
    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        match req.kind {
            "add" => {
                let x = req.u64("element")?;
                if !(self.forget && x % 10 == 9) {
                    self.elements.push(x);
                }
                cx.reply(req, "add_ok", |_| {});
            }
            "read" => {
                let elements = &self.elements;
                cx.reply(req, "read_ok", |b| {
                    b.u64s("value", elements.iter().copied());
                });
            }
            other => return Err(Reject::unsupported(other)),
        }
        Ok(())
    }
}

/// A counter that keeps only its own adds (no sharing), optionally losing negative deltas.
struct LocalCounter {
    total: i64,
    lose_negatives: bool,
}

impl Workload for LocalCounter {
    type Timer = ();
    type Call = ();
    fn init(_: &mut Ctx<'_, Self>, args: &[String]) -> Self {
        LocalCounter { total: 0, lose_negatives: args.iter().any(|a| a == "lose-negatives") }
    }
    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        match req.kind {
            "add" => {
                let d = req.i64("delta")?;
                if d >= 0 || !self.lose_negatives {
                    self.total += d;
                }
                cx.reply(req, "add_ok", |_| {});
            }
            "read" => {
                let v = self.total;
                cx.reply(req, "read_ok", |b| {
                    b.i64("value", v);
                });
            }
            other => return Err(Reject::unsupported(other)),
        }
        Ok(())
    }
}

/// Refuses every add with a definite error (11) and answers reads with an empty value.
struct RefuseAdds {
    /// The read reply's value field: `[]` for g-set, `0` for a counter.
    empty: &'static str,
    /// Whether read_ok also carries a field outside the closed schema.
    chatty: bool,
}

impl Workload for RefuseAdds {
    type Timer = ();
    type Call = ();
    fn init(_: &mut Ctx<'_, Self>, args: &[String]) -> Self {
        let set = args.iter().any(|a| a == "set");
        RefuseAdds {
            empty: if set { "[]" } else { "0" },
            chatty: args.iter().any(|a| a == "chatty"),
        }
    }
    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        match req.kind {
            "add" => Err(Reject::new(ErrorCode::TemporarilyUnavailable, "no adds today")),
            _ => {
                let (empty, chatty) = (self.empty, self.chatty);
                cx.reply(req, "read_ok", |b| {
                    b.key("value").extend_from_slice(empty.as_bytes());
                    if chatty {
                        b.str("note", "extra fields are not allowed");
                    }
                });
                Ok(())
            }
        }
    }
}

fn ours(workload: &'static str) -> impl Fn(usize) -> Box<dyn Machine> {
    move |i| glomers::workload::machine(workload, Vec::new(), i as u64).expect("our workload")
}

#[test]
fn set_full_rejects_a_g_set_that_never_gossips_and_one_that_forgets() {
    let o1 = opts("g-set", 1, 10, 20.0, 1);
    let (good, s) = verdict(&o1, &|i| boxed::<LocalGSet>(&[], i as u64));
    assert_eq!(good, Validity::True, "a local set is correct on one node: {s}");
    assert!(s.contains("0 lost"), "{s}");
    let (bad, s) = verdict(&o1, &|i| boxed::<LocalGSet>(&["forget"], i as u64));
    assert_eq!(bad, Validity::False, "{s}");
    assert!(s.contains("LOST"), "{s}");
    let o3 = opts("g-set", 3, 10, 20.0, 2);
    let (bad, s) = verdict(&o3, &|i| boxed::<LocalGSet>(&[], i as u64));
    assert_eq!(bad, Validity::False, "a set that never gossips loses elements on 3 nodes: {s}");
    assert!(s.contains("LOST"), "{s}");
}

#[test]
fn the_counter_checker_rejects_a_counter_that_loses_negative_deltas() {
    let o1 = opts("pn-counter", 1, 10, 50.0, 3);
    let (good, s) = verdict(&o1, &|i| boxed::<LocalCounter>(&[], i as u64));
    assert_eq!(good, Validity::True, "a local counter is correct on one node: {s}");
    let (bad, s) = verdict(&o1, &|i| boxed::<LocalCounter>(&["lose-negatives"], i as u64));
    assert_eq!(bad, Validity::False, "{s}");
    assert!(s.contains("pn-counter: final reads"), "{s}");
    let o3 = opts("pn-counter", 3, 10, 50.0, 4);
    let (bad, s) = verdict(&o3, &|i| boxed::<LocalCounter>(&[], i as u64));
    assert_eq!(bad, Validity::False, "a counter that does not share is wrong on 3 nodes: {s}");
    // g-counter never draws a negative delta, so the same broken node passes there.
    let g1 = opts("g-counter", 1, 10, 50.0, 3);
    let (good, s) = verdict(&g1, &|i| boxed::<LocalCounter>(&["lose-negatives"], i as u64));
    assert_eq!(good, Validity::True, "{s}");
}

/// Neither workload uses Maelstrom's `with-errors`: an error reply, even a definite one, is
/// an exception in the client, recorded as an indeterminate `info`; so is a malformed reply.
#[test]
fn errors_and_malformed_replies_are_indeterminate() {
    for (w, args) in [("g-set", &["set"][..]), ("pn-counter", &[][..])] {
        let o = opts(w, 1, 5, 50.0, 5);
        let out = run_nodes(&o, &|i| boxed::<RefuseAdds>(args, i as u64)).unwrap();
        assert_eq!(out.valid, Validity::False, "{w}: no add succeeded: {}", out.summary);
        let stats = out.summary.lines().find(|l| l.contains("stats")).expect("a stats line");
        assert!(stats.contains("add 0/") && stats.contains(" 0 fail"), "{w}: {stats}");
        assert!(stats.contains("read ") && !stats.contains("read 0/"), "{w}: {stats}");

        let chatty: Vec<&str> = args.iter().copied().chain(["chatty"]).collect();
        let out = run_nodes(&o, &|i| boxed::<RefuseAdds>(&chatty, i as u64)).unwrap();
        let stats = out.summary.lines().find(|l| l.contains("stats")).expect("a stats line");
        assert!(stats.contains("read 0/") && stats.contains("0 fail"), "{w}: {stats}");
    }
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    for w in ["g-set", "pn-counter"] {
        let mut o = opts(w, 3, 5, 20.0, 11);
        o.partition = true;
        o.latency = 20;
        o.latency_dist = LatencyDist::Exponential;
        let make = ours(w);
        let a = run_nodes(&o, &make).unwrap();
        let b = run_nodes(&o, &make).unwrap();
        assert_eq!(a.trace_hash, b.trace_hash, "{w}");
        assert_eq!(a.net.all.msg_count, b.net.all.msg_count, "{w}");
        let c = run_nodes(&TestOpts { seed: 12, ..o.clone() }, &make).unwrap();
        assert_ne!(a.trace_hash, c.trace_hash, "{w}: another seed, another run");
    }
}

/// Maelstrom's CRDT chapter settings, with our nodes.
fn chapter(workload: &str, latency: u64, partition: bool, seed: u64) -> TestOpts {
    TestOpts { latency, partition, ..opts(workload, 3, 10, 10.0, seed) }
}

#[test]
fn our_pn_counter_is_valid_under_partitions_and_beats_the_demo() {
    for seed in 0..40 {
        for latency in [0, 100] {
            let o = chapter("pn-counter", latency, true, seed);
            let out = glomers::sim::run(&o).unwrap();
            assert_eq!(out.valid, Validity::True, "{}\n{}", o.command_line(), out.summary);
        }
    }
    // Maelstrom's demo sends 0.22-0.24 msgs-per-op at these settings.
    for latency in [0, 100] {
        let mut sum = 0.0;
        for seed in 0..20 {
            let o = chapter("pn-counter", latency, false, seed);
            let out = glomers::sim::run(&o).unwrap();
            assert_eq!(out.valid, Validity::True, "{}\n{}", o.command_line(), out.summary);
            assert!(out.msgs_per_op_servers < 0.22, "{}\n{}", o.command_line(), out.summary);
            sum += out.msgs_per_op_servers;
        }
        assert!(sum / 20.0 < 0.17, "mean {} at latency {latency}", sum / 20.0);
    }
}

/// The median stable latency (ms) of a set-full verdict.
fn median_stable_ms(json: &str) -> u64 {
    let mut bytes = json.as_bytes().to_vec();
    let v = simd_json::to_owned_value(&mut bytes).expect("checker JSON");
    let q = v.get("stable_latencies").and_then(|a| a.as_array()).expect("stable latencies");
    let half = q.iter().find(|e| e.get_idx(0).and_then(|x| x.as_f64()) == Some(0.5));
    half.and_then(|e| e.get_idx(1)).and_then(|x| x.as_u64()).expect("a median")
}

#[test]
fn our_g_set_is_valid_under_partitions_and_beats_the_demos() {
    for seed in 0..40 {
        for latency in [0, 100] {
            let o = chapter("g-set", latency, true, seed);
            let out = glomers::sim::run(&o).unwrap();
            assert_eq!(out.valid, Validity::True, "{}\n{}", o.command_line(), out.summary);
        }
    }
    // Maelstrom's demos: 0.22-0.24 msgs-per-op at a median stable latency of 1.9-2.4 s.
    for latency in [0, 100] {
        let (mut msgs, mut median) = (0.0, 0);
        for seed in 0..40 {
            let o = chapter("g-set", latency, false, seed);
            let out = glomers::sim::run(&o).unwrap();
            assert_eq!(out.valid, Validity::True, "{}\n{}", o.command_line(), out.summary);
            assert!(out.msgs_per_op_servers < 0.3, "{}\n{}", o.command_line(), out.summary);
            msgs += out.msgs_per_op_servers;
            median += median_stable_ms(&out.workload.json);
        }
        let (msgs, median) = (msgs / 40.0, median / 40);
        assert!(msgs < 0.22 && median < 1000, "latency {latency}: mean {msgs} msgs, {median} ms");
    }
}

/// Each real binary over pipes, in real time, with partitions (short runs: the final phase
/// adds 10 s of quiet; the two run at once).
#[test]
fn our_binaries_pass_in_process_mode() {
    let run = |w: &'static str, bin: &'static str| {
        std::thread::spawn(move || {
            let words = format!(
                "-w {w} --bin {bin} --node-count 3 --time-limit 4 --rate 20 --latency 10 \
                 --nemesis partition --nemesis-interval 1 --no-store --quiet -- --hold-ms=500"
            );
            let words: Vec<String> = words.split_whitespace().map(str::to_owned).collect();
            let o = TestOpts::parse(&words).expect("valid flags");
            let out = glomers::sim::run(&o).expect("the binary starts");
            assert_eq!(out.exit_code, 0, "{w}: {}", out.summary);
            assert!(out.faults.is_empty(), "{w}: {:?}", out.faults);
        })
    };
    let threads = [
        run("g-set", env!("CARGO_BIN_EXE_glomers-g-set")),
        run("pn-counter", env!("CARGO_BIN_EXE_glomers-pn-counter")),
    ];
    for t in threads {
        t.join().expect("the run passed");
    }
}

/// Seed-derived faults (latency 0-500 ms under every distribution, partitions of every
/// shape, message loss): nothing is lost and every counter converges. (The README's sweeps
/// run 600 seeds of each.)
#[test]
fn our_nodes_survive_seeded_faults() {
    for w in ["g-set", "pn-counter"] {
        let base = chapter(w, 0, false, 0);
        for seed in 0..60 {
            let o = glomers::sim::scenario::with_faults(&base, seed);
            let out = glomers::sim::run(&o).unwrap();
            assert_eq!(out.valid, Validity::True, "{}\n{}", o.command_line(), out.summary);
        }
    }
}
