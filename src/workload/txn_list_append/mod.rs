//! txn-list-append: strict-serializable list-append transactions, committed by compare-and-set
//! of one root value in Maelstrom's `lin-kv`.
//!
//! # Design
//!
//! **The root is the log's tail.** lin-kv key `root` holds `[base, [d(base+1), ..., d(v)]]`:
//! the last few committed *deltas* (one per committed batch: its tag and its appends, in
//! order), and version `v` is the number of deltas ever committed. Older deltas sit in lin-kv
//! in immutable blocks of [`db::BLOCK`] (`block-i`), each written before the commit that drops
//! it from the root. The root is a pure function of the delta sequence (module [`db`]), so
//! every node that applied the same deltas holds the root byte for byte.
//!
//! **Optimistic commits.** A node executes a batch of queued transactions, in arrival order,
//! against its committed state (each read sees the batch's earlier appends), then CASes the
//! root from the root it holds to that root plus the batch's delta. `cas_ok` commits the whole
//! batch at the CAS's instant, so every transaction in it, reads included, is serialized at a
//! point inside its own real-time interval: strict serializability. The node then announces
//! the delta to its peers (one one-way `commit` message each), so they usually hold the newest
//! root before their next CAS. Announcements are only an optimisation: they may be lost to a
//! partition, and a node that missed some learns the root when its CAS fails.
//!
//! **Read-only batches** still need a linearizable check: the node reads the root, applies any
//! deltas it lacked, and answers from that state, which was current at the read's instant.
//! A batch that also appends gets the check for free from its CAS.
//!
//! **Conflicts and uncertain outcomes.** A CAS that fails, or times out, is resolved by reading
//! the root (unless an announcement already showed who took that version): after catching up,
//! the delta at the proposed version either carries the batch's tag (it committed, perhaps
//! through an earlier attempt) or another (it did not, and never can: the root has moved past
//! the `from` value). A batch whose outcome is unknown is never failed: only transactions
//! known not to have committed get a definite error (11 or 30), and only after
//! [`TXN_PATIENCE`].
//!
//! **Hand-over.** A batch that lost goes to the winner (the tag says which node it is) when
//! that peer was heard from within two round trips: it is sent as an ordinary `txn` request,
//! the winner serializes it in its next batch, and its reply goes back to the client. Plain
//! retries starve under contention (the winner's cache is fresh, the loser must first learn
//! the new root): at 10 ms latency the max went from 3.3 s to 80 ms. Otherwise (a partition,
//! or a peer's own forwarded transaction, which never moves twice) the batch is executed
//! again after a jittered backoff. A hand-over that gets no answer ends in an indefinite
//! error (code 0): the peer may have committed it.
//!
//! **Catching up.** A node that fell more than the root's window behind reads the blocks it
//! lacks, one after another, then the root again.
//!
//! **Availability.** Everything a commit needs is in lin-kv, which Maelstrom never partitions,
//! so a node cut off from its peers keeps committing; it only loses the announcements.
//!
//! **One node.** With no peers the node is its own serial executor: it commits in memory and
//! answers at once, with no service at all.
//!
//! # Limits
//!
//! A transaction of more than [`MAX_TXN_MOPS`] micro-operations or [`MAX_TXN_BYTES`] bytes of
//! keys and elements is rejected whole with error 12. At most [`MAX_QUEUE`] transactions wait
//! per node (beyond that, error 11: nothing was executed). A batch takes at most
//! [`MAX_BATCH_TXNS`] transactions and [`MAX_BATCH_APPENDS`] appends. At most one lin-kv request
//! is in flight per node. Announcements from the future are buffered up to [`MAX_FUTURE`].
//! The database itself (every list ever appended to) is the data, not a cache, and is kept
//! whole; appends are refused (error 11) once it holds [`MAX_DB_BYTES`].

pub mod db;

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;
use std::time::Duration;

use self::db::{BLOCK, Db, Delta, EMPTY_ROOT, block_key};
use crate::node::{Ctx, Reject, Reply, Workload};
use crate::proto::encode::write_val;
use crate::proto::{ErrorCode, FieldError, Kind, Msg, Val};
use crate::time::Instant;

/// The service holding the root and the blocks.
const KV: &str = "lin-kv";
/// The root's key.
const ROOT: &str = "root";
/// The one-way message announcing a commit to peers: `{v, d}`.
pub const COMMIT: &str = "commit";

