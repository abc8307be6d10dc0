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
//!   them. A flush timer sends them all in one `replicate` RPC (at most one in flight per peer).
//!   The ack clears exactly the registers sent in that batch and not changed since; a timeout or
//!   error leaves them pending and retries after an exponential backoff with jitter, so nothing
//!   is lost across a partition.
//!
//! # Limits
//!
//! - Keys and written values must be integers (Maelstrom's generator only makes integers); a
//!   txn with anything else, or longer than [`MAX_TXN_LEN`], is rejected whole with error 12
//!   before any of it is applied.
//! - The pending set per peer holds at most [`MAX_PENDING`] registers. When it is full, the peer
//!   falls back to a scan of the whole store from the lowest register it missed; the scan
//!   refills the set as batches are acknowledged. Batches carry at most [`MAX_BATCH`] registers.
//! - Retries never give up (a healed partition must converge) but back off to at most
//!   [`MAX_BACKOFF`] between attempts.
//!
//! # Faults, for testing the checker
//!
//! `--fault NAME` makes the node deliberately wrong, so the bench can show its checker rejects
//! each anomaly in a real run: `aborted-reads` (G1a), `intermediate-reads` (G1b),
//! `own-writes-invisible` (internal inconsistency) and `late-reads` (G1c/G0). Maelstrom never
//! passes it.

use std::time::Duration;

use hashbrown::HashMap;

use crate::node::{Ctx, Reject, Reply, Workload};
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
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// How long a `replicate` RPC may take before it is retried.
pub const REPLICATE_TIMEOUT: Duration = Duration::from_millis(1000);
/// First retry delay after a failed `replicate`.
pub const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest retry delay.
pub const MAX_BACKOFF: Duration = Duration::from_millis(2000);

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
    /// (allocated once, never grows).
    pending: Vec<u32>,
    /// Per cell: `CLEAN`, `UNSENT`, or the batch it was last sent in.
    mark: Vec<u64>,
    /// Cells from this index up must be scanned into `pending` (set when it overflowed).
    scan_from: Option<u32>,
    /// The batch awaiting its ack, if any.
    inflight: Option<u64>,
    /// Last batch id used (ids start at 1; 0 and `u64::MAX` are marks).
    last_batch: u64,
    /// Current retry delay.
    backoff: Duration,
    /// No batch before this instant (backing off after a failure).
    not_before: Instant,
}

impl Peer {
    fn new(id: String) -> Self {
        Peer {
            id,
            pending: Vec::with_capacity(MAX_PENDING),
            mark: Vec::new(),
            scan_from: None,
            inflight: None,
            last_batch: 0,
            backoff: MIN_BACKOFF,
            not_before: Instant::ZERO,
        }
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

    /// Whether anything remains to be sent to this peer.
    fn has_work(&self) -> bool {
        !self.pending.is_empty() || self.scan_from.is_some()
    }
}

/// A deliberate bug, for showing that the checker catches it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Every fifth writing txn is applied, then answered with a definite error (G1a).
    AbortedReads,
    /// When a txn writes a key twice, the register keeps the first write (G1b).
    IntermediateReads,
    /// Reads see the state before the txn, not its own earlier writes (internal).
    OwnWritesInvisible,
    /// Writes apply on arrival; reads are answered when the next txn has applied its writes
    /// (G1c, and G0 when both also write what they read).
    LateReads,
}

impl Fault {
    fn parse(args: &[String]) -> Option<Fault> {
        let i = args.iter().position(|a| a == "--fault")?;
        match args.get(i + 1).map(String::as_str) {
            Some("aborted-reads") => Some(Fault::AbortedReads),
            Some("intermediate-reads") => Some(Fault::IntermediateReads),
            Some("own-writes-invisible") => Some(Fault::OwnWritesInvisible),
            Some("late-reads") => Some(Fault::LateReads),
            _ => None,
        }
    }
}

/// A txn whose reads are held back (the `late-reads` fault).
#[derive(Debug)]
struct Parked {
    client: String,
    msg_id: u64,
    mops: Vec<Mop>,
}

/// Timers.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Send pending registers to every peer that can take a batch.
    Flush,
    /// Answer the parked txn (`late-reads` fault only).
    Unpark,
}

