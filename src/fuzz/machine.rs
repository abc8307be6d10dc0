//! A node under a fuzz script, and the checks on everything it writes.
//!
//! [`run`] builds a node with [`crate::workload::machine`], initialises it, then plays a
//! script decoded from the fuzzer's bytes: client requests and peer messages built from the
//! workload's vocabulary (usually well typed, sometimes with a field missing or ill typed, an
//! unknown type, a missing or reused `msg_id`), replies from services and peers to the node's
//! own requests (or to made-up ones), raw garbage, mutated messages, duplicates, and virtual
//! time moving on with timers firing as a driver fires them. At the end time runs on for a
//! minute so retransmissions and flushes play out.
//!
//! After every step each output line must:
//! - be `\n`-terminated JSON with exactly `src` (the node's id), `dest` (an address that has
//!   spoken to it, a node or a service) and `body` (an object with a string `type`);
//! - if it has `in_reply_to`, answer a `msg_id` that `dest` really sent, at most as many times
//!   as it was sent (error replies to malformed requests included), or that a peer forwarded
//!   on `dest`'s behalf (lin-kv's `fwd {c, id}`, perhaps relayed as `rl {b: fwd}`);
//! - if it has a `msg_id`, use one the node never used before;
//! - if it is an error, carry an integer `code` and a string `text`;
//! - keep the workload's promises: an echo echoes what was sent, generated ids are unique,
//!   a g-counter read is at least the sum of acknowledged adds, a broadcast read holds every
//!   acknowledged value (a g-set read every acknowledged integer element), kafka offsets are unique per key and polls return what was
//!   acknowledged at each offset, a txn reply matches its request and reads its own writes
//!   (txn-list-append: its own appends, and a key read twice changes only by them).
//!
//! Replies to the node's own requests come from a small model of a key-value service: a
//! `read` usually gets what the node last wrote or CASed under that key (when the script
//! acknowledged it), and a txn-list-append transaction handed to a peer gets a result a
//! correct peer could give; the rest of the time they are made up, errors or garbage.
//!
//! A timer that stays due after [`Machine::handle_timeout`] (a driver would spin) fails too.

use std::collections::BTreeMap;
use std::time::Duration;

use hashbrown::{HashMap, HashSet};

use super::vocab::{F, Gen, REPLIES, Spec, Vocab, reply_fields, vocab};
use super::{Source, Violation};
use crate::node::{Machine, Output};
use crate::proto::encode::{Header, write_message, write_val};
use crate::proto::{Msg, PADDING, Parser, Val};
use crate::time::Instant;

/// The services a node may call.
pub const SERVICES: &[&str] = &["seq-kv", "lin-kv", "lww-kv", "lin-tso"];
/// Most script steps one input plays.
pub const MAX_STEPS: usize = 400;
/// Most `handle_timeout` calls one advance of time may take before it counts as a spin.
const MAX_FIRINGS: usize = 100_000;
/// How long time runs on after the script.
const SETTLE: Duration = Duration::from_secs(60);

/// Who the node is: the `init` it gets and how it is built.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The node's id.
    pub node_id: String,
    /// Every node id, the node's included.
    pub node_ids: Vec<String>,
    /// Command-line words.
    pub args: Vec<String>,
    /// RNG seed.
    pub seed: u64,
}

impl Setup {
    /// A cluster of one to five nodes, the node's position in it, arguments and seed, from
    /// the first three bytes.
    pub fn decode(src: &mut Source<'_>) -> Setup {
        let b = src.u8();
        let n = 1 + usize::from(b % 5);
        let me = usize::from(b / 5) % n;
        // `--ring=2`: broadcast's smallest ring, so scripts lap peers and resync them.
        const ARGS: [&[&str]; 7] = [
            &[],
            &[],
            &["low-latency"],
            &["frugal"],
            &["--flush-ms=0"],
            &["--flush-ms", "1", "x"],
            &["--ring=2"],
        ];
        let args = ARGS[src.below(ARGS.len())].iter().map(|s| (*s).to_owned()).collect();
        let seed = u64::from(src.u8());
        let node_ids: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
        Setup { node_id: node_ids[me].clone(), node_ids, args, seed }
    }
}

/// What a run did, for tests that check the script reaches deep states.
#[derive(Debug, Default)]
pub struct Summary {
    /// Steps played.
    pub steps: usize,
    /// Output lines by body `type`.
    pub kinds: BTreeMap<String, usize>,
}

