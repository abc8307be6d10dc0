//! The g-set's link layer: the broadcast node's design (one append-only log of the elements in
//! the order this node learned them, a few cursors into it per peer, cumulative
//! acknowledgements piggybacked on data, one retransmission deadline per peer with backoff),
//! carrying the g-set's JSON elements ([`Elements`]), with holds chosen per peer and per kind
//! of element (a node's own, or relayed).
//!
//! A stopgap, kept apart so it is easy to move: branch `ring` is restructuring the broadcast
//! node into `queue` / `gossip` / `protocol` modules generic over the element set. Once they
//! land, this module gives way to `broadcast::gossip::Gossip<Elements>` (with `Elements`
//! implementing its `Set`), and the hold rule below moves into its flush policy. The API here
//! ([`Gossip::learn_local`], [`Gossip::handle`], [`Gossip::on_timer`]) has that module's shape.
//!
//! # Plan
//!
//! With `n ≥ 3` nodes the first of `node_ids` is a hub: every other node (a leaf) sends its
//! clients' elements to the hub only, and the hub relays each leaf's elements to the other
//! leaves. Two nodes are each other's only peer; one node has none.
//!
//! # Holds and batches
//!
//! Maelstrom counts messages, not bytes, so a message should carry as much as it can. Each
//! peer's link notes since when an element for it has waited, separately for the node's own
//! elements and for relayed ones, and how many of its own wait. A leaf's own elements go when
//! `batch` of them wait ([`Tuning::batch`]) or the oldest has waited `hold`: under load a batch
//! by count costs the same messages as one by time but waits less (with arrivals spread
//! evenly, every element of a batch of `k` waits `(k - 1) / 2` gaps on average, where a
//! timer started by the first makes it wait half the hold plus that first element's full
//! hold), and the hold bounds the wait when clients are sparse. The hub relays at once when it
//! has at most two leaves (a relay can then only carry one leaf's batch to the other, so
//! holding it saves nothing), after `relay` otherwise; its own elements wait `hub_hold`, so
//! under load they ride on relays. With three nodes a round of four messages (each leaf's
//! batch to the hub, the hub's relay of each to the other leaf, which also acknowledges that
//! leaf's last batch) moves every element to every node.
//!
//! # The link protocol (the broadcast node's, field for field)
//!
//! - `gossip {s, e, a, v, r?}`: the sender's log range `[s, e)` (its elements for this
//!   receiver, in `v`), a cumulative acknowledgement `a` of the receiver's log, and `r` on a
//!   retransmission. The receiver advances its receive position to `e` when `s` is at or
//!   before it, so acknowledgements never claim what was lost.
//! - `gossip_ack {a}`: a standalone acknowledgement, sent when no data has carried one within
//!   `ack_delay`, or at once to answer a retransmission.
//! - Unacknowledged elements are resent `rto` after the last send, then backing off from
//!   `retry` to `rto_cap` with jitter; while a peer is suspect new elements for it wait for the
//!   next retransmission, and a message from it triggers one early resend per interval. Timers
//!   run only while something is pending: an idle cluster sends nothing.

use std::time::Duration;

use hashbrown::HashMap;

use super::elements::Elements;
use crate::node::{Ctx, Reject, Workload};
use crate::proto::{ErrorCode, FieldError, Msg};
use crate::time::Instant;
use crate::time::wheel::TimerId;

/// The most elements one `gossip` message carries; a larger backlog goes out in several.
pub const MAX_BATCH: usize = 16_384;

/// The most element bytes one `gossip` message carries (at least one element goes in each).
pub const MAX_BATCH_BYTES: usize = 1 << 20;

/// Body type of a data message between nodes.
pub const GOSSIP: &str = "gossip";
/// Body type of a standalone acknowledgement.
pub const GOSSIP_ACK: &str = "gossip_ack";

/// Every tunable of the link layer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// How long a leaf (or either node of two) holds its clients' elements before sending.
    pub hold: Duration,
    /// How long the hub holds its clients' elements at most (relays usually carry them
    /// sooner).
    pub hub_hold: Duration,
    /// How long the hub holds relayed elements; `None`: at once when it has at most two
    /// leaves, `hold / 4` otherwise.
    pub relay: Option<Duration>,
    /// How long a node waits for data to piggyback an acknowledgement on before sending it on
    /// its own. Should exceed `hold`, so that a leaf's next batch carries it.
    pub ack_delay: Duration,
    /// The retransmission timeout after a send. Must exceed `ack_delay` plus a round trip.
    pub rto: Duration,
    /// The wait after the first retransmission, doubling up to `rto_cap`; a retransmission
    /// is answered at once, so this only has to exceed a round trip.
    pub retry: Duration,
    /// The longest retransmission interval.
    pub rto_cap: Duration,
    /// A leaf (or either node of two) sends its held elements at once when this many have
    /// gathered, whatever their age; `usize::MAX` turns this off.
    pub batch: usize,
    /// The same for the hub's own elements, per leaf (off by default: they ride on relays).
    pub hub_batch: usize,
}

