//! Broadcast gossip: who sends what to whom (the plan's topology), the handlers of the link
//! protocol, acknowledgements, retransmission with backoff, and the resync of a lapped peer.
//!
//! Generic over the element set ([`Set`]), so a node for another grow-only set reuses it as
//! the broadcast node does: it builds a [`Gossip`], calls [`Gossip::learn_local`] for its
//! clients' elements, hands every message it does not handle itself to [`Gossip::handle`]
//! and every timer to [`Gossip::on_timer`], and answers reads from [`Gossip::set`].
//!
//! # Links
//!
//! Each peer has a queue in the ring ([`super::queue`]) and a link: retransmission state
//! for the data we send it, and how far we have received its ring. Every data message starts
//! at the peer's cumulative acknowledgement and carries everything unacknowledged (bytes are
//! free; messages are not), so one retransmission deadline per peer covers all of it. An
//! acknowledgement rides on data going the other way, or goes alone after `ack_delay`, or at
//! once to answer a retransmission. A peer that misses a deadline is *suspect*: new values
//! wait for the next retransmission (backing off from `retry` to `rto_cap` with jitter), so an
//! unreachable peer costs one message per interval; any message from it triggers one early
//! resend per interval, so a healed link recovers within about a round trip.
//!
//! # Resync
//!
//! A peer lapped by the ring is resynchronised from the seen set in *passes*. A pass begins
//! at the ring's head `P` and walks the block space in windows: we send `sync` with the
//! digests of our non-empty blocks from the window's first block; the peer answers
//! `sync_have` with its own content of every block whose digest differs; we send what it
//! lacks with the next window's digests. A pass in which nothing was found missing proves
//! that the peer holds everything we held at `P`; it then rejoins the ring at `P` (our next
//! data message tells it so with `y`, so it can acknowledge from there). If anything was sent
//! during a pass, another pass checks that it arrived (so a lost `sync` costs a pass, never a
//! value). While the ring can, it keeps the entries from `P` on; if it had to drop them, or
//! the pass's start was trimmed, another pass begins. An unanswered `sync` is resent with
//! backoff from `retry` up to `sync_cap`. The receiver keeps no state for any of this.

use std::time::Duration;

use hashbrown::HashMap;

use super::protocol::{self, GOSSIP, GOSSIP_ACK, SYNC, SYNC_HAVE};
use super::queue::{Pin, Queue, Set};
use super::tuning::{Holds, Plan, Tuning};
use crate::node::{Ctx, Reject, Workload};
use crate::proto::{ErrorCode, Msg};
use crate::time::Instant;
use crate::time::wheel::TimerId;

/// The most values one `gossip` or `sync` message carries; a larger backlog goes out in
/// several. Keeps lines to about 200 KB even after a long partition.
pub const MAX_BATCH: usize = 16_384;

/// The most element bytes (by [`Set::size`]) one `gossip` or `sync` message carries; at least
/// one element goes in each. Integers never reach it before [`MAX_BATCH`]; large elements (a
/// g-set's JSON) do, which keeps every line far below a node's input bound.
pub const MAX_BATCH_BYTES: usize = 1 << 20;

/// The most block digests one `sync` lists (about 50 KB); the rest wait for the next window.
pub const MAX_DIGESTS: usize = 2048;

/// Numbers a `sync_have` holds before it stops describing blocks (one block is always
/// described whole).
pub const HAVE_BUDGET: usize = 16_384;

/// Values one exchange of a resync sends at most (in messages of [`MAX_BATCH`]); the rest of
/// the window is sent after the next answer.
pub const SYNC_BUDGET: usize = 4 * MAX_BATCH;

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

/// The relay rule: which values go to which peer. `Copy`, so it can be used while the ring
/// is borrowed.
#[derive(Copy, Clone, Debug)]
pub struct Router {
    role: Role,
    /// This node's index.
    me: u32,
}

impl Router {
    /// The rule of node `me` in `role`.
    pub fn new(role: Role, me: u32) -> Self {
        Router { role, me }
    }

    /// Whether a value that came from node `from` is sent on to node `to`.
    #[inline]
    pub fn relays(self, from: u32, to: usize) -> bool {
        match self.role {
            Role::Hub => from as usize != to,
            Role::Leaf | Role::Mesh => from == self.me,
        }
    }