/// Plays fuzzer input `data` against a fresh node of workload `workload`.
pub fn run(workload: &str, data: &[u8]) -> Result<Summary, Violation> {
    let mut src = Source::new(data);
    let setup = Setup::decode(&mut src);
    let machine = crate::workload::machine(workload, setup.args.clone(), setup.seed)
        .ok_or_else(|| Violation::new(0, format!("no workload named {workload}"), &[]))?;
    let mut r = Runner::new(machine, workload, setup)?;
    r.script(&mut src)?;
    Ok(std::mem::take(&mut r.check.summary))
}

/// What a client request asked for, kept to check the reply against.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Memo {
    Echo(Vec<u8>),
    Add(u64),
    /// A g-set `add` of an integer element.
    Element(u64),
    Broadcast(u64),
    Send {
        key: String,
        msg: Vec<u8>,
    },
    Txn(Vec<(bool, i64, Option<i64>)>),
    /// A txn-list-append transaction: whether each micro-op appends, its key and its element
    /// (empty for a read), as compact JSON.
    ListTxn(Vec<(bool, Vec<u8>, Vec<u8>)>),
}

/// A request the node sent, awaiting a reply.
#[derive(Clone, Debug, Default)]
struct Pending {
    dest: String,
    id: u64,
    kind: String,
    /// The request's `key`, as compact JSON (empty if none).
    key: Vec<u8>,
    /// What a faithful reply carries or a store keeps: a `write`'s value, a `cas`'s `to`, the
    /// result of a txn-list-append `txn` handed to a peer (empty if nothing).
    val: Vec<u8>,
}

/// Most keys the runner's model of the node's key-value service remembers.
const KV_KEYS: usize = 256;

/// Everything known about the run so far, and the checks.
#[derive(Default)]
struct Checker {
    workload: String,
    id: String,
    step: usize,
    /// Requests the node received: how many replies each `(src, msg_id)` may still get.
    asked: HashMap<(String, u64), u32>,
    /// What those requests asked.
    memo: HashMap<(String, u64), Vec<Memo>>,
    /// Addresses the node may write to.
    addresses: HashSet<String>,
    /// Every `msg_id` the node has used.
    used_ids: HashSet<u64>,
    /// The node's own requests awaiting a reply: destination, `msg_id`, type. Bounded.
    outstanding: Vec<Pending>,
    /// The values the node's writes and CASes put in its key-value service, by key (compact
    /// JSON), as far as the script's replies said they succeeded. Bounded by [`KV_KEYS`].
    kv: HashMap<Vec<u8>, Vec<u8>>,
    /// Broadcast values the node acknowledged.
    acked_values: HashSet<u64>,
    /// Sum of g-counter adds the node acknowledged.
    acked_sum: u128,
    /// Kafka messages acknowledged at `(key, offset)`, as compact JSON.
    acked_offsets: HashMap<(String, u64), Vec<u8>>,
    /// Ids handed out by unique-ids.
    ids_given: HashSet<u64>,
    summary: Summary,
}

/// A node being fuzzed.
pub struct Runner {
    machine: Box<dyn Machine>,
    vocab: Vocab,
    setup: Setup,
    now: Instant,
    out: Output,
    line: Vec<u8>,
    parser: Parser,
    check: Checker,
    /// Recent input lines, for duplicate deliveries.
    history: Vec<Vec<u8>>,
    /// Next `msg_id` per client `c1..c3`.
    next_id: [u64; 4],
}

const OUTSTANDING: usize = 64;
const HISTORY: usize = 16;

impl Runner {
    /// Initialises `machine` as `setup` says and checks it answers `init_ok`.
    pub fn new(machine: Box<dyn Machine>, workload: &str, setup: Setup) -> Result<Self, Violation> {
        let mut check = Checker {
            workload: workload.to_owned(),
            id: setup.node_id.clone(),
            ..Checker::default()
        };
        check.addresses.extend(setup.node_ids.iter().cloned());
        check.addresses.extend(SERVICES.iter().map(|s| (*s).to_owned()));
        let mut r = Runner {
            machine,
            vocab: vocab(workload),
            setup,
            now: Instant::ZERO,
            out: Output::default(),
            line: Vec::new(),
            parser: Parser::new(),
            check,
            history: Vec::new(),
            next_id: [1; 4],
        };
        let mut init = Vec::new();
        let h = Header {
            src: "c0",
            dest: &r.setup.node_id,
            kind: "init",
            msg_id: Some(1),
            in_reply_to: None,
        };
        write_message(&mut init, h, |b| {
            b.str("node_id", &r.setup.node_id).arr("node_ids", |a| {
                for id in &r.setup.node_ids {
                    a.str(id);
                }
            });
        });
        init.pop();
        r.feed(&init)?;
        if r.check.summary.kinds.get("init_ok") != Some(&1) {
            return Err(Violation::new(0, "no init_ok after init", &[]));
        }
        Ok(r)
    }

