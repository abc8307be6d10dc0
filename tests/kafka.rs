//! End to end, kafka (challenges 5a, 5b, 5c): the bench runs our node in-process with the
//! challenges' flags, under partitions and latency; and deliberately broken nodes, each with
//! one bug, are run through the same bench to show the checker rejects every anomaly class
//! it claims.

use std::collections::HashMap;

use glomers::node::{Ctx, Machine, Node, Output, Reject, Workload};
use glomers::proto::encode::write_val;
use glomers::proto::{ErrorCode, Msg};
use glomers::sim::opts::TestOpts;
use glomers::sim::report::Outcome;
use glomers::sim::run_nodes;
use glomers::sim::workloads::Validity;
use glomers::time::Instant;
use glomers::workload::kafka::Kafka;

fn opts(flags: &str) -> TestOpts {
    let mut args: Vec<String> = "-w kafka --concurrency 2n --rate 1000 --no-store --quiet"
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    args.extend(flags.split_whitespace().map(str::to_owned));
    TestOpts::parse(&args).expect("valid flags")
}

fn assert_valid(o: &Outcome) {
    assert_eq!(o.valid, Validity::True, "{}", o.summary);
    assert!(o.faults.is_empty(), "{}", o.summary);
}

#[test]
fn challenge_5a_one_node() {
    for seed in [1, 2] {
        let o = glomers::sim::run(&opts(&format!("--node-count 1 --time-limit 20 --seed {seed}")))
            .unwrap();
        assert_valid(&o);
        assert_eq!(o.msgs_per_op_servers, 0.0);
        assert!(o.op_count > 15_000, "{}", o.summary);
    }
}

#[test]
fn challenges_5b_and_5c_two_nodes_few_messages_no_waiting() {
    for seed in [1, 2, 3] {
        let o = glomers::sim::run(&opts(&format!("--node-count 2 --time-limit 20 --seed {seed}")))
            .unwrap();
        assert_valid(&o);
        // Batched replication only: about 0.2 server messages per operation (5c asks < 2).
        assert!(o.msgs_per_op_servers < 0.3, "{}", o.summary);
        assert!(o.op_latency_ms("send", 0.5).is_some_and(|ms| ms < 1.0), "{}", o.summary);
    }
}

#[test]
fn partitions_latency_reordering_and_more_nodes_lose_nothing() {
    for flags in [
        "--node-count 2 --time-limit 20 --nemesis partition --nemesis-interval 3 --seed 3",
        "--node-count 2 --time-limit 20 --nemesis partition --latency 100 --seed 4",
        "--node-count 2 --time-limit 10 --latency 50 --latency-dist exponential --seed 5",
        "--node-count 5 --time-limit 10 --nemesis partition --nemesis-interval 2 --seed 6",
    ] {
        let o = glomers::sim::run(&opts(flags)).unwrap();
        assert_valid(&o);
        if flags.contains("partition") {
            assert!(o.net.dropped_partition > 0, "the partitions cut something: {}", o.summary);
        }
    }
}

#[test]
fn a_seed_replays_exactly() {
    let o = opts("--node-count 2 --time-limit 5 --nemesis partition --seed 9");
    let a = glomers::sim::run(&o).unwrap();
    let b = glomers::sim::run(&o).unwrap();
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.workload.json, b.workload.json);
    assert_eq!(a.net.all.msg_count, b.net.all.msg_count);
}

// ---------------------------------------------------------------------------------------------
// Deliberately broken nodes.

/// A small single-node kafka with one injectable bug, chosen by its first argument.
/// Without a bug it is correct (the baseline test checks that), so each failure below is the
/// bug's doing.
struct Toy {
    bug: String,
    /// Per key: (offset, message JSON) in offset order.
    logs: HashMap<String, Vec<(i64, String)>>,
    /// Sends per key so far.
    sends: HashMap<String, i64>,
    /// Polls answered so far.
    polls: u64,
    /// Keys each client has polled.
    polled: HashMap<(String, String), ()>,
    scratch: Vec<u8>,
}

