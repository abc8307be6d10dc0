//! Challenges 6a-6c, txn-rw-register: totally available transactions over integer registers.
//!
//! # Design
//!
//! Every `txn` is executed at once, locally and atomically, and answered in the same step: a
//! node is single-threaded, so its own history is serial. Nothing waits for a peer, so every
//! transaction succeeds even when the node is cut off (total availability).
//!
//! Replication is asynchronous and state-based:
//!
//! - Each register holds `(value, version)`. A version is `(lamport, node index)`: totally
//!   ordered and unique per writing transaction. Replicas apply a write only if its version is
//!   higher (last writer wins), so every node orders the writes to a key the same way and all
//!   converge once the network heals.
//! - A transaction that writes takes one version, `lamport + 1`, where the Lamport clock has
//!   already absorbed every version this node has seen. So every value a transaction reads was
//!   written with a lower version than its own writes: write-read and write-write dependencies
//!   always go from lower to higher versions, and there can be no G0 or G1c cycle among them.
//! - Only registers, never individual writes, are shipped: when a transaction writes a key twice
//!   only the final value is in the register by the time anything is sent, so intermediate
//!   writes never leave the node (no G1b), and nothing is ever aborted (no G1a).
//! - Per peer, the node keeps the set of registers changed since that peer last acknowledged
//!   them. Every [`FLUSH_EVERY`] a one-way `replicate {batch, acks, writes}` carries the
//!   registers not yet sent, plus those whose batch went unacknowledged for a retransmission
//!   timeout, plus the ids of the peer's batches received since the last message to it. So one
//!   message per peer per flush carries data one way and acknowledgements the other (with two
//!   busy nodes acks ride for free). An ack clears exactly the registers sent in that batch and
//!   not changed since; anything else is resent, so nothing is lost across a partition.
//!
//! # Limits
//!
//! - Keys and written values must be integers (Maelstrom's generator only makes integers); a
//!   txn with anything else, or longer than [`MAX_TXN_LEN`], is rejected whole with error 12
//!   before any of it is applied.
//! - The pending set per peer holds at most [`MAX_PENDING`] registers. When it is full, the peer
//!   falls back to a scan of the whole store from the lowest register it missed; the scan
//!   refills the set as batches are acknowledged. Batches carry at most [`MAX_BATCH`] registers.
//! - Retransmission never gives up (a healed partition must converge), but its timeout backs
//!   off exponentially with jitter, from [`RTO_MIN`] up to [`RTO_MAX`], and resets on any ack.
//!   At most [`MAX_ACKS`] acks wait per peer (beyond that the sender simply resends).
//!
//! Deliberately broken twins of this node (aborted, intermediate and late reads, no isolation)
//! live in `tests/txn.rs`, where the bench shows its checker rejects each of them.

use std::time::Duration;

use hashbrown::HashMap;

use crate::node::{Ctx, Reject, Workload};
use crate::proto::encode::ArrWriter;
use crate::proto::{ErrorCode, FieldError, Msg, Val};
use crate::time::Instant;
use crate::time::wheel::TimerId;

/// The longest transaction accepted, in micro-operations.
pub const MAX_TXN_LEN: usize = 4096;
/// Registers pending for one peer before it falls back to a store scan.
pub const MAX_PENDING: usize = 1 << 16;
/// Registers per `replicate` message.
pub const MAX_BATCH: usize = 1024;
/// How long changes wait to be batched before a flush.
///
/// Long on purpose. In Maelstrom's network a node's input is serial and the consumer sleeps
/// on a server message until its delivery time, so every message a node receives holds up its
/// client requests for up to the latency `L`: a node is blocked about `L / FLUSH_EVERY` of the
/// time. At `--latency 100`, 100 ms flushes blocked nodes almost all the time (median txn
/// latency 98-99 ms, about 1,100 txns in 20 s instead of 17,000); 500 ms keeps p99 at 0 ms.
/// Visibility lags by up to this much, which read-uncommitted and read-committed allow.
pub const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// Retransmission timeout of an unacknowledged batch, at first and after any ack. An ack
/// normally comes back within two latencies plus the peer's flush interval.
pub const RTO_MIN: Duration = Duration::from_millis(1500);
/// Longest retransmission timeout.
pub const RTO_MAX: Duration = Duration::from_millis(6000);
/// Acks owed to one peer before the oldest are forgotten.
pub const MAX_ACKS: usize = 64;
/// Highest Lamport time a replicated write may carry. Every node starts at 0 and adds one per
/// writing txn, so real versions never come near it; the bound leaves 2^63 local txns of
/// headroom, so the clock (which absorbs every version it sees) can never overflow.
pub const MAX_LAMPORT: u64 = u64::MAX / 2;
/// Batches whose send time a peer remembers; older unacknowledged batches count as lost.
const WINDOW: usize = 64;

