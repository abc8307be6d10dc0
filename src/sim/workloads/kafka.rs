//! kafka: Maelstrom's generator and client for the kafka workload (sends, polls with commits,
//! assigns, client crashes, and the final catch-up polls); the checker is in [`checker`].
//!
//! The generator follows Jepsen's `kafka/workload` as Maelstrom configures it (one micro-op
//! per operation, `:assign` subscriptions, crashing clients):
//! - Elle's `wr-txns`: half polls, half sends, keys from a pool of `--key-count` (10) active
//!   integer keys chosen with exponential (base 2) weights, values `1..=max-writes-per-key`
//!   per key, after which the key's slot gets a fresh key and the draw is repeated.
//! - With probability 1/64 an operation is replaced by `assign [its key]` (the displaced
//!   operation comes next); a third of assigns also take every key with sent-but-unpolled
//!   offsets (`poll-unseen`).
//! - `crash` operations, staggered by 30 s / concurrency, complete `info` with no request and
//!   replace the client (new process, empty offsets).
//! - Final phase, per thread: `crash`, `assign` every key seen with seek-to-beginning, then
//!   polls every U(0, 0.4) s until this thread's polls reach the highest offsets seen in the
//!   main phase; capped at 10 s.
//!
//! Keys are integers here and strings (`"12"`) on the wire, as in Maelstrom.

pub mod checker;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::{Check, ClientWorkload, Done, RpcResult, Step, Ty, check_schema, fields};
use crate::edn::Keyword;
use crate::proto::Val;
use crate::proto::encode::write_val;
use crate::rng::Rng;
use crate::sim::history::{History, OpType};
use crate::sim::opts::TestOpts;

/// A message value as polled: integers (what clients send) or any other JSON, kept as text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PVal {
    /// A JSON integer.
    Int(i64),
    /// Any other JSON value, as compact text (never equal to a sent value).
    Other(String),
}

/// What an ok poll returned.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Polled {
    /// Per key (in reply order), the `[offset, message]` pairs, in reply order.
    pub msgs: Vec<(u64, Vec<(i64, PVal)>)>,
    /// Keys in the reply that are not canonical integer strings (nobody sends to them).
    pub foreign: Vec<String>,
}

/// A kafka operation's value.
#[derive(Clone, Debug, PartialEq)]
pub enum KValue {
    /// `send` of `msg` to `key`; `offset` once acknowledged.
    Send {
        /// The key.
        key: u64,
        /// The message (unique per key).
        msg: u64,
        /// The offset the node assigned (ok completions only).
        offset: Option<i64>,
    },
    /// `poll`; the returned messages on ok completions.
    Poll(Option<Box<Polled>>),
    /// `assign` these keys, from committed offsets or (`seek`) from the beginning.
    Assign {
        /// The keys.
        keys: Vec<u64>,
        /// Seek to offset 0 instead of asking for committed offsets.
        seek: bool,
    },
    /// `crash`: replace the client.
    Crash,
}

impl Serialize for PVal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PVal::Int(i) => s.serialize_i64(*i),
            PVal::Other(t) => s.serialize_str(t),
        }
    }
}

/// Serializes like Jepsen's values: `["send", "k", [offset, msg]]`, `["poll", {k: pairs}]`
/// (`:send` and `:poll` are keywords in EDN).
impl Serialize for KValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            KValue::Send { key, msg, offset } => {
                let mut q = s.serialize_seq(Some(3))?;
                q.serialize_element(&Keyword("send"))?;
                q.serialize_element(&key.to_string())?;
                match offset {
                    Some(o) => q.serialize_element(&(o, msg))?,
                    None => q.serialize_element(msg)?,
                }
                q.end()
            }
            KValue::Poll(p) => {
                let mut q = s.serialize_seq(None)?;
                q.serialize_element(&Keyword("poll"))?;
                if let Some(p) = p {
                    struct Msgs<'a>(&'a Polled);
                    impl Serialize for Msgs<'_> {
                        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                            let mut m = s.serialize_map(Some(self.0.msgs.len()))?;
                            for (k, pairs) in &self.0.msgs {
                                m.serialize_entry(&k.to_string(), pairs)?;
                            }
                            for k in &self.0.foreign {
                                m.serialize_entry(k, "(not a key any client sends to)")?;
                            }
                            m.end()
                        }
                    }
                    q.serialize_element(&Msgs(p))?;
                }
                q.end()
            }
            KValue::Assign { keys, seek } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("keys", &keys.iter().map(u64::to_string).collect::<Vec<_>>())?;
                m.serialize_entry("seek_to_beginning", seek)?;
                m.end()
            }
            KValue::Crash => s.serialize_none(),
        }
    }
}

