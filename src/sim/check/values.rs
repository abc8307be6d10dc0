//! Every bench workload's history values read from a stored operation ([`HistoryFormat`]),
//! and written back in Maelstrom's shape ([`maelstrom_edn`]).
//!
//! Maelstrom's shapes (Jepsen 0.3.7, `src/maelstrom/workload/*.clj`):
//!
//! | workload | `:f` | invocation `:value` | ok `:value` |
//! |---|---|---|---|
//! | echo | `:echo` | `"Please echo 5"` | the reply body, `{:type "echo_ok", :echo "Please echo 5", ...}` |
//! | unique-ids | `:generate` | `nil` | the id, any JSON value |
//! | broadcast | `:broadcast`, `:read` | `3`, `nil` | `3`, `[0 1 3]` (final reads `:final? true`) |
//! | g-counter, pn-counter | `:add`, `:read` | `2` (`-3`), `nil` | `2`, `17` (final reads `:final? true`) |
//! | g-set | `:add`, `:read` | `3`, `nil` | `3`, `[0 1 3]` |
//! | kafka | `:send`, `:poll`, `:assign`, `:crash` | `[[:send "3" 7]]`, `[[:poll]]`, `["3" "4"]` (`:seek-to-beginning? true` on the final ones), `nil` | `[[:send "3" [12 7]]]`, `[[:poll {"3" [[11 6] [12 7]]}]]` |
//! | txn-rw-register | `:txn` | `[[:r 1 nil] [:w 2 3]]` | `[[:r 1 4] [:w 2 3]]` |
//! | txn-list-append | `:txn` | `[[:r 1 nil] [:append 2 3]]` | `[[:r 1 [1 2]] [:append 2 3]]` |
//! | lin-kv | `:read`, `:write`, `:cas` | `[0 nil]`, `[0 3]`, `[0 [3 4]]` | `[0 4]`, `[0 3]`, `[0 [3 4]]` |
//!
//! lin-kv also reads a plain Jepsen register history as Knossos reads it: `:value` `nil` (or
//! anything) for a read's invocation and the value read on its `:ok`, the value for a write,
//! `[from to]` for a CAS; it is one register, key 0.
//!
//! A failed or indeterminate completion carries its invocation's value. Keys in nested maps
//! stay strings (Maelstrom keywordizes only a reply's top level). Values that came from JSON
//! and are neither integers nor `nil` keep their JSON text ([`Jv::Other`], [`PVal::Other`]).
//!
//! Our own `history.jsonl` writes the same values in JSON: keywords as strings, non-integer
//! values as strings holding their JSON text, a kafka micro-op without its enclosing vector
//! and an assign as `{"keys": [...], "seek_to_beginning": b}`, an echo reply as the string
//! echoed, a unique id as `{"json": ..., "kind": ...}`. [`RawOp::json`] says which one a value
//! came from. A kafka micro-op or assign in the other shape is accepted from either file (the
//! shapes cannot be confused).

use std::fmt::Write as _;

use super::RawOp;
use crate::edn::{Edn, edn_string};
use crate::sim::history::{History, Op, OpType};
use crate::sim::workloads::ClientWorkload;
use crate::sim::workloads::broadcast::{BValue, BroadcastClient};
use crate::sim::workloads::echo::{EchoClient, EchoValue};
use crate::sim::workloads::g_set::{GSetClient, GValue};
use crate::sim::workloads::kafka::{KValue, KafkaClient, PVal, Polled};
use crate::sim::workloads::lin_kv::{KvValue, LinKvClient};
use crate::sim::workloads::list_append::{LaMop, LaTxn, ListAppendClient};
use crate::sim::workloads::pn_counter::{CValue, CounterClient};
use crate::sim::workloads::txn::{Jv, Mop, TxnClient, TxnOps};
use crate::sim::workloads::unique_ids::{IdValue, UniqueIdsClient};