/// The timers of the link layer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Send held elements to every peer whose hold is over.
    Flush,
    /// Acknowledge what this peer sent us, if no data has carried the acknowledgement yet.
    Ack(u32),
    /// This peer has not acknowledged our data in time: resend it.
    Retransmit(u32),
}

/// One node's view of the link to a peer, both directions.
#[derive(Clone, Debug, Default)]
struct Link {
    /// The peer's cumulative acknowledgement of our log; data messages start here.
    /// Invariant: `base <= acked`.
    base: usize,
    /// Our log positions below this need not be sent to the peer again: acknowledged, or not
    /// for it. Invariant: `acked <= sent <= log.len()`, and after [`Gossip::settle`],
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
    /// When we last sent the peer data.
    last_sent: Instant,
    /// Since when one of our own elements has waited to be sent to the peer.
    own_since: Option<Instant>,
    /// Since when a relayed element has waited to be sent to the peer.
    relay_since: Option<Instant>,
    /// How many of our own elements wait to be sent to the peer.
    own_held: usize,
    /// Some elements for the peer reached us in a retransmission: the next data message to
    /// it is flagged `r` too (answered at once) and timed like a retransmission, so a loss
    /// on the next hop is repaired within `retry`, not `rto`.
    urgent: bool,
}

/// The gossip side of the g-set node: the element set, the log, and the links.
#[derive(Debug)]
pub struct Gossip {
    tuning: Tuning,
    /// The relay hold in force (from [`Tuning::relay`]).
    relay: Duration,
    /// This node's index.
    me: u32,
    /// Whether this node relays elements from one peer to the others (the star's hub).
    hub: bool,
    /// Node ids, by index (our own copy: `Ctx::ids` cannot be borrowed while sending).
    names: Vec<Box<str>>,
    /// Node index by id.
    index: HashMap<Box<str>, u32>,
    /// The nodes this node sends data to.
    peers: Vec<u32>,
    /// Every element this node has. Invariant: the same elements as `log`.
    set: Elements,
    /// The elements' items in the order this node learned them; append-only.
    log: Vec<u64>,
    /// `from[i]`: the index of the node `log[i]` came from (ours for our clients').
    /// Invariant: `from.len() == log.len()`.
    from: Vec<u32>,
    /// One link per node in `names` (our own is unused).
    links: Vec<Link>,
    /// The pending flush timer and its deadline.
    flush: Option<(TimerId, Instant)>,
}

impl Gossip {
    /// The gossip state of the node `cx` belongs to (called from [`Workload::init`]).
    pub fn new<W: Workload<Timer = Timer>>(cx: &mut Ctx<'_, W>, tuning: Tuning) -> Self {
        let names: Vec<Box<str>> = cx.ids().iter().map(|s| s.as_str().into()).collect();
        let n = names.len();
        // A node missing from node_ids gets index n and gossips with no one (the others
        // would reject it); Maelstrom never does this.
        let me = cx.index();
        let index = names.iter().enumerate().map(|(i, s)| (s.clone(), i as u32)).collect();
        let hub = me == 0 && n >= 3;
        let peers: Vec<u32> = if me >= n {
            Vec::new()
        } else if me == 0 || n == 2 {
            (0..n as u32).filter(|&i| i as usize != me).collect()
        } else {
            vec![0]
        };
        let relay = tuning.relay.unwrap_or(if n <= 3 { Duration::ZERO } else { tuning.hold / 4 });
        cx.log(format_args!(
            "{} with {} peers, relay {relay:?}, {tuning:?}",
            if hub { "hub" } else { "leaf" },
            peers.len()
        ));
        Gossip {
            tuning,
            relay,
            me: u32::try_from(me).unwrap_or(u32::MAX),
            hub,
            names,
            index,
            peers,
            set: Elements::new(),
            log: Vec::with_capacity(1024),
            from: Vec::with_capacity(1024),
            links: vec![Link::default(); n],
            flush: None,
        }
    }

    /// The element set.
    pub fn set(&self) -> &Elements {
        &self.set
    }

