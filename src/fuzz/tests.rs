//! Seeded runs of every harness (the invariants hold on stable, without libFuzzer), and
//! deliberately broken nodes the machine checker must reject.

use super::machine::{Runner, Setup};
use super::*;
use crate::node::{Ctx, Machine, Node, Output, Reject, Workload};
use crate::proto::Msg;
use crate::rng::Rng;
use crate::time::Instant;

fn random_input(rng: &mut Rng, max: usize) -> Vec<u8> {
    let n = rng.below(max as u64 + 1) as usize;
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

#[test]
fn framer_matches_the_model_on_random_input() {
    let mut rng = Rng::new(1);
    for _ in 0..1000 {
        let mut data = random_input(&mut rng, 300);
        // Plenty of newlines and whitespace.
        for b in data.iter_mut().skip(20) {
            if *b % 5 == 0 {
                *b = b'\n';
            } else if *b % 7 == 0 {
                *b = b' ';
            }
        }
        if let Err(v) = framer(&data) {
            panic!("{v}\ninput: {data:?}");
        }
    }
}

#[test]
fn parser_invariants_hold_on_random_and_message_like_input() {
    let mut rng = Rng::new(2);
    let base = br#"{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":1,"echo":[1.5,-0,"\u00e9\n",{"a":null}]}}"#;
    for _ in 0..5000 {
        let mut data = base.to_vec();
        for _ in 0..rng.below(4) {
            let at = rng.below(data.len() as u64) as usize;
            data[at] = *rng.pick(b"{}[],:\"\\0-1e.tfn \x01\xff");
        }
        if let Err(v) = parser(&data) {
            panic!("{v}");
        }
        let data = random_input(&mut rng, 64);
        if let Err(v) = parser(&data) {
            panic!("{v}");
        }
    }
}

#[test]
fn every_workload_survives_random_scripts() {
    for name in crate::workload::NAMES {
        let mut rng = Rng::new(crate::rng::fnv1a(name.as_bytes()));
        let mut kinds = std::collections::BTreeMap::new();
        // GLOMERS_FUZZ_ROUNDS=100000 makes this a quick stable-Rust fuzz run without libFuzzer.
        let rounds = std::env::var("GLOMERS_FUZZ_ROUNDS").ok().and_then(|r| r.parse().ok());
        for _ in 0..rounds.unwrap_or(150) {
            let data = random_input(&mut rng, 1500);
            match machine::run(name, &data) {
                Ok(s) => {
                    for (k, n) in s.kinds {
                        *kinds.entry(k).or_insert(0) += n;
                    }
                }
                Err(v) => panic!("{name}: {v}\ninput: {data:?}"),
            }
        }
        // The scripts get past the error paths: the workload's own replies show up.
        let want = match *name {
            "echo" => "echo_ok",
            "unique-ids" => "generate_ok",
            "broadcast" => "read_ok",
            "g-counter" | "pn-counter" => "add_ok",
            "g-set" => "read_ok",
            "kafka" => "poll_ok",
            "lin-kv" => "write_ok",
            _ => "txn_ok",
        };
        assert!(kinds.get(want).is_some_and(|&n| n > 10), "{name}: {kinds:?}");
        if *name == "txn-list-append" {
            // Multi-node batches get to lin-kv and commit (a `commit` announcement follows a
            // `cas_ok`), and losers hand transactions over to the winner.
            for deep in ["cas", "commit", "txn"] {
                assert!(kinds.get(deep).is_some_and(|&n| n > 0), "{deep}: {kinds:?}");
            }
        }
        if *name == "broadcast" {
            // Both sides of a resync: answering a digest, and lapping a peer (`--ring=2`).
            for resync in ["sync", "sync_have"] {
                assert!(kinds.get(resync).is_some_and(|&n| n > 0), "{resync}: {kinds:?}");
            }
        }
    }
}

fn setup() -> Setup {
    Setup { node_id: "n0".into(), node_ids: vec!["n0".into()], args: vec![], seed: 0 }
}

/// A real echo node whose output is tampered with after `init`.
struct Tamper {
    inner: Box<dyn Machine>,
    mode: &'static str,
    armed: bool,
}

impl Machine for Tamper {
    fn handle_line(&mut self, now: Instant, line: &mut [u8], len: usize, out: &mut Output) {
        self.inner.handle_line(now, line, len, out);
        if !std::mem::replace(&mut self.armed, true) {
            return;
        }
        let text = String::from_utf8(std::mem::take(&mut out.msgs)).unwrap();
        let extra = |l: &str| format!("{text}{l}\n");
        out.msgs = match self.mode {
            "fake reply" => {
                extra(r#"{"src":"n0","dest":"c1","body":{"type":"echo_ok","in_reply_to":424242}}"#)
            }
            "no newline" => text.trim_end().to_owned(),
            "not json" => extra("hello"),
            "wrong src" => text.replace(r#""src":"n0""#, r#""src":"n7""#),
            // The same reply again (replies carry no msg_id of their own).
            "twice" => format!("{text}{text}"),
            "extra key" => extra(r#"{"src":"n0","dest":"c1","body":{"type":"x"},"id":3}"#),
            "unknown dest" => extra(r#"{"src":"n0","dest":"c77","body":{"type":"x"}}"#),
            "reused id" => {
                let ping = r#"{"src":"n0","dest":"n0","body":{"type":"ping","msg_id":1}}"#;
                format!("{text}{ping}\n{ping}\n")
            }
            "tampered echo" => match text.find(r#","echo":"#) {
                Some(i) => format!("{},\"echo\":\"tampered\"}}}}\n", &text[..i]),
                None => text,
            },
            "error without text" => text.replace(r#","text":"#, r#","txt":"#),
            _ => unreachable!(),
        }
        .into_bytes();
    }

    fn handle_timeout(&mut self, now: Instant, out: &mut Output) {
        self.inner.handle_timeout(now, out);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }
}

#[test]
fn the_machine_checker_rejects_broken_output() {
    let echo = br#"{"src":"c1","dest":"n0","body":{"type":"echo","msg_id":2,"echo":"hi"}}"#;
    let unknown = br#"{"src":"c1","dest":"n0","body":{"type":"frob","msg_id":3}}"#;
    for (mode, input, want) in [
        ("fake reply", &echo[..], "never sent"),
        ("no newline", echo, "newline"),
        ("not json", echo, "not JSON"),
        ("wrong src", echo, "not the node's id"),
        ("twice", echo, "second reply"),
        ("extra key", echo, "top-level key"),
        ("unknown dest", echo, "never spoke"),
        ("reused id", echo, "used twice"),
        ("tampered echo", echo, "echoed"),
        ("error without text", unknown, "text"),
    ] {
        let inner = crate::workload::machine("echo", vec![], 0).unwrap();
        let m = Box::new(Tamper { inner, mode, armed: false });
        let mut r = Runner::new(m, "echo", setup()).unwrap();
        let err = r.feed(input).expect_err(mode);
        assert!(err.what.contains(want), "{mode}: {err}");
    }
    // The untampered node passes the same inputs.
    let mut r =
        Runner::new(crate::workload::machine("echo", vec![], 0).unwrap(), "echo", setup()).unwrap();
    r.feed(echo).unwrap();
    r.feed(unknown).unwrap();
}

/// A node that breaks every workload's promise: it forgets values, under-counts, reuses
/// offsets and ids, and does not read its own writes.
struct Liar;

impl Workload for Liar {
    type Timer = ();
    type Call = ();

    fn init(_: &mut Ctx<'_, Self>, _: &[String]) -> Self {
        Liar
    }

    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        match req.kind {
            "broadcast" => cx.reply(req, "broadcast_ok", |_| {}),
            "add" => cx.reply(req, "add_ok", |_| {}),
            "read" => cx.reply(req, "read_ok", |b| {
                b.u64("value", 0).u64s("messages", []);
            }),
            "send" => cx.reply(req, "send_ok", |b| {
                b.u64("offset", 0);
            }),
            "generate" => cx.reply(req, "generate_ok", |b| {
                b.u64("id", 7);
            }),
            "txn" => cx.reply(req, "txn_ok", |b| {
                b.arr("txn", |a| {
                    a.arr(|m| {
                        m.str("w").i64(1).i64(5);
                    })
                    .arr(|m| {
                        m.str("r").i64(1).null();
                    });
                });
            }),
            other => return Err(Reject::unsupported(other)),
        };
        Ok(())
    }
}

#[test]
fn the_machine_checker_rejects_broken_promises() {
    let req = |id: u64, body: &str| {
        format!(r#"{{"src":"c1","dest":"n0","body":{{"msg_id":{id},{body}}}}}"#).into_bytes()
    };
    for (workload, first, second, want) in [
        ("broadcast", r#""type":"broadcast","message":3"#, r#""type":"read""#, "missing"),
        ("g-counter", r#""type":"add","delta":3"#, r#""type":"read""#, "below"),
        (
            "kafka",
            r#""type":"send","key":"k","msg":1"#,
            r#""type":"send","key":"k","msg":2"#,
            "twice",
        ),
        ("unique-ids", r#""type":"generate""#, r#""type":"generate""#, "twice"),
        (
            "txn-rw-register",
            r#""type":"txn","txn":[["w",1,5],["r",1,null]]"#,
            r#""type":"frob""#,
            "after writing",
        ),
    ] {
        let mut r = Runner::new(Box::new(Node::<Liar>::new(vec![], 0)), workload, setup()).unwrap();
        let err = r.feed(&req(2, first)).and_then(|()| r.feed(&req(3, second)));
        let err = err.expect_err(workload);
        assert!(err.what.contains(want), "{workload}: {err}");
    }
}

/// A g-set that acknowledges adds and forgets them.
struct ForgetfulSet;

impl Workload for ForgetfulSet {
    type Timer = ();
    type Call = ();

    fn init(_: &mut Ctx<'_, Self>, _: &[String]) -> Self {
        ForgetfulSet
    }

    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        match req.kind {
            "add" => cx.reply(req, "add_ok", |_| {}),
            _ => cx.reply(req, "read_ok", |b| {
                b.u64s("value", [1]);
            }),
        };
        Ok(())
    }
}

#[test]
fn the_machine_checker_rejects_a_g_set_that_forgets() {
    let req = |id: u64, body: &str| {
        format!(r#"{{"src":"c1","dest":"n0","body":{{"msg_id":{id},{body}}}}}"#).into_bytes()
    };
    let node = Box::new(Node::<ForgetfulSet>::new(vec![], 0));
    let mut r = Runner::new(node, "g-set", setup()).unwrap();
    r.feed(&req(2, r#""type":"add","element":1"#)).unwrap();
    r.feed(&req(3, r#""type":"read""#)).expect("1 is there");
    r.feed(&req(4, r#""type":"add","element":3"#)).unwrap();
    let err = r.feed(&req(5, r#""type":"read""#)).expect_err("3 is missing");
    assert!(err.what.contains("missing"), "{err}");
}

/// A txn-list-append node that loses appends: each read returns `[9]`.
struct ForgetfulLists;

impl Workload for ForgetfulLists {
    type Timer = ();
    type Call = ();

    fn init(_: &mut Ctx<'_, Self>, _: &[String]) -> Self {
        ForgetfulLists
    }

    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        let txn = req.arr("txn")?;
        cx.reply(req, "txn_ok", |b| {
            b.arr("txn", |a| {
                for m in txn.iter() {
                    let m = m.as_array().expect("a test mop");
                    let (f, k, v) = (m.get(0).unwrap(), m.get(1).unwrap(), m.get(2).unwrap());
                    a.arr(|x| {
                        x.val(f).val(k);
                        if f.as_str() == Some("r") {
                            x.arr(|l| {
                                l.u64(9);
                            });
                        } else {
                            x.val(v);
                        }
                    });
                }
            });
        });
        Ok(())
    }
}

#[test]
fn the_machine_checker_rejects_list_txns_that_lose_their_own_appends() {
    let req = |id: u64, txn: &str| {
        format!(r#"{{"src":"c1","dest":"n0","body":{{"type":"txn","msg_id":{id},"txn":{txn}}}}}"#)
            .into_bytes()
    };
    let runner = || {
        let node = Box::new(Node::<ForgetfulLists>::new(vec![], 0));
        Runner::new(node, "txn-list-append", setup()).unwrap()
    };
    // A read of someone else's appends is fine, and so is reading the same list twice.
    runner().feed(&req(2, r#"[["r",1,null],["r",1,null]]"#)).unwrap();
    for (txn, want) in [
        (r#"[["append",1,5],["r",1,null]]"#, "own earlier appends"),
        (r#"[["r",1,null],["append",1,5],["r",1,null]]"#, "saw it change"),
    ] {
        let err = runner().feed(&req(3, txn)).expect_err(txn);
        assert!(err.what.contains(want), "{txn}: {err}");
    }
    // The real node passes the same transactions.
    let mut r = Runner::new(
        crate::workload::machine("txn-list-append", vec![], 0).unwrap(),
        "txn-list-append",
        setup(),
    )
    .unwrap();
    r.feed(&req(2, r#"[["r",1,null],["append",1,5],["r",1,null]]"#)).unwrap();
    r.feed(&req(3, r#"[["append",1,6],["r",1,null],["append",2,7],["r",2,null]]"#)).unwrap();
    assert_eq!(r.summary().kinds.get("txn_ok"), Some(&2));
}

/// A node whose timer is always due.
struct Spinner(Box<dyn Machine>);

impl Machine for Spinner {
    fn handle_line(&mut self, now: Instant, line: &mut [u8], len: usize, out: &mut Output) {
        self.0.handle_line(now, line, len, out);
    }

    fn handle_timeout(&mut self, _: Instant, _: &mut Output) {}

    fn poll_timeout(&self) -> Option<Instant> {
        Some(Instant::ZERO)
    }
}

#[test]
fn the_machine_checker_rejects_a_timer_that_stays_due() {
    let inner = crate::workload::machine("echo", vec![], 0).unwrap();
    let mut r = Runner::new(Box::new(Spinner(inner)), "echo", setup()).unwrap();
    let err = r.advance(std::time::Duration::from_millis(1)).unwrap_err();
    assert!(err.what.contains("spin"), "{err}");
}

#[test]
fn the_committed_corpora_replay_cleanly() {
    // fuzz/corpus/<target>/ holds the minimised seed corpus and fuzz/regressions/<target>/ every
    // input that once broke an invariant: both replay here on every `cargo test`.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    type Harness = fn(&[u8]) -> Result<(), Violation>;
    let targets: [(&str, Harness); 13] = [
        ("framer", framer),
        ("parser", parser),
        ("edn", edn),
        ("echo", |d| machine::run("echo", d).map(drop)),
        ("unique_ids", |d| machine::run("unique-ids", d).map(drop)),
        ("broadcast", |d| machine::run("broadcast", d).map(drop)),
        ("g_counter", |d| machine::run("g-counter", d).map(drop)),
        ("kafka", |d| machine::run("kafka", d).map(drop)),
        ("txn_rw_register", |d| machine::run("txn-rw-register", d).map(drop)),
        ("lin_kv", |d| machine::run("lin-kv", d).map(drop)),
        ("g_set", |d| machine::run("g-set", d).map(drop)),
        ("pn_counter", |d| machine::run("pn-counter", d).map(drop)),
        ("txn_list_append", |d| machine::run("txn-list-append", d).map(drop)),
    ];
    let mut replayed = 0;
    for (target, run) in targets {
        let before = replayed;
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else { continue };
            for e in entries {
                let path = e.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                if let Err(v) = run(&data) {
                    panic!("{}: {v}", path.display());
                }
                replayed += 1;
            }
        }
        // An empty or missing corpus would make this test pass by replaying nothing.
        assert!(replayed > before, "fuzz/corpus/{target}/ holds no inputs");
    }
    println!("replayed {replayed} inputs");
}

#[test]
fn edn_invariants_hold_on_mutated_histories_and_random_text() {
    let mut rng = Rng::new(3);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/check");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    seeds.sort();
    let alphabet = b"[](){}#_:;,\"\\ \n0123456789.-+/eEMNnil^'`~@jx\xc3\xa9";
    for i in 0..3000 {
        let mut data =
            if i % 10 == 0 { random_input(&mut rng, 200) } else { rng.pick(&seeds).clone() };
        for _ in 0..1 + rng.below(6) {
            let at = rng.below(data.len() as u64 + 1) as usize;
            match rng.below(3) {
                0 if at < data.len() => {
                    data.remove(at);
                }
                1 => data.insert(at, *rng.pick(alphabet)),
                _ if at < data.len() => data[at] = *rng.pick(alphabet),
                _ => {}
            }
        }
        if let Err(v) = edn(&data) {
            panic!("{v}\ninput: {:?}", String::from_utf8_lossy(&data));
        }
    }
}
