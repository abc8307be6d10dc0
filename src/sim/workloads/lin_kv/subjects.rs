//! Test subjects for the lin-kv workload: in-process nodes, one correct on any number of
//! nodes, one correct only alone, and two deliberately broken ones, for the tests
//! (`tests/lin_kv.rs`) and the checker's benchmark (`benches/linear.rs`) to run through the
//! bench with [`crate::sim::run_nodes`].
//!
//! - [`Proxy`]: forwards every request to the bench's `lin-kv` service (as Maelstrom's demo
//!   `lin_kv_proxy.rb` does): linearizable on any number of nodes.
//! - [`LocalMap`]: keeps the map itself: linearizable alone, split-brained on several nodes.
//! - [`StaleReads`]: writes and CAS go to the service, reads are answered from a cache of what
//!   this node's own writes set (stale as soon as another node writes).
//! - [`DropWrites`]: acknowledges every third write at once without ever applying it.
//! - [`FlakyProxy`]: a proxy that leaves a fifth of writes and CAS unanswered, half of them
//!   applied: linearizable, with indeterminate operations.

use std::time::Duration;

use crate::node::{Ctx, Reject, Reply, Workload};
use crate::proto::encode::write_val;
use crate::proto::{ErrorCode, Msg};

/// A client request a node answers later: who asked, and which request.
#[derive(Clone, Debug)]
pub struct Pending {
    client: String,
    msg_id: u64,
    kind: &'static str,
    /// The value a write or CAS sets, as JSON text.
    to: Option<Vec<u8>>,
    /// The key, as JSON text.
    key: Vec<u8>,
}

/// Sends `<kind>_ok` (with `value` for reads) or the error for `code` to the client.
fn answer(cx: &mut Ctx<'_, impl Workload>, p: &Pending, value: Option<&[u8]>) {
    let irt = p.msg_id;
    let ok = format!("{}_ok", p.kind);
    cx.send(&p.client, &ok, |b| {
        if let Some(v) = value {
            b.key("value").extend_from_slice(v);
        }
        b.u64("in_reply_to", irt);
    });
}

fn answer_error(cx: &mut Ctx<'_, impl Workload>, p: &Pending, code: ErrorCode) {
    let irt = p.msg_id;
    cx.send(&p.client, "error", |b| {
        b.u64("code", code.code()).str("text", code.name()).u64("in_reply_to", irt);
    });
}

fn json(v: Option<crate::proto::Val<'_, '_>>) -> Vec<u8> {
    let mut out = Vec::new();
    match v {
        Some(v) => write_val(&mut out, v),
        None => out.extend_from_slice(b"null"),
    }
    out
}

/// Reads a lin-kv request into a [`Pending`] (error 10 for other request types).
fn pending(req: &Msg<'_, '_>) -> Result<Pending, Reject> {
    let kind = match req.kind {
        "read" => "read",
        "write" => "write",
        "cas" => "cas",
        other => return Err(Reject::unsupported(other)),
    };
    let msg_id = req.msg_id.ok_or_else(|| Reject::new(ErrorCode::MalformedRequest, "no msg_id"))?;
    let to = match kind {
        "write" => Some(json(req.get("value"))),
        "cas" => Some(json(req.get("to"))),
        _ => None,
    };
    Ok(Pending { client: req.src.to_owned(), msg_id, kind, to, key: json(req.get("key")) })
}

/// Forwards a request's fields to the lin-kv service.
fn forward<W: Workload<Call = Pending>>(req: &Msg<'_, '_>, p: Pending, cx: &mut Ctx<'_, W>) {
    let kind = p.kind;
    cx.rpc("lin-kv", kind, Duration::from_secs(5), p, |b| {
        for field in ["key", "value", "from", "to"] {
            if let Some(v) = req.get(field) {
                b.val(field, v);
            }
        }
    });
}

/// Relays the service's answer to the client.
fn relay<W: Workload>(p: &Pending, reply: Reply<'_, '_, '_>, cx: &mut Ctx<'_, W>) {
    match reply {
        Ok(msg) => answer(cx, p, (p.kind == "read").then(|| json(msg.get("value"))).as_deref()),
        Err(code) => answer_error(cx, p, code),
    }
}

/// Correct on any number of nodes: every request goes to the linearizable service.
#[derive(Debug)]
pub struct Proxy;

impl Workload for Proxy {
    type Timer = ();
    type Call = Pending;
    fn init(_: &mut Ctx<'_, Self>, _: &[String]) -> Self {
        Proxy
    }
    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        let p = pending(req)?;
        forward(req, p, cx);
        Ok(())
    }
    fn on_reply(&mut self, p: Pending, reply: Reply<'_, '_, '_>, cx: &mut Ctx<'_, Self>) {
        relay(&p, reply, cx);
    }
}