    /// The element set, to read (intern) elements before learning them.
    pub fn set_mut(&mut self) -> &mut Elements {
        &mut self.set
    }

    /// The elements' items, in the order this node learned them.
    pub fn log(&self) -> &[u64] {
        &self.log
    }

    /// Whether this node is the star's hub.
    pub fn is_hub(&self) -> bool {
        self.hub
    }

    /// The tuning in force.
    pub fn tuning(&self) -> Tuning {
        self.tuning
    }

    /// Whether any timer is pending (false once the node is quiet).
    pub fn busy(&self) -> bool {
        self.flush.is_some() || self.links.iter().any(|l| l.retransmit.is_some() || l.ack.is_some())
    }

    /// Adds an element from this node's clients (an item from [`Elements::read`]).
    pub fn learn_local<W: Workload<Timer = Timer>>(&mut self, x: u64, cx: &mut Ctx<'_, W>) {
        if self.learn(x, self.me) {
            self.held(self.me, cx);
            self.schedule(cx);
        }
    }

    /// Handles a link message; `None` if `req` is not one (the caller handles it).
    pub fn handle<W: Workload<Timer = Timer>>(
        &mut self,
        req: &Msg<'_, '_>,
        cx: &mut Ctx<'_, W>,
    ) -> Option<Result<(), Reject>> {
        Some(match req.kind {
            GOSSIP => self.on_gossip(req, cx),
            GOSSIP_ACK => (|| {
                let p = self.sender(req)?;
                let a = req.u64("a")?;
                self.on_ack(p, a, cx);
                self.heard_from(p, cx);
                Ok(())
            })(),
            _ => return None,
        })
    }

    /// Handles a timer of the link layer.
    pub fn on_timer<W: Workload<Timer = Timer>>(&mut self, timer: Timer, cx: &mut Ctx<'_, W>) {
        match timer {
            Timer::Flush => {
                self.flush = None;
                self.schedule(cx);
            }
            Timer::Ack(p) => {
                let p = p as usize;
                self.links[p].ack = None;
                if self.links[p].told < self.links[p].recv {
                    self.answer(p, cx);
                }
            }
            Timer::Retransmit(p) => self.retransmit(p as usize, cx),
        }
    }

    /// Adds an element learned from node `from`; returns whether it was new.
    fn learn(&mut self, x: u64, from: u32) -> bool {
        let fresh = self.set.insert(x);
        if fresh {
            self.log.push(x);
            self.from.push(from);
        }
        fresh
    }

    /// Whether an element that came from node `from` is sent on to node `to`.
    fn relays(&self, from: u32, to: usize) -> bool {
        if self.hub { from as usize != to } else { from == self.me }
    }

    /// Notes that new elements from node `from` wait for every peer they are for.
    fn held<W: Workload<Timer = Timer>>(&mut self, from: u32, cx: &mut Ctx<'_, W>) {
        let now = cx.now();
        for k in 0..self.peers.len() {
            let p = self.peers[k] as usize;
            if self.relays(from, p) {
                let link = &mut self.links[p];
                if from == self.me {
                    link.own_since.get_or_insert(now);
                    link.own_held += 1;
                } else {
                    link.relay_since.get_or_insert(now);
                }
            }
        }
    }

