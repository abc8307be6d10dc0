//! The views of a run: every workload's stored run has every file, the SVG and HTML files
//! parse as XML, `results.edn` says what `results.json` says in Maelstrom's shape,
//! `history.edn` reads back, the diagram honours its cap and window flags, and a dropped
//! message is drawn as a drop.

use std::path::{Path, PathBuf};

use glomers::edn::{self, Edn};
use glomers::sim::opts::TestOpts;
use glomers::sim::report::Outcome;
use simd_json::OwnedValue;
use simd_json::prelude::*;

/// Every file a stored run writes (node logs aside).
const FILES: [&str; 11] = [
    "results.json",
    "results.edn",
    "history.jsonl",
    "history.txt",
    "history.edn",
    "messages.svg",
    "timeline.html",
    "latency-raw.svg",
    "latency-quantiles.svg",
    "rate.svg",
    "node-logs/n0.log",
];

fn store(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("views").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn opts(flags: &str, store: &Path) -> TestOpts {
    let mut words: Vec<String> = flags.split_whitespace().map(str::to_owned).collect();
    words.extend(["--quiet".into(), "--store".into(), store.display().to_string()]);
    TestOpts::parse(&words).expect("valid flags")
}

fn run_and_store(o: &TestOpts) -> (Outcome, PathBuf) {
    let out = glomers::sim::run(o).unwrap_or_else(|e| panic!("{}: {e}", o.command_line()));
    let dir = out.write_store(o.store.as_ref().expect("a store"), &o.workload).expect("written");
    (out, dir)
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Parses an SVG or HTML file as XML.
fn parse_xml(dir: &Path, file: &str, text: &str) {
    let opt = roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() };
    if let Err(e) = roxmltree::Document::parse_with_options(text, opt) {
        panic!("{} is not well-formed XML: {e}", dir.join(file).display());
    }
}

/// A JSON key as Jepsen spells it in EDN.
fn edn_key(k: &str) -> String {
    match k {
        "valid" => "valid?".into(),
        "final" => "final?".into(),
        k => k.replace('_', "-"),
    }
}

/// Whether an EDN value says what a JSON value says, with the writer's mapping: keys
/// kebab-cased, validity strings as `true`/`false`/`:unknown`, keywords as strings,
/// quantile maps as lists of `[point, value]` pairs.
fn agree(j: &OwnedValue, e: &Edn<'_>, path: &str) -> Result<(), String> {
    let bad = || Err(format!("{path}: JSON {j:?} vs EDN {e:?}"));
    match e {
        Edn::Nil => {
            if j.is_null() {
                Ok(())
            } else {
                bad()
            }
        }
        Edn::Bool(b) => match (j.as_bool(), j.as_str()) {
            (Some(x), _) if x == *b => Ok(()),
            (_, Some(s)) if s == b.to_string() => Ok(()),
            _ => bad(),
        },
        Edn::Int(_) | Edn::Float(_) | Edn::Number(_) => match (j.cast_f64(), e.as_f64()) {
            (Some(a), Some(b)) if (a - b).abs() <= 1e-9 * a.abs().max(1.0) => Ok(()),
            _ => bad(),
        },
        Edn::Str(_) | Edn::Keyword(_) => {
            if j.as_str() == e.as_name() {
                Ok(())
            } else {
                bad()
            }
        }
        Edn::Vector(items) | Edn::List(items) => {
            let Some(arr) = j.as_array() else { return bad() };
            if arr.len() != items.len() {
                return bad();
            }
            for (i, (a, b)) in arr.iter().zip(items).enumerate() {
                agree(a, b, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        Edn::Map(kv) => {
            if let Some(obj) = j.as_object() {
                // A struct or a string-keyed map.
                if obj.len() != kv.len() {
                    return Err(format!("{path}: {} JSON keys, {} EDN keys", obj.len(), kv.len()));
                }
                for (k, v) in obj.iter() {
                    let want = edn_key(k);
                    // Struct fields are keywords; map keys keep their type (JSON quotes them).
                    let found = kv.iter().find(|(ek, _)| match ek {
                        Edn::Keyword(s) => *s == want,
                        Edn::Str(s) => s == k.as_str(),
                        Edn::Int(i) => i.to_string() == *k,
                        _ => false,
                    });
                    let Some((_, ev)) = found else {
                        return Err(format!("{path}: JSON key {k} missing from EDN"));
                    };
                    agree(v, ev, &format!("{path}.{k}"))?;
                }
                Ok(())
            } else if let Some(arr) = j.as_array() {
                // A quantile map written as pairs in JSON.
                if arr.len() != kv.len() {
                    return bad();
                }
                for (pair, (k, v)) in arr.iter().zip(kv) {
                    let (Some(p), Some(x)) = (pair.get_idx(0), pair.get_idx(1)) else {
                        return bad();
                    };
                    agree(p, k, path)?;
                    agree(x, v, path)?;
                }
                Ok(())
            } else {
                bad()
            }
        }
        Edn::Set(_) | Edn::Char(_) | Edn::Symbol(_) | Edn::Tagged(..) => bad(),
    }
}

/// `results.edn` has Maelstrom's keys, and every value agrees with `results.json`.
fn check_results_agree(dir: &Path, out: &Outcome) {
    let text = read(dir, "results.edn");
    let e = edn::read_one(&text).unwrap_or_else(|err| panic!("results.edn: {err}"));
    let mut bytes = read(dir, "results.json").into_bytes();
    let j = simd_json::to_owned_value(&mut bytes).expect("results.json is JSON");

    for key in
        ["perf", "timeline", "exceptions", "stats", "availability", "net", "workload", "valid?"]
    {
        assert!(e.get(key).is_some(), "results.edn lacks :{key}");
    }
    for part in ["perf", "timeline", "exceptions", "stats", "availability", "net", "workload"] {
        assert!(e.at(&[part, "valid?"]).is_some(), "results.edn :{part} lacks :valid?");
    }
    let valid = e.get("valid?").expect("checked");
    agree(j.get("valid").expect("valid"), valid, "valid").unwrap();
    assert_eq!(
        valid,
        &match out.valid {
            glomers::sim::workloads::Validity::True => Edn::Bool(true),
            glomers::sim::workloads::Validity::False => Edn::Bool(false),
            glomers::sim::workloads::Validity::Unknown => Edn::Keyword("unknown"),
        }
    );
    // Stats: by function, and the totals.
    let mut total = 0.0;
    for entry in j.get("stats").and_then(|s| s.as_array()).expect("stats") {
        let f = entry.get_idx(0).and_then(|f| f.as_str()).expect("f");
        let counts = entry.get_idx(1).expect("counts");
        for (jk, ek) in [
            ("count", "count"),
            ("ok_count", "ok-count"),
            ("fail_count", "fail-count"),
            ("info_count", "info-count"),
        ] {
            let got = e
                .at(&["stats", "by-f", f, ek])
                .unwrap_or_else(|| panic!(":stats :by-f :{f} :{ek}"));
            agree(counts.get(jk).expect(jk), got, &format!("stats {f} {jk}")).unwrap();
        }
        total += counts.get("count").and_then(|c| c.cast_f64()).expect("count");
    }
    assert_eq!(e.at(&["stats", "count"]).and_then(Edn::as_f64), Some(total));
    agree(
        j.get("stats_valid").expect("stats_valid"),
        e.at(&["stats", "valid?"]).expect("stats valid"),
        "stats",
    )
    .unwrap();
    // Availability.
    agree(
        j.get("availability").expect("availability"),
        e.at(&["availability", "ok-fraction"]).expect("ok-fraction"),
        "availability",
    )
    .unwrap();
    agree(
        j.get("availability_valid").expect("av"),
        e.at(&["availability", "valid?"]).expect("av valid"),
        "availability valid",
    )
    .unwrap();
    // Network totals, per class, and msgs-per-op.
    for class in ["all", "clients", "servers"] {
        for (jk, ek) in
            [("send_count", "send-count"), ("recv_count", "recv-count"), ("msg_count", "msg-count")]
        {
            let jv = j.get("net").and_then(|n| n.get(class)).and_then(|c| c.get(jk)).expect(jk);
            agree(
                jv,
                e.at(&["net", class, ek]).unwrap_or_else(|| panic!(":net :{class} :{ek}")),
                class,
            )
            .unwrap();
        }
    }
    if out.op_count > 0 {
        for (class, jk) in [("servers", "servers_msgs_per_op"), ("all", "all_msgs_per_op")] {
            let jv = j.get("net").and_then(|n| n.get(jk)).expect(jk);
            agree(jv, e.at(&["net", class, "msgs-per-op"]).expect("msgs-per-op"), jk).unwrap();
        }
    }
    // The workload checker: every key and value.
    agree(j.get("checker").expect("checker"), e.get("workload").expect("workload"), "workload")
        .unwrap();
    // Ours.
    assert_eq!(
        e.at(&["glomers", "seed"]).and_then(Edn::as_f64),
        j.get("seed").and_then(|s| s.cast_f64())
    );
}

#[test]
fn every_workload_writes_every_view() {
    for &w in glomers::sim::WORKLOADS {
        let dir = store(w);
        let o = opts(
            &format!("-w {w} --node-count 2 --concurrency 2n --time-limit 2 --rate 30 --latency 5"),
            &dir,
        );
        let (out, run) = run_and_store(&o);
        for file in FILES {
            let meta =
                std::fs::metadata(run.join(file)).unwrap_or_else(|e| panic!("{w}: {file}: {e}"));
            assert!(meta.len() > 0 || file.ends_with(".log"), "{w}: {file} is empty");
        }
        for file in [
            "messages.svg",
            "timeline.html",
            "latency-raw.svg",
            "latency-quantiles.svg",
            "rate.svg",
        ] {
            parse_xml(&run, file, &read(&run, file));
        }
        check_results_agree(&run, &out);
        // history.edn: one op map per line, as many as history.jsonl has lines.
        let history_edn = read(&run, "history.edn");
        let ops = edn::read_all(&history_edn).expect("history.edn reads");
        assert_eq!(ops.len(), read(&run, "history.jsonl").lines().count(), "{w}");
        assert_eq!(ops.len(), read(&run, "history.txt").lines().count(), "{w}");
        for (i, op) in ops.iter().enumerate() {
            assert_eq!(op.get("index"), Some(&Edn::Int(i as i64)), "{w}: {op:?}");
            assert!(matches!(op.get("type"), Some(Edn::Keyword(_))), "{w}: {op:?}");
            assert!(matches!(op.get("f"), Some(Edn::Keyword(_))), "{w}: {op:?}");
            assert!(op.get("value").is_some() && op.get("process").is_some(), "{w}: {op:?}");
        }
        // The timeline has a box per operation, the diagram an arrow per message.
        let invokes = ops.iter().filter(|o| o.get("type") == Some(&Edn::Keyword("invoke"))).count();
        assert_eq!(read(&run, "timeline.html").matches("<div class=\"op ").count(), invokes, "{w}");
        assert_eq!(
            read(&run, "messages.svg").matches("<g class=\"m k").count() as u64,
            out.net.all.msg_count,
            "{w}: every message is drawn"
        );
        assert!(std::fs::read_link(dir.join("latest")).is_ok(), "{w}: store/latest");
    }
}

/// `(sent seconds, class, title)` of every message arrow in a diagram.
fn arrows(svg: &str) -> Vec<(f64, String, String)> {
    let doc = roxmltree::Document::parse(svg).expect("XML");
    doc.descendants()
        .filter(|n| n.has_tag_name("g") && n.attribute("data-id").is_some())
        .map(|g| {
            let title = g
                .children()
                .find(|c| c.has_tag_name("title"))
                .and_then(|t| t.text())
                .unwrap_or("")
                .to_owned();
            let sent = title
                .split_once("sent at ")
                .and_then(|(_, rest)| rest.split_once(' '))
                .and_then(|(t, _)| t.trim_end_matches(',').parse().ok())
                .unwrap_or_else(|| panic!("no send time in {title}"));
            (sent, g.attribute("class").unwrap_or("").to_owned(), title)
        })
        .collect()
}

#[test]
fn the_diagram_honours_its_cap_and_window() {
    let flags = "-w broadcast --node-count 3 --time-limit 4 --rate 20 --latency 20";
    let dir = store("cap");
    let (out, run) = run_and_store(&opts(&format!("{flags} --diagram-messages 40"), &dir));
    let svg = read(&run, "messages.svg");
    assert_eq!(arrows(&svg).len(), 40);
    let total = out.net.all.msg_count;
    let note = format!(
        "messages.svg draws 40 of {total} messages; left out: {} past the first 40",
        total - 40
    );
    assert!(out.summary.contains(&note), "{}", out.summary);
    assert!(svg.contains(&note), "the diagram says what it left out");

    let dir = store("window");
    let (out, run) =
        run_and_store(&opts(&format!("{flags} --diagram-from 1 --diagram-to 2.5"), &dir));
    let drawn = arrows(&read(&run, "messages.svg"));
    assert!(drawn.len() > 20, "about 30 ops' messages in 1.5 s: {}", drawn.len());
    for (sent, _, title) in &drawn {
        assert!((1.0..=2.5).contains(sent), "{title}");
    }
    assert!(out.summary.contains("before --diagram-from 1"), "{}", out.summary);
    assert!(out.summary.contains("after --diagram-to 2.5"), "{}", out.summary);
}

#[test]
fn dropped_messages_are_drawn_as_drops() {
    let flags = "-w broadcast --node-count 5 --time-limit 6 --rate 20 --latency 30 \
                 --nemesis partition --nemesis-interval 1 --loss 0.1";
    let dir = store("drops");
    let (out, run) = run_and_store(&opts(flags, &dir));
    let svg = read(&run, "messages.svg");
    let drawn = arrows(&svg);
    let drops: Vec<&(f64, String, String)> =
        drawn.iter().filter(|a| a.1.contains("drop")).collect();
    let dropped = out.net.dropped_partition + out.net.dropped_loss;
    assert!(out.net.dropped_partition > 0 && out.net.dropped_loss > 0, "{}", out.summary);
    assert_eq!(drops.len() as u64, dropped, "every dropped message is drawn as a drop");
    for (_, _, title) in &drops {
        assert!(title.contains("DROPPED at"), "{title}");
    }
    // A drop ends in a cross, away from every lifeline; a delivery ends on one.
    let doc = roxmltree::Document::parse(&svg).expect("XML");
    let lifelines: Vec<f64> = doc
        .descendants()
        .filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("life")))
        .filter_map(|n| n.attribute("x1")?.parse().ok())
        .collect();
    let mut seen = (0, 0);
    for g in doc.descendants().filter(|n| n.has_tag_name("g") && n.attribute("data-id").is_some()) {
        let line = g.children().find(|c| c.has_tag_name("line")).expect("an arrow");
        let x2: f64 = line.attribute("x2").and_then(|x| x.parse().ok()).expect("x2");
        let on_lifeline = lifelines.iter().any(|&x| (x - x2).abs() < 1.0);
        if g.attribute("class").is_some_and(|c| c.contains("drop")) {
            assert!(!on_lifeline, "a drop stops short of its destination");
            assert!(
                g.children().any(|c| c.attribute("class") == Some("x")),
                "a drop ends in a cross"
            );
            seen.0 += 1;
        } else if !g.attribute("class").is_some_and(|c| c.contains("lost")) {
            assert!(on_lifeline, "a delivery ends at its destination");
            seen.1 += 1;
        }
    }
    assert!(seen.0 > 0 && seen.1 > 0);
    // Partitions are shaded.
    assert!(svg.contains("class=\"part\""));
}

#[test]
fn a_stored_history_is_judged_and_drawn_without_a_live_run() {
    use glomers::sim::engine::RunData;
    use glomers::sim::history::{History, Op, OpType};
    use glomers::sim::workloads::broadcast::{BValue, BroadcastClient};
    let mut h: History<BValue> = History::default();
    let op = |time, process, kind, value| Op {
        index: 0,
        time,
        process,
        kind,
        f: if matches!(value, BValue::Broadcast(_)) { "broadcast" } else { "read" },
        value,
        error: None,
        is_final: false,
    };
    h.push(op(0, 0, OpType::Invoke, BValue::Broadcast(0)));
    h.push(op(1_000_000, 0, OpType::Ok, BValue::Broadcast(0)));
    h.push(op(2_000_000, 1, OpType::Invoke, BValue::Read(None)));
    h.push(op(3_000_000, 1, OpType::Ok, BValue::Read(Some(vec![]))));
    let dir = store("rejudged");
    let o = opts("-w broadcast --node-count 2", &dir);
    let out = glomers::sim::report::judge(
        &o,
        &BroadcastClient::default(),
        RunData::from_history(h),
        std::time::Duration::ZERO,
    );
    // The read after the acknowledged broadcast lacks it: lost.
    assert_eq!(out.valid, glomers::sim::workloads::Validity::False, "{}", out.summary);
    let run = out.write_store(&dir, "broadcast").expect("written");
    for file in FILES.iter().filter(|f| !f.starts_with("node-logs")) {
        assert!(run.join(file).exists(), "{file}");
    }
    check_results_agree(&run, &out);
    assert!(read(&run, "messages.svg").contains("no message journal"));
    assert_eq!(read(&run, "timeline.html").matches("<div class=\"op ").count(), 2);
}

#[test]
fn progress_stays_off_when_stderr_is_not_a_terminal() {
    // A process-mode run of 2 s, long enough for the bar, with stderr a pipe.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_glomers"))
        .args(["test", "-w", "echo", "--bin", env!("CARGO_BIN_EXE_glomers-echo")])
        .args(["--node-count", "1", "--time-limit", "2", "--rate", "10", "--no-store"])
        .output()
        .expect("glomers runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(out.stderr.is_empty(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
}