/// Per-peer mark of a register that is not pending for that peer.
const CLEAN: u64 = 0;
/// Per-peer mark of a register changed since it was last sent.
const UNSENT: u64 = u64::MAX;

/// A write's version: Lamport time first, then the writing node's index as a tie-break.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// Lamport time of the writing transaction.
    pub lamport: u64,
    /// Index (in `node_ids`) of the node that ran it.
    pub node: u64,
}

/// One register.
#[derive(Copy, Clone, Debug)]
struct Cell {
    key: i64,
    value: i64,
    /// Invariant: the version of the write that set `value`; never decreases.
    version: Version,
}

/// A parsed micro-operation.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Mop {
    write: bool,
    key: i64,
    /// The written value, or the value read (`None` for a missing register).
    value: Option<i64>,
}

/// What the node keeps about one peer's replication.
#[derive(Debug)]
struct Peer {
    id: String,
    /// Cells changed since the peer last acknowledged them, in the order they changed.
    ///
    /// Invariant: no duplicates; `c` is listed iff `mark[c] != CLEAN`; `len() <= MAX_PENDING`
    /// (it grows on demand up to that, never beyond).
    pending: Vec<u32>,
    /// Per cell: `CLEAN`, `UNSENT`, or the batch it was last sent in.
    mark: Vec<u64>,
    /// Cells from this index up must be scanned into `pending` (set when it overflowed).
    scan_from: Option<u32>,
    /// Last batch id used (ids start at 1; 0 means "no batch" and `u64::MAX` is a mark).
    last_batch: u64,
    /// When batch `b` was sent, at `sent[b % WINDOW]`, for the last `WINDOW` batches.
    sent: [Instant; WINDOW],
    /// Current retransmission timeout.
    rto: Duration,
    /// Ids of the peer's batches received since the last message to it.
    ///
    /// Invariant: `len() <= MAX_ACKS` (allocated once).
    owed_acks: Vec<u64>,
}

impl Peer {
    fn new(id: String) -> Self {
        Peer {
            id,
            pending: Vec::new(),
            mark: Vec::new(),
            scan_from: None,
            last_batch: 0,
            sent: [Instant::ZERO; WINDOW],
            rto: RTO_MIN,
            owed_acks: Vec::with_capacity(MAX_ACKS),
        }
    }

    /// Whether batch `b`, sent and not acknowledged, should be given up on and resent.
    fn expired(&self, b: u64, now: Instant) -> bool {
        expired(&self.sent, self.last_batch, self.rto, b, now)
    }

    /// Clears the registers acknowledged by `acks`. Only ids of batches actually sent count:
    /// a confused peer's `u64::MAX` must not match the `UNSENT` mark.
    fn acknowledged(&mut self, acks: &[u64]) {
        let (mark, last) = (&mut self.mark, self.last_batch);
        self.pending.retain(|&c| {
            let m = mark[c as usize];
            let acked = m <= last && acks.contains(&m);
            if acked {
                mark[c as usize] = CLEAN;
            }
            !acked
        });
        self.rto = RTO_MIN;
    }

    /// Records that cell `c` changed.
    fn touch(&mut self, c: u32) {
        let i = c as usize;
        if self.mark.len() <= i {
            self.mark.resize(i + 1, CLEAN);
        }
        if self.mark[i] != CLEAN {
            self.mark[i] = UNSENT;
        } else if self.pending.len() < MAX_PENDING {
            self.mark[i] = UNSENT;
            self.pending.push(c);
        } else {
            // Full: let the store scan cover it.
            self.scan_from = Some(self.scan_from.map_or(c, |s| s.min(c)));
        }
    }

