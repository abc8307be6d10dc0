//! The JSON wire form of Raft messages and forwarded client requests between lin-kv nodes.
//!
//! Raft messages are one-way bodies with short keys (they are most of the traffic):
//!
//! | message | type | fields |
//! |---|---|---|
//! | vote request | `rv` | `p` pre-vote, `t` term, `li`/`lt` last index/term |
//! | vote answer | `rvr` | `p`, `t`, `g` granted |
//! | append | `ae` | `t`, `r` round, `pi`/`pt` previous index/term, `c` commit, `e` entries, `rtt` leader's answer time (µs), `a` answer wanted |
//! | append answer | `aer` | `t`, `r`, `ok`, `i` index, `ht` hint term |
//! | snapshot | `is` | `t`, `r`, `i` index, `st` its term, `kv` `[[key, value], ...]` |
//!
//! An entry is an array: `[term]` (a leader's no-op), `[term, key, value]` (a write) or
//! `[term, key, from, to, create]` (a compare-and-set), keys and values as the clients sent
//! them. A forwarded client request is `fwd` with the client's id (`c`) and `msg_id` (`id`),
//! the hop count (`h`), the operation (`op`: `read`, `write` or `cas`) and the client's own
//! fields. Every message between nodes also carries the sender's deaf mask `d` (see
//! [`super::links`]); a relayed one travels as `rl {to, b}` to the relay and `rl {from, b}`
//! from it, `b` being the whole body.

use std::rc::Rc;
use std::time::Duration;

use super::kv::{Json, MAX_ITEM_BYTES, Op, Snapshot};
use super::log::Entry;
use super::raft::Message;
use crate::proto::encode::{ArrWriter, ObjWriter};
use crate::proto::{FieldError, Msg, Val};

/// A Raft message as lin-kv nodes exchange it.
pub type RaftMsg = Message<Op, Rc<Snapshot>>;

/// Body types of Raft messages.
pub const RAFT_TYPES: [&str; 5] = ["rv", "rvr", "ae", "aer", "is"];

fn raw(out: &mut Vec<u8>, j: &Json) {
    out.extend_from_slice(j.bytes());
}

fn write_entry(a: &mut ArrWriter<'_>, e: &Entry<Op>) {
    a.arr(|x| {
        x.u64(e.term);
        match &e.cmd {
            None => {}
            Some(Op::Write { key, value }) => {
                raw(x.elem(), key);
                raw(x.elem(), value);
            }
            Some(Op::Cas { key, from, to, create }) => {
                raw(x.elem(), key);
                raw(x.elem(), from);
                raw(x.elem(), to);
                x.u64(u64::from(*create));
            }
        }
    });
}

/// The body type of Raft message `m`.
pub fn raft_type(m: &RaftMsg) -> &'static str {
    match m {
        Message::Vote { .. } => "rv",
        Message::VoteResp { .. } => "rvr",
        Message::Append { .. } => "ae",
        Message::AppendResp { .. } => "aer",
        Message::Snapshot { .. } => "is",
    }
}

/// Writes the fields of Raft message `m` (everything but its type).
pub fn write_raft(m: &RaftMsg, b: &mut ObjWriter<'_>) {
    match m {
        Message::Vote { pre, term, last_index, last_term } => {
            b.bool("p", *pre).u64("t", *term).u64("li", *last_index).u64("lt", *last_term);
        }
        Message::VoteResp { pre, term, granted } => {
            b.bool("p", *pre).u64("t", *term).bool("g", *granted);
        }
        Message::Append { term, round, prev_index, prev_term, commit, entries, rtt, ack } => {
            b.u64("t", *term)
                .u64("r", *round)
                .u64("pi", *prev_index)
                .u64("pt", *prev_term)
                .u64("c", *commit)
                .u64("rtt", rtt.as_micros().min(u128::from(u64::MAX)) as u64)
                .bool("a", *ack);
            b.arr("e", |a| entries.iter().for_each(|e| write_entry(a, e)));
        }
        Message::AppendResp { term, round, ok, index, hint_term } => {
            b.u64("t", *term)
                .u64("r", *round)
                .bool("ok", *ok)
                .u64("i", *index)
                .u64("ht", *hint_term);
        }
        Message::Snapshot { term, round, index, snap_term, data } => {
            b.u64("t", *term).u64("r", *round).u64("i", *index).u64("st", *snap_term);
            b.arr("kv", |a| {
                for (k, v) in &data.pairs {
                    a.arr(|x| {
                        raw(x.elem(), k);
                        raw(x.elem(), v);
                    });
                }
            });
        }
    }
}

fn bool_field(msg: &Msg<'_, '_>, f: &'static str) -> Result<bool, FieldError> {
    msg.field(f)?.as_bool().ok_or(FieldError::invalid(f, "a boolean"))
}

/// A key or value from a peer or client, within [`MAX_ITEM_BYTES`].
pub fn json(
    v: Val<'_, '_>,
    field: &'static str,
    scratch: &mut Vec<u8>,
) -> Result<Json, FieldError> {
    let j = Json::from_val(v, scratch);
    if j.len() > MAX_ITEM_BYTES {
        return Err(FieldError::invalid(field, "at most 64 KiB of JSON"));
    }
    Ok(j)
}

