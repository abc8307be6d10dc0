//! g-set: a grow-only set of JSON elements (Maelstrom's CRDT chapter), replicated by the
//! broadcast node's queue and gossip layers ([`crate::workload::broadcast::gossip`]: a bounded
//! ring with cursors per peer, cumulative acknowledgements, retransmission with backoff, and
//! resync by digests), over a star, with the per-peer holds and batches of
//! [`broadcast::tuning::Holds`] chosen for few messages at sub-second staleness.
//!
//! A grow-only set is a CRDT whose merge is union: an element, once added anywhere, is relayed
//! until every node has it, in any order and with any duplication, so replicas converge once
//! the links have delivered everything. Reads answer from the local set at once.
//!
//! Elements are any JSON value (Maelstrom's generator draws the integers 0, 1, 2, ...; those
//! take a fast path): see [`elements`].
//!
//! # Plan and holds
//!
//! With `n ≥ 3` nodes the first of `node_ids` is a hub: every other node (a leaf) sends its
//! clients' elements to the hub only, and the hub relays each leaf's elements to the other
//! leaves. Maelstrom counts messages, not bytes, so a message should carry as much as it can.
//! A leaf's elements go when [`Tuning::batch`] of them wait, or when the oldest has waited
//! [`Tuning::hold`]: under load a batch by count costs the same messages as one by time but
//! waits less (with arrivals spread evenly, the elements of a batch of `k` wait `(k - 1) / 2`
//! gaps on average, where a timer started by the first makes that one wait the whole hold and
//! the rest half of it), and the hold bounds the wait when clients are sparse. With at most
//! two leaves the hub relays at once (a relay can then only carry one leaf's batch to the
//! other, so holding it saves nothing); its own elements wait for [`Tuning::hub_batch`] of
//! them or [`Tuning::hub_hold`], so under load they ride on relays. With three nodes a round
//! of four messages (each leaf's batch to the hub, the hub's relay of each to the other leaf,
//! which also acknowledges that leaf's last batch) moves every element to every node.
//! Elements that arrived in a retransmission are relayed urgently (flagged `r`, answered at
//! once, retried on the backoff schedule), so a loss on the next hop costs ~0.5 s, not a
//! timeout.

pub mod elements;

#[cfg(test)]
mod tests;

use std::time::Duration;

use self::elements::Elements;
use crate::node::{Ctx, Reject, Workload};
use crate::proto::{ErrorCode, Msg};
use crate::workload::broadcast::gossip::{Gossip, Timer};
use crate::workload::broadcast::queue::Set;
use crate::workload::broadcast::{self, Plan};

/// How much longer than the leaves' hold the acknowledgement delay is by default: a leaf's
/// next batch then carries its acknowledgement of the hub's last relay.
const ACK_AFTER_HOLD: Duration = Duration::from_millis(500);

/// How much longer than the acknowledgement delay the first retransmission timeout is by
/// default: room for the acknowledgement's round trip.
const RTO_AFTER_ACK: Duration = Duration::from_millis(500);

/// The g-set node's knobs (see the module documentation for what each does).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// How long a leaf (or either node of two) holds its clients' elements at most.
    pub hold: Duration,
    /// A leaf sends when this many of its clients' elements wait.
    pub batch: usize,
    /// How long the hub holds its clients' elements at most.
    pub hub_hold: Duration,
    /// The hub sends its clients' elements to a leaf when this many wait for it.
    pub hub_batch: usize,
    /// How long the hub holds relayed elements; `None`: at once when it has at most two
    /// leaves, `hold / 4` otherwise.
    pub relay: Option<Duration>,
    /// How long a node waits for data to piggyback an acknowledgement on before sending it on
    /// its own.
    pub ack_delay: Duration,
    /// The first retransmission timeout; must exceed `ack_delay` plus a round trip.
    pub rto: Duration,
    /// The wait after the first retransmission, doubling up to `rto_cap`.
    pub retry: Duration,
    /// The longest retransmission interval.
    pub rto_cap: Duration,
    /// The bound of the ring of pending elements (entries; see the broadcast node's).
    pub ring: usize,
}

/// The default tuning: a leaf sends when 3 of its clients' elements wait or the oldest has
/// waited 3.25 s; the hub relays at once (three nodes), and its own elements ride on relays or
/// go when 20 wait or the oldest has waited 4.875 s (1.5 times the hold); acknowledgements wait
/// 3.75 s for data to ride on, and the first retransmission comes after 4.25 s. At Maelstrom's
/// CRDT settings (3 nodes, rate 10) about 0.205 msgs-per-op and 0.75-0.81 s median stable
/// latency, where Maelstrom's demos send 0.22-0.24 at about 2 s (figures in the README).
/// Longer holds or acknowledgement delays save a few more messages (0.197-0.20) but leave too
/// little of the 10 s of quiet to repair a final batch lost twice (seeded-fault failures).
pub const DEFAULT: Tuning = Tuning {
    hold: Duration::from_millis(3250),
    batch: 3,
    hub_hold: Duration::from_millis(4875),
    hub_batch: 20,
    relay: None,
    ack_delay: Duration::from_millis(3750),
    rto: Duration::from_millis(4250),
    retry: Duration::from_millis(500),
    rto_cap: Duration::from_millis(2000),
    ring: broadcast::tuning::RING,
};

