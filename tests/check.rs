//! `glomers check` end to end, through the binary: a bench run's history, stored as our
//! `history.jsonl` and rewritten as Maelstrom's `history.edn`, is judged again with the same
//! verdict, checker output and exit status; Maelstrom-format fixtures of several workloads
//! are judged as expected; every kind of bad input exits 255 with a message naming the line,
//! and bad arguments 254.

use std::path::{Path, PathBuf};
use std::process::Command;

use glomers::node::{Ctx, Machine, Node, Reject, Workload};
use glomers::proto::Msg;
use glomers::sim::check::values::{HistoryFormat, maelstrom_edn};
use glomers::sim::check::{read_edn, read_jsonl};
use glomers::sim::opts::TestOpts;
use glomers::sim::workloads::*;

const GLOMERS: &str = env!("CARGO_BIN_EXE_glomers");

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("glomers-check-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs the binary: exit status, stdout, stderr.
fn glomers(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(GLOMERS).args(args).output().expect("glomers runs");
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
}

/// The one run directory under `store/<workload>/`.
fn run_dir(store: &Path, workload: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(store.join(workload))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.ends_with("latest"))
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().unwrap()
}

/// The workload checker's object in `results.json` (spliced in last by the report), without
/// the time the checker took (lin-kv's "seconds").
fn checker(results: &str) -> String {
    let at = results.find(",\"checker\":").expect("a checker object") + 11;
    let mut json = results[at..results.len() - 1].to_owned();
    if let Some(i) = json.find("\"seconds\":") {
        let end = json[i..].find([',', '}']).map_or(json.len(), |e| i + e);
        json.replace_range(i..end, "\"seconds\":_");
    }
    json
}

/// The report's lines from `valid?` to the stats check (the verdict and the checker's own
/// lines), which a check must print exactly as the run did, but for the time the checker
/// took (lin-kv's line ends "..., 0.3 ms)").
fn verdict_lines(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("  valid?"))
        .take_while(|l| !l.starts_with("  msgs-per-op"))
        .map(|l| match l.rfind(" ms)").and_then(|end| Some((l[..end].rfind(", ")?, end))) {
            Some((start, end)) => format!("{}{}", &l[..start], &l[end + 3..]),
            None => l.to_owned(),
        })
        .collect()
}

/// history.jsonl rewritten as Maelstrom's history.edn, through the library.
fn as_edn(workload: &str, jsonl: &str) -> String {
    fn conv<W: HistoryFormat>(w: &W, jsonl: &str) -> String {
        let (h, _) = read_jsonl(w, jsonl).expect("our own history reads");
        let edn = maelstrom_edn(&h);
        // And it reads back to the same entries.
        let (back, _) = read_edn(w, &edn).expect("the rewritten history reads");
        assert_eq!(back.ops.len(), h.ops.len());
        edn
    }
    let o = TestOpts { workload: workload.into(), ..TestOpts::default() };
    match workload {
        "echo" => conv(&echo::EchoClient, jsonl),
        "unique-ids" => conv(&unique_ids::UniqueIdsClient, jsonl),
        "broadcast" => conv(&broadcast::BroadcastClient::default(), jsonl),
        "g-counter" => conv(&g_counter::GCounterClient::default(), jsonl),
        "pn-counter" => conv(&pn_counter::PnCounterClient::default(), jsonl),
        "g-set" => conv(&g_set::GSetClient::default(), jsonl),
        "kafka" => conv(&kafka::KafkaClient::new(&o), jsonl),
        "txn-rw-register" => conv(&txn::TxnClient::new(&o), jsonl),
        "txn-list-append" => conv(&list_append::ListAppendClient::new(&o), jsonl),
        "lin-kv" => conv(&lin_kv::LinKvClient::new(&o), jsonl),
        w => panic!("no conversion for {w}"),
    }
}

