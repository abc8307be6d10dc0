use super::values::{HistoryFormat, maelstrom_edn};
use super::*;
use crate::rng::Rng;
use crate::sim::engine::Engine;
use crate::sim::inproc::InProcess;
use crate::sim::workloads::g_set::{GSetClient, GValue};
use crate::sim::workloads::list_append::{LaMop, LaTxn, ListAppendClient};
use crate::sim::workloads::txn::Jv;
use crate::sim::workloads::{ClientWorkload, Validity};
use crate::sim::workloads::{broadcast, echo, g_counter, kafka, pn_counter, txn, unique_ids};

fn opts(flags: &str) -> TestOpts {
    let args: Vec<String> = flags.split_whitespace().map(str::to_owned).collect();
    TestOpts::parse(&args).unwrap()
}

/// A history from our own nodes, in-process.
fn bench<W: ClientWorkload>(o: &TestOpts, w: W) -> (History<W::Value>, W) {
    bench_with(o, w, |i| {
        crate::workload::machine(&o.workload, Vec::new(), o.seed + i as u64).unwrap()
    })
}

/// A history from nodes `make` makes, in-process.
fn bench_with<W: ClientWorkload>(
    o: &TestOpts,
    w: W,
    make: impl Fn(usize) -> Box<dyn crate::node::Machine>,
) -> (History<W::Value>, W) {
    let machines = (0..o.nodes().len()).map(make).collect();
    let (data, w, _) = Engine::new(o, w, InProcess::new(machines)).run();
    (data.history, w)
}

/// A check's verdict, summary and JSON without the time the checker took (lin-kv's
/// summary ends "..., 0.3 ms)" and its JSON has "seconds").
fn untimed(c: &crate::sim::workloads::Check) -> (Validity, Vec<String>, String) {
    let summary = c
        .summary
        .iter()
        .map(|l| match l.rfind(" ms)").and_then(|end| Some((l[..end].rfind(", ")?, end))) {
            Some((start, end)) => format!("{}{}", &l[..start], &l[end + 3..]),
            None => l.clone(),
        })
        .collect();
    let mut json = c.json.clone();
    if let Some(i) = json.find("\"seconds\":") {
        let end = json[i..].find([',', '}']).map_or(json.len(), |e| i + e);
        json.replace_range(i..end, "\"seconds\":_");
    }
    (c.valid, summary, json)
}

fn ops_json<V: serde::Serialize>(h: &History<V>) -> Vec<String> {
    h.ops.iter().map(|op| simd_json::to_string(op).unwrap()).collect()
}

fn jsonl<V: serde::Serialize>(h: &History<V>) -> String {
    ops_json(h).into_iter().map(|l| l + "\n").collect()
}

/// The history written as Maelstrom's history.edn and as our history.jsonl reads back to
/// the same entries, and the checker says the same of all three.
fn round_trip<W: HistoryFormat>(o: &TestOpts, w: &W, h: &History<W::Value>) {
    let want = w.check(h, o);
    let edn = maelstrom_edn(h);
    for (format, text) in [("edn", edn.as_str()), ("jsonl", jsonl(h).as_str())] {
        let (back, src) = match format {
            "edn" => read_edn(w, text),
            _ => read_jsonl(w, text),
        }
        .unwrap_or_else(|e| panic!("{}: {format}: {e}", o.workload));
        let mut want_ops = h.clone();
        if format == "edn" && matches!(o.workload.as_str(), "kafka" | "g-set") {
            // Maelstrom marks no final operation of these with `:final?`.
            want_ops.ops.iter_mut().for_each(|op| op.is_final = false);
        }
        let (got, wanted) = (ops_json(&back), ops_json(&want_ops));
        assert_eq!(got.len(), wanted.len(), "{} {format}", o.workload);
        if let Some(i) = (0..got.len()).find(|&i| got[i] != wanted[i]) {
            panic!(
                "{} {format}: entry {i} reads back as {} instead of {}",
                o.workload, got[i], wanted[i]
            );
        }
        assert!(src.timed && !src.renumbered && src.skipped.is_empty());
        let got = w.check(&back, o);
        assert_eq!(untimed(&got), untimed(&want), "{} {format}", o.workload);
    }
}