    /// Feeds one input line and checks the output.
    pub fn feed(&mut self, line: &[u8]) -> Result<(), Violation> {
        self.check.note_input(&mut self.parser, line);
        if self.history.len() == HISTORY {
            self.history.remove(0);
        }
        self.history.push(line.to_vec());
        self.line.clear();
        self.line.extend_from_slice(line);
        let len = self.line.len();
        self.line.resize(len + PADDING, b' ');
        self.machine.handle_line(self.now, &mut self.line, len, &mut self.out);
        self.drain()
    }

    /// Moves virtual time on by `d`, firing timers as a driver would, and checks the output.
    pub fn advance(&mut self, d: Duration) -> Result<(), Violation> {
        let end = self.now + d;
        let mut firings = 0;
        while let Some(at) = self.machine.poll_timeout() {
            if at > end {
                break;
            }
            firings += 1;
            if firings > MAX_FIRINGS {
                let what = format!("a timer stays due at {:?} (the driver would spin)", at);
                return Err(Violation::new(self.check.step, what, &[]));
            }
            self.now = self.now.max(at);
            self.machine.handle_timeout(self.now, &mut self.out);
            self.drain()?;
        }
        self.now = self.now.max(end);
        Ok(())
    }

    /// Plays the script in `src`, then lets time run on.
    pub fn script(&mut self, src: &mut Source<'_>) -> Result<(), Violation> {
        let mut steps = 0;
        while !src.is_empty() && steps < MAX_STEPS {
            steps += 1;
            self.check.step = steps;
            match src.u8() % 16 {
                0..=5 => {
                    let l = self.client_request(src);
                    self.feed(&l)?;
                }
                6..=8 => {
                    let l = self.peer_message(src);
                    self.feed(&l)?;
                }
                9 | 10 => {
                    let l = self.reply(src);
                    self.feed(&l)?;
                }
                11 => {
                    let raw: Vec<u8> =
                        src.bytes(64).iter().map(|&b| if b == b'\n' { b' ' } else { b }).collect();
                    self.feed(&raw)?;
                }
                12 => {
                    let mut l = if src.one_in(2) {
                        self.client_request(src)
                    } else {
                        self.peer_message(src)
                    };
                    mutate(src, &mut l);
                    self.feed(&l)?;
                }
                13 => {
                    if !self.history.is_empty() {
                        let l = self.history[src.below(self.history.len())].clone();
                        self.feed(&l)?;
                    }
                }
                _ => {
                    const STEPS_MS: [u64; 12] =
                        [0, 1, 5, 10, 50, 100, 250, 500, 1000, 2000, 5000, 30_000];
                    let ms = match src.u8() % 4 {
                        0 => u64::from(src.u8()) * 7,
                        _ => STEPS_MS[src.below(STEPS_MS.len())],
                    };
                    self.advance(Duration::from_millis(ms))?;
                }
            }
        }
        self.check.step = steps + 1;
        self.check.summary.steps = steps;
        self.advance(SETTLE)
    }

    /// What the run has done so far.
    pub fn summary(&self) -> &Summary {
        &self.check.summary
    }

    fn drain(&mut self) -> Result<(), Violation> {
        let msgs = std::mem::take(&mut self.out.msgs);
        self.out.clear();
        let r = self.check.output(&mut self.parser, &msgs);
        // Keep the buffer's allocation.
        self.out.msgs = msgs;
        self.out.msgs.clear();
        if let Some(p) = r? {
            if self.check.outstanding.len() == OUTSTANDING {
                self.check.outstanding.remove(0);
            }
            self.check.outstanding.push(p);
        }
        Ok(())
    }

    fn n(&self) -> usize {
        self.setup.node_ids.len()
    }

    fn me(&self) -> usize {
        self.setup.node_ids.iter().position(|s| *s == self.setup.node_id).unwrap_or(0)
    }

