//! The history files: `history.jsonl` (one JSON object per entry), `history.txt` (Jepsen's
//! condensed form: process, type, f, value and error, tab-separated) and `history.edn`
//! (one op map per line, exactly as Maelstrom writes it: values, the generator's keys and
//! errors in Maelstrom's shapes, [`crate::sim::check::values`]).
//!
//! The nemesis's entries (`:process :nemesis`, [`NemesisOp`]) are merged in where they
//! happened, and `:index` counts every entry, as Jepsen numbers them; the client entries'
//! own indices (which the checkers report) count client entries only.
//!
//! Values are written whole in all three (they are the data a later check reads); the
//! timeline and the diagram are the views that cut long values short.

use super::Ops;
use crate::edn::push_u64;
use crate::sim::check::values::push_error;
use crate::sim::history::OpType;
use crate::sim::nemesis::NemesisOp;

/// Calls `client(i, index)` for each client entry and `nem(op, index)` for each nemesis
/// entry, in history order, `index` counting both.
fn merged(
    ops: &dyn Ops,
    nemesis: &[NemesisOp],
    mut client: impl FnMut(usize, usize),
    mut nem: impl FnMut(&NemesisOp, usize),
) {
    let mut index = 0;
    let mut next = nemesis.iter().peekable();
    for i in 0..=ops.len() {
        while let Some(n) = next.next_if(|n| n.before <= i) {
            nem(n, index);
            index += 1;
        }
        if i < ops.len() {
            client(i, index);
            index += 1;
        }
    }
}

/// `history.jsonl`.
pub fn jsonl(ops: &dyn Ops, nemesis: &[NemesisOp]) -> Vec<u8> {
    let s = std::cell::RefCell::new(Vec::with_capacity(ops.len() * 128));
    merged(
        ops,
        nemesis,
        |i, index| {
            let mut s = s.borrow_mut();
            let at = s.len();
            ops.json(i, &mut s);
            if index != i {
                renumber_json(&mut s, at, index);
            }
            s.push(b'\n');
        },
        |n, index| {
            let mut s = s.borrow_mut();
            n.json_line(index, &mut s);
            s.push(b'\n');
        },
    );
    s.into_inner()
}

/// Rewrites the leading `{"index":N` of the JSON object starting at `at` to `index`.
fn renumber_json(s: &mut Vec<u8>, at: usize, index: usize) {
    const KEY: &[u8] = b"{\"index\":";
    if !s[at..].starts_with(KEY) {
        return;
    }
    let start = at + KEY.len();
    let end = start + s[start..].iter().take_while(|b| b.is_ascii_digit()).count();
    s.splice(start..end, index.to_string().into_bytes());
}

/// The keyword of an entry's type.
pub fn type_keyword(kind: OpType) -> &'static str {
    match kind {
        OpType::Invoke => ":invoke",
        OpType::Ok => ":ok",
        OpType::Fail => ":fail",
        OpType::Info => ":info",
    }
}

/// `history.txt` and `history.edn` together (each value is rendered once for both).
///
/// `history.txt`: `process \t :type \t :f \t value [\t error]` per entry, as Jepsen prints an
/// operation (the error as Clojure's `print` shows it; a newline in it becomes a space, so
/// that every entry is one line). `history.edn`: one map per line as Jepsen 0.3.7 prints an
/// op (`(str (into {} op))`): the keys of its record (`:index`, `:time`, `:type`,
/// `:process`, `:f`, `:value`), then the keys its generator put on it (`:final? true`, ...),
/// then `:error`.
pub fn txt_and_edn(ops: &dyn Ops, nemesis: &[NemesisOp], size_hint: usize) -> (String, String) {
    let out = std::cell::RefCell::new((
        String::with_capacity(size_hint.max(ops.len() * 48)),
        String::with_capacity(size_hint.max(ops.len() * 80)),
        String::new(),
    ));
    merged(
        ops,
        nemesis,
        |i, index| {
            let (txt, edn, value) = &mut *out.borrow_mut();
            client_lines(ops, i, index, txt, edn, value);
        },
        |n, index| {
            let (txt, edn, _) = &mut *out.borrow_mut();
            n.txt_line(txt);
            txt.push('\n');
            n.edn_line(index, edn);
            edn.push('\n');
        },
    );
    let (txt, edn, _) = out.into_inner();
    (txt, edn)
}