/// A bench workload whose history can be read from a stored history and written in
/// Maelstrom's `history.edn` shape.
pub trait HistoryFormat: ClientWorkload {
    /// The workload's operations (`:f`), as the bench names them.
    const FS: &'static [&'static str];

    /// The value of a client operation whose `:f` is `f` (one of [`HistoryFormat::FS`]).
    /// The error says what shape was expected.
    fn read_value(&self, op: &RawOp<'_, '_>, f: &'static str) -> Result<Self::Value, String>;

    /// Appends `op`'s `:value` as Maelstrom writes it, then any other keys it carries (each
    /// as `, :key value`).
    fn write_value(&self, op: &Op<Self::Value>, out: &mut String);

    /// The element an operation adds, for set workloads, whose checker indexes elements
    /// densely (the reader bounds them).
    fn element(&self, value: &Self::Value) -> Option<u64> {
        let _ = value;
        None
    }

    /// For workloads whose histories come in more than one shape (lin-kv: Maelstrom's
    /// `[key value]` tuples, or a single register's values), the shape of this operation's
    /// value; every operation of a history must have the shape of its first.
    fn shape(&self, op: &RawOp<'_, '_>, f: &'static str) -> Option<&'static str> {
        let _ = (op, f);
        None
    }

    /// Whether a history of this shape is Maelstrom's (judged as Maelstrom judges it,
    /// Jepsen's stats check included) rather than a plain Jepsen history.
    fn maelstrom_shape(&self, shape: &'static str) -> bool {
        let _ = shape;
        true
    }
}

/// A history as Maelstrom's `history.edn`: one op map per line, keys in the order of Jepsen's
/// op record.
pub fn maelstrom_edn<W: HistoryFormat>(workload: &W, history: &History<W::Value>) -> String {
    let mut s = String::with_capacity(history.ops.len() * 96);
    for op in &history.ops {
        let kind = match op.kind {
            OpType::Invoke => "invoke",
            OpType::Ok => "ok",
            OpType::Fail => "fail",
            OpType::Info => "info",
        };
        let _ = write!(
            s,
            "{{:index {}, :time {}, :type :{kind}, :process {}, :f :{}, :value ",
            op.index, op.time, op.process, op.f
        );
        workload.write_value(op, &mut s);
        if let Some(e) = &op.error {
            s.push_str(", :error ");
            let _ = edn_string(&mut s, e);
        }
        if op.is_final {
            s.push_str(", :final? true");
        }
        s.push_str("}\n");
    }
    s
}

/// "expected X, found V".
fn expected(what: &str, v: &Edn<'_>) -> String {
    format!("expected {what}, found {}", v.brief(120))
}

fn nil(v: &Edn<'_>) -> Result<(), String> {
    if v.is_nil() { Ok(()) } else { Err(expected("nil", v)) }
}

fn int(v: &Edn<'_>) -> Result<i64, String> {
    v.as_int().ok_or_else(|| expected("an integer", v))
}

fn uint(v: &Edn<'_>) -> Result<u64, String> {
    v.as_int().and_then(|i| u64::try_from(i).ok()).ok_or_else(|| expected("an integer >= 0", v))
}

/// The elements of a vector or list.
fn seq<'v, 'a>(v: &'v Edn<'a>, what: &str) -> Result<&'v [Edn<'a>], String> {
    v.as_seq().ok_or_else(|| expected(what, v))
}

/// The JSON text of a value that came from JSON.
fn json_text(v: &Edn<'_>) -> Result<String, String> {
    let mut s = String::new();
    if v.write_json(&mut s) { Ok(s) } else { Err(expected("a JSON value", v)) }
}

/// A register value or key: `nil`, an integer, or anything else as its JSON text (in our
/// JSON history, that text is the string itself).
fn jv(v: &Edn<'_>, json: bool) -> Result<Jv, String> {
    Ok(match v {
        Edn::Nil => Jv::Null,
        Edn::Int(i) => Jv::Int(*i),
        Edn::Str(s) if json => Jv::Other(s.to_string()),
        _ => Jv::Other(json_text(v)?),
    })
}

/// Appends JSON text as EDN (strings stay strings, objects become maps with string keys).
fn json_as_edn(out: &mut String, text: &str) {
    let mut bytes = text.as_bytes().to_vec();
    match simd_json::to_tape(&mut bytes)
        .ok()
        .and_then(|t| crate::proto::Val::new(&t.0).map(|v| val_edn(out, v)))
    {
        Some(()) => {}
        None => {
            let _ = edn_string(out, text);
        }
    }
}