#[test]
fn bench_histories_of_every_workload_round_trip_through_maelstroms_format() {
    let faults = "--time-limit 10 --latency 30 --latency-dist exponential --nemesis partition \
                  --nemesis-interval 2 --loss 0.2 --seed 5";
    let o = opts(&format!("-w echo --node-count 2 --rate 20 {faults}"));
    let (h, w) = bench(&o, echo::EchoClient);
    round_trip(&o, &w, &h);
    let o = opts(&format!("-w unique-ids --node-count 3 --rate 50 {faults}"));
    let (h, w) = bench(&o, unique_ids::UniqueIdsClient);
    round_trip(&o, &w, &h);
    let o = opts(&format!("-w broadcast --node-count 5 --rate 50 {faults}"));
    let (h, w) = bench(&o, broadcast::BroadcastClient::default());
    assert!(h.ops.iter().any(|op| op.is_final));
    round_trip(&o, &w, &h);
    let o = opts(&format!("-w g-counter --node-count 3 --rate 50 {faults}"));
    let (h, w) = bench(&o, g_counter::GCounterClient::default());
    round_trip(&o, &w, &h);
    let o = opts(&format!("-w pn-counter --node-count 3 --rate 50 {faults}"));
    let (h, w) = bench(&o, pn_counter::PnCounterClient::default());
    round_trip(&o, &w, &h);
    let o = opts(&format!("-w kafka --node-count 2 --concurrency 2n --rate 200 {faults}"));
    let (h, w) = bench(&o, kafka::KafkaClient::new(&o));
    for f in ["send", "poll", "assign", "crash"] {
        assert!(h.ops.iter().any(|op| op.f == f), "{f}");
    }
    round_trip(&o, &w, &h);
    let o = opts(&format!("-w txn-rw-register --node-count 2 --rate 200 {faults}"));
    let (h, w) = bench(&o, txn::TxnClient::new(&o));
    round_trip(&o, &w, &h);
}

/// A history of `w`'s generator against a serial store `apply` (no in-process node here),
/// with some failed and indeterminate completions.
fn serial<W: ClientWorkload>(
    w: &mut W,
    n: usize,
    mut apply: impl FnMut(&W::Value) -> W::Value,
) -> History<W::Value> {
    let mut rng = Rng::new(9);
    let mut h = History::default();
    let mut procs: Vec<usize> = (0..4).collect();
    for i in 0..n {
        let t = i % 4;
        let Some((f, v)) = w.next_op(t, &mut rng) else { continue };
        let op = |kind, value, error: Option<&str>| Op {
            index: 0,
            time: i as u64 * 1_000_000,
            process: procs[t],
            kind,
            f,
            value,
            error: error.map(str::to_owned),
            is_final: false,
        };
        h.push(op(OpType::Invoke, v.clone(), None));
        match rng.below(10) {
            0 => {
                h.push(op(OpType::Fail, v, Some("key-does-not-exist: nope")));
            }
            1 => {
                h.push(op(OpType::Info, v, Some("net-timeout")));
                procs[t] += 4;
            }
            _ => {
                h.push(op(OpType::Ok, apply(&v), None));
            }
        }
    }
    h
}

#[test]
fn lin_kv_histories_round_trip_valid_indeterminate_and_invalid() {
    use crate::node::Node;
    use crate::sim::workloads::lin_kv::{LinKvClient, subjects};
    fn node<W: crate::node::Workload + 'static>(i: usize) -> Box<dyn crate::node::Machine> {
        Box::new(Node::<W>::new(Vec::new(), i as u64))
    }
    let o = opts("-w lin-kv --node-count 3 --concurrency 2n --rate 100 --time-limit 10 --seed 3");
    for (make, want) in [
        (node::<subjects::Proxy> as fn(usize) -> Box<dyn crate::node::Machine>, Validity::True),
        (node::<subjects::FlakyProxy>, Validity::True),
        (node::<subjects::StaleReads>, Validity::False),
    ] {
        let (h, w) = bench_with(&o, LinKvClient::new(&o), make);
        assert_eq!(w.check(&h, &o).valid, want);
        round_trip(&o, &w, &h);
    }
}