/// Most micro-operations in one transaction.
pub const MAX_TXN_MOPS: usize = 1024;
/// Most bytes of keys and elements (as JSON) in one transaction.
pub const MAX_TXN_BYTES: usize = 64 * 1024;
/// Most transactions waiting per node, batch included.
pub const MAX_QUEUE: usize = 4096;
/// Most transactions per batch.
pub const MAX_BATCH_TXNS: usize = 64;
/// Most appends per batch (a transaction with more goes alone).
pub const MAX_BATCH_APPENDS: usize = 256;
/// Most announced deltas buffered ahead of the node's version.
pub const MAX_FUTURE: usize = 64;
/// Size of the database beyond which new appends are refused.
pub const MAX_DB_BYTES: usize = 1 << 30;
/// How long a transaction known not to have committed keeps being retried.
pub const TXN_PATIENCE: Duration = Duration::from_millis(4000);
/// Maelstrom's client timeout: no reply is sent to a request older than this.
const CLIENT_TIMEOUT: Duration = Duration::from_millis(5000);
/// Bounds on the lin-kv request timeout, which otherwise adapts to 4 × the smoothed RTT.
const MIN_TIMEOUT: Duration = Duration::from_millis(500);
const MAX_TIMEOUT: Duration = Duration::from_millis(5000);
/// Longest backoff before a retry, in milliseconds (the actual one is uniform below a bound
/// that doubles with each attempt up to this).
const MAX_BACKOFF_MS: u64 = 64;

/// One micro-operation: ranges into its transaction's `text`.
#[derive(Clone, Debug)]
struct Mop {
    append: bool,
    key: Range<u32>,
    /// The appended element (empty for a read).
    elem: Range<u32>,
}

/// A client transaction waiting to commit. Reused through a pool.
#[derive(Debug, Default)]
struct Txn {
    client: String,
    msg_id: u64,
    arrived: Instant,
    /// CAS attempts known to have failed.
    attempts: u32,
    appends: usize,
    /// Keys and elements as compact JSON.
    text: Vec<u8>,
    mops: Vec<Mop>,
    /// The completed `txn` array, filled in by [`execute`].
    reply: Vec<u8>,
    /// A peer forwarded it (it is never forwarded again).
    from_peer: bool,
}

impl Txn {
    fn slice(&self, r: &Range<u32>) -> &[u8] {
        &self.text[r.start as usize..r.end as usize]
    }
}

/// What the node is doing about its batch. At most one lin-kv request is in flight, and only
/// in the phases `Block`, `Cas`, `Read` and `Fetch`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// Nothing in flight.
    Idle,
    /// Waiting for [`Timer::Retry`], then doing this.
    Backoff(Next),
    /// Writing block `i` before the batch's CAS.
    Block(u64),
    /// The batch's CAS is in flight.
    Cas,
    /// Reading the root: for a read-only batch, to resolve a CAS, or to catch up.
    Read,
    /// Reading block `idx`; blocks below `until` are needed, then the root again.
    Fetch { idx: u64, until: u64 },
}

/// What to do when a backoff ends.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Next {
    /// Execute and propose the batch (again).
    Propose,
    /// Read the root.
    Read,
    /// Read block `idx` (of those below `until`).
    Fetch { idx: u64, until: u64 },
}

/// What an RPC of the node is for.
#[derive(Debug)]
pub enum Call {
    /// The lin-kv request of the current phase, sent at this instant.
    Kv(Instant),
    /// A transaction forwarded to a peer on behalf of `client`.
    Forward {
        /// The client's id.
        client: String,
        /// The client's `msg_id`.
        msg_id: u64,
        /// When the client's request arrived.
        arrived: Instant,
    },
}

/// The node's timers.
#[derive(Copy, Clone, Debug)]
pub enum Timer {
    /// A backoff ended.
    Retry,
}

/// Counters, for tests and the node's log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Batches committed by this node.
    pub commits: u64,
    /// CAS requests sent.
    pub cas: u64,
    /// CAS attempts that turned out not to have committed.
    pub conflicts: u64,
    /// Root reads.
    pub root_reads: u64,
    /// Blocks written.
    pub blocks_written: u64,
    /// Blocks read.
    pub blocks_read: u64,
    /// Announced deltas applied.
    pub announced: u64,
    /// Transactions failed with a definite error after retrying.
    pub given_up: u64,
    /// Transactions handed to the peer that won a conflict.
    pub forwarded: u64,
}