/// Appends client entry `i`'s `history.txt` and `history.edn` lines, `:index` being `index`.
fn client_lines(
    ops: &dyn Ops,
    i: usize,
    index: usize,
    txt: &mut String,
    edn: &mut String,
    value: &mut String,
) {
    {
        let h = ops.head(i);
        value.clear();
        ops.value_edn(i, value, usize::MAX);

        push_u64(txt, h.process as u64);
        txt.push('\t');
        txt.push_str(type_keyword(h.kind));
        txt.push_str("\t:");
        txt.push_str(h.f);
        txt.push('\t');
        txt.push_str(value);
        if let Some(e) = h.error {
            txt.push('\t');
            let at = txt.len();
            push_error(txt, e, false);
            if txt[at..].contains('\n') {
                let line = txt[at..].replace('\n', " ");
                txt.replace_range(at.., &line);
            }
        }
        txt.push('\n');

        edn.push_str("{:index ");
        push_u64(edn, index as u64);
        edn.push_str(", :time ");
        push_u64(edn, h.time);
        edn.push_str(", :type ");
        edn.push_str(type_keyword(h.kind));
        edn.push_str(", :process ");
        push_u64(edn, h.process as u64);
        edn.push_str(", :f :");
        edn.push_str(h.f);
        edn.push_str(", :value ");
        edn.push_str(value);
        ops.keys_edn(i, edn);
        if let Some(e) = h.error {
            edn.push_str(", :error ");
            push_error(edn, e, true);
        }
        edn.push_str("}\n");
    }
}

/// `history.txt` alone.
pub fn txt(ops: &dyn Ops) -> String {
    txt_and_edn(ops, &[], 0).0
}

