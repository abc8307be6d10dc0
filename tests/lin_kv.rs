//! End-to-end tests of the lin-kv workload: Maelstrom's client and generator against
//! in-process test nodes (`glomers::sim::workloads::lin_kv::subjects`), judged by the per-key
//! linearizability checker.
//!
//! Correct subjects: a proxy to the bench's `lin-kv` service (Maelstrom's demo
//! `lin_kv_proxy.rb` does the same) on any number of nodes, and a node that keeps the map
//! itself, which is correct only alone. Broken subjects: that local map on three nodes (reads
//! and writes of other nodes never meet), a node that serves reads from a local cache of its own
//! writes while writes go to the service (stale reads), and a node that acknowledges writes it
//! drops.

use glomers::node::{Machine, Node, Workload};
use glomers::sim::opts::{Concurrency, LatencyDist, TestOpts};
use glomers::sim::report::Outcome;
use glomers::sim::run_nodes;
use glomers::sim::workloads::Validity;
use glomers::sim::workloads::lin_kv::subjects::{
    DropWrites, FlakyProxy, LocalMap, Proxy, StaleReads,
};

fn opts(nodes: usize, per_node: usize, time_limit: u64, rate: f64, seed: u64) -> TestOpts {
    TestOpts {
        workload: "lin-kv".into(),
        node_count: Some(nodes),
        concurrency: Concurrency::PerNode(per_node),
        time_limit,
        rate,
        seed,
        store: None,
        quiet: true,
        ..TestOpts::default()
    }
}

fn boxed<W: Workload + 'static>(args: &[&str], seed: u64) -> Box<dyn Machine> {
    Box::new(Node::<W>::new(args.iter().map(|s| (*s).to_owned()).collect(), seed))
}

fn run<W: Workload + 'static>(o: &TestOpts, args: &[&str]) -> Outcome {
    run_nodes(o, &|i| boxed::<W>(args, i as u64)).expect("the bench runs")
}

fn assert_valid(out: &Outcome, what: &str) {
    assert_eq!(out.valid, Validity::True, "{what}:\n{}", out.summary);
}

fn assert_invalid(out: &Outcome, what: &str) {
    assert_eq!(out.valid, Validity::False, "{what}:\n{}", out.summary);
    assert_eq!(out.exit_code, 1);
    assert!(out.summary.contains("window"), "an invalid key shows its window:\n{}", out.summary);
}

#[test]
fn a_proxy_to_the_service_is_linearizable() {
    let o = opts(3, 2, 20, 50.0, 1);
    let out = run::<Proxy>(&o, &[]);
    assert_valid(&out, "proxy, 3 nodes, 2n");
    assert!(out.op_count > 800, "{}", out.summary);
    // Every request is one service round trip: two server messages per operation.
    assert!((out.msgs_per_op_servers - 2.0).abs() < 0.01, "{}", out.summary);
    // Latency, reordering and partitions change nothing for a proxy: services are never cut
    // off. Two groups, so two keys at once.
    let o = TestOpts {
        latency: 30,
        latency_dist: LatencyDist::Exponential,
        partition: true,
        ..opts(3, 4, 20, 60.0, 2)
    };
    assert_valid(&run::<Proxy>(&o, &[]), "proxy, 3 nodes, 4n, latency and partitions");
}

#[test]
fn indeterminate_operations_are_judged_and_move_keys_on() {
    // A fifth of the writes and CAS time out, half of them applied: still linearizable, and
    // each group's key ends after 15 infos (2n = 6 processes + 15 > Jepsen's limit of 20).
    let o = opts(3, 2, 30, 40.0, 8);
    let out = run::<FlakyProxy>(&o, &[]);
    assert_valid(&out, "a proxy that leaves some requests unanswered");
    let stats = out.summary.lines().find(|l| l.contains("stats")).expect("a stats line");
    for f in ["write", "cas"] {
        let infos: u64 = stats
            .split(&format!("{f} "))
            .nth(1)
            .and_then(|s| s.split(" info").next())
            .and_then(|s| s.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .expect("an info count");
        assert!(infos > 10, "{f}: {stats}");
    }
    let keys: usize = out
        .results_json
        .split("\"keys\":")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|k| k.parse().ok())
        .expect("a key count");
    assert!(keys >= 3, "keys advance after 15 infos: {keys}\n{}", out.summary);
}