/// A drawn main-phase operation (before assign substitution).
#[derive(Copy, Clone, Debug)]
enum Draw {
    Poll { key: u64 },
    Send { key: u64, msg: u64 },
}

impl Draw {
    fn key(self) -> u64 {
        match self {
            Draw::Poll { key } | Draw::Send { key, .. } => key,
        }
    }
}

/// Where a thread is in the final phase.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum FinalStage {
    Crash,
    Assign,
    Poll,
}

/// One worker thread's client state.
#[derive(Debug, Default)]
struct Thread {
    /// Assigned keys and the next offset to poll from each (Maelstrom's client `offsets`).
    offsets: BTreeMap<u64, i64>,
    /// A poll's result, held while its `commit_offsets` is in flight.
    polled: Option<Box<Polled>>,
    /// Final phase: the next step (`None` before it starts).
    stage: Option<FinalStage>,
    /// Final phase: offsets this thread's polls must still reach.
    targets: BTreeMap<u64, i64>,
    /// Final phase: when the next poll may start (the stagger), as test time.
    next_poll: Option<Duration>,
    /// Final phase: the delay before the operation just handed out.
    delay: Duration,
}

/// The kafka client workload: generator state, per-thread clients, and the checker.
#[derive(Debug)]
pub struct KafkaClient {
    /// The active key pool.
    active: Vec<u64>,
    /// The next value to send to each key (absent means 1).
    next_msg: BTreeMap<u64, u64>,
    max_writes: u64,
    /// Scale of Elle's exponential key choice: `2 * (2^key_count - 1)`.
    key_scale: f64,
    /// An operation displaced by an assign, emitted next.
    displaced: Option<Draw>,
    /// Mean gap between crashes is this; gaps are U(0, 2x).
    crash_every: f64,
    /// When the next crash is due (`None`: at once, tied with the next operation).
    next_crash: Option<Duration>,
    /// Test time as the engine last reported it.
    now: Duration,
    /// `poll-unseen`: highest offsets sent (ok) per key not yet caught up by polls.
    sent: BTreeMap<u64, i64>,
    /// `poll-unseen`: highest offsets polled (ok) per key.
    polled: BTreeMap<u64, i64>,
    /// Highest offsets seen (ok sends and polls) in the main phase: the final polls' targets.
    seen: BTreeMap<u64, i64>,
    /// The final phase has begun (`seen` is frozen).
    in_final: bool,
    threads: Vec<Thread>,
}

const SEND_OK: &[(&str, Ty)] = &[("offset", Ty::Int)];
const PAIR: Ty = Ty::Tuple(&[Ty::Int, Ty::Any]);
const PAIRS: Ty = Ty::ArrayOf(&PAIR);
const POLL_OK: &[(&str, Ty)] = &[("msgs", Ty::MapOf(&PAIRS))];
const COMMIT_OK: &[(&str, Ty)] = &[];
const LIST_OK: &[(&str, Ty)] = &[("offsets", Ty::MapOf(&Ty::Int))];

/// The key an integer is on the wire.
fn key_str(k: u64) -> String {
    k.to_string()
}

/// The integer a wire key stands for, if it is a canonical one (`"12"`, not `"012"`).
fn parse_key(s: &str) -> Option<u64> {
    let k: u64 = s.parse().ok()?;
    (k.to_string() == s).then_some(k)
}

/// Maelstrom's outcome for a malformed reply: an indeterminate exception.
fn malformed(v: &KValue, why: String) -> Step<KValue> {
    Done::err(OpType::Info, v.clone(), format!("indeterminate: malformed-rpc-response: {why}"))
}