fn val_edn(out: &mut String, v: crate::proto::Val<'_, '_>) {
    use crate::proto::Kind;
    match v.kind() {
        Kind::Null => out.push_str("nil"),
        Kind::Bool => out.push_str(if v.as_bool() == Some(true) { "true" } else { "false" }),
        Kind::Str => {
            let _ = edn_string(out, v.as_str().unwrap_or_default());
        }
        Kind::Array => {
            out.push('[');
            for (i, e) in v.as_array().into_iter().flat_map(|a| a.iter()).enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                val_edn(out, e);
            }
            out.push(']');
        }
        Kind::Object => {
            out.push('{');
            for (i, (k, e)) in v.as_object().into_iter().flat_map(|o| o.iter()).enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = edn_string(out, k);
                out.push(' ');
                val_edn(out, e);
            }
            out.push('}');
        }
        Kind::Int | Kind::Float => {
            let mut b = Vec::new();
            crate::proto::encode::write_val(&mut b, v);
            out.push_str(&String::from_utf8_lossy(&b));
        }
    }
}

fn write_jv(out: &mut String, v: &Jv) {
    match v {
        Jv::Null => out.push_str("nil"),
        Jv::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Jv::Other(text) => json_as_edn(out, text),
    }
}

fn write_ints(out: &mut String, vals: impl IntoIterator<Item = impl std::fmt::Display>) {
    out.push('[');
    for (i, v) in vals.into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{v}");
    }
    out.push(']');
}

/// A set read: the non-negative integers of a vector, list or set (nothing else can match an
/// added element; the bench's clients keep the same).
fn set_read(v: &Edn<'_>) -> Result<Vec<u64>, String> {
    match v {
        Edn::Vector(items) | Edn::List(items) | Edn::Set(items) => Ok(items
            .iter()
            .filter_map(|e| e.as_int().and_then(|i| u64::try_from(i).ok()))
            .collect()),
        _ => Err(expected("the elements read (a vector)", v)),
    }
}

impl HistoryFormat for EchoClient {
    const FS: &'static [&'static str] = &["echo"];

    fn read_value(&self, op: &RawOp<'_, '_>, _: &'static str) -> Result<EchoValue, String> {
        match (op.kind, op.value) {
            // Maelstrom keeps the whole reply body; our JSON history the string echoed.
            (OpType::Ok, Edn::Map(_)) => {
                Ok(EchoValue::Echoed(op.value.get("echo").and_then(Edn::as_str).map(str::to_owned)))
            }
            (OpType::Ok, Edn::Str(s)) => Ok(EchoValue::Echoed(Some(s.to_string()))),
            (OpType::Ok, Edn::Nil) => Ok(EchoValue::Echoed(None)),
            (OpType::Ok, v) => Err(expected("the echo_ok body (a map)", v)),
            (_, Edn::Str(s)) => Ok(EchoValue::Sent(s.to_string())),
            (_, v) => Err(expected("the string sent", v)),
        }
    }

    fn write_value(&self, op: &Op<EchoValue>, out: &mut String) {
        match &op.value {
            EchoValue::Sent(s) => {
                let _ = edn_string(out, s);
            }
            EchoValue::Echoed(e) => {
                out.push_str("{:type \"echo_ok\", :echo ");
                match e {
                    Some(s) => {
                        let _ = edn_string(out, s);
                    }
                    None => out.push_str("nil"),
                }
                out.push('}');
            }
        }
    }
}

