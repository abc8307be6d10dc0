//! lin-kv: a linearizable key-value store replicated with Raft (Maelstrom's `lin-kv` workload,
//! chapter 6 of its guide): the glue between the node runtime, the Raft core and the map.
//!
//! # Design
//!
//! - [`raft`] is the consensus core, a pure state machine over node indexes (pre-vote, leader
//!   stickiness, check-quorum, replication in rounds with cumulative acknowledgements and
//!   conflict hints, answers from a majority only, read-index, snapshots). [`log`] is its
//!   log, [`kv`] the replicated map, [`wire`] the JSON form of their messages, [`links`] the
//!   one-hop relaying around links a partition cut in one direction. This module feeds the
//!   core from the runtime and turns its output into messages and client replies.
//! - **Writes and CASes** go into the log. The node that proposed an entry (the leader when
//!   the request reached it) remembers the client, and answers it when it applies that index:
//!   with the result if the entry there is still its own, or with error 11 if another leader's
//!   entry was committed at that index (then its own can never be: definite). A node that
//!   loses leadership keeps its pending clients and still answers them if their entries are
//!   committed by the next leader.
//! - **Reads** use read-index rather than the log: the leader tags a read with its commit
//!   index and answers once a majority has acknowledged a round sent after the read arrived.
//!   Reads thus never grow the log or the snapshot, and they cost no more messages than a
//!   logged read would (they ride on the same batched rounds as writes). Leases were rejected:
//!   they trust clocks and message delays to stay within bounds.
//! - **Followers forward** a client's request to the leader they last heard from within
//!   [`Tuning::fresh`] (one `fwd` message); the leader answers the client directly, so a
//!   forwarded operation costs one extra server message, not two. With no fresh leader, the
//!   request waits (bounded) up to [`Tuning::wait`] for one to appear, then gets error 11.
//!   That error, and any refusal before a proposal, is definite: the request was never
//!   forwarded or proposed, so it cannot take effect. A request is forwarded at most once
//!   more by a node that is not the leader ([`MAX_HOPS`]), and never retried: so an
//!   operation enters the log at most once.
//! - **Compaction**: every [`Tuning::compact_every`] applied entries the node takes a snapshot
//!   of the map and compacts the log up to the previous one, so the log keeps between one and
//!   two intervals of applied entries (for followers that lag a little) plus the uncommitted
//!   tail; a follower further behind gets the snapshot.
//!
//! # Bounds
//!
//! Keys and values up to [`kv::MAX_ITEM_BYTES`] (error 12 beyond), the map up to
//! [`kv::MAX_STORE_BYTES`] (error 11 from the state machine beyond), [`MAX_PENDING`] clients
//! awaiting their entries, [`MAX_WAITING`] requests waiting for a leader, and the core's own
//! limits (uncommitted entries, reads awaiting confirmation, entries per message). Past any of
//! them a request gets a definite error at once.

pub mod kv;
pub mod links;
pub mod log;
pub mod raft;
pub mod wire;

use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use hashbrown::HashMap;

use self::kv::{Json, Kv, Op, Snapshot};
use self::links::{Links, Route};
use self::raft::{Config, Event, Outbox, Raft, Refused};
use self::wire::{ClientOp, RaftMsg};
use crate::node::{Ctx, Reject, Workload};
use crate::proto::encode::ObjWriter;
use crate::proto::{ErrorCode, FieldError, Msg};
use crate::time::Instant;
use crate::time::wheel::TimerId;

/// Clients awaiting the outcome of their write or CAS on this node.
pub const MAX_PENDING: usize = 4096;
/// Requests waiting for a leader to be known.
pub const MAX_WAITING: usize = 1024;
/// How many times a request may be forwarded (client → follower → leader is one).
pub const MAX_HOPS: u64 = 2;