    fn client_request(&mut self, src: &mut Source<'_>) -> Vec<u8> {
        let c = 1 + src.below(3);
        let client = format!("c{c}");
        let msg_id = match src.u8() % 16 {
            0 => None,
            1 => Some(self.next_id[c].saturating_sub(1)),
            2 => Some(u64::MAX),
            _ => {
                self.next_id[c] += 1;
                Some(self.next_id[c])
            }
        };
        const INIT: Spec = ("init", &[("node_id", F::Key), ("node_ids", F::Keys)]);
        let spec = if src.one_in(32) {
            INIT
        } else if src.one_in(24) || self.vocab.client.is_empty() {
            ("frob", &[] as &[_])
        } else {
            self.vocab.client[src.below(self.vocab.client.len())]
        };
        let dest = if src.one_in(32) { "n99".to_owned() } else { self.setup.node_id.clone() };
        let irt = if src.one_in(64) { Some(u64::from(src.u8())) } else { None };
        self.build(src, &client, &dest, spec, msg_id, irt, None, &[])
    }

    fn peer_message(&mut self, src: &mut Source<'_>) -> Vec<u8> {
        if self.vocab.peer.is_empty() {
            return self.client_request(src);
        }
        let (n, me) = (self.n(), self.me());
        let (from, sender) = match src.u8() % 8 {
            0 => (self.setup.node_id.clone(), Some(me)),
            1 => (format!("n{n}"), Some(n)),
            2 => ("c1".to_owned(), None),
            _ => {
                let i = if n > 1 { (me + 1 + src.below(n - 1)) % n } else { 0 };
                (format!("n{i}"), Some(i))
            }
        };
        let msg_id = if src.one_in(8) { Some(1_000_000 + u64::from(src.u8())) } else { None };
        let spec = self.vocab.peer[src.below(self.vocab.peer.len())];
        let dest = self.setup.node_id.clone();
        self.build(src, &from, &dest, spec, msg_id, None, sender, &[])
    }

