//! Challenge 3, broadcast: the node's value set, how values travel between nodes, and how each
//! link recovers from loss.
//!
//! # What is measured, and the plans that follow from it
//!
//! Maelstrom counts messages, not bytes, so a batch of a thousand values costs the same as one.
//! Every server-to-server hop costs one latency (100 ms in challenge 3d). Two plans
//! ([`Plan`]) cover the trade-off:
//!
//! - **Star**: each node sends its clients' values to the hub (`node_ids[0]`), which relays them
//!   in batches to everyone else. Each value takes two hops, and every non-hub node receives one
//!   message per hub batch, which is the least a node can receive for a given staleness. Cost:
//!   about one message per broadcast plus `(n - 1)` per hub batch.
//! - **Mesh**: each node sends its clients' values straight to every other node. One hop, the
//!   lowest latency there is, at `n - 1` messages per broadcast.
//!
//! The suggested `topology` is acknowledged and ignored: both plans are built from `node_ids`,
//! which is the same on every node.
//!
//! # State: one log, cursors per link
//!
//! A node keeps its set twice over: `seen` (for de-duplication: a bitmap for counter-like
//! values, a hash set for the rest; see `seen.rs`) and `log`, the
//! values in the order this node learned them, with `from[i]` naming the node `log[i]` came
//! from. The log is append-only, so a *position* in it names a prefix forever. A link to a
//! peer is then a handful of positions (`Link`): how far the peer has acknowledged our log
//! (`base`), below which point nothing needs resending to it (`acked`, which also skips values
//! that are not for it), how far we have sent it (`sent`), and how far we have received the
//! peer's log (`recv`) and told it so (`told`). The unacknowledged data for a peer is
//! `log[acked..sent]`, filtered by the plan's relay rule; it is never copied into a queue, and
//! the per-peer state is O(1) whatever the backlog. A ring of in-flight batch records is not
//! needed: every data message starts at `base` and carries *all* unacknowledged values (bytes
//! are free; messages are not), so one retransmission deadline per peer covers everything
//! outstanding, and a lost message is repaired by the next one without waiting for a timeout.
//!
//! # The link protocol
//!
//! - `gossip {s, e, v, a, r?}`: the sender's log range `[s, e)` (its values for this receiver,
//!   in `v`), plus a piggybacked cumulative acknowledgement `a` of the receiver's log, and `r`
//!   on a retransmission. The receiver advances `recv` to `e` when `s <= recv`, so
//!   acknowledgements are cumulative and never claim data that was lost.
//! - `gossip_ack {a}`: a standalone acknowledgement, sent only when no data has carried it
//!   within `ack_delay` ([`Tuning::ack_delay`]), or at once to answer a retransmission.
//! - Values not acknowledged within `rto` (which must cover `ack_delay`) are resent in one
//!   message flagged `r`. The receiver acknowledges a retransmission at once, so further
//!   retries only need to outlast a round trip: they back off from `retry`, doubling up to
//!   `rto_cap`, with jitter from the node's seeded RNG. While a peer is suspect (it has
//!   missed a timeout), new values for it wait for the next retransmission instead of adding
//!   traffic, so an unreachable peer costs one message per backoff interval. A message from a
//!   suspect peer proves it reachable again and triggers one early resend per interval, so a
//!   healed partition recovers within about a round trip of the first message across it.
//! - No anti-entropy is needed: every value is in some node's log, and each log position is
//!   resent until the next hop acknowledges it, so all nodes converge once links heal.
//! - Timers run only while something is pending (a batch, an acknowledgement owed, data
//!   unacknowledged): an idle cluster sends nothing.

pub mod seen;
pub mod tuning;

#[cfg(test)]
mod tests;

use std::time::Duration;

use hashbrown::HashMap;

use self::seen::ValueSet;

pub use self::tuning::{Plan, Tuning};
use crate::node::{Ctx, Reject, Workload};
use crate::proto::{ErrorCode, FieldError, Msg};
use crate::time::Instant;
use crate::time::wheel::TimerId;