#[test]
fn lin_kv_reads_maelstrom_tuples_and_plain_registers_but_not_a_mix() {
    use crate::sim::workloads::lin_kv::{KvValue, LinKvClient};
    let o = opts("-w lin-kv");
    let w = LinKvClient::new(&o);
    let (h, src) = read_edn(
        &w,
        "{:type :invoke, :process 0, :f :cas, :value [7 [1 2]]}\n\
         {:type :invoke, :process 1, :f :read, :value [7 nil]}\n\
         {:type :ok, :process 1, :f :read, :value [7 \"x\"]}",
    )
    .unwrap();
    assert_eq!(h.ops[0].value, KvValue::Cas { key: 7, from: 1, to: 2 });
    assert_eq!(h.ops[2].value, KvValue::Read { key: 7, value: Jv::Other("\"x\"".into()) });
    assert!(src.format.ends_with(", independent [key value] tuples") && src.stats_judged);
    // Knossos's shapes: a read invocation may carry anything; one register, key 0.
    let (h, src) = read_edn(
        &w,
        "[{:type :invoke, :process 0, :f :cas, :value [1 2]}\n\
          {:type :invoke, :process 1, :f :read, :value 4}\n\
          {:type :ok, :process 1, :f :read, :value 4}\n\
          {:type :invoke, :process 2, :f :write, :value 3}]",
    )
    .unwrap();
    assert_eq!(h.ops[0].value, KvValue::Cas { key: 0, from: 1, to: 2 });
    assert_eq!(h.ops[1].value, KvValue::Read { key: 0, value: Jv::Null });
    assert_eq!(h.ops[2].value, KvValue::Read { key: 0, value: Jv::Int(4) });
    assert!(src.format.ends_with(", one register's values") && !src.stats_judged);
    for (text, want) in [
        (
            "{:type :invoke, :process 0, :f :write, :value 3}\n{:type :invoke, :process 1, :f :write, :value [0 3]}",
            "line 2: :value [0 3] has the shape of independent [key value] tuples, but the history began with one register's values (line 1)",
        ),
        ("{:type :invoke, :process 0, :f :write, :value \"a\"}", "lin-kv values are integers"),
        ("{:type :invoke, :process 0, :f :cas, :value [0 [1]]}", "expected [from to]"),
        ("{:type :invoke, :process 0, :f :cas, :value 5}", "expected [from to]"),
        ("{:type :invoke, :process 0, :f :write, :value [-1 3]}", "expected an integer"),
    ] {
        let e = read_edn(&w, text).map(|_| ()).unwrap_err();
        assert!(e.contains(want), "{text}: {e}");
    }
}

#[test]
fn g_set_and_list_append_histories_round_trip_too() {
    let o = opts("-w g-set");
    let mut w = GSetClient::default();
    let mut set = Vec::new();
    let h = serial(&mut w, 400, |v| match v {
        GValue::Add(x) => {
            set.push(*x);
            v.clone()
        }
        GValue::Read(_) => GValue::Read(Some(set.clone())),
    });
    round_trip(&o, &w, &h);

    let o = opts("-w txn-list-append");
    let mut w = ListAppendClient::new(&o);
    let mut lists: HashMap<Jv, Vec<Jv>> = HashMap::new();
    let h = serial(&mut w, 400, |t| {
        LaTxn(
            t.0.iter()
                .map(|m| match m {
                    LaMop::Append(k, v) => {
                        lists.entry(k.clone()).or_default().push(v.clone());
                        m.clone()
                    }
                    LaMop::R(k, _) => LaMop::R(k.clone(), lists.get(k).cloned()),
                })
                .collect(),
        )
    });
    assert!(
        h.ops.iter().any(|op| matches!(&op.value.0[..], [LaMop::R(_, Some(l)), ..] if l.len() > 1))
    );
    round_trip(&o, &w, &h);
}

/// Reads `text` as `w`'s EDN history and checks it.
fn check_edn<W: HistoryFormat>(
    o: &TestOpts,
    w: &W,
    text: &str,
) -> Result<(Validity, String, HistorySource), String> {
    let (h, src) = read_edn(w, text)?;
    let c = w.check(&h, o);
    Ok((c.valid, c.summary.join("\n") + "\n" + &c.json, src))
}

