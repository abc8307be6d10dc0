//! Every checker of the bench can reject: deliberately broken nodes run through the bench
//! in-process must be judged invalid, while their correct twins pass.

use glomers::node::{Ctx, Machine, Node, Reject, Workload};
use glomers::proto::Msg;
use glomers::sim::opts::TestOpts;
use glomers::sim::workloads::Validity;
use glomers::sim::{NodeFactory, run_nodes};

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

fn ours(workload: &'static str) -> impl Fn(usize) -> Box<dyn Machine> {
    move |i| glomers::workload::machine(workload, Vec::new(), i as u64).expect("our workload")
}

fn boxed<W: Workload + 'static>(args: &[&str], seed: u64) -> Box<dyn Machine> {
    Box::new(Node::<W>::new(args.iter().map(|s| (*s).to_owned()).collect(), seed))
}

/// Echo that alters every seventh payload.
struct BadEcho {
    n: u64,
}

impl Workload for BadEcho {
    type Timer = ();
    type Call = ();
    fn init(_: &mut Ctx<'_, Self>, _: &[String]) -> Self {
        BadEcho { n: 0 }
    }
    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        self.n += 1;
        let echo = req.str("echo")?;
        let reply = if self.n % 7 == 0 { format!("{echo}!") } else { echo.to_owned() };
        cx.reply(req, "echo_ok", |b| {
            b.str("echo", &reply);
        });
        Ok(())
    }
}

/// unique-ids that repeats an id now and then.
struct DupIds {
    n: u64,
}

impl Workload for DupIds {
    type Timer = ();
    type Call = ();
    fn init(cx: &mut Ctx<'_, Self>, _: &[String]) -> Self {
        DupIds { n: cx.index() as u64 * 1_000_000 }
    }
    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        if self.n % 50 != 49 {
            self.n += 1;
        }
        let id = self.n;
        cx.reply(req, "generate_ok", |b| {
            b.u64("id", id);
        });
        Ok(())
    }
}

/// A broadcast node that never gossips, optionally forgetting every tenth value.
struct LocalSet {
    values: Vec<u64>,
    forget: bool,
}

impl Workload for LocalSet {
    type Timer = ();
    type Call = ();
    fn init(_: &mut Ctx<'_, Self>, args: &[String]) -> Self {
        LocalSet { values: Vec::new(), forget: args.iter().any(|a| a == "forget") }
    }
    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        match req.kind {
            "topology" => {
                cx.reply(req, "topology_ok", |_| {});
            }
            "broadcast" => {
                let v = req.u64("message")?;
                if !(self.forget && v % 10 == 9) {
                    self.values.push(v);
                }
                cx.reply(req, "broadcast_ok", |_| {});
            }
            "read" => {
                let values = &self.values;
                cx.reply(req, "read_ok", |b| {
                    b.u64s("messages", values.iter().copied());
                });
            }
            other => return Err(Reject::unsupported(other)),
        }
        Ok(())
    }
}

/// A g-counter that keeps only its own adds (no sharing), optionally counting double.
struct LocalCounter {
    total: u64,
    double: bool,
}

impl Workload for LocalCounter {
    type Timer = ();
    type Call = ();
    fn init(_: &mut Ctx<'_, Self>, args: &[String]) -> Self {
        LocalCounter { total: 0, double: args.iter().any(|a| a == "double") }
    }
    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        match req.kind {
            "add" => {
                let d = req.u64("delta")?;
                self.total += if self.double { 2 * d } else { d };
                cx.reply(req, "add_ok", |_| {});
            }
            "read" => {
                let v = self.total;
                cx.reply(req, "read_ok", |b| {
                    b.u64("value", v);
                });
            }
            other => return Err(Reject::unsupported(other)),
        }
        Ok(())
    }
}

/// A counter whose read_ok carries an extra field: closed schemas make every read fail.
struct ChattyCounter;

impl Workload for ChattyCounter {
    type Timer = ();
    type Call = ();
    fn init(_: &mut Ctx<'_, Self>, _: &[String]) -> Self {
        ChattyCounter
    }
    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        match req.kind {
            "add" => cx.reply(req, "add_ok", |_| {}),
            _ => cx.reply(req, "read_ok", |b| {
                b.u64("value", 0).str("note", "extra fields are not allowed");
            }),
        };
        Ok(())
    }
}

/// unique-ids nodes that refuse every request.
struct Refuse;

impl Workload for Refuse {
    type Timer = ();
    type Call = ();
    fn init(_: &mut Ctx<'_, Self>, _: &[String]) -> Self {
        Refuse
    }
    fn on_request(&mut self, req: &Msg<'_, '_>, _: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        Err(Reject::new(glomers::proto::ErrorCode::TemporarilyUnavailable, req.kind))
    }
}

/// Echo that also sends a message to a node that does not exist.
struct Stray;

impl Workload for Stray {
    type Timer = ();
    type Call = ();
    fn init(_: &mut Ctx<'_, Self>, _: &[String]) -> Self {
        Stray
    }
    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        cx.send("n99", "hello", |_| {});
        let echo = req.str("echo")?.to_owned();
        cx.reply(req, "echo_ok", |b| {
            b.str("echo", &echo);
        });
        Ok(())
    }
}