/// The most values one `gossip` message carries; a larger backlog goes out in several.
///
/// Keeps lines to about 200 KB even after a long partition.
pub const MAX_BATCH: usize = 16_384;

/// Body type of a data message between nodes.
const GOSSIP: &str = "gossip";
/// Body type of a standalone acknowledgement between nodes.
const GOSSIP_ACK: &str = "gossip_ack";

/// What this node does in its plan.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// The star's centre: relays every value to every node but the one it came from. A
    /// one-node cluster is a hub without peers.
    Hub,
    /// A star's spoke: sends its clients' values to the hub only.
    Leaf,
    /// A mesh node: sends its clients' values to every other node.
    Mesh,
}

/// The relay rule: which log entries go to which peer. `Copy`, so it can be used while the
/// log is borrowed.
#[derive(Copy, Clone, Debug)]
struct Router {
    role: Role,
    /// This node's index.
    me: u32,
}

impl Router {
    /// Whether a value that came from node `from` is sent on to node `to`.
    fn relays(self, from: u32, to: usize) -> bool {
        match self.role {
            Role::Hub => from as usize != to,
            Role::Leaf | Role::Mesh => from == self.me,
        }
    }
}

/// The timers a broadcast node sets.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Send the batched values to every peer that has new ones.
    Flush,
    /// Acknowledge what this node sent us, if no data has carried the acknowledgement yet.
    Ack(u32),
    /// This peer has not acknowledged our data in time: resend it.
    Retransmit(u32),
}

/// One node's view of the link to another node, both directions.
#[derive(Clone, Debug, Default)]
struct Link {
    /// The peer's cumulative acknowledgement of our log: it has every value for it below
    /// this position. Data messages start here (`s`), so the peer can always chain them onto
    /// what it has. Invariant: `base <= acked`.
    base: usize,
    /// Our log positions below this need not be sent to the peer again: acknowledged, or not
    /// for it. Invariant: `acked <= sent <= log.len()`, and after [`Broadcast::settle`],
    /// `acked == sent` or `log[acked]` is for this peer.
    acked: usize,
    /// Our log positions below this have been sent to the peer (or are not for it).
    sent: usize,
    /// Retransmissions since the peer last acknowledged anything; non-zero means suspect.
    attempts: u32,
    /// Whether the early resend allowed per backoff interval has been used.
    nudged: bool,
    /// The pending retransmission timer. Invariant: set iff `acked < sent` (after settling),
    /// except transiently inside a handler.
    retransmit: Option<TimerId>,
    /// The peer's log positions below this have all reached us.
    recv: u64,
    /// The highest `recv` we have acknowledged to the peer. Invariant: `told <= recv`.
    told: u64,
    /// The pending standalone-acknowledgement timer. Invariant: set only while `told < recv`.
    ack: Option<TimerId>,
    /// When we last sent data to the peer.
    last_sent: Instant,
}

/// The broadcast workload: a grow-only set of integers shared by every node.
#[derive(Debug)]
pub struct Broadcast {
    tuning: Tuning,
    router: Router,
    /// Node ids, by index (our own copy: `Ctx::ids` cannot be borrowed while sending).
    names: Vec<Box<str>>,
    /// Node index by id.
    index: HashMap<Box<str>, u32>,
    /// The nodes this node sends data to.
    peers: Vec<u32>,
    /// Every value this node has. Invariant: the same values as `log`.
    seen: ValueSet,
    /// The values in the order this node learned them; append-only.
    log: Vec<u64>,
    /// `from[i]`: the index of the node `log[i]` came from (ours for our clients' values).
    /// Invariant: `from.len() == log.len()`.
    from: Vec<u32>,
    /// One link per node in `names` (our own is unused).
    links: Vec<Link>,
    /// The pending batch timer.
    flush: Option<TimerId>,
}

impl Broadcast {
    /// This node's role.
    pub fn role(&self) -> Role {
        self.router.role
    }

    /// The tuning in force.
    pub fn tuning(&self) -> Tuning {
        self.tuning
    }

    /// The values this node has, in the order it learned them.
    pub fn values(&self) -> &[u64] {
        &self.log
    }