/// Judges the stored run in `dir` again, from its history.jsonl and from the history.edn the
/// bench wrote with it, and compares with the run: the same exit status, report lines and
/// checker object. The history.edn must have Maelstrom's shapes ([`maelstrom_shapes`]) and be
/// exactly what `maelstrom_edn` writes for the same history read from history.jsonl.
fn recheck(
    name: &str,
    workload: &str,
    dir: &Path,
    run_code: i32,
    run_stdout: &str,
    models: &[&str],
) {
    let results = std::fs::read_to_string(dir.join("results.json")).unwrap();
    let jsonl = dir.join("history.jsonl");

    // From history.jsonl, stored: the same checker object.
    let store2 = tmp(&format!("{name}-recheck"));
    let mut args = vec!["check", "-w", workload, jsonl.to_str().unwrap()];
    args.extend_from_slice(models);
    args.extend_from_slice(&["--store", store2.to_str().unwrap()]);
    let (code, out, err) = glomers(&args);
    assert_eq!(code, run_code, "{name}: {out}{err}");
    assert!(out.contains("msgs-per-op    not available"), "{out}");
    assert!(out.contains("node faults    not available"), "{out}");
    assert_eq!(verdict_lines(&out), verdict_lines(run_stdout), "{name}");
    let again = std::fs::read_to_string(run_dir(&store2, workload).join("results.json")).unwrap();
    assert_eq!(checker(&again), checker(&results), "{name}");
    assert!(again.contains("\"net\":null") && again.contains("\"trace_hash\":null"), "{again}");
    assert!(again.contains("\"command\":\"glomers check -w"), "{again}");

    // The history.edn the bench wrote with the run: Maelstrom's shapes, and judged the same,
    // checker object and all.
    let ours = dir.join("history.edn");
    let text = std::fs::read_to_string(&ours).unwrap();
    let finals = maelstrom_shapes(workload, &text);
    if matches!(workload, "broadcast" | "g-counter" | "pn-counter" | "kafka") {
        assert!(finals, "{name}: no final operation in its history.edn");
    }
    let store3 = tmp(&format!("{name}-recheck-edn"));
    let mut args = vec!["check", "-w", workload, ours.to_str().unwrap()];
    args.extend_from_slice(models);
    args.extend_from_slice(&["--store", store3.to_str().unwrap()]);
    let (code, out, err) = glomers(&args);
    assert_eq!(code, run_code, "{name} the run's history.edn: {out}{err}");
    assert!(out.contains("(Maelstrom history.edn"), "{out}");
    assert_eq!(verdict_lines(&out), verdict_lines(run_stdout), "{name} the run's history.edn");
    let again = std::fs::read_to_string(run_dir(&store3, workload).join("results.json")).unwrap();
    assert_eq!(checker(&again), checker(&results), "{name} the run's history.edn");

    // The same history read from history.jsonl and written by the library is the same text
    // (echo aside: history.jsonl keeps the string echoed, not the whole reply body).
    let rewritten = as_edn(workload, &std::fs::read_to_string(&jsonl).unwrap());
    if workload != "echo" {
        // The bench's file also has the nemesis's entries, numbered among the client ones:
        // the client lines are the same but for :index.
        let unindexed = |l: &str| l.split_once(", ").map_or(String::new(), |(_, r)| r.to_owned());
        let client: Vec<String> =
            text.lines().filter(|l| !l.contains(":process :nemesis,")).map(unindexed).collect();
        let lib: Vec<String> = rewritten.lines().map(unindexed).collect();
        if let Some((i, (a, b))) = lib.iter().zip(&client).enumerate().find(|(_, (a, b))| a != b) {
            panic!("{name}: line {}: the library writes\n{a}\nthe bench wrote\n{b}", i + 1);
        }
        assert_eq!(lib.len(), client.len(), "{name}");
        return;
    }
    let edn = dir.join("history-maelstrom.edn");
    std::fs::write(&edn, rewritten).unwrap();
    let mut args = vec!["check", "-w", workload, edn.to_str().unwrap()];
    args.extend_from_slice(models);
    let (code, out, err) = glomers(&args);
    assert_eq!(code, run_code, "{name} edn: {out}{err}");
    assert!(out.contains("(Maelstrom history.edn"), "{out}");
    assert_eq!(verdict_lines(&out), verdict_lines(run_stdout), "{name} edn");
    assert!(!out.contains("  results"), "print only by default: {out}");
}

/// Asserts that a nemesis entry has the shape Jepsen 0.3.7's partition nemesis (as Maelstrom
/// composes it) writes: exactly the record's keys, `:type :info`, invocation then completion
/// of the same `:f`; `:start-partition` invoked with a partition spec and completed with
/// `[:isolated {node #{node ...} ...}]`, `:stop-partition` invoked with `nil` and completed
/// with `:network-healed`.
fn nemesis_shape(
    op: &glomers::edn::Edn<'_>,
    keys: &[&str],
    open: &mut Option<String>,
    at: &dyn Fn() -> String,
) {
    use glomers::edn::Edn;
    assert_eq!(keys, ["index", "time", "type", "process", "f", "value"], "{}", at());
    assert_eq!(op.get("type"), Some(&Edn::Keyword("info")), "{}", at());
    let Some(&Edn::Keyword(f)) = op.get("f") else { panic!("{}: :f", at()) };
    let value = op.get("value").expect("checked");
    let node = |v: &Edn<'_>| v.as_str().is_some_and(|s| s.starts_with('n'));
    match open.take() {
        None => {
            let ok = match f {
                "start-partition" => matches!(
                    value,
                    Edn::Keyword("one" | "minority-third" | "majority" | "majorities-ring")
                ),
                "stop-partition" => value.is_nil(),
                _ => false,
            };
            assert!(ok, "{}: nemesis invocation", at());
            *open = Some(f.to_owned());
        }
        Some(g) => {
            assert_eq!(f, g, "{}: completion of another :f", at());
            let ok = match f {
                "start-partition" => match value.as_seq() {
                    Some([tag, grudge]) => {
                        *tag == Edn::Keyword("isolated")
                            && grudge.as_map().is_some_and(|m| {
                                m.iter().all(|(k, v)| {
                                    node(k) && matches!(v, Edn::Set(s) if s.iter().all(node))
                                })
                            })
                    }
                    _ => false,
                },
                _ => *value == Edn::Keyword("network-healed"),
            };
            assert!(ok, "{}: nemesis completion", at());
        }
    }
}

