//! End to end: the txn-rw-register node (challenges 6a-6c) through the in-process bench, and
//! deliberately broken twins of it, one per anomaly class, that the checker must reject.

use std::collections::HashMap;
use std::time::Duration;

use glomers::node::{Ctx, Machine, Node, Reject, Workload};
use glomers::proto::{ErrorCode, FieldError, Msg};
use glomers::sim::opts::TestOpts;
use glomers::sim::report::Outcome;
use glomers::sim::run_nodes;
use glomers::sim::workloads::Validity;

fn opts(flags: &str) -> TestOpts {
    let mut args: Vec<String> = "-w txn-rw-register --time-limit 20 --rate 1000 --concurrency 2n \
                                 --no-store --quiet"
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    args.extend(flags.split_whitespace().map(str::to_owned));
    TestOpts::parse(&args).expect("valid flags")
}

fn run(flags: &str) -> Outcome {
    glomers::sim::run(&opts(flags)).expect("the test runs")
}

fn assert_valid(flags: &str) {
    let o = run(flags);
    assert_eq!(o.valid, Validity::True, "{flags}\n{}", o.summary);
    assert_eq!(o.ok_fraction, 1.0, "{flags}: total availability");
    assert!(o.op_count > 10_000, "{flags}: {} ops", o.op_count);
}

/// A handful of seeds per configuration; `glomers sweep --seeds 0..100` runs many more.
const SEEDS: std::ops::Range<u64> = 0..2;

#[test]
fn challenge_6a_single_node_read_uncommitted() {
    for seed in SEEDS {
        assert_valid(&format!(
            "--node-count 1 --consistency-models read-uncommitted --availability total --seed {seed}"
        ));
    }
}

#[test]
fn challenge_6b_two_nodes_read_uncommitted_with_and_without_partitions() {
    for seed in SEEDS {
        let base = format!(
            "--node-count 2 --consistency-models read-uncommitted --availability total --seed {seed}"
        );
        assert_valid(&base);
        assert_valid(&format!("{base} --nemesis partition"));
    }
}

#[test]
fn challenge_6c_read_committed_with_partitions_and_latency() {
    for seed in SEEDS {
        let base = format!(
            "--node-count 2 --consistency-models read-committed --availability total \
             --nemesis partition --seed {seed}"
        );
        assert_valid(&base);
        assert_valid(&format!("{base} --latency 100"));
    }
}

#[test]
fn partitions_cause_lost_updates_which_read_committed_allows_and_the_report_says_so() {
    let o = run("--node-count 2 --consistency-models read-committed --nemesis partition --seed 2");
    assert_eq!(o.valid, Validity::True, "{}", o.summary);
    assert!(o.workload.json.contains("\"allowed_by_models\":[\"lost-update\"]"), "{}", o.summary);
    assert!(o.summary.contains("Maelstrom ignores them): lost-update"), "{}", o.summary);
}

/// A single-node register store with one deliberate bug, named by its only argument.
struct Broken {
    bug: Bug,
    store: HashMap<i64, i64>,
    writing_txns: u64,
    /// Txns in progress (late-reads, interleave): client, msg_id, micro-ops, how many done.
    parked: Vec<(String, u64, Vec<Mop>, usize)>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Bug {
    /// Every fifth writing txn is applied, then answered with a definite error: G1a.
    AbortedReads,
    /// When a txn writes a key twice, the register keeps the first value: G1b.
    IntermediateReads,
    /// Reads see the state before the txn, not its own earlier writes: internal.
    OwnWritesInvisible,
    /// Writes apply on arrival, reads when the next txn has applied its writes: G1c.
    LateReads,
    /// Txns in progress run one micro-op at a time, round-robin (no isolation at all): G0.
    Interleave,
}

/// `(write?, key, value)`.
type Mop = (bool, i64, Option<i64>);

impl Broken {
    fn read(&self, k: i64) -> Option<i64> {
        self.store.get(&k).copied()
    }

    fn reply(cx: &mut Ctx<'_, Self>, client: &str, msg_id: u64, mops: &[Mop]) {
        // A reply written by hand: the request is gone by the time a parked txn finishes.
        cx.send(client, "txn_ok", |b| {
            b.u64("in_reply_to", msg_id).arr("txn", |a| {
                for &(w, k, v) in mops {
                    a.arr(|t| {
                        t.str(if w { "w" } else { "r" }).i64(k);
                        match v {
                            Some(v) => t.i64(v),
                            None => t.null(),
                        };
                    });
                }
            });
        });
    }

