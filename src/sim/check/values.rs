//! Maelstrom's shape of every bench workload's history: how each value reads from a stored
//! operation ([`HistoryFormat`]) and how it is written in `history.edn` ([`MaelstromValue`]:
//! the bench's own `history.edn` and `history.txt`, [`maelstrom_edn`]), with the other keys
//! Maelstrom's generators put on an operation and its `:error` ([`push_error`],
//! [`error_text`]).
//!
//! Maelstrom's shapes (Jepsen 0.3.7, `src/maelstrom/workload/*.clj`):
//!
//! | workload | `:f` | invocation `:value` | ok `:value` |
//! |---|---|---|---|
//! | echo | `:echo` | `"Please echo 5"` | the reply body, `{:type "echo_ok", :echo "Please echo 5", :msg_id 1, :in_reply_to 1}` |
//! | unique-ids | `:generate` | `nil` | the id, any JSON value |
//! | broadcast | `:broadcast`, `:read` | `3`, `nil` | `3`, `[0 1 3]` (final reads `:final? true`) |
//! | g-counter, pn-counter | `:add`, `:read` | `2` (`-3`), `nil` | `2`, `17` (final reads `:final? true`) |
//! | g-set | `:add`, `:read` | `3`, `nil` | `3`, `[0 1 3]` |
//! | kafka | `:send`, `:poll`, `:assign`, `:crash` | `[[:send "3" 7]]`, `[[:poll]]` (`:poll-ms 1000` on the final ones), `["3" "4"]` (`:seek-to-beginning? true` on the final ones), `nil` | `[[:send "3" [12 7]]]`, `[[:poll {"3" [[11 6] [12 7]]}]]` |
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
//! and are neither integers nor `nil` keep their JSON text ([`Jv::Other`], [`PVal::Other`])
//! and are written as the EDN Maelstrom parses that JSON into ([`crate::edn::push_json`]).
//!
//! Besides `:value`, an operation carries what its generator put on it (`:final? true` on the
//! final reads of broadcast and the counters, never on g-set's; kafka's final
//! `:seek-to-beginning? true` and `:poll-ms 1000`), then `:error` as `with-errors` writes it:
//! `:net-timeout`, `[:key-does-not-exist "text"]` (`:unknown` for codes Maelstrom does not
//! know), or Jepsen's `"indeterminate: ..."` text.
//!
//! Our own `history.jsonl` writes the same values in JSON: keywords as strings, non-integer
//! values as strings holding their JSON text, a kafka micro-op without its enclosing vector
//! and an assign as `{"keys": [...], "seek_to_beginning": b}`, an echo reply as the string
//! echoed, a unique id as `{"json": ..., "kind": ...}`. [`RawOp::json`] says which one a value
//! came from. A kafka micro-op or assign in the other shape is accepted from either file (the
//! shapes cannot be confused).

use super::RawOp;
use crate::edn::{Edn, push_i64, push_json, push_str, push_u64};
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

/// A history value written as Maelstrom writes it in `history.edn` (and Jepsen's condensed
/// `history.txt`): the bench's own history files are written through this, so that a script
/// or checker written for Maelstrom reads them unchanged.
pub trait MaelstromValue: Sized {
    /// Appends `op`'s `:value`. Writers of long values may stop once `out` is longer than
    /// `limit` (a view's cap on a value); the caller then cuts the text.
    fn write_value(op: &Op<Self>, out: &mut String, limit: usize);

    /// Appends the other keys Maelstrom's generator put on `op`, each as `, :key value`. By
    /// default `:final? true` on a final-phase operation (broadcast's and the counters'
    /// final reads; the other workloads with a final phase override it).
    fn write_keys(op: &Op<Self>, out: &mut String) {
        if op.is_final {
            out.push_str(", :final? true");
        }
    }
}

/// A history as Maelstrom's `history.edn`: one op map per line, keys in the order of Jepsen's
/// op record, then the generator's keys and `:error` (what the bench writes as its own
/// `history.edn`, [`crate::sim::views::history::edn`]).
pub fn maelstrom_edn<V>(history: &History<V>) -> String
where
    V: MaelstromValue + serde::Serialize + Send + Sync,
{
    crate::sim::views::history::edn(history)
}

/// Maelstrom's names of the error codes it knows (`:unknown` for any other).
fn error_name(name: &str) -> Option<&'static str> {
    use crate::proto::ErrorCode;
    if name == ErrorCode::Other(1000).name() {
        return Some("unknown");
    }
    [0, 1, 10, 11, 12, 13, 14, 20, 21, 22, 30]
        .into_iter()
        .map(|c| ErrorCode::from_code(c).name())
        .find(|n| *n == name)
}