#[test]
fn a_local_map_is_linearizable_alone_and_not_on_three_nodes() {
    let out = run::<LocalMap>(&opts(1, 2, 10, 50.0, 3), &[]);
    assert_valid(&out, "one node");
    let out = run::<LocalMap>(&opts(3, 2, 10, 50.0, 4), &[]);
    assert_invalid(&out, "three split-brained nodes");
}

#[test]
fn stale_reads_from_a_local_cache_are_rejected() {
    let out = run::<StaleReads>(&opts(3, 2, 10, 50.0, 5), &[]);
    assert_invalid(&out, "reads from a cache of the node's own writes");
}

#[test]
fn acknowledged_but_dropped_writes_are_rejected() {
    let out = run::<DropWrites>(&opts(3, 2, 10, 50.0, 6), &[]);
    assert_invalid(&out, "every third write acknowledged and dropped");
}

#[test]
fn flags_maelstrom_cannot_run_are_errors() {
    for per_node in [1, 3] {
        let e = run_nodes(&opts(3, per_node, 5, 10.0, 7), &|i| boxed::<Proxy>(&[], i as u64));
        assert!(e.is_err(), "--concurrency {per_node}n");
    }
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    let o = TestOpts {
        latency: 20,
        latency_dist: LatencyDist::Exponential,
        partition: true,
        ..opts(3, 2, 5, 100.0, 11)
    };
    let a = run::<Proxy>(&o, &[]);
    let b = run::<Proxy>(&o, &[]);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.op_count, b.op_count);
    let c = run::<Proxy>(&TestOpts { seed: 12, ..o }, &[]);
    assert_ne!(a.trace_hash, c.trace_hash, "another seed, another run");
}

/// A reader for the small part of EDN that Knossos's register histories use: vectors and
/// lists of maps with keyword keys, and keywords, integers, strings, `nil` and vectors as
/// values. (`glomers check` will have the real reader.)
mod edn {
    #[derive(Clone, Debug, PartialEq)]
    pub(crate) enum Edn {
        Nil,
        Int(i64),
        Kw(String),
        Str(String),
        Sym(String),
        Seq(Vec<Edn>),
        Map(Vec<(Edn, Edn)>),
    }

    pub(crate) fn parse(text: &str) -> Edn {
        let mut p = Parser { s: text.as_bytes(), i: 0 };
        p.value()
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn skip(&mut self) {
            while self.i < self.s.len() {
                match self.s[self.i] {
                    b' ' | b'\n' | b'\r' | b'\t' | b',' => self.i += 1,
                    b';' => {
                        while self.i < self.s.len() && self.s[self.i] != b'\n' {
                            self.i += 1;
                        }
                    }
                    _ => break,
                }
            }
        }

        fn value(&mut self) -> Edn {
            self.skip();
            let c = self.s[self.i];
            match c {
                b'[' | b'(' => {
                    self.i += 1;
                    let mut items = Vec::new();
                    loop {
                        self.skip();
                        if matches!(self.s[self.i], b']' | b')') {
                            self.i += 1;
                            return Edn::Seq(items);
                        }
                        items.push(self.value());
                    }
                }
                b'{' => {
                    self.i += 1;
                    let mut items = Vec::new();
                    loop {
                        self.skip();
                        if self.s[self.i] == b'}' {
                            self.i += 1;
                            return Edn::Map(items);
                        }
                        let k = self.value();
                        items.push((k, self.value()));
                    }
                }
                b'"' => {
                    self.i += 1;
                    let start = self.i;
                    while self.s[self.i] != b'"' {
                        self.i += if self.s[self.i] == b'\\' { 2 } else { 1 };
                    }
                    self.i += 1;
                    Edn::Str(String::from_utf8_lossy(&self.s[start..self.i - 1]).into_owned())
                }
                _ => {
                    let start = self.i;
                    while self.i < self.s.len() && !b" \n\r\t,;[](){}\"".contains(&self.s[self.i]) {
                        self.i += 1;
                    }
                    let tok = std::str::from_utf8(&self.s[start..self.i]).unwrap();
                    if let Some(kw) = tok.strip_prefix(':') {
                        Edn::Kw(kw.to_owned())
                    } else if tok == "nil" {
                        Edn::Nil
                    } else if let Ok(i) = tok.parse() {
                        Edn::Int(i)
                    } else {
                        Edn::Sym(tok.to_owned())
                    }
                }
            }
        }
    }
}