    /// One micro-op of every parked txn; answers those that finish.
    fn step_all(&mut self, cx: &mut Ctx<'_, Self>) {
        let mut i = 0;
        while i < self.parked.len() {
            let (_, _, mops, done) = &mut self.parked[i];
            let (w, k, v) = mops[*done];
            if w {
                self.store.insert(k, v.expect("writes have values"));
            } else {
                mops[*done].2 = self.store.get(&k).copied();
            }
            *done += 1;
            if *done == mops.len() {
                let (client, id, mops, _) = self.parked.remove(i);
                Self::reply(cx, &client, id, &mops);
            } else {
                i += 1;
            }
        }
    }

    /// Answers the late txns, their reads seeing the registers now (or their own writes).
    fn finish_late(&mut self, cx: &mut Ctx<'_, Self>) {
        for (client, id, mut mops, _) in std::mem::take(&mut self.parked) {
            for j in 0..mops.len() {
                let (w, k, _) = mops[j];
                if !w {
                    let own = mops[..j].iter().rev().find(|m| m.0 && m.1 == k);
                    mops[j].2 = own.map_or_else(|| self.read(k), |m| m.2);
                }
            }
            Self::reply(cx, &client, id, &mops);
        }
    }
}

impl Workload for Broken {
    type Timer = ();
    type Call = ();

    fn init(_: &mut Ctx<'_, Self>, args: &[String]) -> Self {
        let bug = match args.first().map(String::as_str) {
            Some("aborted-reads") => Bug::AbortedReads,
            Some("intermediate-reads") => Bug::IntermediateReads,
            Some("own-writes-invisible") => Bug::OwnWritesInvisible,
            Some("late-reads") => Bug::LateReads,
            Some("interleave") => Bug::Interleave,
            other => panic!("no such bug {other:?}"),
        };
        Broken { bug, store: HashMap::new(), writing_txns: 0, parked: Vec::new() }
    }

    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        const BAD: FieldError = FieldError::invalid("txn", "micro-ops");
        let mut mops: Vec<Mop> = Vec::new();
        for m in req.arr("txn")?.iter() {
            let a = m.as_array().ok_or(BAD)?;
            let f = a.get(0).and_then(|f| f.as_str()).ok_or(BAD)?;
            let k = a.get(1).and_then(|k| k.as_i64()).ok_or(BAD)?;
            mops.push((f == "w", k, a.get(2).and_then(|v| v.as_i64())));
        }
        let writes = mops.iter().any(|m| m.0);
        match self.bug {
            Bug::LateReads | Bug::Interleave => {
                if self.bug == Bug::LateReads {
                    for &(w, k, v) in &mops {
                        if w {
                            self.store.insert(k, v.expect("writes have values"));
                        }
                    }
                    self.finish_late(cx);
                }
                self.parked.push((req.src.to_owned(), req.msg_id.unwrap_or(0), mops, 0));
                if self.bug == Bug::Interleave {
                    self.step_all(cx);
                }
                cx.set_timer(cx.now() + Duration::from_millis(1), ());
                return Ok(());
            }
            Bug::OwnWritesInvisible => {
                for m in mops.iter_mut().filter(|m| !m.0) {
                    m.2 = self.store.get(&m.1).copied();
                }
                for &(w, k, v) in &mops {
                    if w {
                        self.store.insert(k, v.expect("writes have values"));
                    }
                }
            }
            Bug::AbortedReads | Bug::IntermediateReads => {
                for m in mops.iter_mut() {
                    if m.0 {
                        self.store.insert(m.1, m.2.expect("writes have values"));
                    } else {
                        m.2 = self.store.get(&m.1).copied();
                    }
                }
                if self.bug == Bug::IntermediateReads {
                    for (i, &(w, k, v)) in mops.iter().enumerate() {
                        let first = w && !mops[..i].iter().any(|m| m.0 && m.1 == k);
                        if first && mops[i + 1..].iter().any(|m| m.0 && m.1 == k) {
                            self.store.insert(k, v.expect("writes have values"));
                        }
                    }
                }
                if self.bug == Bug::AbortedReads && writes {
                    self.writing_txns += 1;
                    if self.writing_txns % 5 == 0 {
                        return Err(Reject::new(ErrorCode::TxnConflict, "deliberately aborted"));
                    }
                }
            }
        }
        Self::reply(cx, req.src, req.msg_id.unwrap_or(0), &mops);
        Ok(())
    }