    /// Whether a value that came from node `from` goes to any of this node's `peers` peers
    /// (a hub's peers are every other node, so all but the origin).
    #[inline]
    pub fn relays_any(self, from: u32, peers: usize) -> bool {
        match self.role {
            Role::Hub => peers > usize::from(from != self.me),
            Role::Leaf | Role::Mesh => from == self.me && peers > 0,
        }
    }
}

/// The timers a gossip node sets.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Send the batched values to every peer that has new ones.
    Flush,
    /// Acknowledge what this node sent us, if no data has carried the acknowledgement yet.
    Ack(u32),
    /// This peer has not acknowledged our data (or answered our `sync`) in time: resend.
    Retransmit(u32),
}

/// A resync pass in progress.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Pass {
    /// The ring head when the pass began: the peer rejoins here.
    start: u64,
    /// The first block of the window whose answer we wait for.
    window: u32,
    /// Whether values were sent during this pass (so another must check they arrived).
    dirty: bool,
}

/// One node's view of the link to another node, both directions.
#[derive(Clone, Debug, Default)]
struct Link {
    /// Unanswered retransmissions (or `sync`s) since the peer last made progress; non-zero
    /// means suspect.
    attempts: u32,
    /// Whether the early resend allowed per backoff interval has been used.
    nudged: bool,
    /// Our data messages carry `y` (the peer has every value of ours below `s`): set when a
    /// resync puts the peer back on the ring, until it acknowledges that position.
    floor: bool,
    /// The pending retransmission timer. Invariant: on the ring, set iff data is outstanding
    /// (after settling), except transiently inside a handler; in a resync, set while a `sync`
    /// awaits its answer.
    retransmit: Option<TimerId>,
    /// The resync pass, while the peer is off the ring.
    pass: Option<Pass>,
    /// The peer's ring positions below this have all reached us.
    recv: u64,
    /// The highest `recv` we have acknowledged to the peer. Invariant: `told <= recv`.
    told: u64,
    /// The pending standalone-acknowledgement timer. Invariant: set only while `told < recv`.
    ack: Option<TimerId>,
    /// When we last sent the peer data or a `sync`.
    last_sent: Instant,
    /// ([`Holds`] only.) Since when one of our own elements has waited for the peer.
    own_since: Option<Instant>,
    /// ([`Holds`] only.) How many of our own elements wait for the peer.
    own_held: usize,
    /// ([`Holds`] only.) Since when a relayed element has waited for the peer.
    relay_since: Option<Instant>,
    /// ([`Holds`] only.) Elements for the peer arrived in a retransmission: the next data to
    /// it is flagged `r` and timed as a retransmission.
    urgent: bool,
}

/// Counts of what the resync machinery did (for tests and reports).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Passes begun.
    pub passes: u64,
    /// Peers put back on the ring after a resync.
    pub rejoined: u64,
    /// Values sent in `sync` messages.
    pub synced: u64,
}

/// The gossip side of a grow-only set node: its peers, their queues and links.
#[derive(Debug)]
pub struct Gossip<S: Set> {
    tuning: Tuning,
    router: Router,
    /// Node ids, by index (our own copy: `Ctx::ids` cannot be borrowed while sending).
    names: Vec<Box<str>>,
    /// Node index by id.
    index: HashMap<Box<str>, u32>,
    /// The nodes this node sends data to.
    peers: Vec<u32>,
    /// The seen set and every peer's queue.
    queue: Queue<S>,
    /// One link per node in `names` (our own is unused).
    links: Vec<Link>,
    /// The pending batch timer.
    flush: Option<TimerId>,
    /// ([`Holds`] only.) The pending batch timer's deadline. Invariant: set iff `flush` is.
    flush_at: Option<Instant>,
    /// Scratch for a resync's numbers (another node's digests or description); empty
    /// between handlers.
    nums: Vec<u64>,
    /// Scratch for a `sync_have`'s description; empty between handlers.
    have: Vec<u64>,
    /// Values found missing at a peer, waiting for the next `sync`; empty between handlers.
    items: Vec<S::Item>,
    stats: Stats,
}