/// Asserts that `text` is a history.edn in exactly the shapes Maelstrom 0.2.x (Jepsen 0.3.7)
/// writes for `workload` (`src/maelstrom/workload/*.clj`, Jepsen's generators):
///
/// - one op map per line, Jepsen's record keys first and in order (`:index` counting lines,
///   `:time`, `:type`, `:process`, `:f`, `:value`), then only the keys Maelstrom's generators
///   add (`:final? true` on broadcast's and the counters' final reads, kafka's
///   `:seek-to-beginning? true` and `:poll-ms 1000`), then `:error` on `:fail` and `:info`
///   only, as `with-errors` writes it (`:net-timeout`, `[:name "text"]`) or a string;
/// - a `:fail` or `:info` completion carries its invocation's value, as does an `:ok` of an
///   operation whose client only sets `:type :ok` (broadcast, adds, writes, CAS, assign);
/// - the values: echo's string and whole `echo_ok` body (keyword keys, `:in_reply_to`),
///   unique-ids' `nil` and id, integers and read vectors, kafka's one micro-op in a vector (`[[:send "3" 7]]` then
///   `[[:send "3" [12 7]]]`, `[[:poll]]` then `[[:poll {"3" [[12 7]]}]]`) and assign's key
///   strings, transactions of `[:r k v]` / `[:w k v]` / `[:append k v]` with keywords, and
///   lin-kv's independent tuples `[k nil]`, `[k v]`, `[k [from to]]`.
///
/// Returns whether any operation had a final-phase key.
fn maelstrom_shapes(workload: &str, text: &str) -> bool {
    use glomers::edn::Edn;
    let int = |v: &Edn<'_>| matches!(v, Edn::Int(_));
    let ints =
        |v: &Edn<'_>| v.as_seq().is_some_and(|s| matches!(v, Edn::Vector(_)) && s.iter().all(int));
    let key = |v: &Edn<'_>| {
        v.as_str().is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
    };
    let pair = |v: &Edn<'_>| matches!(v.as_seq(), Some([a, b]) if int(a) && int(b));
    let kw = |v: &Edn<'_>, k: &str| *v == Edn::Keyword(k);
    let mut open: std::collections::HashMap<i64, Edn<'_>> = std::collections::HashMap::new();
    let mut seen_final = false;
    let mut nemesis_open: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let at = || format!("{workload} line {}: {line}", i + 1);
        let op = glomers::edn::read_one(line).unwrap_or_else(|e| panic!("{}: {e}", at()));
        let Edn::Map(pairs) = &op else { panic!("{}: not a map", at()) };
        let keys: Vec<&str> = pairs
            .iter()
            .map(|(k, _)| match k {
                Edn::Keyword(k) => *k,
                _ => panic!("{}: a key that is not a keyword", at()),
            })
            .collect();
        assert_eq!(keys[..6], ["index", "time", "type", "process", "f", "value"], "{}", at());
        assert_eq!(op.get("index"), Some(&Edn::Int(i as i64)), "{}", at());
        assert!(op.get("time").and_then(Edn::as_int).is_some_and(|t| t >= 0), "{}", at());
        let kind = op.get("type").and_then(|t| match t {
            Edn::Keyword(k) => Some(*k),
            _ => None,
        });
        let kind = kind.unwrap_or_else(|| panic!("{}: :type", at()));
        if op.get("process") == Some(&Edn::Keyword("nemesis")) {
            nemesis_shape(&op, &keys, &mut nemesis_open, &at);
            continue;
        }
        let Some(&Edn::Int(process)) = op.get("process") else { panic!("{}: :process", at()) };
        let Some(&Edn::Keyword(f)) = op.get("f") else { panic!("{}: :f", at()) };
        let value = op.get("value").expect("checked");
        // The other keys, in Maelstrom's order: the generator's, then :error.
        let extra = &keys[6..];
        let generator_keys: &[&str] = match (workload, f) {
            ("broadcast" | "g-counter" | "pn-counter", "read") => &["final?"],
            ("kafka", "assign") => &["seek-to-beginning?"],
            ("kafka", "poll") => &["poll-ms"],
            _ => &[],
        };
        let (mine, error) = match extra.split_last() {
            Some((&"error", rest)) => (rest, true),
            _ => (extra, false),
        };
        assert!(mine.iter().all(|k| generator_keys.contains(k)), "{}: keys {extra:?}", at());
        for k in mine {
            let want = if *k == "poll-ms" { Edn::Int(1000) } else { Edn::Bool(true) };
            assert_eq!(op.get(k), Some(&want), "{}", at());
            seen_final = true;
        }
        assert_eq!(error, matches!(kind, "fail" | "info") && op.get("error").is_some(), "{}", at());
        if let Some(e) = op.get("error") {
            let ok = match e {
                Edn::Keyword(k) => *k == "net-timeout",
                Edn::Vector(v) => matches!(v.as_slice(), [Edn::Keyword(_), Edn::Str(_) | Edn::Nil]),
                // Jepsen's "indeterminate: ..." and other text, never a with-errors error.
                Edn::Str(t) => {
                    t != "net-timeout"
                        && !t.split_once(": ").is_some_and(|(n, _)| {
                            n.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
                                && n != "indeterminate"
                        })
                }
                _ => false,
            };
            assert!(ok, "{}: :error", at());
        }
        // Completions carry their invocation's value unless the client replaced it.
        match kind {
            "invoke" => assert!(open.insert(process, value.clone()).is_none(), "{}", at()),
            _ => {
                let invoked =
                    open.remove(&process).unwrap_or_else(|| panic!("{}: no invoke", at()));
                let replaced = kind == "ok"
                    && matches!(
                        (workload, f),
                        ("echo" | "unique-ids", _) | (_, "read" | "txn" | "send" | "poll")
                    );
                if !replaced {
                    assert_eq!(value, &invoked, "{}: the invocation's value", at());
                }
            }
        }
        let ok = kind == "ok";
        let shaped = match (workload, f) {
            ("echo", "echo") if ok => {
                value.get("type") == Some(&Edn::Str("echo_ok".into()))
                    && value.get("echo").is_some()
                    && value.get("in_reply_to").is_some_and(int)
                    && value
                        .as_map()
                        .is_some_and(|m| m.iter().all(|(k, _)| matches!(k, Edn::Keyword(_))))
            }
            ("echo", "echo") => value.as_str().is_some_and(|s| s.starts_with("Please echo ")),
            ("unique-ids", "generate") if ok => !value.is_nil() && value.as_map().is_none(),
            ("unique-ids", "generate") => value.is_nil(),
            ("broadcast", "broadcast") | ("g-set", "add") | ("g-counter", "add") => {
                value.as_int().is_some_and(|x| x >= 0)
            }
            ("pn-counter", "add") => int(value),
            ("broadcast" | "g-set", "read") if ok => ints(value),
            ("g-counter" | "pn-counter", "read") if ok => int(value),
            (_, "read") if workload != "lin-kv" => value.is_nil(),
            ("kafka", "send") => match value.as_seq() {
                Some([mop]) => match mop.as_seq() {
                    Some([f, k, m]) if kw(f, "send") && key(k) => {
                        if ok {
                            pair(m)
                        } else {
                            int(m)
                        }
                    }
                    _ => false,
                },
                _ => false,
            },
            ("kafka", "poll") => match value.as_seq() {
                Some([mop]) => match mop.as_seq() {
                    Some([f]) if !ok => kw(f, "poll"),
                    Some([f, msgs]) if ok => {
                        kw(f, "poll")
                            && msgs.as_map().is_some_and(|m| {
                                m.iter().all(|(k, pairs)| {
                                    key(k) && pairs.as_seq().is_some_and(|p| p.iter().all(pair))
                                })
                            })
                    }
                    _ => false,
                },
                _ => false,
            },
            ("kafka", "assign") => {
                matches!(value, Edn::Vector(ks) if ks.iter().all(key))
            }
            ("kafka", "crash") => value.is_nil(),
            ("txn-rw-register", "txn") => value.as_seq().is_some_and(|mops| {
                mops.iter().all(|m| match m.as_seq() {
                    Some([f, k, v]) if kw(f, "r") => int(k) && (v.is_nil() || int(v)),
                    Some([f, k, v]) if kw(f, "w") => int(k) && int(v),
                    _ => false,
                })
            }),
            ("txn-list-append", "txn") => value.as_seq().is_some_and(|mops| {
                mops.iter().all(|m| match m.as_seq() {
                    Some([f, k, v]) if kw(f, "r") => int(k) && (v.is_nil() || ints(v)),
                    Some([f, k, v]) if kw(f, "append") => int(k) && int(v),
                    _ => false,
                })
            }),
            ("lin-kv", "read") => match value {
                Edn::Vector(t) => match t.as_slice() {
                    [k, v] => int(k) && (v.is_nil() || (ok && int(v))),
                    _ => false,
                },
                _ => false,
            },
            ("lin-kv", "write") => {
                matches!(value, Edn::Vector(t) if matches!(t.as_slice(), [k, v] if int(k) && int(v)))
            }
            ("lin-kv", "cas") => {
                matches!(value, Edn::Vector(t) if matches!(t.as_slice(), [k, ft] if int(k) && pair(ft)))
            }
            _ => panic!("{}: an unexpected :f for {workload}", at()),
        };
        assert!(shaped, "{}: not Maelstrom's shape", at());
    }
    assert!(!text.is_empty(), "{workload}: an empty history");
    seen_final
}

