//! Replication: every node streams the records it originates (entries it assigned, commits its
//! clients made) to every peer, in order, reliably and in batches, with the promise that makes
//! peers' copies safe to serve.
//!
//! # Protocol
//!
//! One one-way message type, `kafka_repl {seq, recs, promise, ack}`:
//! - `recs` are records `seq, seq + 1, ...` of the sender's stream: `[key, offset, msg]` for an
//!   entry, `[key, offset]` for a commit.
//! - `promise` P: the sender will never assign an offset below P again, and every entry it
//!   assigned below P is in its stream before `seq + recs.len()`.
//! - `ack`: how many records of the receiver's stream the sender holds.
//!
//! The receiver applies records only in order: a batch starting past what it holds (an
//! earlier batch was lost to a partition) is ignored, records it already holds are skipped.
//! The promise is taken only from a batch applied in order, so "every entry below the
//! promise is here" holds whenever it is used. The sender keeps records until every peer has
//! acknowledged them and goes back to the first unacknowledged one after a retransmission
//! timeout (go-back-N; the timeout adapts to the measured round trip and backs off with jitter
//! up to 1 s). After a timeout the peer is *probed*: only the timed retransmissions (and owed
//! acknowledgements) go out until it answers, so a partition costs about one message per
//! timeout instead of one per batch.
//!
//! Batching: a node sends at most one batch per peer every `flush` interval; the first
//! record after a quiet spell goes out at once. A batch is sent only when there is something
//! to say (records, an owed acknowledgement, a raised promise) and receiving a batch never
//! requires an answer unless it carried records, so an idle cluster is silent.

use std::collections::VecDeque;
use std::time::Duration;

use super::log::{Entry, Inserted, KeyId, StoreError};
use super::{Kafka, Timer};
use crate::node::{Ctx, Reject};
use crate::proto::encode::write_val;
use crate::proto::{ErrorCode, FieldError, Msg, Val};
use crate::time::Instant;

/// The message type of a replication batch.
pub(super) const REPL: &str = "kafka_repl";

/// Most records one batch carries.
const BATCH_RECORDS: u64 = 512;
/// Rough byte budget of one batch (at least one record is always sent).
const BATCH_BYTES: usize = 256 * 1024;
/// Most records sent to a peer beyond what it has acknowledged.
const WINDOW: u64 = 4 * BATCH_RECORDS;
/// Most records kept for peers that have not acknowledged them; past this, new sends are
/// refused (error 11) until peers catch up.
pub(super) const MAX_UNACKED: usize = 1 << 20;
/// Highest offset a replicated entry may have: the largest a client's signed 64-bit offset
/// can hold. Offsets grow by at most the cluster size per send, so real ones never come near
/// it, and with every stored offset at most this, the floor (one past the highest) and the
/// next assigned offset cannot overflow.
pub(super) const MAX_OFFSET: u64 = i64::MAX as u64;
/// Shortest retransmission timeout.
const RTO_MIN: Duration = Duration::from_millis(100);
/// Longest retransmission timeout (the backoff cap, so a healed link is found within ~1 s).
const RTO_MAX: Duration = Duration::from_secs(1);
/// Timeout before any round trip has been measured.
const RTO_INITIAL: Duration = Duration::from_millis(300);

/// One record of a node's outgoing stream.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Rec {
    /// An entry this node assigned.
    Entry {
        /// Its key.
        key: KeyId,
        /// Its offset and message.
        entry: Entry,
    },
    /// A commit a client made on this node.
    Commit {
        /// The key.
        key: KeyId,
        /// The committed offset.
        offset: u64,
    },
}

/// The records this node originated that some peer has not acknowledged yet.
#[derive(Debug, Default)]
pub(super) struct OutLog {
    /// Sequence number of `recs[0]`.
    base: u64,
    recs: VecDeque<Rec>,
}

impl OutLog {
    /// Sequence number the next record will get.
    pub(super) fn end(&self) -> u64 {
        self.base + self.recs.len() as u64
    }