/// Appends an operation's error as Maelstrom's `with-errors` writes it: `net-timeout` as the
/// keyword `:net-timeout`, an error reply (`key-does-not-exist: text`) as `[:name "text"]`
/// (`nil` for no text; `:unknown` for a code Maelstrom does not know), anything else
/// (`indeterminate: ...`) as a string. `readably` false prints as Clojure's `print` does
/// (`history.txt`): strings without their quotes.
pub fn push_error(out: &mut String, e: &str, readably: bool) {
    if e == "net-timeout" {
        out.push_str(":net-timeout");
        return;
    }
    if let Some((name, text)) = e.split_once(": ") {
        if let Some(name) = error_name(name) {
            out.push_str("[:");
            out.push_str(name);
            out.push(' ');
            match (text.is_empty(), readably) {
                (true, _) => out.push_str("nil"),
                (false, true) => push_str(out, text),
                (false, false) => out.push_str(text),
            }
            out.push(']');
            return;
        }
    }
    if readably { push_str(out, e) } else { out.push_str(e) }
}

/// An op's `:error` as the bench's text, the inverse of [`push_error`]: `:net-timeout` is
/// `net-timeout`, `[:key-does-not-exist "text"]` is `key-does-not-exist: text`.
pub fn error_text(e: &Edn<'_>) -> String {
    fn name(k: &str) -> &str {
        if k == "unknown" { crate::proto::ErrorCode::Other(1000).name() } else { k }
    }
    match e {
        Edn::Str(s) => s.to_string(),
        Edn::Keyword(k) => (*k).to_owned(),
        Edn::Vector(v) => match v.as_slice() {
            [Edn::Keyword(k), Edn::Str(t)] => format!("{}: {t}", name(k)),
            [Edn::Keyword(k), Edn::Nil] => format!("{}: ", name(k)),
            _ => e.brief(200),
        },
        _ => e.brief(200),
    }
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

fn write_jv(out: &mut String, v: &Jv) {
    match v {
        Jv::Null => out.push_str("nil"),
        Jv::Int(i) => push_i64(out, *i),
        Jv::Other(text) => push_json(out, text, false),
    }
}

/// `[a b c]`, each item written by `each`, stopping once `out` passes `limit`.
fn write_seq<T>(out: &mut String, items: &[T], limit: usize, each: impl Fn(&mut String, &T)) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            if out.len() > limit {
                return;
            }
            out.push(' ');
        }
        each(out, item);
    }
    out.push(']');
}

/// `[1 2 3]`, stopping once `out` passes `limit`.
fn write_ints(out: &mut String, vals: &[u64], limit: usize) {
    write_seq(out, vals, limit, |out, v| push_u64(out, *v));
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
                let echo = op.value.get("echo").and_then(Edn::as_str).map(str::to_owned);
                let mut body = String::new();
                let body = op.value.write_json(&mut body).then(|| body.into_boxed_str());
                Ok(EchoValue::Echoed { echo, body })
            }
            (OpType::Ok, Edn::Str(s)) => {
                Ok(EchoValue::Echoed { echo: Some(s.to_string()), body: None })
            }
            (OpType::Ok, Edn::Nil) => Ok(EchoValue::Echoed { echo: None, body: None }),
            (OpType::Ok, v) => Err(expected("the echo_ok body (a map)", v)),
            (_, Edn::Str(s)) => Ok(EchoValue::Sent(s.to_string())),
            (_, v) => Err(expected("the string sent", v)),
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

/// Appends `[a b]`: an offset and a message, a CAS's from and to.
fn push_pair(out: &mut String, a: i64, b: impl FnOnce(&mut String)) {
    out.push('[');
    push_i64(out, a);
    out.push(' ');
    b(out);
    out.push(']');
}

/// Appends `"3"`: a kafka key, an integer as a string.
fn push_key(out: &mut String, k: u64) {
    out.push('"');
    push_u64(out, k);
    out.push('"');
}

/// Maelstrom keeps the whole `echo_ok` body (its keys keywordized).
impl MaelstromValue for EchoValue {
    fn write_value(op: &Op<Self>, out: &mut String, _: usize) {
        match &op.value {
            EchoValue::Sent(s) => push_str(out, s),
            EchoValue::Echoed { body: Some(body), .. } => push_json(out, body, true),
            // Read back from history.jsonl, which keeps only the string.
            EchoValue::Echoed { echo, body: None } => {
                out.push_str("{:type \"echo_ok\", :echo ");
                match echo {
                    Some(s) => push_str(out, s),
                    None => out.push_str("nil"),
                }
                out.push('}');
            }
        }
    }
}

/// The id itself, whatever JSON it was.
impl MaelstromValue for Option<IdValue> {
    fn write_value(op: &Op<Self>, out: &mut String, _: usize) {
        match &op.value {
            None => out.push_str("nil"),
            Some(id) => push_json(out, &id.json, false),
        }
    }
}

/// A set workload's value: the element added, or the elements read (`nil` when invoked).
fn write_set_value(out: &mut String, value: Result<u64, &Option<Vec<u64>>>, limit: usize) {
    match value {
        Ok(x) => push_u64(out, x),
        Err(None) => out.push_str("nil"),
        Err(Some(v)) => write_ints(out, v, limit),
    }
}