impl Toy {
    fn json(&mut self, v: glomers::proto::Val<'_, '_>) -> String {
        self.scratch.clear();
        write_val(&mut self.scratch, v);
        String::from_utf8_lossy(&self.scratch).into_owned()
    }

    fn send(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        let key = req.str("key")?.to_owned();
        let msg = self.json(req.field("msg")?);
        let n = *self.sends.entry(key.clone()).and_modify(|n| *n += 1).or_insert(0);
        let seventh = n % 7 == 6;
        let log = self.logs.entry(key).or_default();
        let next = log.last().map_or(0, |l| l.0 + 1);
        let offset = match self.bug.as_str() {
            "inconsistent-offsets" if seventh && next > 0 => next - 1,
            "nonmonotonic-send" => 1_000 - n,
            "unseen" if seventh => 1_000_000 + n,
            _ => next,
        };
        match self.bug.as_str() {
            "unseen" if seventh => {}
            "duplicate" if seventh => {
                log.push((offset, msg.clone()));
                log.push((offset + 1, msg));
            }
            _ => log.push((offset, msg)),
        }
        log.sort_by_key(|e| e.0);
        if self.bug == "g1a" && seventh {
            return Err(Reject::new(ErrorCode::TemporarilyUnavailable, "a lie: it was stored"));
        }
        cx.reply(req, "send_ok", |b| {
            b.i64("offset", offset);
        });
        Ok(())
    }

    fn poll(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        self.polls += 1;
        let odd = self.polls % 2 == 1;
        let mut reply: Vec<(String, Vec<(i64, String)>)> = Vec::new();
        for (key, from) in req.obj("offsets")?.iter() {
            let mut from =
                from.as_i64().ok_or(Reject::new(ErrorCode::MalformedRequest, "offset"))?;
            let again = self.polled.insert((req.src.to_owned(), key.to_owned()), ()).is_some();
            let Some(log) = self.logs.get(key) else { continue };
            let start = log.iter().position(|e| e.0 >= from).unwrap_or(log.len());
            match self.bug.as_str() {
                "poll-skip" if again => from = log.get(start).map_or(from, |e| e.0 + 1),
                "nonmonotonic-poll" if again && start > 0 => from = log[start - 1].0,
                _ => {}
            }
            let mut pairs: Vec<(i64, String)> =
                log.iter().filter(|e| e.0 >= from).take(16).cloned().collect();
            match self.bug.as_str() {
                "int-poll-skip" if odd && pairs.len() >= 3 => {
                    pairs.remove(1);
                }
                "int-nonmonotonic-poll" if odd => pairs.reverse(),
                "lost-write" => {
                    // Every seventh message of a key is acknowledged but never shown.
                    pairs.retain(|e| e.0 % 7 != 6);
                }
                "g1c-realtime" => {
                    // Clairvoyance: predict the next message of a key that has more coming.
                    if let Some((o, m)) = pairs.last().cloned() {
                        if let Ok(v) = m.parse::<i64>() {
                            if (1..16).contains(&v) && log.last().is_some_and(|l| l.0 == o) {
                                pairs.push((o + 1, (v + 1).to_string()));
                            }
                        }
                    }
                }
                _ => {}
            }
            if !pairs.is_empty() {
                reply.push((key.to_owned(), pairs));
            }
        }
        cx.reply(req, "poll_ok", |b| {
            b.obj("msgs", |o| {
                for (k, pairs) in &reply {
                    o.arr(k, |a| {
                        for (off, m) in pairs {
                            a.arr(|p| {
                                p.i64(*off);
                                p.elem().extend_from_slice(m.as_bytes());
                            });
                        }
                    });
                }
            });
        });
        Ok(())
    }
}

impl Workload for Toy {
    type Timer = ();
    type Call = ();