/// The txn-list-append node.
#[derive(Debug)]
pub struct TxnListAppend {
    db: Db,
    /// Every other node.
    peers: Vec<String>,
    /// Whether to announce commits to peers (`--no-announce` turns it off, for comparison).
    announce: bool,
    /// Whether a batch that lost a conflict goes to the winner (`--no-forward` turns it off).
    forward: bool,
    /// Deliberately unsafe, for showing the checker catches it: answer read-only txns from the
    /// local state without reading the root (`--stale-reads`, the mistake Maelstrom's guide
    /// makes on purpose). Serializable, but not strict-serializable.
    stale_reads: bool,
    /// All node ids, in `init` order.
    ids: Vec<String>,
    /// When this node last heard from each node (by index).
    heard: Vec<Option<Instant>>,
    /// The node whose delta took the watched version, once known.
    lost_to: Option<usize>,
    /// Transactions forwarded and not yet answered.
    forwarding: usize,
    /// This node's index and the cluster size, for unique tags.
    me: u64,
    n: u64,
    /// Proposals made so far.
    proposals: u64,
    /// Transactions not yet in the batch, in arrival order.
    queue: VecDeque<Txn>,
    /// The batch being committed (empty if none).
    batch: Vec<Txn>,
    /// The batch's delta as last executed.
    delta: Delta,
    /// The committed version the batch was last executed against.
    proposed_at: u64,
    /// The version and tag of the CAS whose outcome is not yet known.
    watch: Option<(u64, u64)>,
    /// What became of it, once a delta at that version was applied: whether it was ours.
    outcome: Option<bool>,
    phase: Phase,
    /// The highest block this node has written itself.
    wrote_block: Option<u64>,
    /// Announced deltas ahead of `db.version() + 1`, by version.
    future: BTreeMap<u64, Delta>,
    /// Spare transactions and deltas, for reuse.
    spare: Vec<Txn>,
    spare_deltas: Vec<Delta>,
    /// Scratch buffers for request bodies.
    from: Vec<u8>,
    to: Vec<u8>,
    key: String,
    /// A scratch delta for reads and announcements.
    scratch: Delta,
    /// Smoothed lin-kv round trip.
    srtt: Duration,
    stats: Stats,
}

/// Why a transaction was not accepted.
fn malformed(why: &'static str) -> Reject {
    Reject::from(FieldError::invalid("txn", why))
}

/// Reads a `txn` array into `t` (which must be reset).
fn parse_txn(txn: Val<'_, '_>, t: &mut Txn) -> Result<(), Reject> {
    const MOP: &str = "an array of [\"r\", key, null] and [\"append\", key, element]";
    let arr = txn.as_array().ok_or_else(|| malformed(MOP))?;
    if arr.len() > MAX_TXN_MOPS {
        return Err(Reject::new(
            ErrorCode::MalformedRequest,
            format!("a transaction may have at most {MAX_TXN_MOPS} micro-operations"),
        ));
    }
    for m in arr.iter() {
        let a = m.as_array().ok_or_else(|| malformed(MOP))?;
        let (Some(f), Some(k), Some(v), 3) = (a.get(0), a.get(1), a.get(2), a.len()) else {
            return Err(malformed(MOP));
        };
        let append = match f.as_str() {
            Some("r") => false,
            Some("append") => true,
            _ => return Err(malformed(MOP)),
        };
        if !append && v.kind() != Kind::Null {
            return Err(malformed(MOP));
        }
        let start = t.text.len() as u32;
        write_val(&mut t.text, k);
        let key = start..t.text.len() as u32;
        let mut elem = key.end..key.end;
        if append {
            write_val(&mut t.text, v);
            elem.end = t.text.len() as u32;
            t.appends += 1;
        }
        if t.text.len() > MAX_TXN_BYTES {
            return Err(Reject::new(
                ErrorCode::MalformedRequest,
                format!("a transaction's keys and elements may take at most {MAX_TXN_BYTES} bytes"),
            ));
        }
        t.mops.push(Mop { append, key, elem });
    }
    Ok(())
}

/// Executes `txns` in order against `db`, filling in each one's `reply` and collecting their
/// appends into `delta` (tagged `tag`). Reads see the committed list plus the batch's earlier
/// appends.
fn execute(db: &Db, txns: &mut [Txn], delta: &mut Delta, tag: u64) {
    delta.begin(tag);
    for t in txns.iter_mut() {
        let mut reply = std::mem::take(&mut t.reply);
        reply.clear();
        reply.push(b'[');
        for (i, m) in t.mops.iter().enumerate() {
            if i > 0 {
                reply.push(b',');
            }
            let key = t.slice(&m.key);
            if m.append {
                let elem = t.slice(&m.elem);
                reply.extend_from_slice(b"[\"append\",");
                reply.extend_from_slice(key);
                reply.push(b',');
                reply.extend_from_slice(elem);
                reply.push(b']');
                delta.push(key, elem);
                continue;
            }
            reply.extend_from_slice(b"[\"r\",");
            reply.extend_from_slice(key);
            reply.push(b',');
            let committed = db.list(key);
            let mut empty = committed.is_empty();
            if empty {
                reply.push(b'[');
            } else {
                reply.push(b'[');
                reply.extend_from_slice(committed);
            }
            for (_, e) in delta.pairs().filter(|(k, _)| *k == key) {
                if !empty {
                    reply.push(b',');
                }
                empty = false;
                reply.extend_from_slice(e);
            }
            if empty {
                // A key nothing was appended to reads as null, as Maelstrom's docs ask.
                reply.pop();
                reply.extend_from_slice(b"null]");
            } else {
                reply.extend_from_slice(b"]]");
            }
        }
        reply.push(b']');
        t.reply = reply;
    }
    delta.finish();
}