/// Every tunable of the node.
#[derive(Clone, Debug)]
pub struct Tuning {
    /// The Raft core's timing and size settings.
    pub raft: Config,
    /// How recently a follower must have heard from the leader to forward to it.
    pub fresh: Duration,
    /// How long a request waits for a leader before it is refused with error 11.
    pub wait: Duration,
    /// Snapshot interval, in applied entries.
    pub compact_every: u64,
    /// Clients awaiting an entry are forgotten (unanswered) after this long.
    pub pending_ttl: Duration,
    /// Relay messages around cut links ([`links`]).
    pub relay: bool,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            raft: Config::default(),
            fresh: Duration::from_millis(500),
            wait: Duration::from_millis(800),
            compact_every: 1024,
            pending_ttl: Duration::from_secs(30),
            relay: true,
        }
    }
}

impl Tuning {
    /// Reads `--election-ms=N` (the minimum; the maximum is twice that), `--heartbeat-ms=N`,
    /// `--batch-ms=N`, `--fresh-ms=N` (default: two heartbeats), `--wait-ms=N`,
    /// `--compact-every=N` and `--relay=0|1` from the binary's command-line words. Returns the
    /// tuning and the words not understood (to be logged and otherwise ignored).
    pub fn from_args(args: &[String]) -> (Tuning, Vec<String>) {
        let mut t = Tuning::default();
        let mut ignored = Vec::new();
        let mut fresh = None;
        for arg in args {
            let parsed = arg
                .strip_prefix("--")
                .and_then(|a| a.split_once('='))
                .and_then(|(k, v)| Some((k, v.parse::<u64>().ok()?)));
            let ms = |v: u64| Duration::from_millis(v);
            match parsed {
                Some(("election-ms", v)) if v > 0 => {
                    t.raft.election_min = ms(v);
                    t.raft.election_max = ms(2 * v);
                }
                Some(("heartbeat-ms", v)) if v > 0 => t.raft.heartbeat = ms(v),
                Some(("batch-ms", v)) => t.raft.batch = ms(v),
                Some(("fresh-ms", v)) => fresh = Some(ms(v)),
                Some(("wait-ms", v)) => t.wait = ms(v),
                Some(("compact-every", v)) if v > 0 => t.compact_every = v,
                Some(("relay", v)) if v <= 1 => t.relay = v == 1,
                _ => ignored.push(arg.clone()),
            }
        }
        t.fresh = fresh.unwrap_or(t.raft.heartbeat * 2);
        (t, ignored)
    }
}

/// A client to answer: who, and which request.
#[derive(Clone, Debug)]
struct Client {
    dest: Box<str>,
    msg_id: u64,
    /// When the request reached this node.
    since: Instant,
}

/// A client request on its way to the leader.
#[derive(Clone, Debug)]
struct Request {
    client: Client,
    op: ClientOp,
    /// Times forwarded so far.
    hops: u64,
}

/// Timers.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    /// The Raft core's deadline.
    Raft,
    /// Expire waiting requests and forgotten clients.
    Sweep,
}

/// The lin-kv node.
pub struct LinKv {
    raft: Raft<Op, Rc<Snapshot>>,
    kv: Kv,
    links: Links,
    /// Invariant: `applied <= raft.commit()`, and equal to it between calls.
    applied: u64,
    out: Outbox<Op, Rc<Snapshot>>,
    ids: Vec<String>,
    tuning: Tuning,
    /// Clients awaiting entries this node proposed, by (index, term).
    writes: BTreeMap<(u64, u64), Client>,
    /// Reads awaiting confirmation, by the context given to the core.
    reads: HashMap<u64, (Client, Json)>,
    next_read: u64,
    /// Requests waiting for a leader, oldest first.
    waiting: VecDeque<Request>,
    /// The armed core timer and its deadline.
    raft_timer: Option<(TimerId, Instant)>,
    sweep_timer: Option<(TimerId, Instant)>,
    /// State as of an applied index: the log is compacted to it once the next is taken.
    checkpoint: Option<(u64, Rc<Snapshot>)>,
    scratch: Vec<u8>,
}