    /// Whether any timer is pending (false once the node is quiet).
    pub fn busy(&self) -> bool {
        self.flush.is_some() || self.links.iter().any(|l| l.retransmit.is_some() || l.ack.is_some())
    }

    /// Adds a value learned from node `from`; returns whether it was new.
    fn learn(&mut self, v: u64, from: u32) -> bool {
        let fresh = self.seen.insert(v);
        if fresh {
            self.log.push(v);
            self.from.push(from);
        }
        fresh
    }

    /// Moves `acked` past log entries that are not for peer `p`.
    fn settle(&mut self, p: usize) {
        let link = &mut self.links[p];
        while link.acked < link.sent && !self.router.relays(self.from[link.acked], p) {
            link.acked += 1;
        }
    }

    /// Whether the log holds values for `p` that have not been sent to it yet. Moves `sent`
    /// to the end of the log when there are none.
    fn has_new(&mut self, p: usize) -> bool {
        let link = &mut self.links[p];
        let router = self.router;
        if self.from[link.sent..].iter().any(|&f| router.relays(f, p)) {
            return true;
        }
        link.sent = self.log.len();
        self.settle(p);
        false
    }

    /// Arranges for new values to be sent: at once, or when the batch timer fires.
    fn schedule_flush(&mut self, cx: &mut Ctx<'_, Self>) {
        if self.peers.is_empty() {
            return;
        }
        let delay = match self.router.role {
            Role::Hub => self.tuning.relay_delay,
            Role::Leaf | Role::Mesh => self.tuning.origin_delay,
        };
        if delay.is_zero() {
            self.flush(cx);
        } else if self.flush.is_none() {
            self.flush = Some(cx.set_timer(cx.now() + delay, Timer::Flush));
        }
    }

    /// Sends every peer that is not suspect the values it has not been sent yet.
    fn flush(&mut self, cx: &mut Ctx<'_, Self>) {
        for k in 0..self.peers.len() {
            let p = self.peers[k] as usize;
            if self.links[p].attempts > 0 || !self.has_new(p) {
                continue;
            }
            self.send_data(p, false, cx);
            if self.links[p].retransmit.is_none() {
                let at = cx.now() + self.tuning.rto;
                self.links[p].retransmit = Some(cx.set_timer(at, Timer::Retransmit(p as u32)));
            }
        }
    }

    /// Sends `p` everything it has not acknowledged, up to the end of the log, with our
    /// acknowledgement of its data. Several messages if the backlog exceeds [`MAX_BATCH`].
    fn send_data(&mut self, p: usize, retransmit: bool, cx: &mut Ctx<'_, Self>) {
        self.settle(p);
        let Broadcast { router, names, log, from, links, .. } = self;
        let router = *router;
        let link = &mut links[p];
        // The first message starts at what the peer has; the scan at what it still needs.
        let mut start = link.base;
        let mut scan = link.acked;
        let mut sent_any = false;
        while let Some(first) = (scan..log.len()).find(|&i| router.relays(from[i], p)) {
            let mut end = log.len();
            cx.send(&names[p], GOSSIP, |b| {
                b.u64("s", start as u64).u64("a", link.recv);
                if retransmit {
                    b.u64("r", 1);
                }
                b.arr("v", |a| {
                    let mut n = 0;
                    for i in first..log.len() {
                        if router.relays(from[i], p) {
                            if n == MAX_BATCH {
                                end = i;
                                break;
                            }
                            a.u64(log[i]);
                            n += 1;
                        }
                    }
                });
                b.u64("e", end as u64);
            });
            sent_any = true;
            start = end;
            scan = end;
        }
        link.sent = log.len();
        if !sent_any {
            // Nothing outstanding at all: everything before the end is acknowledged or not
            // for this peer.
            link.acked = link.sent;
            return;
        }
        link.last_sent = cx.now();
        link.told = link.recv;
        if let Some(t) = link.ack.take() {
            cx.cancel_timer(t);
        }
    }