impl HistoryFormat for UniqueIdsClient {
    const FS: &'static [&'static str] = &["generate"];

    fn read_value(&self, op: &RawOp<'_, '_>, _: &'static str) -> Result<Option<IdValue>, String> {
        let v = op.value;
        if op.kind != OpType::Ok {
            return nil(v).map(|()| None);
        }
        // Ours: {"json": text, "kind": name} in history.jsonl, {:json text, :kind name} in
        // the bench's history.edn (a Maelstrom id that is an object has string keys).
        let ours = matches!(v, Edn::Map(m) if m.len() == 2
            && m.iter().all(|(k, _)| matches!(k, Edn::Keyword("json" | "kind"))));
        if op.json || ours {
            let (Some(json), Some(kind)) = (v.get("json").and_then(Edn::as_str), v.get("kind"))
            else {
                return Err(expected("{\"json\": ..., \"kind\": ...}", v));
            };
            let kind = ID_KINDS
                .iter()
                .find(|k| kind.as_str() == Some(**k))
                .ok_or_else(|| expected("an id kind", kind))?;
            return Ok(Some(IdValue { json: json.to_owned(), kind }));
        }
        let kind = match v {
            Edn::Nil => "null",
            Edn::Bool(_) => "bool",
            Edn::Int(_) => "int",
            Edn::Float(_) => "float",
            Edn::Str(_) => "string",
            Edn::Vector(_) | Edn::List(_) => "array",
            Edn::Map(_) => "object",
            // A JSON integer beyond 64 bits, as Clojure prints it.
            Edn::Number(n) => {
                let digits = n.strip_suffix('N').unwrap_or(n);
                let body = digits.strip_prefix('-').unwrap_or(digits);
                if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
                    return Ok(Some(IdValue { json: digits.to_owned(), kind: "int" }));
                }
                return Err(expected("an id (a JSON value)", v));
            }
            _ => return Err(expected("an id (a JSON value)", v)),
        };
        Ok(Some(IdValue { json: json_text(v)?, kind }))
    }

    fn write_value(&self, op: &Op<Option<IdValue>>, out: &mut String) {
        match &op.value {
            None => out.push_str("nil"),
            Some(id) => json_as_edn(out, &id.json),
        }
    }
}

/// The JSON kinds an id can have (`IdValue::kind`).
const ID_KINDS: &[&str] = &["int", "float", "string", "null", "bool", "array", "object"];

impl HistoryFormat for BroadcastClient {
    const FS: &'static [&'static str] = &["broadcast", "read"];

    fn read_value(&self, op: &RawOp<'_, '_>, f: &'static str) -> Result<BValue, String> {
        match (f, op.kind) {
            ("broadcast", _) => Ok(BValue::Broadcast(uint(op.value)?)),
            (_, OpType::Ok) => Ok(BValue::Read(Some(set_read(op.value)?))),
            _ => nil(op.value).map(|()| BValue::Read(None)),
        }
    }

    fn write_value(&self, op: &Op<BValue>, out: &mut String) {
        match &op.value {
            BValue::Broadcast(x) => {
                let _ = write!(out, "{x}");
            }
            BValue::Read(None) => out.push_str("nil"),
            BValue::Read(Some(v)) => write_ints(out, v),
        }
    }

    fn element(&self, value: &BValue) -> Option<u64> {
        match value {
            BValue::Broadcast(x) => Some(*x),
            BValue::Read(_) => None,
        }
    }
}

impl HistoryFormat for GSetClient {
    const FS: &'static [&'static str] = &["add", "read"];

    fn read_value(&self, op: &RawOp<'_, '_>, f: &'static str) -> Result<GValue, String> {
        match (f, op.kind) {
            ("add", _) => Ok(GValue::Add(uint(op.value)?)),
            (_, OpType::Ok) => Ok(GValue::Read(Some(set_read(op.value)?))),
            _ => nil(op.value).map(|()| GValue::Read(None)),
        }
    }

    fn write_value(&self, op: &Op<GValue>, out: &mut String) {
        match &op.value {
            GValue::Add(x) => {
                let _ = write!(out, "{x}");
            }
            GValue::Read(None) => out.push_str("nil"),
            GValue::Read(Some(v)) => write_ints(out, v),
        }
    }

    fn element(&self, value: &GValue) -> Option<u64> {
        match value {
            GValue::Add(x) => Some(*x),
            GValue::Read(_) => None,
        }
    }
}

impl<const GROW_ONLY: bool> HistoryFormat for CounterClient<GROW_ONLY> {
    const FS: &'static [&'static str] = &["add", "read"];

    fn read_value(&self, op: &RawOp<'_, '_>, f: &'static str) -> Result<CValue, String> {
        match (f, op.kind) {
            ("add", _) => {
                let d = int(op.value)?;
                if GROW_ONLY && d < 0 {
                    return Err(format!("a g-counter never adds a negative delta ({d})"));
                }
                Ok(CValue::Add(d))
            }
            (_, OpType::Ok) => Ok(CValue::Read(Some(int(op.value)?))),
            _ => nil(op.value).map(|()| CValue::Read(None)),
        }
    }

    fn write_value(&self, op: &Op<CValue>, out: &mut String) {
        match op.value {
            CValue::Add(d) | CValue::Read(Some(d)) => {
                let _ = write!(out, "{d}");
            }
            CValue::Read(None) => out.push_str("nil"),
        }
    }
}