#[test]
fn echo_checker_rejects_a_wrong_payload() {
    let o = opts("echo", 1, 10, 20.0, 1);
    let (good, s) = verdict(&o, &ours("echo"));
    assert_eq!(good, Validity::True, "{s}");
    let (bad, s) = verdict(&o, &|i| boxed::<BadEcho>(&[], i as u64));
    assert_eq!(bad, Validity::False, "{s}");
}

#[test]
fn unique_ids_checker_rejects_duplicates() {
    let o = opts("unique-ids", 3, 5, 200.0, 2);
    let (good, s) = verdict(&o, &ours("unique-ids"));
    assert_eq!(good, Validity::True, "{s}");
    let (bad, s) = verdict(&o, &|i| boxed::<DupIds>(&[], i as u64));
    assert_eq!(bad, Validity::False, "{s}");
}

#[test]
fn set_full_rejects_lost_values_and_accepts_a_correct_single_node() {
    let o = opts("broadcast", 1, 10, 20.0, 3);
    let (good, s) = verdict(&o, &|i| boxed::<LocalSet>(&[], i as u64));
    assert_eq!(good, Validity::True, "a local set is correct on one node: {s}");
    let (bad, s) = verdict(&o, &|i| boxed::<LocalSet>(&["forget"], i as u64));
    assert_eq!(bad, Validity::False, "{s}");
    // On five nodes a set that never gossips loses values as soon as reads hit other nodes.
    let o5 = opts("broadcast", 5, 10, 20.0, 4);
    let (bad, s) = verdict(&o5, &|i| boxed::<LocalSet>(&[], i as u64));
    assert_eq!(bad, Validity::False, "{s}");
}

#[test]
fn counter_checker_rejects_wrong_totals() {
    let o1 = opts("g-counter", 1, 10, 50.0, 5);
    let (good, s) = verdict(&o1, &|i| boxed::<LocalCounter>(&[], i as u64));
    assert_eq!(good, Validity::True, "a local counter is correct on one node: {s}");
    let (bad, s) = verdict(&o1, &|i| boxed::<LocalCounter>(&["double"], i as u64));
    assert_eq!(bad, Validity::False, "{s}");
    let o3 = opts("g-counter", 3, 10, 50.0, 6);
    let (bad, s) = verdict(&o3, &|i| boxed::<LocalCounter>(&[], i as u64));
    assert_eq!(bad, Validity::False, "a counter that does not share is wrong on 3 nodes: {s}");
    let (good, s) = verdict(&o3, &ours("g-counter"));
    assert_eq!(good, Validity::True, "{s}");
}

#[test]
fn closed_schemas_and_the_stats_check_reject_extra_fields() {
    let o = opts("g-counter", 1, 5, 50.0, 7);
    let out = run_nodes(&o, &|i| boxed::<ChattyCounter>(&[], i as u64)).unwrap();
    assert_eq!(out.valid, Validity::False, "{}", out.summary);
    assert!(out.summary.contains("read 0/"), "no read succeeded: {}", out.summary);
}

#[test]
fn availability_total_rejects_errors() {
    let o = TestOpts {
        availability: Some(glomers::sim::opts::Availability::Total),
        ..opts("unique-ids", 3, 5, 50.0, 8)
    };
    let out = run_nodes(&o, &|i| boxed::<Refuse>(&[], i as u64)).unwrap();
    assert_eq!(out.valid, Validity::False, "{}", out.summary);
    assert_eq!(out.ok_fraction, 0.0);
}

#[test]
fn a_node_printing_an_unknown_dest_is_reported_and_fails() {
    let o = opts("echo", 1, 5, 20.0, 9);
    let out = run_nodes(&o, &|i| boxed::<Stray>(&[], i as u64)).unwrap();
    assert_eq!(
        out.valid,
        Validity::False,
        "its stdout is dead after the first line: {}",
        out.summary
    );
    assert!(out.faults.iter().any(|f| f.reason.contains("unknown dest `n99`")), "{:?}", out.faults);
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    for (w, n) in [("echo", 1), ("unique-ids", 3), ("g-counter", 3)] {
        let mut o = opts(w, n, 5, 100.0, 11);
        o.partition = n > 1;
        o.latency = 20;
        o.latency_dist = glomers::sim::opts::LatencyDist::Exponential;
        let a = glomers::sim::run(&o).unwrap();
        let b = glomers::sim::run(&o).unwrap();
        assert_eq!(a.trace_hash, b.trace_hash, "{w}");
        assert_eq!(a.op_count, b.op_count, "{w}");
        assert_eq!(a.net.all.msg_count, b.net.all.msg_count, "{w}");
        let c = glomers::sim::run(&TestOpts { seed: 12, ..o.clone() }).unwrap();
        assert_ne!(a.trace_hash, c.trace_hash, "{w}: another seed, another run");
    }
}