impl KafkaClient {
    /// The client workload for these options.
    pub fn new(opts: &TestOpts) -> Self {
        let key_count = opts.key_count.unwrap_or(10).max(1);
        let threads = opts.threads().max(1);
        KafkaClient {
            active: (0..key_count as u64).collect(),
            next_msg: BTreeMap::new(),
            max_writes: opts.max_writes_per_key.max(1) as u64,
            key_scale: 2.0 * (2f64.powi(key_count as i32) - 1.0),
            displaced: None,
            crash_every: 30.0 / threads as f64,
            next_crash: None,
            now: Duration::ZERO,
            sent: BTreeMap::new(),
            polled: BTreeMap::new(),
            seen: BTreeMap::new(),
            in_final: false,
            threads: (0..threads).map(|_| Thread::default()).collect(),
        }
    }

    /// Elle's exponential key choice: slot i has weight 2^(i+1).
    fn rand_slot(&self, rng: &mut Rng) -> usize {
        let x = (rng.unit() * self.key_scale + 2.0).log2() - 1.0;
        (x.floor().max(0.0) as usize).min(self.active.len() - 1)
    }

    /// Elle's `wr-txns` with one micro-op: a read or a write of the next value of a key.
    fn draw(&mut self, rng: &mut Rng) -> Draw {
        loop {
            let write = rng.chance(0.5);
            let slot = self.rand_slot(rng);
            let key = self.active[slot];
            if !write {
                return Draw::Poll { key };
            }
            let msg = self.next_msg.get(&key).copied().unwrap_or(1);
            if msg > self.max_writes {
                // This key is full: its slot gets a fresh key, and the draw is repeated.
                let fresh = self.active.iter().max().copied().unwrap_or(0) + 1;
                self.active[slot] = fresh;
                continue;
            }
            self.next_msg.insert(key, msg + 1);
            return Draw::Send { key, msg };
        }
    }

    fn thread(&mut self, t: usize) -> &mut Thread {
        if t >= self.threads.len() {
            self.threads.resize_with(t + 1, Thread::default);
        }
        &mut self.threads[t]
    }

    /// Generator bookkeeping for an ok send or poll (Jepsen's `poll-unseen`,
    /// `track-key-offsets` and, in the final phase, `final-polls`).
    fn observe(&mut self, t: usize, v: &KValue) {
        let mut maxes: Vec<(u64, i64, bool)> = Vec::new();
        match v {
            KValue::Send { key, offset: Some(o), .. } => maxes.push((*key, (*o).max(0), true)),
            KValue::Poll(Some(p)) => {
                for (k, pairs) in &p.msgs {
                    let m = pairs.iter().map(|(o, _)| *o).max().unwrap_or(-1);
                    maxes.push((*k, m, false));
                }
            }
            _ => return,
        }
        if self.in_final {
            let th = self.thread(t);
            for (k, m, _) in maxes {
                if th.targets.get(&k).is_some_and(|&target| target <= m) {
                    th.targets.remove(&k);
                }
            }
            return;
        }
        for &(k, m, is_send) in &maxes {
            let e = self.seen.entry(k).or_insert(m);
            *e = (*e).max(m);
            let side = if is_send { &mut self.sent } else { &mut self.polled };
            let e = side.entry(k).or_insert(m);
            *e = (*e).max(m);
        }
        // Keys whose polls caught up with their sends are no longer unseen.
        for &(k, _, _) in &maxes {
            if self.polled.get(&k).copied().unwrap_or(-1)
                >= self.sent.get(&k).copied().unwrap_or(-1)
            {
                self.sent.remove(&k);
                self.polled.remove(&k);
            }
        }
    }

