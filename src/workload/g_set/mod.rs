//! g-set: a grow-only set of JSON elements (Maelstrom's CRDT chapter), replicated by the
//! broadcast node's link layer: an append-only log with cursors per peer, cumulative
//! acknowledgements, retransmission with backoff (see [`link`]), over a star with holds
//! chosen for few messages at sub-second staleness.
//!
//! A grow-only set is a CRDT whose merge is union: an element, once added anywhere, is
//! relayed until every node has it, in any order and with any duplication, so replicas
//! converge once the links have delivered everything. Reads answer from the local set at once.
//!
//! Elements are any JSON value (Maelstrom's generator draws the integers 0, 1, 2, ...; those
//! take a fast path): see [`elements`].

pub mod elements;
pub mod link;

#[cfg(test)]
mod tests;

use std::time::Duration;

use self::link::{Gossip, Timer, Tuning};
use crate::node::{Ctx, Reject, Workload};
use crate::proto::{ErrorCode, Msg};

/// How much longer than the leaves' hold the acknowledgement delay is by default: a leaf's
/// next batch then carries its acknowledgement of the hub's last relay.
const ACK_AFTER_HOLD: Duration = Duration::from_millis(500);

/// How much longer than the acknowledgement delay the first retransmission timeout is by
/// default: room for the acknowledgement's round trip.
const RTO_AFTER_ACK: Duration = Duration::from_millis(500);

/// The default tuning: a leaf sends when 4 of its clients' elements wait or the oldest has
/// waited 3 s; the hub relays at once (three nodes), and its own elements ride on relays or go
/// when 10 wait or the oldest has waited 4.5 s. See [`link`] for what each knob does and the
/// README for the figures (at Maelstrom's CRDT settings, 3 nodes and rate 10: about 0.20
/// msgs-per-op and 0.7 s median stable latency, where Maelstrom's demos send 0.22-0.24 at
/// about 2 s).
pub const DEFAULT: Tuning = Tuning {
    hold: Duration::from_millis(3000),
    hub_hold: Duration::from_millis(4500),
    relay: None,
    ack_delay: Duration::from_millis(3500),
    rto: Duration::from_millis(4000),
    retry: Duration::from_millis(500),
    rto_cap: Duration::from_millis(2000),
    batch: 4,
    hub_batch: 10,
};

/// Reads the binary's command-line words: `--hold-ms=N`, `--hub-hold-ms=N`, `--relay-ms=N`,
/// `--ack-ms=N`, `--rto-ms=N`, `--retry-ms=N`, `--rto-cap-ms=N`, `--batch=N` and
/// `--hub-batch=N` override [`DEFAULT`]. Unless given, the hub's hold is 1.5 times the hold,
/// the acknowledgement delay the hold plus 0.5 s, and the timeout that plus 0.5 s. Returns the
/// tuning and the words it did not understand.
pub fn tuning_from_args(args: &[String]) -> (Tuning, Vec<String>) {
    let mut t = DEFAULT;
    let mut ignored = Vec::new();
    let (mut hub_set, mut ack_set, mut rto_set) = (false, false, false);
    for arg in args {
        let parsed = arg
            .strip_prefix("--")
            .and_then(|a| a.split_once('='))
            .and_then(|(k, v)| Some((k, Duration::from_millis(v.parse().ok()?))));
        match parsed {
            Some(("hold-ms", d)) => t.hold = d,
            Some(("hub-hold-ms", d)) => (t.hub_hold, hub_set) = (d, true),
            Some(("relay-ms", d)) => t.relay = Some(d),
            Some(("ack-ms", d)) => (t.ack_delay, ack_set) = (d, true),
            Some(("rto-ms", d)) if !d.is_zero() => (t.rto, rto_set) = (d, true),
            Some(("retry-ms", d)) if !d.is_zero() => t.retry = d,
            Some(("rto-cap-ms", d)) if !d.is_zero() => t.rto_cap = d,
            _ if arg.starts_with("--batch=") => match arg["--batch=".len()..].parse() {
                Ok(0) | Err(_) => ignored.push(arg.clone()),
                Ok(n) => t.batch = n,
            },
            _ if arg.starts_with("--hub-batch=") => match arg["--hub-batch=".len()..].parse() {
                Ok(0) | Err(_) => ignored.push(arg.clone()),
                Ok(n) => t.hub_batch = n,
            },
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

/// The g-set workload.
#[derive(Debug)]
pub struct GSet {
    gossip: Gossip,
}

impl GSet {
    /// The link layer (for tests and inspection).
    pub fn gossip(&self) -> &Gossip {
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
        let (tuning, ignored) = tuning_from_args(args);
        if !ignored.is_empty() {
            cx.log(format_args!("ignoring arguments {ignored:?}"));
        }
        GSet { gossip: Gossip::new(cx, tuning) }
    }

    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        match req.kind {
            "add" => {
                let v = req.field("element")?;
                let Some(x) = self.gossip.set_mut().read(v) else {
                    return Err(Reject::new(
                        ErrorCode::TemporarilyUnavailable,
                        "the element table is full",
                    ));
                };
                cx.reply(req, "add_ok", |_| {});
                self.gossip.learn_local(x, cx);
            }
            "read" => {
                let g = &self.gossip;
                cx.reply(req, "read_ok", |b| {
                    b.arr("value", |a| {
                        for &x in g.log() {
                            g.set().write(x, a);
                        }
                    });
                });
            }
            _ => match self.gossip.handle(req, cx) {
                Some(r) => r?,
                None => return Err(Reject::unsupported(req.kind)),
            },
        }
        Ok(())
    }

    fn on_timer(&mut self, timer: Timer, cx: &mut Ctx<'_, Self>) {
        self.gossip.on_timer(timer, cx);
    }
}