impl TxnListAppend {
    /// The committed version this node holds.
    pub fn version(&self) -> u64 {
        self.db.version()
    }

    /// The node's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Transactions waiting, the batch included.
    pub fn waiting(&self) -> usize {
        self.queue.len() + self.batch.len()
    }

    /// The elements of `key` (compact JSON), comma-joined, at the committed version.
    pub fn list(&self, key: &str) -> &[u8] {
        self.db.list(key.as_bytes())
    }

    fn timeout(&self) -> Duration {
        (self.srtt * 4).clamp(MIN_TIMEOUT, MAX_TIMEOUT)
    }

    fn solo(&self) -> bool {
        self.peers.is_empty()
    }

    /// Starts whatever the batch needs next, if nothing is in flight.
    fn pump(&mut self, cx: &mut Ctx<'_, Self>) {
        while self.phase == Phase::Idle {
            self.expire(cx);
            self.fill_batch();
            if self.batch.is_empty() {
                return;
            }
            if self.solo() {
                self.commit_locally(cx);
                continue;
            }
            if self.batch.iter().any(|t| t.appends > 0) {
                self.propose(cx);
            } else if self.stale_reads {
                let mut d = std::mem::take(&mut self.scratch);
                execute(&self.db, &mut self.batch, &mut d, 0);
                self.scratch = d;
                self.answer_batch(cx);
            } else {
                self.read_root(cx);
            }
        }
    }

    /// Moves queued transactions into the batch, within the batch bounds.
    fn fill_batch(&mut self) {
        let mut appends: usize = self.batch.iter().map(|t| t.appends).sum();
        while self.batch.len() < MAX_BATCH_TXNS {
            let Some(t) = self.queue.front() else { break };
            if !self.batch.is_empty() && appends + t.appends > MAX_BATCH_APPENDS {
                break;
            }
            appends += t.appends;
            let t = self.queue.pop_front().expect("front exists");
            self.batch.push(t);
        }
    }

    /// Fails transactions that waited too long and are known not to have committed: queued
    /// ones (never proposed) and, when no CAS of the batch is unresolved, the batch's.
    fn expire(&mut self, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        let old = |t: &Txn| now.saturating_since(t.arrived) >= TXN_PATIENCE;
        if self.watch.is_none() && self.batch.iter().any(old) {
            let mut i = 0;
            while i < self.batch.len() {
                if old(&self.batch[i]) {
                    let t = self.batch.remove(i);
                    self.give_up(t, ErrorCode::TxnConflict, cx);
                } else {
                    i += 1;
                }
            }
        }
        while self.queue.front().is_some_and(old) {
            let t = self.queue.pop_front().expect("front exists");
            self.give_up(t, ErrorCode::TemporarilyUnavailable, cx);
        }
    }

    fn give_up(&mut self, t: Txn, code: ErrorCode, cx: &mut Ctx<'_, Self>) {
        self.stats.given_up += 1;
        if cx.now().saturating_since(t.arrived) < CLIENT_TIMEOUT {
            let text = if code == ErrorCode::TxnConflict {
                "lost every commit attempt to concurrent transactions; nothing was applied"
            } else {
                "the node could not start this transaction in time; nothing was applied"
            };
            cx.send(&t.client, "error", |b| {
                b.u64("in_reply_to", t.msg_id).u64("code", code.code()).str("text", text);
            });
        }
        self.recycle(t);
    }

    fn recycle(&mut self, mut t: Txn) {
        if self.spare.len() < MAX_BATCH_TXNS {
            t.client.clear();
            t.text.clear();
            t.mops.clear();
            t.reply.clear();
            t.appends = 0;
            t.attempts = 0;
            t.from_peer = false;
            self.spare.push(t);
        }
    }

    /// Answers every transaction of the batch with its executed result.
    fn answer_batch(&mut self, cx: &mut Ctx<'_, Self>) {
        let now = cx.now();
        let mut batch = std::mem::take(&mut self.batch);
        for t in batch.drain(..) {
            if now.saturating_since(t.arrived) < CLIENT_TIMEOUT {
                cx.send(&t.client, "txn_ok", |b| {
                    b.u64("in_reply_to", t.msg_id).key("txn").extend_from_slice(&t.reply);
                });
            }
            self.recycle(t);
        }
        self.batch = batch;
    }

    fn next_tag(&mut self) -> u64 {
        self.proposals += 1;
        self.proposals * self.n + self.me
    }