/// An outstanding `replicate` RPC.
#[derive(Copy, Clone, Debug)]
pub struct Call {
    peer: usize,
    batch: u64,
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
    fault: Option<Fault>,
    /// Txns with writes so far (for the `aborted-reads` fault).
    writing_txns: u64,
    parked: Option<Parked>,
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
            self.clock += 1;
            Version { lamport: self.clock, node: self.me }
        } else {
            Version::default()
        };
        if self.fault == Some(Fault::OwnWritesInvisible) {
            for i in 0..self.mops.len() {
                if !self.mops[i].write {
                    self.mops[i].value = self.get(self.mops[i].key);
                }
            }
        }
        for i in 0..self.mops.len() {
            let m = self.mops[i];
            if m.write {
                let v = m.value.expect("parse_txn gives writes a value");
                self.write_local(m.key, v, version);
            } else if self.fault != Some(Fault::OwnWritesInvisible) {
                self.mops[i].value = self.get(m.key);
            }
        }
        if self.fault == Some(Fault::IntermediateReads) {
            // Put back the first of several writes to a key: an intermediate value.
            for i in 0..self.mops.len() {
                let m = self.mops[i];
                let first = m.write && !self.mops[..i].iter().any(|p| p.write && p.key == m.key);
                let again = self.mops[i + 1..].iter().any(|p| p.write && p.key == m.key);
                if first && again {
                    let c = self.index[&m.key] as usize;
                    self.cells[c].value = m.value.expect("writes have values");
                }
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
        if self.fault == Some(Fault::LateReads) {
            return self.on_txn_late(req, cx);
        }
        self.execute(now, cx);
        if self.fault == Some(Fault::AbortedReads) && self.mops.iter().any(|m| m.write) {
            self.writing_txns += 1;
            if self.writing_txns % 5 == 0 {
                return Err(Reject::new(ErrorCode::TxnConflict, "aborted (deliberate fault)"));
            }
        }
        let mops = &self.mops;
        cx.reply(req, "txn_ok", |b| {
            b.arr("txn", |a| Self::write_mops(mops, a));
        });
        Ok(())
    }

    /// The `late-reads` fault: apply this txn's writes, answer the parked txn (whose reads now
    /// see them), park this one.
    fn on_txn_late(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        let now = cx.now();
        if self.mops.iter().any(|m| m.write) {
            self.clock += 1;
            let version = Version { lamport: self.clock, node: self.me };
            for i in 0..self.mops.len() {
                let m = self.mops[i];
                if let (true, Some(v)) = (m.write, m.value) {
                    self.write_local(m.key, v, version);
                }
            }
            self.arm_flush(now + FLUSH_EVERY, cx);
        }
        self.unpark(cx);
        let Some(msg_id) = req.msg_id else { return Ok(()) };
        self.parked = Some(Parked {
            client: req.src.to_owned(),
            msg_id,
            mops: std::mem::take(&mut self.mops),
        });
        cx.set_timer(now + Duration::from_millis(5), Timer::Unpark);
        Ok(())
    }

    /// Answers the parked txn, reading the registers as they are now.
    fn unpark(&mut self, cx: &mut Ctx<'_, Self>) {
        let Some(mut p) = self.parked.take() else { return };
        // (Fault path only: the parked txn owns its micro-ops, allocated per txn.)
        for i in 0..p.mops.len() {
            if p.mops[i].write {
                continue;
            }
            let key = p.mops[i].key;
            let own = p.mops[..i].iter().rev().find(|m| m.write && m.key == key);
            p.mops[i].value = match own {
                Some(m) => m.value,
                None => self.get(key),
            };
        }
        cx.send(&p.client, "txn_ok", |b| {
            b.u64("in_reply_to", p.msg_id).arr("txn", |a| Self::write_mops(&p.mops, a));
        });
    }

    fn on_replicate(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        const BAD: &str = "a list of [key, value, lamport, node] integer quadruples";
        let writes = req.arr("writes")?;
        let quad = |w: Val<'_, '_>| -> Option<(i64, i64, Version)> {
            let a = w.as_array().filter(|a| a.len() == 4)?;
            let mut it = a.iter();
            let key = it.next()?.as_i64()?;
            let value = it.next()?.as_i64()?;
            let lamport = it.next()?.as_u64()?;
            let node = it.next()?.as_u64()?;
            Some((key, value, Version { lamport, node }))
        };
        if !writes.iter().all(|w| quad(w).is_some()) {
            return Err(FieldError::invalid("writes", BAD).into());
        }
        for w in writes.iter() {
            let (key, value, version) = quad(w).expect("validated above");
            self.clock = self.clock.max(version.lamport);
            self.apply(key, value, version);
        }
        cx.reply(req, "replicate_ok", |_| {});
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

    /// Sends a batch to every peer that has changes, no batch in flight and no backoff.
    fn flush(&mut self, cx: &mut Ctx<'_, Self>) {
        self.flush = None;
        let now = cx.now();
        let mut again: Option<Instant> = None;
        for p in 0..self.peers.len() {
            let cells = self.cells.len();
            let peer = &mut self.peers[p];
            if peer.inflight.is_some() {
                continue; // its reply or timeout re-arms the flush
            }
            peer.refill(cells);
            if peer.pending.is_empty() {
                continue;
            }
            if now < peer.not_before {
                again = Some(again.map_or(peer.not_before, |a| a.min(peer.not_before)));
                continue;
            }
            peer.last_batch += 1;
            let batch = peer.last_batch;
            peer.inflight = Some(batch);
            let (pending, mark, cells) = (&peer.pending, &mut peer.mark, &self.cells);
            cx.rpc(&peer.id, "replicate", REPLICATE_TIMEOUT, Call { peer: p, batch }, |b| {
                b.arr("writes", |a| {
                    for &c in pending.iter().take(MAX_BATCH) {
                        let cell = &cells[c as usize];
                        mark[c as usize] = batch;
                        a.arr(|q| {
                            q.i64(cell.key)
                                .i64(cell.value)
                                .u64(cell.version.lamport)
                                .u64(cell.version.node);
                        });
                    }
                });
            });
        }
        if let Some(at) = again {
            self.arm_flush(at, cx);
        }
    }

    fn on_replicated(&mut self, call: Call, ok: bool, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        let peer = &mut self.peers[call.peer];
        debug_assert_eq!(peer.inflight, Some(call.batch), "one batch in flight per peer");
        peer.inflight = None;
        if ok {
            let mark = &mut peer.mark;
            peer.pending.retain(|&c| {
                let acked = mark[c as usize] == call.batch;
                if acked {
                    mark[c as usize] = CLEAN;
                }
                !acked
            });
            peer.backoff = MIN_BACKOFF;
            if peer.has_work() {
                self.arm_flush(now + FLUSH_EVERY, cx);
            }
        } else {
            // Jitter in [backoff/2, 3*backoff/2) spreads retries after a partition heals.
            let base = peer.backoff.as_micros() as u64;
            let jittered = base / 2 + cx.rng().below(base.max(1));
            let delay = Duration::from_micros(jittered);
            let peer = &mut self.peers[call.peer];
            peer.backoff = (peer.backoff * 2).min(MAX_BACKOFF);
            peer.not_before = now + delay;
            let at = peer.not_before;
            self.arm_flush(at, cx);
        }
    }
}

impl Workload for Txn {
    type Timer = Timer;
    type Call = Call;

    fn init(cx: &mut Ctx<'_, Self>, args: &[String]) -> Self {
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
            fault: Fault::parse(args),
            writing_txns: 0,
            parked: None,
        }
    }

    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        match req.kind {
            "txn" => self.on_txn(req, cx),
            "replicate" => self.on_replicate(req, cx),
            other => Err(Reject::unsupported(other)),
        }
    }

    fn on_reply(&mut self, call: Call, reply: Reply<'_, '_, '_>, cx: &mut Ctx<'_, Self>) {
        let ok = matches!(reply, Ok(m) if m.kind == "replicate_ok");
        self.on_replicated(call, ok, cx);
    }

    fn on_timer(&mut self, timer: Timer, cx: &mut Ctx<'_, Self>) {
        match timer {
            Timer::Flush => self.flush(cx),
            Timer::Unpark => self.unpark(cx),
        }
    }
}

#[cfg(test)]
mod tests;