impl LinKv {
    /// The map (for tests).
    pub fn kv(&self) -> &Kv {
        &self.kv
    }

    /// The Raft core (for tests).
    pub fn raft(&self) -> &Raft<Op, Rc<Snapshot>> {
        &self.raft
    }

    /// How recently the leader must have been heard from to forward to it: the tuning's,
    /// stretched by two answer times on a slow network.
    fn fresh(&self) -> Duration {
        self.tuning.fresh + self.raft.rtt() * 2
    }

    /// How long a request waits for a leader: the tuning's, stretched likewise (clients wait
    /// ten latencies, at least a second).
    fn wait(&self) -> Duration {
        self.tuning.wait + self.raft.rtt() * 2
    }

    fn peer(&self, src: &str) -> Option<usize> {
        self.ids.iter().position(|id| id == src)
    }

    /// Sends a request on its way: served here if this node leads, forwarded to a leader
    /// heard from recently, or held until one is known.
    fn route(&mut self, req: Request, from: Option<usize>, cx: &mut Ctx<'_, Self>) {
        if self.raft.is_leader() {
            return self.serve(req, cx);
        }
        let leader = self.raft.fresh_leader(cx.now(), self.fresh());
        match leader {
            Some(l) if req.hops < MAX_HOPS && Some(l) != from => {
                // One path only, so that the request cannot be proposed twice.
                self.send_node(cx, l, "fwd", true, |b| {
                    b.str("c", &req.client.dest)
                        .u64("id", req.client.msg_id)
                        .u64("h", req.hops + 1);
                    req.op.write_fields(b);
                });
            }
            _ if from.is_none() && self.waiting.len() < MAX_WAITING => {
                self.waiting.push_back(req);
            }
            // Never forwarded from here and never proposed: definite.
            _ => refuse(cx, &req.client, "no leader known"),
        }
    }

    /// Serves a request as the leader.
    fn serve(&mut self, req: Request, cx: &mut Ctx<'_, Self>) {
        let refused = match req.op {
            ClientOp::Read(key) => {
                let ctx = self.next_read;
                match self.raft.read(cx.now(), ctx, &mut self.out) {
                    Ok(()) => {
                        self.next_read += 1;
                        self.reads.insert(ctx, (req.client, key));
                        return;
                    }
                    Err(e) => (e, req.client),
                }
            }
            ClientOp::Change(_) if self.writes.len() >= MAX_PENDING => (Refused::Busy, req.client),
            ClientOp::Change(op) => match self.raft.propose(cx.now(), op, &mut self.out) {
                Ok(at) => {
                    self.writes.insert(at, req.client);
                    return;
                }
                Err(e) => (e, req.client),
            },
        };
        let why = match refused.0 {
            Refused::NotLeader => "not the leader",
            Refused::Busy => "too many requests in flight",
        };
        refuse(cx, &refused.1, why);
    }