impl Tuning {
    /// Reads the binary's command-line words: `--hold-ms=N`, `--batch=N`, `--hub-hold-ms=N`,
    /// `--hub-batch=N`, `--relay-ms=N`, `--ack-ms=N`, `--rto-ms=N`, `--retry-ms=N`,
    /// `--rto-cap-ms=N` and `--ring=N` override [`DEFAULT`]. Unless given, the hub's hold is 1.5
    /// times the hold, the acknowledgement delay the hold plus 0.5 s, and the timeout that plus
    /// 0.5 s. Returns the tuning and the words it did not understand.
    pub fn from_args(args: &[String]) -> (Tuning, Vec<String>) {
        let mut t = DEFAULT;
        let mut ignored = Vec::new();
        let (mut hub_set, mut ack_set, mut rto_set) = (false, false, false);
        for arg in args {
            let Some((k, v)) = arg.strip_prefix("--").and_then(|a| a.split_once('=')) else {
                ignored.push(arg.clone());
                continue;
            };
            let (ms, n) = (v.parse().ok().map(Duration::from_millis), v.parse::<usize>().ok());
            match (k, ms, n) {
                ("hold-ms", Some(d), _) => t.hold = d,
                ("hub-hold-ms", Some(d), _) => (t.hub_hold, hub_set) = (d, true),
                ("relay-ms", Some(d), _) => t.relay = Some(d),
                ("ack-ms", Some(d), _) => (t.ack_delay, ack_set) = (d, true),
                ("rto-ms", Some(d), _) if !d.is_zero() => (t.rto, rto_set) = (d, true),
                ("retry-ms", Some(d), _) if !d.is_zero() => t.retry = d,
                ("rto-cap-ms", Some(d), _) if !d.is_zero() => t.rto_cap = d,
                ("batch", _, Some(n)) if n > 0 => t.batch = n,
                ("hub-batch", _, Some(n)) if n > 0 => t.hub_batch = n,
                ("ring", _, Some(n)) if (2..=1 << 30).contains(&n) => t.ring = n,
                _ => ignored.push(arg.clone()),
            }
        }
        if !hub_set {
            t.hub_hold = t.hold.mul_f64(1.5);
        }
        if !ack_set {
            t.ack_delay = t.hold + ACK_AFTER_HOLD;
        }
        if !rto_set {
            t.rto = t.ack_delay + RTO_AFTER_ACK;
        }
        (t, ignored)
    }

    /// The gossip layer's tuning for a cluster of `n` nodes.
    pub fn gossip(&self, n: usize) -> broadcast::Tuning {
        broadcast::Tuning {
            plan: Plan::Star,
            origin_delay: self.hold,
            relay_delay: self.relay.unwrap_or(if n <= 3 { Duration::ZERO } else { self.hold / 4 }),
            ack_delay: self.ack_delay,
            rto: self.rto,
            retry: self.retry,
            rto_cap: self.rto_cap,
            ring: self.ring,
            holds: Some(broadcast::tuning::Holds {
                batch: self.batch,
                hub_delay: self.hub_hold,
                hub_batch: self.hub_batch,
            }),
            ..broadcast::Tuning::DEFAULT
        }
    }
}

/// The g-set workload.
#[derive(Debug)]
pub struct GSet {
    gossip: Gossip<Elements>,
}

impl GSet {
    /// The gossip layer (for tests and inspection).
    pub fn gossip(&self) -> &Gossip<Elements> {
        &self.gossip
    }

    /// Whether any timer is pending (false once the node is quiet).
    pub fn busy(&self) -> bool {
        self.gossip.busy()
    }
}

impl Workload for GSet {
    type Timer = Timer;
    type Call = ();

    fn init(cx: &mut Ctx<'_, Self>, args: &[String]) -> Self {
        let (tuning, ignored) = Tuning::from_args(args);
        cx.log_ignored_args(&ignored);
        let n = cx.ids().len();
        GSet { gossip: Gossip::new(cx, tuning.gossip(n)) }
    }

    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        match req.kind {
            "add" => {
                let v = req.field("element")?;
                let Some(x) = self.gossip.read(v) else {
                    return Err(Reject::new(
                        ErrorCode::TemporarilyUnavailable,
                        "the element table is full",
                    ));
                };
                cx.reply(req, "add_ok", |_| {});
                self.gossip.learn_local(x, cx);
            }
            "read" => {
                let set = self.gossip.set();
                cx.reply(req, "read_ok", |b| {
                    b.arr("value", |a| {
                        for x in set.iter() {
                            set.write(x, a);
                        }
                    });
                });
            }
            other => match self.gossip.handle(req, cx) {
                Some(handled) => handled?,
                None => return Err(Reject::unsupported(other)),
            },
        }
        Ok(())
    }

    fn on_timer(&mut self, timer: Timer, cx: &mut Ctx<'_, Self>) {
        self.gossip.on_timer(timer, cx);
    }
}