    fn on_timer(&mut self, _: (), cx: &mut Ctx<'_, Self>) {
        if self.bug == Bug::LateReads {
            self.finish_late(cx);
        } else {
            self.step_all(cx);
            if !self.parked.is_empty() {
                cx.set_timer(cx.now() + Duration::from_millis(1), ());
            }
        }
    }
}

/// Runs the broken node `bug` (one node) with these flags.
fn broken(bug: &str, flags: &str) -> Outcome {
    let o = opts(&format!("--node-count 1 --time-limit 10 --seed 1 {flags}"));
    let args = vec![bug.to_owned()];
    let make = |_| -> Box<dyn Machine> { Box::new(Node::<Broken>::new(args.clone(), 1)) };
    run_nodes(&o, &make).expect("the bench runs")
}

/// Whether the checker listed `anomaly` among those the models forbid.
fn forbidden(o: &Outcome, anomaly: &str) -> bool {
    let j = &o.workload.json;
    let Some(start) = j.find("\"forbidden\":[") else { return false };
    let end = start + j[start..].find(']').expect("a closed list");
    j[start..end].contains(&format!("\"{anomaly}\""))
}

/// Reported, but allowed by the models (so Maelstrom would ignore it).
fn allowed(o: &Outcome, anomaly: &str) -> bool {
    let j = &o.workload.json;
    let Some(start) = j.find("\"allowed_by_models\":[") else { return false };
    let end = start + j[start..].find(']').expect("a closed list");
    j[start..end].contains(&format!("\"{anomaly}\""))
}

/// `bug` is reported as `anomaly`: allowed by read-uncommitted, rejected by read-committed.
fn only_read_committed_rejects(bug: &str, anomaly: &str) {
    let ru = broken(bug, "--consistency-models read-uncommitted");
    assert_eq!(ru.valid, Validity::True, "{}", ru.summary);
    assert!(allowed(&ru, anomaly), "{}", ru.summary);
    let rc = broken(bug, "--consistency-models read-committed");
    assert_eq!(rc.valid, Validity::False, "{}", rc.summary);
    assert!(forbidden(&rc, anomaly), "{}", rc.summary);
}

#[test]
fn a_node_exposing_aborted_writes_fails_read_committed_with_g1a() {
    only_read_committed_rejects("aborted-reads", "G1a");
}

#[test]
fn a_node_exposing_intermediate_writes_fails_read_committed_with_g1b() {
    only_read_committed_rejects("intermediate-reads", "G1b");
}

#[test]
fn a_node_with_non_atomic_reads_fails_read_committed_with_g1c() {
    only_read_committed_rejects("late-reads", "G1c");
    let rc = broken("late-reads", "--consistency-models read-committed");
    assert!(rc.summary.contains("cycle: T"), "an explained example: {}", rc.summary);
}

#[test]
fn a_node_without_isolation_fails_read_uncommitted_with_g0() {
    let o = broken(
        "interleave",
        "--time-limit 20 --key-count 3 --max-txn-length 8 --concurrency 8n \
         --consistency-models read-uncommitted",
    );
    assert_eq!(o.valid, Validity::False, "{}", o.summary);
    assert!(forbidden(&o, "G0"), "{}", o.summary);
}

#[test]
fn a_node_hiding_its_own_writes_is_reported_but_only_serializable_rejects_it() {
    let rc = broken("own-writes-invisible", "--consistency-models read-committed");
    assert_eq!(rc.valid, Validity::True, "{}", rc.summary);
    assert!(allowed(&rc, "internal"), "{}", rc.summary);
    assert!(rc.summary.contains("Maelstrom ignores them): internal"), "{}", rc.summary);
    let ser = broken("own-writes-invisible", "--time-limit 5 --consistency-models serializable");
    assert_eq!(ser.valid, Validity::False, "{}", ser.summary);
    assert!(forbidden(&ser, "internal"), "{}", ser.summary);
}