    /// When the elements held for peer `p` are due, if any are held.
    fn due(&self, p: usize) -> Option<Instant> {
        let l = &self.links[p];
        let batch = if self.hub { self.tuning.hub_batch } else { self.tuning.batch };
        if l.own_held >= batch {
            return l.own_since;
        }
        let own = if self.hub { self.tuning.hub_hold } else { self.tuning.hold };
        match (l.own_since.map(|t| t + own), l.relay_since.map(|t| t + self.relay)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sends what is due now and arms the flush timer for the next deadline.
    fn schedule<W: Workload<Timer = Timer>>(&mut self, cx: &mut Ctx<'_, W>) {
        let now = cx.now();
        let mut next: Option<Instant> = None;
        for k in 0..self.peers.len() {
            let p = self.peers[k] as usize;
            let Some(at) = self.due(p) else { continue };
            if self.links[p].attempts > 0 {
                // Suspect: the next retransmission carries everything (and clears the hold);
                // if the peer acknowledges before then, the next call sends at once.
                continue;
            }
            if at <= now {
                self.send_and_arm(p, cx);
            } else {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        match (self.flush, next) {
            (Some((_, at)), Some(want)) if at <= want => {}
            (current, want) => {
                if let Some((t, _)) = current {
                    cx.cancel_timer(t);
                }
                self.flush = want.map(|at| (cx.set_timer(at, Timer::Flush), at));
            }
        }
    }

    /// Moves `acked` past log entries that are not for peer `p`.
    fn settle(&mut self, p: usize) {
        let (hub, me) = (self.hub, self.me);
        let relays = |from: u32| if hub { from as usize != p } else { from == me };
        let link = &mut self.links[p];
        while link.acked < link.sent && !relays(self.from[link.acked]) {
            link.acked += 1;
        }
    }

    /// Whether the log holds elements for `p` that have not been sent to it yet. Moves
    /// `sent` to the end of the log when there are none.
    fn has_new(&mut self, p: usize) -> bool {
        let sent = self.links[p].sent;
        if self.from[sent..].iter().any(|&f| self.relays(f, p)) {
            return true;
        }
        self.links[p].sent = self.log.len();
        self.settle(p);
        false
    }

    /// Sends `p` what it lacks ([`Gossip::send_data`]) and times it: as a retransmission if
    /// it was urgent, else with a full `rto`.
    fn send_and_arm<W: Workload<Timer = Timer>>(&mut self, p: usize, cx: &mut Ctx<'_, W>) {
        if self.send_data(p, false, cx) {
            self.backed_off(p, cx);
        } else {
            self.arm_retransmit(p, cx);
        }
    }

    /// Sends `p` everything it has not acknowledged, up to the end of the log, with our
    /// acknowledgement of its data. Several messages if the backlog exceeds [`MAX_BATCH`]
    /// elements or [`MAX_BATCH_BYTES`] bytes. Clears the holds for `p`. Flagged `r` when
    /// `retransmit` or the link is urgent; returns whether an urgent send was flagged.
    fn send_data<W: Workload<Timer = Timer>>(
        &mut self,
        p: usize,
        retransmit: bool,
        cx: &mut Ctx<'_, W>,
    ) -> bool {
        self.settle(p);
        let (hub, me) = (self.hub, self.me);
        let relays = |from: u32| if hub { from as usize != p } else { from == me };
        let Gossip { names, log, from, links, set, .. } = self;
        let link = &mut links[p];
        link.own_since = None;
        link.relay_since = None;
        link.own_held = 0;
        let urgent = std::mem::take(&mut link.urgent);
        let retransmit = retransmit || urgent;
        // The first message starts at what the peer has; the scan at what it still needs.
        let mut start = link.base;
        let mut scan = link.acked;
        let mut sent_any = false;
        while let Some(first) = (scan..log.len()).find(|&i| relays(from[i])) {
            let mut end = log.len();
            cx.send(&names[p], GOSSIP, |b| {
                b.u64("s", start as u64).u64("a", link.recv);
                if retransmit {
                    b.u64("r", 1);
                }
                b.arr("v", |a| {
                    let (mut n, mut bytes) = (0, 0);
                    for i in first..log.len() {
                        if relays(from[i]) {
                            if n == MAX_BATCH || bytes >= MAX_BATCH_BYTES {
                                end = i;
                                break;
                            }
                            bytes += set.write(log[i], a);
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
            return false;
        }
        link.last_sent = cx.now();
        link.told = link.recv;
        if let Some(t) = link.ack.take() {
            cx.cancel_timer(t);
        }
        urgent
    }

    /// After a send to `p`: while it has not acknowledged everything, the retransmission
    /// timer runs a full `rto` from now (each message carries everything from the peer's
    /// acknowledgement on, so only the last one matters). A suspect peer keeps its backoff.
    fn arm_retransmit<W: Workload<Timer = Timer>>(&mut self, p: usize, cx: &mut Ctx<'_, W>) {
        self.settle(p);
        let link = &mut self.links[p];
        if link.attempts > 0 && link.retransmit.is_some() {
            return;
        }
        if let Some(t) = link.retransmit.take() {
            cx.cancel_timer(t);
        }
        if link.acked < link.sent {
            let at = cx.now() + self.tuning.rto;
            link.retransmit = Some(cx.set_timer(at, Timer::Retransmit(p as u32)));
        }
    }

    /// Sends `p` a standalone acknowledgement of its data.
    fn send_ack<W: Workload<Timer = Timer>>(&mut self, p: usize, cx: &mut Ctx<'_, W>) {
        let link = &mut self.links[p];
        cx.send(&self.names[p], GOSSIP_ACK, |b| {
            b.u64("a", link.recv);
        });
        link.told = link.recv;
        if let Some(t) = link.ack.take() {
            cx.cancel_timer(t);
        }
    }

    /// Acknowledges `p`'s data now: on data we hold for it, if any (the hold ends early: the
    /// message is due anyway), else on its own.
    fn answer<W: Workload<Timer = Timer>>(&mut self, p: usize, cx: &mut Ctx<'_, W>) {
        if self.links[p].attempts == 0 && self.has_new(p) {
            self.send_and_arm(p, cx);
            self.schedule(cx);
        } else {
            self.send_ack(p, cx);
        }
    }

    /// Handles `p`'s acknowledgement of our log up to position `a`.
    fn on_ack<W: Workload<Timer = Timer>>(&mut self, p: usize, a: u64, cx: &mut Ctx<'_, W>) {
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
        if was_suspect {
            // Elements held back while it was suspect go out if due.
            self.schedule(cx);
        }
    }

    /// Resends everything `p` has not acknowledged and backs off.
    fn retransmit<W: Workload<Timer = Timer>>(&mut self, p: usize, cx: &mut Ctx<'_, W>) {
        self.links[p].retransmit = None;
        self.settle(p);
        if self.links[p].acked == self.links[p].sent {
            self.links[p].attempts = 0;
            return;
        }
        self.send_data(p, true, cx);
        self.backed_off(p, cx);
    }

    /// After a retransmission (or an urgent send) to `p`: one more attempt, and the next
    /// deadline on the backoff schedule.
    fn backed_off<W: Workload<Timer = Timer>>(&mut self, p: usize, cx: &mut Ctx<'_, W>) {
        let link = &mut self.links[p];
        if let Some(t) = link.retransmit.take() {
            cx.cancel_timer(t);
        }
        link.attempts += 1;
        link.nudged = false;
        let wait = backoff(self.tuning, link.attempts, cx.rng().unit());
        link.retransmit = Some(cx.set_timer(cx.now() + wait, Timer::Retransmit(p as u32)));
    }

    /// `p` just reached us: if it is suspect, resend now rather than at the next backoff
    /// deadline; at most once per backoff interval, and not within `retry` of our last send
    /// (the message may be the answer to it). Returns whether it sent anything.
    fn heard_from<W: Workload<Timer = Timer>>(&mut self, p: usize, cx: &mut Ctx<'_, W>) -> bool {
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

    /// The node index of a message's sender, which must be another node of `node_ids`.
    fn sender(&self, req: &Msg<'_, '_>) -> Result<usize, Reject> {
        match self.index.get(req.src) {
            Some(&i) if i != self.me => Ok(i as usize),
            _ => Err(Reject::new(
                ErrorCode::MalformedRequest,
                format!("`{}` from `{}`, which is not another node", req.kind, req.src),
            )),
        }
    }

    fn on_gossip<W: Workload<Timer = Timer>>(
        &mut self,
        req: &Msg<'_, '_>,
        cx: &mut Ctx<'_, W>,
    ) -> Result<(), Reject> {
        let p = self.sender(req)?;
        let s = req.u64("s")?;
        let e = req.u64("e")?;
        let a = req.u64("a")?;
        let vals = req.arr("v")?;
        if e < s {
            return Err(FieldError::invalid("e", "at least `s`").into());
        }
        // Read every element before taking any, so a refused message changes nothing.
        let mut items = Vec::with_capacity(vals.len());
        for v in vals.iter() {
            match self.set.read(v) {
                Some(x) => items.push(x),
                None => {
                    return Err(Reject::new(
                        ErrorCode::TemporarilyUnavailable,
                        "the element table is full",
                    ));
                }
            }
        }
        let retransmitted = req.get("r").is_some();
        self.on_ack(p, a, cx);
        let mut fresh = false;
        for x in items {
            fresh |= self.learn(x, p as u32);
        }
        let link = &mut self.links[p];
        if s <= link.recv && e > link.recv {
            link.recv = e;
        }
        if fresh {
            if retransmitted {
                for k in 0..self.peers.len() {
                    let q = self.peers[k] as usize;
                    if self.relays(p as u32, q) {
                        self.links[q].urgent = true;
                    }
                }
            }
            self.held(p as u32, cx);
            self.schedule(cx);
        }
        // Resending to a suspect peer carries our acknowledgement too.
        let resent = self.heard_from(p, cx);
        let link = &mut self.links[p];
        if link.told < link.recv {
            if retransmitted && !resent {
                // The sender missed our acknowledgement (or its data was lost): answer now.
                self.answer(p, cx);
            } else if link.ack.is_none() {
                let at = cx.now() + self.tuning.ack_delay;
                link.ack = Some(cx.set_timer(at, Timer::Ack(p as u32)));
            }
        } else if retransmitted && !resent {
            self.send_ack(p, cx);
        }
        Ok(())
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