    /// One node, no peers: the node is the serial executor.
    fn commit_locally(&mut self, cx: &mut Ctx<'_, Self>) {
        let tag = self.next_tag();
        execute(&self.db, &mut self.batch, &mut self.delta, tag);
        if !self.delta.is_empty() {
            self.db.apply(&self.delta);
            self.stats.commits += 1;
        }
        self.answer_batch(cx);
    }

    /// Executes the batch against the committed state and proposes its delta.
    fn propose(&mut self, cx: &mut Ctx<'_, Self>) {
        let tag = self.next_tag();
        execute(&self.db, &mut self.batch, &mut self.delta, tag);
        self.proposed_at = self.db.version();
        if self.db.trims_next() {
            let idx = self.db.next_block(&mut self.to);
            if self.wrote_block.is_none_or(|w| w < idx) {
                block_key(idx, &mut self.key);
                let (key, value) = (&self.key, &self.to);
                cx.rpc(KV, "write", self.timeout(), Call::Kv(cx.now()), |b| {
                    b.str("key", key).key("value").extend_from_slice(value);
                });
                self.phase = Phase::Block(idx);
                return;
            }
        }
        self.send_cas(cx);
    }

    /// Sends the CAS of the batch's delta as version `db.version() + 1`.
    fn send_cas(&mut self, cx: &mut Ctx<'_, Self>) {
        self.from.clear();
        self.from.extend_from_slice(self.db.root());
        self.db.next_root(&self.delta, &mut self.to);
        let version = self.db.version() + 1;
        if self.watch != Some((version, self.delta.tag())) {
            self.watch = Some((version, self.delta.tag()));
            self.outcome = None;
        }
        let (from, to) = (&self.from, &self.to);
        cx.rpc(KV, "cas", self.timeout(), Call::Kv(cx.now()), |b| {
            b.str("key", ROOT);
            b.key("from").extend_from_slice(from);
            b.key("to").extend_from_slice(to);
            b.bool("create_if_not_exists", true);
        });
        self.stats.cas += 1;
        self.phase = Phase::Cas;
    }

    fn read_root(&mut self, cx: &mut Ctx<'_, Self>) {
        cx.rpc(KV, "read", self.timeout(), Call::Kv(cx.now()), |b| {
            b.str("key", ROOT);
        });
        self.stats.root_reads += 1;
        self.phase = Phase::Read;
    }

    fn fetch(&mut self, idx: u64, until: u64, cx: &mut Ctx<'_, Self>) {
        block_key(idx, &mut self.key);
        let key = &self.key;
        cx.rpc(KV, "read", self.timeout(), Call::Kv(cx.now()), |b| {
            b.str("key", key);
        });
        self.stats.blocks_read += 1;
        self.phase = Phase::Fetch { idx, until };
    }

    /// Waits a jittered, growing delay, then does `next`.
    fn backoff(&mut self, attempt: u32, next: Next, cx: &mut Ctx<'_, Self>) {
        let bound = (1u64 << attempt.min(16)).min(MAX_BACKOFF_MS);
        let ms = cx.rng().below(bound + 1);
        if ms == 0 && next == Next::Propose {
            self.phase = Phase::Idle;
            return;
        }
        let at = cx.now() + Duration::from_millis(ms);
        cx.set_timer(at, Timer::Retry);
        self.phase = Phase::Backoff(next);
    }

    /// Applies `d` as the next version, noting whether it settles the watched CAS.
    fn apply(&mut self, d: &Delta) {
        let v = self.db.version() + 1;
        if let Some((pv, tag)) = self.watch {
            if pv == v {
                self.outcome = Some(d.tag() == tag);
                self.lost_to = (d.tag() != tag).then_some((d.tag() % self.n) as usize);
            }
        }
        self.db.apply(d);
    }

    /// Applies buffered announcements that have become next in line.
    fn drain_future(&mut self) {
        loop {
            let Some(entry) = self.future.first_entry() else { return };
            let v = *entry.key();
            if v > self.db.version() + 1 {
                return;
            }
            let d = entry.remove();
            if v == self.db.version() + 1 {
                self.apply(&d);
                self.stats.announced += 1;
            }
            self.spare_deltas.push(d);
        }
    }

    /// Applies the deltas of a root (or block) value from `first_version` on that this node
    /// lacks. Returns false if the value is malformed.
    fn apply_deltas(&mut self, deltas: Val<'_, '_>, first_version: u64) -> bool {
        let Some(arr) = deltas.as_array() else { return false };
        let mut d = std::mem::take(&mut self.scratch);
        let mut ok = true;
        for (i, dv) in arr.iter().enumerate() {
            let v = first_version + i as u64;
            if v <= self.db.version() {
                continue;
            }
            if v > self.db.version() + 1 || !d.read(dv) {
                ok = false;
                break;
            }
            self.apply(&d);
        }
        self.scratch = d;
        self.drain_future();
        ok
    }