    /// Moves scanned cells into `pending` while there is room.
    fn refill(&mut self, cells: usize) {
        let Some(mut c) = self.scan_from else { return };
        while (c as usize) < cells && self.pending.len() < MAX_PENDING {
            let i = c as usize;
            if self.mark.len() <= i {
                self.mark.resize(i + 1, CLEAN);
            }
            if self.mark[i] == CLEAN {
                self.pending.push(c);
            }
            self.mark[i] = UNSENT;
            c += 1;
        }
        self.scan_from = ((c as usize) < cells).then_some(c);
    }

    /// Whether anything remains to be sent to or acknowledged for this peer.
    fn has_work(&self) -> bool {
        !self.pending.is_empty() || self.scan_from.is_some() || !self.owed_acks.is_empty()
    }
}

/// Whether batch `b` (sent, not acknowledged) is lost: it fell out of the window of
/// remembered send times, or was sent at least `rto` ago.
fn expired(sent: &[Instant; WINDOW], last_batch: u64, rto: Duration, b: u64, now: Instant) -> bool {
    last_batch - b >= WINDOW as u64 || now >= sent[b as usize % WINDOW] + rto
}

/// Timers.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Send pending registers and owed acks to every peer.
    Flush,
}

/// The txn-rw-register workload.
#[derive(Debug)]
pub struct Txn {
    /// This node's index in `node_ids` (the version tie-break).
    me: u64,
    /// Lamport clock. Invariant: at least the `lamport` of every version in the store.
    clock: u64,
    /// Key to cell index.
    index: HashMap<i64, u32>,
    cells: Vec<Cell>,
    peers: Vec<Peer>,
    /// The pending flush timer and when it fires.
    flush: Option<(TimerId, Instant)>,
    /// Scratch for one txn's micro-operations (reused).
    mops: Vec<Mop>,
}

impl Txn {
    /// The register `key`: its value, if it was ever written.
    pub fn get(&self, key: i64) -> Option<i64> {
        self.index.get(&key).map(|&c| self.cells[c as usize].value)
    }

    /// The register `key` with its version.
    pub fn get_versioned(&self, key: i64) -> Option<(i64, Version)> {
        self.index.get(&key).map(|&c| {
            let cell = &self.cells[c as usize];
            (cell.value, cell.version)
        })
    }

    /// Number of registers pending for each peer.
    pub fn pending(&self) -> Vec<usize> {
        self.peers.iter().map(|p| p.pending.len()).collect()
    }

    /// Writes `value` at `version` if that is newer than the register; returns the cell if
    /// it changed.
    fn apply(&mut self, key: i64, value: i64, version: Version) -> Option<u32> {
        let n = self.cells.len();
        let c = *self.index.entry(key).or_insert_with(|| {
            // Cell ids are u32; four billion registers would exhaust memory long before.
            u32::try_from(n).expect("fewer than 2^32 registers")
        });
        if c as usize == n {
            self.cells.push(Cell { key, value, version });
            return Some(c);
        }
        let cell = &mut self.cells[c as usize];
        if version > cell.version {
            cell.value = value;
            cell.version = version;
            Some(c)
        } else {
            None
        }
    }

    /// Writes a local txn's value and marks the register for every peer.
    ///
    /// A local version is above everything stored (the clock has absorbed every stored
    /// version), or equal when the same txn writes the key again; either way it wins.
    fn write_local(&mut self, key: i64, value: i64, version: Version) {
        let c = match self.index.get(&key) {
            Some(&c) => {
                let cell = &mut self.cells[c as usize];
                debug_assert!(version >= cell.version, "local writes win");
                cell.value = value;
                cell.version = version;
                c
            }
            None => self.apply(key, value, version).expect("a new register takes any write"),
        };
        for p in &mut self.peers {
            p.touch(c);
        }
    }

