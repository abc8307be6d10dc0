//! Challenge 5, kafka: replicated append-only logs where every node accepts writes on its own,
//! with no coordination on the request path.
//!
//! # Design
//!
//! **Offsets without coordination.** Node `i` of `n` assigns only offsets `≡ i (mod n)`, each
//! above its *floor*, a bound it raises past every offset it assigns or hears of. Offsets are
//! therefore unique per key without any agreement, and increase for every client of a node.
//! Maelstrom allows sparse offsets; its checker compares positions in the log, not numbers.
//! A `send` is answered at once, from the node it reached, even during a partition.
//!
//! **Visibility.** A poll may only return a contiguous run of the key's log: returning offset
//! 9 while an offset 7 appears later would be a skip. Each node streams its records to every
//! peer (module `repl`) together with a *promise*: "I will never assign an offset below P again, and
//! you hold every entry I assigned below P". A node's stable bound is the minimum of its own
//! floor and its peers' promises; it serves, from its local copy, exactly the entries below
//! that bound, all of which it holds. A partition freezes the bound (polls go stale, never
//! wrong) and it catches up after the heal.
//!
//! **Committed offsets** are a max-register per key, replicated in the same streams; any node
//! answers `list_committed_offsets` locally.
//!
//! **Cost.** Client operations never wait on another node, so every op is answered at once
//! (zero network round trips). Servers exchange only replication batches: at most one per peer
//! per flush interval (`--flush-ms`, default 10), carrying many records, and none when idle.
//!
//! **Errors.** Malformed requests get error 12. A send is refused (error 11, definite: nothing
//! was stored) only if the message is too large or too many records await a peer that has
//! been unreachable for a very long time.

mod log;
mod repl;

use std::time::Duration;

use self::log::{Entry, KeyId, Logs, StoreError};
use self::repl::{OutLog, Peer, REPL, Rec};
use crate::node::{Ctx, Reject, Workload};
use crate::proto::encode::write_val;
use crate::proto::{ErrorCode, FieldError, Msg};
use crate::time::Instant;
use crate::time::wheel::TimerId;

/// Most messages one poll returns per key.
const POLL_PER_KEY: usize = 256;
/// Most messages one poll returns in total.
const POLL_TOTAL: usize = 16 * 1024;
/// Default batching interval for replication.
const FLUSH_DEFAULT: Duration = Duration::from_millis(10);

/// The kafka workload: one node's logs, floor and replication streams.
#[derive(Debug)]
pub struct Kafka {
    logs: Logs,
    /// Every offset this node assigns from now on is at least this. Invariant: greater than
    /// every offset stored here.
    floor: u64,
    /// This node's position in the node list: the residue of the offsets it assigns.
    me: u64,
    /// Residue modulus: the cluster size (at least `me + 1`).
    n: u64,
    /// Every other node, in node-list order.
    peers: Vec<Peer>,
    /// Records this node originated that some peer has not acknowledged.
    out: OutLog,
    /// At most one batch per peer per this interval.
    flush_every: Duration,
    /// When the last batch went out.
    last_flush: Option<Instant>,
    /// The pending flush/retransmission timer and its deadline.
    timer: Option<(TimerId, Instant)>,
}

/// The kafka node's one timer.
#[derive(Copy, Clone, Debug)]
pub enum Timer {
    /// Send pending batches and retransmit what timed out.
    Flush,
}

/// Reads `--flush-ms N` (or `--flush-ms=N`) from the node's arguments.
fn flush_interval(args: &[String]) -> Duration {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = match a.strip_prefix("--flush-ms") {
            Some("") => it.next().map(String::as_str),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        if let Some(ms) = v.and_then(|v| v.parse::<u64>().ok()) {
            return Duration::from_millis(ms);
        }
    }
    FLUSH_DEFAULT
}

impl Kafka {
    /// The highest offset bound below which this node holds every entry that will ever exist.
    fn stable(&self) -> u64 {
        self.peers.iter().map(|p| p.promise).fold(self.floor, u64::min)
    }

    /// The offsets stored for `key`, in order (for tests and inspection).
    pub fn stored(&self, key: &str) -> Vec<u64> {
        match self.logs.id(key) {
            None => Vec::new(),
            Some(id) => self.logs.key(id).entries.iter().map(|e| e.offset).collect(),
        }
    }