    /// Whether another record fits.
    pub(super) fn has_room(&self) -> bool {
        self.recs.len() < MAX_UNACKED
    }

    /// Appends a record. Callers check [`OutLog::has_room`] first for records they may refuse.
    pub(super) fn push(&mut self, r: Rec) {
        self.recs.push_back(r);
    }

    fn get(&self, seq: u64) -> &Rec {
        &self.recs[(seq - self.base) as usize]
    }

    /// Forgets records every peer holds.
    fn trim(&mut self, upto: u64) {
        while self.base < upto && self.recs.pop_front().is_some() {
            self.base += 1;
        }
    }
}

/// What this node knows about one peer, in both directions.
#[derive(Debug)]
pub(super) struct Peer {
    /// Its node id.
    pub(super) id: String,
    /// Its position in the node list: the residue of the offsets it assigns.
    pub(super) index: u64,
    /// Our records `< acked` are known to be held by the peer.
    acked: u64,
    /// Our records `< sent` have been sent. Invariant: `acked <= sent <= out.end()`.
    sent: u64,
    /// The last promise we sent it.
    promise_sent: u64,
    /// How many of its records we hold (our acknowledgement).
    received: u64,
    /// We hold records it has not been told about.
    ack_owed: bool,
    /// Its promise: it never assigns an offset below this again, and we hold every entry it
    /// assigned below this.
    pub(super) promise: u64,
    /// Since when unacknowledged records have been outstanding without progress.
    inflight_since: Option<Instant>,
    /// Current retransmission timeout.
    rto: Duration,
    /// Smoothed round trip (send of a batch to its acknowledgement).
    srtt: Option<Duration>,
    /// A batch being timed: the acknowledgement that covers it, and when it was sent.
    sample: Option<(u64, Instant)>,
    /// A retransmission timed out and no acknowledgement has come since: the link may be cut,
    /// so send only the timed retransmissions (and owed acknowledgements), not every batch.
    probing: bool,
}

impl Peer {
    /// A peer we have heard nothing from.
    pub(super) fn new(id: String, index: u64) -> Peer {
        Peer {
            id,
            index,
            acked: 0,
            sent: 0,
            promise_sent: 0,
            received: 0,
            ack_owed: false,
            promise: 0,
            inflight_since: None,
            rto: RTO_INITIAL,
            srtt: None,
            sample: None,
            probing: false,
        }
    }

    fn base_rto(&self, flush: Duration) -> Duration {
        match self.srtt {
            None => RTO_INITIAL,
            Some(s) => (2 * s + flush).clamp(RTO_MIN, RTO_MAX),
        }
    }
}