    fn reply(&mut self, src: &mut Source<'_>) -> Vec<u8> {
        let pick = if self.check.outstanding.is_empty() || src.one_in(8) {
            None
        } else {
            let i = src.below(self.check.outstanding.len());
            Some(if src.one_in(8) {
                self.check.outstanding[i].clone()
            } else {
                self.check.outstanding.remove(i)
            })
        };
        let p = match pick {
            Some(p) => p,
            None => {
                let from = if src.one_in(2) {
                    SERVICES[src.below(SERVICES.len())].to_owned()
                } else {
                    format!("n{}", src.below(self.n() + 1))
                };
                Pending { dest: from, id: u64::from(src.u8()), ..Pending::default() }
            }
        };
        let ok = format!("{}_ok", p.kind);
        let fields = reply_fields(&self.check.workload, &p.kind);
        let spec: Spec = if src.one_in(4) || p.kind.is_empty() {
            REPLIES[src.below(REPLIES.len())]
        } else {
            ("", fields)
        };
        let kind = if spec.0.is_empty() { ok.as_str() } else { spec.0 };
        // What the service or peer has to go on: a read gets what the node last stored under
        // the key (if the script acknowledged it), a handed-over txn its prepared result.
        let stored = match p.kind.as_str() {
            "read" => self.check.kv.get(&p.key).cloned().unwrap_or_default(),
            _ => p.val.clone(),
        };
        if spec.0.is_empty() && matches!(p.kind.as_str(), "write" | "cas") {
            // Acknowledged: a faithful store now holds the value.
            if self.check.kv.len() < KV_KEYS || self.check.kv.contains_key(&p.key) {
                self.check.kv.insert(p.key.clone(), p.val.clone());
            }
        }
        let msg_id = if src.one_in(4) { Some(2_000_000 + u64::from(src.u8())) } else { None };
        let dest = self.setup.node_id.clone();
        self.build(src, &p.dest, &dest, (kind, spec.1), msg_id, Some(p.id), None, &stored)
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        &mut self,
        src: &mut Source<'_>,
        from: &str,
        dest: &str,
        (kind, fields): (&str, &[(&'static str, F)]),
        msg_id: Option<u64>,
        in_reply_to: Option<u64>,
        sender: Option<usize>,
        stored: &[u8],
    ) -> Vec<u8> {
        let mut line = Vec::new();
        let h = Header { src: from, dest, kind, msg_id, in_reply_to };
        let mut g = Gen { src, n: self.setup.node_ids.len(), sender, stored };
        write_message(&mut line, h, |b| {
            for &(name, f) in fields {
                match g.src.u8() % 16 {
                    0 => {}
                    // A peer's result is relayed to the client as is: it stays well formed.
                    1 if !matches!(f, F::Result) => g.any(1, b.key(name)),
                    _ => g.value(f, b.key(name)),
                }
            }
        });
        line.pop();
        line
    }
}

/// Corrupts one to three bytes of a line.
fn mutate(src: &mut Source<'_>, line: &mut Vec<u8>) {
    const BYTES: &[u8] = b"{}[],:\"\\0-1e.tfn \x01\xff\xc3";
    for _ in 0..1 + src.below(3) {
        if line.is_empty() {
            return;
        }
        let at = src.below(line.len());
        let b = if src.one_in(2) { BYTES[src.below(BYTES.len())] } else { src.u8() };
        match src.u8() % 4 {
            0 => line[at] = b,
            1 => line.insert(at, b),
            2 => {
                line.remove(at);
            }
            _ => line.truncate(at),
        }
    }
    for b in line.iter_mut() {
        if *b == b'\n' {
            *b = b' ';
        }
    }
}

/// Compact JSON of a value.
fn encode(v: Val<'_, '_>) -> Vec<u8> {
    let mut out = Vec::new();
    write_val(&mut out, v);
    out
}

impl Checker {
    /// Records what an input line asks, before the node sees (and clobbers) it.
    fn note_input(&mut self, parser: &mut Parser, line: &[u8]) {
        let mut buf = line.to_vec();
        let len = buf.len();
        buf.resize(len + PADDING, b' ');
        let Checker { asked, memo, addresses, workload, .. } = self;
        let list = workload == "txn-list-append";
        parser.parse_value(&mut buf, len, |v| {
            let Ok(Some(v)) = v else { return };
            let Some(top) = v.as_object() else { return };
            // Every `src` and every body `msg_id`, in case keys repeat: a superset of what the
            // node may take the request to be.
            let srcs: Vec<&str> =
                top.iter().filter(|(k, _)| *k == "src").filter_map(|(_, v)| v.as_str()).collect();
            let mut ids = Vec::new();
            for (_, body) in top.iter().filter(|(k, _)| *k == "body") {
                let Some(body) = body.as_object() else { continue };
                ids.extend(
                    body.iter().filter(|(k, _)| *k == "msg_id").filter_map(|(_, v)| v.as_u64()),
                );
            }
            for s in &srcs {
                addresses.insert((*s).to_owned());
                for &id in &ids {
                    *asked.entry(((*s).to_owned(), id)).or_insert(0) += 1;
                }
            }
            let Ok(msg) = Msg::from_val(v) else { return };
            // A lin-kv request forwarded by a peer (perhaps through a relay, `rl {b: fwd}`):
            // the node may answer its client directly.
            let fwd = match msg.kind {
                "fwd" => Some(msg.body),
                "rl" => msg
                    .get("b")
                    .and_then(|b| b.as_object())
                    .filter(|b| b.get("type").and_then(|t| t.as_str()) == Some("fwd")),
                _ => None,
            };
            if let Some(f) = fwd {
                let client = f.get("c").and_then(|v| v.as_str());
                if let (Some(c), Some(id)) = (client, f.get("id").and_then(|v| v.as_u64())) {
                    addresses.insert(c.to_owned());
                    *asked.entry((c.to_owned(), id)).or_insert(0) += 1;
                }
            }
            let (Some(id), None) = (msg.msg_id, msg.in_reply_to) else { return };
            if let Some(m) = memo_of(&msg, list) {
                memo.entry((msg.src.to_owned(), id)).or_default().push(m);
            }
        });
    }

    /// Checks one batch of output. Returns the last request the node sent, if any.
    fn output(&mut self, parser: &mut Parser, msgs: &[u8]) -> Result<Option<Pending>, Violation> {
        if msgs.is_empty() {
            return Ok(None);
        }
        if msgs.last() != Some(&b'\n') {
            return Err(Violation::new(self.step, "output does not end in a newline", msgs));
        }
        let mut last_request = None;
        let mut buf = Vec::new();
        for line in msgs[..msgs.len() - 1].split(|&b| b == b'\n') {
            buf.clear();
            buf.extend_from_slice(line);
            let len = buf.len();
            buf.resize(len + PADDING, b' ');
            let r = parser.parse_value(&mut buf, len, |v| match v {
                Ok(Some(v)) => self.check_line(v),
                Ok(None) => Err("an empty line".to_owned()),
                Err(e) => Err(format!("not JSON: {e}")),
            });
            match r {
                Ok(Some(req)) => last_request = Some(req),
                Ok(None) => {}
                Err(what) => return Err(Violation::new(self.step, what, line)),
            }
        }
        Ok(last_request)
    }

    fn check_line(&mut self, v: Val<'_, '_>) -> Result<Option<Pending>, String> {
        let top = v.as_object().ok_or("not a JSON object")?;
        let mut seen = [0u8; 3];
        for (k, _) in top.iter() {
            match k {
                "src" => seen[0] += 1,
                "dest" => seen[1] += 1,
                "body" => seen[2] += 1,
                other => return Err(format!("unexpected top-level key `{other}`")),
            }
        }
        if seen != [1, 1, 1] {
            return Err("src, dest and body must each appear once".to_owned());
        }
        let msg = Msg::from_val(v).map_err(|e| format!("not a valid message: {e}"))?;
        if msg.src != self.id {
            return Err(format!("src is `{}`, not the node's id `{}`", msg.src, self.id));
        }
        if !self.addresses.contains(msg.dest) {
            return Err(format!("sent to `{}`, which never spoke to the node", msg.dest));
        }
        *self.summary.kinds.entry(msg.kind.to_owned()).or_insert(0) += 1;
        if msg.kind == "error" {
            msg.u64("code").map_err(|e| format!("error reply: {e}"))?;
            msg.str("text").map_err(|e| format!("error reply: {e}"))?;
        }
        if let Some(id) = msg.msg_id {
            if !self.used_ids.insert(id) {
                return Err(format!("msg_id {id} used twice"));
            }
        }
        let Some(irt) = msg.in_reply_to else {
            let Some(id) = msg.msg_id else { return Ok(None) };
            let val = match msg.kind {
                "write" => msg.get("value").map(encode),
                "cas" => msg.get("to").map(encode),
                "txn" if self.workload == "txn-list-append" => list_result(&msg),
                _ => None,
            };
            return Ok(Some(Pending {
                dest: msg.dest.to_owned(),
                id,
                kind: msg.kind.to_owned(),
                key: msg.get("key").map(encode).unwrap_or_default(),
                val: val.unwrap_or_default(),
            }));
        };
        let key = (msg.dest.to_owned(), irt);
        match self.asked.get_mut(&key) {
            Some(n) if *n > 0 => *n -= 1,
            Some(_) => return Err(format!("a second reply to {} msg_id {irt}", msg.dest)),
            None => {
                return Err(format!("a reply to {} msg_id {irt}, which it never sent", msg.dest));
            }
        }
        let memos = self.memo.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        self.semantics(&msg, memos.to_vec())?;
        Ok(None)
    }

    /// The workload's promises, checked on a reply to a request whose memos are `memos`.
    fn semantics(&mut self, msg: &Msg<'_, '_>, memos: Vec<Memo>) -> Result<(), String> {
        // A memo is only trusted when every request with this (src, msg_id) agrees.
        let one = match memos.as_slice() {
            [first, rest @ ..] if rest.iter().all(|m| m == first) => Some(first.clone()),
            _ => None,
        };
        let field = |name: &'static str| msg.field(name).map_err(|e| format!("{}: {e}", msg.kind));
        match (msg.kind, self.workload.as_str()) {
            ("echo_ok", _) => {
                let got = encode(field("echo")?);
                if !memos.is_empty() && !memos.iter().any(|m| *m == Memo::Echo(got.clone())) {
                    return Err(format!("echoed {}", String::from_utf8_lossy(&got)));
                }
            }
            ("generate_ok", _) => {
                let id = msg.u64("id").map_err(|e| e.to_string())?;
                if !self.ids_given.insert(id) {
                    return Err(format!("id {id} handed out twice"));
                }
            }
            ("add_ok", _) => {
                let least = memos
                    .iter()
                    .filter_map(|m| if let Memo::Add(d) = m { Some(*d) } else { None })
                    .min();
                self.acked_sum += u128::from(least.unwrap_or(0));
                if let Some(Memo::Element(v)) = one {
                    self.acked_values.insert(v);
                }
            }
            ("read_ok", "g-counter") => {
                let v = msg.u64("value").map_err(|e| e.to_string())?;
                if u128::from(v) < self.acked_sum {
                    return Err(format!("read {v}, below the {} acknowledged", self.acked_sum));
                }
            }
            ("broadcast_ok", _) => {
                if let Some(Memo::Broadcast(v)) = one {
                    self.acked_values.insert(v);
                }
            }
            ("read_ok", "broadcast" | "g-set") => {
                let field = if self.workload == "g-set" { "value" } else { "messages" };
                let have: HashSet<u64> = msg
                    .arr(field)
                    .map_err(|e| e.to_string())?
                    .iter()
                    .filter_map(|v| v.as_u64())
                    .collect();
                if let Some(lost) = self.acked_values.iter().find(|v| !have.contains(*v)) {
                    return Err(format!("acknowledged value {lost} missing from a read"));
                }
            }
            ("send_ok", _) => {
                let off = msg.u64("offset").map_err(|e| e.to_string())?;
                if let Some(Memo::Send { key, msg: m }) = one {
                    match self.acked_offsets.get(&(key.clone(), off)) {
                        Some(prev) if *prev != m => {
                            return Err(format!("offset {off} of `{key}` acknowledged twice"));
                        }
                        _ => {
                            self.acked_offsets.insert((key, off), m);
                        }
                    }
                }
            }
            ("poll_ok", _) => {
                for (key, pairs) in msg.obj("msgs").map_err(|e| e.to_string())?.iter() {
                    let pairs = pairs.as_array().ok_or("poll_ok: msgs values must be arrays")?;
                    let mut last = None;
                    for p in pairs.iter() {
                        let p = p.as_array().filter(|p| p.len() == 2).ok_or("poll_ok: pairs")?;
                        let off = p.get(0).and_then(|v| v.as_u64()).ok_or("poll_ok: offset")?;
                        if last.is_some_and(|l| l >= off) {
                            return Err(format!("poll of `{key}`: offsets out of order"));
                        }
                        last = Some(off);
                        let got = encode(p.get(1).ok_or("poll_ok: message")?);
                        if let Some(want) = self.acked_offsets.get(&(key.to_owned(), off)) {
                            if *want != got {
                                return Err(format!(
                                    "poll of `{key}` at {off} returned {}, not the acknowledged {}",
                                    String::from_utf8_lossy(&got),
                                    String::from_utf8_lossy(want)
                                ));
                            }
                        }
                    }
                }
            }
            ("txn_ok", "txn-list-append") => {
                if let Some(Memo::ListTxn(want)) = one {
                    check_list_txn(msg, &want)?;
                }
            }
            ("txn_ok", _) => {
                let Some(Memo::Txn(want)) = one else { return Ok(()) };
                let got = msg.arr("txn").map_err(|e| e.to_string())?;
                if got.len() != want.len() {
                    return Err("txn_ok has a different number of micro-ops".to_owned());
                }
                let mut mine: HashMap<i64, Option<i64>> = HashMap::new();
                for (g, &(write, key, value)) in got.iter().zip(&want) {
                    let g = g.as_array().filter(|a| a.len() == 3).ok_or("txn_ok: a mop")?;
                    let f = g.get(0).and_then(|v| v.as_str());
                    let k = g.get(1).and_then(|v| v.as_i64());
                    let v = g.get(2).ok_or("txn_ok: a mop value")?;
                    let v =
                        if v.is_null() { None } else { Some(v.as_i64().ok_or("txn_ok: value")?) };
                    if f != Some(if write { "w" } else { "r" }) || k != Some(key) {
                        return Err("txn_ok micro-ops differ from the request".to_owned());
                    }
                    if write {
                        if v != value {
                            return Err("txn_ok changed a written value".to_owned());
                        }
                        mine.insert(key, v);
                    } else if let Some(w) = mine.get(&key) {
                        if v != *w {
                            return Err(format!("txn read {v:?} of key {key} after writing {w:?}"));
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// A txn-list-append `txn_ok` against its request `want`: the same micro-ops with the same
/// keys and elements; every read `null` or a list; and within the transaction, reads see its
/// own appends: a read of a key ends with the appends to it so far, and a later read is the
/// earlier one plus the appends in between.
fn check_list_txn(msg: &Msg<'_, '_>, want: &[(bool, Vec<u8>, Vec<u8>)]) -> Result<(), String> {
    let got = msg.arr("txn").map_err(|e| e.to_string())?;
    if got.len() != want.len() {
        return Err("txn_ok has a different number of micro-ops".to_owned());
    }
    // Per key: its appends in this transaction, and the whole list once a read showed it.
    type List = Vec<Vec<u8>>;
    let mut own: HashMap<&[u8], (List, Option<List>)> = HashMap::new();
    for (g, (append, key, elem)) in got.iter().zip(want) {
        let g = g.as_array().filter(|a| a.len() == 3).ok_or("txn_ok: a mop")?;
        let f = g.get(0).and_then(|v| v.as_str());
        let k = g.get(1).map(encode);
        let v = g.get(2).ok_or("txn_ok: a mop value")?;
        if f != Some(if *append { "append" } else { "r" }) || k.as_ref() != Some(key) {
            return Err("txn_ok micro-ops differ from the request".to_owned());
        }
        let (mine, known) = own.entry(key.as_slice()).or_default();
        if *append {
            if encode(v) != *elem {
                return Err("txn_ok changed an appended element".to_owned());
            }
            mine.push(elem.clone());
            if let Some(l) = known {
                l.push(elem.clone());
            }
            continue;
        }
        let list: Vec<Vec<u8>> = if v.is_null() {
            Vec::new()
        } else {
            v.as_array()
                .ok_or("txn_ok: a read is neither null nor a list")?
                .iter()
                .map(encode)
                .collect()
        };
        let key = String::from_utf8_lossy(key);
        if let Some(l) = known {
            if *l != list {
                return Err(format!("txn read key {key} twice and saw it change"));
            }
        } else if !list.ends_with(mine) {
            return Err(format!("txn read key {key} without its own earlier appends"));
        }
        *known = Some(list);
    }
    Ok(())
}

/// The result a correct peer gives a txn-list-append `txn` handed to it: the transaction run
/// alone on an empty database (reads see only its own earlier appends).
fn list_result(msg: &Msg<'_, '_>) -> Option<Vec<u8>> {
    let mut own: HashMap<Vec<u8>, Vec<Vec<u8>>> = HashMap::new();
    let mut out = b"[".to_vec();
    for (i, m) in msg.arr("txn").ok()?.iter().enumerate() {
        let m = m.as_array()?;
        let key = encode(m.get(1)?);
        if i > 0 {
            out.push(b',');
        }
        if m.get(0)?.as_str()? == "append" {
            let e = encode(m.get(2)?);
            out.extend_from_slice(b"[\"append\",");
            out.extend_from_slice(&key);
            out.push(b',');
            out.extend_from_slice(&e);
            out.push(b']');
            own.entry(key).or_default().push(e);
        } else {
            out.extend_from_slice(b"[\"r\",");
            out.extend_from_slice(&key);
            match own.get(&key) {
                None => out.extend_from_slice(b",null]"),
                Some(l) => {
                    out.extend_from_slice(b",[");
                    out.extend_from_slice(&l.join(&b',')[..]);
                    out.extend_from_slice(b"]]");
                }
            }
        }
    }
    out.push(b']');
    Some(out)
}

/// What a request asks, if the checks need it (`list`: the workload is txn-list-append).
fn memo_of(msg: &Msg<'_, '_>, list: bool) -> Option<Memo> {
    Some(match msg.kind {
        "txn" if list => {
            let mut mops = Vec::new();
            for m in msg.arr("txn").ok()?.iter() {
                let m = m.as_array()?;
                let append = m.get(0)?.as_str()? == "append";
                let elem = if append { encode(m.get(2)?) } else { Vec::new() };
                mops.push((append, encode(m.get(1)?), elem));
            }
            Memo::ListTxn(mops)
        }
        "echo" => Memo::Echo(encode(msg.get("echo")?)),
        "add" => match msg.get("element") {
            Some(e) => Memo::Element(e.as_u64()?),
            None => Memo::Add(msg.u64("delta").ok()?),
        },
        "broadcast" => Memo::Broadcast(msg.u64("message").ok()?),
        "send" => Memo::Send { key: msg.str("key").ok()?.to_owned(), msg: encode(msg.get("msg")?) },
        "txn" => {
            let mut mops = Vec::new();
            for m in msg.arr("txn").ok()?.iter() {
                let m = m.as_array()?;
                let write = m.get(0)?.as_str()? == "w";
                let key = m.get(1)?.as_i64()?;
                let value = if write { Some(m.get(2)?.as_i64()?) } else { None };
                mops.push((write, key, value));
            }
            Memo::Txn(mops)
        }
        _ => return None,
    })
}