#[test]
fn maelstrom_shapes_with_nemesis_ops_records_and_exceptions() {
    // A broadcast history as Maelstrom 0.2 / Jepsen 0.3.7 writes it: nemesis ops between
    // client ops, a record-printed op, an exception on an info, errors as keywords.
    let text = r#"{:index 0, :time 1000, :type :invoke, :process 0, :f :broadcast, :value 0}
{:index 1, :time 2000, :type :info, :process :nemesis, :f :start-partition, :value :majority}
{:index 2, :time 3000, :type :info, :process :nemesis, :f :start-partition, :value [:isolated {"n1" #{"n2" "n3"}, "n2" #{"n1"}}]}
#jepsen.history.Op{:index 3, :time 4000, :type :ok, :process 0, :f :broadcast, :value 0}
{:index 4, :time 5000, :type :invoke, :process 1, :f :broadcast, :value 1}
{:index 5, :time 5000000000, :type :info, :process 1, :f :broadcast, :value 1, :error :net-timeout}
{:index 6, :time 6000000000, :type :invoke, :process 2, :f :read, :value nil}
{:index 7, :time 6000001000, :type :info, :process 2, :f :read, :value nil, :exception {:via [{:type clojure.lang.ExceptionInfo, :message "boom", :at [slingshot.support$stack_trace invoke "support.clj" 201]}]}, :error "indeterminate: boom"}
{:index 8, :time 7000000000, :type :info, :process :nemesis, :f :stop-partition, :value nil}
{:index 9, :time 8000000000, :type :invoke, :process 0, :f :read, :final? true, :value nil}
{:index 10, :time 8000002000, :type :ok, :process 0, :f :read, :final? true, :value [0 1]}
"#;
    let o = opts("-w broadcast");
    let (valid, out, src) = check_edn(&o, &broadcast::BroadcastClient::default(), text).unwrap();
    assert_eq!(valid, Validity::True, "{out}");
    assert!(out.contains("2 attempted, 2 stable, 0 lost"), "{out}");
    assert_eq!(src.skipped, [("start-partition".to_owned(), 2), ("stop-partition".to_owned(), 1)]);
    assert!(src.renumbered && src.timed);
    assert_eq!(src.processes, 3);

    // The same with the last read missing a value: lost.
    let lost = text.replace(":value [0 1]}", ":value [1]}").replace("[0 1]", "[1]");
    let lost = lost.replacen(
        "{:index 6,",
        "{:index 5, :time 5500000000, :type :invoke, :process 3, :f :read}\n{:index 5, :time 5500000100, :type :ok, :process 3, :f :read, :value [0]}\n{:index 6,",
        1,
    );
    let e = check_edn(&o, &broadcast::BroadcastClient::default(), &lost).unwrap_err();
    assert!(e.contains(":index 5 comes after :index 5"), "{e}");
    let lost = lost.replace("{:index 5, :time 55", "{:time 55");
    let (valid, out, _) = check_edn(&o, &broadcast::BroadcastClient::default(), &lost).unwrap();
    assert_eq!(valid, Validity::False, "{out}");
    assert!(out.contains("LOST values: 0"), "{out}");
}

#[test]
fn maelstrom_shapes_of_every_workload_read() {
    let cases: &[(&str, &str, Validity)] = &[
        (
            "echo",
            r#"{:index 0, :time 0, :type :invoke, :process 0, :f :echo, :value "Please echo 35"}
{:index 1, :time 9, :type :ok, :process 0, :f :echo, :value {:type "echo_ok", :echo "Please echo 35", :msg_id 1, :in_reply_to 1}}"#,
            Validity::True,
        ),
        (
            "echo",
            r#"{:index 0, :time 0, :type :invoke, :process 0, :f :echo, :value "Please echo 35"}
{:index 1, :time 9, :type :ok, :process 0, :f :echo, :value {:type "echo_ok", :echo "Please echo 36", :in_reply_to 1}}"#,
            Validity::False,
        ),
        (
            "unique-ids",
            r#"{:index 0, :time 0, :type :invoke, :process 0, :f :generate, :value nil}
{:index 1, :time 9, :type :ok, :process 0, :f :generate, :value "n1-1"}
{:index 2, :time 10, :type :invoke, :process 1, :f :generate, :value nil}
{:index 3, :time 19, :type :ok, :process 1, :f :generate, :value "n1-1"}"#,
            Validity::False,
        ),
        (
            "g-counter",
            r#"{:index 0, :time 0, :type :invoke, :process 0, :f :add, :value 3}
{:index 1, :time 9, :type :ok, :process 0, :f :add, :value 3}
{:index 2, :time 10, :type :invoke, :process 1, :f :add, :value 4}
{:index 3, :time 19, :type :info, :process 1, :f :add, :value 4, :error "indeterminate: timeout"}
{:index 4, :time 20, :type :invoke, :process 0, :f :read, :final? true, :value nil}
{:index 5, :time 29, :type :ok, :process 0, :f :read, :final? true, :value 7}"#,
            Validity::True,
        ),
        (
            "pn-counter",
            r#"{:index 0, :time 0, :type :invoke, :process 0, :f :add, :value -3}
{:index 1, :time 9, :type :ok, :process 0, :f :add, :value -3}
{:index 2, :time 20, :type :invoke, :process 0, :f :read, :final? true, :value nil}
{:index 3, :time 29, :type :ok, :process 0, :f :read, :final? true, :value 3}"#,
            Validity::False,
        ),
        (
            "g-set",
            r#"{:index 0, :time 0, :type :invoke, :process 0, :f :add, :value 0}
{:index 1, :time 9, :type :ok, :process 0, :f :add, :value 0}
{:index 2, :time 20, :type :invoke, :process 1, :f :read, :value nil}
{:index 3, :time 29, :type :ok, :process 1, :f :read, :value [0 "junk"]}"#,
            Validity::True,
        ),
        (
            "kafka",
            r#"{:index 0, :time 0, :type :invoke, :process 0, :f :assign, :value ["1" "2"]}
{:index 1, :time 5, :type :ok, :process 0, :f :assign, :value ["1" "2"]}
{:index 2, :time 6, :type :invoke, :process 1, :f :send, :value [[:send "1" 1]]}
{:index 3, :time 9, :type :ok, :process 1, :f :send, :value [[:send "1" [0 1]]]}
{:index 4, :time 10, :type :invoke, :process 1, :f :send, :value [[:send "1" 2]]}
{:index 5, :time 11, :type :ok, :process 1, :f :send, :value [[:send "1" [1 2]]]}
{:index 6, :time 12, :type :invoke, :process 0, :f :poll, :value [[:poll]]}
{:index 7, :time 19, :type :ok, :process 0, :f :poll, :value [[:poll {"1" [[0 1] [1 2]]}]]}
{:index 8, :time 20, :type :invoke, :process 1, :f :crash, :value nil}
{:index 9, :time 20, :type :info, :process 1, :f :crash, :value nil}
{:index 10, :time 21, :type :invoke, :process 3, :f :assign, :value ["1"], :seek-to-beginning? true}
{:index 11, :time 21, :type :ok, :process 3, :f :assign, :value ["1"], :seek-to-beginning? true}
{:index 12, :time 22, :type :invoke, :process 3, :f :poll, :value [[:poll]]}
{:index 13, :time 29, :type :ok, :process 3, :f :poll, :value [[:poll {"1" [[0 1] [1 2]]}]]}"#,
            Validity::True,
        ),
        (
            "kafka",
            r#"{:index 0, :time 6, :type :invoke, :process 1, :f :send, :value [[:send "1" 1]]}
{:index 1, :time 9, :type :ok, :process 1, :f :send, :value [[:send "1" [0 1]]]}
{:index 2, :time 10, :type :invoke, :process 2, :f :send, :value [[:send "1" 2]]}
{:index 3, :time 11, :type :ok, :process 2, :f :send, :value [[:send "1" [0 2]]]}"#,
            Validity::False,
        ),
        (
            "txn-rw-register --consistency-models read-committed",
            r#"{:index 0, :time 0, :type :invoke, :process 0, :f :txn, :value [[:w 1 1] [:r 2 nil]]}
{:index 1, :time 9, :type :ok, :process 0, :f :txn, :value [[:w 1 1] [:r 2 nil]]}
{:index 2, :time 10, :type :invoke, :process 1, :f :txn, :value [[:r 1 nil]]}
{:index 3, :time 19, :type :fail, :process 1, :f :txn, :value [[:r 1 nil]], :error [:txn-conflict "no"]}
{:index 4, :time 20, :type :invoke, :process 1, :f :txn, :value [[:r 1 nil]]}
{:index 5, :time 29, :type :ok, :process 1, :f :txn, :value [[:r 1 1]]}"#,
            Validity::True,
        ),
        (
            "txn-rw-register --consistency-models read-committed",
            r#"{:index 0, :time 0, :type :invoke, :process 0, :f :txn, :value [[:w 1 1]]}
{:index 1, :time 9, :type :fail, :process 0, :f :txn, :value [[:w 1 1]], :error [:txn-conflict "no"]}
{:index 2, :time 10, :type :invoke, :process 1, :f :txn, :value [[:r 1 nil]]}
{:index 3, :time 19, :type :ok, :process 1, :f :txn, :value [[:r 1 1]]}"#,
            Validity::False,
        ),
        (
            "txn-list-append",
            r#"[{:type :invoke, :process 0, :f :txn, :value [[:append 1 1] [:r 1 nil]]}
 {:type :ok, :process 0, :f :txn, :value [[:append 1 1] [:r 1 [1]]]}
 ; a second transaction sees it
 {:type :invoke, :process 1, :f :txn, :value [[:r 1 nil] [:append 1 2]]}
 {:type :ok, :process 1, :f :txn, :value [[:r 1 [1]] [:append 1 2]]}]"#,
            Validity::True,
        ),
        (
            "txn-list-append",
            r#"{:index 0, :time 0, :type :invoke, :process 0, :f :txn, :value [[:append 1 1]]}
{:index 1, :time 9, :type :fail, :process 0, :f :txn, :value [[:append 1 1]], :error [:txn-conflict "no"]}
{:index 2, :time 10, :type :invoke, :process 1, :f :txn, :value [[:r 1 nil]]}
{:index 3, :time 19, :type :ok, :process 1, :f :txn, :value [[:r 1 [1]]]}"#,
            Validity::False,
        ),
    ];
    for (workload, text, want) in cases {
        let o = opts(&format!("-w {workload}"));
        let got = match workload.split(' ').next().unwrap() {
            "echo" => check_edn(&o, &echo::EchoClient, text),
            "unique-ids" => check_edn(&o, &unique_ids::UniqueIdsClient, text),
            "g-counter" => check_edn(&o, &g_counter::GCounterClient::default(), text),
            "pn-counter" => check_edn(&o, &pn_counter::PnCounterClient::default(), text),
            "g-set" => check_edn(&o, &GSetClient::default(), text),
            "kafka" => check_edn(&o, &kafka::KafkaClient::new(&o), text),
            "txn-rw-register" => check_edn(&o, &txn::TxnClient::new(&o), text),
            _ => check_edn(&o, &ListAppendClient::new(&o), text),
        };
        let (valid, out, _) = got.unwrap_or_else(|e| panic!("{workload}: {e}"));
        assert_eq!(valid, *want, "{workload}: {out}");
    }
}

#[test]
fn every_kind_of_bad_input_is_an_error_naming_its_line() {
    let b = broadcast::BroadcastClient::default();
    let ok = "{:type :invoke, :process 9, :f :read, :value nil}\n";
    for (text, want) in [
        ("{:type :invoke, :process 0, :f :read\n", "never closed"),
        ("{:type :invoke :process 0 :f :read} )", "unmatched"),
        ("[1 2 3]", "expected an operation map"),
        ("{:process 0, :f :read}", "no :type"),
        ("{:type :ok :type :ok, :process 0, :f :read}", "two :type keys"),
        ("{:type :done, :process 0, :f :read}", "unknown :type :done"),
        ("{:type :invoke, :f :read}", "no :process"),
        ("{:type :invoke, :process -1, :f :read}", "out of range"),
        ("{:type :invoke, :process [0], :f :read}", ":process should be an integer"),
        ("{:type :invoke, :process 0}", "no :f"),
        ("{:type :invoke, :process 0, :f \"read\"}", ":f should be a keyword"),
        ("{:type :invoke, :process 0, :f :write, :value 1}", "unknown operation :write"),
        ("{:type :ok, :process 0, :f :read, :value []}", "without its :invoke"),
        (
            "{:type :invoke, :process 0, :f :read}\n{:type :ok, :process 0, :f :broadcast, :value 1}",
            "whose open :invoke is :read (line 2)",
        ),
        (
            "{:type :invoke, :process 0, :f :read}\n{:type :invoke, :process 0, :f :read}",
            "has not completed",
        ),
        ("{:type :invoke, :process 0, :f :broadcast, :value \"x\"}", "expected an integer >= 0"),
        ("{:type :invoke, :process 0, :f :broadcast, :value -1}", "expected an integer >= 0"),
        ("{:type :invoke, :process 0, :f :read, :value 5}", "expected nil"),
        (
            "{:type :invoke, :process 0, :f :read}\n{:type :ok, :process 0, :f :read, :value 5}",
            "the elements read",
        ),
        ("{:type :invoke, :process 0, :f :broadcast, :value 99999999999}", "far beyond"),
        (
            "{:index 3, :type :invoke, :process 0, :f :read}\n{:index 2, :type :ok, :process 0, :f :read, :value []}",
            ":index 2 comes after :index 3 (line 2)",
        ),
        ("{:index :a, :type :invoke, :process 0, :f :read}", ":index should be an integer"),
        (
            "{:time 1, :type :invoke, :process 0, :f :read}\n{:type :ok, :process 0, :f :read, :value []}",
            "no :time but earlier ones do",
        ),
        (
            "{:type :invoke, :process 0, :f :read}\n{:time 1, :type :ok, :process 0, :f :read, :value []}",
            "has a :time but earlier ones have none",
        ),
        ("{:time -5, :type :invoke, :process 0, :f :read}", ":time should be nanoseconds"),
        ("{:type :invoke, :process 0, :f :read, :final? 1}", ":final? should be true or false"),
        ("[{:type :invoke, :process 0, :f :read}] {:a 1}", "after the history's closing bracket"),
        ("#object[x] ", "expected an operation map"),
        ("'x", "not EDN"),
    ] {
        // After a good line (so the line numbers count), unless the case is about :time or a collection.
        let text = if text.contains(":time") || text.starts_with("[{") {
            text.to_owned()
        } else {
            format!("{ok}{text}")
        };
        let e = read_edn(&b, &text).map(|_| ()).expect_err(&text);
        assert!(e.contains(want), "{text:?}: {e}");
        assert!(e.starts_with("line "), "{text:?}: {e}");
    }
    // Value shapes of the other workloads.
    let k = kafka::KafkaClient::new(&opts("-w kafka"));
    for (text, want) in [
        ("{:type :invoke, :process 0, :f :send, :value [:poll]}", "[[:send ...]]"),
        ("{:type :invoke, :process 0, :f :send, :value [[:send 1 1]]}", "an integer as a string"),
        (
            "{:type :invoke, :process 0, :f :send, :value [[:send \"01\" 1]]}",
            "an integer as a string",
        ),
        (
            "{:type :invoke, :process 0, :f :send, :value [[:send \"1\" 1]]}\n{:type :ok, :process 0, :f :send, :value [[:send \"1\" 1]]}",
            "[offset msg]",
        ),
        (
            "{:type :invoke, :process 0, :f :poll, :value [[:poll]]}\n{:type :ok, :process 0, :f :poll, :value [[:poll {\"1\" [[0]]}]]}",
            "an [offset msg] pair",
        ),
        (
            "{:type :invoke, :process 0, :f :assign, :value [\"1\"], :seek-to-beginning? 3}",
            ":seek-to-beginning?",
        ),
        (
            "{:type :invoke, :process 0, :f :subscribe, :value [\"1\"]}",
            "unknown operation :subscribe",
        ),
    ] {
        let e = read_edn(&k, text).map(|_| ()).expect_err(text);
        assert!(e.contains(want), "{text:?}: {e}");
    }
    let t = txn::TxnClient::new(&opts("-w txn-rw-register"));
    for (text, want) in [
        (
            "{:type :invoke, :process 0, :f :txn, :value [[:append 1 1]]}",
            "unknown micro-op :append",
        ),
        ("{:type :invoke, :process 0, :f :txn, :value [[:r 1]]}", "a micro-op [f k v]"),
        ("{:type :invoke, :process 0, :f :txn, :value [[:w 1 :x]]}", "a JSON value"),
        ("{:type :invoke, :process 0, :f :txn, :value {:a 1}}", "a transaction"),
    ] {
        let e = read_edn(&t, text).map(|_| ()).expect_err(text);
        assert!(e.contains(want), "{text:?}: {e}");
    }
    let g = g_counter::GCounterClient::default();
    let e =
        read_edn(&g, "{:type :invoke, :process 0, :f :add, :value -1}").map(|_| ()).unwrap_err();
    assert!(e.contains("never adds a negative"), "{e}");
    let e = read_jsonl(&b, "{\"type\":\"invoke\",\"process\":0,\"f\":\"read\"}\n{nope}\n")
        .map(|_| ())
        .unwrap_err();
    assert!(e.starts_with("line 2: not JSON"), "{e}");
}

#[test]
fn an_empty_history_and_a_register_style_collection() {
    let b = broadcast::BroadcastClient::default();
    let (h, src) = read_edn(&b, "; nothing\n").unwrap();
    assert!(h.ops.is_empty() && src.format == "Maelstrom history.edn");
    let (h, src) = read_edn(&b, "()").unwrap();
    assert!(h.ops.is_empty() && src.format.starts_with("Jepsen history"));
    let (h, src) = read_edn(
        &b,
        "[{:process 1, :type :invoke, :f :read, :value nil}\n\
          #knossos.op.Op{:process 1, :type :ok, :f :read, :value [], :index nil, :time -1}]",
    )
    .unwrap();
    assert_eq!(h.ops.len(), 2);
    assert!(!src.timed && src.renumbered);
}

#[test]
fn check_options_parse_and_refuse_run_flags() {
    let parse =
        |s: &str| CheckOpts::parse(&s.split_whitespace().map(str::to_owned).collect::<Vec<_>>());
    let o = parse("-w lin-kv h --initial-value 0 --search-budget 50").unwrap();
    assert_eq!(o.initial_value.as_deref(), Some("0"));
    assert_eq!(o.test.search_budget, Some(50));
    assert_eq!(o.command_line(), "glomers check -w lin-kv --search-budget 50 --initial-value 0 h");
    let o =
        parse("-w txn-list-append h.edn --consistency-models read-committed --store s").unwrap();
    assert_eq!(o.file, PathBuf::from("h.edn"));
    assert_eq!(o.test.consistency_models, ["read-committed"]);
    assert_eq!(o.test.store, Some(PathBuf::from("s")));
    assert_eq!(
        o.command_line(),
        "glomers check -w txn-list-append --consistency-models read-committed h.edn"
    );
    assert_eq!(parse("-w kafka h.edn").unwrap().test.store, None);
    assert_eq!(parse("-w kafka h --format=jsonl").unwrap().format, Some(Format::Jsonl));
    for (bad, want) in [
        ("h.edn", "-w WORKLOAD is required"),
        ("-w kafka", "which history file"),
        ("-w kafka a b", "one history file"),
        ("-w kafka h --rate 5", "--rate does not apply"),
        ("-w kafka h --format xml", "not edn or jsonl"),
        ("-w kafka h --availability 7", "--availability"),
        ("-w kafka h --initial-value 0", "for lin-kv histories"),
        ("-w lin-kv h --initial-value :k", "not nil, an integer or a JSON value"),
        ("-w lin-kv h --initial-value", "needs a value"),
    ] {
        let e = parse(bad).unwrap_err();
        assert!(e.0.contains(want), "{bad}: {e}");
    }
}