/// A kafka key: a canonical integer string (`"12"`), as Maelstrom's keys are.
fn kafka_key(v: &Edn<'_>) -> Result<u64, String> {
    v.as_str()
        .and_then(|s| s.parse::<u64>().ok().filter(|k| k.to_string() == s))
        .ok_or_else(|| expected("a key (an integer as a string, e.g. \"3\")", v))
}

/// A kafka operation's one micro-op: `[[:send ...]]` as Maelstrom writes it, or `[:send ...]`
/// as our JSON history does.
fn kafka_mop<'v, 'a>(v: &'v Edn<'a>, name: &str) -> Result<&'v [Edn<'a>], String> {
    let shape = || expected(&format!("[[:{name} ...]] (one micro-op)"), v);
    let items = v.as_seq().ok_or_else(shape)?;
    let mop = match items {
        [inner] if inner.as_seq().is_some() => inner.as_seq().expect("checked"),
        _ => items,
    };
    if mop.first().and_then(Edn::as_name) != Some(name) {
        return Err(shape());
    }
    Ok(mop)
}

/// A polled message: an integer, or any other value's JSON text.
fn kafka_msg(v: &Edn<'_>, json: bool) -> Result<PVal, String> {
    Ok(match v {
        Edn::Int(i) => PVal::Int(*i),
        Edn::Str(s) if json => PVal::Other(s.to_string()),
        _ => PVal::Other(json_text(v)?),
    })
}

fn kafka_polled(msgs: &Edn<'_>, json: bool) -> Result<Polled, String> {
    let Edn::Map(keys) = msgs else {
        return Err(expected("a map of keys to [offset msg] pairs", msgs));
    };
    let mut p = Polled::default();
    for (k, pairs) in keys {
        let Ok(key) = kafka_key(k) else {
            // Nobody sends to a key that is not an integer string; the checker lists it.
            match k.as_str() {
                Some(name) => p.foreign.push(name.to_owned()),
                None => return Err(expected("a key (a string)", k)),
            }
            continue;
        };
        let mut out = Vec::new();
        for pair in seq(pairs, "a vector of [offset msg] pairs")? {
            match pair.as_seq() {
                Some([o, m]) => out.push((int(o)?, kafka_msg(m, json)?)),
                _ => return Err(expected("an [offset msg] pair", pair)),
            }
        }
        p.msgs.push((key, out));
    }
    Ok(p)
}