    /// Drains the core's output: restores, applies, answers, sends; then re-arms timers.
    fn pump(&mut self, cx: &mut Ctx<'_, Self>) {
        if !self.waiting.is_empty() && self.raft.fresh_leader(cx.now(), self.fresh()).is_some() {
            for req in std::mem::take(&mut self.waiting) {
                self.route(req, None, cx);
            }
        }
        let mut ready = Vec::new();
        for ev in std::mem::take(&mut self.out.events) {
            match ev {
                Event::Restore { index, data } => {
                    self.kv.restore(&data);
                    self.applied = index;
                    // Whatever became of these entries is folded into the snapshot: their
                    // clients cannot be told, and time out.
                    let kept = self.writes.split_off(&(index + 1, 0));
                    self.writes = kept;
                    self.checkpoint = Some((index, data));
                }
                Event::ReadReady(ctx) => ready.push(ctx),
                Event::ReadFailed(ctx) => {
                    if let Some((client, _)) = self.reads.remove(&ctx) {
                        refuse(cx, &client, "leadership lost before the read was confirmed");
                    }
                }
            }
        }
        self.apply(cx);
        for ctx in ready {
            let Some((client, key)) = self.reads.remove(&ctx) else { continue };
            match self.kv.get(&key) {
                Some(v) => cx.reply_to(&client.dest, client.msg_id, "read_ok", |b| {
                    b.key("value").extend_from_slice(v.bytes());
                }),
                None => reply_error(cx, &client, ErrorCode::KeyDoesNotExist, "no such key"),
            }
        }
        let mut msgs = std::mem::take(&mut self.out.msgs);
        for (to, m) in msgs.drain(..) {
            self.send_node(cx, to, wire::raft_type(&m), false, |b| wire::write_raft(&m, b));
        }
        self.out.msgs = msgs;
        self.arm(cx);
    }