/// A record of a batch, checked.
enum Incoming<'i, 't> {
    Entry(&'i str, u64, Val<'t, 'i>),
    Commit(&'i str, u64),
}

fn parse_rec<'t, 'i>(v: Val<'t, 'i>) -> Result<Incoming<'i, 't>, FieldError> {
    const BAD: FieldError =
        FieldError::invalid("recs", "an array of [key, offset] or [key, offset, msg]");
    let a = v.as_array().ok_or(BAD)?;
    let mut it = a.iter();
    let key = it.next().and_then(Val::as_str).ok_or(BAD)?;
    let offset = it.next().and_then(Val::as_u64).ok_or(BAD)?;
    match (it.next(), it.next()) {
        (None, _) => Ok(Incoming::Commit(key, offset)),
        (Some(msg), None) => Ok(Incoming::Entry(key, offset, msg)),
        _ => Err(BAD),
    }
}

impl Kafka {
    /// Something became worth sending: flush now if the last batch was long enough ago,
    /// otherwise make sure a flush is scheduled.
    pub(super) fn poke(&mut self, cx: &mut Ctx<'_, Self>) {
        if self.peers.is_empty() {
            return;
        }
        let due = self.last_flush.map_or(cx.now(), |t| t + self.flush_every);
        if due <= cx.now() {
            self.flush(cx);
        } else {
            self.arm(due, cx);
        }
    }

    /// Makes sure the flush timer fires no later than `at`.
    fn arm(&mut self, at: Instant, cx: &mut Ctx<'_, Self>) {
        if let Some((id, t)) = self.timer {
            if t <= at {
                return;
            }
            cx.cancel_timer(id);
        }
        self.timer = Some((cx.set_timer(at, Timer::Flush), at));
    }

    /// The flush timer fired.
    pub(super) fn on_flush_timer(&mut self, cx: &mut Ctx<'_, Self>) {
        self.timer = None;
        self.flush(cx);
    }

    /// Sends every peer what it needs (retransmitting after a timeout), then schedules the
    /// next retransmission check.
    fn flush(&mut self, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        let mut sent_any = false;
        for p in 0..self.peers.len() {
            let peer = &mut self.peers[p];
            let timed_out =
                peer.acked < peer.sent && peer.inflight_since.is_some_and(|t| t + peer.rto <= now);
            if timed_out {
                // Go back to the first unacknowledged record (Karn: no timing of resends).
                peer.sent = peer.acked;
                peer.sample = None;
                peer.probing = true;
                let jitter = 1.0 + 0.25 * cx.rng().unit();
                peer.rto = peer.rto.mul_f64(2.0 * jitter).min(RTO_MAX);
                peer.inflight_since = None;
            }
            sent_any |= self.send_batch(p, timed_out, cx);
        }
        if sent_any {
            self.last_flush = Some(now);
        }
        let next = self
            .peers
            .iter()
            .filter(|p| p.acked < p.sent)
            .filter_map(|p| p.inflight_since.map(|t| t + p.rto))
            .min();
        if let Some(at) = next {
            self.arm(at, cx);
        }
    }

    /// Sends peer `p` one batch if it needs one (`retransmit`: a timed-out retransmission is
    /// due). Returns whether it did.
    fn send_batch(&mut self, p: usize, retransmit: bool, cx: &mut Ctx<'_, Self>) -> bool {
        let Kafka { peers, out, logs, floor, .. } = self;
        let peer = &mut peers[p];
        let from = peer.sent;
        // While probing a silent peer, only the timed retransmission carries records.
        let quiet = peer.probing && !retransmit;
        let limit = if quiet { from } else { out.end().min(peer.acked + WINDOW) };
        let limit = limit.min(from + BATCH_RECORDS);
        let mut end = from;
        let mut bytes = 0;
        while end < limit && (end == from || bytes < BATCH_BYTES) {
            bytes += match *out.get(end) {
                Rec::Entry { key, entry } => logs.key(key).name.len() + entry.len as usize + 24,
                Rec::Commit { key, .. } => logs.key(key).name.len() + 24,
            };
            end += 1;
        }
        // Every entry we assigned below the promise must be in records before `end`: the
        // first entry left out bounds it (entries are assigned in increasing offset order).
        let mut promise = *floor;
        for seq in end..out.end() {
            if let Rec::Entry { entry, .. } = out.get(seq) {
                promise = promise.min(entry.offset);
                break;
            }
        }
        if end == from && !peer.ack_owed && (quiet || promise <= peer.promise_sent) {
            return false;
        }
        let received = peer.received;
        cx.send(&peer.id, REPL, |b| {
            b.u64("seq", from).u64("ack", received).u64("promise", promise);
            b.arr("recs", |a| {
                for seq in from..end {
                    match *out.get(seq) {
                        Rec::Entry { key, entry } => a.arr(|r| {
                            r.str(&logs.key(key).name).u64(entry.offset);
                            r.elem().extend_from_slice(logs.bytes(entry.start, entry.len));
                        }),
                        Rec::Commit { key, offset } => a.arr(|r| {
                            r.str(&logs.key(key).name).u64(offset);
                        }),
                    };
                }
            });
        });
        let now = cx.now();
        peer.sent = end;
        peer.ack_owed = false;
        peer.promise_sent = peer.promise_sent.max(promise);
        if end > from {
            peer.inflight_since.get_or_insert(now);
            if peer.sample.is_none() && end > peer.acked {
                peer.sample = Some((end, now));
            }
        }
        true
    }

    /// Handles a batch from a peer.
    pub(super) fn on_batch(
        &mut self,
        req: &Msg<'_, '_>,
        cx: &mut Ctx<'_, Self>,
    ) -> Result<(), Reject> {
        let Some(p) = self.peers.iter().position(|p| p.id == req.src) else {
            return Err(Reject::new(ErrorCode::MalformedRequest, "kafka_repl from a non-peer"));
        };
        let seq = req.u64("seq")?;
        let ack = req.u64("ack")?;
        let promise = req.u64("promise")?;
        let recs = req.arr("recs")?;
        // Check the whole batch before applying any of it.
        for r in recs.iter() {
            match parse_rec(r)? {
                Incoming::Entry(_, off, _) if off > MAX_OFFSET => {
                    return Err(Reject::new(
                        ErrorCode::MalformedRequest,
                        format!("offset {off} is beyond 2^63 - 1"),
                    ));
                }
                Incoming::Entry(_, off, _) if off % self.n != self.peers[p].index => {
                    return Err(Reject::new(
                        ErrorCode::MalformedRequest,
                        format!("offset {off} was not assigned by {}", req.src),
                    ));
                }
                _ => {}
            }
        }
        self.on_ack(p, ack, cx.now());

        let held = self.peers[p].received;
        if seq > held {
            // An earlier batch was lost: wait for the sender to go back.
            return Ok(());
        }
        let floor_before = self.floor;
        let mut complete = true;
        for r in recs.iter().skip((held - seq) as usize) {
            match parse_rec(r)? {
                Incoming::Entry(name, offset, msg) => {
                    let key = self.logs.intern(name);
                    if !self.logs.has(key, offset) {
                        match self.logs.store(|b| write_val(b, msg)) {
                            Ok((start, len)) => {
                                let ins = self.logs.insert(key, Entry { offset, start, len });
                                debug_assert_eq!(ins, Inserted::New);
                                self.floor = self.floor.max(offset + 1);
                            }
                            Err(e) => {
                                // Only when this node's arena is full (the origin stored the
                                // same bytes under the same limits). Stop here: the peer
                                // retransmits the rest, so nothing is skipped.
                                cx.log(format_args!("cannot store a replicated message: {e}"));
                                complete = false;
                                break;
                            }
                        }
                    }
                }
                Incoming::Commit(name, offset) => {
                    let key = self.logs.intern(name);
                    self.logs.commit(key, offset);
                }
            }
            self.peers[p].received += 1;
        }
        let peer = &mut self.peers[p];
        if complete {
            // Only a batch applied in full vouches for its promise.
            peer.promise = peer.promise.max(promise);
        }
        if !recs.is_empty() {
            peer.ack_owed = true;
        }
        if peer.ack_owed || self.floor > floor_before {
            self.poke(cx);
        }
        Ok(())
    }

    /// Peer `p` holds our records `< ack`.
    fn on_ack(&mut self, p: usize, ack: u64, now: Instant) {
        let end = self.out.end();
        let flush = self.flush_every;
        let peer = &mut self.peers[p];
        let ack = ack.min(end);
        if ack <= peer.acked {
            return;
        }
        peer.acked = ack;
        peer.sent = peer.sent.max(ack);
        peer.probing = false;
        if let Some((until, at)) = peer.sample {
            if ack >= until {
                let rtt = now - at;
                peer.srtt = Some(match peer.srtt {
                    None => rtt,
                    Some(s) => (s * 7 + rtt) / 8,
                });
                peer.sample = None;
            }
        }
        peer.rto = peer.base_rto(flush);
        peer.inflight_since = (peer.acked < peer.sent).then_some(now);
        let everyone = self.peers.iter().map(|p| p.acked).min().unwrap_or(end);
        self.out.trim(everyone);
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoreError::TooLarge => "message larger than the node accepts",
            StoreError::Full => "message store full",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_stay_small() {
        assert!(std::mem::size_of::<Rec>() <= 24, "{}", std::mem::size_of::<Rec>());
    }
}