impl HistoryFormat for KafkaClient {
    const FS: &'static [&'static str] = &["send", "poll", "assign", "crash"];

    fn read_value(&self, op: &RawOp<'_, '_>, f: &'static str) -> Result<KValue, String> {
        let v = op.value;
        match f {
            "send" => {
                let mop = kafka_mop(v, "send")?;
                let [_, k, m] = mop else { return Err(expected("[:send key msg]", v)) };
                let key = kafka_key(k)?;
                match (op.kind, m) {
                    (OpType::Ok, m) => match m.as_seq() {
                        Some([o, m]) => {
                            Ok(KValue::Send { key, msg: uint(m)?, offset: Some(int(o)?) })
                        }
                        _ => Err(expected("an acknowledged send's [offset msg]", m)),
                    },
                    (_, m) => Ok(KValue::Send { key, msg: uint(m)?, offset: None }),
                }
            }
            "poll" => {
                let mop = kafka_mop(v, "poll")?;
                match (op.kind, mop) {
                    (OpType::Ok, [_, msgs]) => {
                        Ok(KValue::Poll(Some(Box::new(kafka_polled(msgs, op.json)?))))
                    }
                    (OpType::Ok, _) => Err(expected("[[:poll {key [[offset msg] ...]}]]", v)),
                    (_, [_]) => Ok(KValue::Poll(None)),
                    _ => Err(expected("[[:poll]]", v)),
                }
            }
            "assign" => {
                // Maelstrom: the keys, and `:seek-to-beginning? true` beside them; ours: a map.
                let (keys, seek) = match v {
                    Edn::Map(_) => (
                        v.get("keys").ok_or_else(|| expected("{\"keys\" [...]}", v))?,
                        v.get("seek_to_beginning").or_else(|| v.get("seek-to-beginning?")),
                    ),
                    _ => (v, op.get("seek-to-beginning?")),
                };
                let keys = seq(keys, "the keys assigned")?
                    .iter()
                    .map(kafka_key)
                    .collect::<Result<_, _>>()?;
                let seek = match seek {
                    None | Some(Edn::Nil | Edn::Bool(false)) => false,
                    Some(Edn::Bool(true)) => true,
                    Some(other) => {
                        return Err(expected(":seek-to-beginning? true or false", other));
                    }
                };
                Ok(KValue::Assign { keys, seek })
            }
            _ => nil(v).map(|()| KValue::Crash),
        }
    }

    fn write_value(&self, op: &Op<KValue>, out: &mut String) {
        match &op.value {
            KValue::Send { key, msg, offset: None } => {
                let _ = write!(out, "[[:send \"{key}\" {msg}]]");
            }
            KValue::Send { key, msg, offset: Some(o) } => {
                let _ = write!(out, "[[:send \"{key}\" [{o} {msg}]]]");
            }
            KValue::Poll(None) => out.push_str("[[:poll]]"),
            KValue::Poll(Some(p)) => {
                out.push_str("[[:poll {");
                let mut first = true;
                for (k, pairs) in &p.msgs {
                    if !std::mem::take(&mut first) {
                        out.push_str(", ");
                    }
                    let _ = write!(out, "\"{k}\" [");
                    for (i, (o, m)) in pairs.iter().enumerate() {
                        if i > 0 {
                            out.push(' ');
                        }
                        let _ = write!(out, "[{o} ");
                        match m {
                            PVal::Int(i) => {
                                let _ = write!(out, "{i}");
                            }
                            PVal::Other(text) => json_as_edn(out, text),
                        }
                        out.push(']');
                    }
                    out.push(']');
                }
                for k in &p.foreign {
                    if !std::mem::take(&mut first) {
                        out.push_str(", ");
                    }
                    let _ = edn_string(out, k);
                    out.push_str(" []");
                }
                out.push_str("}]]");
            }
            KValue::Assign { keys, seek } => {
                out.push('[');
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    let _ = write!(out, "\"{k}\"");
                }
                out.push(']');
                if *seek {
                    out.push_str(", :seek-to-beginning? true");
                }
            }
            KValue::Crash => out.push_str("nil"),
        }
    }
}

/// A transaction's micro-ops: `[[f k v] ...]`.
fn mops<'v, 'a>(
    v: &'v Edn<'a>,
) -> Result<impl Iterator<Item = Result<(&'v str, &'v [Edn<'a>]), String>>, String> {
    Ok(seq(v, "a transaction (a vector of micro-ops)")?.iter().map(|m| match m.as_seq() {
        Some(items @ [f, _, _]) => {
            f.as_name().map(|f| (f, items)).ok_or_else(|| expected("a micro-op [f k v]", m))
        }
        _ => Err(expected("a micro-op [f k v]", m)),
    }))
}

impl HistoryFormat for TxnClient {
    const FS: &'static [&'static str] = &["txn"];

    fn read_value(&self, op: &RawOp<'_, '_>, _: &'static str) -> Result<TxnOps, String> {
        let mut out = Vec::new();
        for m in mops(op.value)? {
            let (f, items) = m?;
            let write = match f {
                "r" => false,
                "w" => true,
                _ => return Err(format!("unknown micro-op :{f} (txn-rw-register has :r and :w)")),
            };
            out.push(Mop { write, k: jv(&items[1], op.json)?, v: jv(&items[2], op.json)? });
        }
        Ok(TxnOps(out))
    }

    fn write_value(&self, op: &Op<TxnOps>, out: &mut String) {
        out.push('[');
        for (i, m) in op.value.0.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(if m.write { "[:w " } else { "[:r " });
            write_jv(out, &m.k);
            out.push(' ');
            write_jv(out, &m.v);
            out.push(']');
        }
        out.push(']');
    }
}