    /// Reads a `poll_ok`'s `msgs` (schema already checked).
    fn read_polled(msgs: Val<'_, '_>) -> Polled {
        let mut p = Polled::default();
        let Some(obj) = msgs.as_object() else { return p };
        for (name, pairs) in obj.iter() {
            let Some(key) = parse_key(name) else {
                p.foreign.push(name.to_owned());
                continue;
            };
            let mut out = Vec::new();
            for pair in pairs.as_array().into_iter().flat_map(|a| a.iter()) {
                let Some(a) = pair.as_array() else { continue };
                let (Some(o), Some(m)) = (a.get(0), a.get(1)) else { continue };
                // Offsets beyond i64 cannot be real; clamp rather than fail.
                let off = o.as_i64().unwrap_or(i64::MAX);
                let val = match m.as_i64() {
                    Some(i) => PVal::Int(i),
                    None => {
                        let mut b = Vec::new();
                        write_val(&mut b, m);
                        PVal::Other(String::from_utf8_lossy(&b).into_owned())
                    }
                };
                out.push((off, val));
            }
            p.msgs.push((key, out));
        }
        p
    }
}

impl ClientWorkload for KafkaClient {
    type Value = KValue;

    fn reusable_client(&self) -> bool {
        false
    }

    fn final_phase(&self) -> bool {
        true
    }

    fn final_phase_limit(&self) -> Option<Duration> {
        Some(Duration::from_secs(10))
    }

    fn set_clock(&mut self, now: Duration) {
        self.now = now;
    }

    fn next_op(&mut self, _: usize, rng: &mut Rng) -> Option<(&'static str, KValue)> {
        // `gen/any` of the crash stagger and the main generator: whichever is due first; a
        // tie (only before the first crash) is a coin flip.
        let crash = match self.next_crash {
            None => rng.chance(0.5),
            Some(at) => at <= self.now,
        };
        if crash {
            let gap = Duration::from_secs_f64(rng.unit() * 2.0 * self.crash_every);
            self.next_crash = Some(self.now.max(self.next_crash.unwrap_or(self.now)) + gap);
            return Some(("crash", KValue::Crash));
        }
        let d = match self.displaced.take() {
            Some(d) => d,
            None => self.draw(rng),
        };
        if rng.chance(1.0 / 64.0) {
            self.displaced = Some(d);
            let mut keys = Vec::new();
            if rng.chance(1.0 / 3.0) {
                keys.extend(self.sent.keys().copied());
            }
            if !keys.contains(&d.key()) {
                keys.push(d.key());
            }
            return Some(("assign", KValue::Assign { keys, seek: false }));
        }
        Some(match d {
            Draw::Poll { .. } => ("poll", KValue::Poll(None)),
            Draw::Send { key, msg } => ("send", KValue::Send { key, msg, offset: None }),
        })
    }

    fn next_final(&mut self, t: usize, rng: &mut Rng) -> Option<(&'static str, KValue)> {
        self.in_final = true;
        let now = self.now;
        let keys: Vec<u64> = self.seen.keys().copied().collect();
        let seen = self.seen.clone();
        let th = self.thread(t);
        th.delay = Duration::ZERO;
        let stage = match th.stage {
            None if seen.is_empty() => return None,
            None => {
                th.targets = seen;
                FinalStage::Crash
            }
            Some(s) => s,
        };
        match stage {
            FinalStage::Crash => {
                th.stage = Some(FinalStage::Assign);
                Some(("crash", KValue::Crash))
            }
            FinalStage::Assign => {
                th.stage = Some(FinalStage::Poll);
                Some(("assign", KValue::Assign { keys, seek: true }))
            }
            FinalStage::Poll if th.targets.is_empty() => None,
            FinalStage::Poll => {
                // `gen/stagger 1/5`: polls scheduled U(0, 0.4 s) apart.
                let at = th.next_poll.unwrap_or(now).max(now);
                th.delay = at - now;
                th.next_poll = Some(at + Duration::from_secs_f64(rng.unit() * 0.4));
                Some(("poll", KValue::Poll(None)))
            }
        }
    }

    fn final_delay(&mut self, t: usize) -> Duration {
        self.thread(t).delay
    }

