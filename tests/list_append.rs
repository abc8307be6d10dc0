//! End to end: the txn-list-append workload through the in-process bench, judged by the
//! list-append checker. A correct test-only store (every transaction executed serially by n0;
//! other nodes forward) must pass strict-serializable; a store that applies transactions on
//! the node that received them and replicates appends to its peers later (not atomic across
//! nodes) must fail it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use glomers::node::{Ctx, Machine, Node, Reject, Reply, Workload};
use glomers::proto::{ErrorCode, FieldError, Msg};
use glomers::sim::engine::Engine;
use glomers::sim::inproc::InProcess;
use glomers::sim::opts::TestOpts;
use glomers::sim::report::Outcome;
use glomers::sim::run_nodes;
use glomers::sim::workloads::Validity;
use glomers::sim::workloads::list_append::{ListAppendClient, check};

fn opts(flags: &str) -> TestOpts {
    let mut args: Vec<String> = "-w txn-list-append --node-count 2 --rate 100 --no-store --quiet"
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    args.extend(flags.split_whitespace().map(str::to_owned));
    TestOpts::parse(&args).expect("valid flags")
}

/// `(append?, key, value)`; a read's value is filled in when executed.
type Mop = (bool, i64, Option<Vec<i64>>, i64);

/// A list-append store, correct (`serial`) or deliberately broken (`async`).
struct Store {
    serial: bool,
    lists: HashMap<i64, Vec<i64>>,
    /// async: appends not yet sent to the peers.
    outbox: Vec<(i64, i64)>,
    flush_armed: bool,
}

fn parse(req: &Msg<'_, '_>) -> Result<Vec<Mop>, Reject> {
    const BAD: FieldError = FieldError::invalid("txn", "micro-ops");
    let mut mops = Vec::new();
    for m in req.arr("txn")?.iter() {
        let a = m.as_array().ok_or(BAD)?;
        let f = a.get(0).and_then(|f| f.as_str()).ok_or(BAD)?;
        let k = a.get(1).and_then(|k| k.as_i64()).ok_or(BAD)?;
        let v = a.get(2).and_then(|v| v.as_i64()).unwrap_or(0);
        mops.push((f == "append", k, None, v));
    }
    Ok(mops)
}

impl Store {
    fn execute(&mut self, mops: &mut [Mop]) {
        for m in mops.iter_mut() {
            let list = self.lists.entry(m.1).or_default();
            if m.0 {
                list.push(m.3);
                if !self.serial {
                    self.outbox.push((m.1, m.3));
                }
            } else {
                m.2 = (!list.is_empty()).then(|| list.clone());
            }
        }
    }

    fn answer(cx: &mut Ctx<'_, Self>, client: &str, msg_id: u64, mops: &[Mop]) {
        cx.send(client, "txn_ok", |b| {
            b.u64("in_reply_to", msg_id).arr("txn", |a| {
                for (append, k, read, v) in mops {
                    a.arr(|t| {
                        t.str(if *append { "append" } else { "r" }).i64(*k);
                        match (append, read) {
                            (true, _) => {
                                t.i64(*v);
                            }
                            (false, None) => {
                                t.null();
                            }
                            (false, Some(l)) => {
                                t.arr(|e| {
                                    for x in l {
                                        e.i64(*x);
                                    }
                                });
                            }
                        }
                    });
                }
            });
        });
    }
}

impl Workload for Store {
    type Timer = ();
    /// A forwarded txn: the client and its msg_id.
    type Call = (String, u64);