    /// Sends a message of type `kind` to node `p`, straight or through relays as [`Links`]
    /// says (with `once`, by exactly one path), adding this node's deaf mask.
    fn send_node(
        &mut self,
        cx: &mut Ctx<'_, Self>,
        p: usize,
        kind: &str,
        once: bool,
        fields: impl Fn(&mut ObjWriter<'_>),
    ) {
        let now = cx.now();
        self.links.set_window(self.raft.timeout_min() + self.tuning.raft.heartbeat * 2);
        let mask = self.links.mask(now);
        let route = if once {
            match self.links.route_once(p, now) {
                None => Route { direct: true, via: Default::default() },
                Some(r) => Route { direct: false, via: [r].into_iter().collect() },
            }
        } else {
            self.links.route(p, now)
        };
        let dest = &self.ids[p];
        if route.direct {
            cx.send(dest, kind, |b| {
                fields(b);
                b.u64("d", mask);
            });
        }
        for r in route.via {
            cx.send(&self.ids[r], "rl", |b| {
                b.str("to", dest).obj("b", |inner| {
                    inner.str("type", kind);
                    fields(inner);
                    inner.u64("d", mask);
                });
            });
        }
    }

    /// Handles a message from node `from`, which arrived straight from it (`direct`) or
    /// through a relay.
    fn on_node(
        &mut self,
        from: usize,
        msg: &Msg<'_, '_>,
        direct: bool,
        cx: &mut Ctx<'_, Self>,
    ) -> Result<(), Reject> {
        let now = cx.now();
        if direct {
            self.links.heard_from(from, now);
        }
        if let Some(mask) = msg.get("d").and_then(|v| v.as_u64()) {
            self.links.report(from, mask, now);
        }
        match msg.kind {
            "fwd" => self.on_forward(Some(from), msg, cx)?,
            "rl" if direct => self.on_relay(from, msg, cx)?,
            kind if wire::RAFT_TYPES.contains(&kind) => {
                let m: RaftMsg = wire::decode(msg, &mut self.scratch)?;
                self.raft.step(now, from, m, &mut self.out);
            }
            other => return Err(Reject::unsupported(other)),
        }
        Ok(())
    }

    fn on_forward(
        &mut self,
        from: Option<usize>,
        msg: &Msg<'_, '_>,
        cx: &mut Ctx<'_, Self>,
    ) -> Result<(), Reject> {
        let op = wire::forwarded_op(msg, &mut self.scratch)?;
        let client = Client { dest: msg.str("c")?.into(), msg_id: msg.u64("id")?, since: cx.now() };
        let hops = msg.u64("h")?;
        self.route(Request { client, op, hops }, from, cx);
        Ok(())
    }

    /// A relay envelope from node `from`: pass it on (first hop), or open it (second hop).
    fn on_relay(
        &mut self,
        from: usize,
        msg: &Msg<'_, '_>,
        cx: &mut Ctx<'_, Self>,
    ) -> Result<(), Reject> {
        let body = msg.obj("b")?;
        if let Some(to) = msg.get("to").and_then(|v| v.as_str()) {
            let Some(q) = self.peer(to).filter(|&q| q != self.links.me()) else {
                return Err(Reject::new(ErrorCode::MalformedRequest, "relay to a non-node"));
            };
            // One hop: the second never relays further.
            let origin = &self.ids[from];
            cx.send(&self.ids[q], "rl", |b| {
                b.str("from", origin).val("b", body.as_val());
            });
            return Ok(());
        }
        let origin = msg.str("from")?;
        let (Some(o), Some(kind)) = (self.peer(origin), body.get("type").and_then(|v| v.as_str()))
        else {
            return Err(Reject::new(ErrorCode::MalformedRequest, "relayed from a non-node"));
        };
        let inner =
            Msg { src: origin, dest: msg.dest, kind, msg_id: None, in_reply_to: None, body };
        self.on_node(o, &inner, false, cx)
    }

    /// Applies every committed entry, answering the clients this node proposed them for.
    fn apply(&mut self, cx: &mut Ctx<'_, Self>) {
        while self.applied < self.raft.commit() {
            let index = self.applied + 1;
            let e = self.raft.entry(index).expect("committed entries past `applied` are held");
            let term = e.term;
            let (result, ok_type) = match &e.cmd {
                None => (None, ""),
                Some(op) => {
                    let kind = match op {
                        Op::Write { .. } => "write_ok",
                        Op::Cas { .. } => "cas_ok",
                    };
                    (Some(self.kv.apply(op)), kind)
                }
            };
            self.applied = index;
            let mine: Vec<(u64, u64)> =
                self.writes.range((index, 0)..=(index, u64::MAX)).map(|(k, _)| *k).collect();
            for k in mine {
                let client = self.writes.remove(&k).expect("listed");
                match result {
                    Some(Ok(())) if k.1 == term => {
                        cx.reply_to(&client.dest, client.msg_id, ok_type, |_| {})
                    }
                    Some(Err(code)) if k.1 == term => {
                        let text = match code {
                            ErrorCode::KeyDoesNotExist => "no such key",
                            ErrorCode::PreconditionFailed => "current value differs from `from`",
                            _ => "the store is full",
                        };
                        reply_error(cx, &client, code, text);
                    }
                    // Another leader's entry holds this index for good: ours never commits.
                    _ => refuse(cx, &client, "lost to a leader change; not applied"),
                }
            }
        }
        let every = self.tuning.compact_every;
        let due =
            self.checkpoint.as_ref().map_or(self.applied >= every, |c| self.applied >= c.0 + every);
        if due {
            if let Some((index, snap)) = self.checkpoint.take() {
                self.raft.compact(index, snap);
            }
            self.checkpoint = Some((self.applied, Rc::new(self.kv.snapshot())));
        }
    }

    /// Keeps one wheel timer on the core's deadline and one on the next sweep.
    fn arm(&mut self, cx: &mut Ctx<'_, Self>) {
        let at = self.raft.deadline();
        if self.raft_timer.map(|t| t.1) != Some(at) {
            if let Some((id, _)) = self.raft_timer.take() {
                cx.cancel_timer(id);
            }
            self.raft_timer = Some((cx.set_timer(at, Timer::Raft), at));
        }
        let sweep = if let Some(front) = self.waiting.front() {
            Some(front.client.since + self.wait())
        } else if !self.writes.is_empty() {
            Some(cx.now() + Duration::from_secs(1))
        } else {
            None
        };
        match (sweep, self.sweep_timer) {
            (Some(at), Some((_, armed))) if armed <= at => {}
            (Some(at), armed) => {
                if let Some((id, _)) = armed {
                    cx.cancel_timer(id);
                }
                self.sweep_timer = Some((cx.set_timer(at, Timer::Sweep), at));
            }
            (None, _) => {}
        }
    }

    fn sweep(&mut self, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        while let Some(front) = self.waiting.front() {
            if now < front.client.since + self.wait() {
                break;
            }
            let req = self.waiting.pop_front().expect("front exists");
            refuse(cx, &req.client, "no leader known");
        }
        let ttl = self.tuning.pending_ttl;
        self.writes.retain(|_, c| now < c.since + ttl);
    }
}

fn reply_error<W: Workload>(cx: &mut Ctx<'_, W>, client: &Client, code: ErrorCode, text: &str) {
    cx.reply_to(&client.dest, client.msg_id, "error", |b| {
        b.u64("code", code.code()).str("text", text);
    });
}

/// Error 11: only for requests that certainly had no effect.
fn refuse<W: Workload>(cx: &mut Ctx<'_, W>, client: &Client, why: &str) {
    reply_error(cx, client, ErrorCode::TemporarilyUnavailable, why);
}

impl Workload for LinKv {
    type Timer = Timer;
    type Call = ();