impl MaelstromValue for BValue {
    fn write_value(op: &Op<Self>, out: &mut String, limit: usize) {
        let value = match &op.value {
            BValue::Broadcast(x) => Ok(*x),
            BValue::Read(read) => Err(read),
        };
        write_set_value(out, value, limit);
    }
}

/// g-set's final reads carry no `:final?` (Maelstrom's final generator is a plain read).
impl MaelstromValue for GValue {
    fn write_value(op: &Op<Self>, out: &mut String, limit: usize) {
        let value = match &op.value {
            GValue::Add(x) => Ok(*x),
            GValue::Read(read) => Err(read),
        };
        write_set_value(out, value, limit);
    }

    fn write_keys(_: &Op<Self>, _: &mut String) {}
}

impl MaelstromValue for CValue {
    fn write_value(op: &Op<Self>, out: &mut String, _: usize) {
        match op.value {
            CValue::Add(d) | CValue::Read(Some(d)) => push_i64(out, d),
            CValue::Read(None) => out.push_str("nil"),
        }
    }
}

/// One micro-op in its vector; an assign's keys. The final phase is Jepsen's `final-polls`:
/// a crash, an assign with `:seek-to-beginning? true`, then polls with `:poll-ms 1000`.
impl MaelstromValue for KValue {
    fn write_value(op: &Op<Self>, out: &mut String, limit: usize) {
        match &op.value {
            KValue::Send { key, msg, offset } => {
                out.push_str("[[:send ");
                push_key(out, *key);
                out.push(' ');
                match offset {
                    None => push_u64(out, *msg),
                    Some(o) => push_pair(out, *o, |out| push_u64(out, *msg)),
                }
                out.push_str("]]");
            }
            KValue::Poll(None) => out.push_str("[[:poll]]"),
            KValue::Poll(Some(p)) => {
                out.push_str("[[:poll {");
                let mut first = true;
                for (k, pairs) in &p.msgs {
                    if !std::mem::take(&mut first) {
                        out.push_str(", ");
                    }
                    push_key(out, *k);
                    out.push(' ');
                    write_seq(out, pairs, limit, |out, (o, m)| {
                        push_pair(out, *o, |out| match m {
                            PVal::Int(i) => push_i64(out, *i),
                            PVal::Other(text) => push_json(out, text, false),
                        })
                    });
                }
                for k in &p.foreign {
                    if !std::mem::take(&mut first) {
                        out.push_str(", ");
                    }
                    push_str(out, k);
                    out.push_str(" []");
                }
                out.push_str("}]]");
            }
            KValue::Assign { keys, .. } => write_seq(out, keys, limit, |out, k| push_key(out, *k)),
            KValue::Crash => out.push_str("nil"),
        }
    }

    fn write_keys(op: &Op<Self>, out: &mut String) {
        match op.value {
            KValue::Assign { seek: true, .. } => out.push_str(", :seek-to-beginning? true"),
            KValue::Poll(_) if op.is_final => out.push_str(", :poll-ms 1000"),
            _ => {}
        }
    }
}

impl MaelstromValue for TxnOps {
    fn write_value(op: &Op<Self>, out: &mut String, limit: usize) {
        write_seq(out, &op.value.0, limit, |out, m| {
            out.push_str(if m.write { "[:w " } else { "[:r " });
            write_jv(out, &m.k);
            out.push(' ');
            write_jv(out, &m.v);
            out.push(']');
        });
    }
}

impl MaelstromValue for LaTxn {
    fn write_value(op: &Op<Self>, out: &mut String, limit: usize) {
        write_seq(out, &op.value.0, limit, |out, m| {
            let (f, k) = match m {
                LaMop::Append(k, _) => ("[:append ", k),
                LaMop::R(k, _) => ("[:r ", k),
            };
            out.push_str(f);
            write_jv(out, k);
            out.push(' ');
            match m {
                LaMop::Append(_, v) => write_jv(out, v),
                LaMop::R(_, None) => out.push_str("nil"),
                LaMop::R(_, Some(list)) => write_seq(out, list, limit, write_jv),
            }
            out.push(']');
        });
    }
}

/// Jepsen's independent tuples: `[k v]`, `[k [from to]]`.
impl MaelstromValue for KvValue {
    fn write_value(op: &Op<Self>, out: &mut String, _: usize) {
        out.push('[');
        match &op.value {
            KvValue::Read { key, value } => {
                push_u64(out, *key);
                out.push(' ');
                write_jv(out, value);
            }
            KvValue::Write { key, value } => {
                push_u64(out, *key);
                out.push(' ');
                push_i64(out, *value);
            }
            KvValue::Cas { key, from, to } => {
                push_u64(out, *key);
                out.push(' ');
                push_pair(out, *from, |out| push_i64(out, *to));
            }
        }
        out.push(']');
    }
}

/// `--initial-value`: `nil` (no value, as Maelstrom's keys start) or a register value.
pub fn initial_value(v: &Edn<'_>) -> Result<Option<Jv>, String> {
    match jv(v, false)? {
        Jv::Null => Ok(None),
        j => Ok(Some(j)),
    }
}