impl HistoryFormat for ListAppendClient {
    const FS: &'static [&'static str] = &["txn"];

    fn read_value(&self, op: &RawOp<'_, '_>, _: &'static str) -> Result<LaTxn, String> {
        let mut out = Vec::new();
        for m in mops(op.value)? {
            let (f, items) = m?;
            let k = jv(&items[1], op.json)?;
            out.push(match f {
                "append" => LaMop::Append(k, jv(&items[2], op.json)?),
                "r" => match &items[2] {
                    Edn::Nil => LaMop::R(k, None),
                    list => LaMop::R(
                        k,
                        Some(
                            seq(list, "the list read")?
                                .iter()
                                .map(|e| jv(e, op.json))
                                .collect::<Result<_, _>>()?,
                        ),
                    ),
                },
                _ => {
                    return Err(format!(
                        "unknown micro-op :{f} (txn-list-append has :r and :append)"
                    ));
                }
            });
        }
        Ok(LaTxn(out))
    }

    fn write_value(&self, op: &Op<LaTxn>, out: &mut String) {
        out.push('[');
        for (i, m) in op.value.0.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            match m {
                LaMop::Append(k, v) => {
                    out.push_str("[:append ");
                    write_jv(out, k);
                    out.push(' ');
                    write_jv(out, v);
                }
                LaMop::R(k, v) => {
                    out.push_str("[:r ");
                    write_jv(out, k);
                    out.push(' ');
                    match v {
                        None => out.push_str("nil"),
                        Some(list) => {
                            out.push('[');
                            for (j, e) in list.iter().enumerate() {
                                if j > 0 {
                                    out.push(' ');
                                }
                                write_jv(out, e);
                            }
                            out.push(']');
                        }
                    }
                }
            }
            out.push(']');
        }
        out.push(']');
    }
}

/// The two shapes of lin-kv histories.
const TUPLES: &str = "independent [key value] tuples";
const REGISTER: &str = "one register's values";

/// Whether a lin-kv value is one of Maelstrom's independent tuples: `[k v]`, `[k [from to]]`.
fn kv_tuple(v: &Edn<'_>, f: &str) -> bool {
    match v.as_seq() {
        Some([Edn::Int(_), x]) => f != "cas" || x.as_seq().is_some(),
        _ => false,
    }
}

impl HistoryFormat for LinKvClient {
    const FS: &'static [&'static str] = &["read", "write", "cas"];

    fn read_value(&self, op: &RawOp<'_, '_>, f: &'static str) -> Result<KvValue, String> {
        let (key, v) = match op.value.as_seq() {
            Some([k, v]) if kv_tuple(op.value, f) => (uint(k)?, v),
            _ => (0, op.value),
        };
        match f {
            // A read's invocation value means nothing (Knossos's data sometimes have one).
            "read" if op.kind == OpType::Ok => Ok(KvValue::Read { key, value: jv(v, op.json)? }),
            "read" => Ok(KvValue::Read { key, value: Jv::Null }),
            "write" => Ok(KvValue::Write {
                key,
                value: int(v).map_err(|e| format!("{e} (lin-kv values are integers)"))?,
            }),
            _ => match v.as_seq() {
                Some([from, to]) => Ok(KvValue::Cas { key, from: int(from)?, to: int(to)? }),
                _ => Err(expected("[from to]", v)),
            },
        }
    }

    fn write_value(&self, op: &Op<KvValue>, out: &mut String) {
        match &op.value {
            KvValue::Read { key, value } => {
                let _ = write!(out, "[{key} ");
                write_jv(out, value);
                out.push(']');
            }
            KvValue::Write { key, value } => {
                let _ = write!(out, "[{key} {value}]");
            }
            KvValue::Cas { key, from, to } => {
                let _ = write!(out, "[{key} [{from} {to}]]");
            }
        }
    }

    fn shape(&self, op: &RawOp<'_, '_>, f: &'static str) -> Option<&'static str> {
        // A read's invocation says nothing (Maelstrom's is [k nil], Knossos's nil or anything).
        if f == "read" && op.kind != OpType::Ok && !kv_tuple(op.value, f) {
            return None;
        }
        Some(if kv_tuple(op.value, f) { TUPLES } else { REGISTER })
    }

    fn maelstrom_shape(&self, shape: &'static str) -> bool {
        shape == TUPLES
    }
}

/// `--initial-value`: `nil` (no value, as Maelstrom's keys start) or a register value.
pub fn initial_value(v: &Edn<'_>) -> Result<Option<Jv>, String> {
    match jv(v, false)? {
        Jv::Null => Ok(None),
        j => Ok(Some(j)),
    }
}
