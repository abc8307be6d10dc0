//! Maelstrom's services, in-process: `lin-kv`, `seq-kv`, `lww-kv` and `lin-tso`.
//!
//! Values and keys are kept as compact JSON text, so equality is JSON equality with integers
//! and floats apart (`1` is not `1.0`), as with Clojure's `=` in Maelstrom. (Objects compare by
//! their key order here; Clojure would ignore it. Nodes never rely on that.) A request of an
//! unknown type gets no reply at all, as in Maelstrom, so the caller times out.

use std::rc::Rc;

use hashbrown::HashMap;

use crate::proto::encode::{Header, write_message, write_val};
use crate::proto::{ErrorCode, Msg, PADDING, Parser, Val};
use crate::rng::Rng;

/// Service node ids, in the order of [`super::net::Addr::Service`] indices.
pub const NAMES: [&str; 4] = ["lin-kv", "seq-kv", "lww-kv", "lin-tso"];

/// How many past states seq-kv keeps.
const SEQ_STATES: usize = 32;

type Json = Box<[u8]>;
type Map = HashMap<Json, Json>;

fn json(v: Option<Val<'_, '_>>) -> Json {
    let mut out = Vec::new();
    match v {
        Some(v) => write_val(&mut out, v),
        None => out.extend_from_slice(b"null"),
    }
    out.into_boxed_slice()
}

fn truthy(v: Option<Val<'_, '_>>) -> bool {
    v.is_some_and(|v| !v.is_null() && v.as_bool() != Some(false))
}

/// The result of one KV operation.
enum KvResult {
    /// Reply `read_ok {value}`.
    Value(Json),
    /// Reply `<type>_ok` with no fields.
    Ok,
    /// An error reply.
    Err(ErrorCode, String),
}

/// A parsed KV request.
enum KvOp {
    Read { key: Json },
    Write { key: Json, value: Json },
    Cas { key: Json, from: Json, to: Json, create: bool },
}

impl KvOp {
    fn parse(msg: &Msg<'_, '_>) -> Option<KvOp> {
        let key = json(msg.get("key"));
        match msg.kind {
            "read" => Some(KvOp::Read { key }),
            "write" => Some(KvOp::Write { key, value: json(msg.get("value")) }),
            "cas" => Some(KvOp::Cas {
                key,
                from: json(msg.get("from")),
                to: json(msg.get("to")),
                create: truthy(msg.get("create_if_not_exists")),
            }),
            _ => None,
        }
    }

    /// Applies the operation to `map` if it changes it (`apply`), and reports the result
    /// and whether the state changed.
    fn run(&self, map: &Map, allow_create: bool) -> (KvResult, Option<(Json, Json)>) {
        match self {
            KvOp::Read { key } => match map.get(key) {
                Some(v) => (KvResult::Value(v.clone()), None),
                None => {
                    (KvResult::Err(ErrorCode::KeyDoesNotExist, "key does not exist".into()), None)
                }
            },
            KvOp::Write { key, value } => {
                let change = map.get(key) != Some(value);
                (KvResult::Ok, change.then(|| (key.clone(), value.clone())))
            }
            KvOp::Cas { key, from, to, create } => match map.get(key) {
                Some(cur) if cur == from => {
                    (KvResult::Ok, (cur != to).then(|| (key.clone(), to.clone())))
                }
                Some(cur) => (
                    KvResult::Err(
                        ErrorCode::PreconditionFailed,
                        format!(
                            "current value {} is not {}",
                            String::from_utf8_lossy(cur),
                            String::from_utf8_lossy(from)
                        ),
                    ),
                    None,
                ),
                None if *create && allow_create => (KvResult::Ok, Some((key.clone(), to.clone()))),
                None => {
                    (KvResult::Err(ErrorCode::KeyDoesNotExist, "key does not exist".into()), None)
                }
            },
        }
    }
}

/// seq-kv's state: the last 32 states and where each requester last was.
struct SeqKv {
    /// Oldest first; never empty.
    states: std::collections::VecDeque<Rc<Map>>,
    last_index: u64,
    clients: HashMap<String, u64>,
}

/// All four services.
pub struct Services {
    lin: Map,
    seq: SeqKv,
    lww: [Map; 2],
    tso: u64,
    rng: Rng,
    parser: Parser,
    line: Vec<u8>,
}