    /// The batch's CAS committed.
    fn committed(&mut self, cx: &mut Ctx<'_, Self>) {
        // The version the batch took, which the node may already have moved past (a root
        // read that settled a timed-out CAS can bring later deltas too).
        let Some((v, _)) = self.watch else {
            debug_assert!(false, "committed without a watched CAS");
            return;
        };
        self.stats.commits += 1;
        self.watch = None;
        self.outcome = None;
        if self.announce {
            let d = self.delta.text();
            for p in &self.peers {
                cx.send(p, COMMIT, |b| {
                    b.u64("v", v).key("d").extend_from_slice(d);
                });
            }
        }
        self.answer_batch(cx);
        self.phase = Phase::Idle;
    }

    /// The batch's CAS is known not to have committed: hand its transactions to the winner
    /// if that peer was heard from just now, else retry after a backoff.
    ///
    /// Without the hand-over, two busy nodes starve each other: the winner's cache is fresh,
    /// so its next CAS goes out at once, while the loser first has to learn the new root.
    /// At 10 ms latency a loser lost again about four times in five (median 20 ms, p99 514
    /// ms, max 3.3 s). The winner serializes the handed-over transactions in its next batch.
    fn conflicted(&mut self, cx: &mut Ctx<'_, Self>) {
        self.stats.conflicts += 1;
        self.watch = None;
        self.outcome = None;
        let winner = self.lost_to.take();
        let mut attempt = 0;
        for t in &mut self.batch {
            t.attempts += 1;
            attempt = attempt.max(t.attempts);
        }
        if let Some(w) = winner.filter(|&w| self.forward && self.fresh(w, cx.now())) {
            let mut batch = std::mem::take(&mut self.batch);
            for t in batch.drain(..) {
                if t.from_peer {
                    self.batch.push(t);
                } else {
                    self.forward_txn(t, w, cx);
                }
            }
            if self.batch.is_empty() {
                self.batch = batch;
                self.phase = Phase::Idle;
                return;
            }
        }
        self.backoff(attempt, Next::Propose, cx);
    }

    /// Whether node `i` was heard from recently enough to expect it to answer.
    fn fresh(&self, i: usize, now: Instant) -> bool {
        let window = (self.srtt * 2).max(Duration::from_millis(10));
        self.heard.get(i).copied().flatten().is_some_and(|at| now.saturating_since(at) <= window)
    }

    fn hear(&mut self, src: &str, now: Instant) {
        if let Some(i) = self.ids.iter().position(|id| id == src) {
            self.heard[i] = Some(now);
        }
    }

    /// Sends `t` to node `w` as a `txn` request; its reply goes back to the client.
    fn forward_txn(&mut self, mut t: Txn, w: usize, cx: &mut Ctx<'_, Self>) {
        self.stats.forwarded += 1;
        self.forwarding += 1;
        let call = Call::Forward {
            client: std::mem::take(&mut t.client),
            msg_id: t.msg_id,
            arrived: t.arrived,
        };
        let timeout = (self.srtt * 8).clamp(MIN_TIMEOUT * 2, MAX_TIMEOUT);
        let dest = &self.ids[w];
        cx.rpc(dest, "txn", timeout, call, |b| {
            b.arr("txn", |a| {
                for m in &t.mops {
                    a.arr(|x| {
                        x.str(if m.append { "append" } else { "r" });
                        x.elem().extend_from_slice(t.slice(&m.key));
                        if m.append {
                            x.elem().extend_from_slice(t.slice(&m.elem));
                        } else {
                            x.null();
                        }
                    });
                }
            });
        });
        self.recycle(t);
    }

    /// Relays a forwarded transaction's outcome to its client.
    fn forwarded(&mut self, call: Call, reply: Reply<'_, '_, '_>, cx: &mut Ctx<'_, Self>) {
        let Call::Forward { client, msg_id, arrived } = call else { return };
        self.forwarding -= 1;
        if let Ok(m) = reply {
            self.hear(m.src, cx.now());
        }
        if cx.now().saturating_since(arrived) >= CLIENT_TIMEOUT {
            return;
        }
        match reply {
            Ok(m) if m.kind == "txn_ok" && m.get("txn").is_some() => {
                let txn = m.get("txn").expect("checked");
                cx.send(&client, "txn_ok", |b| {
                    b.u64("in_reply_to", msg_id).val("txn", txn);
                });
            }
            // The peer's own error: as definite or indefinite as the peer said.
            Err(code) if code != ErrorCode::Timeout => {
                cx.send(&client, "error", |b| {
                    b.u64("in_reply_to", msg_id)
                        .u64("code", code.code())
                        .str("text", "the peer this transaction was handed to refused it");
                });
            }
            _ => {
                cx.send(&client, "error", |b| {
                    b.u64("in_reply_to", msg_id).u64("code", ErrorCode::Timeout.code()).str(
                        "text",
                        "handed to a peer that did not answer in time; it may have committed",
                    );
                });
            }
        }
    }