/// `history.edn` alone.
pub fn edn(ops: &dyn Ops) -> String {
    txt_and_edn(ops, &[], 0).1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edn::{Edn, read_all};
    use crate::sim::history::{History, Op};
    use crate::sim::workloads::broadcast::BValue;

    fn sample() -> History<BValue> {
        let mut h = History::default();
        let op = |kind, value, error: Option<&str>| Op {
            index: 0,
            time: 1_000,
            process: 3,
            kind,
            f: "read",
            value,
            error: error.map(str::to_owned),
            is_final: false,
        };
        h.push(op(OpType::Invoke, BValue::Read(None), None));
        h.push(op(OpType::Ok, BValue::Read(Some(vec![1, 2])), None));
        h.push(op(OpType::Invoke, BValue::Read(None), None));
        let mut last = op(OpType::Fail, BValue::Read(None), Some("net-timeout"));
        last.is_final = true;
        h.push(last);
        let mut info = op(OpType::Invoke, BValue::Read(None), None);
        info.process = 4;
        h.push(info.clone());
        info.kind = OpType::Info;
        info.error = Some("temporarily-unavailable: not yet\nready".into());
        h.push(info);
        h
    }

    #[test]
    fn txt_is_jepsens_condensed_form() {
        assert_eq!(
            txt(&sample()),
            "3\t:invoke\t:read\tnil\n3\t:ok\t:read\t[1 2]\n3\t:invoke\t:read\tnil\n\
             3\t:fail\t:read\tnil\t:net-timeout\n4\t:invoke\t:read\tnil\n\
             4\t:info\t:read\tnil\t[:temporarily-unavailable not yet ready]\n"
        );
    }

    #[test]
    fn edn_lines_are_op_maps_as_jepsen_prints_them() {
        let text = edn(&sample());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "{:index 0, :time 1000, :type :invoke, :process 3, :f :read, :value nil}"
        );
        // The generator's keys come before the error, which is as with-errors writes it.
        assert_eq!(
            lines[3],
            "{:index 3, :time 1000, :type :fail, :process 3, :f :read, :value nil, \
             :final? true, :error :net-timeout}"
        );
        assert!(lines[5].ends_with(":error [:temporarily-unavailable \"not yet\\nready\"]}"));
        let ops = read_all(&text).unwrap();
        assert_eq!(ops.len(), 6);
        assert_eq!(ops[1].get("value"), Some(&Edn::Vector(vec![Edn::Int(1), Edn::Int(2)])));
        assert_eq!(ops[3].get("error"), Some(&Edn::Keyword("net-timeout")));
        assert_eq!(ops[3].get("final?"), Some(&Edn::Bool(true)));
    }

    #[test]
    fn maelstroms_history_edn_reads_too() {
        // Jepsen prints an op record as a map in field order, extra keys after, and nemesis
        // operations with a keyword process.
        let text = "{:index 0, :time 31866875, :type :invoke, :process 0, :f :broadcast, :value 0}\n\
                    {:index 1, :time 31922791, :type :ok, :process 0, :f :broadcast, :value 0}\n\
                    {:index 2, :time 41922791, :type :info, :process :nemesis, :f :start-partition, \
                    :value [:isolated {\"n1\" #{\"n2\"}}]}\n\
                    {:index 3, :time 51922791, :type :fail, :process 1, :f :read, :value nil, \
                    :error [:net-timeout \"no reply\"], :final? true}\n";
        let ops = read_all(text).unwrap();
        assert_eq!(ops.len(), 4);
        assert_eq!(ops[2].get("process"), Some(&Edn::Keyword("nemesis")));
        assert_eq!(ops[3].get("final?"), Some(&Edn::Bool(true)));
        assert!(matches!(ops[3].get("error"), Some(Edn::Vector(v)) if v.len() == 2));
    }

    #[test]
    fn nemesis_entries_are_merged_in_and_numbered_with_the_client_ones() {
        use crate::sim::nemesis::{NemesisOp, NemesisValue, Shape};
        let g = vec![("n0".to_owned(), vec!["n1".to_owned()]), ("n1".to_owned(), vec![])];
        let nem =
            |before, invocation, f, value| NemesisOp { before, time: 7, invocation, f, value };
        let nemesis = [
            nem(0, true, "start-partition", NemesisValue::Spec(Shape::MinorityThird)),
            nem(0, false, "start-partition", NemesisValue::Isolated(g)),
            nem(2, true, "stop-partition", NemesisValue::Nil),
            nem(2, false, "stop-partition", NemesisValue::Healed),
            nem(6, true, "stop-partition", NemesisValue::Nil),
            nem(6, false, "stop-partition", NemesisValue::Healed),
        ];
        let (txt, edn) = txt_and_edn(&sample(), &nemesis, 0);
        let lines: Vec<&str> = edn.lines().collect();
        assert_eq!(lines.len(), 12);
        assert_eq!(
            lines[0],
            "{:index 0, :time 7, :type :info, :process :nemesis, :f :start-partition, \
             :value :minority-third}"
        );
        assert_eq!(
            lines[1],
            "{:index 1, :time 7, :type :info, :process :nemesis, :f :start-partition, \
             :value [:isolated {\"n0\" #{\"n1\"}, \"n1\" #{}}]}"
        );
        assert!(lines[2].starts_with("{:index 2, :time 1000, :type :invoke, :process 3,"));
        assert!(lines[5].ends_with(":f :stop-partition, :value :network-healed}"));
        assert!(lines[11].starts_with("{:index 11, :time 7, :type :info, :process :nemesis,"));
        for (i, op) in read_all(&edn).unwrap().iter().enumerate() {
            assert_eq!(op.get("index"), Some(&Edn::Int(i as i64)));
        }
        assert_eq!(txt.lines().nth(4), Some(":nemesis\t:info\t:stop-partition\tnil"));
        let json = String::from_utf8(jsonl(&sample(), &nemesis)).unwrap();
        let json: Vec<&str> = json.lines().collect();
        assert_eq!(
            json[1],
            "{\"index\":1,\"time\":7,\"process\":\"nemesis\",\"type\":\"info\",\
             \"f\":\"start-partition\",\"value\":[\"isolated\",{\"n0\":[\"n1\"],\"n1\":[]}]}"
        );
        assert!(json[2].starts_with("{\"index\":2,"), "{}", json[2]);
        assert!(json[11].contains("\"value\":\"network-healed\""));
    }

    #[test]
    fn jsonl_has_a_line_per_entry() {
        let text = String::from_utf8(jsonl(&sample(), &[])).unwrap();
        assert_eq!(text.lines().count(), 6);
        assert!(text.lines().nth(1).unwrap().contains("\"value\":[1,2]"));
    }
}