    fn send(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        let name = req.str("key")?;
        let msg = req.field("msg")?;
        if !self.peers.is_empty() && !self.out.has_room() {
            return Err(Reject::new(
                ErrorCode::TemporarilyUnavailable,
                "too many records await unreachable peers; nothing was stored",
            ));
        }
        let (start, len) = self.logs.store(|b| write_val(b, msg)).map_err(|e| match e {
            StoreError::TooLarge => Reject::new(ErrorCode::MalformedRequest, e.to_string()),
            StoreError::Full => Reject::new(ErrorCode::TemporarilyUnavailable, e.to_string()),
        })?;
        let key = self.logs.intern(name);
        // Cannot overflow: the floor is at most one past a replicated offset, which is at most
        // MAX_OFFSET (2^63 - 1), or one past our own, which grow by at most `n` per send.
        let offset = self.floor + (self.me + self.n - self.floor % self.n) % self.n;
        self.floor = offset + 1;
        let entry = Entry { offset, start, len };
        self.logs.append(key, entry);
        cx.reply(req, "send_ok", |b| {
            b.u64("offset", offset);
        });
        if !self.peers.is_empty() {
            self.out.push(Rec::Entry { key, entry });
            self.poke(cx);
        }
        Ok(())
    }

    fn poll(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        let offsets = req.obj("offsets")?;
        if offsets.iter().any(|(_, v)| v.as_i64().is_none()) {
            return Err(FieldError::invalid("offsets", "an object of integer offsets").into());
        }
        let stable = self.stable();
        let logs = &self.logs;
        cx.reply(req, "poll_ok", |b| {
            b.obj("msgs", |o| {
                let mut budget = POLL_TOTAL;
                for (name, from) in offsets.iter() {
                    let Some(key) = logs.id(name) else { continue };
                    let from = u64::try_from(from.as_i64().unwrap_or(0)).unwrap_or(0);
                    let run = logs.range(key, from, stable, POLL_PER_KEY.min(budget));
                    if run.is_empty() {
                        continue;
                    }
                    budget -= run.len();
                    o.arr(name, |a| {
                        for e in run {
                            a.arr(|pair| {
                                pair.u64(e.offset);
                                pair.elem().extend_from_slice(logs.bytes(e.start, e.len));
                            });
                        }
                    });
                }
            });
        });
        Ok(())
    }

    fn commit_offsets(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        let offsets = req.obj("offsets")?;
        if offsets.iter().any(|(_, v)| v.as_i64().is_none()) {
            return Err(FieldError::invalid("offsets", "an object of integer offsets").into());
        }
        let mut moved = false;
        for (name, off) in offsets.iter() {
            // A negative offset commits nothing.
            let Some(off) = off.as_u64() else { continue };
            let key: KeyId = self.logs.intern(name);
            if self.logs.commit(key, off) && !self.peers.is_empty() {
                // Committed offsets are advisory: if peers have been unreachable for very
                // long, the local commit stands and replication of it is skipped.
                if self.out.has_room() {
                    self.out.push(Rec::Commit { key, offset: off });
                    moved = true;
                }
            }
        }
        cx.reply(req, "commit_offsets_ok", |_| {});
        if moved {
            self.poke(cx);
        }
        Ok(())
    }

    fn list_committed(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        let keys = req.arr("keys")?;
        if keys.iter().any(|k| k.as_str().is_none()) {
            return Err(FieldError::invalid("keys", "an array of strings").into());
        }
        let logs = &self.logs;
        cx.reply(req, "list_committed_offsets_ok", |b| {
            b.obj("offsets", |o| {
                for name in keys.iter().filter_map(|k| k.as_str()) {
                    let committed = logs.id(name).and_then(|id| logs.key(id).committed);
                    if let Some(c) = committed {
                        o.u64(name, c);
                    }
                }
            });
        });
        Ok(())
    }
}

impl Workload for Kafka {
    type Timer = Timer;
    type Call = ();

    fn init(cx: &mut Ctx<'_, Self>, args: &[String]) -> Self {
        let me = cx.index() as u64;
        let n = (cx.ids().len() as u64).max(me + 1);
        let peers = cx
            .ids()
            .iter()
            .enumerate()
            .filter(|&(i, _)| i as u64 != me)
            .map(|(i, id)| Peer::new(id.clone(), i as u64))
            .collect();
        Kafka {
            logs: Logs::default(),
            floor: 0,
            me,
            n,
            peers,
            out: OutLog::default(),
            flush_every: flush_interval(args),
            last_flush: None,
            timer: None,
        }
    }

    fn on_request(&mut self, req: &Msg<'_, '_>, cx: &mut Ctx<'_, Self>) -> Result<(), Reject> {
        match req.kind {
            "send" => self.send(req, cx),
            "poll" => self.poll(req, cx),
            "commit_offsets" => self.commit_offsets(req, cx),
            "list_committed_offsets" => self.list_committed(req, cx),
            REPL => self.on_batch(req, cx),
            other => Err(Reject::unsupported(other)),
        }
    }

    fn on_timer(&mut self, timer: Timer, cx: &mut Ctx<'_, Self>) {
        match timer {
            Timer::Flush => self.on_flush_timer(cx),
        }
    }
}

#[cfg(test)]
mod tests;