    /// After catching up to a root read: settle whatever the batch was waiting for.
    fn caught_up(&mut self, cx: &mut Ctx<'_, Self>) {
        match (self.watch, self.outcome) {
            (Some(_), Some(true)) => self.committed(cx),
            (Some(_), Some(false)) => self.conflicted(cx),
            // The root is still the CAS's `from`: the CAS has not happened (it timed out, or
            // is still on its way). Send it again: if both land, the second fails and the next
            // read finds our tag.
            (Some(_), None) => self.send_cas(cx),
            (None, _) => {
                // A read-only batch: the state is at least the root just read.
                let mut d = std::mem::take(&mut self.scratch);
                execute(&self.db, &mut self.batch, &mut d, 0);
                self.scratch = d;
                self.answer_batch(cx);
                self.phase = Phase::Idle;
            }
        }
    }

    fn on_txn(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        let Some(msg_id) = req.msg_id else {
            return Err(Reject::new(ErrorCode::MalformedRequest, "a txn needs a msg_id"));
        };
        let txn = req.field("txn")?;
        if self.waiting() + self.forwarding >= MAX_QUEUE {
            return Err(Reject::new(
                ErrorCode::TemporarilyUnavailable,
                "too many transactions waiting; nothing was executed",
            ));
        }
        let mut t = self.spare.pop().unwrap_or_default();
        if let Err(e) = parse_txn(txn, &mut t) {
            self.recycle(t);
            return Err(e);
        }
        if t.appends > 0 && self.db.bytes() >= MAX_DB_BYTES {
            self.recycle(t);
            return Err(Reject::new(
                ErrorCode::TemporarilyUnavailable,
                "the database is full; nothing was executed",
            ));
        }
        if t.mops.is_empty() {
            // Nothing to observe or change: serializable anywhere, answered at once.
            cx.reply(req, "txn_ok", |b| {
                b.arr("txn", |_| {});
            });
            self.recycle(t);
            return Ok(());
        }
        t.client.push_str(req.src);
        t.from_peer = self.peers.iter().any(|p| p == req.src);
        t.msg_id = msg_id;
        t.arrived = cx.now();
        self.queue.push_back(t);
        self.pump(cx);
        Ok(())
    }

    fn on_commit(&mut self, req: &Msg<'_, '_>, now: Instant) -> Result<(), Reject> {
        self.hear(req.src, now);
        let v = req.u64("v")?;
        let dv = req.field("d")?;
        let next = self.db.version() + 1;
        if v < next {
            return Ok(());
        }
        if v > next && (self.future.len() >= MAX_FUTURE || self.future.contains_key(&v)) {
            return Ok(());
        }
        let mut d = self.spare_deltas.pop().unwrap_or_default();
        if !d.read(dv) {
            self.spare_deltas.push(d);
            return Err(FieldError::invalid("d", "a delta [tag, key, element, ...]").into());
        }
        if v == next {
            self.apply(&d);
            self.stats.announced += 1;
            self.spare_deltas.push(d);
            self.drain_future();
        } else {
            self.future.insert(v, d);
        }
        Ok(())
    }

    fn on_root(&mut self, reply: Reply<'_, '_, '_>, cx: &mut Ctx<'_, Self>) {
        let root = match reply {
            Ok(m) => m.get("value"),
            // Nothing has ever committed.
            Err(ErrorCode::KeyDoesNotExist) => None,
            Err(_) => {
                self.backoff(1, Next::Read, cx);
                return;
            }
        };
        if let Some(root) = root {
            let parts = root.as_array().and_then(|a| Some((a.get(0)?.as_u64()?, a.get(1)?)));
            let Some((base, deltas)) = parts.filter(|(b, _)| b % BLOCK == 0) else {
                cx.log(format_args!("lin-kv holds a root this node cannot read; retrying"));
                self.backoff(MAX_BACKOFF_MS.ilog2() + 1, Next::Read, cx);
                return;
            };
            if base > self.db.version() {
                let from = self.db.version() / BLOCK;
                self.fetch(from, base / BLOCK, cx);
                return;
            }
            if !self.apply_deltas(deltas, base + 1) {
                cx.log(format_args!("lin-kv holds a root this node cannot read; retrying"));
                self.backoff(MAX_BACKOFF_MS.ilog2() + 1, Next::Read, cx);
                return;
            }
            let len = deltas.as_array().map_or(0, |a| a.len() as u64);
            if self.db.version() == base + len {
                // Keep lin-kv's own text of the root as the next CAS `from`.
                self.to.clear();
                write_val(&mut self.to, root);
                self.db.adopt_root_text(&self.to);
            }
        } else if self.db.version() == 0 {
            self.db.adopt_root_text(EMPTY_ROOT);
        }
        self.caught_up(cx);
    }