    fn init(_: &mut Ctx<'_, Self>, args: &[String]) -> Self {
        let serial = match args.first().map(String::as_str) {
            Some("serial") => true,
            Some("async") => false,
            other => panic!("no such store {other:?}"),
        };
        Store { serial, lists: HashMap::new(), outbox: Vec::new(), flush_armed: false }
    }

    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        let msg_id = req.msg_id.unwrap_or(0);
        match req.kind {
            "txn" if self.serial && cx.index() != 0 => {
                // Forward to n0, the one node that executes transactions.
                let leader = cx.ids()[0].clone();
                let txn = req.get("txn").ok_or(FieldError::missing("txn", "micro-ops"))?;
                cx.rpc(&leader, "txn", Duration::from_secs(1), (req.src.to_owned(), msg_id), |b| {
                    b.val("txn", txn);
                });
            }
            "txn" => {
                let mut mops = parse(req)?;
                self.execute(&mut mops);
                Self::answer(cx, req.src, msg_id, &mops);
                if !self.serial && !self.flush_armed {
                    self.flush_armed = true;
                    cx.set_timer(cx.now() + Duration::from_millis(50), ());
                }
            }
            "replicate" => {
                for e in req.arr("appends")?.iter() {
                    let a = e.as_array().ok_or(FieldError::invalid("appends", "pairs"))?;
                    let k = a.get(0).and_then(|k| k.as_i64()).unwrap_or(0);
                    let v = a.get(1).and_then(|v| v.as_i64()).unwrap_or(0);
                    self.lists.entry(k).or_default().push(v);
                }
            }
            other => return Err(Reject::unsupported(other)),
        }
        Ok(())
    }

    fn on_reply(&mut self, call: (String, u64), reply: Reply<'_, '_, '_>, cx: &mut Ctx<'_, Self>) {
        let (client, msg_id) = call;
        match reply.ok().and_then(|m| m.get("txn")) {
            Some(txn) => cx.send(&client, "txn_ok", |b| {
                b.u64("in_reply_to", msg_id).val("txn", txn);
            }),
            None => cx.send(&client, "error", |b| {
                b.u64("in_reply_to", msg_id)
                    .u64("code", ErrorCode::Crash.code())
                    .str("text", "leader unreachable");
            }),
        }
    }

    fn on_timer(&mut self, _: (), cx: &mut Ctx<'_, Self>) {
        self.flush_armed = false;
        let batch = std::mem::take(&mut self.outbox);
        let me = cx.id().to_owned();
        for peer in cx.ids().to_vec().iter().filter(|p| **p != me) {
            cx.send(peer, "replicate", |b| {
                b.arr("appends", |a| {
                    for (k, v) in &batch {
                        a.arr(|p| {
                            p.i64(*k).i64(*v);
                        });
                    }
                });
            });
        }
    }
}

fn store(kind: &'static str) -> impl Fn(usize) -> Box<dyn Machine> {
    move |i| Box::new(Node::<Store>::new(vec![kind.to_owned()], i as u64))
}

fn run(kind: &'static str, flags: &str) -> Outcome {
    run_nodes(&opts(flags), &store(kind)).expect("the bench runs")
}

#[test]
fn a_serial_store_is_strict_serializable() {
    for seed in 0..2 {
        let o = run("serial", &format!("--time-limit 60 --seed {seed}"));
        assert_eq!(o.valid, Validity::True, "seed {seed}\n{}", o.summary);
        assert_eq!(o.ok_fraction, 1.0);
        assert!(o.op_count > 5_000, "{} ops", o.op_count);
        assert!(o.workload.json.contains("\"extra_graph\":\"realtime\""));
        assert!(o.workload.json.contains("\"anomaly_types\":[]"), "{}", o.workload.json);
    }
}

#[test]
fn a_store_that_replicates_appends_later_is_not_even_read_committed_and_says_why() {
    let o = run("async", "--time-limit 20 --seed 1");
    assert_eq!(o.valid, Validity::False, "{}", o.summary);
    let j = &o.workload.json;
    // Each node orders appends its own way: reads disagree, and dependencies form cycles.
    assert!(j.contains("\"incompatible-order\""), "{}", o.summary);
    assert!(o.summary.contains("cycle: T"), "an explained cycle: {}", o.summary);
    println!("{}", o.summary);
    let rc = run("async", "--time-limit 20 --seed 1 --consistency-models read-committed");
    assert_eq!(rc.valid, Validity::False, "{}", rc.summary);
}

#[test]
fn a_single_async_node_is_serial_and_passes() {
    // With one node there is nobody to disagree with: the same code is then correct.
    let o = run("async", "--time-limit 20 --node-count 1 --seed 3");
    assert_eq!(o.valid, Validity::True, "{}", o.summary);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let a = run("serial", "--time-limit 10 --seed 5");
    let b = run("serial", "--time-limit 10 --seed 5");
    let c = run("serial", "--time-limit 10 --seed 6");
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.workload.json, b.workload.json);
    assert_ne!(a.trace_hash, c.trace_hash);
}

/// Times the checker alone on a 2-node, 60 s, rate-100 history (the issue's target: < 1 s).
/// `cargo test --test list_append -- --nocapture checker_time` prints the figure.
#[test]
fn checker_time_on_a_two_node_sixty_second_history() {
    for kind in ["serial", "async"] {
        let o = opts("--time-limit 60 --seed 7");
        let machines = (0..2).map(store(kind)).collect();
        let engine = Engine::new(&o, ListAppendClient::new(&o), InProcess::new(machines));
        let (data, _, _) = engine.run();
        let ops = data.history.invocations();
        let start = Instant::now();
        let c = check::check(&data.history, &o.consistency_models);
        let took = start.elapsed();
        println!("{kind}: {ops} txns checked in {:.1} ms ({})", took.as_secs_f64() * 1e3, c.valid);
        assert!(ops > 5_000);
        assert!(took < Duration::from_secs(5), "{kind}: {took:?}");
    }
}