    fn begin(&mut self, t: usize, _: &'static str, v: &KValue, req: &mut Vec<u8>) -> Step<KValue> {
        let th = self.thread(t);
        match v {
            KValue::Crash => {
                Step::Done(Done { kind: OpType::Info, value: KValue::Crash, error: None })
            }
            KValue::Assign { keys, seek: true } => {
                th.offsets = keys.iter().map(|&k| (k, 0)).collect();
                Done::ok(v.clone())
            }
            KValue::Assign { keys, seek: false } => {
                fields(req).arr("keys", |a| {
                    for &k in keys {
                        a.str(&key_str(k));
                    }
                });
                Step::Send("list_committed_offsets")
            }
            KValue::Poll(_) => {
                th.polled = None;
                fields(req).obj("offsets", |o| {
                    for (&k, &off) in &th.offsets {
                        o.i64(&key_str(k), off);
                    }
                });
                Step::Send("poll")
            }
            KValue::Send { key, msg, .. } => {
                fields(req).str("key", &key_str(*key)).u64("msg", *msg);
                Step::Send("send")
            }
        }
    }

    fn on_reply(
        &mut self,
        t: usize,
        f: &'static str,
        v: &KValue,
        result: RpcResult<'_, '_, '_>,
        req: &mut Vec<u8>,
    ) -> Step<KValue> {
        // `with-errors #{:assign}`: assign is the only idempotent operation.
        if let Some(done) = result.failure(v.clone(), f == "assign") {
            self.thread(t).polled = None;
            return done;
        }
        let RpcResult::Reply(msg) = result else { unreachable!("failure() handled errors") };
        match v {
            KValue::Assign { keys, .. } => {
                if let Err(why) = check_schema(msg, "list_committed_offsets_ok", LIST_OK) {
                    return malformed(v, why);
                }
                let committed = msg.get("offsets").and_then(|o| o.as_object());
                let th = self.thread(t);
                let mut offsets = BTreeMap::new();
                for &k in keys {
                    let off = th.offsets.get(&k).copied().or_else(|| {
                        let name = key_str(k);
                        committed.and_then(|c| c.get(&name)).and_then(|o| o.as_i64())
                    });
                    offsets.insert(k, off.unwrap_or(0));
                }
                th.offsets = offsets;
                Done::ok(v.clone())
            }
            KValue::Send { key, msg: m, .. } => {
                if let Err(why) = check_schema(msg, "send_ok", SEND_OK) {
                    return malformed(v, why);
                }
                let offset = msg.get("offset").and_then(|o| o.as_i64()).unwrap_or(i64::MAX);
                let done = KValue::Send { key: *key, msg: *m, offset: Some(offset) };
                self.observe(t, &done);
                Done::ok(done)
            }
            KValue::Poll(_) => {
                if let Some(polled) = self.thread(t).polled.take() {
                    // The reply to the commit that follows a poll.
                    if let Err(why) = check_schema(msg, "commit_offsets_ok", COMMIT_OK) {
                        return malformed(v, why);
                    }
                    let done = KValue::Poll(Some(polled));
                    self.observe(t, &done);
                    return Done::ok(done);
                }
                if let Err(why) = check_schema(msg, "poll_ok", POLL_OK) {
                    return malformed(v, why);
                }
                let polled = Self::read_polled(msg.get("msgs").expect("schema checked"));
                let th = self.thread(t);
                // Advance the poll offsets past what came back (keys with no pairs get 0).
                let mut commit = BTreeMap::new();
                for (k, pairs) in &polled.msgs {
                    let top = pairs.iter().map(|p| p.0).max();
                    let next = top.map_or(0, |o| o.saturating_add(1));
                    let e = th.offsets.entry(*k).or_insert(next);
                    *e = (*e).max(next);
                    if let Some(top) = top {
                        commit.insert(*k, top.max(0));
                    }
                }
                if commit.is_empty() {
                    let done = KValue::Poll(Some(Box::new(polled)));
                    self.observe(t, &done);
                    return Done::ok(done);
                }
                th.polled = Some(Box::new(polled));
                fields(req).obj("offsets", |o| {
                    for (k, off) in &commit {
                        o.i64(&key_str(*k), *off);
                    }
                });
                Step::Send("commit_offsets")
            }
            KValue::Crash => unreachable!("crash sends no request"),
        }
    }

    fn stats_exempt(&self, f: &str) -> bool {
        f == "crash"
    }

    fn client_closed(&mut self, t: usize) {
        let th = self.thread(t);
        th.offsets.clear();
        th.polled = None;
    }

    fn check(&self, history: &History<KValue>, _: &TestOpts) -> Check {
        checker::check(history)
    }
}

#[cfg(test)]
mod tests;