#[test]
fn the_shape_check_rejects_what_the_bench_used_to_write() {
    // An invocation of `f` with `invoked`, then its completion with `done` (`:fail` when
    // `keys` has an `:error`); `keys` go on both lines, the error on the completion.
    let op = |f: &str, invoked: &str, done: &str, keys: &str| {
        let (mine, error) = keys.split_once(", :error").map_or((keys, ""), |(m, _)| (m, keys));
        let kind = if error.is_empty() { "ok" } else { "fail" };
        let error = error.strip_prefix(mine).unwrap_or(error);
        format!(
            "{{:index 0, :time 0, :type :invoke, :process 0, :f :{f}, :value {invoked}{mine}}}\n\
             {{:index 1, :time 5, :type :{kind}, :process 0, :f :{f}, :value {done}{mine}{error}}}\n"
        )
    };
    // Maelstrom's shapes (true), and what the bench wrote before (false): a unique id as
    // {:json :kind}, kafka micro-ops without their vector and assign as a map, JSON values as
    // strings of JSON text, errors as text, `:final?` on g-set's reads.
    let (ft, kdne) = (", :final? true", ", :error [:key-does-not-exist \"no\"]");
    for (w, f, invoked, done, keys, maelstroms) in [
        ("unique-ids", "generate", "nil", "12", "", true),
        ("unique-ids", "generate", "nil", "{:json \"12\", :kind \"int\"}", "", false),
        ("kafka", "send", "[[:send \"3\" 7]]", "[[:send \"3\" [0 7]]]", "", true),
        ("kafka", "send", "[:send \"3\" 7]", "[:send \"3\" [0 7]]", "", false),
        ("kafka", "assign", "[\"3\"]", "[\"3\"]", ", :seek-to-beginning? true", true),
        ("kafka", "assign", "{:keys [\"3\"]}", "{:keys [\"3\"]}", "", false),
        ("txn-rw-register", "txn", "[[:r 1 nil]]", "[[:r 1 3]]", "", true),
        ("txn-rw-register", "txn", "[[\"r\" 1 nil]]", "[[\"r\" 1 3]]", "", false),
        ("txn-rw-register", "txn", "[[:r 1 nil]]", "[[:r 1 \"[1,2]\"]]", "", false),
        ("lin-kv", "cas", "[0 [1 2]]", "[0 [1 2]]", "", true),
        ("lin-kv", "cas", "[0 \"[1,2]\"]", "[0 \"[1,2]\"]", "", false),
        ("lin-kv", "write", "3", "3", "", false),
        ("lin-kv", "read", "[0 nil]", "[0 nil]", kdne, true),
        ("lin-kv", "read", "[0 nil]", "[0 nil]", ", :error \"net-timeout\"", false),
        ("lin-kv", "read", "[0 nil]", "[0 nil]", ", :error \"key-does-not-exist: no\"", false),
        ("broadcast", "read", "nil", "[]", ft, true),
        ("g-set", "read", "nil", "[]", ft, false),
        ("broadcast", "read", "nil", "[1]", ", :error :net-timeout", false),
    ] {
        let text = op(f, invoked, done, keys);
        let caught = std::panic::catch_unwind(|| {
            maelstrom_shapes(w, &text);
        });
        assert_eq!(caught.is_ok(), maelstroms, "{w}:\n{text}");
    }
}