impl Services {
    /// Fresh, empty services.
    pub fn new(rng: Rng) -> Services {
        let mut states = std::collections::VecDeque::new();
        states.push_back(Rc::new(Map::new()));
        Services {
            lin: Map::new(),
            seq: SeqKv { states, last_index: 0, clients: HashMap::new() },
            lww: [Map::new(), Map::new()],
            tso: 0,
            rng,
            parser: Parser::new(),
            line: Vec::new(),
        }
    }

    /// Handles one request line delivered to service `index` (of [`NAMES`]); appends the
    /// reply line, if any, to `out`.
    pub fn handle(&mut self, index: usize, request: &[u8], out: &mut Vec<u8>) {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        line.extend_from_slice(request);
        let len = line.len();
        line.resize(len + PADDING, b' ');
        let mut parser = std::mem::take(&mut self.parser);
        parser.parse(&mut line, len, |m| {
            // Malformed requests get no reply (Maelstrom's service thread throws).
            let Ok(msg) = m else { return };
            self.dispatch(index, &msg, out);
        });
        self.parser = parser;
        self.line = line;
    }

    fn dispatch(&mut self, index: usize, msg: &Msg<'_, '_>, out: &mut Vec<u8>) {
        let name = NAMES[index];
        if name == "lin-tso" {
            if msg.kind == "ts" {
                let ts = self.tso;
                self.tso += 1;
                reply(out, name, msg, "ts_ok", |b| {
                    b.u64("ts", ts);
                });
            }
            return;
        }
        let Some(op) = KvOp::parse(msg) else { return };
        let result = match name {
            "lin-kv" => {
                let (r, change) = op.run(&self.lin, true);
                if let Some((k, v)) = change {
                    self.lin.insert(k, v);
                }
                r
            }
            "seq-kv" => self.seq_kv(msg.src, &op),
            _ => {
                // lww-kv as Maelstrom runs it: two replicas that never merge; each request
                // lands on either one.
                let replica = &mut self.lww[self.rng.below(2) as usize];
                let (r, change) = op.run(replica, false);
                if let Some((k, v)) = change {
                    replica.insert(k, v);
                }
                r
            }
        };
        let ok_kind = match msg.kind {
            "read" => "read_ok",
            "write" => "write_ok",
            _ => "cas_ok",
        };
        match result {
            KvResult::Value(v) => reply(out, name, msg, ok_kind, |b| {
                b.key("value").extend_from_slice(&v);
            }),
            KvResult::Ok => reply(out, name, msg, ok_kind, |_| {}),
            KvResult::Err(code, text) => reply(out, name, msg, "error", |b| {
                b.u64("code", code.code()).str("text", &text);
            }),
        }
    }

    fn seq_kv(&mut self, src: &str, op: &KvOp) -> KvResult {
        let s = &mut self.seq;
        let ci = s.clients.get(src).copied().unwrap_or(0).min(s.last_index);
        let index = self.rng.range_inclusive(ci, s.last_index);
        let len = s.states.len() as i64;
        let back = (s.last_index - index) as i64;
        // Maelstrom indexes its ring modulo the current length, wrapping for far-behind
        // requesters.
        let pos = (len - 1 - back).rem_euclid(len) as usize;
        let (result, change) = op.run(&s.states[pos], true);
        if change.is_none() {
            s.clients.insert(src.to_owned(), index);
            return result;
        }
        let newest = s.states.back().expect("seq-kv always has a state");
        let (result, change) = op.run(newest, true);
        if let Some((k, v)) = change {
            let mut next = (**newest).clone();
            next.insert(k, v);
            if s.states.len() == SEQ_STATES {
                s.states.pop_front();
            }
            s.states.push_back(Rc::new(next));
            s.last_index += 1;
        }
        s.clients.insert(src.to_owned(), s.last_index);
        result
    }
}