    fn init(cx: &mut Ctx<'_, Self>, args: &[String]) -> Self {
        let (tuning, ignored) = Tuning::from_args(args);
        cx.log_ignored_args(&ignored);
        let mut ids = cx.ids().to_vec();
        if !ids.iter().any(|id| id == cx.id()) {
            ids = vec![cx.id().to_owned()];
        }
        let me = ids.iter().position(|id| id == cx.id()).expect("listed above");
        let rng = cx.rng().fork();
        let raft = Raft::new(me, ids.len(), tuning.raft.clone(), rng, cx.now());
        // A link is cut once silent for longer than the longest normal gap: a follower not
        // asked to answer does so once per minimum election timeout, at the next message
        // after that (a heartbeat at most); plus a heartbeat of slack. (Stretched as the
        // timeouts are: see `send_node`.)
        let window = tuning.raft.election_min + tuning.raft.heartbeat * 2;
        let mut node = LinKv {
            raft,
            kv: Kv::new(),
            links: Links::new(me, ids.len(), window, tuning.relay),
            applied: 0,
            out: Outbox::default(),
            ids,
            tuning,
            writes: BTreeMap::new(),
            reads: HashMap::new(),
            next_read: 0,
            waiting: VecDeque::new(),
            raft_timer: None,
            sweep_timer: None,
            checkpoint: None,
            scratch: Vec::new(),
        };
        node.arm(cx);
        node
    }

    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        match req.kind {
            "read" | "write" | "cas" => {
                let op = ClientOp::parse(req.kind, req, &mut self.scratch)?;
                let msg_id = req.msg_id.ok_or(FieldError::missing("msg_id", "an integer"))?;
                let client = Client { dest: req.src.into(), msg_id, since: cx.now() };
                self.route(Request { client, op, hops: 0 }, None, cx);
            }
            kind if kind == "fwd" || kind == "rl" || wire::RAFT_TYPES.contains(&kind) => {
                match self.peer(req.src) {
                    Some(from) if from != self.links.me() => self.on_node(from, req, true, cx)?,
                    // A forwarded request from outside the cluster is served all the same.
                    _ if kind == "fwd" => self.on_forward(None, req, cx)?,
                    _ => {
                        return Err(Reject::new(
                            ErrorCode::MalformedRequest,
                            "not from a cluster node",
                        ));
                    }
                }
            }
            other => return Err(Reject::unsupported(other)),
        }
        self.pump(cx);
        Ok(())
    }

    fn on_timer(&mut self, timer: Timer, cx: &mut Ctx<'_, Self>) {
        match timer {
            Timer::Raft => {
                self.raft_timer = None;
                self.raft.tick(cx.now(), &mut self.out);
            }
            Timer::Sweep => {
                self.sweep_timer = None;
                self.sweep(cx);
            }
        }
        self.pump(cx);
    }
}

#[cfg(test)]
mod tests;