/// A map of its own: linearizable alone, split-brained on several nodes.
#[derive(Debug, Default)]
pub struct LocalMap {
    map: std::collections::HashMap<Vec<u8>, Vec<u8>>,
}

impl Workload for LocalMap {
    type Timer = ();
    type Call = ();
    fn init(_: &mut Ctx<'_, Self>, _: &[String]) -> Self {
        LocalMap::default()
    }
    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        let p = pending(req)?;
        let cur = self.map.get(&p.key).cloned();
        match p.kind {
            "read" => match cur {
                Some(v) => answer(cx, &p, Some(&v)),
                None => answer_error(cx, &p, ErrorCode::KeyDoesNotExist),
            },
            "write" => {
                self.map.insert(p.key.clone(), p.to.clone().unwrap_or_default());
                answer(cx, &p, None);
            }
            _ => match cur {
                None => answer_error(cx, &p, ErrorCode::KeyDoesNotExist),
                Some(v) if v == json(req.get("from")) => {
                    self.map.insert(p.key.clone(), p.to.clone().unwrap_or_default());
                    answer(cx, &p, None);
                }
                Some(_) => answer_error(cx, &p, ErrorCode::PreconditionFailed),
            },
        }
        Ok(())
    }
}

/// Writes and CAS go to the service; reads are answered from a cache of what this node's own
/// writes and CAS set (so other nodes' writes are never seen).
#[derive(Debug, Default)]
pub struct StaleReads {
    cache: std::collections::HashMap<Vec<u8>, Vec<u8>>,
}

impl Workload for StaleReads {
    type Timer = ();
    type Call = Pending;
    fn init(_: &mut Ctx<'_, Self>, _: &[String]) -> Self {
        StaleReads::default()
    }
    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        let p = pending(req)?;
        if p.kind == "read" {
            match self.cache.get(&p.key) {
                Some(v) => answer(cx, &p, Some(v)),
                None => answer_error(cx, &p, ErrorCode::KeyDoesNotExist),
            }
        } else {
            forward(req, p, cx);
        }
        Ok(())
    }
    fn on_reply(&mut self, p: Pending, reply: Reply<'_, '_, '_>, cx: &mut Ctx<'_, Self>) {
        if let (Ok(_), Some(to)) = (&reply, &p.to) {
            self.cache.insert(p.key.clone(), to.clone());
        }
        relay(&p, reply, cx);
    }
}

/// Acknowledges every third write at once without ever sending it to the service.
#[derive(Debug, Default)]
pub struct DropWrites {
    writes: u64,
}

impl Workload for DropWrites {
    type Timer = ();
    type Call = Pending;
    fn init(_: &mut Ctx<'_, Self>, _: &[String]) -> Self {
        DropWrites::default()
    }
    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        let p = pending(req)?;
        if p.kind == "write" {
            self.writes += 1;
            if self.writes % 3 == 0 {
                answer(cx, &p, None);
                return Ok(());
            }
        }
        forward(req, p, cx);
        Ok(())
    }
    fn on_reply(&mut self, p: Pending, reply: Reply<'_, '_, '_>, cx: &mut Ctx<'_, Self>) {
        relay(&p, reply, cx);
    }
}

/// A [`Proxy`] that leaves clients hanging: of the writes and CAS, one in ten is forwarded to
/// the service but never answered (it took effect), and one in ten is neither forwarded nor
/// answered (it did not). Clients time out on both, so the history has indeterminate
/// operations of both kinds, and keys advance as Jepsen's process limit runs out. Still
/// linearizable.
#[derive(Debug, Default)]
pub struct FlakyProxy;

impl Workload for FlakyProxy {
    type Timer = ();
    type Call = (Pending, bool);
    fn init(_: &mut Ctx<'_, Self>, _: &[String]) -> Self {
        FlakyProxy
    }
    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        let p = pending(req)?;
        let roll = if p.kind == "read" { 99 } else { cx.rng().below(10) };
        if roll == 0 {
            return Ok(());
        }
        let kind = p.kind;
        cx.rpc("lin-kv", kind, Duration::from_secs(5), (p, roll == 1), |b| {
            for field in ["key", "value", "from", "to"] {
                if let Some(v) = req.get(field) {
                    b.val(field, v);
                }
            }
        });
        Ok(())
    }
    fn on_reply(
        &mut self,
        call: (Pending, bool),
        reply: Reply<'_, '_, '_>,
        cx: &mut Ctx<'_, Self>,
    ) {
        let (p, silent) = call;
        if !silent {
            relay(&p, reply, cx);
        }
    }
}