    /// Sends `p` a standalone acknowledgement of its data.
    fn send_ack(&mut self, p: usize, cx: &mut Ctx<'_, Self>) {
        let link = &mut self.links[p];
        cx.send(&self.names[p], GOSSIP_ACK, |b| {
            b.u64("a", link.recv);
        });
        link.told = link.recv;
        if let Some(t) = link.ack.take() {
            cx.cancel_timer(t);
        }
    }

    /// Handles `p`'s acknowledgement of our log up to position `a`.
    fn on_ack(&mut self, p: usize, a: u64, cx: &mut Ctx<'_, Self>) {
        let link = &mut self.links[p];
        // A peer cannot acknowledge what we never sent; clamp a confused one.
        let a = usize::try_from(a).unwrap_or(usize::MAX).min(link.sent);
        if a <= link.base {
            return;
        }
        link.base = a;
        link.acked = link.acked.max(a);
        self.settle(p);
        let link = &mut self.links[p];
        let was_suspect = link.attempts > 0;
        link.attempts = 0;
        link.nudged = false;
        if let Some(t) = link.retransmit.take() {
            cx.cancel_timer(t);
        }
        if link.acked < link.sent {
            // The rest was sent later; give it a full timeout from now.
            let at = cx.now() + self.tuning.rto;
            link.retransmit = Some(cx.set_timer(at, Timer::Retransmit(p as u32)));
        }
        if was_suspect && self.has_new(p) {
            // New values skipped this peer while it was suspect.
            self.schedule_flush(cx);
        }
    }

    /// Resends everything `p` has not acknowledged and backs off.
    fn retransmit(&mut self, p: usize, cx: &mut Ctx<'_, Self>) {
        self.links[p].retransmit = None;
        self.settle(p);
        if self.links[p].acked == self.links[p].sent {
            self.links[p].attempts = 0;
            return;
        }
        self.send_data(p, true, cx);
        let link = &mut self.links[p];
        link.attempts += 1;
        link.nudged = false;
        let wait = backoff(self.tuning, link.attempts, cx.rng().unit());
        link.retransmit = Some(cx.set_timer(cx.now() + wait, Timer::Retransmit(p as u32)));
    }

    /// The node index of a message's sender, which must be another node.
    fn sender(&self, req: &Msg<'_, '_>) -> Result<usize, Reject> {
        match self.index.get(req.src) {
            Some(&i) if i != self.router.me => Ok(i as usize),
            _ => Err(Reject::new(
                ErrorCode::MalformedRequest,
                format!("`{}` from `{}`, which is not another node", req.kind, req.src),
            )),
        }
    }

    fn on_gossip(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        let p = self.sender(req)?;
        let s = req.u64("s")?;
        let e = req.u64("e")?;
        let a = req.u64("a")?;
        let vals = req.arr("v")?;
        if e < s {
            return Err(FieldError::invalid("e", "at least `s`").into());
        }
        if vals.iter().any(|v| v.as_u64().is_none()) {
            return Err(FieldError::invalid("v", "an array of non-negative integers").into());
        }
        let retransmitted = req.get("r").is_some();
        self.on_ack(p, a, cx);
        let mut fresh = false;
        for v in vals.iter().filter_map(|v| v.as_u64()) {
            fresh |= self.learn(v, p as u32);
        }
        let link = &mut self.links[p];
        if s <= link.recv && e > link.recv {
            link.recv = e;
        }
        if link.told < link.recv && link.ack.is_none() {
            link.ack = Some(cx.set_timer(cx.now() + self.tuning.ack_delay, Timer::Ack(p as u32)));
        }
        // Resending to a suspect peer carries our acknowledgement too.
        let resent = self.heard_from(p, cx);
        if retransmitted && !resent {
            // The sender missed our acknowledgement (or its data was lost): answer now.
            self.send_ack(p, cx);
        }
        if fresh && self.router.role == Role::Hub {
            self.schedule_flush(cx);
        }
        Ok(())
    }