    /// Parses a `txn` field into `self.mops`, rejecting the whole txn on any bad element.
    fn parse_txn(&mut self, req: &Msg<'_, '_>) -> Result<(), Reject> {
        const BAD: &str = "a list of [\"r\", int, null] or [\"w\", int, int]";
        let txn = req.arr("txn")?;
        if txn.len() > MAX_TXN_LEN {
            return Err(Reject::new(
                ErrorCode::MalformedRequest,
                format!("txn has {} micro-ops; at most {MAX_TXN_LEN} are accepted", txn.len()),
            ));
        }
        self.mops.clear();
        for m in txn.iter() {
            let m = m.as_array().filter(|a| a.len() == 3).ok_or(FieldError::invalid("txn", BAD))?;
            let mut it = m.iter();
            let (f, k, v) = match (it.next(), it.next(), it.next()) {
                (Some(f), Some(k), Some(v)) => (f, k, v),
                _ => return Err(FieldError::invalid("txn", BAD).into()),
            };
            let key = k.as_i64().ok_or(FieldError::invalid("txn", BAD))?;
            let mop = match f.as_str() {
                Some("r") => Mop { write: false, key, value: None },
                Some("w") => {
                    let v = v.as_i64().ok_or(FieldError::invalid("txn", BAD))?;
                    Mop { write: true, key, value: Some(v) }
                }
                _ => return Err(FieldError::invalid("txn", BAD).into()),
            };
            self.mops.push(mop);
        }
        Ok(())
    }

    /// Runs the parsed txn: reads filled in, writes applied, all in one step.
    fn execute(&mut self, now: Instant, cx: &mut Ctx<'_, Self>) {
        let writes = self.mops.iter().any(|m| m.write);
        let version = if writes {
            // Cannot overflow: replicated versions are at most MAX_LAMPORT (see there).
            self.clock += 1;
            Version { lamport: self.clock, node: self.me }
        } else {
            Version::default()
        };
        for i in 0..self.mops.len() {
            let m = self.mops[i];
            if m.write {
                let v = m.value.expect("parse_txn gives writes a value");
                self.write_local(m.key, v, version);
            } else {
                self.mops[i].value = self.get(m.key);
            }
        }
        if writes {
            self.arm_flush(now + FLUSH_EVERY, cx);
        }
    }

    /// Writes the micro-operations as a `txn` array.
    fn write_mops(mops: &[Mop], a: &mut ArrWriter<'_>) {
        for m in mops {
            a.arr(|t| {
                t.str(if m.write { "w" } else { "r" }).i64(m.key);
                match m.value {
                    Some(v) => t.i64(v),
                    None => t.null(),
                };
            });
        }
    }

    fn on_txn(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        self.parse_txn(req)?;
        let now = cx.now();
        self.execute(now, cx);
        let mops = &self.mops;
        cx.reply(req, "txn_ok", |b| {
            b.arr("txn", |a| Self::write_mops(mops, a));
        });
        Ok(())
    }

    fn on_replicate(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        const BAD: &str =
            "a list of [key, value, lamport, node] integer quadruples, lamport below 2^63";
        let batch = req.u64("batch")?;
        let acks = req.arr("acks")?;
        let writes = req.arr("writes")?;
        let quad = |w: Val<'_, '_>| -> Option<(i64, i64, Version)> {
            let a = w.as_array().filter(|a| a.len() == 4)?;
            let mut it = a.iter();
            let key = it.next()?.as_i64()?;
            let value = it.next()?.as_i64()?;
            let lamport = it.next()?.as_u64().filter(|&l| l <= MAX_LAMPORT)?;
            let node = it.next()?.as_u64()?;
            Some((key, value, Version { lamport, node }))
        };
        if !writes.iter().all(|w| quad(w).is_some()) {
            return Err(FieldError::invalid("writes", BAD).into());
        }
        if !acks.iter().all(|a| a.as_u64().is_some()) {
            return Err(FieldError::invalid("acks", "a list of batch ids").into());
        }
        for w in writes.iter() {
            let (key, value, version) = quad(w).expect("validated above");
            self.clock = self.clock.max(version.lamport);
            self.apply(key, value, version);
        }
        let Some(p) = self.peers.iter().position(|p| p.id == req.src) else {
            return Ok(()); // not a peer we replicate to: nothing to acknowledge
        };
        let peer = &mut self.peers[p];
        if !acks.is_empty() {
            // At most MAX_ACKS ids, copied to the stack to compare against each mark.
            let mut ids = [0u64; MAX_ACKS];
            let n = acks.len().min(MAX_ACKS);
            for (slot, a) in ids.iter_mut().zip(acks.iter()) {
                *slot = a.as_u64().expect("validated above");
            }
            peer.acknowledged(&ids[..n]);
        }
        if batch != 0 {
            if peer.owed_acks.len() == MAX_ACKS {
                peer.owed_acks.remove(0); // the sender will resend that batch
            }
            peer.owed_acks.push(batch);
            let at = cx.now() + FLUSH_EVERY;
            self.arm_flush(at, cx);
        }
        Ok(())
    }