/// Knossos's own register histories (`data/cas-register/{good,bad}` in jepsen-io/knossos),
/// judged from 0 as Knossos's tests judge them: every good one valid, every bad one invalid.
/// Run with `KNOSSOS_DATA=/path/to/knossos/data cargo test --test lin_kv -- --ignored`.
#[test]
#[ignore = "needs a copy of Knossos's data directory in KNOSSOS_DATA"]
fn knossos_register_histories_get_knossos_verdicts() {
    use edn::Edn;
    use glomers::sim::workloads::lin_kv::linear::{self, Call, EventType, Verdict};
    let dir = std::path::PathBuf::from(std::env::var("KNOSSOS_DATA").expect("KNOSSOS_DATA"));
    let mut checked = 0;
    for (sub, want) in [("good", Verdict::Valid), ("bad", Verdict::Invalid)] {
        let mut files: Vec<_> = std::fs::read_dir(dir.join("cas-register").join(sub))
            .expect("a Knossos data directory")
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "edn"))
            .collect();
        files.sort();
        for path in files {
            let Edn::Seq(ops) = edn::parse(&std::fs::read_to_string(&path).unwrap()) else {
                panic!("{}: not a sequence", path.display())
            };
            let events: Vec<(u64, EventType, Call<i64>)> = ops
                .iter()
                .filter_map(|op| {
                    let Edn::Map(m) = op else { return None };
                    let get = |k: &str| m.iter().find(|(key, _)| *key == Edn::Kw(k.into()));
                    let Some((_, Edn::Int(process))) = get("process") else { return None };
                    let kind = match get("type").map(|(_, v)| v) {
                        Some(Edn::Kw(t)) if t == "invoke" => EventType::Invoke,
                        Some(Edn::Kw(t)) if t == "ok" => EventType::Ok,
                        Some(Edn::Kw(t)) if t == "fail" => EventType::Fail,
                        _ => EventType::Info,
                    };
                    let int = |v: &Edn| match v {
                        Edn::Int(i) => Some(*i),
                        _ => None,
                    };
                    let value = get("value").map_or(&Edn::Nil, |(_, v)| v);
                    let f = match get("f").map(|(_, v)| v) {
                        Some(Edn::Kw(f)) if f == "read" => Call::Read(int(value)),
                        Some(Edn::Kw(f)) if f == "write" => Call::Write(int(value)),
                        Some(Edn::Kw(f)) if f == "cas" => match value {
                            Edn::Seq(v) if v.len() == 2 => Call::Cas(int(&v[0]), int(&v[1])),
                            _ => Call::Cas(None, None),
                        },
                        other => panic!("{}: unknown f {other:?}", path.display()),
                    };
                    Some((*process as u64, kind, f))
                })
                .collect();
            let ops = linear::pair(&events).expect("a well-formed history");
            let t = std::time::Instant::now();
            let rep = linear::check(&ops, Some(&0), &linear::Options::default()).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            println!(
                "{name}: {} ops, {:?} in {:.1} ms, {} states{}",
                ops.len(),
                rep.verdict,
                t.elapsed().as_secs_f64() * 1e3,
                rep.states,
                rep.window
                    .as_ref()
                    .map(|w| format!(
                        "; window {}-{} ({} ops, {} core)",
                        w.start,
                        w.end,
                        w.ops.len(),
                        w.ops.iter().filter(|o| o.role == linear::Role::Core).count()
                    ))
                    .unwrap_or_default()
            );
            assert_eq!(rep.verdict, want, "{name}");
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked} histories");
}