    fn on_block(&mut self, idx: u64, until: u64, reply: Reply<'_, '_, '_>, cx: &mut Ctx<'_, Self>) {
        let value = match reply {
            Ok(m) => m.get("value"),
            Err(_) => None,
        };
        let applied = value.is_some_and(|v| self.apply_deltas(v, idx * BLOCK + 1));
        if !applied {
            self.backoff(1, Next::Fetch { idx, until }, cx);
            return;
        }
        let next = (idx + 1).max(self.db.version() / BLOCK);
        if next < until {
            self.fetch(next, until, cx);
        } else {
            self.read_root(cx);
        }
    }
}

impl Workload for TxnListAppend {
    type Timer = Timer;
    type Call = Call;

    fn init(cx: &mut Ctx<'_, Self>, args: &[String]) -> Self {
        let me = cx.index() as u64;
        let n = (cx.ids().len() as u64).max(me + 1);
        let peers: Vec<String> = cx.ids().iter().filter(|id| *id != cx.id()).cloned().collect();
        let ids = cx.ids().to_vec();
        TxnListAppend {
            db: Db::new(!peers.is_empty()),
            peers,
            announce: !args.iter().any(|a| a == "--no-announce"),
            forward: !args.iter().any(|a| a == "--no-forward"),
            stale_reads: args.iter().any(|a| a == "--stale-reads"),
            heard: vec![None; ids.len()],
            ids,
            lost_to: None,
            forwarding: 0,
            me,
            n,
            proposals: 0,
            queue: VecDeque::new(),
            batch: Vec::with_capacity(MAX_BATCH_TXNS),
            delta: Delta::default(),
            proposed_at: 0,
            watch: None,
            outcome: None,
            phase: Phase::Idle,
            wrote_block: None,
            future: BTreeMap::new(),
            spare: Vec::new(),
            spare_deltas: Vec::new(),
            from: Vec::new(),
            to: Vec::new(),
            key: String::new(),
            scratch: Delta::default(),
            srtt: Duration::from_millis(100),
            stats: Stats::default(),
        }
    }

    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        match req.kind {
            "txn" => self.on_txn(req, cx),
            COMMIT => self.on_commit(req, cx.now()),
            other => Err(Reject::unsupported(other)),
        }
    }

    fn on_reply(&mut self, call: Call, reply: Reply<'_, '_, '_>, cx: &mut Ctx<'_, Self>) {
        let Call::Kv(sent) = call else {
            self.forwarded(call, reply, cx);
            return;
        };
        match reply {
            Err(ErrorCode::Timeout) => self.srtt = (self.srtt * 2).min(MAX_TIMEOUT / 4),
            _ => {
                let sample = cx.now().saturating_since(sent);
                self.srtt = (self.srtt * 7 + sample) / 8;
            }
        }
        match self.phase {
            Phase::Block(idx) => match reply {
                Ok(_) => {
                    self.stats.blocks_written += 1;
                    self.wrote_block = Some(idx);
                    if self.db.version() == self.proposed_at {
                        self.send_cas(cx);
                    } else {
                        // An announcement moved the state on: execute again.
                        self.phase = Phase::Idle;
                    }
                }
                Err(_) => self.backoff(1, Next::Propose, cx),
            },
            Phase::Cas => match (reply, self.outcome) {
                (Ok(_), None) if self.watch.is_some_and(|(v, _)| v == self.db.version() + 1) => {
                    let d = std::mem::take(&mut self.delta);
                    self.apply(&d);
                    self.delta = d;
                    self.drain_future();
                    self.committed(cx);
                }
                // An announcement already showed that another batch took the version, so this
                // CAS failed, or will if it is still on its way.
                (Err(_), Some(false)) => self.conflicted(cx),
                // Failed, or unknown (or a `cas_ok` this node cannot place, which only a
                // confused store could send): read the root to find out what happened.
                _ => self.read_root(cx),
            },
            Phase::Read => self.on_root(reply, cx),
            Phase::Fetch { idx, until } => self.on_block(idx, until, reply, cx),
            Phase::Idle | Phase::Backoff(_) => {
                debug_assert!(false, "a reply with nothing in flight");
            }
        }
        self.pump(cx);
    }

    fn on_timer(&mut self, timer: Timer, cx: &mut Ctx<'_, Self>) {
        let Timer::Retry = timer;
        let Phase::Backoff(next) = self.phase else { return };
        self.phase = Phase::Idle;
        match next {
            Next::Propose => {}
            Next::Read => self.read_root(cx),
            Next::Fetch { idx, until } => self.fetch(idx, until, cx),
        }
        self.pump(cx);
    }
}

#[cfg(test)]
mod tests;