    /// `p` just reached us: if it is suspect, resend now rather than at the next backoff
    /// deadline. At most once per backoff interval (so a one-way partition cannot cause a
    /// storm), and not within `retry` (more than a round trip) of our last send: the message
    /// may just be the answer to it. Returns whether it sent anything.
    fn heard_from(&mut self, p: usize, cx: &mut Ctx<'_, Self>) -> bool {
        let link = &self.links[p];
        if link.attempts == 0
            || link.nudged
            || link.acked == link.sent
            || cx.now().saturating_since(link.last_sent) < self.tuning.retry
        {
            return false;
        }
        self.send_data(p, true, cx);
        self.links[p].nudged = true;
        true
    }
}

/// How long to wait after the `attempt`-th retransmission (`attempt >= 1`):
/// `retry * 2^(attempt - 1)`, capped at `rto_cap`, times a jitter factor in `[0.8, 1.2)` drawn
/// from `unit` (uniform in `[0, 1)`).
fn backoff(t: Tuning, attempt: u32, unit: f64) -> Duration {
    let doublings = attempt.saturating_sub(1).min(16);
    let base = t.retry.saturating_mul(1 << doublings).min(t.rto_cap);
    base.mul_f64(0.8 + 0.4 * unit)
}

impl Workload for Broadcast {
    type Timer = Timer;
    type Call = ();

    fn init(cx: &mut Ctx<'_, Self>, args: &[String]) -> Self {
        let (tuning, ignored) = Tuning::from_args(args);
        if !ignored.is_empty() {
            cx.log(format_args!("ignoring arguments {ignored:?}"));
        }
        let names: Vec<Box<str>> = cx.ids().iter().map(|s| s.as_str().into()).collect();
        let n = names.len();
        // A node missing from node_ids gets index n. The others reject its gossip (they only
        // talk to node_ids), so it just serves its own clients; Maelstrom never does this.
        let me = u32::try_from(cx.index()).unwrap_or(u32::MAX);
        let index = names.iter().enumerate().map(|(i, s)| (s.clone(), i as u32)).collect();
        let role = match tuning.plan {
            Plan::Star if me == 0 || n <= 1 => Role::Hub,
            Plan::Star => Role::Leaf,
            Plan::Mesh => Role::Mesh,
        };
        let peers: Vec<u32> = match role {
            Role::Leaf => vec![0],
            _ => (0..n as u32).filter(|&i| i != me).collect(),
        };
        cx.log(format_args!("{role:?} with {} peers, {tuning:?}", peers.len()));
        Broadcast {
            tuning,
            router: Router { role, me },
            names,
            index,
            peers,
            seen: ValueSet::new(),
            log: Vec::with_capacity(1024),
            from: Vec::with_capacity(1024),
            links: vec![Link::default(); n],
            flush: None,
        }
    }

    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        match req.kind {
            "broadcast" => {
                let v = req.u64("message")?;
                cx.reply(req, "broadcast_ok", |_| {});
                if self.learn(v, self.router.me) {
                    self.schedule_flush(cx);
                }
            }
            "read" => {
                cx.reply(req, "read_ok", |b| {
                    b.u64s("messages", self.log.iter().copied());
                });
            }
            "topology" => {
                // Validated, acknowledged and ignored: the plan comes from node_ids.
                req.obj("topology")?;
                cx.reply(req, "topology_ok", |_| {});
            }
            GOSSIP => self.on_gossip(req, cx)?,
            GOSSIP_ACK => {
                let p = self.sender(req)?;
                let a = req.u64("a")?;
                self.on_ack(p, a, cx);
                self.heard_from(p, cx);
            }
            other => return Err(Reject::unsupported(other)),
        }
        Ok(())
    }

    fn on_timer(&mut self, timer: Timer, cx: &mut Ctx<'_, Self>) {
        match timer {
            Timer::Flush => {
                self.flush = None;
                self.flush(cx);
            }
            Timer::Ack(p) => {
                let p = p as usize;
                self.links[p].ack = None;
                if self.links[p].told < self.links[p].recv {
                    self.send_ack(p, cx);
                }
            }
            Timer::Retransmit(p) => self.retransmit(p as usize, cx),
        }
    }
}