    fn init(_: &mut Ctx<'_, Self>, args: &[String]) -> Self {
        Toy {
            bug: args.first().cloned().unwrap_or_default(),
            logs: HashMap::new(),
            sends: HashMap::new(),
            polls: 0,
            polled: HashMap::new(),
            scratch: Vec::new(),
        }
    }

    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        match req.kind {
            "send" => self.send(req, cx),
            "poll" => self.poll(req, cx),
            "commit_offsets" => {
                cx.reply(req, "commit_offsets_ok", |_| {});
                Ok(())
            }
            "list_committed_offsets" => {
                cx.reply(req, "list_committed_offsets_ok", |b| {
                    b.obj("offsets", |_| {});
                });
                Ok(())
            }
            other => Err(Reject::unsupported(other)),
        }
    }
}

fn toy(bug: &str) -> Outcome {
    let o = opts("--node-count 1 --time-limit 5 --seed 7");
    run_nodes(&o, &|_| Box::new(Node::<Toy>::new(vec![bug.to_owned()], 7))).unwrap()
}

#[test]
fn the_toy_node_without_a_bug_passes() {
    assert_valid(&toy("none"));
}

#[test]
fn every_anomaly_class_is_caught_in_a_broken_node() {
    for (bug, class) in [
        ("inconsistent-offsets", "inconsistent-offsets"),
        ("duplicate", "duplicate"),
        ("g1a", "G1a"),
        ("lost-write", "lost-write"),
        ("int-poll-skip", "int-poll-skip"),
        ("int-nonmonotonic-poll", "int-nonmonotonic-poll"),
        ("poll-skip", "poll-skip"),
        ("nonmonotonic-poll", "nonmonotonic-poll"),
        ("nonmonotonic-send", "nonmonotonic-send"),
        ("unseen", "unseen"),
        ("g1c-realtime", "G1c-realtime"),
    ] {
        let o = toy(bug);
        eprintln!("bug {bug}:\n{}", o.summary);
        assert_eq!(o.valid, Validity::False, "{bug}: {}", o.summary);
        assert!(
            o.workload.json.contains(&format!("\"{class}\":{{\"count\"")),
            "{bug}: {}",
            o.summary
        );
    }
}

/// Our real node, except that node `n1` loses one record out of an incoming replication
/// batch: the kind of bug a replication protocol can have. The checker must notice.
struct DropOneRecord {
    inner: Node<Kafka>,
    dropped: bool,
}

impl Machine for DropOneRecord {
    fn handle_line(&mut self, now: Instant, line: &mut [u8], len: usize, out: &mut Output) {
        let text = String::from_utf8_lossy(&line[..len]).into_owned();
        if !self.dropped && text.contains("\"kafka_repl\"") {
            let mut bytes = text.into_bytes();
            let mut v = simd_json::to_owned_value(&mut bytes).expect("our node prints JSON");
            use simd_json::prelude::*;
            let recs = v
                .get_mut("body")
                .and_then(|b| b.get_mut("recs"))
                .and_then(|r| r.as_array_mut())
                .expect("a batch has records");
            if recs.len() >= 3 && recs[1].as_array().is_some_and(|r| r.len() == 3) {
                recs.remove(1);
                self.dropped = true;
                let mut patched = simd_json::to_string(&v).expect("serializable").into_bytes();
                let n = patched.len();
                patched.resize(n + glomers::proto::PADDING, b' ');
                return self.inner.handle_line(now, &mut patched, n, out);
            }
        }
        self.inner.handle_line(now, line, len, out)
    }

    fn handle_timeout(&mut self, now: Instant, out: &mut Output) {
        self.inner.handle_timeout(now, out)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }
}

#[test]
fn a_replication_bug_in_the_real_node_is_caught() {
    let o = opts("--node-count 2 --time-limit 8 --seed 11");
    let out = run_nodes(&o, &|i| -> Box<dyn Machine> {
        match i {
            0 => Box::new(Node::<Kafka>::new(Vec::new(), 11)),
            _ => Box::new(DropOneRecord { inner: Node::new(Vec::new(), 12), dropped: false }),
        }
    })
    .unwrap();
    assert_eq!(out.valid, Validity::False, "{}", out.summary);
    assert!(out.summary.contains("ANOMALIES"), "{}", out.summary);
}