/// Porcupine's Jepsen etcd logs (`test_data/jepsen` in anishathalye/porcupine) judged under
/// Knossos's semantics, a failed CAS never happened (Porcupine's own etcd model also takes it
/// as proof that the value differed, so it could reject more), with a nil read as a read of
/// the missing key: every verdict is Porcupine's (log 95 is empty; Porcupine skips it). Run
/// with `PORCUPINE_DATA=/path/to/test_data/jepsen cargo test --test lin_kv --
/// --ignored`.
#[test]
#[ignore = "needs a copy of Porcupine's test_data/jepsen in PORCUPINE_DATA"]
fn porcupine_etcd_logs_agree_where_the_semantics_do() {
    use glomers::sim::workloads::lin_kv::linear::{self, Call, EventType, NilReads, Verdict};
    let dir = std::path::PathBuf::from(std::env::var("PORCUPINE_DATA").expect("PORCUPINE_DATA"));
    let linearizable = [2, 5, 7, 18, 25, 31, 38, 45, 48, 49, 51, 53, 56, 67, 75, 76, 80, 87, 92];
    let linearizable: Vec<u32> = linearizable.into_iter().chain([98, 100, 101, 102]).collect();
    let mut agree = 0;
    for n in (0..=102u32).filter(|&n| n != 95) {
        let Ok(text) = std::fs::read_to_string(dir.join(format!("etcd_{n:03}.log"))) else {
            continue;
        };
        let mut events: Vec<(u64, EventType, Call<i64>)> = Vec::new();
        for line in text.lines() {
            let Some(rest) = line.split("jepsen.util - ").nth(1) else { continue };
            let w: Vec<&str> = rest.split('\t').collect();
            if w.len() < 4 {
                continue;
            }
            let Ok(p) = w[0].trim().parse::<u64>() else { continue };
            let int = |s: &str| s.trim_matches(|c| c == '[' || c == ']').parse::<i64>().ok();
            let kind = match w[1] {
                ":invoke" => EventType::Invoke,
                ":ok" => EventType::Ok,
                ":fail" => EventType::Fail,
                _ => EventType::Info,
            };
            let f = match w[2] {
                ":read" => Call::Read(int(w[3])),
                ":write" => Call::Write(int(w[3])),
                ":cas" => {
                    let v: Vec<&str> = w[3].split(' ').collect();
                    Call::Cas(int(v[0]), v.get(1).and_then(|s| int(s)))
                }
                _ => continue,
            };
            // A read that timed out: Porcupine keeps it as unknown; it is an indeterminate
            // read, which constrains nothing.
            let kind = if w[3] == ":timed-out" { EventType::Info } else { kind };
            events.push((p, kind, f));
        }
        let ops = linear::pair(&events).expect("a well-formed log");
        let opts = linear::Options { nil_reads: NilReads::Missing, ..Default::default() };
        let t = std::time::Instant::now();
        let rep = linear::check(&ops, None, &opts).unwrap();
        let porcupine = linearizable.contains(&n);
        println!(
            "etcd_{n:03}: {} ops, {:?} in {:.1} ms ({} states); Porcupine: {}",
            ops.len(),
            rep.verdict,
            t.elapsed().as_secs_f64() * 1e3,
            rep.states,
            if porcupine { "linearizable" } else { "not" }
        );
        assert_ne!(rep.verdict, Verdict::Unknown, "etcd_{n:03}");
        assert_eq!(rep.verdict == Verdict::Valid, porcupine, "etcd_{n:03}");
        agree += 1;
    }
    assert_eq!(agree, 102);
}