fn entry(v: Val<'_, '_>, scratch: &mut Vec<u8>) -> Result<Entry<Op>, FieldError> {
    const WHAT: &str = "[term], [term, key, value] or [term, key, from, to, create]";
    let bad = FieldError::invalid("e", WHAT);
    let a = v.as_array().ok_or(bad)?;
    let term = a.get(0).and_then(Val::as_u64).ok_or(bad)?;
    let item = |i: usize, scratch: &mut Vec<u8>| json(a.get(i).ok_or(bad)?, "e", scratch);
    let cmd = match a.len() {
        1 => None,
        3 => Some(Op::Write { key: item(1, scratch)?, value: item(2, scratch)? }),
        5 => Some(Op::Cas {
            key: item(1, scratch)?,
            from: item(2, scratch)?,
            to: item(3, scratch)?,
            create: a.get(4).and_then(Val::as_u64).ok_or(bad)? != 0,
        }),
        _ => return Err(bad),
    };
    Ok(Entry { term, cmd })
}

/// Decodes a Raft message (`msg.kind` is one of [`RAFT_TYPES`]).
pub fn decode(msg: &Msg<'_, '_>, scratch: &mut Vec<u8>) -> Result<RaftMsg, FieldError> {
    Ok(match msg.kind {
        "rv" => Message::Vote {
            pre: bool_field(msg, "p")?,
            term: msg.u64("t")?,
            last_index: msg.u64("li")?,
            last_term: msg.u64("lt")?,
        },
        "rvr" => Message::VoteResp {
            pre: bool_field(msg, "p")?,
            term: msg.u64("t")?,
            granted: bool_field(msg, "g")?,
        },
        "ae" => {
            let list = msg.arr("e")?;
            let mut entries = Vec::with_capacity(list.len());
            for v in list.iter() {
                entries.push(entry(v, scratch)?);
            }
            Message::Append {
                term: msg.u64("t")?,
                round: msg.u64("r")?,
                prev_index: msg.u64("pi")?,
                prev_term: msg.u64("pt")?,
                commit: msg.u64("c")?,
                entries,
                rtt: Duration::from_micros(msg.u64("rtt")?),
                ack: bool_field(msg, "a")?,
            }
        }
        "aer" => Message::AppendResp {
            term: msg.u64("t")?,
            round: msg.u64("r")?,
            ok: bool_field(msg, "ok")?,
            index: msg.u64("i")?,
            hint_term: msg.u64("ht")?,
        },
        "is" => {
            let bad = FieldError::invalid("kv", "an array of [key, value] pairs");
            let list = msg.arr("kv")?;
            let mut pairs = Vec::with_capacity(list.len());
            for p in list.iter() {
                let p = p.as_array().filter(|p| p.len() == 2).ok_or(bad)?;
                let k = json(p.get(0).ok_or(bad)?, "kv", scratch)?;
                let v = json(p.get(1).ok_or(bad)?, "kv", scratch)?;
                pairs.push((k, v));
            }
            Message::Snapshot {
                term: msg.u64("t")?,
                round: msg.u64("r")?,
                index: msg.u64("i")?,
                snap_term: msg.u64("st")?,
                data: Rc::new(Snapshot { pairs }),
            }
        }
        other => unreachable!("not a Raft message type: {other}"),
    })
}

/// A client operation, as a client sent it (or a peer forwarded it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientOp {
    /// `read {key}`
    Read(Json),
    /// `write {key, value}` or `cas {key, from, to, create_if_not_exists?}`.
    Change(Op),
}

impl ClientOp {
    /// Parses a client request of type `kind` (`read`, `write` or `cas`) from its fields.
    pub fn parse(kind: &str, msg: &Msg<'_, '_>, scratch: &mut Vec<u8>) -> Result<Self, FieldError> {
        let key = json(msg.field("key")?, "key", scratch)?;
        Ok(match kind {
            "read" => ClientOp::Read(key),
            "write" => ClientOp::Change(Op::Write {
                key,
                value: json(msg.field("value")?, "value", scratch)?,
            }),
            _ => ClientOp::Change(Op::Cas {
                key,
                from: json(msg.field("from")?, "from", scratch)?,
                to: json(msg.field("to")?, "to", scratch)?,
                create: msg.get("create_if_not_exists").and_then(Val::as_bool).unwrap_or(false),
            }),
        })
    }

    /// Writes the operation's name and fields into a `fwd` body.
    pub fn write_fields(&self, b: &mut ObjWriter<'_>) {
        match self {
            ClientOp::Read(key) => {
                b.str("op", "read");
                raw(b.key("key"), key);
            }
            ClientOp::Change(Op::Write { key, value }) => {
                b.str("op", "write");
                raw(b.key("key"), key);
                raw(b.key("value"), value);
            }
            ClientOp::Change(Op::Cas { key, from, to, create }) => {
                b.str("op", "cas");
                raw(b.key("key"), key);
                raw(b.key("from"), from);
                raw(b.key("to"), to);
                if *create {
                    b.bool("create_if_not_exists", true);
                }
            }
        }
    }

    /// The reply type of a success.
    pub fn ok_type(&self) -> &'static str {
        match self {
            ClientOp::Read(_) => "read_ok",
            ClientOp::Change(Op::Write { .. }) => "write_ok",
            ClientOp::Change(Op::Cas { .. }) => "cas_ok",
        }
    }
}

/// Parses a `fwd` body's operation.
pub fn forwarded_op(msg: &Msg<'_, '_>, scratch: &mut Vec<u8>) -> Result<ClientOp, FieldError> {
    match msg.str("op")? {
        kind @ ("read" | "write" | "cas") => ClientOp::parse(kind, msg, scratch),
        _ => Err(FieldError::invalid("op", "read, write or cas")),
    }
}