fn reply(
    out: &mut Vec<u8>,
    name: &str,
    req: &Msg<'_, '_>,
    kind: &str,
    fields: impl FnOnce(&mut crate::proto::encode::ObjWriter<'_>),
) {
    // Maelstrom's service threads add `in_reply_to` to the body the service built (`type`,
    // then its fields), so it comes last.
    let h = Header { src: name, dest: req.src, kind, msg_id: None, in_reply_to: None };
    write_message(out, h, |b| {
        fields(b);
        match req.msg_id {
            Some(id) => b.u64("in_reply_to", id),
            None => b.null("in_reply_to"),
        };
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(s: &mut Services, svc: usize, src: &str, body: &str) -> String {
        let line = format!(r#"{{"src":"{src}","dest":"{}","body":{body}}}"#, NAMES[svc]);
        let mut out = Vec::new();
        s.handle(svc, line.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lin_kv_reads_writes_and_cas() {
        let mut s = Services::new(Rng::new(1));
        let r = call(&mut s, 0, "n1", r#"{"type":"read","msg_id":1,"key":"x"}"#);
        assert!(r.contains(r#""type":"error","code":20,"#), "{r}");
        // As Maelstrom's service threads add it: after the body the service built.
        assert!(r.ends_with(",\"in_reply_to\":1}}\n"), "{r}");
        let r = call(
            &mut s,
            0,
            "n1",
            r#"{"type":"cas","msg_id":2,"key":"x","from":1,"to":2,"create_if_not_exists":true}"#,
        );
        assert!(r.contains(r#""type":"cas_ok","in_reply_to":2}"#), "{r}");
        let r = call(&mut s, 0, "n1", r#"{"type":"cas","msg_id":3,"key":"x","from":1,"to":3}"#);
        assert!(r.contains(r#""code":22"#), "{r}");
        let r = call(&mut s, 0, "n1", r#"{"type":"cas","msg_id":4,"key":"x","from":2.0,"to":3}"#);
        assert!(r.contains(r#""code":22"#), "1 is not 1.0: {r}");
        call(&mut s, 0, "n1", r#"{"type":"write","msg_id":5,"key":"x","value":[1,{"a":2}]}"#);
        let r = call(&mut s, 0, "n2", r#"{"type":"read","msg_id":6,"key":"x"}"#);
        assert!(r.contains(r#""value":[1,{"a":2}]"#), "{r}");
        assert!(r.starts_with(r#"{"src":"lin-kv","dest":"n2""#), "{r}");
        assert_eq!(call(&mut s, 0, "n1", r#"{"type":"frob","msg_id":7}"#), "", "unknown: no reply");
    }

    #[test]
    fn lin_tso_counts_from_zero() {
        let mut s = Services::new(Rng::new(1));
        assert!(call(&mut s, 3, "n1", r#"{"type":"ts","msg_id":1}"#).contains(r#""ts":0"#));
        assert!(call(&mut s, 3, "n1", r#"{"type":"ts","msg_id":2}"#).contains(r#""ts":1"#));
    }

    #[test]
    fn seq_kv_reads_are_stale_but_monotonic_per_requester() {
        let mut stale_seeds = 0;
        for seed in 0..50 {
            let mut s = Services::new(Rng::new(seed));
            for v in 1..=20 {
                call(
                    &mut s,
                    1,
                    "n1",
                    &format!(r#"{{"type":"write","msg_id":{v},"key":"k","value":{v}}}"#),
                );
            }
            let mut last = 0;
            let mut stale = false;
            for i in 0..40 {
                let r =
                    call(&mut s, 1, "n2", &format!(r#"{{"type":"read","msg_id":{i},"key":"k"}}"#));
                let v = r
                    .split(r#""value":"#)
                    .nth(1)
                    .and_then(|t| t.split(',').next())
                    .map_or(0, |t| t.parse::<u64>().unwrap());
                assert!(v >= last, "seed {seed}: {v} after {last}");
                stale |= v < 20;
                last = v;
            }
            stale_seeds += usize::from(stale);
            // The writer itself always sees its own latest write.
            let r = call(&mut s, 1, "n1", r#"{"type":"read","msg_id":99,"key":"k"}"#);
            assert!(r.contains(r#""value":20"#), "{r}");
        }
        assert!(stale_seeds > 40, "a requester that is behind gets stale reads: {stale_seeds}/50");
    }

    #[test]
    fn lww_kv_has_no_create_if_not_exists() {
        let mut s = Services::new(Rng::new(1));
        let r = call(
            &mut s,
            2,
            "n1",
            r#"{"type":"cas","msg_id":1,"key":"k","from":0,"to":1,"create_if_not_exists":true}"#,
        );
        assert!(r.contains(r#""code":20"#), "{r}");
    }
}