impl<S: Set> Gossip<S> {
    /// The gossip state of the node `cx` belongs to (called from [`Workload::init`]).
    pub fn new<W: Workload<Timer = Timer>>(cx: &mut Ctx<'_, W>, tuning: Tuning) -> Self {
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
        let router = Router { role, me };
        Gossip {
            tuning,
            router,
            names,
            index,
            queue: Queue::new(router, n, &peers, tuning.ring),
            peers,
            links: vec![Link::default(); n],
            flush: None,
            flush_at: None,
            nums: Vec::new(),
            have: Vec::new(),
            items: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// This node's role.
    pub fn role(&self) -> Role {
        self.router.role
    }

    /// This node's id (empty for a node missing from `node_ids`).
    pub fn name(&self) -> &str {
        self.names.get(self.router.me as usize).map_or("", |s| s)
    }

    /// The tuning in force.
    pub fn tuning(&self) -> Tuning {
        self.tuning
    }

    /// Every element this node has.
    pub fn set(&self) -> &S {
        &self.queue.seen
    }

    /// Reads a client's element for [`Gossip::learn_local`] (a set of interned elements
    /// interns it here); `None` if the set cannot hold it.
    pub fn read(&mut self, v: crate::proto::Val<'_, '_>) -> Option<S::Item> {
        self.queue.seen.read(v)
    }

    /// The queues (for inspection: ring size, cursors).
    pub fn queue(&self) -> &Queue<S> {
        &self.queue
    }

    /// What the resync machinery has done.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Whether `p` is being resynchronised.
    pub fn resyncing(&self, p: usize) -> bool {
        self.links.get(p).is_some_and(|l| l.pass.is_some())
    }

    /// Whether any timer is pending (false once the node is quiet).
    pub fn busy(&self) -> bool {
        self.flush.is_some() || self.links.iter().any(|l| l.retransmit.is_some() || l.ack.is_some())
    }

    /// Adds an element from this node's own client and arranges for its peers to get it.
    #[inline]
    pub fn learn_local<W: Workload<Timer = Timer>>(&mut self, x: S::Item, cx: &mut Ctx<'_, W>) {
        if self.queue.learn(x, self.router.me) {
            if self.tuning.holds.is_some() {
                self.held(self.router.me, false, cx.now());
            }
            self.after_learning(true, cx);
        }
    }

    /// Handles a message of the link protocol; `None` if `req` is of another type. (A match
    /// of calls: the data and resync handlers are out of line, so a client's request path
    /// that calls this for types it does not know stays small enough to inline, and an
    /// acknowledgement takes one call.)
    #[inline]
    pub fn handle<W: Workload<Timer = Timer>>(
        &mut self,
        req: &Msg<'_, '_>,
        cx: &mut Ctx<'_, W>,
    ) -> Option<Result<(), Reject>> {
        Some(match req.kind {
            GOSSIP => self.on_gossip(req, cx),
            GOSSIP_ACK => self.on_gossip_ack(req, cx),
            SYNC => self.on_sync(req, cx),
            SYNC_HAVE => self.on_sync_have(req, cx),
            _ => return None,
        })
    }

    /// Handles a timer this layer set.
    pub fn on_timer<W: Workload<Timer = Timer>>(&mut self, timer: Timer, cx: &mut Ctx<'_, W>) {
        match timer {
            Timer::Flush => {
                self.flush = None;
                self.flush_at = None;
                match self.tuning.holds {
                    Some(h) => self.flush_holds(h, cx),
                    None => self.flush(cx),
                }
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
        self.check();
    }

    /// After new elements: resync any peer the ring lapped, and send (for this node's own
    /// clients' elements, or a hub's relays).
    #[inline]
    fn after_learning<W: Workload<Timer = Timer>>(&mut self, fresh: bool, cx: &mut Ctx<'_, W>) {
        if self.queue.has_lapped() {
            self.on_lapped(cx);
        }
        if fresh {
            self.schedule_flush(cx);
        }
    }

    /// Arranges for new values to be sent: at once, or when the batch timer fires.
    #[inline]
    fn schedule_flush<W: Workload<Timer = Timer>>(&mut self, cx: &mut Ctx<'_, W>) {
        if self.peers.is_empty() {
            return;
        }
        if let Some(h) = self.tuning.holds {
            self.flush_holds(h, cx);
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

    /// ([`Holds`].) Notes that new elements from node `from` wait for every peer they are for;
    /// `urgent` if they arrived in a retransmission.
    fn held(&mut self, from: u32, urgent: bool, now: Instant) {
        let mine = from == self.router.me;
        for k in 0..self.peers.len() {
            let p = self.peers[k] as usize;
            if !self.queue.for_peer(from, p) {
                continue;
            }
            let link = &mut self.links[p];
            if mine {
                link.own_since.get_or_insert(now);
                link.own_held += 1;
            } else {
                link.relay_since.get_or_insert(now);
            }
            link.urgent |= urgent;
        }
    }

    /// ([`Holds`].) When the elements held for peer `p` are due, if any are held.
    fn due(&self, h: Holds, p: usize) -> Option<Instant> {
        let l = &self.links[p];
        let (batch, own_delay) = match self.router.role {
            Role::Hub => (h.hub_batch, h.hub_delay),
            Role::Leaf | Role::Mesh => (h.batch, self.tuning.origin_delay),
        };
        if l.own_held >= batch {
            return l.own_since;
        }
        let own = l.own_since.map(|t| t + own_delay);
        let relay = l.relay_since.map(|t| t + self.tuning.relay_delay);
        match (own, relay) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// ([`Holds`].) Sends every peer on the ring and not suspect what is due for it now, and
    /// arms the batch timer for the next deadline. (A suspect peer's retransmission, or a
    /// resynchronising peer's `sync`, carries its elements; they stay held until a send to it.)
    fn flush_holds<W: Workload<Timer = Timer>>(&mut self, h: Holds, cx: &mut Ctx<'_, W>) {
        let now = cx.now();
        let mut next: Option<Instant> = None;
        for k in 0..self.peers.len() {
            let p = self.peers[k] as usize;
            let Some(at) = self.due(h, p) else { continue };
            if self.links[p].attempts > 0 || !self.queue.on_ring(p) {
                continue;
            }
            if at > now {
                next = Some(next.map_or(at, |n| n.min(at)));
                continue;
            }
            if !self.queue.has_new(p) {
                let link = &mut self.links[p];
                (link.own_since, link.own_held, link.relay_since, link.urgent) =
                    (None, 0, None, false);
                continue;
            }
            let urgent = self.links[p].urgent;
            self.send_data(p, urgent, cx);
            let link = &mut self.links[p];
            if urgent {
                // Answered at once: retried on the backoff schedule, like a retransmission.
                link.attempts += 1;
                link.nudged = false;
                if let Some(t) = link.retransmit.take() {
                    cx.cancel_timer(t);
                }
                let wait =
                    backoff(self.tuning.retry, self.tuning.rto_cap, link.attempts, cx.rng().unit());
                link.retransmit = Some(cx.set_timer(now + wait, Timer::Retransmit(p as u32)));
            } else {
                // Each message carries everything from the peer's acknowledgement on, so only
                // the last one's acknowledgement matters: a full timeout from now.
                if let Some(t) = link.retransmit.take() {
                    cx.cancel_timer(t);
                }
                let at = now + self.tuning.rto;
                link.retransmit = Some(cx.set_timer(at, Timer::Retransmit(p as u32)));
            }
        }
        match (self.flush_at, next) {
            (Some(at), Some(want)) if at <= want => {}
            (_, want) => {
                if let Some(t) = self.flush.take() {
                    cx.cancel_timer(t);
                }
                self.flush = want.map(|at| cx.set_timer(at, Timer::Flush));
                self.flush_at = want;
            }
        }
    }

    /// Sends every peer that is on the ring and not suspect the values it has not been sent.
    #[inline(never)]
    fn flush<W: Workload<Timer = Timer>>(&mut self, cx: &mut Ctx<'_, W>) {
        for k in 0..self.peers.len() {
            let p = self.peers[k] as usize;
            if self.links[p].attempts > 0 || !self.queue.has_new(p) {
                continue;
            }
            self.send_data(p, false, cx);
            if self.links[p].retransmit.is_none() {
                let at = cx.now() + self.tuning.rto;
                self.links[p].retransmit = Some(cx.set_timer(at, Timer::Retransmit(p as u32)));
            }
        }
    }

    /// Sends `p` everything it has not acknowledged, up to the head of the ring, with our
    /// acknowledgement of its data. Several messages if the backlog exceeds [`MAX_BATCH`].
    fn send_data<W: Workload<Timer = Timer>>(
        &mut self,
        p: usize,
        retransmit: bool,
        cx: &mut Ctx<'_, W>,
    ) {
        self.queue.settle(p);
        let Gossip { names, queue, links, .. } = self;
        let link = &mut links[p];
        (link.own_since, link.own_held, link.relay_since, link.urgent) = (None, 0, None, false);
        let cursor = *queue.cursor(p);
        let head = queue.ring().head();
        // The first message starts at what the peer has; the scan at what it still needs.
        let mut start = cursor.base;
        let mut scan = cursor.acked;
        let mut sent_any = false;
        while let Some(first) = queue.next_for(p, scan) {
            let mut end = head;
            cx.send(&names[p], GOSSIP, |b| {
                b.u64("s", start).u64("a", link.recv);
                if retransmit {
                    b.u64("r", 1);
                }
                if link.floor {
                    b.u64("y", 1);
                }
                b.arr("v", |a| {
                    let (mut n, mut bytes) = (0, 0);
                    for i in first..head {
                        let (x, from) = queue.ring().get(i);
                        if queue.for_peer(from, p) {
                            if n == MAX_BATCH || bytes >= MAX_BATCH_BYTES {
                                end = i;
                                break;
                            }
                            queue.seen.write(x, a);
                            n += 1;
                            bytes += queue.seen.size(x);
                        }
                    }
                });
                b.u64("e", end);
            });
            sent_any = true;
            start = end;
            scan = end;
        }
        // Nothing outstanding at all: everything before the head is acknowledged or not
        // for this peer.
        queue.mark_sent(p, sent_any);
        if !sent_any {
            return;
        }
        link.last_sent = cx.now();
        link.told = link.recv;
        if let Some(t) = link.ack.take() {
            cx.cancel_timer(t);
        }
    }

    /// Sends `p` a standalone acknowledgement of its data.
    fn send_ack<W: Workload<Timer = Timer>>(&mut self, p: usize, cx: &mut Ctx<'_, W>) {
        let link = &mut self.links[p];
        cx.send(&self.names[p], GOSSIP_ACK, |b| protocol::write_ack(b, link.recv));
        link.told = link.recv;
        if let Some(t) = link.ack.take() {
            cx.cancel_timer(t);
        }
    }

    /// Handles `p`'s acknowledgement of our ring up to position `a`.
    fn on_ack<W: Workload<Timer = Timer>>(&mut self, p: usize, a: u64, cx: &mut Ctx<'_, W>) {
        if self.links[p].floor && a >= self.queue.cursor(p).base {
            self.links[p].floor = false;
        }
        if !self.queue.ack(p, a) {
            return;
        }
        let link = &mut self.links[p];
        let was_suspect = link.attempts > 0;
        link.attempts = 0;
        link.nudged = false;
        if let Some(t) = link.retransmit.take() {
            cx.cancel_timer(t);
        }
        if self.queue.outstanding(p) {
            // The rest was sent later; give it a full timeout from now.
            let at = cx.now() + self.tuning.rto;
            self.links[p].retransmit = Some(cx.set_timer(at, Timer::Retransmit(p as u32)));
        }
        if was_suspect && self.queue.has_new(p) {
            // New values skipped this peer while it was suspect.
            self.schedule_flush(cx);
        }
    }

    /// The retransmission timer of `p` fired: resend its unacknowledged data, or the `sync`
    /// it has not answered, and back off.
    fn retransmit<W: Workload<Timer = Timer>>(&mut self, p: usize, cx: &mut Ctx<'_, W>) {
        self.links[p].retransmit = None;
        if self.links[p].pass.is_some() {
            self.send_sync(p, cx);
            return;
        }
        self.queue.settle(p);
        if !self.queue.outstanding(p) {
            self.links[p].attempts = 0;
            return;
        }
        self.send_data(p, true, cx);
        let link = &mut self.links[p];
        link.attempts += 1;
        link.nudged = false;
        let wait = backoff(self.tuning.retry, self.tuning.rto_cap, link.attempts, cx.rng().unit());
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

    /// Reads and learns the elements of `vals`, from node `from`; returns whether any was new.
    fn learn_all(&mut self, vals: crate::proto::Arr<'_, '_>, from: usize) -> bool {
        let mut fresh = false;
        for v in vals.iter() {
            if let Some(x) = self.queue.seen.read(v) {
                fresh |= self.queue.learn(x, from as u32);
            }
        }
        fresh
    }

    #[inline(never)]
    fn on_gossip<W: Workload<Timer = Timer>>(
        &mut self,
        req: &Msg<'_, '_>,
        cx: &mut Ctx<'_, W>,
    ) -> Result<(), Reject> {
        let p = self.sender(req)?;
        let g = protocol::Gossip::read(req, S::accepts)?;
        self.on_ack(p, g.a, cx);
        let fresh = self.learn_all(g.v, p);
        if fresh && self.tuning.holds.is_some() {
            self.held(p as u32, g.r, cx.now());
        }
        let link = &mut self.links[p];
        if g.y {
            // The sender has shown, by a resync, that we hold all its values below `s`.
            link.recv = link.recv.max(g.s);
        }
        if g.s <= link.recv && g.e > link.recv {
            link.recv = g.e;
        }
        if link.told < link.recv && link.ack.is_none() {
            link.ack = Some(cx.set_timer(cx.now() + self.tuning.ack_delay, Timer::Ack(p as u32)));
        }
        // Resending to a suspect peer carries our acknowledgement too.
        let carried = self.heard_from(p, cx);
        if g.r && !carried {
            // The sender missed our acknowledgement (or its data was lost): answer now.
            self.send_ack(p, cx);
        }
        self.after_learning(fresh && self.router.role == Role::Hub, cx);
        self.check();
        Ok(())
    }

    fn on_gossip_ack<W: Workload<Timer = Timer>>(
        &mut self,
        req: &Msg<'_, '_>,
        cx: &mut Ctx<'_, W>,
    ) -> Result<(), Reject> {
        let p = self.sender(req)?;
        let a = protocol::read_ack(req)?;
        self.on_ack(p, a, cx);
        self.heard_from(p, cx);
        self.check();
        Ok(())
    }

    /// `p` just reached us: if it is suspect, resend now rather than at the next backoff
    /// deadline. At most once per backoff interval (so a one-way partition cannot cause a
    /// storm), and not within `retry` (more than a round trip) of our last send: the message
    /// may just be the answer to it. Returns whether it sent data (which carries our
    /// acknowledgement; a `sync` does not).
    #[inline]
    fn heard_from<W: Workload<Timer = Timer>>(&mut self, p: usize, cx: &mut Ctx<'_, W>) -> bool {
        let link = &self.links[p];
        if link.attempts == 0
            || link.nudged
            || cx.now().saturating_since(link.last_sent) < self.tuning.retry
        {
            return false;
        }
        self.nudge(p, cx)
    }

    /// [`Gossip::heard_from`]'s resend, out of line (the peer was suspect: rare).
    #[cold]
    #[inline(never)]
    fn nudge<W: Workload<Timer = Timer>>(&mut self, p: usize, cx: &mut Ctx<'_, W>) -> bool {
        if self.links[p].pass.is_some() {
            self.send_sync(p, cx);
            self.links[p].nudged = true;
            return false;
        }
        if !self.queue.outstanding(p) {
            return false;
        }
        self.send_data(p, true, cx);
        self.links[p].nudged = true;
        true
    }

    /// Starts resynchronising every peer the ring has lapped.
    #[cold]
    #[inline(never)]
    fn on_lapped<W: Workload<Timer = Timer>>(&mut self, cx: &mut Ctx<'_, W>) {
        while let Some(p) = self.queue.take_lapped() {
            let p = p as usize;
            cx.log(format_args!(
                "{} lapped (ring of {}): resync from the seen set",
                self.names[p],
                self.queue.ring().bound()
            ));
            self.begin_pass(p);
            let link = &mut self.links[p];
            link.floor = false;
            if link.attempts > 0 && link.retransmit.is_some() {
                // Suspect (likely unreachable): the first digest goes at the retransmission
                // deadline already set, keeping the backoff.
                continue;
            }
            if let Some(t) = link.retransmit.take() {
                cx.cancel_timer(t);
            }
            link.attempts = 0;
            self.send_sync(p, cx);
        }
    }

    /// Begins a new resync pass for `p` at the ring's head.
    fn begin_pass(&mut self, p: usize) {
        let start = self.queue.begin_pass(p);
        self.links[p].pass = Some(Pass { start, window: 0, dirty: false });
        self.stats.passes += 1;
    }

    /// Sends `p` the values found missing (in `self.items`) and the digest of the current
    /// window, and arms the timer for the answer. A pass whose start the ring has dropped
    /// starts over first (it could not end in a rejoin).
    fn send_sync<W: Workload<Timer = Timer>>(&mut self, p: usize, cx: &mut Ctx<'_, W>) {
        let Some(pass) = self.links[p].pass else { return };
        let pass = if self.queue.cursor(p).pin == Pin::Pass(pass.start) {
            pass
        } else {
            self.begin_pass(p);
            self.links[p].pass.unwrap_or(pass)
        };
        self.nums.clear();
        let cut = self.queue.seen.digests(pass.window, MAX_DIGESTS, &mut self.nums);
        let Gossip { names, queue, items, nums, .. } = self;
        let chunks = batches(&queue.seen, items);
        for chunk in &chunks[..chunks.len().saturating_sub(1)] {
            cx.send(&names[p], SYNC, |b| {
                b.u64("p", pass.start)
                    .arr("v", |a| chunk.iter().for_each(|&x| queue.seen.write(x, a)));
            });
        }
        let last = chunks.last().copied().unwrap_or(&[]);
        cx.send(&names[p], SYNC, |b| {
            b.u64("p", pass.start);
            if !last.is_empty() {
                b.arr("v", |a| last.iter().for_each(|&x| queue.seen.write(x, a)));
            }
            b.u64("f", u64::from(pass.window)).u64s("d", nums.iter().copied());
            if let Some(t) = cut {
                b.u64("t", u64::from(t));
            }
        });
        self.stats.synced += items.len() as u64;
        items.clear();
        nums.clear();
        let link = &mut self.links[p];
        link.last_sent = cx.now();
        link.attempts += 1;
        link.nudged = false;
        if let Some(t) = link.retransmit.take() {
            cx.cancel_timer(t);
        }
        let wait = backoff(self.tuning.retry, self.tuning.sync_cap, link.attempts, cx.rng().unit());
        link.retransmit = Some(cx.set_timer(cx.now() + wait, Timer::Retransmit(p as u32)));
    }

    /// A `sync` from `p`, which is resynchronising us: learn its values, and answer its
    /// digest with our content of every block that differs.
    #[inline(never)]
    fn on_sync<W: Workload<Timer = Timer>>(
        &mut self,
        req: &Msg<'_, '_>,
        cx: &mut Ctx<'_, W>,
    ) -> Result<(), Reject> {
        let p = self.sender(req)?;
        let s = protocol::Sync::read(req, S::accepts)?;
        let fresh = s.v.is_some_and(|v| self.learn_all(v, p));
        if fresh && self.tuning.holds.is_some() {
            self.held(p as u32, false, cx.now());
        }
        if let Some((f, d)) = s.d {
            self.nums.clear();
            self.nums.extend(d.iter().filter_map(|x| x.as_u64()));
            self.have.clear();
            let stop = self.queue.seen.compare(&self.nums, HAVE_BUDGET, &mut self.have);
            self.nums.clear();
            let stop = match stop {
                Ok(stop) => stop,
                Err(e) => {
                    // The values were learned all the same: first resync any peer they lapped
                    // (a lapped peer is off the ring, and only a pass puts it back).
                    self.after_learning(fresh && self.router.role == Role::Hub, cx);
                    self.check();
                    return Err(Reject::new(ErrorCode::MalformedRequest, e));
                }
            };
            let next = stop.or(s.t);
            let have = &self.have;
            cx.send(&self.names[p], SYNC_HAVE, |b| {
                b.u64("p", s.p).u64("f", u64::from(f));
                if let Some(n) = next {
                    b.u64("n", u64::from(n));
                }
                b.u64s("h", have.iter().copied());
            });
            self.have.clear();
        }
        self.heard_from(p, cx);
        self.after_learning(fresh && self.router.role == Role::Hub, cx);
        self.check();
        Ok(())
    }

    /// `p`'s answer to our digest: find what it lacks, then continue the pass, start another,
    /// or put `p` back on the ring.
    #[inline(never)]
    fn on_sync_have<W: Workload<Timer = Timer>>(
        &mut self,
        req: &Msg<'_, '_>,
        cx: &mut Ctx<'_, W>,
    ) -> Result<(), Reject> {
        let p = self.sender(req)?;
        let h = protocol::SyncHave::read(req)?;
        let current = self.links[p].pass.filter(|pass| pass.start == h.p && pass.window == h.f);
        let Some(mut pass) = current else {
            // An answer to an earlier digest, or from a peer we are not resynchronising.
            self.heard_from(p, cx);
            return Ok(());
        };
        self.nums.clear();
        self.nums.extend(h.h.iter().filter_map(|x| x.as_u64()));
        self.items.clear();
        let stop = self.queue.seen.missing(&mut self.nums, SYNC_BUDGET, &mut self.items);
        self.nums.clear();
        let stop = match stop {
            Ok(stop) => stop,
            Err(e) => {
                self.items.clear();
                return Err(Reject::new(ErrorCode::MalformedRequest, e));
            }
        };
        let link = &mut self.links[p];
        link.attempts = 0;
        link.nudged = false;
        if let Some(t) = link.retransmit.take() {
            cx.cancel_timer(t);
        }
        pass.dirty |= !self.items.is_empty();
        match stop.or(h.n) {
            Some(next) => {
                pass.window = next;
                self.links[p].pass = Some(pass);
                self.send_sync(p, cx);
            }
            None if pass.dirty => {
                // Values went out this pass: the next pass checks that they arrived.
                self.begin_pass(p);
                self.send_sync(p, cx);
            }
            None => self.rejoin(p, pass, cx),
        }
        self.check();
        Ok(())
    }

    /// A pass found nothing missing: `p` holds everything we held at the pass's start.
    fn rejoin<W: Workload<Timer = Timer>>(&mut self, p: usize, pass: Pass, cx: &mut Ctx<'_, W>) {
        if !self.queue.rejoin(p, pass.start) {
            // The ring could not keep the pass's start: once more from the head.
            self.begin_pass(p);
            self.send_sync(p, cx);
            return;
        }
        self.stats.rejoined += 1;
        let link = &mut self.links[p];
        link.pass = None;
        link.floor = true;
        link.attempts = 0;
        link.nudged = false;
        if self.queue.has_new(p) {
            self.send_data(p, false, cx);
            let at = cx.now() + self.tuning.rto;
            self.links[p].retransmit = Some(cx.set_timer(at, Timer::Retransmit(p as u32)));
        }
    }

    /// Checks the links' invariants against the queues (debug builds).
    fn check(&self) {
        if cfg!(debug_assertions) {
            self.queue.check_all();
            for &p in &self.peers {
                let (link, p) = (&self.links[p as usize], p as usize);
                assert!(link.told <= link.recv, "{p}: told {} > recv {}", link.told, link.recv);
                match link.pass {
                    Some(pass) => {
                        assert!(!self.queue.on_ring(p), "{p} resyncing but on the ring");
                        assert!(!link.floor);
                        let pin = self.queue.cursor(p).pin;
                        assert!(pin == Pin::Pass(pass.start) || pin == Pin::Loose, "{p}: {pin:?}");
                    }
                    None => assert!(self.queue.on_ring(p), "{p} off the ring without a pass"),
                }
            }
        }
    }
}

/// `items` cut into messages of at most [`MAX_BATCH`] elements and about [`MAX_BATCH_BYTES`]
/// (at least one element each).
fn batches<'a, S: Set>(set: &S, items: &'a [S::Item]) -> Vec<&'a [S::Item]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, &x) in items.iter().enumerate() {
        if i > start && (i - start == MAX_BATCH || bytes >= MAX_BATCH_BYTES) {
            out.push(&items[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += set.size(x);
    }
    if start < items.len() {
        out.push(&items[start..]);
    }
    out
}

/// How long to wait after the `attempt`-th retransmission (`attempt >= 1`):
/// `retry * 2^(attempt - 1)`, capped at `cap`, times a jitter factor in `[0.8, 1.2)` drawn
/// from `unit` (uniform in `[0, 1)`).
pub fn backoff(retry: Duration, cap: Duration, attempt: u32, unit: f64) -> Duration {
    let doublings = attempt.saturating_sub(1).min(16);
    let base = retry.saturating_mul(1 << doublings).min(cap);
    base.mul_f64(0.8 + 0.4 * unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{PADDING, Parser};
    use crate::workload::broadcast::queue::seen::ValueSet;
    use crate::workload::g_set::elements::Elements;

    #[test]
    fn batches_cut_by_count_and_by_bytes() {
        let ints: Vec<u64> = (0..40_000).collect();
        let lens: Vec<usize> = batches(&ValueSet::new(), &ints).iter().map(|b| b.len()).collect();
        assert_eq!(lens, [MAX_BATCH, MAX_BATCH, 40_000 - 2 * MAX_BATCH]);
        assert!(batches(&ValueSet::new(), &[]).is_empty());
        // 100 KB elements: eleven to a message (the one that passes 1 MiB is the last in).
        let mut set = Elements::new();
        let items: Vec<u64> = (0..30)
            .map(|k| {
                let mut line = format!(r#""{k:02}{}""#, "x".repeat(100_000)).into_bytes();
                let len = line.len();
                line.resize(len + PADDING, b' ');
                Parser::new()
                    .parse_value(&mut line, len, |v| set.read(v.unwrap().unwrap()).unwrap())
            })
            .collect();
        let lens: Vec<usize> = batches(&set, &items).iter().map(|b| b.len()).collect();
        assert_eq!(lens, [11, 11, 8]);
    }
}