#[test]
fn a_bench_runs_history_edn_has_maelstroms_shapes_and_is_judged_the_same_again() {
    let faults = "--time-limit 10 --latency 20 --nemesis partition --nemesis-interval 3 --seed 4";
    for (workload, flags, models, want) in [
        ("echo", "--node-count 2 --rate 50", "", 0),
        ("unique-ids", "--node-count 3 --rate 100", "", 0),
        ("broadcast", "--node-count 5 --rate 50", "", 0),
        ("g-counter", "--node-count 3 --rate 50", "", 0),
        ("pn-counter", "--node-count 3 --rate 50", "", 0),
        ("g-set", "--node-count 3 --rate 50", "", 0),
        ("kafka", "--node-count 2 --concurrency 2n --rate 300", "", 0),
        ("txn-rw-register", "--node-count 2 --rate 300", "--consistency-models read-committed", 0),
        // Our totally available store is not strict-serializable (lost updates): invalid.
        ("txn-rw-register", "--node-count 2 --rate 300", "", 1),
        ("txn-list-append", "--node-count 2 --rate 100", "--consistency-models read-committed", 0),
        // The Raft node: partitions make some operations indeterminate, never non-linearizable.
        ("lin-kv", "--node-count 3 --concurrency 2n --rate 50", "", 0),
    ] {
        let name = format!("{workload}{}", models.len());
        let store = tmp(&name);
        let args: Vec<String> = format!("test -w {workload} {flags} {faults} {models} --quiet")
            .split_whitespace()
            .map(str::to_owned)
            .chain(["--store".to_owned(), store.display().to_string()])
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, err) = glomers(&args);
        assert_eq!(code, want, "{name}: {out}{err}");
        let models: Vec<&str> = models.split_whitespace().collect();
        recheck(&name, workload, &run_dir(&store, workload), code, &out, &models);
        let _ = std::fs::remove_dir_all(&store);
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

#[test]
fn an_invalid_runs_history_is_invalid_again() {
    let store = tmp("dup-ids");
    let o = TestOpts {
        workload: "unique-ids".into(),
        node_count: Some(3),
        time_limit: 10,
        rate: 100.0,
        quiet: true,
        ..TestOpts::default()
    };
    let make = |_: usize| -> Box<dyn Machine> { Box::new(Node::<DupIds>::new(Vec::new(), 0)) };
    let outcome = glomers::sim::run_nodes(&o, &make).unwrap();
    assert_eq!(outcome.exit_code, 1);
    let dir = outcome.write_store(&store, "unique-ids").unwrap();
    let summary = outcome.summary + "\n";
    recheck("dup-ids", "unique-ids", &dir, 1, &summary, &[]);
    let _ = std::fs::remove_dir_all(&store);
}

#[test]
fn lin_kv_runs_of_a_correct_and_a_stale_reading_node_are_judged_the_same_again() {
    use glomers::sim::opts::Concurrency;
    use glomers::sim::workloads::lin_kv::subjects::{FlakyProxy, StaleReads};
    for (name, code) in [("flaky-proxy", 0), ("stale-reads", 1)] {
        let store = tmp(name);
        let o = TestOpts {
            workload: "lin-kv".into(),
            node_count: Some(3),
            concurrency: Concurrency::PerNode(2),
            time_limit: 10,
            rate: 50.0,
            seed: 5,
            quiet: true,
            ..TestOpts::default()
        };
        let make = |i: usize| -> Box<dyn Machine> {
            match name {
                "flaky-proxy" => Box::new(Node::<FlakyProxy>::new(Vec::new(), i as u64)),
                _ => Box::new(Node::<StaleReads>::new(Vec::new(), i as u64)),
            }
        };
        let outcome = glomers::sim::run_nodes(&o, &make).unwrap();
        assert_eq!(outcome.exit_code, code, "{}", outcome.summary);
        let dir = outcome.write_store(&store, "lin-kv").unwrap();
        recheck(name, "lin-kv", &dir, code, &(outcome.summary + "\n"), &[]);
        let _ = std::fs::remove_dir_all(&store);
    }
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/check").join(name).display().to_string()
}

#[test]
fn maelstrom_format_fixtures_get_their_verdicts() {
    for (workload, file, code, says) in [
        ("broadcast", "broadcast-partitioned.edn", 0, "3 attempted, 3 stable, 0 lost"),
        ("kafka", "kafka-lost-write.edn", 1, "lost-write x1"),
        (
            "txn-list-append",
            "txn-list-append-g1a.edn",
            1,
            "G1a: T5 [r 5 [1 2]] has element 2 appended by failed T3",
        ),
        ("pn-counter", "pn-counter.edn", 0, "final reads [1, 1], acceptable [(-3, -3), (1, 1)]"),
        (
            "lin-kv",
            "lin-kv-maelstrom.edn",
            1,
            "key 0: not linearizable: in the window 0.800-1.201 s",
        ),
        ("lin-kv", "register-linearizable.edn", 0, "1 keys: 1 valid, 0 invalid, 0 unknown"),
        ("lin-kv", "register-stale-read.edn", 1, "core   p2    read 1         ok   0.005-0.006"),
        ("lin-kv", "register-from-zero.edn", 1, "starting from the key's initial value"),
        ("lin-kv --initial-value 0", "register-from-zero.edn", 0, "every key starts at 0"),
    ] {
        let mut args = vec!["check", "-w"];
        args.extend(workload.split(' '));
        let file = fixture(file);
        args.push(&file);
        let (got, out, err) = glomers(&args);
        assert_eq!(got, code, "{file}: {out}{err}");
        assert!(out.contains(says), "{file}: {out}");
        assert!(err.is_empty(), "{file}: {err}");
    }
    let (_, out, _) = glomers(&["check", "-w", "lin-kv", &fixture("register-linearizable.edn")]);
    assert!(out.contains("-> true (not part of the verdict for a plain register history"), "{out}");
    let (_, out, _) = glomers(&["check", "-w", "broadcast", &fixture("broadcast-partitioned.edn")]);
    assert!(out.contains("nemesis        start-partition x2, stop-partition x2 skipped"), "{out}");
    assert!(out.contains("op latency ms  read: "), "{out}");
    let (_, out, _) =
        glomers(&["check", "-w", "txn-list-append", &fixture("txn-list-append-g1a.edn")]);
    assert!(out.contains("op latency     not available (the history has no :time)"), "{out}");
    // A history whose one element is never read: no stable element, unknown, exit 2.
    let dir = tmp("unknown");
    let file = dir.join("h.edn");
    std::fs::write(
        &file,
        "{:type :invoke, :process 1, :f :read, :value nil}\n\
         {:type :ok, :process 1, :f :read, :value []}\n\
         {:type :invoke, :process 0, :f :broadcast, :value 0}\n\
         {:type :ok, :process 0, :f :broadcast, :value 0}\n",
    )
    .unwrap();
    let (code, out, _) = glomers(&["check", "-w", "broadcast", file.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("Errors occurred during analysis, but no anomalies found."), "{out}");
}

#[test]
fn bad_input_exits_255_with_a_message_and_bad_arguments_254() {
    let dir = tmp("bad");
    let invoke = "{:type :invoke, :process 0, :f :read, :value nil}\n";
    for (name, text, says) in [
        (
            "not-edn.edn",
            "{:index 0, :type :invoke\n[1 2}\n".to_owned(),
            "line 2, column 5: `}` closes a collection",
        ),
        (
            "json.jsonl",
            "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n{\"type\":\n".to_owned(),
            "line 2: not JSON",
        ),
        (
            "unknown-op.edn",
            format!("{invoke}{{:type :invoke, :process 1, :f :frob}}\n"),
            "line 2: unknown operation :frob",
        ),
        (
            "orphan.edn",
            "{:type :ok, :process 3, :f :read, :value [1]}\n".to_owned(),
            "line 1: an :ok :read of process 3 without its :invoke",
        ),
        (
            "shape.edn",
            format!("{invoke}{{:type :ok, :process 0, :f :read, :value 7}}\n"),
            "line 2: :read :value: expected the elements read",
        ),
        ("type.edn", "{:type :done, :process 0, :f :read}\n".to_owned(), "unknown :type :done"),
        ("binary.edn", format!("{invoke}\u{0}\u{1}"), "line 2, column 1: invalid symbol"),
    ] {
        let file = dir.join(name);
        std::fs::write(&file, text).unwrap();
        let (code, out, err) = glomers(&["check", "-w", "broadcast", file.to_str().unwrap()]);
        assert_eq!(code, 255, "{name}: {out}{err}");
        assert!(out.is_empty(), "no verdict for {name}: {out}");
        assert!(err.contains(says) && err.contains(name), "{name}: {err}");
    }
    let latin1 = dir.join("latin1.edn");
    std::fs::write(&latin1, b"; caf\xe9\n").unwrap();
    let (code, _, err) = glomers(&["check", "-w", "broadcast", latin1.to_str().unwrap()]);
    assert_eq!(code, 255);
    assert!(err.contains("line 1, column 6: not UTF-8"), "{err}");
    let missing = dir.join("missing.edn");
    let (code, _, err) = glomers(&["check", "-w", "broadcast", missing.to_str().unwrap()]);
    assert_eq!(code, 255);
    assert!(err.contains("cannot read") && err.contains("missing.edn"), "{err}");
    let (code, _, err) = glomers(&["check", "-w", "broadcast", dir.to_str().unwrap()]);
    assert_eq!(code, 255);
    assert!(err.contains("is a directory"), "{err}");
    let (code, _, err) = glomers(&["check", "-w", "lin-kvv", latin1.to_str().unwrap()]);
    assert_eq!(code, 255);
    assert!(err.contains("unknown workload `lin-kvv`"), "{err}");

    for args in [
        &["check"][..],
        &["check", "-w", "kafka"],
        &["check", "h.edn"],
        &["check", "-w", "kafka", "h", "--rate", "5"],
    ] {
        let (code, _, err) = glomers(args);
        assert_eq!(code, 254, "{args:?}: {err}");
        assert!(err.contains("usage:"), "{err}");
    }
    let (code, out, _) = glomers(&["check", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("glomers check -w W FILE"), "{out}");
}

/// Knossos's own register histories (EPL-licensed data, not in this repository) get Knossos's
/// verdicts: every file under `cas-register/good` is valid, every one under
/// `cas-register/bad` invalid. Run with
/// `KNOSSOS_DATA=/path/to/knossos/data cargo test --test check -- --ignored`.
#[test]
#[ignore = "needs a copy of Knossos's data directory in KNOSSOS_DATA"]
fn knossos_register_histories_get_knossos_verdicts_through_the_binary() {
    let dir = PathBuf::from(std::env::var("KNOSSOS_DATA").expect("KNOSSOS_DATA"));
    let mut checked = 0;
    for (sub, want) in [("good", 0), ("bad", 1)] {
        for e in std::fs::read_dir(dir.join("cas-register").join(sub)).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_none_or(|x| x != "edn") {
                continue;
            }
            let (code, out, err) = glomers(&["check", "-w", "lin-kv", path.to_str().unwrap()]);
            assert_eq!(code, want, "{}: {out}{err}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 100, "only {checked} histories");
    println!("{checked} Knossos histories, each with Knossos's verdict");
}

/// A partitioned run's history.edn has the nemesis's entries in pairs, an `:info` invocation
/// and its `:info` completion at the same time, starting and stopping partitions exactly when
/// the partitions the results list start and stop; the final phase's `:stop-partition`
/// comes after the last one.
#[test]
fn a_partitioned_runs_nemesis_entries_agree_with_its_partitions() {
    use glomers::edn::{Edn, read_all};
    let store = tmp("nemesis-entries");
    let args = format!(
        "test -w broadcast --node-count 5 --rate 50 --time-limit 20 --nemesis partition \
         --nemesis-interval 2 --seed 11 --quiet --store {}",
        store.display()
    );
    let (code, out, err) = glomers(&args.split_whitespace().collect::<Vec<_>>());
    assert_eq!(code, 0, "{out}{err}");
    let dir = run_dir(&store, "broadcast");
    let results = std::fs::read_to_string(dir.join("results.json")).unwrap();
    // "partitions":[{"start_s":0.0,"end_s":12.861895,"shape":"one"},...]
    let list = results.split_once("\"partitions\":[").unwrap().1.split_once(']').unwrap().0;
    let num = |s: &str, key: &str| -> f64 {
        let v = s.split_once(&format!("\"{key}\":")).unwrap().1;
        v[..v.find([',', '}']).unwrap_or(v.len())].parse().unwrap()
    };
    let spans: Vec<(f64, f64, String)> = list
        .split('{')
        .skip(1)
        .map(|p| {
            let shape = p.split_once("\"shape\":\"").unwrap().1.split_once('"').unwrap().0;
            (num(p, "start_s"), num(p, "end_s"), shape.to_owned())
        })
        .collect();
    assert!(spans.len() >= 3, "{results}");

    let text = std::fs::read_to_string(dir.join("history.edn")).unwrap();
    let ops = read_all(&text).unwrap();
    let nemesis: Vec<&Edn<'_>> =
        ops.iter().filter(|o| o.get("process") == Some(&Edn::Keyword("nemesis"))).collect();
    assert_eq!(nemesis.len() % 2, 0);
    let secs = |o: &Edn<'_>| o.get("time").and_then(Edn::as_int).unwrap() as f64 / 1e9;
    let f = |o: &Edn<'_>| match o.get("f") {
        Some(Edn::Keyword(f)) => f.to_string(),
        _ => panic!("{o:?}"),
    };
    let pairs: Vec<(String, f64, &Edn<'_>, &Edn<'_>)> = nemesis
        .chunks(2)
        .map(|p| {
            assert_eq!(f(p[0]), f(p[1]));
            assert_eq!(secs(p[0]), secs(p[1]));
            assert!(p.iter().all(|o| o.get("type") == Some(&Edn::Keyword("info"))));
            (f(p[0]), secs(p[0]), p[0].get("value").unwrap(), p[1].get("value").unwrap())
        })
        .collect();
    // start, stop, start, stop, ...: the final phase's stop heals a partition still on (and
    // is recorded on its own, after the last stop, when none is on).
    assert!(
        [2 * spans.len(), 2 * spans.len() + 1].contains(&pairs.len()),
        "{pairs:?} vs {spans:?}"
    );
    for (i, (start, end, shape)) in spans.iter().enumerate() {
        let (f0, t0, v0, c0) = &pairs[2 * i];
        assert_eq!(f0, "start-partition");
        assert!((t0 - start).abs() < 1e-6, "{t0} vs {start}");
        assert_eq!(**v0, Edn::Keyword(shape), "the partition spec");
        assert!(matches!(c0.as_seq(), Some([Edn::Keyword("isolated"), Edn::Map(_)])), "{c0:?}");
        let (f1, t1, v1, c1) = &pairs[2 * i + 1];
        assert_eq!(f1, "stop-partition");
        assert!((t1 - end).abs() < 1e-6, "{t1} vs {end}");
        assert!(v1.is_nil() && **c1 == Edn::Keyword("network-healed"));
    }
    let (f, t, _, _) = pairs.last().unwrap();
    assert!(f == "stop-partition" && *t >= spans.last().unwrap().1);
    // Numbered among the client operations: :index counts lines.
    for (i, o) in ops.iter().enumerate() {
        assert_eq!(o.get("index").and_then(Edn::as_int), Some(i as i64));
    }
    let _ = std::fs::remove_dir_all(&store);
}