    /// Makes sure a flush happens no later than `at`.
    fn arm_flush(&mut self, at: Instant, cx: &mut Ctx<'_, Self>) {
        if self.peers.is_empty() {
            return;
        }
        if let Some((id, when)) = self.flush {
            if when <= at {
                return;
            }
            cx.cancel_timer(id);
        }
        self.flush = Some((cx.set_timer(at, Timer::Flush), at));
    }

    /// Sends each peer one `replicate`: registers not yet sent or whose batch expired, and
    /// the acks owed to it.
    fn flush(&mut self, cx: &mut Ctx<'_, Self>) {
        self.flush = None;
        let now = cx.now();
        let mut busy = false;
        for p in 0..self.peers.len() {
            let cells = &self.cells;
            let peer = &mut self.peers[p];
            peer.refill(cells.len());
            let resend = peer.pending.iter().any(|&c| {
                let m = peer.mark[c as usize];
                m != UNSENT && peer.expired(m, now)
            });
            let send = resend || peer.pending.iter().any(|&c| peer.mark[c as usize] == UNSENT);
            if send || !peer.owed_acks.is_empty() {
                let batch = if send { peer.last_batch + 1 } else { 0 };
                let mut sent = 0;
                let Peer { id, pending, mark, owed_acks, sent: at, last_batch, rto, .. } =
                    &mut *peer;
                let expired = |m: u64| expired(&*at, *last_batch, *rto, m, now);
                cx.send(id, "replicate", |b| {
                    b.u64("batch", batch).u64s("acks", owed_acks.iter().copied());
                    b.arr("writes", |a| {
                        for &c in pending.iter() {
                            let m = &mut mark[c as usize];
                            if batch == 0 || sent == MAX_BATCH || !(*m == UNSENT || expired(*m)) {
                                continue;
                            }
                            sent += 1;
                            *m = batch;
                            let cell = &cells[c as usize];
                            a.arr(|q| {
                                q.i64(cell.key)
                                    .i64(cell.value)
                                    .u64(cell.version.lamport)
                                    .u64(cell.version.node);
                            });
                        }
                    });
                });
                owed_acks.clear();
                if send {
                    peer.last_batch = batch;
                    peer.sent[batch as usize % WINDOW] = now;
                }
                if resend {
                    // Back off, with jitter in [3/4, 5/4) (capped), so a healed link is not flooded.
                    let base = (peer.rto * 2).min(RTO_MAX).as_micros() as u64;
                    let jittered = base / 4 * 3 + cx.rng().below(base / 2 + 1);
                    peer.rto = Duration::from_micros(jittered).min(RTO_MAX);
                }
            }
            busy |= peer.has_work();
        }
        if busy {
            self.arm_flush(now + FLUSH_EVERY, cx);
        }
    }
}

impl Workload for Txn {
    type Timer = Timer;
    type Call = ();

    fn init(cx: &mut Ctx<'_, Self>, _: &[String]) -> Self {
        let me = cx.index();
        let peers = cx
            .ids()
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != me)
            .map(|(_, id)| Peer::new(id.clone()))
            .collect();
        Txn {
            me: me as u64,
            clock: 0,
            index: HashMap::new(),
            cells: Vec::new(),
            peers,
            flush: None,
            mops: Vec::with_capacity(16),
        }
    }

    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        match req.kind {
            "txn" => self.on_txn(req, cx),
            "replicate" => self.on_replicate(req, cx),
            other => Err(Reject::unsupported(other)),
        }
    }

    fn on_timer(&mut self, timer: Timer, cx: &mut Ctx<'_, Self>) {
        match timer {
            Timer::Flush => self.flush(cx),
        }
    }
}

#[cfg(test)]
mod tests;
